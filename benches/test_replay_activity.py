"""The activity replay on two simulated hours: the user at the keyboard for an hour (with a
break), away before it; the package replayed with the activity policy off and on. No timing
assertions: what is checked is what the policy lets through."""

from __future__ import annotations

import pytest

from ironcliw_mem.levels import ActivityState
from replay_activity import (
    WITH,
    WITHOUT,
    ActivityReplay,
    UserPresence,
    build_presence_trace,
    format_activity_report,
    run_activity_day,
    savings,
)
from replay_model import DayModel

TWO_HOURS = DayModel(hours=2, screen=(288, 180), active_periods=((0.5, 1.5),))
# One break a quarter of an hour on average, long enough to go idle, some long enough for away.
PRESENCE = UserPresence(breaks_per_hour=4, break_s=(200.0, 1200.0))


@pytest.fixture(scope="module")
def replay() -> ActivityReplay:
    return run_activity_day(TWO_HOURS, PRESENCE)


def test_the_trace_has_breaks_idle_and_away_stretches() -> None:
    trace = build_presence_trace(TWO_HOURS, PRESENCE)
    assert sum(trace.present) < sum(trace.base.active)  # the breaks took some of the hour
    assert all(not p for p, a in zip(trace.present, trace.base.active, strict=True) if not a)
    assert max(trace.idle_seconds) > 900  # away before the active period
    # The user's own requests come only while present; the agent's look comes always.
    for t, requests in trace.requests.items():
        for request in requests:
            assert request.reason == "monitoring" or trace.present[t]
    assert trace.request_counts()["monitoring"] == TWO_HOURS.ticks // TWO_HOURS.focus_interval_s


def test_the_policy_captures_nothing_unasked_while_away_and_never_prefetches_idle(
    replay: ActivityReplay,
) -> None:
    on, off = replay.runs[WITH], replay.runs[WITHOUT]
    away, idle = ActivityState.AWAY.value, ActivityState.IDLE.value
    assert on["seconds_by_state"][away] > 0
    assert on["seconds_by_state"][idle] > 0
    assert off["captures_by_state"][away] > 0
    assert on["captures_by_state"][away] == 0  # nobody there asks; the agent's look is not served
    assert off["prefetch_captures_by_state"][idle] > 0
    assert on["prefetch_captures_by_state"][idle] == 0
    # While the user is active the two runs are the same day.
    active = ActivityState.ACTIVE.value
    assert on["captures_by_state"][active] == off["captures_by_state"][active]
    assert on["captures"] < off["captures"]
    assert on["jpeg_bytes_encoded"] < off["jpeg_bytes_encoded"]
    assert on["mean_cache_bytes"] < off["mean_cache_bytes"]
    # Away, the pressure poll stretches (AWAY_POLL_FACTOR): fewer readings.
    assert on["pressure_readings"] < off["pressure_readings"]


def test_report_and_savings_agree(replay: ActivityReplay) -> None:
    saved = savings(replay.runs)
    off, on = replay.runs[WITHOUT]["captures"], replay.runs[WITH]["captures"]
    assert saved["captures"] == pytest.approx(1 - on / off, abs=1e-4)
    report = format_activity_report(replay)
    assert f"| {WITHOUT} | {off:,} |" in report
    assert f"| {WITH} | {on:,} |" in report
    assert f"| saved | {100 * saved['captures']:.0f} % |" in report
    assert replay.to_dict()["savings"] == saved
