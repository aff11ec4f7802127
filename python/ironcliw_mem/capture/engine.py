"""`MultiSpaceCaptureEngine`: captures the spaces the memory policy allows, at the tier it allows.

Capture and encoding run in worker threads (the Rust encoder releases the GIL, so spaces encode
in parallel); two concurrent requests for the same space and tier share one capture; a failure
in one space is reported in `errors` and does not fail the others. The engine reads time and
encodes through its cache (`clock=`, `encoder=`), so a capture's age and its tiers follow the
same clock and encoder as the cache's entries.

The backend is someone else's code: every call into it is bounded by CAPTURE_TIMEOUT_SECONDS
(`capture/bounded.py`), whatever it raises is reported in the result, never raised from
`capture_all_spaces`, and so is a failing or hanging request callback (`callback_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ironcliw_mem.allocator import keep_frames_out_of_the_heap
from ironcliw_mem.capture.backends import CaptureBackend
from ironcliw_mem.capture.bounded import TIMEOUT_SETTING, BoundedCalls
from ironcliw_mem.capture.cache import MultiSpaceCaptureCache
from ironcliw_mem.capture.encoding import NATIVE_ENCODER, TierEncoder, pixel_format_of
from ironcliw_mem.capture.select import backend_reason, select_backend
from ironcliw_mem.capture.types import (
    PREFETCH_REASONS,
    UNASKED_REASONS,
    CaptureMethod,
    JpegScreenshot,
    SpaceCaptureMetadata,
    SpaceCaptureRequest,
    SpaceCaptureResult,
)
from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.levels import CaptureQuality, MemoryPressure
from ironcliw_mem.policy import LevelPolicy, policy_for, spaces_to_watch

if TYPE_CHECKING:
    from ironcliw_mem.manager import MacOSMemoryManager

log = logging.getLogger(__name__)

CAPTURE_METHOD_OF_BACKEND = {
    "macos": CaptureMethod.SCREENCAPTURE_API,
    "x11": CaptureMethod.SCREENCAPTURE_API,
}

Captured = tuple[JpegScreenshot, SpaceCaptureMetadata]


class RequestOptimizer(Protocol):
    """What the engine asks of its optimizer (`MultiSpaceOptimizer` is one)."""

    async def optimize_capture_request(
        self, request: SpaceCaptureRequest
    ) -> SpaceCaptureRequest: ...

    def track_active_space(self, space_id: int) -> None: ...

    def track_capture_performance(
        self, space_id: int, capture_time: float, cache_hit: bool
    ) -> None: ...


class MultiSpaceCaptureEngine:
    """Captures desktop spaces as JPEG tiers, within the memory policy of the current level."""

    def __init__(
        self,
        cache_size_mb: int | None = None,
        memory_manager: MacOSMemoryManager | None = None,
        *,
        backend: CaptureBackend | None = None,
        config: MemoryConfig | None = None,
        clock: Callable[[], float] | None = None,
        encoder: TierEncoder | None = None,
        cache: MultiSpaceCaptureCache | None = None,
    ) -> None:
        """`clock` (monotonic seconds) and `encoder` go to the cache the engine builds; or
        `cache` is one built by the caller (with its own clock and encoder), used as it is."""
        if cache is not None and (
            cache_size_mb is not None or clock is not None or encoder is not None
        ):
            raise ValueError(
                "pass either cache= or the parts of a new one (cache_size_mb, clock, encoder)"
            )
        if config is None:
            config = memory_manager.config if memory_manager is not None else MemoryConfig()
        self.config = config
        if config.tune_malloc:
            keep_frames_out_of_the_heap()
        # The screen the platform offers (macOS, X11), synthetic screens where there is none.
        self.backend: CaptureBackend = backend if backend is not None else select_backend()
        self._owns_backend = backend is None  # one it chose, it closes; one given, its owner does
        # The layout of the backend's frames, checked now (a bad one is the backend's bug).
        self.pixel_format = pixel_format_of(self.backend)
        self._backend_calls = BoundedCalls(
            config.capture_timeout_seconds, name=str(getattr(self.backend, "name", "custom"))
        )
        if cache is None:
            cache = MultiSpaceCaptureCache(
                max_size_mb=cache_size_mb,
                config=config,
                clock=clock or time.monotonic,
                encoder=encoder or NATIVE_ENCODER,
            )
        self.cache = cache
        self.memory_manager = memory_manager
        if memory_manager is not None:
            self.cache.set_memory_manager(memory_manager)
        self.optimizer: RequestOptimizer | None = None
        self.current_space_id = 1
        self.monitoring_active = False
        self._in_flight: dict[tuple[int, CaptureQuality], asyncio.Task[Captured]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        # Request callbacks cancelled after their time, held until they end (they may not).
        self._abandoned_callbacks: set[asyncio.Future[Any]] = set()
        self.captures_made = 0
        self.capture_failures = 0
        self.shared_captures = 0
        self.bytes_encoded = 0

    # --- policy ------------------------------------------------------------------------------

    @property
    def pressure(self) -> MemoryPressure:
        if self.memory_manager is None:
            return MemoryPressure.UNKNOWN
        return self.memory_manager.current_pressure

    @property
    def policy(self) -> LevelPolicy:
        manager = self.memory_manager
        if manager is None:
            return policy_for(self.config, None)
        return policy_for(self.config, manager.current_pressure, manager.current_activity)

    def get_quality_for_pressure(self, requested_quality: CaptureQuality) -> CaptureQuality:
        """The requested tier, lowered to the level's tier; never raised. By fidelity."""
        return self.policy.cap_quality(CaptureQuality.parse(requested_quality))

    async def enumerate_spaces(self) -> list[int]:
        return sorted(
            await self._backend_calls.call(
                "list_spaces", "listing the spaces", self.backend.list_spaces, share=True
            )
        )

    async def get_current_space(self) -> int:
        self.current_space_id = await self._backend_calls.call(
            "current_space",
            "asking for the current space",
            self.backend.current_space,
            share=True,
        )
        return self.current_space_id

    async def get_spaces_to_monitor(self) -> list[int]:
        """The spaces the policy lets us watch: all (green), the active space and its neighbours
        (yellow), the active space only (red, or the user idle or away); always within
        MONITORED_SPACES when it is set."""
        return self._spaces_to_monitor(
            await self.enumerate_spaces(), await self.get_current_space()
        )

    def _spaces_to_monitor(
        self, spaces: list[int], active: int, *, asked: bool = False
    ) -> list[int]:
        return spaces_to_watch(
            self.policy, spaces, active, self.config.monitored_spaces, asked=asked
        )

    # --- capture -----------------------------------------------------------------------------

    async def check_system_health(self) -> tuple[bool, str, dict[str, Any] | None]:
        """(healthy, message, details): the backend must list at least one space."""
        try:
            spaces = await self.enumerate_spaces()
        except Exception as exc:
            return False, f"capture backend {self.backend.name!r} failed: {exc}", None
        info = {"backend": self.backend.name, "spaces": spaces, "pressure": self.pressure.value}
        if not spaces:
            return False, f"capture backend {self.backend.name!r} lists no spaces", info
        return True, "System is healthy", info

    async def capture_all_spaces(self, request: SpaceCaptureRequest) -> SpaceCaptureResult:
        started = time.perf_counter()
        healthy, message, info = await self.check_system_health()
        if not healthy or info is None:
            return SpaceCaptureResult({}, {}, False, time.perf_counter() - started, {-1: message})
        if self.optimizer is not None:
            request = await self.optimizer.optimize_capture_request(request)
        quality = self.get_quality_for_pressure(request.quality)
        try:
            active = await self.get_current_space()
        except Exception as exc:
            message = (
                f"capture backend {self.backend.name!r} could not say the current space: "
                f"{type(exc).__name__}: {exc}"
            )
            return SpaceCaptureResult({}, {}, False, time.perf_counter() - started, {-1: message})
        if self.optimizer is not None:
            self.optimizer.track_active_space(active)
        policy = self.policy
        asked = request.reason not in UNASKED_REASONS
        allowed = set(self._spaces_to_monitor(info["spaces"], active, asked=asked))
        if not asked and not policy.unasked_captures:
            allowed = set()  # the user is away: nothing is captured unless asked
        result = SpaceCaptureResult(
            {}, {}, False, 0.0, quality=quality, pressure=self.pressure.value
        )
        wanted: list[int] = []
        existing = set(info["spaces"])
        for space_id in dict.fromkeys(request.space_ids):
            if space_id not in existing:
                result.errors[space_id] = (
                    f"space {space_id} does not exist (spaces: {sorted(existing)})"
                )
            elif space_id in allowed:
                wanted.append(space_id)
            else:
                result.skipped[space_id] = _skip_reason(policy, asked, self.pressure)
        to_capture: list[int] = []
        for space_id in wanted:
            cached = (
                await self.cache.get(space_id, quality, request.cache_ttl)
                if request.use_cache
                else None
            )
            if cached is None:
                to_capture.append(space_id)
                continue
            result.screenshots[space_id], result.metadata[space_id] = cached
            result.cache_hits += 1
            self._track_performance(request, space_id, 0.0, True)

        async def one(space_id: int) -> None:
            try:
                shot, metadata = await self._capture_shared(space_id, quality, active == space_id)
            except Exception as exc:
                result.errors[space_id] = f"{type(exc).__name__}: {exc}"
                return
            result.screenshots[space_id], result.metadata[space_id] = shot, metadata
            result.new_captures += 1
            self._track_performance(request, space_id, metadata.capture_duration, False)

        if request.parallel and len(to_capture) > 1:
            limit = asyncio.Semaphore(max(1, request.max_workers))

            async def limited(space_id: int) -> None:
                async with limit:
                    await one(space_id)

            await asyncio.gather(*(limited(s) for s in to_capture))
        else:
            for space_id in to_capture:
                await one(space_id)
        result.success = bool(result.screenshots)
        result.total_duration = time.perf_counter() - started
        if request.callback is not None:
            result.callback_error = await self._call_back(request.callback, result)
        return result

    async def _call_back(
        self, callback: Callable[..., Any], result: SpaceCaptureResult
    ) -> str | None:
        """Runs the request's callback; what went wrong (it raised, or an awaitable one did not
        finish within the capture timeout and was cancelled), or None. The result stands either
        way. A synchronous callback runs on the event loop and cannot be interrupted."""
        try:
            outcome = callback(result.screenshots, result.metadata)
            if not inspect.isawaitable(outcome):
                return None
            waiting = asyncio.ensure_future(outcome)
            done, _ = await asyncio.wait({waiting}, timeout=self._backend_calls.timeout)
            if waiting not in done:
                waiting.cancel()  # not awaited: a callback that ignores cancelling would hang us
                self._abandoned_callbacks.add(waiting)
                waiting.add_done_callback(self._callback_abandoned)
                message = (
                    f"callback {callback!r} did not finish within "
                    f"{self._backend_calls.timeout:g} s ({TIMEOUT_SETTING}); it was cancelled"
                )
                log.warning("%s", message)
                return message
            waiting.result()
        except Exception as exc:
            log.exception("capture callback %r failed; the result stands", callback)
            return f"callback {callback!r} raised {type(exc).__name__}: {exc}"
        return None

    def _callback_abandoned(self, task: asyncio.Future[Any]) -> None:
        self._abandoned_callbacks.discard(task)
        if not task.cancelled():
            task.exception()  # already reported as timed out; not logged again

    async def _capture_shared(
        self, space_id: int, quality: CaptureQuality, active: bool
    ) -> Captured:
        """One capture per (space, tier) at a time: concurrent callers await the same one.

        The capture runs as its own task and every caller waits through a shield, so a caller
        that is cancelled (a timed-out request, a cancelled prefetch) cancels only its own wait.
        """
        key = (space_id, quality)
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._capture_and_store(space_id, quality, active))
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._capture_finished(key, done))
        else:
            self.shared_captures += 1
        return await asyncio.shield(task)

    def _capture_finished(
        self, key: tuple[int, CaptureQuality], task: asyncio.Task[Captured]
    ) -> None:
        if self._in_flight.get(key) is task:
            del self._in_flight[key]
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody waits for any more is not logged twice

    async def _capture_and_store(
        self, space_id: int, quality: CaptureQuality, active: bool
    ) -> Captured:
        policy = self.policy
        generation = self.cache.generation(space_id)
        captured_at = self.cache.clock()
        started = time.perf_counter()
        try:
            frame = await self._backend_calls.call(
                ("capture", space_id), f"capturing space {space_id}", self.backend.capture, space_id
            )
            encoded = await asyncio.to_thread(
                self.cache.encoder.encode,
                frame,
                quality,
                jpeg_quality=policy.jpeg_quality,
                subsampling=self.config.image_subsampling,
                thumbnail_size=self.config.image_thumbnail_size,
                pixel_format=self.pixel_format,
            )
        except Exception:
            self.capture_failures += 1
            raise
        native = (int(frame.shape[1]), int(frame.shape[0]))
        del frame  # the raw frame (~20 MB at 2880x1800) is not kept past the encode
        metadata = SpaceCaptureMetadata(
            space_id=space_id,
            capture_time=datetime.now(UTC),
            capture_method=CAPTURE_METHOD_OF_BACKEND.get(
                self.backend.name, CaptureMethod.SCREENCAPTURE_API
            ),
            quality=quality,
            resolution=(encoded.width, encoded.height),
            file_size=len(encoded.jpeg),
            capture_duration=time.perf_counter() - started,
            is_active_space=active,
            content_hash=encoded.content_hash,
            source_resolution=native,
            jpeg_quality=policy.jpeg_quality,
        )
        self.captures_made += 1
        self.bytes_encoded += len(encoded.jpeg)
        await self.cache.put(
            space_id, encoded.jpeg, metadata, generation=generation, captured_at=captured_at
        )
        return JpegScreenshot(encoded.jpeg), metadata

    def _track_performance(
        self, request: SpaceCaptureRequest, space_id: int, seconds: float, cache_hit: bool
    ) -> None:
        # Prefetches warm the cache; counting their hits would flatter the hit rate.
        if self.optimizer is not None and request.reason not in PREFETCH_REASONS:
            self.optimizer.track_capture_performance(space_id, seconds, cache_hit)

    # --- housekeeping ------------------------------------------------------------------------

    async def clear_cache(self, space_ids: list[int] | None = None) -> None:
        if space_ids is None:
            await self.cache.clear()
            return
        for space_id in space_ids:
            await self.cache.remove_space(space_id)

    async def prefetch_spaces(
        self, space_ids: list[int], quality: CaptureQuality = CaptureQuality.OPTIMIZED
    ) -> asyncio.Task[SpaceCaptureResult] | None:
        """Starts a background capture of `space_ids` (as the original, it does not wait).

        Nothing is prefetched under red pressure nor while the user is idle or away
        (`policy.prefetch`); the policy bounds spaces and tier as for any request. Returns the
        task, for callers that do want to wait.
        """
        if not self.policy.prefetch or not space_ids:
            return None
        request = SpaceCaptureRequest(
            space_ids=list(space_ids),
            quality=quality,
            priority=3,
            reason="prefetch",
            require_permission=False,
        )
        task = asyncio.create_task(self.capture_all_spaces(request), name="ironcliw-prefetch")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def monitor_space_changes(
        self,
        callback: Callable[[list[int]], Awaitable[Any] | Any],
        interval: float = 5,
    ) -> None:
        """Calls `callback(spaces)` whenever the set of spaces changes; runs until cancelled.

        Neither a failed listing nor a failing callback ends it: both are logged.
        """
        known: list[int] | None = None
        while True:
            current: list[int] | None
            try:
                current = await self.enumerate_spaces()
            except Exception:
                log.exception("listing spaces failed; trying again in %s s", interval)
                current = known
            if known is None:
                known = current
            elif current != known and current is not None:
                known = current
                try:
                    outcome = callback(current)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:
                    log.exception("space-change callback %r failed; still monitoring", callback)
            await asyncio.sleep(interval)

    async def start_monitoring_session(self) -> bool:
        self.monitoring_active = True
        return True

    def stop_monitoring_session(self) -> None:
        self.monitoring_active = False

    async def close(self) -> None:
        """Cancels background prefetches, stops the cache's sweep and pressure following, and
        closes the backend if the engine chose it (an X11 connection and its thread)."""
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.cache.close()
        close_backend = getattr(self.backend, "close", None)
        if self._owns_backend and callable(close_backend):
            try:
                await self._backend_calls.call("close", "closing the backend", close_backend)
            except Exception:
                log.exception("closing capture backend %r failed", self.backend.name)

    def get_cache_stats(self) -> dict[str, Any]:
        stats = self.cache.get_stats()
        stats.update(
            {
                "backend": self.backend.name,
                "backend_reason": backend_reason(self.backend),
                "captures_made": self.captures_made,
                "capture_failures": self.capture_failures,
                "shared_captures": self.shared_captures,
                "capture_timeouts": self._backend_calls.timeouts,
                "refused_while_stuck": self._backend_calls.refused,
                "backend_calls_running": self._backend_calls.running(),
                "bytes_encoded": self.bytes_encoded,
                "policy": self.policy.to_dict(),
            }
        )
        if self.memory_manager is not None:
            stats["memory_pressure"] = self.memory_manager.get_stats_summary()
        return stats


def _skip_reason(policy: LevelPolicy, asked: bool, pressure: MemoryPressure) -> str:
    """Why a space of a request is left out, naming the rule that did it."""
    if not asked and not policy.unasked_captures:
        return f"the user is {policy.activity.value}: nothing is captured unless asked"
    strategy = policy.monitoring if asked else policy.watching
    if strategy is not policy.monitoring:
        return f"the user is {policy.activity.value}: only the {strategy.value} space is watched"
    return f"not watched at {pressure.level_name} pressure ({strategy.value} spaces)"
