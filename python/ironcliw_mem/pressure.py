"""Memory pressure: read the machine's signals and classify them green / yellow / red / unknown.

The readers, the classifier and the kernel watcher are Rust (``ironcliw_mem._native``):

- ``PressureProbe`` reads ``/proc/meminfo``, PSI and the process's own cgroup (v1 or v2) on Linux,
  and ``kern.memorystatus_vm_pressure_level``, ``hw.memsize``, ``vm.swapusage`` and
  ``host_statistics64`` on macOS, with no subprocess.
- ``Classifier`` is the hysteresis state machine: ``update(sample, now)`` -> ``Verdict``.
- ``PressureWatcher`` blocks (GIL released) until the kernel signals pressure or a timeout
  passes, so a monitor can react within about a second instead of at its next poll.

This module adds what is plain Python: ``read_sample()``, which picks the native probe on Linux
and macOS and a psutil reading elsewhere (``psutil_sample()``, also usable explicitly), and
``thresholds_from_env()``, which builds ``Thresholds`` from ``PRESSURE_<NAME>`` variables.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Literal

from ironcliw_mem._native import (
    Classifier,
    PressureProbe,
    PressureWatcher,
    Sample,
    Thresholds,
    Verdict,
)

__all__ = [
    "THRESHOLD_ENV_PREFIX",
    "THRESHOLD_NAMES",
    "Classifier",
    "PressureProbe",
    "PressureWatcher",
    "Sample",
    "Thresholds",
    "Verdict",
    "native_probe_supported",
    "psutil_sample",
    "read_sample",
    "thresholds_from_env",
]

#: Environment variable prefix: ``PRESSURE_`` + the upper-cased ``Thresholds`` keyword.
THRESHOLD_ENV_PREFIX = "PRESSURE_"
#: Every ``Thresholds`` keyword, in a fixed order.
THRESHOLD_NAMES: tuple[str, ...] = tuple(Thresholds().to_dict())

SampleSource = Literal["auto", "native", "psutil"]

_probe: PressureProbe | None = None
_probe_lock = threading.Lock()


def native_probe_supported(platform: str | None = None) -> bool:
    """True where the Rust probe reads the kernel directly (Linux, macOS)."""
    name = sys.platform if platform is None else platform
    return name.startswith("linux") or name == "darwin"


def _default_probe() -> PressureProbe:
    global _probe
    with _probe_lock:
        if _probe is None:
            _probe = PressureProbe()
        return _probe


def psutil_sample() -> Sample:
    """A sample from psutil (the fallback on platforms without a native probe).

    psutil sees the host, not a container's cgroup, and on macOS ignores compressed memory: the
    classifier therefore applies Chromium's available-megabytes rule to it.
    """
    import psutil  # only here: the native probe, used on Linux and macOS, needs none of it

    vm = psutil.virtual_memory()
    fields: dict[str, int | list[str] | None] = {
        "total": int(vm.total),
        "available": int(vm.available),
        "used": max(int(vm.total) - int(vm.available), 0),
        "wired": int(getattr(vm, "wired", 0)) or None,
    }
    problems: list[str] = []
    try:
        swap = psutil.swap_memory()
        fields["swap_total"] = int(swap.total)
        fields["swap_used"] = int(swap.used)
    except (OSError, RuntimeError) as exc:  # some platforms cannot report swap
        problems.append(f"psutil swap_memory: {exc}")
    return Sample.from_values(**fields, sources=["psutil"], problems=problems)


def read_sample(source: SampleSource = "auto", *, probe: PressureProbe | None = None) -> Sample:
    """One reading of the memory signals.

    ``source="auto"`` uses the native probe on Linux and macOS and psutil elsewhere; ``"native"``
    and ``"psutil"`` force one (tests, comparisons). ``probe`` reuses a given probe (for example one
    built with fixture roots); otherwise a process-wide probe is created on first use.
    """
    if source not in ("auto", "native", "psutil"):
        raise ValueError(f"source must be 'auto', 'native' or 'psutil', got {source!r}")
    if source == "psutil" or (source == "auto" and probe is None and not native_probe_supported()):
        return psutil_sample()
    return (probe or _default_probe()).read()


def thresholds_from_env(environ: Mapping[str, str] | None = None, **overrides: float) -> Thresholds:
    """``Thresholds`` from ``PRESSURE_<NAME>`` environment variables; keywords beat the environment.

    Every bad variable is reported in one ``ConfigError`` (a ``ValueError``) that names the
    variable, its value and what is accepted, as ``MemoryConfig`` does for all settings.
    """
    from ironcliw_mem.config import ConfigError, resolve_thresholds

    values, _sources, problems = resolve_thresholds(
        overrides, os.environ if environ is None else environ
    )
    if problems:
        raise ConfigError(problems)
    return Thresholds(**values)
