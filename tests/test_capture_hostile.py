"""Hostile capture backends and request callbacks: whatever they do (block, hang for ever, raise,
declare another pixel layout), `capture_all_spaces` returns a result that says what went wrong,
the pressure monitor keeps its pace, and a stuck backend cannot pile up threads.

The cases that would hang the process on a regression run in a child process with a time limit,
so a hang is a failed test rather than a stuck suite.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from ironcliw_mem import MemoryConfig
from ironcliw_mem._native import PIXEL_FORMATS
from ironcliw_mem.capture import MultiSpaceCaptureEngine, SpaceCaptureRequest, SyntheticBackend
from ironcliw_mem.capture.bounded import BoundedCalls, CaptureTimeout
from ironcliw_mem.config import ConfigError
from support import WAIT_LIMIT_S, calm_manager, wait_until

SCREEN = (320, 200)
# The timeout the hanging cases run under: short, so the suite does not wait long on them, yet
# long enough that a healthy call on a loaded machine never reaches it.
SHORT_TIMEOUT = 1.5
# A child process that has not finished in this long is hung (it needs about a second).
CHILD_LIMIT_S = 60

Pixels = npt.NDArray[np.uint8]


class HangingBackend(SyntheticBackend):
    """Synthetic screens whose captures of `hanging` spaces block until the test releases them
    (the test always does, at its end); counts the captures that entered the backend."""

    def __init__(self, spaces: int = 3, hanging: set[int] | None = None) -> None:
        super().__init__(spaces=spaces, size=SCREEN)
        self.hanging = set(range(1, spaces + 1)) if hanging is None else hanging
        self.release = threading.Event()
        self.entered: dict[int, int] = {}
        self._count_lock = threading.Lock()

    def capture(self, space_id: int) -> Pixels:
        with self._count_lock:
            self.entered[space_id] = self.entered.get(space_id, 0) + 1
        if space_id in self.hanging:
            self.release.wait(10 * WAIT_LIMIT_S)
        return super().capture(space_id)


@pytest.fixture
def hanging() -> Iterator[HangingBackend]:
    backend = HangingBackend(spaces=3, hanging={2})
    yield backend
    backend.release.set()


def engine_for(backend: object, **config: object) -> MultiSpaceCaptureEngine:
    return MultiSpaceCaptureEngine(
        backend=backend,  # type: ignore[arg-type]
        config=MemoryConfig(env={}, **config),  # type: ignore[arg-type]
    )


# --- a stuck capture must not starve the monitor ------------------------------------------------


async def test_hung_captures_do_not_make_a_pressure_check_wait() -> None:
    """Every capture hangs and fills the loop's default pool (two threads here, as on a small
    machine); the manager's reading must still come at once, not after the captures."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    backend = HangingBackend(spaces=4)
    manager = calm_manager(capture_timeout_seconds=60)
    await manager.check_pressure()  # green: every space is watched
    engine = MultiSpaceCaptureEngine(memory_manager=manager, backend=backend)
    request = SpaceCaptureRequest(space_ids=[1, 2, 3, 4], parallel=True, max_workers=4)
    captures = asyncio.create_task(engine.capture_all_spaces(request))
    try:
        await wait_until(lambda: sum(backend.entered.values()) >= 2, "two captures hung")
        # The old engine captured in the default pool: this check queued behind the hung
        # captures until they returned (here: never, until the test let them).
        level = await asyncio.wait_for(manager.check_pressure(), timeout=WAIT_LIMIT_S / 2)
        assert level.value == "normal"
    finally:
        backend.release.set()
    result = await asyncio.wait_for(captures, WAIT_LIMIT_S)
    assert sorted(result.screenshots) == [1, 2, 3, 4]


async def test_a_capture_past_the_timeout_is_an_error_for_its_space_only(
    hanging: HangingBackend,
) -> None:
    engine = engine_for(hanging, capture_timeout_seconds=SHORT_TIMEOUT)
    request = SpaceCaptureRequest(space_ids=[1, 2, 3], use_cache=False)
    result = await asyncio.wait_for(engine.capture_all_spaces(request), WAIT_LIMIT_S)
    assert sorted(result.screenshots) == [1, 3]
    assert result.success
    assert "capturing space 2 took longer than 1.5 s" in result.errors[2]
    assert "IRONCLIW_CAPTURE_TIMEOUT_SECONDS" in result.errors[2]
    assert set(result.errors) == {2}
    stats = engine.get_cache_stats()
    assert stats["capture_timeouts"] == 1
    assert stats["capture_failures"] == 1
    assert stats["backend_calls_running"] == 1  # the hung thread, until the backend returns


