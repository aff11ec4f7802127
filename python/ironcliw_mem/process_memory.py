"""This process's own memory: RSS, VMS and USS (through psutil), and the kernel's peak-RSS mark.

The one place that reads it: the manager's stats, the profiler's samples and the benchmarks all
come here, so every figure means the same thing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

MIB = 1024 * 1024
# USS is the honest "what would be freed" figure but costly to read; refresh it this often.
USS_REFRESH_SECONDS = 30.0


@dataclass(frozen=True)
class ProcessMemory:
    """One reading, in MB; `uss_mb` is None where the platform will not tell (or was not asked)."""

    rss_mb: float
    vms_mb: float
    uss_mb: float | None


def read_process_memory(
    process: psutil.Process | None = None, *, uss: bool = True
) -> ProcessMemory:
    """RSS and VMS, and USS when `uss` (it walks every mapping: ~1.4 ms here, tens of ms in a
    process with ML libraries loaded). `process` defaults to this one."""
    process = process if process is not None else psutil.Process()
    if uss:
        try:
            full = process.memory_full_info()
            unique = getattr(full, "uss", None)
            return ProcessMemory(
                full.rss / MIB, full.vms / MIB, None if unique is None else unique / MIB
            )
        except (psutil.AccessDenied, OSError):
            pass
    info = process.memory_info()
    return ProcessMemory(info.rss / MIB, info.vms / MIB, None)


def percent_of_total(process: psutil.Process | None = None) -> float:
    """RSS as a percentage of the machine's total memory (the original profiler's `percent`)."""
    return float((process if process is not None else psutil.Process()).memory_percent())


class ProcessFootprint:
    """RSS on every reading; USS at most every `uss_refresh_s` seconds."""

    def __init__(self, uss_refresh_s: float = USS_REFRESH_SECONDS) -> None:
        self._process = psutil.Process()
        self._uss_refresh_s = uss_refresh_s
        self._uss: tuple[float, float | None] | None = None  # (monotonic time, USS MB)

    def read(self) -> tuple[float, float | None]:
        """(RSS, USS) in MB; USS is None where the platform will not tell."""
        now = time.monotonic()
        refresh = self._uss is None or now - self._uss[0] >= self._uss_refresh_s
        reading = read_process_memory(self._process, uss=refresh)
        if refresh:
            self._uss = (now, reading.uss_mb)
        assert self._uss is not None
        return reading.rss_mb, self._uss[1]


def reset_peak_rss() -> bool:
    """Resets the kernel's peak-RSS mark for this process (Linux: `5 > /proc/self/clear_refs`).
    Returns False where that is not possible; peaks then come from the samples alone."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """The kernel's peak RSS since the last reset (`VmHWM`), in MB; None where unavailable."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
