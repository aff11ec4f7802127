"""The asyncio memory manager: readings, listeners, monitoring, override, and the agent's usage."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

import ironcliw_mem
from ironcliw_mem import (
    MacOSMemoryManager,
    MemoryConfig,
    MemoryManager,
    MemoryPressure,
    MemoryStats,
    Sample,
)
from ironcliw_mem import manager as manager_module
from support import WAIT_LIMIT_S, ManualClock, OneShotWatcher, wait_until

GIB = 1024**3


def meminfo_sample(available_gb: float, total_gb: float = 16.0, some10: float = 0.0) -> Sample:
    total = int(total_gb * GIB)
    available = int(available_gb * GIB)
    return Sample.from_values(
        total=total,
        available=available,
        used=total - available,
        psi_some_avg10=some10,
        psi_full_avg10=0.0,
        sources=["meminfo", "psi"],
    )


GREEN_SAMPLE = meminfo_sample(available_gb=12.0)
YELLOW_SAMPLE = meminfo_sample(available_gb=3.0)  # headroom 18.75 % <= 25 %
RED_SAMPLE = meminfo_sample(available_gb=1.0)  # headroom 6.25 % <= 15 %


class ScriptedReadings:
    """A read_sample stand-in that returns whatever the test sets, and counts calls."""

    def __init__(self, sample: Sample = GREEN_SAMPLE) -> None:
        self.sample = sample
        self.calls = 0
        self.threads: set[str] = set()

    def __call__(self) -> Sample:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        return self.sample


def make_manager(
    readings: Callable[[], Sample], clock: Callable[[], float] | None = None, **config: object
) -> MacOSMemoryManager:
    return MacOSMemoryManager(
        MemoryConfig(env={}, **config),  # type: ignore[arg-type]
        read_sample=readings,
        clock=clock or time.monotonic,
        watch_kernel_events=False,
    )


@pytest.fixture
def clean_singleton() -> Iterator[None]:
    manager_module.reset_memory_manager_for_tests()
    yield
    manager_module.reset_memory_manager_for_tests()


def test_public_names_are_importable_from_the_package() -> None:
    for name in (
        "MemoryPressure",
        "MemoryConfig",
        "MemoryStats",
        "MacOSMemoryManager",
        "MemoryManager",
        "get_memory_manager",
        "initialize_memory_manager",
        "CaptureQuality",
    ):
        assert hasattr(ironcliw_mem, name), name
    assert MemoryManager is MacOSMemoryManager


async def test_levels_follow_the_readings_with_dwell_on_the_way_down() -> None:
    readings = ScriptedReadings(GREEN_SAMPLE)
    clock = ManualClock(100.0)
    manager = make_manager(readings, clock, thresholds={"downgrade_dwell": 10.0})
    assert await manager.check_pressure() is MemoryPressure.GREEN
    readings.sample = RED_SAMPLE
    assert await manager.check_pressure() is MemoryPressure.RED  # upgrades are immediate
    readings.sample = GREEN_SAMPLE  # calm from now on
    assert await manager.check_pressure() is MemoryPressure.RED
    clock.now += 9
    assert await manager.check_pressure() is MemoryPressure.RED  # dwell not yet served
    clock.now += 1
    assert await manager.check_pressure() is MemoryPressure.YELLOW  # one step at a time
    clock.now += 9
    assert await manager.check_pressure() is MemoryPressure.YELLOW  # a new dwell per step
    clock.now += 1
    assert await manager.check_pressure() is MemoryPressure.GREEN


async def test_unreadable_system_is_unknown_never_green() -> None:
    manager = make_manager(ScriptedReadings(Sample.from_values()))
    assert await manager.check_pressure() is MemoryPressure.UNKNOWN
    summary = manager.get_stats_summary()
    assert summary["pressure"] == "unknown"
    assert summary["recommended_cache_mb"] == 200  # CACHE_MAX_SIZE_MB
    assert summary["recommended_quality"] == "fast"  # unknown acts as yellow


async def test_callbacks_run_once_per_change_in_order_and_isolated() -> None:
    readings = ScriptedReadings(GREEN_SAMPLE)
    manager = make_manager(readings)
    calls: list[tuple[str, MemoryPressure]] = []

    def broken(level: MemoryPressure, stats: MemoryStats) -> None:
        calls.append(("broken", level))
        raise RuntimeError("listener bug")

    async def slow_async(level: MemoryPressure, stats: MemoryStats) -> None:
        await asyncio.sleep(0.01)
        assert isinstance(stats, MemoryStats)
        assert stats.pressure is level
        calls.append(("async", level))

    def plain(level: MemoryPressure, stats: MemoryStats) -> None:
        calls.append(("sync", level))

    for callback in (broken, slow_async, plain):
        manager.register_pressure_callback(callback)
    await manager.check_pressure()  # unknown -> green
    await manager.check_pressure()  # green again: no change, no calls
    readings.sample = RED_SAMPLE
    await manager.check_pressure()
    assert calls == [
        ("broken", MemoryPressure.GREEN),
        ("async", MemoryPressure.GREEN),
        ("sync", MemoryPressure.GREEN),
        ("broken", MemoryPressure.RED),
        ("async", MemoryPressure.RED),
        ("sync", MemoryPressure.RED),
    ]


async def test_unregistered_callbacks_are_not_called() -> None:
    readings = ScriptedReadings(GREEN_SAMPLE)
    manager = make_manager(readings)
    seen: list[MemoryPressure] = []

    def record(level: MemoryPressure, stats: MemoryStats) -> None:
        seen.append(level)

    manager.register_pressure_callback(record)
    manager.register_pressure_callback(record)  # registering twice does not double-notify
    await manager.check_pressure()
    assert manager.unregister_pressure_callback(record) is True
    assert manager.unregister_pressure_callback(record) is False
    readings.sample = RED_SAMPLE
    await manager.check_pressure()
    assert seen == [MemoryPressure.GREEN]
    with pytest.raises(TypeError, match="must be callable"):
        manager.register_pressure_callback("not a function")  # type: ignore[arg-type]


async def test_concurrent_checks_notify_once() -> None:
    readings = ScriptedReadings(RED_SAMPLE)
    manager = make_manager(readings)
    seen: list[MemoryPressure] = []

    async def record(level: MemoryPressure, stats: MemoryStats) -> None:
        await asyncio.sleep(0)
        seen.append(level)

    manager.register_pressure_callback(record)
    results = await asyncio.gather(*(manager.check_pressure() for _ in range(20)))
    assert set(results) == {MemoryPressure.RED}
    assert seen == [MemoryPressure.RED]
    assert readings.calls == 20


async def test_a_slow_stale_reading_cannot_overwrite_a_newer_one() -> None:
    """The first check reads red slowly; a second check starts meanwhile and reads green.
    Serialised checks end at green, and listeners hear red then green, in that order."""
    calls = 0

    def reading() -> Sample:
        nonlocal calls
        calls += 1
        if calls == 1:
            time.sleep(0.2)
            return RED_SAMPLE
        return GREEN_SAMPLE

    manager = make_manager(reading, thresholds={"downgrade_dwell": 0.0})
    seen: list[MemoryPressure] = []
    manager.register_pressure_callback(lambda level, stats: seen.append(level))
    first = asyncio.create_task(manager.check_pressure())
    await asyncio.sleep(0.05)
    second = asyncio.create_task(manager.check_pressure())
    assert await first is MemoryPressure.RED
    await second
    assert manager.current_pressure is not MemoryPressure.RED
    assert seen[0] is MemoryPressure.RED
    assert seen[-1] is manager.current_pressure


async def test_cancelling_a_check_does_not_lose_the_change_for_later_listeners() -> None:
    """The check is cancelled (as a timeout around it would) while the first listener is still
    busy with the change; the listeners after it must hear the change all the same."""
    readings = ScriptedReadings(GREEN_SAMPLE)
    manager = make_manager(readings)
    await manager.check_pressure()
    slow_seen: list[MemoryPressure] = []
    budget_seen: list[MemoryPressure] = []
    slow_started = asyncio.Event()
    slow_may_finish = asyncio.Event()

    async def slow(level: MemoryPressure, stats: MemoryStats) -> None:
        slow_started.set()
        await slow_may_finish.wait()
        slow_seen.append(level)

    manager.register_pressure_callback(slow)
    manager.register_pressure_callback(lambda level, stats: budget_seen.append(level))
    readings.sample = RED_SAMPLE
    check = asyncio.create_task(manager.check_pressure())
    await asyncio.wait_for(slow_started.wait(), timeout=WAIT_LIMIT_S)
    check.cancel()
    with pytest.raises(asyncio.CancelledError):
        await check
    assert budget_seen == []  # still queued behind the slow listener
    slow_may_finish.set()
    await wait_until(lambda: bool(budget_seen), "the listener after the slow one heard the change")
    assert slow_seen == [MemoryPressure.RED]
    assert budget_seen == [MemoryPressure.RED]


async def test_a_failing_probe_is_unknown_with_the_reason_not_an_exception() -> None:
    def broken() -> Sample:
        raise OSError("probe broke")

    manager = make_manager(broken)
    assert await manager.check_pressure() is MemoryPressure.UNKNOWN
    assert "probe failed: probe broke" in manager.get_stats_summary()["signals"]["problems"]


def test_monitor_left_running_by_a_closed_loop_leaves_no_watcher_thread() -> None:
    def watcher_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "ironcliw-pressure-watcher"}

    # Thread objects, not counts: an earlier test's watcher may still be on its way out.
    earlier = watcher_threads()
    manager = MacOSMemoryManager(MemoryConfig(env={}), read_sample=lambda: GREEN_SAMPLE)

    async def start_and_leave() -> tuple[str, set[threading.Thread]]:
        await manager.start_monitoring()
        await wait_until(lambda: manager.checks >= 1, "the monitor took its first reading")
        return manager.event_mechanism, watcher_threads() - earlier

    mechanism, started = asyncio.run(start_and_leave())  # returns without stop_monitoring()
    assert len(started) == (mechanism != "none"), mechanism  # a watcher ran: not a vacuous pass
    for thread in started:
        thread.join(timeout=WAIT_LIMIT_S)  # stopping wakes it at once; a leaked one never ends
        assert not thread.is_alive(), mechanism


async def test_a_callback_that_checks_again_does_not_deadlock() -> None:
    readings = ScriptedReadings(GREEN_SAMPLE)
    manager = make_manager(readings)
    seen: list[MemoryPressure] = []

    async def reentrant(level: MemoryPressure, stats: MemoryStats) -> None:
        seen.append(level)
        if level is MemoryPressure.GREEN:
            readings.sample = RED_SAMPLE
            await manager.check_pressure()

    manager.register_pressure_callback(reentrant)
    await asyncio.wait_for(manager.check_pressure(), timeout=5)
    assert seen == [MemoryPressure.GREEN, MemoryPressure.RED]


async def test_readings_run_off_the_event_loop() -> None:
    """The probe returns only after the loop has ticked five times meanwhile, which it could not
    do if the probe ran on the loop's own thread."""
    loop_thread = threading.current_thread().name
    five_ticks = threading.Event()
    released: list[bool] = []

    def blocking_reading() -> Sample:
        released.append(five_ticks.wait(timeout=WAIT_LIMIT_S))
        return GREEN_SAMPLE

    async def ticker() -> None:
        for _ in range(5):
            await asyncio.sleep(0.01)
        five_ticks.set()

    readings = ScriptedReadings()
    manager = make_manager(lambda: (readings(), blocking_reading())[1])
    task = asyncio.create_task(ticker())
    await manager.check_pressure()
    task.cancel()
    assert loop_thread not in readings.threads
    assert released == [True]  # the loop kept running while the probe was busy


