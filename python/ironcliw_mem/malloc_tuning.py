"""Keep screen-sized buffers out of glibc's heap so freeing a frame returns its memory.

glibc serves allocations above `M_MMAP_THRESHOLD` with their own mmap and unmaps them on free,
but it raises that threshold dynamically (up to 32 MiB) after large blocks are freed, after which
20 MB frames come from the heap arenas and stay in the process's RSS when freed. Measured with
benches/capture_soak.py on 9 synthetic 2880x1800 spaces: ~220 MB RSS with the dynamic threshold,
~120 MB with it fixed at 1 MiB. Setting it explicitly turns the dynamic adjustment off.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
FRAME_MMAP_THRESHOLD_BYTES = 1 << 20  # far below one frame, far above typical small objects

_applied = False


def keep_frames_out_of_the_heap() -> bool:
    """Fixes glibc's mmap threshold at 1 MiB (once per process). Returns True when in effect.

    A no-op elsewhere: macOS's allocator already returns large blocks to the system, and other
    C libraries (musl) have no `mallopt`.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, FRAME_MMAP_THRESHOLD_BYTES) == 1)
    return _applied
