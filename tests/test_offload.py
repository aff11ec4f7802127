"""The offload advice: red held without a break, once per red episode."""

from __future__ import annotations

import asyncio
import logging
import math

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
from support import GREEN_SAMPLE, wait_until

RED, YELLOW, GREEN, UNKNOWN = (
    MemoryPressure.RED,
    MemoryPressure.YELLOW,
    MemoryPressure.GREEN,
    MemoryPressure.UNKNOWN,
)


class ManualClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def make_manager(**config: object) -> MacOSMemoryManager:
    return MacOSMemoryManager(
        MemoryConfig(env={}, **config),  # type: ignore[arg-type]
        read_sample=lambda: GREEN_SAMPLE,
        watch_kernel_events=False,
    )


def test_red_must_be_held_for_the_whole_hold_and_fires_once_per_episode() -> None:
    rule = RedHold(30.0)
    rule.observe(RED, 0.0)
    rule.observe(RED, 10.0)  # still the same episode: it began at 0
    assert rule.seconds_left(29.0) == pytest.approx(1.0)
    assert not rule.take_trigger(29.9)
    assert rule.take_trigger(30.0)
    assert not rule.take_trigger(45.0)  # once per episode
    assert rule.held(45.0)
    for calm in (YELLOW, GREEN, UNKNOWN):  # any other level ends the episode
        rule.observe(calm, 50.0)
        assert rule.seconds_left(50.0) is None
        assert not rule.held(200.0)
        rule.observe(RED, 60.0)  # a new episode counts from its own start
        assert not rule.take_trigger(89.0)
        assert rule.take_trigger(90.0)


async def test_should_offload_only_after_red_has_lasted_the_hold() -> None:
    clock = ManualClock()
    manager = make_manager(offload_red_hold_seconds=30)
    advisor = OffloadAdvisor(manager, clock=clock)
    assert advisor.hold_seconds == 30.0
    await manager.override_pressure(RED)
    assert not advisor.should_offload()
    clock.now += 29.5
    assert advisor.seconds_until_offload() == pytest.approx(0.5)
    assert not advisor.should_offload()
    clock.now += 0.5
    assert advisor.should_offload()
    await manager.override_pressure(YELLOW)  # the episode ends
    assert not advisor.should_offload()
    assert advisor.seconds_until_offload() is None
    await manager.override_pressure(RED)  # and the next one starts from zero
    assert not advisor.should_offload()
    clock.now += 30
    assert advisor.should_offload()
    advisor.close()
    assert not advisor.should_offload()


async def test_an_advisor_made_while_red_counts_from_when_it_was_made() -> None:
    clock = ManualClock()
    manager = make_manager()
    await manager.override_pressure(RED)
    advisor = OffloadAdvisor(manager, clock=clock)  # the default hold comes from the config
    assert advisor.hold_seconds == manager.config.offload_red_hold_seconds == 30.0
    clock.now += 29
    assert not advisor.should_offload()
    clock.now += 1
    assert advisor.should_offload()


async def test_the_callback_runs_once_per_red_episode_with_the_stats() -> None:
    manager = make_manager()
    told: list[MemoryStats | None] = []

    async def offload(stats: MemoryStats | None) -> None:
        told.append(stats)

    advisor = OffloadAdvisor(manager, hold_seconds=0.05, on_offload=offload)
    await manager.override_pressure(RED)
    await wait_until(lambda: told, "the offload callback ran")
    assert advisor.triggers == 1
    assert told[0] is not None
    assert told[0].pressure is RED
    await asyncio.sleep(0.2)  # red goes on: still one trigger for the episode
    assert len(told) == advisor.triggers == 1
    await manager.override_pressure(GREEN)
    await manager.override_pressure(RED)
    await wait_until(lambda: len(told) == 2, "the second episode's callback ran")
    assert advisor.triggers == 2
    advisor.close()


async def test_a_red_spike_shorter_than_the_hold_advises_nothing() -> None:
    manager = make_manager()
    told: list[MemoryStats | None] = []
    advisor = OffloadAdvisor(manager, hold_seconds=1.0, on_offload=told.append)
    await manager.override_pressure(RED)
    await manager.override_pressure(YELLOW)
    await asyncio.sleep(1.5)
    assert told == []
    assert advisor.triggers == 0
    advisor.close()


async def test_a_failing_callback_is_logged_and_the_trigger_still_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = make_manager()

    def broken(stats: MemoryStats | None) -> None:
        raise RuntimeError("cloud API down")

    advisor = OffloadAdvisor(manager, hold_seconds=0.01, on_offload=broken)
    with caplog.at_level(logging.ERROR, logger="ironcliw_mem"):
        await manager.override_pressure(RED)
        await wait_until(lambda: "cloud API down" in caplog.text, "the failure was logged")
    assert advisor.triggers == 1
    assert "offload callback" in caplog.text
    assert await manager.override_pressure(GREEN) is GREEN  # the manager carries on
    advisor.close()


async def test_a_closed_advisor_calls_back_no_more() -> None:
    manager = make_manager()
    told: list[MemoryStats | None] = []
    advisor = OffloadAdvisor(manager, hold_seconds=0.05, on_offload=told.append)
    advisor.close()
    await manager.override_pressure(RED)
    await asyncio.sleep(0.3)
    assert told == []
    assert advisor.triggers == 0
    assert not manager.unregister_pressure_callback(advisor._level_changed)  # already gone


@pytest.mark.parametrize("hold", [0, -1, math.nan, math.inf, "soon", None])
def test_a_bad_hold_names_the_argument_and_what_is_accepted(hold: object) -> None:
    manager = make_manager()
    if hold is None:  # None means "from the config": fine
        assert OffloadAdvisor(manager, hold_seconds=None).hold_seconds == 30.0
        return
    with pytest.raises(ValueError, match=r"hold_seconds must be a finite number of seconds > 0"):
        OffloadAdvisor(manager, hold_seconds=hold)  # type: ignore[arg-type]


def test_a_bad_callback_and_a_bad_variable_are_refused() -> None:
    with pytest.raises(TypeError, match="on_offload must be callable, got int"):
        OffloadAdvisor(make_manager(), on_offload=5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="OFFLOAD_RED_HOLD_SECONDS") as error:
        MemoryConfig(env={"OFFLOAD_RED_HOLD_SECONDS": "half a minute"})
    assert "a finite number of seconds > 0" in str(error.value)
    assert MemoryConfig(env={"OFFLOAD_RED_HOLD_SECONDS": "90"}).offload_red_hold_seconds == 90.0
