"""wme: Wikimedia Enterprise's products (snapshots, realtime, on-demand) rebuilt from Wikimedia's public data."""

import ctypes
import os
import sys

# Arrow's own allocator (mimalloc) keeps freed memory for reuse: after a run of Parquet reads and writes a
# process holds 50-80 MB more at its peak than with the C library's allocator, at no measurable CPU cost
# on the chain (benchmarks/bench_chain.py). Set before pyarrow picks its default pool; inherited by every
# worker process; an operator's own ARROW_DEFAULT_MEMORY_POOL wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

# glibc's malloc, tuned once per process (each worker inherits it from the fork server, which imports this
# package); an operator's own MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ wins:
# - Arenas. glibc gives each thread that allocates its own arena (up to 8 per core), and each arena keeps what
#   it freed: the thread pools of compression and S3 transfers made a process running the chain six times
#   over one dump grow from 350 to about 500 MB; with 2 arenas it stays near 380 MB, for the same CPU.
# - Freed memory kept for reuse. By default glibc serves every block of 128 KiB or more (an article's JSON, a
#   batch's pickle, an Arrow buffer) with a fresh mmap and unmaps it when freed, so the next such block is
#   page-faulted in again, zeroed by the kernel: the chain over long articles (benchmarks/bench_peers.py)
#   took 610,000 page faults, about 3.5 µs each on a virtual machine. With blocks under 32 MiB taken from the
#   heap and up to 64 MiB of its free top kept, 164,000: about 1.5 CPU-s less, for a peak that stays the
#   largest batch's (what is kept is what the next batch reuses).
MALLOC_ARENAS = 2
MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024
MALLOC_TRIM_THRESHOLD = 64 * 1024 * 1024
_MALLOPT = (  # (mallopt parameter of malloc.h, value, the environment variable that overrides it)
    (-8, MALLOC_ARENAS, "MALLOC_ARENA_MAX"),  # M_ARENA_MAX
    (-3, MALLOC_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_"),  # M_MMAP_THRESHOLD
    (-1, MALLOC_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_"),  # M_TRIM_THRESHOLD
)
_mallopt = None
if sys.platform == "linux":
    try:
        _mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has neither arenas nor these thresholds)
        pass
if _mallopt is not None:
    for _parameter, _value, _variable in _MALLOPT:
        if _variable not in os.environ:  # glibc read the variable itself when the process started
            _mallopt(_parameter, _value)
