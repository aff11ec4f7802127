"""The package's metrics as a prometheus-client `Collector`, to register on your own registry.

    from prometheus_client import REGISTRY
    from ironcliw_mem.tools.metrics import MemoryCollector
    REGISTRY.register(MemoryCollector(manager, engine))

A scrape reads the manager's latest reading and the engine's cache stats (it takes no pressure
reading of its own: the manager's monitor does that) and this process's RSS and USS, measured at
the scrape, so no figure is served older than it is. The names follow the Prometheus
conventions: base units (bytes, seconds), ratios 0-1 as `_ratio`, counters as `_total`, PSI as
seconds counters named like node_exporter's `node_pressure_memory_*`. Every memory figure says in
its `scope` label whether it is the host's or the memory cgroup's. docs/metrics.md lists them all.

One function per group of families (`*_families`), each taking the summary it reads: a new group
is one more function and one more line in `summary_families`.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ironcliw_mem import _native, gpu
from ironcliw_mem.activity import report as activity_report
from ironcliw_mem.activity.report import MetricRows
from ironcliw_mem.process_memory import read_process_memory

if TYPE_CHECKING:
    from ironcliw_mem.capture.engine import MultiSpaceCaptureEngine
    from ironcliw_mem.manager import MacOSMemoryManager

PREFIX = "ironcliw_"
MIB = 1024 * 1024
MICROSECONDS = 1e6
PERCENT = 100.0
LEVEL_CODES = {"green": 0, "yellow": 1, "red": 2, "unknown": -1}
EVICTION_REASONS = ("capacity", "ttl", "pressure", "explicit", "activity")
CGROUP_EVENTS = ("high", "max", "oom")
HOST, CGROUP = "host", "cgroup"

# (summary, cache stats or None): what a scrape reads.
Stats = tuple[dict[str, Any], dict[str, Any] | None]

# Host figures from the probe's sample: signal key -> (name, help).
HOST_BYTES = {
    "wired": ("memory_wired_bytes", "Wired memory (macOS), host"),
    "compressed": ("memory_compressed_bytes", "Memory held by the compressor (macOS), host"),
    "swap_total": ("memory_swap_total_bytes", "Swap space, host"),
    "swap_used": ("memory_swap_used_bytes", "Swap in use, host"),
}
CGROUP_BYTES = {
    "cgroup_high": ("cgroup_memory_high_bytes", "The memory cgroup's high mark (memory.high)"),
    "cgroup_working_set": (
        "cgroup_memory_working_set_bytes",
        "The memory cgroup's usage minus its inactive file cache",
    ),
}
PSI_AVERAGES = ("some_avg10", "some_avg60", "full_avg10", "full_avg60")
CACHE_GAUGES = {
    "bytes": ("cache_bytes", "Bytes held by the capture cache"),
    "max_bytes": ("cache_max_bytes", "The capture cache's budget now"),
    "entries": ("cache_entries", "Entries in the capture cache"),
}
CACHE_COUNTERS = {
    "hit_count": ("cache_hits_total", "Capture cache hits"),
    "miss_count": ("cache_misses_total", "Capture cache misses"),
    "captures_made": ("captures_total", "Spaces captured"),
    "capture_failures": ("capture_failures_total", "Captures that failed"),
    "bytes_encoded": ("capture_encoded_bytes_total", "JPEG bytes encoded"),
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def gauge(name: str, help_text: str, value: float | None, **labels: str) -> Iterator[Metric]:
    """One gauge family of one sample, or nothing when the value is absent."""
    if value is not None:
        family = GaugeMetricFamily(PREFIX + name, help_text, labels=list(labels))
        family.add_metric(list(labels.values()), value)
        yield family


def counter(name: str, help_text: str, value: float | None, **labels: str) -> Iterator[Metric]:
    if value is not None:
        family = CounterMetricFamily(PREFIX + name, help_text, labels=list(labels))
        family.add_metric(list(labels.values()), value)
        yield family


def build_info_families() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        PREFIX + "build_info",
        "Always 1; the labels say which ironcliw-mem and Python answer",
        labels=["version", "python", "platform"],
    )
    family.add_metric(
        [_native.__version__, platform.python_version(), platform.system().lower()], 1
    )
    yield family


def level_families(summary: dict[str, Any]) -> Iterator[Metric]:
    level = summary.get("level", "unknown")
    states = GaugeMetricFamily(
        PREFIX + "memory_pressure", "1 for the current pressure level, else 0", labels=["level"]
    )
    for name in LEVEL_CODES:
        states.add_metric([name], float(name == level))
    yield states
    yield from gauge(
        "memory_pressure_level",
        "The pressure level as a number: 0 green, 1 yellow, 2 red, -1 unknown",
        LEVEL_CODES.get(level, -1),
    )
    yield from gauge(
        "memory_pressure_forced",
        "1 when the level is overridden",
        float(bool(summary.get("forced"))),
    )
    yield from counter("memory_checks_total", "Pressure readings taken", summary.get("checks", 0))
    budget = _number(summary.get("recommended_cache_mb"))
    yield from gauge(
        "memory_cache_budget_bytes",
        "The capture cache budget the current level allows",
        None if budget is None else budget * MIB,
    )


def memory_families(signals: dict[str, Any]) -> Iterator[Metric]:
    """Total, available and used memory for the host and, inside a limited cgroup, the cgroup;
    the headroom the classifier uses; the host-only and cgroup-only figures."""
    value = {k: _number(v) for k, v in signals.items()}
    limit = value.get("cgroup_limit")
    in_use = value.get("cgroup_working_set") or value.get("cgroup_usage")
    cgroup_available = None
    if limit is not None and in_use is not None:
        cgroup_available = float(max(0, limit - in_use))
    rows = (
        (
            "memory_total_bytes",
            "Memory size: the host's RAM (scope=host) and the memory cgroup's limit"
            " (scope=cgroup, where it has one)",
            value.get("total"),
            limit,
        ),
        (
            "memory_available_bytes",
            "Memory available: the host's (MemAvailable / macOS free+reclaimable, scope=host)"
            " and the cgroup's limit minus its working set (scope=cgroup)",
            value.get("available"),
            cgroup_available,
        ),
        (
            "memory_used_bytes",
            "Memory in use: by the host's applications (scope=host) and charged to the memory"
            " cgroup (memory.current, scope=cgroup)",
            value.get("used"),
            value.get("cgroup_usage"),
        ),
    )
    for name, help_text, host, cgroup in rows:
        family = GaugeMetricFamily(PREFIX + name, help_text, labels=["scope"])
        for scope, figure in ((HOST, host), (CGROUP, cgroup)):
            if figure is not None:
                family.add_metric([scope], figure)
        if family.samples:
            yield family
    for key, (name, help_text) in HOST_BYTES.items():
        yield from gauge(name, help_text, value.get(key), scope=HOST)
    for key, (name, help_text) in CGROUP_BYTES.items():
        yield from gauge(name, help_text, value.get(key), scope=CGROUP)
    headroom = value.get("headroom")
    if headroom is not None:
        # The tighter of the two scopes sets it; say which.
        cgroup_ratio = None if cgroup_available is None or not limit else cgroup_available / limit
        scope = CGROUP if cgroup_ratio is not None and cgroup_ratio * PERCENT <= headroom else HOST
        yield from gauge(
            "memory_headroom_ratio",
            "Headroom H, 0-1: the lower of the host's available/total and the cgroup's"
            " (limit - working set)/limit; scope says which set it",
            headroom / PERCENT,
            scope=scope,
        )
    yield from gauge(
        "macos_pressure_level",
        "kern.memorystatus_vm_pressure_level: 1 normal, 2 warn, 4 critical (macOS), host",
        value.get("macos_pressure_level"),
        scope=HOST,
    )
    free = value.get("memorystatus_level")
    yield from gauge(
        "macos_memorystatus_free_ratio",
        "kern.memorystatus_level: the share of memory the kernel considers available, 0-1"
        " (macOS), host",
        None if free is None else free / PERCENT,
        scope=HOST,
    )


def psi_families(signals: dict[str, Any]) -> Iterator[Metric]:
    """PSI memory: node_exporter's two seconds counters under our prefix, and the kernel's
    running averages as ratios. From the cgroup's memory.pressure where it has one."""
    sources = signals.get("sources") or []
    scope = CGROUP if "cgroup-psi" in sources else HOST
    where = "the memory cgroup's memory.pressure" if scope == CGROUP else "/proc/pressure/memory"
    for key, name, meaning in (
        ("psi_some_total", "pressure_memory_waiting_seconds_total", "some task"),
        ("psi_full_total", "pressure_memory_stalled_seconds_total", "all non-idle tasks"),
    ):
        stall = _number(signals.get(key))
        yield from counter(
            name,
            f"Seconds in which {meaning} waited for memory (PSI, {where})",
            None if stall is None else stall / MICROSECONDS,
            scope=scope,
        )
    for average in PSI_AVERAGES:
        share = _number(signals.get("psi_" + average))
        kind, window = average.split("_")
        yield from gauge(
            f"pressure_memory_{kind}_{window}_ratio",
            f"PSI memory {kind} average over {window[3:]} s, 0-1 ({where})",
            None if share is None else share / PERCENT,
            scope=scope,
        )


