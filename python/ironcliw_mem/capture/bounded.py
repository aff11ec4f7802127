"""Calls into a capture backend, each bounded in time, none able to pile up threads.

A backend is someone else's blocking code, and it can hang (a screenshot command that never
exits, a dead display server). Each call runs in a thread of its own, a daemon one: not in the
event loop's default pool, which the rest of the program shares, and not one that makes the
interpreter wait for it at exit. The caller waits at most `timeout` seconds, then gets a
`CaptureTimeout`; the thread itself cannot be stopped, so it runs on until the backend returns,
and its result is dropped. While any call for a key (a space's capture, the space listing) has
overrun its time, a new call for that key fails at once instead of starting another thread: a
stuck backend holds at most the threads that were running when it stuck, however often it is
asked again. A call made with `share=True` (a question with one answer, such as the listing)
waits on one already running for its key instead of starting another, so even within the first
timeout a burst of requests costs one thread.

Deadlines are real monotonic time, never an injected clock: a simulated clock must not make a
real call time out, nor let a hung one run for ever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ironcliw_mem.capture.backends import CaptureError

_T = TypeVar("_T")

# Where the limit comes from, for the messages that name it.
TIMEOUT_SETTING = "IRONCLIW_CAPTURE_TIMEOUT_SECONDS"


class CaptureTimeout(CaptureError, TimeoutError):
    """A backend call took longer than the capture timeout, or one before it is still stuck."""


@dataclass(eq=False)  # identity: a set holds the calls running for a key
class _Call:
    future: concurrent.futures.Future[Any]
    started: float
    deadline: float
    thread: threading.Thread | None = field(default=None, repr=False)


class BoundedCalls:
    """Runs blocking backend calls in daemon threads, each awaited for at most `timeout` s."""

    def __init__(self, timeout: float, *, name: str = "backend") -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.timeout = timeout
        self.name = name
        self._lock = threading.Lock()  # the calls end (and leave `_running`) in their threads
        self._running: dict[Hashable, set[_Call]] = {}
        self.timeouts = 0
        self.refused = 0

    def running(self, key: Hashable | None = None) -> int:
        """How many calls (for `key`, or in all) have not returned yet, overrun ones included."""
        with self._lock:
            if key is not None:
                return len(self._running.get(key, ()))
            return sum(len(calls) for calls in self._running.values())

    async def call(
        self, key: Hashable, what: str, fn: Callable[..., _T], *args: Any, share: bool = False
    ) -> _T:
        """`fn(*args)` in a daemon thread; its result or exception, or `CaptureTimeout` after
        `timeout` s, or at once while an earlier call for `key` is past its own time. With
        `share`, a call for `key` already running is waited on (until its own deadline) instead
        of starting another."""
        now = time.monotonic()
        with self._lock:
            calls = self._running.get(key, set())
            stuck = [c for c in calls if c.deadline <= now]
            running = next((c for c in calls if c.deadline > now), None) if share else None
        if stuck:
            self.refused += 1
            oldest = min(c.started for c in stuck)
            raise CaptureTimeout(
                f"{what}: an earlier call is still running after {now - oldest:.1f} s (the "
                f"{self.name} backend is stuck); not starting another until it returns"
            )
        call = running if running is not None else self._start(key, fn, args, now)
        waiter = asyncio.wrap_future(call.future)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=max(0.0, call.deadline - now))
        finally:
            if not waiter.done():
                waiter.cancel()  # only our wait (timed out or cancelled): the thread runs on
        if waiter in done:
            return waiter.result()  # type: ignore[no-any-return]
        self.timeouts += 1
        raise CaptureTimeout(
            f"{what} took longer than {self.timeout:g} s ({TIMEOUT_SETTING}); the "
            f"{self.name} backend's call was abandoned"
        )

    def _start(
        self, key: Hashable, fn: Callable[..., Any], args: tuple[Any, ...], now: float
    ) -> _Call:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()  # a running future ignores cancel()
        call = _Call(future, now, now + self.timeout)

        def run() -> None:
            try:
                result = fn(*args)
            except BaseException as exc:  # reported to the caller, whatever it is
                self._finish(key, call)
                future.set_exception(exc)
            else:
                self._finish(key, call)
                future.set_result(result)

        call.thread = threading.Thread(target=run, name=f"ironcliw-{self.name}-call", daemon=True)
        with self._lock:
            self._running.setdefault(key, set()).add(call)
        call.thread.start()
        return call

    def _finish(self, key: Hashable, call: _Call) -> None:
        with self._lock:
            calls = self._running.get(key)
            if calls is not None:
                calls.discard(call)
                if not calls:
                    del self._running[key]
