"""The offload advice: red held without a break, once per red episode."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from collections.abc import Callable

import pytest

from ironcliw_mem import (
    ConfigError,
    MacOSMemoryManager,
    MemoryConfig,
    MemoryPressure,
    OffloadAdvisor,
    RedHold,
)
from ironcliw_mem.manager import MemoryStats
from support import GREEN_SAMPLE, ManualClock, wait_until

RED, YELLOW, GREEN, UNKNOWN = (
    MemoryPressure.RED,
    MemoryPressure.YELLOW,
    MemoryPressure.GREEN,
    MemoryPressure.UNKNOWN,
)
LONG_HOLD_S = 3600.0  # a timer that cannot fire during a test
SHORT_HOLD_S = 0.05


def make_manager(
    clock: Callable[[], float] = time.monotonic, **config: object
) -> MacOSMemoryManager:
    return MacOSMemoryManager(
        MemoryConfig(env={}, **config),  # type: ignore[arg-type]
        read_sample=lambda: GREEN_SAMPLE,
        watch_kernel_events=False,
        clock=clock,
    )


def test_red_must_be_held_for_the_whole_hold_and_is_due_once_per_episode() -> None:
    rule = RedHold(30.0)
    rule.observe(RED, 0.0)
    assert rule.seconds_left(29.0) == pytest.approx(1.0)
    assert not rule.take_trigger(29.9)
    assert rule.take_trigger(30.0)
    rule.observe(RED, 0.0)  # the same episode, looked at again
    assert not rule.take_trigger(45.0)  # once per episode
    assert rule.held(45.0)
    for calm in (YELLOW, GREEN, UNKNOWN):  # any other level ends the episode
        rule.observe(calm, 50.0)
        assert rule.seconds_left(50.0) is None
        assert not rule.held(200.0)
    rule.observe(RED, 60.0)  # a new episode counts from its own start
    assert not rule.take_trigger(89.0)
    assert rule.take_trigger(90.0)
    # A break nobody saw (red, yellow, red between two looks) still makes a new episode.
    rule.observe(RED, 95.0)
    assert not rule.take_trigger(100.0)
    assert rule.take_trigger(125.0)


async def test_should_offload_only_after_red_has_lasted_the_hold() -> None:
    clock = ManualClock(500.0)
    manager = make_manager(clock, offload_red_hold_seconds=30)
    advisor = OffloadAdvisor(manager)
    assert advisor.hold_seconds == 30.0
    assert advisor.seconds_until_offload() is None
    await manager.override_pressure(RED)
    assert not advisor.should_offload()
    clock.now += 29.5
    assert advisor.seconds_until_offload() == pytest.approx(0.5)
    assert not advisor.should_offload()
    clock.now += 0.5
    assert advisor.should_offload()
    assert advisor.seconds_until_offload() == 0.0
    clock.now += 1
    await manager.override_pressure(YELLOW)  # the episode ends
    assert not advisor.should_offload()
    assert advisor.seconds_until_offload() is None
    clock.now += 1
    await manager.override_pressure(RED)  # and the next one starts from zero
    assert not advisor.should_offload()
    clock.now += 30
    assert advisor.should_offload()
    advisor.close()
    assert not advisor.should_offload()
    assert advisor.seconds_until_offload() is None


async def test_an_advisor_made_while_red_counts_from_when_red_began() -> None:
    clock = ManualClock(500.0)
    manager = make_manager(clock)
    await manager.override_pressure(RED)
    clock.now += 20
    advisor = OffloadAdvisor(manager)  # the default hold comes from the config
    assert advisor.hold_seconds == manager.config.offload_red_hold_seconds == 30.0
    assert advisor.seconds_until_offload() == pytest.approx(10.0)
    clock.now += 10
    assert advisor.should_offload()


async def test_the_callback_runs_once_per_red_episode_with_the_stats() -> None:
    manager = make_manager()
    told: list[MemoryStats] = []

    async def offload(stats: MemoryStats) -> None:
        told.append(stats)

    advisor = OffloadAdvisor(manager, hold_seconds=SHORT_HOLD_S, on_offload=offload)
    await manager.override_pressure(RED)
    await wait_until(lambda: told, "the offload callback ran")
    assert advisor.triggers == 1
    assert told[0].pressure is RED
    await asyncio.sleep(0.2)  # red goes on: still one trigger for the episode
    assert len(told) == advisor.triggers == 1
    await manager.override_pressure(GREEN)
    await manager.override_pressure(RED)
    await wait_until(lambda: len(told) == 2, "the second episode's callback ran")
    assert advisor.triggers == 2
    advisor.close()


async def test_an_advisor_made_while_red_calls_back_in_that_episode() -> None:
    manager = make_manager()
    await manager.override_pressure(RED)
    told: list[MemoryStats] = []
    advisor = OffloadAdvisor(manager, hold_seconds=SHORT_HOLD_S, on_offload=told.append)
    await wait_until(lambda: told, "the offload callback ran without a further change")
    advisor.close()


async def test_leaving_red_before_the_hold_disarms_the_callback() -> None:
    manager = make_manager()
    told: list[MemoryStats] = []
    advisor = OffloadAdvisor(manager, hold_seconds=LONG_HOLD_S, on_offload=told.append)
    await manager.override_pressure(RED)
    assert advisor._timer is not None  # armed for the end of the hold
    await manager.override_pressure(YELLOW)
    assert advisor._timer is None
    assert advisor.seconds_until_offload() is None
    await manager.override_pressure(RED)
    assert advisor._timer is not None
    advisor.close()  # closing disarms too, and a timer that fires anyway does nothing
    assert advisor._timer is None
    advisor._fire()
    assert told == []
    assert advisor.triggers == 0


async def test_a_failing_callback_is_logged_and_the_trigger_still_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = make_manager()

    def broken(stats: MemoryStats) -> None:
        raise RuntimeError("cloud API down")

    advisor = OffloadAdvisor(manager, hold_seconds=SHORT_HOLD_S, on_offload=broken)
    with caplog.at_level(logging.ERROR, logger="ironcliw_mem"):
        await manager.override_pressure(RED)
        await wait_until(lambda: "cloud API down" in caplog.text, "the failure was logged")
    assert advisor.triggers == 1
    assert "offload callback" in caplog.text
    assert await manager.override_pressure(GREEN) is GREEN  # the manager carries on
    advisor.close()


async def test_a_dropped_advisor_advises_nothing_more() -> None:
    manager = make_manager()
    told: list[MemoryStats] = []
    OffloadAdvisor(manager, hold_seconds=SHORT_HOLD_S, on_offload=told.append)
    gc.collect()  # nothing holds it: not the manager, not a timer
    await manager.override_pressure(RED)
    await asyncio.sleep(10 * SHORT_HOLD_S)
    assert told == []


def test_a_callback_needs_the_event_loop_its_timer_runs_on() -> None:
    with pytest.raises(RuntimeError, match="must be made on the manager's event loop"):
        OffloadAdvisor(make_manager(), on_offload=lambda stats: None)
    assert not OffloadAdvisor(make_manager()).should_offload()  # polling needs no loop


@pytest.mark.parametrize("hold", [0, -1, math.nan, math.inf, "soon"])
def test_a_bad_hold_names_the_argument_and_what_is_accepted(hold: object) -> None:
    with pytest.raises(ValueError, match=r"hold_seconds must be a finite number of seconds > 0"):
        OffloadAdvisor(make_manager(), hold_seconds=hold)  # type: ignore[arg-type]


def test_a_bad_callback_and_a_bad_variable_are_refused() -> None:
    with pytest.raises(TypeError, match="on_offload must be callable, got int"):
        OffloadAdvisor(make_manager(), on_offload=5)  # type: ignore[arg-type]
    variable = "IRONCLIW_OFFLOAD_RED_HOLD_SECONDS"
    with pytest.raises(ConfigError, match=variable) as error:
        MemoryConfig(env={variable: "half a minute"})
    assert "a number from 0.1 to 86400 seconds" in str(error.value)
    assert MemoryConfig(env={variable: "90"}).offload_red_hold_seconds == 90.0
