"""The callback helpers: weakly held methods, isolated callbacks, weak pressure listeners."""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest

from ironcliw_mem.callbacks import WeakPressureListener, call_isolated, weakly


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_change(self, *args: Any) -> str:
        self.seen.extend(args)
        return "called"


class Source:
    """A manager's registration surface, as the listener sees it."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def register_pressure_callback(self, callback: Any) -> None:
        self.callbacks.append(callback)

    def unregister_pressure_callback(self, callback: Any) -> bool:
        if callback in self.callbacks:
            self.callbacks.remove(callback)
            return True
        return False


def test_weakly_calls_while_the_object_lives_and_does_nothing_after() -> None:
    recorder = Recorder()
    call = weakly(recorder.on_change)
    assert call(1, 2) == "called"
    assert recorder.seen == [1, 2]
    del recorder
    gc.collect()
    assert call(3) is None  # the object is gone, and the callable did not keep it


async def test_call_isolated_logs_a_failure_and_awaits_a_coroutine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []

    async def later(value: int) -> None:
        seen.append(value)

    def broken(value: int) -> None:
        raise RuntimeError(f"boom {value}")

    await call_isolated(later, 1, what="test callback")
    with caplog.at_level(logging.ERROR):
        await call_isolated(broken, 2, what="test callback")
    assert seen == [1]
    assert "test callback" in caplog.text
    assert "boom 2" in caplog.text


def test_a_listener_registers_once_moves_and_detaches() -> None:
    recorder = Recorder()
    first, second = Source(), Source()
    listener = WeakPressureListener(recorder.on_change)
    listener.attach(first)
    assert first.callbacks == [listener.callback]
    listener.attach(second)  # follows the new source only
    assert first.callbacks == []
    assert second.callbacks == [listener.callback]
    second.callbacks[0]("red", {})
    assert recorder.seen == ["red", {}]
    listener.detach()
    listener.detach()  # twice is harmless
    assert second.callbacks == []


def test_a_source_does_not_keep_the_listening_object_alive() -> None:
    source = Source()
    recorder = Recorder()
    WeakPressureListener(recorder.on_change).attach(source)
    del recorder
    gc.collect()
    assert source.callbacks[0]("red", {}) is None