async def test_a_stuck_space_holds_one_thread_however_often_it_is_asked(
    hanging: HangingBackend,
) -> None:
    engine = engine_for(hanging, capture_timeout_seconds=SHORT_TIMEOUT)
    first = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[2], use_cache=False))
    assert "took longer" in first.errors[2]
    threads_before = threading.active_count()
    for _ in range(20):
        again = await asyncio.wait_for(
            engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[2], use_cache=False)),
            WAIT_LIMIT_S,
        )
        # Refused, not timed out again: no thread was started for it.
        assert "still running" in again.errors[2], again.errors
    assert hanging.entered[2] == 1  # no second thread ever went into the stuck backend
    assert threading.active_count() <= threads_before
    assert engine.get_cache_stats()["refused_while_stuck"] == 20
    # Once the backend returns, the space is captured again.
    hanging.release.set()
    await wait_until(lambda: engine.get_cache_stats()["backend_calls_running"] == 0)
    later = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[2], use_cache=False))
    assert list(later.screenshots) == [2]
    assert not later.errors


async def test_a_hung_listing_is_a_reported_failure() -> None:
    class HungListing(HangingBackend):
        def list_spaces(self) -> list[int]:
            self.release.wait(10 * WAIT_LIMIT_S)
            return super().list_spaces()

    backend = HungListing()
    try:
        engine = engine_for(backend, capture_timeout_seconds=SHORT_TIMEOUT)
        result = await asyncio.wait_for(
            engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1])), WAIT_LIMIT_S
        )
    finally:
        backend.release.set()
    assert not result.success
    assert "listing the spaces took longer than 1.5 s" in result.errors[-1]


async def test_a_burst_of_requests_asks_a_hung_listing_once() -> None:
    """Within the first timeout too: twenty concurrent requests wait on one listing call."""

    class HungListing(SyntheticBackend):
        def __init__(self) -> None:
            super().__init__(spaces=2, size=SCREEN)
            self.release = threading.Event()
            self.listings = 0

        def list_spaces(self) -> list[int]:
            self.listings += 1
            self.release.wait(10 * WAIT_LIMIT_S)
            return super().list_spaces()

    backend = HungListing()
    try:
        engine = engine_for(backend, capture_timeout_seconds=SHORT_TIMEOUT)
        request = SpaceCaptureRequest(space_ids=[1])
        results = await asyncio.wait_for(
            asyncio.gather(*(engine.capture_all_spaces(request) for _ in range(20))),
            WAIT_LIMIT_S,
        )
        assert backend.listings == 1
        assert all("listing the spaces took longer" in r.errors[-1] for r in results)
        assert engine.get_cache_stats()["backend_calls_running"] == 1
    finally:
        backend.release.set()


async def test_a_backend_exception_that_is_a_timeout_is_not_taken_for_ours() -> None:
    calls = BoundedCalls(5.0, name="test")

    def times_out_itself() -> None:
        raise TimeoutError("the backend's own subprocess timed out")

    with pytest.raises(TimeoutError, match="backend's own") as raised:
        await calls.call("key", "a call", times_out_itself)
    assert not isinstance(raised.value, CaptureTimeout)
    assert calls.timeouts == 0
    assert calls.running() == 0


@pytest.mark.parametrize("value", ["0", "0.05", "1e-300", "601", "nan", "inf", "+5", "1_0", "٣"])
def test_the_capture_timeout_setting_rejects_what_no_user_means(value: str) -> None:
    with pytest.raises(ConfigError, match="IRONCLIW_CAPTURE_TIMEOUT_SECONDS") as raised:
        MemoryConfig(env={"IRONCLIW_CAPTURE_TIMEOUT_SECONDS": value})
    assert "0.1 to 600 seconds" in str(raised.value)