async def test_monitor_runs_until_stopped_and_survives_failures() -> None:
    calls = 0
    failures = 0

    def flaky() -> Sample:
        nonlocal calls, failures
        calls += 1
        if calls % 3 == 0:
            failures += 1
            raise OSError("probe hiccup")
        return GREEN_SAMPLE

    manager = make_manager(flaky, pressure_check_interval=0.1)
    await manager.start_monitoring()
    assert manager.monitoring
    await wait_until(lambda: failures >= 2 and manager.checks >= 5, "checks went on past failures")
    assert manager.monitoring
    await manager.stop_monitoring()
    assert not manager.monitoring
    stopped_at = manager.checks
    await asyncio.sleep(0.1)
    assert manager.checks == stopped_at


async def test_kernel_event_wakes_the_monitor_before_the_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(manager_module.pressure, "PressureWatcher", OneShotWatcher)
    readings = ScriptedReadings(GREEN_SAMPLE)
    manager = MacOSMemoryManager(
        MemoryConfig(pressure_check_interval=60.0, env={}), read_sample=readings
    )
    await manager.start_monitoring()
    try:
        await wait_until(lambda: manager.checks >= 2, "a second check")
        assert manager.event_mechanism == "fake-trigger"
        assert manager.kernel_wakeups == 1
        assert manager.checks == 2  # the first poll, then the wake-up: 60 s poll never reached
    finally:
        await manager.stop_monitoring()


