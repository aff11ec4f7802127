"""glibc's allocator: freed frames leave the process, freed heap memory is handed back."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ironcliw_mem.allocator import keep_frames_out_of_the_heap

# Allocates and frees 20 MB frames a few times, then prints how much RSS the freed frames kept.
PROBE = """
import sys, psutil, numpy as np
from ironcliw_mem.allocator import keep_frames_out_of_the_heap
if sys.argv[1] == "tuned":
    assert keep_frames_out_of_the_heap()
proc = psutil.Process()
frame = np.ones((1800, 2880, 4), np.uint8); del frame   # raises glibc's dynamic threshold
before = proc.memory_info().rss
for _ in range(3):
    frame = np.ones((1800, 2880, 4), np.uint8)
    del frame
print((proc.memory_info().rss - before) / 2**20)
"""

FRAME_MB = 1800 * 2880 * 4 / 2**20


def retained_mb(mode: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return float(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_freed_frames_are_returned_to_the_system() -> None:
    assert retained_mb("tuned") < FRAME_MB / 4
    # The same program without the tuning keeps a whole frame: the test can tell the difference.
    assert retained_mb("default") > FRAME_MB / 2


def test_is_idempotent() -> None:
    first = keep_frames_out_of_the_heap()
    assert keep_frames_out_of_the_heap() is first


# Frees ~200 MB of heap blocks below its top, then prints how much RSS the trim gave back.
TRIM_PROBE = """
import sys
from ironcliw_mem.allocator import trim_heap
from ironcliw_mem.process_memory import read_process_memory
blocks = [bytearray(b"\\x01") * (64 * 1024) for _ in range(3200)]
keep = blocks[-1]  # the heap's top stays in use, so free() alone cannot shrink the heap
del blocks
before = read_process_memory(uss=False).rss_mb
if sys.argv[1] == "trim":
    assert trim_heap()
print(before - read_process_memory(uss=False).rss_mb)
"""


def released_mb(mode: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_trimming_hands_freed_heap_memory_back() -> None:
    assert released_mb("trim") > 150
    # Without the trim the freed blocks stay resident: the test can tell the difference.
    assert released_mb("none") < 50