def test_the_capture_timeout_setting_is_read_and_defaults_to_ten_seconds() -> None:
    assert MemoryConfig(env={}).capture_timeout_seconds == 10.0
    config = MemoryConfig(env={"IRONCLIW_CAPTURE_TIMEOUT_SECONDS": "2.5"})
    assert config.capture_timeout_seconds == 2.5
    assert config.sources["capture_timeout_seconds"] == "env IRONCLIW_CAPTURE_TIMEOUT_SECONDS"
    assert MemoryConfig(env={}, capture_timeout_seconds=0.5).capture_timeout_seconds == 0.5
    with pytest.raises(ConfigError, match="capture_timeout_seconds=True"):
        MemoryConfig(env={}, capture_timeout_seconds=True)


# --- errors that must stay inside the result ----------------------------------------------------


class NoCurrentSpace(SyntheticBackend):
    def current_space(self) -> int:
        raise RuntimeError("yabai is not running")


async def test_a_failing_current_space_is_reported_in_errors_not_raised() -> None:
    engine = engine_for(NoCurrentSpace(spaces=2, size=SCREEN))
    result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2]))
    assert not result.success
    assert not result.screenshots
    assert "could not say the current space" in result.errors[-1]
    assert "RuntimeError: yabai is not running" in result.errors[-1]


async def test_a_callback_that_raises_leaves_the_result_standing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = engine_for(SyntheticBackend(spaces=2, size=SCREEN))
    seen: list[int] = []

    def callback(screenshots: dict[int, Any], metadata: dict[int, Any]) -> None:
        seen.extend(screenshots)
        raise KeyError("the agent's bug")

    with caplog.at_level(logging.ERROR, logger="ironcliw_mem.capture.engine"):
        result = await engine.capture_all_spaces(
            SpaceCaptureRequest(space_ids=[1, 2], callback=callback)
        )
    assert sorted(result.screenshots) == [1, 2] == sorted(seen)
    assert result.success
    assert result.callback_error is not None
    assert "KeyError" in result.callback_error
    assert "the agent's bug" in result.callback_error
    assert any("capture callback" in r.getMessage() for r in caplog.records)
    # The captures were stored before the callback failed: the next request is all hits.
    again = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2]))
    assert again.cache_hits == 2
    assert again.callback_error is None


async def test_an_async_callback_that_raises_leaves_the_result_standing() -> None:
    engine = engine_for(SyntheticBackend(spaces=2, size=SCREEN))

    async def callback(screenshots: dict[int, Any], metadata: dict[int, Any]) -> None:
        await asyncio.sleep(0)
        raise ValueError("late failure")

    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1, 2], callback=callback)
    )
    assert sorted(result.screenshots) == [1, 2]
    assert result.callback_error is not None
    assert "ValueError: late failure" in result.callback_error


async def test_a_callback_that_never_returns_is_cancelled_after_the_timeout() -> None:
    engine = engine_for(
        SyntheticBackend(spaces=2, size=SCREEN), capture_timeout_seconds=SHORT_TIMEOUT
    )
    cancelled = asyncio.Event()

    async def callback(screenshots: dict[int, Any], metadata: dict[int, Any]) -> None:
        try:
            await asyncio.Event().wait()  # never set
        finally:
            cancelled.set()

    result = await asyncio.wait_for(
        engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2], callback=callback)),
        WAIT_LIMIT_S,
    )
    assert sorted(result.screenshots) == [1, 2]
    assert result.callback_error is not None
    assert "did not finish within 1.5 s" in result.callback_error
    await asyncio.wait_for(cancelled.wait(), WAIT_LIMIT_S)


# --- the backend's pixel layout ----------------------------------------------------------------

RED = (255, 0, 0)


def red_frame(layout: str) -> Pixels:
    """A pure red frame laid out as `layout` ("RGBA", "BGR", ...): each letter one channel."""
    values = {"R": 255, "G": 0, "B": 0, "A": 255, "X": 255}
    pixel = np.array([values[c] for c in layout], dtype=np.uint8)
    return np.ascontiguousarray(np.broadcast_to(pixel, (SCREEN[1], SCREEN[0], len(layout))))


