"""When to move work off this machine: the level red, held without a break.

The agent's own rule offloaded on psutil's memory percent (critical at 85 %), and psutil's
percent on macOS counts file cache and compressed pages as used, so a healthy Mac looked critical
and work went to paid cloud VMs. `OffloadAdvisor` follows the manager's level instead (the
kernel's own verdict where there is one, classified with hysteresis) and advises offloading only
when red has lasted `offload_red_hold_seconds` (30 s by default) without a break, once per red
episode: a short spike is the cache's job (its budget drops at once), not a VM's. It is the
trigger the replay benchmark counts.

Two pieces, as the manager's: `RedHold` is the rule as pure state (fed the level and when it
began), and the advisor is a listener that feeds it from the manager and calls back when it is
due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ironcliw_mem.callbacks import WeakPressureListener, call_isolated, weakly
from ironcliw_mem.config import positive_float
from ironcliw_mem.levels import MemoryPressure
from ironcliw_mem.manager import MacOSMemoryManager, MemoryStats

log = logging.getLogger(__name__)

OffloadCallback = Callable[[MemoryStats], Awaitable[None] | None]


class RedHold:
    """Red held for `hold_seconds` without a break; due once per red episode.

    An episode is known by when it began, so a break that was never seen (red, yellow, red
    between two looks) still starts a new one. Any level but red ends it, unknown included: an
    unreadable machine is no reason to pay for a VM.
    """

    def __init__(self, hold_seconds: float) -> None:
        self.hold_seconds = hold_seconds
        self.red_since: float | None = None
        self._fired_for: float | None = None

    def observe(self, level: MemoryPressure, since: float) -> None:
        """The level now, and when it began."""
        self.red_since = since if level is MemoryPressure.RED else None

    def seconds_left(self, now: float) -> float | None:
        """Until red has been held long enough (0 once it has); None when the level is not red."""
        if self.red_since is None:
            return None
        return max(0.0, self.red_since + self.hold_seconds - now)

    def held(self, now: float) -> bool:
        """Red for at least `hold_seconds` by `now`."""
        return self.seconds_left(now) == 0.0

    def take_trigger(self, now: float) -> bool:
        """True once per episode, the first time it is asked after red has been held."""
        if not self.held(now) or self._fired_for == self.red_since:
            return False
        self._fired_for = self.red_since
        return True


class OffloadAdvisor:
    """Advises moving work off this machine when the manager's level has been red long enough.

    `should_offload()` is a state (true for the rest of the red episode, for code that polls);
    `on_offload(stats)`, sync or async, is the trigger: called once per red episode, which is
    where to start a VM. The callback's timer runs on the event loop the advisor is made on, so
    with `on_offload` it must be made there; use it from that loop. The level and its start come
    from the manager (its `current_pressure`, `pressure_since` and `clock`, which must run with
    real time for the timer to meet it; the default does).

    Keep a reference: the manager holds the advisor weakly, so a dropped advisor, like a closed
    one, advises nothing more.
    """

    def __init__(
        self,
        manager: MacOSMemoryManager,
        *,
        hold_seconds: float | None = None,
        on_offload: OffloadCallback | None = None,
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
        self._loop: asyncio.AbstractEventLoop | None = None
        if on_offload is not None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "OffloadAdvisor(on_offload=...) must be made on the manager's event loop, "
                    "where its timer runs"
                ) from None
        self.manager = manager
        self.on_offload = on_offload
        self.triggers = 0
        self._rule = RedHold(hold_seconds)
        self._timer: asyncio.TimerHandle | None = None
        self._callbacks_running: set[asyncio.Task[None]] = set()
        self._closed = False
        self._listener = WeakPressureListener(self._level_changed)
        self._listener.attach(manager)
        self._arm()  # the level may be red already

    @property
    def hold_seconds(self) -> float:
        return self._rule.hold_seconds

    def should_offload(self) -> bool:
        """True while the level has been red for at least `hold_seconds`."""
        return self._follow() and self._rule.held(self.manager.clock())

    def seconds_until_offload(self) -> float | None:
        """How long red must still last before offloading is advised (0 once it has lasted);
        None when the level is not red, or the advisor is closed."""
        return self._rule.seconds_left(self.manager.clock()) if self._follow() else None

    def close(self) -> None:
        """Stops advising: no callback starts after this (one already running finishes)."""
        self._closed = True
        self._listener.detach()
        self._disarm()

    def _follow(self) -> bool:
        """Brings the rule up to the manager's level; False when closed."""
        if self._closed:
            return False
        since = self.manager.pressure_since
        self._rule.observe(self.manager.current_pressure, 0.0 if since is None else since)
        return True

    def _level_changed(self, level: MemoryPressure, stats: MemoryStats) -> None:
        # The manager's level, not `level`: deliveries can lag behind the checks.
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        if not self._follow() or self._loop is None:
            return
        left = self._rule.seconds_left(self.manager.clock())
        if left is not None:
            self._timer = self._loop.call_later(left, weakly(self._fire))

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if not self._follow():
            return
        now = self.manager.clock()
        left = self._rule.seconds_left(now)
        if left is not None and left > 0:  # the loop may wake a timer a clock tick early
            self._arm()
            return
        stats = self.manager.last_stats
        if stats is None or not self._rule.take_trigger(now):
            return
        self.triggers += 1
        log.warning("memory red for %.0f s: offloading advised", self.hold_seconds)
        if self.on_offload is not None:
            calling = call_isolated(self.on_offload, stats, what="offload callback")
            task = asyncio.ensure_future(calling)
            self._callbacks_running.add(task)  # referenced until done: a task is held weakly
            task.add_done_callback(self._callbacks_running.discard)
