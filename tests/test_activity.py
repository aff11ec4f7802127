"""The user's activity: readings to states, the activity policy against the pressure policy, the
settings, the macOS leaf's decoding, and the manager, cache, engine and optimizer following the
state (with a scripted reader; the real X11 reader is in test_activity_x11.py)."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from typing import Any

import pytest

from ironcliw_mem import MemoryConfig
from ironcliw_mem import manager as manager_module
from ironcliw_mem.activity import (
    ACTIVITY_POLL_SECONDS,
    ActivityReading,
    NoActivityReader,
    classify_activity,
    seconds_until_next_read,
    select_activity_reader,
)
from ironcliw_mem.activity.macos import (
    idle_seconds_from_event_source,
    pid_from_application,
    reading_from_calls,
    screen_locked_from_session,
)
from ironcliw_mem.activity.x11 import first_cardinal, idle_seconds_from_milliseconds
from ironcliw_mem.capture import (
    MultiSpaceCaptureEngine,
    MultiSpaceOptimizer,
    SpaceCaptureRequest,
    SyntheticBackend,
)
from ironcliw_mem.config import ConfigError
from ironcliw_mem.levels import ActivityState, CaptureQuality, MemoryPressure, MonitoringStrategy
from ironcliw_mem.manager import MacOSMemoryManager
from ironcliw_mem.policy import activity_policy, policy_for, spaces_to_watch
from support import GREEN_SAMPLE, OneShotWatcher, ScriptedReader, wait_until

ACTIVE, IDLE, AWAY, UNKNOWN = (
    ActivityState.ACTIVE,
    ActivityState.IDLE,
    ActivityState.AWAY,
    ActivityState.UNKNOWN,
)
MIB = 1024 * 1024


def reading(idle: float | None, locked: bool | None = None) -> ActivityReading:
    return ActivityReading(idle, 4242, locked, "script")


# --- reading -> state -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("idle", "locked", "state"),
    [
        (0.0, None, ACTIVE),
        (119.9, None, ACTIVE),
        (120.0, None, IDLE),
        (899.9, False, IDLE),
        (900.0, None, AWAY),
        (3.0, True, AWAY),  # a locked screen is away however recent the last input
        (None, True, AWAY),
        (None, None, UNKNOWN),
        (math.nan, None, UNKNOWN),
        (math.inf, None, UNKNOWN),
    ],
)
def test_idle_seconds_and_the_lock_give_the_state(
    idle: float | None, locked: bool | None, state: ActivityState
) -> None:
    assert classify_activity(reading(idle, locked), 120.0, 900.0) is state


def test_unknown_acts_as_active_and_the_others_do_not() -> None:
    assert [s for s in ActivityState if s.present] == [ACTIVE, UNKNOWN]


def test_next_read_waits_for_the_next_threshold_or_for_input() -> None:
    def wait(idle: float, state: ActivityState, events: bool) -> float | None:
        return seconds_until_next_read(reading(idle), state, 120.0, 900.0, input_events=events)

    # Active: nothing can change before the idle threshold, input only delays it.
    assert wait(20.0, ACTIVE, True) == pytest.approx(100.05)
    assert wait(20.0, ACTIVE, False) == pytest.approx(100.05)
    # Idle: until away; without input events, polled for the user's return.
    assert wait(300.0, IDLE, True) == pytest.approx(600.05)
    assert wait(300.0, IDLE, False) == ACTIVITY_POLL_SECONDS
    # Away: only input changes it (events: no timer at all).
    assert wait(5000.0, AWAY, True) is None
    assert wait(5000.0, AWAY, False) == ACTIVITY_POLL_SECONDS
    unknown = seconds_until_next_read(reading(None), UNKNOWN, 120.0, 900.0, input_events=True)
    assert unknown is None


def test_no_reader_reads_unknown_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")  # on a Mac too: the reader of neither
    reader = select_activity_reader()
    assert isinstance(reader, NoActivityReader)
    got = reader.read()
    assert (got.idle_seconds, got.source) == (None, "none")
    assert got.problem is not None
    assert "DISPLAY" in got.problem
    assert classify_activity(got, 120.0, 900.0) is UNKNOWN


# --- the X11 leaf's decoding ------------------------------------------------------------------


class _Property:
    def __init__(self, value: list[int], fmt: int = 32) -> None:
        self.value = value
        self.format = fmt


def test_x11_decoding() -> None:
    assert idle_seconds_from_milliseconds(1500) == 1.5
    assert idle_seconds_from_milliseconds(0) == 0.0
    for bad in (-1, 1 << 32, 1.5, None, True):
        assert idle_seconds_from_milliseconds(bad) is None
    assert first_cardinal(_Property([0x1E00005])) == 0x1E00005
    assert first_cardinal(_Property([0])) is None  # "no active window"
    assert first_cardinal(_Property([])) is None
    assert first_cardinal(_Property([7], fmt=8)) is None
    assert first_cardinal(None) is None


# --- the macOS leaf's decoding ----------------------------------------------------------------
# The shapes the three calls return through pyobjc (the NSDictionary as a dict of str to numbers
# and strings): a session at the console, the same session locked, a session switched away from
# (fast user switching), and no GUI session at all (None: an ssh login).

SESSION_AT_CONSOLE = {
    "kCGSSessionAuditIDKey": 100015,
    "kCGSSessionGroupIDKey": 20,
    "kCGSSessionIDKey": 257,
    "kCGSSessionLoginwindowSafeLogin": 0,
    "kCGSSessionOnConsoleKey": 1,
    "kCGSSessionSystemSafeBoot": 0,
    "kCGSSessionUserIDKey": 501,
    "kCGSSessionUserNameKey": "user",
    "kCGSessionLoginDoneKey": 1,
    "kCGSessionLongUserNameKey": "A User",
}
SESSION_LOCKED = {**SESSION_AT_CONSOLE, "CGSSessionScreenIsLocked": 1}
SESSION_SWITCHED_AWAY = {**SESSION_AT_CONSOLE, "kCGSSessionOnConsoleKey": 0}


def test_macos_session_dictionary_gives_the_lock() -> None:
    assert screen_locked_from_session(SESSION_AT_CONSOLE) is False
    assert screen_locked_from_session(SESSION_LOCKED) is True
    assert screen_locked_from_session(SESSION_SWITCHED_AWAY) is True
    without_console_key = {k: v for k, v in SESSION_AT_CONSOLE.items() if "OnConsole" not in k}
    assert screen_locked_from_session(without_console_key) is True
    assert screen_locked_from_session(None) is None


def test_macos_idle_seconds_and_pid() -> None:
    assert idle_seconds_from_event_source(12.345678) == 12.345678
    assert idle_seconds_from_event_source(0) == 0.0
    for bad in (-1.0, math.nan, math.inf, None, "3", True):
        assert idle_seconds_from_event_source(bad) is None
    assert pid_from_application(812) == 812
    for bad in (-1, 0, None, True, "812"):
        assert pid_from_application(bad) is None


@pytest.mark.skipif(sys.platform != "darwin", reason="the Quartz calls exist only on macOS")
def test_macos_leaf_reads_this_session() -> None:
    from ironcliw_mem.activity.macos import MacOSActivityReader

    got = MacOSActivityReader().read()
    assert got.source == "macos"
    assert got.problem is None
    assert got.idle_seconds is not None
    assert got.idle_seconds >= 0


def test_macos_readings_classify_as_the_user_is() -> None:
    def state(idle: object, session: dict[str, Any] | None) -> ActivityState:
        got = reading_from_calls(idle, session, 812)
        assert got.source == "macos"
        return classify_activity(got, 120.0, 900.0)

    assert state(4.2, SESSION_AT_CONSOLE) is ACTIVE
    assert state(301.0, SESSION_AT_CONSOLE) is IDLE
    assert state(4.2, SESSION_LOCKED) is AWAY
    assert state(4.2, SESSION_SWITCHED_AWAY) is AWAY
    assert state(4.2, None) is ACTIVE  # no GUI session: the idle time alone decides
    assert state(math.nan, None) is UNKNOWN


# --- the policy -------------------------------------------------------------------------------


def test_activity_policy_table() -> None:
    config = MemoryConfig(env={})
    for present in (ACTIVE, UNKNOWN, None):
        same = activity_policy(config, present)
        assert (same.cache_budget_mb, same.watching, same.prefetch, same.unasked_captures) == (
            None,
            MonitoringStrategy.ALL_SPACES,
            True,
            True,
        )
    idle = activity_policy(config, IDLE)
    assert (idle.cache_budget_mb, idle.watching, idle.prefetch, idle.unasked_captures) == (
        None,
        MonitoringStrategy.ACTIVE_ONLY,
        False,
        True,
    )
    away = activity_policy(config, AWAY)
    assert (away.cache_budget_mb, away.watching, away.prefetch, away.unasked_captures) == (
        50,
        MonitoringStrategy.ACTIVE_ONLY,
        False,
        False,
    )


def test_the_stricter_policy_wins_field_by_field() -> None:
    config = MemoryConfig(env={}, cache_size_red=80)
    # Green and away: the activity's budget and watching, the pressure's tier and JPEG quality.
    green_away = policy_for(config, MemoryPressure.GREEN, AWAY)
    assert green_away.cache_budget_mb == 80
    assert green_away.watching is MonitoringStrategy.ACTIVE_ONLY
    assert green_away.monitoring is MonitoringStrategy.ALL_SPACES  # what an asked capture gets
    assert green_away.capture_quality is CaptureQuality.OPTIMIZED
    assert green_away.jpeg_quality == 85
    assert (green_away.prefetch, green_away.unasked_captures) == (False, False)
    # Red and active: the pressure wins every field it has an opinion on.
    red_active = policy_for(config, MemoryPressure.RED, ACTIVE)
    assert red_active.cache_budget_mb == 80
    assert red_active.watching is MonitoringStrategy.ACTIVE_ONLY
    assert red_active.capture_quality is CaptureQuality.THUMBNAIL
    assert (red_active.prefetch, red_active.unasked_captures) == (False, True)
    # Yellow and idle: a budget from the pressure (idle has none of its own), the narrower watch.
    yellow_idle = policy_for(config, MemoryPressure.YELLOW, IDLE)
    assert yellow_idle.cache_budget_mb == 200
    assert yellow_idle.watching is MonitoringStrategy.ACTIVE_ONLY
    assert yellow_idle.monitoring is MonitoringStrategy.ACTIVE_AND_ADJACENT
    # A red budget above the pressure's own (odd settings) never raises the budget.
    odd = MemoryConfig(env={}, cache_size_red=300, cache_size_yellow=400, cache_size_green=500)
    assert policy_for(odd, MemoryPressure.YELLOW, AWAY).cache_budget_mb == 300
    tight = MemoryConfig(env={}, cache_size_red=10, cache_size_yellow=20, cache_size_green=30)
    assert policy_for(tight, MemoryPressure.YELLOW, AWAY).cache_budget_mb == 10
    # Active and unknown change nothing.
    for level in MemoryPressure:
        base = policy_for(config, level).to_dict()
        for present in (ACTIVE, UNKNOWN):
            assert policy_for(config, level, present).to_dict() == base | {
                "activity": present.value
            }


def test_activity_policy_off_keeps_every_state_as_active() -> None:
    config = MemoryConfig(env={"IRONCLIW_ACTIVITY_POLICY": "off"})
    green = policy_for(config, MemoryPressure.GREEN)
    for state in ActivityState:
        got = policy_for(config, MemoryPressure.GREEN, state)
        assert (got.cache_budget_mb, got.watching, got.prefetch, got.unasked_captures) == (
            green.cache_budget_mb,
            green.watching,
            green.prefetch,
            green.unasked_captures,
        )


def test_idle_watches_the_active_space_but_an_asked_capture_gets_all() -> None:
    policy = policy_for(MemoryConfig(env={}), MemoryPressure.GREEN, IDLE)
    assert spaces_to_watch(policy, [1, 2, 3, 4], 3, []) == [3]
    assert spaces_to_watch(policy, [1, 2, 3, 4], 3, [], asked=True) == [1, 2, 3, 4]


# --- the settings -----------------------------------------------------------------------------


def test_activity_settings_defaults_environment_and_describe() -> None:
    config = MemoryConfig(env={})
    assert (config.idle_after_seconds, config.away_after_seconds) == (120.0, 900.0)
    assert (config.away_poll_factor, config.activity_policy) == (4.0, True)
    described = {row["setting"]: row for row in config.describe()}
    for name in ("idle_after_seconds", "away_after_seconds", "away_poll_factor", "activity_policy"):
        assert described[name]["source"] == "default"
    env = {
        "IDLE_AFTER_SECONDS": "30",
        "AWAY_AFTER_SECONDS": "600.5",
        "AWAY_POLL_FACTOR": "2.5",
        "IRONCLIW_ACTIVITY_POLICY": "no",
    }
    config = MemoryConfig(env=env)
    assert (config.idle_after_seconds, config.away_after_seconds) == (30.0, 600.5)
    assert (config.away_poll_factor, config.activity_policy) == (2.5, False)
    described = {row["setting"]: row for row in config.describe()}
    assert described["away_after_seconds"] == {
        "setting": "away_after_seconds",
        "value": "600.5",
        "source": "env AWAY_AFTER_SECONDS",
    }
    assert MemoryConfig(idle_after_seconds=5, env=env).idle_after_seconds == 5.0


def test_bad_activity_settings_are_reported_together() -> None:
    env = {
        "IDLE_AFTER_SECONDS": "soon",
        "AWAY_AFTER_SECONDS": "-5",
        "AWAY_POLL_FACTOR": "0.5",
        "IRONCLIW_ACTIVITY_POLICY": "maybe",
    }
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(env=env)
    problems = caught.value.problems
    assert len(problems) == 4
    text = "\n".join(problems)
    assert "IDLE_AFTER_SECONDS='soon': expected a number from 0.1 to 86400 seconds" in text
    assert "AWAY_AFTER_SECONDS='-5'" in text
    assert "AWAY_POLL_FACTOR='0.5': expected a number from 1 to 60" in text
    assert "IRONCLIW_ACTIVITY_POLICY='maybe'" in text


def test_away_before_idle_is_an_error_naming_both() -> None:
    with pytest.raises(ConfigError) as caught:
        MemoryConfig(env={"IDLE_AFTER_SECONDS": "300", "AWAY_AFTER_SECONDS": "200"})
    (problem,) = caught.value.problems
    assert "AWAY_AFTER_SECONDS=200 is below IDLE_AFTER_SECONDS=300" in problem
    with pytest.raises(ConfigError, match="argument away_after_seconds=5 is below"):
        MemoryConfig(idle_after_seconds=10, away_after_seconds=5, env={})
    assert MemoryConfig(idle_after_seconds=10, away_after_seconds=10, env={})


# --- the manager and what follows it (a scripted reader) --------------------------------------


def scripted_manager(reader: ScriptedReader, **config: Any) -> MacOSMemoryManager:
    settings: dict[str, Any] = {"idle_after_seconds": 120.0, "away_after_seconds": 900.0}
    settings.update(config)
    return MacOSMemoryManager(
        MemoryConfig(env={}, **settings),
        read_sample=lambda: GREEN_SAMPLE,
        watch_kernel_events=False,
        activity_reader=reader,
    )


async def test_callbacks_hear_each_change_once_with_the_summary() -> None:
    reader = ScriptedReader(idle=3.0)
    manager = scripted_manager(reader)
    heard: list[tuple[ActivityState, dict[str, Any]]] = []
    manager.register_activity_callback(lambda state, info: heard.append((state, info)))
    for idle in (3.0, 4.0, 130.0, 140.0, 1000.0, 2000.0, 1.0):
        reader.idle = idle
        await manager.check_activity()
    assert [state for state, _ in heard] == [ACTIVE, IDLE, AWAY, ACTIVE]
    assert heard[2][1] == {
        "state": "away",
        "idle_seconds": 1000.0,
        "frontmost_pid": 4242,
        "source": "script",
        "screen_locked": None,
    }
    activity = manager.get_stats_summary()["activity"]
    assert {k: activity[k] for k in ("state", "idle_seconds", "frontmost_pid", "source")} == {
        "state": "active",
        "idle_seconds": 1.0,
        "frontmost_pid": 4242,
        "source": "script",
    }


async def test_unknown_platform_summary_and_policy_act_as_active() -> None:
    manager = scripted_manager(ScriptedReader(idle=None))
    await manager.check_pressure()
    await manager.check_activity()
    summary = manager.get_stats_summary()
    assert summary["activity"]["state"] == "unknown"
    assert summary["recommended_cache_mb"] == 500  # green's budget, untouched
    assert manager.policy.prefetch
    assert manager.policy.unasked_captures


async def test_away_stretches_the_pressure_poll_and_active_restores_it() -> None:
    reader = ScriptedReader(idle=2000.0)
    manager = scripted_manager(reader, pressure_check_interval=5.0, away_poll_factor=3.0)
    assert manager.pressure_poll_interval == 5.0
    await manager.check_activity()
    assert manager.pressure_poll_interval == 15.0
    reader.idle = 200.0
    await manager.check_activity()
    assert manager.pressure_poll_interval == 5.0  # idle keeps the poll


async def test_a_kernel_event_still_wakes_the_monitor_while_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class LateWatcher(OneShotWatcher):
        delay = 0.3  # after the first poll, which reads "away"

    monkeypatch.setattr(manager_module.pressure, "PressureWatcher", LateWatcher)
    reader = ScriptedReader(idle=5000.0)
    manager = MacOSMemoryManager(
        MemoryConfig(env={}, pressure_check_interval=60.0),
        read_sample=lambda: GREEN_SAMPLE,
        activity_reader=reader,
    )
    await manager.start_monitoring()
    try:
        await wait_until(lambda: manager.current_activity is AWAY, "away")
        assert manager.pressure_poll_interval == 240.0
        await wait_until(lambda: manager.checks >= 2, "the kernel event's check")
        assert manager.kernel_wakeups == 1
    finally:
        await manager.stop_monitoring()


async def test_polled_reader_notices_the_return_within_a_second() -> None:
    reader = ScriptedReader(idle=5000.0)
    manager = scripted_manager(reader, pressure_check_interval=60.0)
    await manager.start_monitoring()
    try:
        await wait_until(lambda: manager.current_activity is AWAY, "away")
        checks = manager.checks
        reader.idle = 0.2
        returned = time.monotonic()
        await wait_until(lambda: manager.current_activity is ACTIVE, "back to active")
        # Far below the stretched poll (240 s): the next idle read, not the poll, noticed it.
        assert time.monotonic() - returned < ACTIVITY_POLL_SECONDS + 5
        # The stretched poll does not hold the return back: a pressure reading follows at once.
        await wait_until(lambda: manager.checks > checks, "a pressure reading now", limit=20)
        assert manager.kernel_wakeups == 0
    finally:
        await manager.stop_monitoring()


async def test_away_drops_the_cache_to_red_counting_activity_evictions() -> None:
    reader = ScriptedReader(idle=1.0)
    manager = scripted_manager(reader, cache_size_red=0)
    await manager.check_pressure()
    await manager.check_activity()
    engine = MultiSpaceCaptureEngine(
        memory_manager=manager, backend=SyntheticBackend(spaces=4, size=(640, 400))
    )
    try:
        filled = await engine.capture_all_spaces(
            SpaceCaptureRequest(space_ids=[1, 2, 3, 4], quality=CaptureQuality.FULL)
        )
        assert filled.new_captures == 4
        assert engine.cache.get_stats()["entries"] == 4
        reader.idle = 5000.0
        await manager.check_activity()
        stats = engine.cache.get_stats()
        assert (stats["max_bytes"], stats["bytes"], stats["entries"]) == (0, 0, 0)
        assert stats["evictions"]["activity"] == 4
        assert stats["evictions"]["pressure"] == 0
        reader.idle = 1.0
        await manager.check_activity()
        assert engine.cache.get_stats()["max_bytes"] == 500 * MIB
    finally:
        await engine.close()


async def test_engine_and_optimizer_follow_the_activity() -> None:
    reader = ScriptedReader(idle=1.0)
    manager = scripted_manager(reader)
    await manager.check_pressure()
    await manager.check_activity()
    backend = SyntheticBackend(spaces=5, size=(320, 200))
    engine = MultiSpaceCaptureEngine(memory_manager=manager, backend=backend)
    optimizer = MultiSpaceOptimizer(engine)
    try:
        assert await engine.get_spaces_to_monitor() == [1, 2, 3, 4, 5]
        assert await optimizer.prefetch_once() != []
        task = await engine.prefetch_spaces([2])
        assert task is not None
        await task

        reader.idle = 200.0  # idle
        await manager.check_activity()
        active = await engine.get_current_space()
        assert await engine.get_spaces_to_monitor() == [active]
        assert await optimizer.prefetch_once() == []
        assert await engine.prefetch_spaces([2]) is None
        asked = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2, 3]))
        assert sorted(asked.screenshots) == [1, 2, 3]  # an asked capture is still served whole
        look = await engine.capture_all_spaces(
            SpaceCaptureRequest(space_ids=[1, 2, 3], reason="monitoring", use_cache=False)
        )
        assert list(look.screenshots) == [active]
        assert "only the active space is watched" in look.skipped[2]

        reader.idle = 5000.0  # away
        await manager.check_activity()
        captures = engine.captures_made
        look = await engine.capture_all_spaces(
            SpaceCaptureRequest(space_ids=[1], reason="monitoring", use_cache=False)
        )
        assert look.screenshots == {}
        assert engine.captures_made == captures
        assert "nothing is captured unless asked" in look.skipped[1]
        asked = await engine.capture_all_spaces(
            SpaceCaptureRequest(space_ids=[1, 2], use_cache=False)
        )
        assert sorted(asked.screenshots) == [1, 2]

        reader.idle = 0.5  # back
        await manager.check_activity()
        assert await engine.get_spaces_to_monitor() == [1, 2, 3, 4, 5]
        assert await optimizer.prefetch_once() != []
    finally:
        await asyncio.sleep(0)
        await engine.close()


# --- what the tools show ----------------------------------------------------------------------


async def test_metrics_and_status_show_the_activity() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from ironcliw_mem.tools.cli import format_status
    from ironcliw_mem.tools.metrics import MemoryCollector

    reader = ScriptedReader(idle=1234.5)
    manager = scripted_manager(reader)
    await manager.check_pressure()
    await manager.check_activity()
    summary = manager.get_stats_summary()
    registry = CollectorRegistry()
    registry.register(MemoryCollector(manager))

    def scrape() -> dict[str, Any]:
        text = generate_latest(registry).decode()
        return {family.name: family for family in text_string_to_metric_families(text)}

    parsed = scrape()
    (idle,) = parsed["ironcliw_user_idle_seconds"].samples
    assert idle.value == 1234.5
    states = {s.labels["state"]: s.value for s in parsed["ironcliw_user_activity"].samples}
    assert states == {"active": 0.0, "idle": 0.0, "away": 1.0, "unknown": 0.0}
    assert "user: away (idle 1234 s, frontmost pid 4242, from script)" in format_status(summary)

    reader.idle = None
    await manager.check_activity()
    summary = manager.get_stats_summary()
    # an unknown idle time gives no sample at all
    assert "ironcliw_user_idle_seconds" not in scrape()
    assert "user: unknown (acts as active) (frontmost pid 4242, from script)" in (
        format_status(summary)
    )


# --- App Nap: no timer while there is nothing to do -------------------------------------------


async def test_the_cache_sweep_stops_while_the_cache_is_empty_and_restarts_on_a_store() -> None:
    from ironcliw_mem.capture import MultiSpaceCaptureCache
    from support import ManualClock

    clock = ManualClock()
    cache = MultiSpaceCaptureCache(
        default_ttl=5, config=MemoryConfig(env={}), clock=clock, sweep_interval=0.01
    )
    engine = MultiSpaceCaptureEngine(
        backend=SyntheticBackend(spaces=2, size=(160, 100)), cache=cache
    )
    try:
        await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
        sweeper = cache._sweeper
        assert sweeper is not None
        await asyncio.sleep(0.05)
        assert not sweeper.done()  # an entry is there to expire: it keeps sweeping
        clock.now += 6
        await wait_until(sweeper.done, "the sweep to end with the cache empty")
        assert cache.get_stats()["entries"] == 0
        await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
        assert cache._sweeper is not None
        assert not cache._sweeper.done()
        clock.now += 6
        await wait_until(lambda: cache.get_stats()["entries"] == 0, "the new entry swept")
    finally:
        await engine.close()
