"""The per-level policy and the spaces it lets the agent watch."""

from __future__ import annotations

import pytest

from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.levels import CaptureQuality, MemoryPressure, MonitoringStrategy
from ironcliw_mem.policy import (
    adjacent_spaces,
    policy_for,
    should_monitor_all_spaces,
    spaces_to_watch,
)

GREEN, YELLOW, RED, UNKNOWN = (
    MemoryPressure.GREEN,
    MemoryPressure.YELLOW,
    MemoryPressure.RED,
    MemoryPressure.UNKNOWN,
)


@pytest.mark.parametrize(
    ("pressure", "budget", "quality", "jpeg", "monitoring"),
    [
        (GREEN, 500, CaptureQuality.OPTIMIZED, 85, MonitoringStrategy.ALL_SPACES),
        (YELLOW, 200, CaptureQuality.FAST, 75, MonitoringStrategy.ACTIVE_AND_ADJACENT),
        (RED, 50, CaptureQuality.THUMBNAIL, 60, MonitoringStrategy.ACTIVE_ONLY),
        (UNKNOWN, 200, CaptureQuality.FAST, 75, MonitoringStrategy.ACTIVE_AND_ADJACENT),
    ],
)
def test_default_policy_table(
    pressure: MemoryPressure,
    budget: int,
    quality: CaptureQuality,
    jpeg: int,
    monitoring: MonitoringStrategy,
) -> None:
    policy = policy_for(MemoryConfig(env={}), pressure)
    assert policy.cache_budget_mb == budget
    assert policy.cache_budget_bytes == budget * 1024 * 1024
    assert policy.capture_quality is quality
    assert policy.jpeg_quality == jpeg
    assert policy.monitoring is monitoring


def test_red_lowers_every_request_and_never_raises_one() -> None:
    red = policy_for(MemoryConfig(env={}), RED)
    green = policy_for(MemoryConfig(env={}), GREEN)
    for requested in CaptureQuality:
        assert red.cap_quality(requested) is CaptureQuality.THUMBNAIL
        assert green.cap_quality(requested) <= requested
    assert green.cap_quality(CaptureQuality.FULL) is CaptureQuality.OPTIMIZED
    assert green.cap_quality(CaptureQuality.THUMBNAIL) is CaptureQuality.THUMBNAIL


def test_adaptive_off_is_one_fixed_policy() -> None:
    config = MemoryConfig(enable_adaptive_management=False, env={})
    policies = {policy_for(config, p).to_dict()["cache_budget_mb"] for p in MemoryPressure}
    assert policies == {config.cache_max_size_mb}
    for pressure in MemoryPressure:
        policy = policy_for(config, pressure)
        assert policy.capture_quality is config.quality_green
        assert policy.jpeg_quality == config.image_compression_quality
        assert policy.monitoring is MonitoringStrategy.ALL_SPACES


def test_fixed_budget_without_dynamic_sizing() -> None:
    config = MemoryConfig(cache_dynamic_sizing=False, cache_max_size_mb=321, env={})
    assert {policy_for(config, p).cache_budget_mb for p in MemoryPressure} == {321}


def test_aggressive_compression_off_keeps_the_base_jpeg_quality() -> None:
    config = MemoryConfig(enable_aggressive_compression=False, env={})
    assert {policy_for(config, p).jpeg_quality for p in MemoryPressure} == {85}


def test_pressure_jpeg_quality_never_exceeds_the_base() -> None:
    config = MemoryConfig(image_compression_quality=50, env={})
    assert {policy_for(config, p).jpeg_quality for p in MemoryPressure} == {50}


def test_watching_all_spaces_under_pressure_when_asked() -> None:
    config = MemoryConfig(monitor_active_only_on_pressure=False, env={})
    assert {policy_for(config, p).monitoring for p in MemoryPressure} == {
        MonitoringStrategy.ALL_SPACES
    }


@pytest.mark.parametrize(
    ("kwargs", "pressure", "expected"),
    [
        ({"enable_adaptive_management": False}, RED, True),
        ({"monitored_spaces": [1, 2]}, GREEN, False),
        ({}, GREEN, True),
        ({}, YELLOW, False),
        ({}, RED, False),
        ({}, UNKNOWN, False),
        ({"monitor_active_only_on_pressure": False}, RED, True),
    ],
)
def test_should_monitor_all_spaces_follows_the_original_rule(
    kwargs: dict[str, object], pressure: MemoryPressure, expected: bool
) -> None:
    config = MemoryConfig(**kwargs, env={})  # type: ignore[arg-type]
    assert should_monitor_all_spaces(config, pressure) is expected


def test_without_a_manager_nothing_is_capped() -> None:
    config = MemoryConfig(env={})
    policy = policy_for(config, None)
    assert policy.capture_quality is CaptureQuality.FULL
    assert policy.cap_quality(CaptureQuality.FULL) is CaptureQuality.FULL
    assert policy.jpeg_quality == config.image_compression_quality
    assert policy.monitoring is MonitoringStrategy.ALL_SPACES
    assert policy.cache_budget_mb == config.cache_max_size_mb


def test_unknown_uses_cache_max_size_not_the_yellow_budget() -> None:
    # CACHE_MAX_SIZE_MB is the budget when the level is unknown (distinct values here).
    config = MemoryConfig(cache_size_yellow=150, cache_max_size_mb=90, env={})
    assert policy_for(config, UNKNOWN).cache_budget_mb == 90
    assert policy_for(config, YELLOW).cache_budget_mb == 150


SPACES = [1, 2, 3, 4, 5]


def test_adjacent_spaces_are_the_active_one_and_its_neighbours_in_display_order() -> None:
    assert adjacent_spaces(SPACES, 3) == [2, 3, 4]
    assert adjacent_spaces(SPACES, 1) == [1, 2]
    assert adjacent_spaces(SPACES, 5) == [4, 5]
    assert adjacent_spaces(SPACES, 9) == [1]  # an active space not listed: the first one
    assert adjacent_spaces([], 4) == [4]


@pytest.mark.parametrize(
    ("pressure", "active", "expected"),
    [
        (GREEN, 3, [1, 2, 3, 4, 5]),
        (YELLOW, 3, [2, 3, 4]),
        (YELLOW, 1, [1, 2]),
        (RED, 3, [3]),
        (RED, 9, [1]),  # the active space is gone: the first one, never nothing
        (UNKNOWN, 3, [2, 3, 4]),  # unknown acts as yellow
    ],
)
def test_spaces_to_watch_follow_the_level(
    pressure: MemoryPressure, active: int, expected: list[int]
) -> None:
    policy = policy_for(MemoryConfig(), pressure)
    assert spaces_to_watch(policy, SPACES, active, []) == expected


def test_spaces_to_watch_stay_within_monitored_spaces() -> None:
    config = MemoryConfig()
    green, yellow, red = (policy_for(config, level) for level in (GREEN, YELLOW, RED))
    # In MONITORED_SPACES' order, and only spaces that exist.
    assert spaces_to_watch(green, SPACES, 3, [4, 2, 7]) == [4, 2]
    # Neighbours are counted within the monitored spaces: 2 and 4 are adjacent there.
    assert spaces_to_watch(yellow, SPACES, 2, [2, 4, 5]) == [2, 4]
    assert spaces_to_watch(red, SPACES, 3, [2, 4]) == [2]  # active not monitored: the first
    assert spaces_to_watch(red, SPACES, 4, [2, 4]) == [4]


def test_unmanaged_policy_watches_every_space() -> None:
    assert spaces_to_watch(policy_for(MemoryConfig(), None), SPACES, 3, []) == SPACES