def cgroup_families(signals: dict[str, Any]) -> Iterator[Metric]:
    events = CounterMetricFamily(
        PREFIX + "cgroup_memory_events_total",
        "The memory cgroup's memory.events by event (v1: failcnt as max, oom_kill as oom)",
        labels=["event"],
    )
    for event in CGROUP_EVENTS:
        count = _number(signals.get("cgroup_events_" + event))
        if count is not None:
            events.add_metric([event], count)
    if events.samples:
        yield events


def row_families(rows: MetricRows) -> Iterator[Metric]:
    """Families from the library's metric rows (name without prefix, type, help, samples)."""
    for name, kind, help_text, samples in rows:
        family = Metric(PREFIX + name, help_text, kind)
        for labels, figure in samples:
            family.add_sample(PREFIX + name, labels, figure)
        yield family


def gpu_families(summary: dict[str, Any]) -> Iterator[Metric]:
    yield from row_families(gpu.metric_rows(summary.get("gpu")))


def activity_families(summary: dict[str, Any]) -> Iterator[Metric]:
    """`ironcliw_user_idle_seconds` and the `ironcliw_user_activity` state set."""
    yield from row_families(activity_report.metric_rows(summary.get("activity")))


def process_families(read: Callable[[], tuple[float, float | None]]) -> Iterator[Metric]:
    """This process's RSS and USS, read now (the manager refreshes USS only every 30 s)."""
    rss_mb, uss_mb = read()
    yield from gauge(
        "process_resident_memory_bytes", "This process's resident set size", rss_mb * MIB
    )
    yield from gauge(
        "process_unique_memory_bytes",
        "This process's unique set size (memory freed if it exited)",
        None if uss_mb is None else uss_mb * MIB,
    )


