"""What each level means for the cache, the capture and the spaces watched.

Pure logic: a `MemoryConfig`, a memory level and the user's activity in, a `LevelPolicy` out
(the pressure's policy and the activity's, the stricter of the two field by field); the policy,
the spaces and the active space in, the spaces to watch out. Nothing here reads the system.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ironcliw_mem.levels import ActivityState, CaptureQuality, MemoryPressure, MonitoringStrategy

if TYPE_CHECKING:
    from ironcliw_mem.config import MemoryConfig

__all__ = [
    "ActivityPolicy",
    "ActivityState",
    "CaptureQuality",
    "LevelPolicy",
    "MemoryPressure",
    "MonitoringStrategy",
    "activity_policy",
    "adjacent_spaces",
    "policy_for",
    "should_monitor_all_spaces",
    "spaces_to_watch",
]


@dataclass(frozen=True)
class LevelPolicy:
    """What a level means for the memory-hungry parts of the agent."""

    pressure: MemoryPressure
    cache_budget_mb: int
    capture_quality: CaptureQuality
    jpeg_quality: int
    monitoring: MonitoringStrategy
    adaptive: bool
    # What the user's activity adds (policy_for fills them; these defaults add nothing): the
    # spaces watched without being asked (`watching`, never wider than `monitoring`), whether to
    # prefetch, whether to capture anything not asked for.
    activity: ActivityState = ActivityState.UNKNOWN
    watching: MonitoringStrategy = MonitoringStrategy.ALL_SPACES
    prefetch: bool = True
    unasked_captures: bool = True

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
            "activity": self.activity.value,
            "watching": self.watching.value,
            "prefetch": self.prefetch,
            "unasked_captures": self.unasked_captures,
        }


@dataclass(frozen=True)
class ActivityPolicy:
    """What the user's activity asks of the agent, apart from memory pressure."""

    activity: ActivityState
    cache_budget_mb: int | None  # None: no cap of its own
    watching: MonitoringStrategy
    prefetch: bool
    unasked_captures: bool


def activity_policy(config: MemoryConfig, activity: ActivityState | None) -> ActivityPolicy:
    """Active or unknown: nothing changes (never assume the user is away). Idle: the active space
    is the only one watched, nothing prefetched. Away: also the red budget, and nothing captured
    unless asked. IRONCLIW_ACTIVITY_POLICY=false keeps every state as active."""
    state = ActivityState.UNKNOWN if activity is None else activity
    if state.present or not config.activity_policy:
        return ActivityPolicy(state, None, MonitoringStrategy.ALL_SPACES, True, True)
    if state is ActivityState.IDLE:
        return ActivityPolicy(state, None, MonitoringStrategy.ACTIVE_ONLY, False, True)
    return ActivityPolicy(
        state, config.cache_size_red, MonitoringStrategy.ACTIVE_ONLY, False, False
    )


# Narrowest last: the stricter of two strategies is the one that watches fewer spaces.
_WATCH_ORDER = (
    MonitoringStrategy.ALL_SPACES,
    MonitoringStrategy.ACTIVE_AND_ADJACENT,
    MonitoringStrategy.ACTIVE_ONLY,
)


def _narrower(a: MonitoringStrategy, b: MonitoringStrategy) -> MonitoringStrategy:
    return max(a, b, key=_WATCH_ORDER.index)


def _stricter(pressure: LevelPolicy, activity: ActivityPolicy) -> LevelPolicy:
    """Field by field, whichever of the two asks for less."""
    budget = pressure.cache_budget_mb
    if activity.cache_budget_mb is not None:
        budget = min(budget, activity.cache_budget_mb)
    return replace(
        pressure,
        cache_budget_mb=budget,
        activity=activity.activity,
        watching=_narrower(pressure.watching, activity.watching),
        prefetch=pressure.prefetch and activity.prefetch,
        unasked_captures=pressure.unasked_captures and activity.unasked_captures,
    )


def policy_for(
    config: MemoryConfig,
    pressure: MemoryPressure | None,
    activity: ActivityState | None = None,
) -> LevelPolicy:
    """The policy for a level and the user's activity: the stricter of the pressure's policy and
    the activity's (`activity_policy`), field by field.

    For the pressure: adaptive management off gives one fixed policy at every level; `None` (no
    memory manager attached) gives the unmanaged one: nothing capped, the base JPEG quality, all
    spaces, the fixed CACHE_MAX_SIZE_MB budget."""
    return _stricter(_pressure_policy(config, pressure), activity_policy(config, activity))


def _pressure_policy(config: MemoryConfig, pressure: MemoryPressure | None) -> LevelPolicy:
    if pressure is None:
        return LevelPolicy(
            pressure=MemoryPressure.UNKNOWN,
            cache_budget_mb=config.cache_max_size_mb,
            capture_quality=CaptureQuality.FULL,
            jpeg_quality=config.image_compression_quality,
            monitoring=MonitoringStrategy.ALL_SPACES,
            adaptive=False,
        )
    # Nothing is prefetched under red pressure, whether or not the policy adapts to it.
    prefetch = pressure is not MemoryPressure.RED
    if not config.enable_adaptive_management:
        return LevelPolicy(
            pressure=pressure,
            cache_budget_mb=config.cache_max_size_mb,
            capture_quality=config.quality_green,
            jpeg_quality=config.image_compression_quality,
            monitoring=MonitoringStrategy.ALL_SPACES,
            adaptive=False,
            prefetch=prefetch,
        )
    # Unknown is treated as yellow (the agent's original rule), never as green.
    acting_as = MemoryPressure.YELLOW if pressure is MemoryPressure.UNKNOWN else pressure
    monitoring = _monitoring(config, acting_as)
    return LevelPolicy(
        pressure=pressure,
        cache_budget_mb=_cache_budget_mb(config, pressure),
        capture_quality={
            MemoryPressure.GREEN: config.quality_green,
            MemoryPressure.YELLOW: config.quality_yellow,
            MemoryPressure.RED: config.quality_red,
        }[acting_as],
        jpeg_quality=_jpeg_quality(config, acting_as),
        monitoring=monitoring,
        adaptive=True,
        watching=monitoring,
        prefetch=prefetch,
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


def adjacent_spaces(spaces: list[int], active: int) -> list[int]:
    """`active` and its neighbours in display order (the spaces a user most likely goes to next)."""
    if active not in spaces:
        return [active] if not spaces else spaces[:1]
    index = spaces.index(active)
    return spaces[max(0, index - 1) : index + 2]


def spaces_to_watch(
    policy: LevelPolicy,
    spaces: list[int],
    active: int,
    monitored_spaces: list[int],
    *,
    asked: bool = False,
) -> list[int]:
    """The spaces the policy lets the agent watch: all of them, the active space and its
    neighbours, or the active space only; always within `monitored_spaces` when it is not empty
    (MONITORED_SPACES), in its order. By `policy.watching` (pressure and activity), or for a
    capture the agent was asked for (`asked`) by `policy.monitoring` (pressure alone: an idle
    user's question is still answered in full)."""
    if monitored_spaces:
        spaces = [s for s in monitored_spaces if s in spaces]
    strategy = policy.monitoring if asked else policy.watching
    if strategy is MonitoringStrategy.ALL_SPACES:
        return spaces
    if strategy is MonitoringStrategy.ACTIVE_AND_ADJACENT:
        return [s for s in adjacent_spaces(spaces, active) if s in spaces]
    return [active] if active in spaces else spaces[:1]
