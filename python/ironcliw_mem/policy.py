"""Levels, capture qualities and what each level means for the cache, the capture and the spaces.

Pure logic: a `MemoryConfig` and a level in, a `LevelPolicy` out. Nothing here reads the system.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ironcliw_mem.config import MemoryConfig


class MemoryPressure(enum.Enum):
    """The memory level, with the agent's original string values."""

    GREEN = "normal"
    YELLOW = "warn"
    RED = "critical"
    UNKNOWN = "unknown"

    @classmethod
    def from_level(cls, level: str) -> MemoryPressure:
        """From the classifier's level names ("green", "yellow", "red", "unknown")."""
        try:
            return _LEVEL_NAMES[level]
        except KeyError:
            accepted = ", ".join(_LEVEL_NAMES)
            raise ValueError(f"unknown pressure level {level!r}; accepted: {accepted}") from None

    @classmethod
    def parse(cls, text: str) -> MemoryPressure:
        """From either naming: "green"/"normal", "yellow"/"warn", "red"/"critical", "unknown"."""
        lowered = text.strip().lower()
        for member in cls:
            if lowered in (member.value, member.name.lower()):
                return member
        accepted = ", ".join(f"{m.name.lower()}/{m.value}" for m in cls)
        raise ValueError(f"unknown pressure level {text!r}; accepted: {accepted}")

    @property
    def level_name(self) -> str:
        return self.name.lower()


_LEVEL_NAMES = {m.name.lower(): m for m in MemoryPressure}


@functools.total_ordering
class CaptureQuality(enum.Enum):
    """Capture tiers, ordered by fidelity: THUMBNAIL < FAST < OPTIMIZED < FULL.

    Comparisons use the fidelity rank, never the strings (the originals compared strings, so red
    never lowered full/optimized and green raised thumbnails).
    """

    FULL = "full"
    OPTIMIZED = "optimized"
    FAST = "fast"
    THUMBNAIL = "thumbnail"

    @property
    def fidelity(self) -> int:
        return _FIDELITY[self]

    @property
    def scale(self) -> float | None:
        """The linear scale of the tier; None for the thumbnail, which fits a box instead."""
        return _SCALE[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CaptureQuality):
            return NotImplemented
        return self.fidelity < other.fidelity

    @classmethod
    def parse(cls, text: str | CaptureQuality) -> CaptureQuality:
        if isinstance(text, CaptureQuality):
            return text
        try:
            return cls(text.strip().lower())
        except ValueError:
            accepted = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown capture quality {text!r}; accepted: {accepted}") from None


_FIDELITY = {
    CaptureQuality.THUMBNAIL: 0,
    CaptureQuality.FAST: 1,
    CaptureQuality.OPTIMIZED: 2,
    CaptureQuality.FULL: 3,
}
_SCALE: dict[CaptureQuality, float | None] = {
    CaptureQuality.FULL: 1.0,
    CaptureQuality.OPTIMIZED: 0.75,
    CaptureQuality.FAST: 0.5,
    CaptureQuality.THUMBNAIL: None,
}


class MonitoringStrategy(enum.Enum):
    """Which desktop spaces the agent keeps watching."""

    ALL_SPACES = "all"
    ACTIVE_AND_ADJACENT = "active+adjacent"
    ACTIVE_ONLY = "active"


@dataclass(frozen=True)
class LevelPolicy:
    """What a level means for the memory-hungry parts of the agent."""

    pressure: MemoryPressure
    cache_budget_mb: int
    capture_quality: CaptureQuality
    jpeg_quality: int
    monitoring: MonitoringStrategy
    adaptive: bool

    @property
    def cache_budget_bytes(self) -> int:
        return self.cache_budget_mb * 1024 * 1024

    def cap_quality(self, requested: CaptureQuality) -> CaptureQuality:
        """The requested tier, lowered to the level's tier when it asks for more."""
        return min(requested, self.capture_quality)

    def to_dict(self) -> dict[str, object]:
        return {
            "pressure": self.pressure.value,
            "cache_budget_mb": self.cache_budget_mb,
            "capture_quality": self.capture_quality.value,
            "jpeg_quality": self.jpeg_quality,
            "monitoring": self.monitoring.value,
            "adaptive": self.adaptive,
        }


def policy_for(config: MemoryConfig, pressure: MemoryPressure | None) -> LevelPolicy:
    """The policy for a level. Adaptive management off gives one fixed policy at every level;
    `None` (no memory manager attached) gives the unmanaged one: nothing capped, the base JPEG
    quality, all spaces, the fixed CACHE_MAX_SIZE_MB budget."""
    if pressure is None:
        return LevelPolicy(
            pressure=MemoryPressure.UNKNOWN,
            cache_budget_mb=config.cache_max_size_mb,
            capture_quality=CaptureQuality.FULL,
            jpeg_quality=config.image_compression_quality,
            monitoring=MonitoringStrategy.ALL_SPACES,
            adaptive=False,
        )
    if not config.enable_adaptive_management:
        return LevelPolicy(
            pressure=pressure,
            cache_budget_mb=config.cache_max_size_mb,
            capture_quality=config.quality_green,
            jpeg_quality=config.image_compression_quality,
            monitoring=MonitoringStrategy.ALL_SPACES,
            adaptive=False,
        )
    # Unknown is treated as yellow (the agent's original rule), never as green.
    acting_as = MemoryPressure.YELLOW if pressure is MemoryPressure.UNKNOWN else pressure
    return LevelPolicy(
        pressure=pressure,
        cache_budget_mb=_cache_budget_mb(config, pressure),
        capture_quality={
            MemoryPressure.GREEN: config.quality_green,
            MemoryPressure.YELLOW: config.quality_yellow,
            MemoryPressure.RED: config.quality_red,
        }[acting_as],
        jpeg_quality=_jpeg_quality(config, acting_as),
        monitoring=_monitoring(config, acting_as),
        adaptive=True,
    )


def _cache_budget_mb(config: MemoryConfig, pressure: MemoryPressure) -> int:
    if not config.cache_dynamic_sizing or pressure is MemoryPressure.UNKNOWN:
        return config.cache_max_size_mb
    return {
        MemoryPressure.GREEN: config.cache_size_green,
        MemoryPressure.YELLOW: config.cache_size_yellow,
        MemoryPressure.RED: config.cache_size_red,
    }[pressure]


def _jpeg_quality(config: MemoryConfig, pressure: MemoryPressure) -> int:
    base = config.image_compression_quality
    if not config.enable_aggressive_compression:
        return base
    ceiling = {
        MemoryPressure.GREEN: base,
        MemoryPressure.YELLOW: config.jpeg_quality_yellow,
        MemoryPressure.RED: config.jpeg_quality_red,
    }[pressure]
    return min(base, ceiling)


def _monitoring(config: MemoryConfig, pressure: MemoryPressure) -> MonitoringStrategy:
    if pressure is MemoryPressure.GREEN or not config.monitor_active_only_on_pressure:
        return MonitoringStrategy.ALL_SPACES
    if pressure is MemoryPressure.YELLOW:
        return MonitoringStrategy.ACTIVE_AND_ADJACENT
    return MonitoringStrategy.ACTIVE_ONLY


def should_monitor_all_spaces(config: MemoryConfig, pressure: MemoryPressure) -> bool:
    """The original's rule: adaptive off → True; an explicit space list → False; active-only
    under pressure → only when green; otherwise True."""
    if not config.enable_adaptive_management:
        return True
    if config.monitored_spaces:
        return False
    if config.monitor_active_only_on_pressure:
        return pressure is MemoryPressure.GREEN
    return True