async def test_override_is_applied_at_once_and_visible() -> None:
    readings = ScriptedReadings(GREEN_SAMPLE)
    manager = make_manager(readings)
    seen: list[MemoryPressure] = []
    manager.register_pressure_callback(lambda level, stats: seen.append(level))
    await manager.check_pressure()
    assert await manager.override_pressure("critical") is MemoryPressure.RED
    summary = manager.get_stats_summary()
    assert summary["forced"] is True
    assert summary["pressure"] == "critical"
    assert summary["measured_pressure"] == "normal"
    assert summary["recommended_cache_mb"] == 50
    assert await manager.override_pressure(None) is MemoryPressure.GREEN
    assert manager.get_stats_summary()["forced"] is False
    assert seen == [MemoryPressure.GREEN, MemoryPressure.RED, MemoryPressure.GREEN]


async def test_override_from_the_environment() -> None:
    manager = MacOSMemoryManager(
        MemoryConfig(env={"IRONCLIW_PRESSURE_OVERRIDE": "yellow"}),
        read_sample=ScriptedReadings(GREEN_SAMPLE),
        watch_kernel_events=False,
    )
    assert await manager.check_pressure() is MemoryPressure.YELLOW
    assert manager.get_stats_summary()["forced"] is True


async def test_summary_has_the_reference_keys_and_explanations() -> None:
    manager = make_manager(ScriptedReadings(YELLOW_SAMPLE))
    await manager.check_pressure()
    summary = manager.get_stats_summary()
    for key in (
        "pressure",
        "total_gb",
        "available_gb",
        "used_percent",
        "app_memory_gb",
        "swap_used_gb",
        "recommended_cache_mb",
        "recommended_quality",
        "monitor_all_spaces",
        "timestamp",
        "reasons",
        "sources",
        "signals",
        "process",
    ):
        assert key in summary, key
    assert summary["pressure"] == "warn"
    assert summary["total_gb"] == pytest.approx(16.0)
    assert summary["available_gb"] == pytest.approx(3.0)
    assert summary["used_percent"] == pytest.approx(81.2, abs=0.1)
    assert any("headroom" in reason for reason in summary["reasons"])
    assert summary["sources"] == ["meminfo", "psi"]
    assert summary["process"]["rss_mb"] > 1
    datetime.fromisoformat(summary["timestamp"])
    json.dumps(summary)  # embeddable in the agent's own JSON stats


