"""The one place that talks to glibc's allocator.

`keep_frames_out_of_the_heap`: glibc serves allocations above `M_MMAP_THRESHOLD` with their own
mmap and unmaps them on free, but it raises that threshold dynamically (up to 32 MiB) after large
blocks are freed, after which 20 MB frames come from the heap arenas and stay in the process's RSS
when freed. Measured with benches/capture_soak.py on 9 synthetic 2880x1800 spaces: ~220 MB RSS
with the dynamic threshold, ~120 MB with it fixed at 1 MiB. Setting it explicitly turns the
dynamic adjustment off.

`trim_heap`: `malloc_trim(0)` hands freed heap memory back to the system (the profiler calls it
between workloads, so each is judged on its own memory).

Both are no-ops elsewhere: macOS's allocator already returns large blocks to the system, and
other C libraries (musl) have neither call.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
FRAME_MMAP_THRESHOLD_BYTES = 1 << 20  # far below one frame, far above typical small objects

_applied = False


def _libc_function(name: str) -> Any | None:
    """glibc's `name` from the running process, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def keep_frames_out_of_the_heap() -> bool:
    """Fixes glibc's mmap threshold at 1 MiB (once per process). Returns True when in effect."""
    global _applied
    if _applied:
        return True
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, FRAME_MMAP_THRESHOLD_BYTES) == 1)
    return _applied


def trim_heap() -> bool:
    """Asks glibc to return freed heap memory to the system. False where there is no
    `malloc_trim`."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True
