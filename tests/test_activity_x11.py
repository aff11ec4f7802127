"""The user's activity on a real X server (Xvfb): idle time from MIT-SCREEN-SAVER, the active
window's pid from EWMH properties, input through XTest waking the manager via XInput2 raw
events, and the engine following the state. Thresholds are short (fractions of a second) so the
whole day of a user fits in a few seconds."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ironcliw_mem import MemoryConfig
from ironcliw_mem.activity import ActivityReading
from ironcliw_mem.activity.x11 import X11ActivityReader
from ironcliw_mem.capture import MultiSpaceCaptureEngine, SyntheticBackend
from ironcliw_mem.levels import ActivityState
from ironcliw_mem.manager import MacOSMemoryManager
from support import GREEN_SAMPLE, wait_until
from xserver import Xvfb

pytest.importorskip("Xlib", reason="python-xlib missing: a dependency of ironcliw-mem on Linux")

from Xlib import X, Xatom
from Xlib.display import Display
from Xlib.ext import xtest

IDLE_AFTER_S = 1.0
# Two seconds of idle between the thresholds: the idle time is read about once a second, so a
# one-second window could be stepped over (active -> away) by a reading that comes late on a
# loaded machine.
AWAY_AFTER_S = 3.0
# Long enough that a return noticed "within a second" cannot have been the pressure poll's doing
# (30 s, stretched to 120 s while away).
PRESSURE_POLL_S = 30.0
# The promise: input brings the state back to active within a second.
RETURN_WITHIN_S = 1.0
_positions = itertools.cycle(range(10, 300, 7))


@pytest.fixture
def x(xvfb: Xvfb) -> Iterator[Display]:
    connection = Display(xvfb.display)
    yield connection
    connection.close()


def nudge(x: Display) -> None:
    """One input event, as a user's mouse would make it (XTest: a device of the server's own)."""
    position = next(_positions)
    xtest.fake_input(x, X.MotionNotify, x=position, y=position)
    x.sync()


class CountingReader(X11ActivityReader):
    """The real reader, counting its readings (to show that nothing polls while away)."""

    def __init__(self, display: str) -> None:
        super().__init__(display)
        self.reads = 0

    def read(self) -> ActivityReading:
        self.reads += 1
        return super().read()


def x11_manager(reader: X11ActivityReader) -> MacOSMemoryManager:
    return MacOSMemoryManager(
        MemoryConfig(
            env={},
            idle_after_seconds=IDLE_AFTER_S,
            away_after_seconds=AWAY_AFTER_S,
            pressure_check_interval=PRESSURE_POLL_S,
        ),
        read_sample=lambda: GREEN_SAMPLE,
        watch_kernel_events=False,
        activity_reader=reader,
    )


def test_reader_reads_idle_time_and_the_active_windows_pid(xvfb: Xvfb, x: Display) -> None:
    reader = X11ActivityReader(xvfb.display)
    try:
        window = x.screen().root.create_window(0, 0, 10, 10, 0, X.CopyFromParent)
        window.change_property(x.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()])
        root = x.screen().root
        root.change_property(x.intern_atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW, 32, [window.id])
        nudge(x)
        fresh = reader.read()
        assert fresh.problem is None
        assert fresh.source == "x11"
        assert fresh.frontmost_pid == os.getpid()
        assert fresh.idle_seconds is not None
        assert fresh.idle_seconds < IDLE_AFTER_S
        time.sleep(0.3)
        later = reader.read()
        assert later.idle_seconds is not None
        assert later.idle_seconds >= fresh.idle_seconds + 0.25
        root.delete_property(x.intern_atom("_NET_ACTIVE_WINDOW"))
        x.sync()
        assert reader.read().frontmost_pid is None
        assert reader.input_fd() is not None  # Xvfb has XInput 2.2: input comes as events
    finally:
        reader.close()


async def test_active_idle_away_and_input_brings_it_back_at_once(xvfb: Xvfb, x: Display) -> None:
    reader = CountingReader(xvfb.display)
    manager = x11_manager(reader)
    heard: list[tuple[ActivityState, dict[str, Any]]] = []
    manager.register_activity_callback(lambda state, info: heard.append((state, info)))
    nudge(x)
    await manager.start_monitoring()
    try:
        await wait_until(lambda: manager.current_activity is ActivityState.AWAY, "away")
        assert [state for state, _ in heard] == [
            ActivityState.ACTIVE,
            ActivityState.IDLE,
            ActivityState.AWAY,
        ]
        # Each change came once the idle time had passed its threshold, not before.
        assert heard[1][1]["idle_seconds"] >= IDLE_AFTER_S
        assert heard[2][1]["idle_seconds"] >= AWAY_AFTER_S
        assert manager.pressure_poll_interval == PRESSURE_POLL_S * 4

        # Away, with input arriving as events: no reading at all while nothing happens.
        reads_when_away = reader.reads
        pressure_checks = manager.checks
        await asyncio.sleep(1.5)  # the event loop runs the monitors meanwhile
        assert reader.reads == reads_when_away

        nudge(x)
        sent = time.monotonic()
        await wait_until(lambda: manager.current_activity is ActivityState.ACTIVE, "active")
        assert time.monotonic() - sent < RETURN_WITHIN_S
        assert heard[-1][0] is ActivityState.ACTIVE
        assert len(heard) == 4
        assert manager.pressure_poll_interval == PRESSURE_POLL_S
        # The return took a fresh pressure reading instead of waiting out the stretched poll.
        # (within 20 s: the stretched poll itself is 120 s away)
        await wait_until(lambda: manager.checks > pressure_checks, "a pressure reading", limit=20)
    finally:
        await manager.stop_monitoring()
        reader.close()


async def test_engine_watches_and_prefetches_as_the_user_is(xvfb: Xvfb, x: Display) -> None:
    reader = X11ActivityReader(xvfb.display)
    manager = x11_manager(reader)
    engine = MultiSpaceCaptureEngine(
        memory_manager=manager, backend=SyntheticBackend(spaces=4, size=(160, 100))
    )
    nudge(x)
    await manager.check_pressure()
    await manager.start_monitoring()
    try:
        await wait_until(lambda: manager.current_activity is ActivityState.ACTIVE, "active")
        assert await engine.get_spaces_to_monitor() == [1, 2, 3, 4]
        task = await engine.prefetch_spaces([2, 3])
        assert task is not None
        await task

        await wait_until(lambda: manager.current_activity is ActivityState.IDLE, "idle")
        assert await engine.get_spaces_to_monitor() == [await engine.get_current_space()]
        assert await engine.prefetch_spaces([2, 3]) is None

        await wait_until(lambda: manager.current_activity is ActivityState.AWAY, "away")
        assert await engine.prefetch_spaces([2, 3]) is None
        red = manager.config.cache_size_red
        await wait_until(lambda: engine.cache.get_stats()["max_size_mb"] == red, "the red budget")

        nudge(x)
        await wait_until(lambda: manager.current_activity is ActivityState.ACTIVE, "active")
        assert await engine.get_spaces_to_monitor() == [1, 2, 3, 4]
        green = manager.config.cache_size_green
        await wait_until(lambda: engine.cache.get_stats()["max_size_mb"] == green, "green's")
        task = await engine.prefetch_spaces([2, 3])
        assert task is not None
        await task
    finally:
        await manager.stop_monitoring()
        await engine.close()
        reader.close()


async def test_without_a_display_the_state_is_unknown_and_acts_as_active(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    manager = MacOSMemoryManager(
        MemoryConfig(env={}), read_sample=lambda: GREEN_SAMPLE, watch_kernel_events=False
    )
    engine = MultiSpaceCaptureEngine(
        memory_manager=manager, backend=SyntheticBackend(spaces=3, size=(160, 100))
    )
    await manager.check_pressure()
    await manager.start_monitoring()
    try:
        await wait_until(lambda: manager.activity_reading is not None, "the first reading")
        activity = manager.get_stats_summary()["activity"]
        assert (activity["state"], activity["source"]) == ("unknown", "none")
        assert activity["idle_seconds"] is None
        assert activity["frontmost_pid"] is None
        assert await engine.get_spaces_to_monitor() == [1, 2, 3]
        task = await engine.prefetch_spaces([2])
        assert task is not None
        await task
        assert manager.pressure_poll_interval == manager.config.pressure_check_interval
    finally:
        await manager.stop_monitoring()
        await engine.close()


def test_status_shows_the_users_activity(xvfb: Xvfb, x: Display) -> None:
    def status(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ironcliw_mem", "status", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "DISPLAY": xvfb.display, **env},
        )

    nudge(x)
    active = status()
    assert active.returncode == 0, active.stderr
    (line,) = [line for line in active.stdout.splitlines() if line.startswith("user: ")]
    assert line.startswith("user: active (idle ")
    assert line.endswith("from x11)")
    time.sleep(0.3)
    away = status("--json", IDLE_AFTER_SECONDS="0.1", AWAY_AFTER_SECONDS="0.2", CACHE_SIZE_RED="7")
    assert away.returncode == 0, away.stderr
    summary = json.loads(away.stdout)
    assert summary["activity"]["state"] == "away"
    assert summary["activity"]["source"] == "x11"
    assert summary["activity"]["idle_seconds"] >= 0.2
    assert summary["recommended_cache_mb"] == 7  # away: the red budget, at green pressure
