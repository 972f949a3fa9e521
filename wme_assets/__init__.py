"""wme: Wikimedia Enterprise's products (snapshots, realtime, on-demand) rebuilt from Wikimedia's public data."""

import ctypes
import os
import sys

# Arrow's own allocator (mimalloc) keeps freed memory for reuse: after a run of Parquet reads and writes a
# process holds 50-80 MB more at its peak than with the C library's allocator, at no measurable CPU cost
# on the chain (benchmarks/bench_chain.py). Set before pyarrow picks its default pool; inherited by every
# worker process; an operator's own ARROW_DEFAULT_MEMORY_POOL wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

# glibc gives each thread that allocates its own arena (up to 8 per core), and each arena keeps what it
# freed: the thread pools of compression and S3 transfers made a process running the chain six times over
# one dump grow from 350 to about 500 MB; with 2 arenas it stays near 380 MB, for the same CPU. Applied
# here (glibc reads MALLOC_ARENA_MAX only when a process starts) unless the operator set MALLOC_ARENA_MAX.
MALLOC_ARENAS = 2
if sys.platform == "linux" and "MALLOC_ARENA_MAX" not in os.environ:
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, MALLOC_ARENAS)  # -8: M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl has no arenas to cap)
        pass
