"""When to move work off this machine: the level red, held without a break.

The agent's own rule offloaded on psutil's memory percent (critical at 85 %), and psutil's
percent on macOS counts file cache and compressed pages as used, so a healthy Mac looked critical
and work went to paid cloud VMs. `OffloadAdvisor` listens to the manager's level instead (the
kernel's own verdict where there is one, classified with hysteresis) and advises offloading only
when red has lasted `offload_red_hold_seconds` (30 s by default), once per red episode: a short
spike is the cache's job (it shrinks at once), not a VM's. It is the trigger the replay benchmark
counts.

Two pieces, as the manager's: `RedHold` is the rule as pure state (fed levels and times), and
the advisor is a listener that feeds it and calls back when it fires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from ironcliw_mem.config import positive_float
from ironcliw_mem.manager import MacOSMemoryManager, MemoryStats, call_isolated
from ironcliw_mem.policy import MemoryPressure

log = logging.getLogger(__name__)

OffloadCallback = Callable[[MemoryStats | None], Awaitable[None] | None]


class RedHold:
    """Red held for `hold_seconds` without a break; due once per red episode.

    Any other level (yellow, green, unknown) ends the episode: an unreadable machine is no
    reason to pay for a VM.
    """

    def __init__(self, hold_seconds: float) -> None:
        self.hold_seconds = hold_seconds
        self.red_since: float | None = None
        self.fired = False

    def observe(self, level: MemoryPressure, now: float) -> None:
        if level is not MemoryPressure.RED:
            self.red_since = None
            self.fired = False
        elif self.red_since is None:
            self.red_since = now

    def seconds_left(self, now: float) -> float | None:
        """Until red has been held long enough; None when the level is not red."""
        if self.red_since is None:
            return None
        return max(0.0, self.red_since + self.hold_seconds - now)

    def held(self, now: float) -> bool:
        return self.seconds_left(now) == 0.0

    def take_trigger(self, now: float) -> bool:
        """True once per episode, the first time it is asked after red has been held."""
        if self.fired or not self.held(now):
            return False
        self.fired = True
        return True


class OffloadAdvisor:
    """Advises moving work off this machine when the manager's level has been red long enough.

    Poll `should_offload()` where the agent used to ask its own monitor, or pass `on_offload`
    (sync or async, called with the manager's last stats) to be told once per red episode. The
    callback needs the manager's event loop: the advisor arms a timer there when red begins.
    """

    def __init__(
        self,
        manager: MacOSMemoryManager,
        *,
        hold_seconds: float | None = None,
        on_offload: OffloadCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if hold_seconds is None:
            hold_seconds = manager.config.offload_red_hold_seconds
        else:
            try:
                hold_seconds = positive_float(hold_seconds)
            except ValueError as error:
                raise ValueError(f"hold_seconds must be {error}, got {hold_seconds!r}") from None
        if on_offload is not None and not callable(on_offload):
            raise TypeError(f"on_offload must be callable, got {type(on_offload).__name__}")
        self.manager = manager
        self.on_offload = on_offload
        self.triggers = 0
        self._clock = clock
        self._rule = RedHold(hold_seconds)
        self._timer: asyncio.TimerHandle | None = None
        self._callbacks_running: set[asyncio.Task[None]] = set()
        self._closed = False
        manager.register_pressure_callback(self._level_changed)
        self._follow(manager.current_pressure)  # the level may already be red

    @property
    def hold_seconds(self) -> float:
        return self._rule.hold_seconds

    def should_offload(self) -> bool:
        """True while the level has been red for at least `hold_seconds`."""
        self._rule.observe(self.manager.current_pressure, self._clock())
        return not self._closed and self._rule.held(self._clock())

    def seconds_until_offload(self) -> float | None:
        """How long red must still last before offloading is advised; None when not red."""
        self._rule.observe(self.manager.current_pressure, self._clock())
        return self._rule.seconds_left(self._clock())

    def close(self) -> None:
        """Stops listening; no callback comes after this."""
        self._closed = True
        self.manager.unregister_pressure_callback(self._level_changed)
        self._disarm()

    async def _level_changed(self, level: MemoryPressure, stats: MemoryStats) -> None:
        self._follow(level)

    def _follow(self, level: MemoryPressure) -> None:
        self._rule.observe(level, self._clock())
        self._disarm()
        left = self._rule.seconds_left(self._clock())
        if left is None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # made outside a loop: the first change (on the loop) arms it
            return
        self._timer = loop.call_later(left, self._fire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if self._closed:
            return
        left = self._rule.seconds_left(self._clock())
        if left is not None and left > 0:  # the loop may wake a timer a clock tick early
            self._timer = asyncio.get_running_loop().call_later(left, self._fire)
            return
        if not self._rule.take_trigger(self._clock()):
            return
        self.triggers += 1
        log.warning(
            "memory red for %.0f s: offloading advised (trigger %d)",
            self._rule.hold_seconds,
            self.triggers,
        )
        if self.on_offload is not None:
            task = asyncio.ensure_future(
                call_isolated(self.on_offload, self.manager.last_stats, what="offload callback")
            )
            self._callbacks_running.add(task)  # referenced until done: a task is held weakly
            task.add_done_callback(self._callbacks_running.discard)
