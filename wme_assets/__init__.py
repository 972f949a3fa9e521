"""wme: Wikimedia Enterprise's products (snapshots, realtime, on-demand) rebuilt from Wikimedia's public data."""

import os

# Arrow's own allocator (mimalloc) keeps freed memory for reuse: after a run of Parquet reads and writes a
# process holds 50-80 MB more at its peak than with the C library's allocator, at no measurable CPU cost
# on the chain (benchmarks/bench_chain.py). Set before pyarrow picks its default pool; inherited by every
# worker process; an operator's own ARROW_DEFAULT_MEMORY_POOL wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