def cache_families(cache: dict[str, Any] | None) -> Iterator[Metric]:
    if cache is None:
        return
    for key, (name, help_text) in CACHE_GAUGES.items():
        yield from gauge(name, help_text, _number(cache.get(key)))
    for key, (name, help_text) in CACHE_COUNTERS.items():
        yield from counter(name, help_text, _number(cache.get(key)))
    evictions = cache.get("evictions") or {}
    family = CounterMetricFamily(
        PREFIX + "cache_evictions_total", "Capture cache evictions by reason", labels=["reason"]
    )
    for reason in EVICTION_REASONS:
        family.add_metric([reason], float(evictions.get(reason, 0)))
    yield family


def read_footprint() -> tuple[float, float | None]:
    reading = read_process_memory()
    return reading.rss_mb, reading.uss_mb


def summary_families(
    summary: dict[str, Any],
    cache: dict[str, Any] | None,
    footprint: Callable[[], tuple[float, float | None]] = read_footprint,
) -> Iterator[Metric]:
    """Every family, from a stats summary, cache stats and this process's footprint."""
    signals = summary.get("signals") or {}
    yield from build_info_families()
    yield from level_families(summary)
    yield from memory_families(signals)
    yield from psi_families(signals)
    yield from cgroup_families(signals)
    yield from gpu_families(summary)
    yield from activity_families(summary)
    yield from process_families(footprint)
    yield from cache_families(cache)


def cache_stats_of(engine: MultiSpaceCaptureEngine | None) -> dict[str, Any] | None:
    if engine is None:
        return None
    stats = engine.get_cache_stats()
    stats.pop("memory_pressure", None)  # the summary is served beside it already
    return stats


class MemoryCollector(Collector):
    """ironcliw-mem's metrics for a prometheus-client registry.

    `MemoryCollector(manager, engine)` reads the manager's latest reading and the engine's cache
    at each scrape; `MemoryCollector(stats=...)` reads whatever `stats()` returns instead (the
    dashboard serves its sampler's snapshot that way).
    """

    def __init__(
        self,
        manager: MacOSMemoryManager | None = None,
        engine: MultiSpaceCaptureEngine | None = None,
        *,
        stats: Callable[[], Stats] | None = None,
        footprint: Callable[[], tuple[float, float | None]] = read_footprint,
    ) -> None:
        if (manager is None) == (stats is None):
            raise TypeError("MemoryCollector takes a manager or stats=, exactly one of them")
        if stats is None:
            assert manager is not None
            owner = manager

            def stats() -> Stats:
                return owner.get_stats_summary(), cache_stats_of(engine)

        self._stats = stats
        self._footprint = footprint

    def collect(self) -> Iterable[Metric]:
        summary, cache = self._stats()
        return list(summary_families(summary, cache, self._footprint))

    def describe(self) -> Iterable[Metric]:
        # Families come and go with the platform (PSI, cgroup, GPU): registering must not take a
        # reading, and the registry must not refuse a user's name for one absent now.
        return []
