"""The asyncio memory manager the agent imports (`MacOSMemoryManager`, alias `MemoryManager`).

Three separate pieces, as in Chromium's memory-pressure components: the evaluator (the Rust probe,
read in a worker thread), the voter (the Rust classifier with hysteresis) and the listeners (the
registered callbacks, notified once per change, in order, each isolated from the others).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from ironcliw_mem import pressure
from ironcliw_mem.activity import (
    ACTIVITY_POLL_SECONDS,
    ActivityReader,
    ActivityReading,
    classify_activity,
    seconds_until_next_read,
    select_activity_reader,
)
from ironcliw_mem.callbacks import call_isolated
from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.gpu import GpuMonitor, GpuReading
from ironcliw_mem.levels import ActivityState, MemoryPressure
from ironcliw_mem.policy import LevelPolicy, policy_for, should_monitor_all_spaces
from ironcliw_mem.process_memory import ProcessFootprint

log = logging.getLogger(__name__)

GIB = 1024**3
# How long the watcher thread blocks in the kernel per call. Stopping does not wait for it (closing
# the watcher ends a wait at once, through its cancel pipe), so it only sets how often an idle
# thread wakes for nothing: rarely, so that a machine whose user is away is left to sleep.
WATCHER_SLICE_SECONDS = 60.0
# How long stopping waits for the thread to end after the close woke it.
WATCHER_JOIN_SECONDS = 2.0

_S = TypeVar("_S")
_L = TypeVar("_L")
PressureCallback = Callable[[MemoryPressure, "MemoryStats"], Awaitable[None] | None]
# `cb(level, device_stats)`: one device's dict as get_stats_summary()["gpu"] lists it.
GpuPressureCallback = Callable[[MemoryPressure, dict[str, Any]], Awaitable[None] | None]
# `cb(state, info)`: info as get_stats_summary()["activity"] shows it.
ActivityCallback = Callable[[ActivityState, dict[str, Any]], Awaitable[None] | None]


@dataclass
class MemoryStats:
    """One reading, in the agent's original shape plus what explains it."""

    pressure: MemoryPressure
    total_gb: float
    available_gb: float
    used_percent: float
    app_memory_gb: float
    wired_memory_gb: float
    compressed_gb: float
    swap_used_gb: float
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    measured_pressure: MemoryPressure = MemoryPressure.UNKNOWN
    forced: bool = False
    reasons: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    signals: dict[str, Any] = field(default_factory=dict)
    process_rss_mb: float = 0.0
    process_uss_mb: float | None = None


def effective_memory(sample: pressure.Sample) -> tuple[int | None, int | None]:
    """(total, available) bytes as this process experiences them.

    Inside a memory-limited cgroup the limit and the cgroup's headroom are the truth; the host's
    figures (what psutil reports) are not.
    """
    total, available = sample.total, sample.available
    limit = sample.cgroup_limit
    if limit is not None and (total is None or limit < total):
        working_set = sample.cgroup_working_set or sample.cgroup_usage or 0
        cgroup_available = max(0, limit - working_set)
        total = limit
        available = cgroup_available if available is None else min(available, cgroup_available)
    return total, available


def stats_from_sample(
    sample: pressure.Sample,
    verdict: pressure.Verdict,
    pressure_level: MemoryPressure,
    forced: bool,
    footprint: tuple[float, float | None],
) -> MemoryStats:
    total, available = effective_memory(sample)
    total_b = total or 0
    available_b = min(available or 0, total_b) if total_b else 0
    used_b = max(0, total_b - available_b)
    # The host's "used" means nothing inside a smaller cgroup; there the cgroup's own use counts.
    in_cgroup = total is not None and total != sample.total
    app_b = used_b if in_cgroup or sample.used is None else sample.used
    return MemoryStats(
        pressure=pressure_level,
        total_gb=total_b / GIB,
        available_gb=available_b / GIB,
        used_percent=100.0 * used_b / total_b if total_b else 0.0,
        app_memory_gb=max(0, app_b) / GIB,
        wired_memory_gb=(sample.wired or 0) / GIB,
        compressed_gb=(sample.compressed or 0) / GIB,
        swap_used_gb=(sample.swap_used or 0) / GIB,
        timestamp=datetime.now(UTC),
        measured_pressure=MemoryPressure.from_level(verdict.level),
        forced=forced,
        reasons=list(verdict.reasons),
        sources=list(sample.sources),
        signals=dict(sample.to_dict()),
        process_rss_mb=footprint[0],
        process_uss_mb=footprint[1],
    )


