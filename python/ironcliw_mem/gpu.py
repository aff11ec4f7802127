"""GPU memory: each device's reading and level, in the shape the stats and listeners use.

The reader and the level are Rust (``GpuProbe``: NVML on Linux, Metal on macOS; ``GpuClassifier``:
per device green / yellow / red with the memory level's hysteresis and dwell). This module keeps
one monitor's state: the last reading, each device's last verdict, and which devices changed level
(the manager tells its GPU listeners about those). The GPU level never feeds the cache budget:
the cache holds CPU memory, and on unified memory the kernel's level already counts the GPU.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from ironcliw_mem._native import (
    GpuClassifier,
    GpuDevice,
    GpuProbe,
    GpuReading,
    GpuVerdict,
    Thresholds,
)
from ironcliw_mem.levels import MemoryPressure
from ironcliw_mem.stats import GpuDeviceStats, GpuUnavailable

__all__ = [
    "GpuClassifier",
    "GpuDevice",
    "GpuMonitor",
    "GpuProbe",
    "GpuReading",
    "GpuVerdict",
    "device_stats",
    "read_gpu",
]

log = logging.getLogger(__name__)

#: How often the GPU is read at most, like the other slow signals of the probe.
GPU_REFRESH_SECONDS = 1.0

_probe: GpuProbe | None = None
_probe_lock = threading.Lock()


def read_gpu() -> GpuReading:
    """One reading of every GPU through a process-wide probe (refreshed at most every second)."""
    global _probe
    with _probe_lock:
        if _probe is None:
            _probe = GpuProbe(GPU_REFRESH_SECONDS)
        probe = _probe
    return probe.read()


def device_stats(device: GpuDevice, verdict: GpuVerdict | None) -> dict[str, Any]:
    """One device as ``get_stats_summary()["gpu"]`` lists it."""
    stats: dict[str, Any] = device.to_dict()
    used_percent = device.used_percent
    stats["used_percent"] = None if used_percent is None else round(used_percent, 1)
    stats["level"] = verdict.level if verdict is not None else "unknown"
    stats["reasons"] = list(verdict.reasons) if verdict is not None else []
    return stats


class GpuMonitor:
    """The last GPU reading, classified per device. ``read`` may run in a worker thread;
    ``update`` runs where the levels are kept (the manager's check, under its lock)."""

    def __init__(
        self,
        thresholds: Thresholds,
        read: Callable[[], GpuReading] | None = None,
    ) -> None:
        self._read = read or read_gpu
        self._classifier = GpuClassifier(thresholds)
        self._reading: GpuReading | None = None
        self._devices: list[dict[str, Any]] = []

    def read(self) -> GpuReading:
        """A reading; a reader that raises gives one with no devices that says why."""
        try:
            return self._read()
        except Exception as exc:
            log.warning("GPU reading failed: %s", exc)
            return GpuReading(problems=[f"GPU reading failed: {exc}"])

    def update(
        self, reading: GpuReading, now: float
    ) -> list[tuple[MemoryPressure, dict[str, Any]]]:
        """Classifies `reading` at `now`; returns (level, device stats) per device whose level
        changed, in device order."""
        verdicts = self._classifier.update(reading, now)
        devices = [device_stats(d, v) for d, v in zip(reading.devices, verdicts, strict=True)]
        self._reading = reading
        self._devices = devices
        return [
            (MemoryPressure.from_level(v.level), stats)
            for v, stats in zip(verdicts, devices, strict=True)
            if v.changed
        ]

    @property
    def devices(self) -> list[dict[str, Any]]:
        """The last reading's devices (copies), empty when there is no GPU."""
        return [dict(d) for d in self._devices]

    def summary(self) -> list[GpuDeviceStats] | GpuUnavailable:
        """The devices, or ``{"available": False, "reason": ...}`` when there is none."""
        if self._reading is None:
            return {"available": False, "reason": "no reading yet"}
        if not self._devices:
            reason = "; ".join(self._reading.problems) or "no GPU found"
            return {"available": False, "reason": reason}
        return cast(list[GpuDeviceStats], self.devices)

    @property
    def problems(self) -> list[str]:
        return [] if self._reading is None else self._reading.problems


# --- what the tools show (status, metrics, dashboard, profiler): data here, rendering there ---

MIB = 1024**2
GIB = 1024**3
LEVELS = ("green", "yellow", "red", "unknown")


def status_lines(gpu: list[dict[str, Any]] | dict[str, Any] | None) -> list[str]:
    """``get_stats_summary()["gpu"]`` as lines for ``ironcliw-mem status``."""
    if gpu is None:
        return []
    if isinstance(gpu, dict):
        return [f"gpu: none ({gpu.get('reason', 'no reason given')})"]
    lines = []
    for d in gpu:
        reserved = d.get("reserved_bytes")
        process = d.get("process_bytes")
        lines.append(
            f"gpu {d['index']} {d['name']}: {d['level']},"
            f" {d['used_bytes'] / GIB:.2f} GB used of {d['total_bytes'] / GIB:.2f} GB"
            + (f" ({d['used_percent']:.1f} %)" if d.get("used_percent") is not None else "")
            + (f", reserved {reserved / GIB:.2f} GB" if reserved is not None else "")
            + (
                f", this process {process / MIB:.0f} MB"
                if process is not None
                else ", this process ? (not reported)"
            )
        )
        if d.get("reasons"):
            lines.append(f"  reasons: {'; '.join(d['reasons'])}")
    return lines


#: GPU metrics: (name without prefix, type, help, device key); each sample labelled by device.
GPU_BYTE_METRICS = (
    (
        "gpu_memory_total_bytes",
        "gauge",
        "GPU memory (Metal: recommended working set)",
        "total_bytes",
    ),
    ("gpu_memory_used_bytes", "gauge", "GPU memory in use (Metal: allocated)", "used_bytes"),
    ("gpu_memory_process_bytes", "gauge", "GPU memory this process holds", "process_bytes"),
)
MetricRows = list[tuple[str, str, str, list[tuple[dict[str, str], float]]]]


def metric_rows(gpu: list[dict[str, Any]] | dict[str, Any] | None) -> MetricRows:
    """The GPU metric families as (name, type, help, [(labels, value)]): one sample per device
    for each byte gauge, and a state set of the levels per device; none without a GPU."""
    if not isinstance(gpu, list) or not gpu:
        return []

    def labels(d: dict[str, Any]) -> dict[str, str]:
        return {"device": str(d["index"]), "name": str(d["name"]), "kind": str(d.get("kind", ""))}

    rows: MetricRows = []
    for name, kind, help_text, key in GPU_BYTE_METRICS:
        samples = [(labels(d), float(d[key])) for d in gpu if d.get(key) is not None]
        if samples:
            rows.append((name, kind, help_text, samples))
    rows.append(
        (
            "gpu_memory_pressure",
            "gauge",
            "1 for each GPU's current level, else 0",
            [
                ({**labels(d), "level": level}, float(d["level"] == level))
                for d in gpu
                for level in LEVELS
            ],
        )
    )
    return rows


def process_and_used_mb(
    devices: list[dict[str, Any]] | None = None,
) -> tuple[float | None, float | None]:
    """(this process's GPU MB, MB used on the GPUs), each summed over devices; None where there
    is no GPU or it does not say. `devices` defaults to a reading now (through `read_gpu`)."""
    if devices is None:
        devices = [device_stats(d, None) for d in read_gpu().devices]
    if not devices:
        return None, None
    process = [d["process_bytes"] for d in devices if d.get("process_bytes") is not None]
    return (
        sum(process) / MIB if process else None,
        sum(d["used_bytes"] for d in devices) / MIB,
    )
