"""The shapes of the stats dicts the package hands out, as TypedDicts.

Vocabulary like ``levels``: it imports nothing of the package, and the modules that build these
dicts (the native ``ByteCache``, ``capture.cache``, ``capture.engine``, ``manager``, ``gpu``)
annotate their return values with it, so code that reads a stats dict type-checks against the
keys that are really there. Units are in the names: ``_bytes``/``bytes`` bytes, ``_mb`` MiB
(2**20 bytes), ``_gb`` GiB (2**30 bytes), ``_percent`` percent 0-100, ``hit_rate`` a ratio 0-1,
``ttl`` seconds.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

__all__ = [
    "ActivityStats",
    "ByteCacheStats",
    "CaptureCacheStats",
    "EncoderBufferStats",
    "EngineStats",
    "EvictionCounts",
    "GpuDeviceStats",
    "GpuUnavailable",
    "PolicyStats",
    "ProcessMemoryStats",
    "StatsSummary",
]


class ByteCacheStats(TypedDict):
    """``ByteCache.stats()``: counters since the cache was made."""

    hits: int
    misses: int
    hit_rate: float
    """hits / (hits + misses), a ratio 0-1 (0.0 before any lookup)."""
    inserts: int
    updates: int
    evictions_capacity: int
    evictions_ttl: int
    evictions_pressure: int
    evictions_explicit: int
    evictions_activity: int
    entries: int
    bytes: int
    max_bytes: int
    entry_overhead: int
    """Bytes each entry costs besides its key and value."""


class EvictionCounts(TypedDict):
    """Entries evicted, by reason."""

    capacity: int
    ttl: int
    pressure: int
    explicit: int
    activity: int


class EncoderBufferStats(TypedDict):
    """``image_buffer_stats()``: the tier buffers the encoder keeps between calls."""

    cap_bytes: int
    """The most bytes kept for reuse (set per memory level; 0 in red)."""
    held_bytes: int
    held_buffers: int
    resizers_held: int
    reused: int
    """Counts since start: buffers reused, allocated, kept and dropped (over the cap)."""
    allocated: int
    kept: int
    dropped: int
    released_bytes: int
    """Bytes freed since start because a cap was lowered."""


class CaptureCacheStats(TypedDict):
    """``MultiSpaceCaptureCache.get_stats()``."""

    size_mb: float
    max_size_mb: float
    entries: int
    hit_count: int
    miss_count: int
    hit_rate: float
    """hit_count / (hit_count + miss_count), a ratio 0-1."""
    dynamic_sizing: bool
    compression_enabled: bool
    compression_quality: int
    """The JPEG quality the current level stores at, 1-100."""
    thumbnail_size: tuple[int, int]
    """The thumbnail tier's bounding box, pixels."""
    bytes: int
    max_bytes: int
    derived_hits: int
    """Lookups answered by deriving a lower tier from a cached higher one."""
    encoder_buffers: EncoderBufferStats
    default_ttl: float
    """Seconds an entry lives."""
    evictions: EvictionCounts


class PolicyStats(TypedDict):
    """``LevelPolicy.to_dict()``: what the current level allows."""

    pressure: str
    cache_budget_mb: int
    capture_quality: str
    jpeg_quality: int
    monitoring: str
    adaptive: bool
    activity: str
    watching: str
    """The spaces watched without being asked ("all", ...), never wider than `monitoring`."""
    prefetch: bool
    unasked_captures: bool


class ProcessMemoryStats(TypedDict):
    """This process's own memory, MiB; ``uss_mb`` is None where it cannot be read."""

    rss_mb: float
    uss_mb: float | None


class GpuDeviceStats(TypedDict):
    """One GPU in ``get_stats_summary()["gpu"]``."""

    kind: Literal["nvidia", "metal"]
    index: int
    name: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    reserved_bytes: int | None
    process_bytes: int | None
    unified_memory: bool | None
    used_percent: float | None
    level: str
    reasons: list[str]


class GpuUnavailable(TypedDict):
    """``get_stats_summary()["gpu"]`` when no GPU was read, and why."""

    available: Literal[False]
    reason: str


class ActivityStats(TypedDict):
    """``get_stats_summary()["activity"]``: what the user is doing, as the readers see it."""

    state: str
    idle_seconds: float | None
    """Seconds since the last input; None where it cannot be read."""
    frontmost_pid: int | None
    source: str
    screen_locked: NotRequired[bool | None]
    problem: NotRequired[str]


class StatsSummary(TypedDict):
    """``MemoryManager.get_stats_summary()``. The reading's figures (``total_gb`` to
    ``process``) are there from the first reading on; before it, ``reasons`` says so."""

    pressure: str
    """The level the policy follows: "normal", "warn", "critical" or "unknown"."""
    level: str
    """The same level as "green", "yellow", "red" or "unknown"."""
    recommended_cache_mb: int
    recommended_quality: str
    recommended_jpeg_quality: int
    monitoring_strategy: str
    monitor_all_spaces: bool
    adaptive: bool
    forced: bool
    monitoring: bool
    event_mechanism: str
    checks: int
    gpu: list[GpuDeviceStats] | GpuUnavailable
    activity: ActivityStats
    pressure_poll_interval: float
    """Seconds between pressure readings now (longer while the user is away)."""
    timestamp: str
    """ISO 8601."""
    reasons: list[str]
    total_gb: NotRequired[float]
    available_gb: NotRequired[float]
    used_percent: NotRequired[float]
    app_memory_gb: NotRequired[float]
    wired_memory_gb: NotRequired[float]
    compressed_gb: NotRequired[float]
    swap_used_gb: NotRequired[float]
    measured_pressure: NotRequired[str]
    sources: NotRequired[list[str]]
    signals: NotRequired[dict[str, object]]
    process: NotRequired[ProcessMemoryStats]


class EngineStats(CaptureCacheStats):
    """``MultiSpaceCaptureEngine.get_cache_stats()``: the cache's stats plus the engine's."""

    backend: str
    backend_reason: str
    captures_made: int
    capture_failures: int
    shared_captures: int
    capture_timeouts: int
    """Backend calls that outlived the capture timeout."""
    refused_while_stuck: int
    """Backend calls refused at once because an earlier one was still stuck."""
    backend_calls_running: int
    bytes_encoded: int
    policy: PolicyStats
    memory_pressure: NotRequired[StatsSummary]