async def test_app_memory_is_never_negative() -> None:
    odd = Sample.from_values(total=8 * GIB, available=9 * GIB, sources=["meminfo"])
    manager = make_manager(ScriptedReadings(odd))
    await manager.check_pressure()
    summary = manager.get_stats_summary()
    assert summary["app_memory_gb"] >= 0
    assert summary["used_percent"] >= 0


async def test_cgroup_limit_is_the_total_inside_a_container() -> None:
    sample = Sample.from_values(
        total=64 * GIB,
        available=60 * GIB,
        used=4 * GIB,
        cgroup_limit=2 * GIB,
        cgroup_usage=int(1.9 * GIB),
        cgroup_working_set=int(1.8 * GIB),
        sources=["meminfo", "cgroup-v1"],
    )
    manager = make_manager(ScriptedReadings(sample))
    level = await manager.check_pressure()
    summary = manager.get_stats_summary()
    assert summary["total_gb"] == pytest.approx(2.0)
    assert summary["available_gb"] == pytest.approx(0.2)
    assert summary["app_memory_gb"] == pytest.approx(1.8)  # not the host's 4 GB
    assert level is MemoryPressure.RED  # 10 % headroom in the cgroup, whatever the host says


async def test_agent_style_usage(clean_singleton: None) -> None:
    """How the agent's code uses the originals: compare with RED, async callback, summary."""
    from ironcliw_mem import get_memory_manager, initialize_memory_manager

    received: list[tuple[MemoryPressure, MemoryStats]] = []

    async def on_pressure(new_pressure: MemoryPressure, stats: MemoryStats) -> None:
        received.append((new_pressure, stats))

    manager = await initialize_memory_manager()
    try:
        assert get_memory_manager() is manager
        manager.register_pressure_callback(on_pressure)
        stats = manager.get_stats_summary()
        assert stats["pressure"] in {p.value for p in MemoryPressure}
        assert manager.activity_reading is not None  # the user's activity read before it returns
        assert stats["activity"]["source"] == manager.activity_reading.source
        await manager.override_pressure(MemoryPressure.GREEN)  # whatever this host reads now
        await manager.override_pressure(MemoryPressure.RED)
        assert manager.current_pressure == MemoryPressure.RED
        assert manager.current_pressure != MemoryPressure.YELLOW
        assert received
        assert received[-1][0] is MemoryPressure.RED
        assert received[-1][1].pressure is MemoryPressure.RED
        assert manager.get_recommended_quality() == "thumbnail"
        assert manager.should_monitor_all_spaces() is False
    finally:
        await manager.stop_monitoring()


def test_quick_test_in_a_clean_subprocess() -> None:
    """The design document's quick test, in a fresh interpreter with a minimal environment."""
    script = (
        "import asyncio, json\n"
        "from ironcliw_mem import initialize_memory_manager\n"
        "async def main():\n"
        "    manager = await initialize_memory_manager()\n"
        "    stats = manager.get_stats_summary()\n"
        "    print(json.dumps({k: stats[k] for k in ("
        "'pressure', 'recommended_cache_mb', 'recommended_quality')}))\n"
        "    await manager.stop_monitoring()\n"
        "asyncio.run(main())\n"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["pressure"] in {"normal", "warn", "critical"}  # this Linux box is readable
    assert stats["recommended_cache_mb"] in {500, 200, 50}
    assert stats["recommended_quality"] in {"optimized", "fast", "thumbnail"}
