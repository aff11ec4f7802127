"""Helpers shared by the test modules: a calm machine, a manager that reads it, and a wait for
something to happen that fails the test rather than hang."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ironcliw_mem import MacOSMemoryManager, MemoryConfig, Sample
from ironcliw_mem.activity import ActivityReading, PolledReader

GIB = 1024**3
# How long `wait_until` waits before failing the test: a hang guard, not a timing expectation.
WAIT_LIMIT_S = 30.0

# 16 GB with 12 GB available and no stalls: green under the default thresholds.
GREEN_SAMPLE = Sample.from_values(
    total=16 * GIB, available=12 * GIB, psi_some_avg10=0.0, psi_full_avg10=0.0, sources=["meminfo"]
)


def calm_manager(**config: object) -> MacOSMemoryManager:
    """A manager whose probe always reads GREEN_SAMPLE; no kernel watcher thread."""
    return MacOSMemoryManager(
        MemoryConfig(env={}, **config),  # type: ignore[arg-type]
        read_sample=lambda: GREEN_SAMPLE,
        watch_kernel_events=False,
    )


class OneShotWatcher:
    """A stand-in for `pressure.PressureWatcher` (monkeypatched in): fires once after `delay`
    seconds, then never again."""

    mechanism = "fake-trigger"
    delay = 0.1

    def __init__(self) -> None:
        self.fired = False

    def wait(self, timeout_s: float) -> bool:
        if not self.fired:
            time.sleep(self.delay)
            self.fired = True
            return True
        time.sleep(min(timeout_s, 0.05))
        return False

    def close(self) -> None:
        pass


class ManualClock:
    """A clock that moves only when the test moves it (`clock.now += 5`)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def wait_until(
    condition: Callable[[], object], what: str = "", limit: float = WAIT_LIMIT_S
) -> None:
    """Returns once `condition()` is true, yielding to the event loop (and so to its tasks and
    worker threads) meanwhile; fails the test if that takes longer than `limit` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {limit:g} s: {what or condition}")
        await asyncio.sleep(0.005)


CHROMIUM_LIMIT_S = 90


def _chromium(directory: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed (Debian package chromium; make setup installs it)")
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--window-size=1200,620", "--virtual-time-budget=4000",
         f"--user-data-dir={directory / ('profile-' + name)}", *args],
        capture_output=True, text=True, timeout=CHROMIUM_LIMIT_S, check=False,
    )  # fmt: skip


def chromium_dom(url: str, directory: Path, *args: str) -> str:
    """The page's DOM after its scripts ran (headless Chromium, 1200x620, `args` added)."""
    result = _chromium(directory, "dom", *args, "--dump-dom", url)
    assert "</html>" in result.stdout, result.stderr[-2000:]
    return result.stdout


def chromium_screenshot(url: str, directory: Path, name: str, *args: str) -> Path:
    """Loads `url` in headless Chromium (1200x620, `args` added) and returns the screenshot
    `directory/name`; skips where Chromium is not installed or cannot start."""
    shot = directory / name
    result = _chromium(directory, name, *args, f"--screenshot={shot}", url)
    if not shot.exists() and "error while loading shared libraries" in result.stderr:
        pytest.skip(f"chromium cannot run here: {result.stderr.strip()[-300:]}")
    assert shot.exists(), result.stderr[-2000:]
    return shot


class ScriptedReader(PolledReader):
    """Reads whatever the test sets; no input events (polled like macOS)."""

    source = "script"

    def __init__(self, idle: float | None = 0.0, locked: bool | None = None) -> None:
        self.idle = idle
        self.locked = locked

    def read(self) -> ActivityReading:
        return ActivityReading(self.idle, 4242, self.locked, self.source)