class PressureListeners(Generic[_L, _S]):
    """Callbacks notified once per level change, in registration order, each isolated; `_L` is
    the level (a `MemoryPressure`, an `ActivityState`), `_S` what they get with it
    (`MemoryStats`, a GPU device's stats, the activity's info)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[_L, _S], Awaitable[None] | None]] = []
        self._pending: collections.deque[tuple[_L, _S]] = collections.deque()
        self._delivery: asyncio.Task[None] | None = None

    def register(self, callback: Callable[[_L, _S], Awaitable[None] | None]) -> None:
        if not callable(callback):
            raise TypeError(f"a pressure callback must be callable, got {type(callback).__name__}")
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def unregister(self, callback: Callable[[_L, _S], Awaitable[None] | None]) -> bool:
        try:
            self._callbacks.remove(callback)
        except ValueError:
            return False
        return True

    def __len__(self) -> int:
        return len(self._callbacks)

    async def publish(self, level: _L, stats: _S) -> None:
        """Queues a change and waits until the queue has been delivered, in order.

        Delivery runs in its own task: cancelling a caller (a timeout around `check_pressure`,
        `stop_monitoring` mid-callback) cannot drop a change for the remaining listeners. A
        callback that itself triggers a check only queues its change; the running delivery
        picks it up after the current one.
        """
        self._pending.append((level, stats))
        delivery = self._delivery
        if delivery is None or delivery.done():
            delivery = self._delivery = asyncio.ensure_future(self._deliver())
        if asyncio.current_task() is not delivery:
            await asyncio.shield(delivery)

    async def _deliver(self) -> None:
        while self._pending:
            change = self._pending.popleft()
            for callback in list(self._callbacks):
                await call_isolated(callback, *change, what="pressure callback")


class _WatcherThread:
    """Blocks in the kernel's pressure notification and sets an asyncio event when it fires."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
        self._loop = loop
        self._wake = wake
        self._stopped = threading.Event()
        self._watcher: pressure.PressureWatcher | None = None
        try:
            self._watcher = pressure.PressureWatcher()
        except (OSError, ValueError) as exc:
            log.info("no kernel pressure notifications (%s); polling only", exc)
        self.mechanism = self._watcher.mechanism if self._watcher else "none"
        self._thread: threading.Thread | None = None
        if self._watcher is not None and self.mechanism != "none":
            self._thread = threading.Thread(
                target=self._run, name="ironcliw-pressure-watcher", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        assert self._watcher is not None
        while not self._stopped.is_set():
            try:
                fired = self._watcher.wait(WATCHER_SLICE_SECONDS)
            except (OSError, ValueError):
                if not self._stopped.is_set():  # ValueError: closed by stop() meanwhile
                    log.exception("pressure watcher failed; polling only from now on")
                return
            if fired and not self._stopped.is_set():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        self._stopped.set()
        if self._watcher is not None:
            self._watcher.close()  # also ends a wait in progress on the thread
        if self._thread is not None:
            self._thread.join(timeout=WATCHER_JOIN_SECONDS)


class MacOSMemoryManager:
    """Reads memory pressure, keeps the level, tells listeners, recommends budgets.

    Works on macOS (kernel level + Mach statistics) and Linux (PSI, cgroups, meminfo); elsewhere
    it falls back to psutil. `read_sample` and `clock` are injectable for tests and simulations.
    """

    def __init__(
        self,
        config: MemoryConfig | None = None,
        *,
        read_sample: Callable[[], pressure.Sample] | None = None,
        clock: Callable[[], float] = time.monotonic,
        watch_kernel_events: bool = True,
        read_gpu: Callable[[], GpuReading] | None = None,
        activity_reader: ActivityReader | None = None,
    ) -> None:
        self.config = config if config is not None else MemoryConfig()
        self._read_sample = read_sample or pressure.read_sample
        self._clock = clock
        self._classifier = pressure.Classifier(pressure.Thresholds(**self.config.thresholds))
        self._listeners = PressureListeners[MemoryPressure, MemoryStats]()
        self._gpu = GpuMonitor(pressure.Thresholds(**self.config.thresholds), read_gpu)
        self._gpu_listeners = PressureListeners[MemoryPressure, dict[str, Any]]()
        self._footprint = ProcessFootprint()
        self._override: MemoryPressure | None = self.config.pressure_override
        self._watch_kernel_events = watch_kernel_events
        self._check_lock: asyncio.Lock | None = None
        self._probe_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._monitor_task: asyncio.Task[None] | None = None
        self._watcher: _WatcherThread | None = None
        self._wake: asyncio.Event | None = None
        self.current_pressure = MemoryPressure.UNKNOWN
        # When (on `clock`) the current level began: the check that first read it.
        self.pressure_since: float | None = None
        self.last_stats: MemoryStats | None = None
        self.checks = 0
        self.kernel_wakeups = 0
        # The user's activity: the platform's reader unless one is given (chosen when first
        # needed, so a manager that never monitors opens no X connection).
        self._activity_reader = activity_reader
        self._owns_activity_reader = activity_reader is None
        self._activity_listeners = PressureListeners[ActivityState, dict[str, Any]]()
        self._activity_task: asyncio.Task[None] | None = None
        self._activity_lock: asyncio.Lock | None = None
        self._woken_for_activity = False
        self.current_activity = ActivityState.UNKNOWN
        self.activity_reading: ActivityReading | None = None
        self.activity_changes = 0

    @property
    def clock(self) -> Callable[[], float]:
        """The manager's time in seconds (monotonic unless one was given): `pressure_since`'s."""
        return self._clock

    # --- listeners ---------------------------------------------------------------------------

    def register_pressure_callback(self, callback: PressureCallback) -> None:
        """`callback(new_pressure, stats)` runs once per level change; it may be async."""
        self._listeners.register(callback)

    def unregister_pressure_callback(self, callback: PressureCallback) -> bool:
        return self._listeners.unregister(callback)

    def register_gpu_pressure_callback(self, callback: GpuPressureCallback) -> None:
        """`callback(level, device_stats)` runs once per GPU device whose level changes; it may
        be async. The GPU level is its own signal (unload a model); it never sets the cache."""
        self._gpu_listeners.register(callback)

    def unregister_gpu_pressure_callback(self, callback: GpuPressureCallback) -> bool:
        return self._gpu_listeners.unregister(callback)

    def register_activity_callback(self, callback: ActivityCallback) -> None:
        """`callback(state, info)` runs once per change of the user's activity state; it may be
        async. `info` is what `get_stats_summary()["activity"]` shows."""
        self._activity_listeners.register(callback)

    def unregister_activity_callback(self, callback: ActivityCallback) -> bool:
        return self._activity_listeners.unregister(callback)

    @property
    def gpu_devices(self) -> list[dict[str, Any]]:
        """The last reading's GPU devices with their levels; empty when there is no GPU."""
        return self._gpu.devices

    # --- readings ----------------------------------------------------------------------------

    def _measure(self) -> tuple[pressure.Sample, tuple[float, float | None]]:
        try:
            sample = self._read_sample()
        except Exception as exc:
            # A failed probe is a reading with no signals: the classifier says unknown (or
            # holds its last level), never green, and the stats say why.
            log.warning("memory probe failed: %s", exc)
            sample = pressure.Sample.from_values(problems=[f"probe failed: {exc}"])
        return sample, self._footprint.read()

    async def check_pressure(self) -> MemoryPressure:
        """Takes a reading now (off the event loop) and notifies listeners if the level changed.

        Concurrent calls are serialised, so one change is announced once.
        """
        if self._check_lock is None:
            self._check_lock = asyncio.Lock()
        async with self._check_lock:
            sample, footprint = await self._off_the_loop(self._measure)
            gpu_reading = await self._off_the_loop(self._gpu.read)
            now = self._clock()
            gpu_changes = self._gpu.update(gpu_reading, now)
            verdict = self._classifier.update(sample, now)
            override = self._override
            level = override if override is not None else MemoryPressure.from_level(verdict.level)
            stats = stats_from_sample(sample, verdict, level, override is not None, footprint)
            previous = self.current_pressure
            self.current_pressure = level
            if level is not previous:
                self.pressure_since = now
            self.last_stats = stats
            self.checks += 1
        if level is not previous:
            log.info("memory pressure %s -> %s (%s)", previous.value, level.value, verdict.reasons)
            await self._listeners.publish(level, stats)
        for gpu_level, device in gpu_changes:
            log.info(
                "GPU %s memory level -> %s (%s)",
                device["index"],
                device["level"],
                device["reasons"],
            )
            await self._gpu_listeners.publish(gpu_level, device)
        return level

    async def _off_the_loop(self, read: Callable[[], _S]) -> _S:
        """Runs a probe read in the manager's own thread, never in the loop's default pool:
        captures and whatever else the program runs there (a hung capture backend included)
        cannot make a pressure check wait behind them."""
        executor = self._probe_executor
        if executor is None:
            executor = self._probe_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="ironcliw-probe"
            )
            # The thread ends with the manager, which tests and tools make many of.
            weakref.finalize(self, executor.shutdown, wait=False)
        return await asyncio.get_running_loop().run_in_executor(executor, read)

    async def override_pressure(self, level: MemoryPressure | str | None) -> MemoryPressure:
        """Forces a level (for tests and demos) until called with None; applies it at once."""
        self._override = level if level is None else _as_pressure(level)
        return await self.check_pressure()

    @property
    def pressure_override(self) -> MemoryPressure | None:
        return self._override

    # --- the user's activity -----------------------------------------------------------------

    @property
    def activity_reader(self) -> ActivityReader:
        if self._activity_reader is None:
            self._activity_reader = select_activity_reader()
        return self._activity_reader

    async def check_activity(self) -> ActivityState:
        """Reads the user's activity now (off the event loop) and notifies activity listeners
        if the state changed. Concurrent calls are serialised, so one change is announced once."""
        if self._activity_lock is None:
            self._activity_lock = asyncio.Lock()
        async with self._activity_lock:
            reader = self.activity_reader
            try:
                reading = await asyncio.to_thread(reader.read)
            except Exception as exc:  # a reader must not end monitoring: unknown, with why
                reading = ActivityReading(None, None, None, reader.source, f"failed: {exc}")
            state = classify_activity(
                reading, self.config.idle_after_seconds, self.config.away_after_seconds
            )
            previous = self.current_activity
            self.current_activity = state
            self.activity_reading = reading
        if state is not previous:
            self.activity_changes += 1
            log.info("user activity %s -> %s (%s)", previous.value, state.value, reading)
            if previous is ActivityState.AWAY and self._wake is not None:
                # Back from away: the stretched pressure poll takes a reading now.
                self._woken_for_activity = True
                self._wake.set()
            await self._activity_listeners.publish(state, self.activity_summary())
        return state

    def activity_summary(self) -> dict[str, Any]:
        """{"state", "idle_seconds", "frontmost_pid", "source"} (+ the lock and any problem)."""
        reading = self.activity_reading
        summary: dict[str, Any] = {
            "state": self.current_activity.value,
            "idle_seconds": None,
            "frontmost_pid": None,
            "source": "none" if reading is None else reading.source,
        }
        if reading is not None:
            details = reading.to_dict()
            summary.update(
                idle_seconds=details["idle_seconds"],
                frontmost_pid=details["frontmost_pid"],
                screen_locked=details["screen_locked"],
            )
            if reading.problem:
                summary["problem"] = reading.problem
        return summary

    @property
    def pressure_poll_interval(self) -> float:
        """Seconds between pressure readings: PRESSURE_CHECK_INTERVAL, times AWAY_POLL_FACTOR
        while the user is away (timers coalesce; kernel pressure events still wake it)."""
        interval = self.config.pressure_check_interval
        if self.current_activity is ActivityState.AWAY and self.config.activity_policy:
            interval *= self.config.away_poll_factor
        return interval

    async def _follow_activity(self) -> None:
        """Reads the activity when it can next change: at the idle threshold while active; on
        input (XInput2 raw events) or every ACTIVITY_POLL_SECONDS while idle or away."""
        reader = self.activity_reader
        fd = reader.input_fd()
        events = fd is not None
        loop = asyncio.get_running_loop()
        input_seen = asyncio.Event()

        def on_input(fd: int) -> None:
            nonlocal events
            try:
                if reader.drain_input():
                    input_seen.set()
            except Exception:
                log.exception("reading input events failed; polling the idle time instead")
                loop.remove_reader(fd)
                events = False
                input_seen.set()  # the wait for input would never end: read again now

        if fd is not None:
            loop.add_reader(fd, on_input, fd)
        try:
            while True:
                state = await self.check_activity()
                reading = self.activity_reading
                if reading is None or reading.source == "none":
                    return  # nothing will ever be read: unknown, acting as active
                wait = seconds_until_next_read(
                    reading,
                    state,
                    self.config.idle_after_seconds,
                    self.config.away_after_seconds,
                    input_events=events,
                )
                armed = events and state in (ActivityState.IDLE, ActivityState.AWAY)
                input_seen.clear()
                try:
                    reader.arm_input(armed)
                except Exception:
                    log.exception("arming input events failed; polling the idle time instead")
                    armed = events = False
                    wait = ACTIVITY_POLL_SECONDS
                if armed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(input_seen.wait(), timeout=wait)
                else:
                    # Unknown (a reader that failed) retries at the pressure poll's pace.
                    await asyncio.sleep(
                        self.config.pressure_check_interval if wait is None else wait
                    )
        finally:
            if fd is not None:
                loop.remove_reader(fd)
                with contextlib.suppress(Exception):
                    reader.arm_input(False)

    async def start_monitoring(self) -> None:
        """Starts the background monitor; it runs until `stop_monitoring()`."""
        if self._monitor_task is not None and not self._monitor_task.done():
            return
        self._stop_watcher()  # one left by a monitor whose event loop ended without a stop
        self._wake = asyncio.Event()
        if self._watch_kernel_events:
            self._watcher = _WatcherThread(asyncio.get_running_loop(), self._wake)
        self._monitor_task = asyncio.create_task(self._monitor(), name="ironcliw-memory-monitor")
        self._activity_task = asyncio.create_task(
            self._follow_activity(), name="ironcliw-activity-monitor"
        )

    async def stop_monitoring(self) -> None:
        for task in (self._monitor_task, self._activity_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._monitor_task = self._activity_task = None
        self._stop_watcher()
        reader = self._activity_reader
        if reader is not None and self._owns_activity_reader:
            # One the manager chose (an X connection): closed, and chosen again on a restart.
            self._activity_reader = None
            reader.close()

    def _stop_watcher(self) -> None:
        # Closing wakes the blocked thread at once, so this does not wait on the kernel.
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    @property
    def monitoring(self) -> bool:
        return self._monitor_task is not None and not self._monitor_task.done()

    @property
    def event_mechanism(self) -> str:
        return self._watcher.mechanism if self._watcher else "none"

    async def _monitor(self) -> None:
        assert self._wake is not None
        try:
            while True:
                try:
                    await self.check_pressure()
                except Exception:
                    # Nothing may end monitoring: log it and try again next period.
                    log.exception("memory pressure check failed")
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.pressure_poll_interval)
                    if not self._woken_for_activity:
                        self.kernel_wakeups += 1
                except TimeoutError:
                    pass
                self._woken_for_activity = False
                self._wake.clear()
        finally:
            # Also when the task is cancelled because its event loop is closing (asyncio.run
            # returning without stop_monitoring): the kernel watcher thread must not outlive it.
            self._stop_watcher()

    # --- recommendations ---------------------------------------------------------------------

    @property
    def policy(self) -> LevelPolicy:
        return policy_for(self.config, self.current_pressure, self.current_activity)

    def get_recommended_cache_size(self) -> int:
        """Cache budget in MB for the current level."""
        return self.policy.cache_budget_mb

    def get_recommended_quality(self) -> str:
        """Capture quality name for the current level ("full", "optimized", "fast", "thumbnail")."""
        return self.policy.capture_quality.value

    def should_monitor_all_spaces(self) -> bool:
        return should_monitor_all_spaces(self.config, self.current_pressure)

    def get_stats_summary(self) -> dict[str, Any]:
        """The latest reading with recommendations; `pressure` is present from the first reading."""
        policy = self.policy
        summary: dict[str, Any] = {
            "pressure": self.current_pressure.value,
            "level": self.current_pressure.level_name,
            "recommended_cache_mb": policy.cache_budget_mb,
            "recommended_quality": policy.capture_quality.value,
            "recommended_jpeg_quality": policy.jpeg_quality,
            "monitoring_strategy": policy.monitoring.value,
            "monitor_all_spaces": self.should_monitor_all_spaces(),
            "adaptive": policy.adaptive,
            "forced": self._override is not None,
            "monitoring": self.monitoring,
            "event_mechanism": self.event_mechanism,
            "checks": self.checks,
            "gpu": self._gpu.summary(),
            "activity": self.activity_summary(),
            "pressure_poll_interval": self.pressure_poll_interval,
        }
        stats = self.last_stats
        if stats is None:
            summary["timestamp"] = datetime.now(UTC).isoformat()
            summary["reasons"] = ["no reading yet"]
            return summary
        summary.update(
            {
                "total_gb": round(stats.total_gb, 3),
                "available_gb": round(stats.available_gb, 3),
                "used_percent": round(stats.used_percent, 1),
                "app_memory_gb": round(stats.app_memory_gb, 3),
                "wired_memory_gb": round(stats.wired_memory_gb, 3),
                "compressed_gb": round(stats.compressed_gb, 3),
                "swap_used_gb": round(stats.swap_used_gb, 3),
                "timestamp": stats.timestamp.isoformat(),
                "measured_pressure": stats.measured_pressure.value,
                "reasons": stats.reasons,
                "sources": stats.sources,
                "signals": stats.signals,
                "process": {"rss_mb": stats.process_rss_mb, "uss_mb": stats.process_uss_mb},
            }
        )
        return summary


MemoryManager = MacOSMemoryManager


def _as_pressure(level: MemoryPressure | str) -> MemoryPressure:
    return level if isinstance(level, MemoryPressure) else MemoryPressure.parse(level)


_manager: MacOSMemoryManager | None = None
_manager_lock = threading.Lock()


def get_memory_manager(config: MemoryConfig | None = None) -> MacOSMemoryManager:
    """The process-wide manager; `config` applies only when it is first created."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = MacOSMemoryManager(config)
        return _manager


async def initialize_memory_manager(config: MemoryConfig | None = None) -> MacOSMemoryManager:
    """The process-wide manager, after its first readings (pressure and the user's activity) and
    with monitoring started."""
    manager = get_memory_manager(config)
    if manager.last_stats is None:
        await manager.check_pressure()
    if manager.activity_reading is None:
        await manager.check_activity()
    await manager.start_monitoring()
    return manager


def reset_memory_manager_for_tests() -> None:
    """Forgets the process-wide manager (its monitor must be stopped first)."""
    global _manager
    with _manager_lock:
        _manager = None