class OneColourBackend(SyntheticBackend):
    """Every space shows the same frame, in the layout the backend declares."""

    def __init__(self, frame: Pixels, pixel_format: str) -> None:
        super().__init__(spaces=1, size=SCREEN)
        self.frame = frame
        self.pixel_format = pixel_format

    def capture(self, space_id: int) -> Pixels:
        return self.frame.copy()


@pytest.mark.parametrize("layout", PIXEL_FORMATS)
async def test_a_red_frame_encodes_red_whatever_layout_the_backend_declares(layout: str) -> None:
    engine = engine_for(OneColourBackend(red_frame(layout), layout))
    result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
    with Image.open(io.BytesIO(result.screenshots[1])) as image:
        assert image.format == "JPEG"  # decoded by Pillow (libjpeg), not by our code
        r, g, b = (int(v) for v in np.asarray(image.convert("RGB")).reshape(-1, 3).mean(axis=0))
    assert (r > 240, g < 15, b < 15) == (True, True, True), (layout, (r, g, b))


def test_a_backend_declaring_an_unknown_layout_is_refused_when_the_engine_is_made() -> None:
    with pytest.raises(ValueError, match=r"pixel_format='ARGB'; accepted: .*RGBA"):
        engine_for(OneColourBackend(red_frame("RGBA"), "ARGB"))


async def test_frames_that_contradict_the_declared_layout_are_an_error_for_the_space() -> None:
    engine = engine_for(OneColourBackend(red_frame("RGB"), "RGBA"))
    result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
    assert not result.screenshots
    assert "ValueError" in result.errors[1]
    assert "RGBA" in result.errors[1]


# --- the same, in a child process: a regression is a recorded hang, not a stuck suite ----------

_CHILD = textwrap.dedent(
    """
    import asyncio, json, threading, time
    from ironcliw_mem import MemoryConfig
    from ironcliw_mem.capture import MultiSpaceCaptureEngine, SpaceCaptureRequest, SyntheticBackend

    class Hostile(SyntheticBackend):
        name = "hostile"
        def capture(self, space_id):
            if space_id == 2:
                time.sleep(3600)  # hung for good: a daemon thread must not hold up the exit
            return super().capture(space_id)

    class NoCurrent(SyntheticBackend):
        def current_space(self):
            raise OSError("no window server")

    async def never(screenshots, metadata):
        await asyncio.Event().wait()

    def raises(screenshots, metadata):
        raise RuntimeError("callback bug")

    async def main():
        config = MemoryConfig(env={{}}, capture_timeout_seconds=2)
        out = {{}}
        def make(backend):
            return MultiSpaceCaptureEngine(backend=backend, config=config)

        engine = make(Hostile(spaces=3, size=(160, 100)))
        result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2, 3]))
        out["hung"] = [sorted(result.screenshots), {{str(k): v for k, v in result.errors.items()}}]
        for _ in range(50):
            await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[2]))
        out["threads"] = sum(t.name == "ironcliw-hostile-call" for t in threading.enumerate())
        engine = make(NoCurrent(spaces=2, size=(160, 100)))
        result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
        out["no_current"] = result.errors.get(-1)
        engine = make(SyntheticBackend(spaces=2, size=(160, 100)))
        for name, callback in (("never", never), ("raises", raises)):
            request = SpaceCaptureRequest(space_ids=[1], callback=callback)
            result = await engine.capture_all_spaces(request)
            out[name] = [sorted(result.screenshots), result.callback_error]
        print(json.dumps(out))

    asyncio.run(main())
    """
)


def test_hostile_backends_and_callbacks_in_a_child_never_crash_or_hang() -> None:
    script = _CHILD.format()
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=CHILD_LIMIT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the child hung for {CHILD_LIMIT_S} s: {hung.stderr!r}")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    screenshots, errors = out["hung"]
    assert screenshots == [1, 3]
    assert list(errors) == ["2"]
    assert "took longer" in errors["2"]
    assert out["threads"] == 1  # the one stuck capture, after 51 requests for its space
    assert "OSError: no window server" in out["no_current"]
    assert out["never"][0] == [1]
    assert "did not finish" in out["never"][1]
    assert out["raises"][0] == [1]
    assert "RuntimeError: callback bug" in out["raises"][1]
