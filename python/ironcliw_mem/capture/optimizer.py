"""`MultiSpaceOptimizer`: learns how the user moves between spaces and prefetches accordingly.

It tracks accesses, classifies each space's access pattern, predicts the next space from observed
transitions (a first-order Markov model), and asks the engine to prefetch likely next and adjacent
spaces — only as far as the memory level allows, and never above the level's capture quality.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import itertools
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ironcliw_mem.capture.types import PREFETCH_REASONS, SpaceCaptureRequest
from ironcliw_mem.levels import CaptureQuality, MemoryPressure
from ironcliw_mem.policy import LevelPolicy, adjacent_spaces

log = logging.getLogger(__name__)

# Pattern detection (the original's rules): enough history to judge, what "frequent" means, and
# how regular intervals must be to call them periodic.
MIN_ACCESSES_FOR_PATTERN = 5
FREQUENT_WINDOW_SECONDS = 30 * 60
FREQUENT_MIN_ACCESSES = 10
PERIODIC_MIN_INTERVALS = 10
PERIODIC_MAX_VARIATION = 0.3
HISTORY_LENGTH = 100
# Priority thresholds: above HIGH a request keeps its tier; below LOW a well-known space drops to
# a lower tier. Prefetch when a prediction is at least this likely.
HIGH_PRIORITY = 0.8
LOW_PRIORITY = 0.3
PREFETCH_CONFIDENCE = 0.5
MAX_PREFETCH = 3
OPTIMIZATION_INTERVAL_SECONDS = 30.0


class PrefetchingEngine(Protocol):
    """What the optimizer asks of the capture engine (`MultiSpaceCaptureEngine` is one)."""

    @property
    def pressure(self) -> MemoryPressure: ...

    @property
    def policy(self) -> LevelPolicy: ...

    async def get_current_space(self) -> int: ...

    async def get_spaces_to_monitor(self) -> list[int]: ...

    async def prefetch_spaces(
        self, space_ids: list[int], quality: CaptureQuality = ...
    ) -> asyncio.Task[Any] | None: ...


class AccessPattern(enum.Enum):
    FREQUENT = "frequent"
    PERIODIC = "periodic"
    SEQUENTIAL = "sequential"
    RANDOM = "random"
    WORKFLOW = "workflow"  # kept for the original's API; not detected on its own


@dataclass
class SpaceAccessMetrics:
    space_id: int
    access_count: int = 0
    last_access: float | None = None
    access_history: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=HISTORY_LENGTH)
    )
    linked_spaces: set[int] = field(default_factory=set)
    access_pattern: AccessPattern = AccessPattern.RANDOM
    priority_score: float = 0.0

    def record(self, now: float, linked: set[int]) -> None:
        self.access_count += 1
        self.last_access = now
        self.access_history.append(now)
        self.linked_spaces |= linked - {self.space_id}
        self.access_pattern = self.detect_pattern(now)

    def detect_pattern(self, now: float) -> AccessPattern:
        history = list(self.access_history)
        if len(history) < MIN_ACCESSES_FOR_PATTERN:
            return AccessPattern.RANDOM
        recent = sum(1 for t in history if now - t <= FREQUENT_WINDOW_SECONDS)
        if recent > FREQUENT_MIN_ACCESSES:
            return AccessPattern.FREQUENT
        intervals = [b - a for a, b in itertools.pairwise(history)]
        if len(intervals) >= PERIODIC_MIN_INTERVALS:
            mean = statistics.fmean(intervals)
            if mean > 0 and statistics.pstdev(intervals) / mean < PERIODIC_MAX_VARIATION:
                return AccessPattern.PERIODIC
        if len(self.linked_spaces) >= 2:
            return AccessPattern.SEQUENTIAL
        return AccessPattern.RANDOM


_PATTERN_WEIGHT = {
    AccessPattern.WORKFLOW: 0.6,
    AccessPattern.FREQUENT: 1.0,
    AccessPattern.PERIODIC: 0.8,
    AccessPattern.SEQUENTIAL: 0.6,
    AccessPattern.RANDOM: 0.3,
}


class MultiSpaceOptimizer:
    """Access tracking, next-space prediction and level-aware prefetch for the capture engine."""

    def __init__(
        self,
        capture_engine: PrefetchingEngine | None = None,
        monitor: object = None,
        *,
        clock: Callable[[], float] = time.time,
        interval: float = OPTIMIZATION_INTERVAL_SECONDS,
    ) -> None:
        self.capture_engine = capture_engine
        self.monitor = monitor
        self._clock = clock
        self.interval = interval
        self.space_metrics: dict[int, SpaceAccessMetrics] = {}
        self.transitions: dict[int, collections.Counter[int]] = collections.defaultdict(
            collections.Counter
        )
        self._last_space: int | None = None
        self.optimization_active = False
        self.optimization_task: asyncio.Task[None] | None = None
        self.cache_hits = 0
        self.cache_misses = 0
        self.total_capture_time = 0.0
        self.capture_count = 0
        self.prefetches_requested = 0

    # --- tracking ----------------------------------------------------------------------------

    def track_space_access(
        self, space_id: int, linked_spaces: set[int] | None = None, *, user_moved: bool = True
    ) -> None:
        """Records an access. Transitions for next-space prediction are learned only from the
        user's moves (`user_moved`), not from the order of spaces in the agent's requests."""
        now = self._clock()
        metrics = self.space_metrics.setdefault(space_id, SpaceAccessMetrics(space_id))
        metrics.record(now, set(linked_spaces or ()))
        if user_moved:
            if self._last_space is not None and self._last_space != space_id:
                self.transitions[self._last_space][space_id] += 1
            self._last_space = space_id
        self._update_priorities(now)

    def track_active_space(self, space_id: int) -> None:
        """The space the user is looking at now (the engine reports it on every request)."""
        if space_id != self._last_space:
            self.track_space_access(space_id)

    def track_capture_performance(
        self, space_id: int, capture_time: float, cache_hit: bool
    ) -> None:
        self.capture_count += 1
        if cache_hit:
            self.cache_hits += 1
        else:
            self.cache_misses += 1
            self.total_capture_time += capture_time

    def _update_priorities(self, now: float) -> None:
        if not self.space_metrics:
            return
        most = max(m.access_count for m in self.space_metrics.values())
        for metrics in self.space_metrics.values():
            frequency = metrics.access_count / most
            age = now - (metrics.last_access or now)
            recency = 1.0 / (1.0 + age / 60.0)
            pattern = _PATTERN_WEIGHT[metrics.access_pattern]
            metrics.priority_score = round(0.4 * frequency + 0.3 * recency + 0.3 * pattern, 4)

    # --- prediction --------------------------------------------------------------------------

    def predict_next_spaces(
        self, current: int, limit: int = MAX_PREFETCH
    ) -> list[tuple[int, float]]:
        """The likeliest next spaces after `current`, with their observed probabilities."""
        following = self.transitions.get(current)
        if not following:
            return []
        total = sum(following.values())
        ranked = sorted(following.items(), key=lambda item: (-item[1], item[0]))
        return [(space, count / total) for space, count in ranked[:limit]]

    def prefetch_candidates(
        self, current: int, spaces: list[int], pressure: MemoryPressure
    ) -> list[int]:
        """What to prefetch now: green takes likely next spaces and neighbours, yellow only the
        neighbours of the active space, red and unknown nothing."""
        if pressure not in (MemoryPressure.GREEN, MemoryPressure.YELLOW):
            return []
        candidates = [s for s in adjacent_spaces(spaces, current) if s != current]
        if pressure is MemoryPressure.GREEN:
            likely = [
                s
                for s, p in self.predict_next_spaces(current)
                if p >= PREFETCH_CONFIDENCE and s in spaces
            ]
            candidates = likely + [s for s in candidates if s not in likely]
        return candidates[:MAX_PREFETCH]

    # --- requests ----------------------------------------------------------------------------

    async def optimize_capture_request(self, request: SpaceCaptureRequest) -> SpaceCaptureRequest:
        """Lowers the tier for spaces the user rarely looks at; never raises it.

        The engine caps the result at the level's tier in any case. Spaces never seen before
        keep the requested tier (the original sent them as thumbnails).
        """
        known = [self.space_metrics[s] for s in request.space_ids if s in self.space_metrics]
        seasoned = [m for m in known if m.access_count >= MIN_ACCESSES_FOR_PATTERN]
        if seasoned and len(seasoned) == len(request.space_ids):
            top = max(m.priority_score for m in seasoned)
            if top < LOW_PRIORITY:
                request.quality = min(request.quality, CaptureQuality.FAST)
        if request.reason not in PREFETCH_REASONS:  # our own prefetches are not the user's interest
            for space_id in request.space_ids:
                self.track_space_access(space_id, set(request.space_ids), user_moved=False)
        return request

    # --- background --------------------------------------------------------------------------

    async def start_optimization(self) -> None:
        if self.optimization_active:
            return
        self.optimization_active = True
        self.optimization_task = asyncio.create_task(
            self._optimization_loop(), name="ironcliw-space-optimizer"
        )

    async def stop_optimization(self) -> None:
        self.optimization_active = False
        task, self.optimization_task = self.optimization_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _optimization_loop(self) -> None:
        while self.optimization_active:
            try:
                await self.prefetch_once()
            except Exception:
                log.exception("prefetch round failed; next round in %s s", self.interval)
            await asyncio.sleep(self.interval)

    async def prefetch_once(self) -> list[int]:
        """One prefetch round; returns the spaces asked for."""
        engine = self.capture_engine
        if engine is None:
            return []
        if not engine.policy.prefetch:  # red pressure, or the user idle or away
            return []
        current = await engine.get_current_space()
        allowed = await engine.get_spaces_to_monitor()
        candidates = self.prefetch_candidates(current, allowed, engine.pressure)
        if candidates:
            self.prefetches_requested += len(candidates)
            await engine.prefetch_spaces(candidates, engine.policy.capture_quality)
        return candidates

    def get_optimization_stats(self) -> dict[str, Any]:
        lookups = self.cache_hits + self.cache_misses
        return {
            "cache_hit_rate": self.cache_hits / lookups if lookups else 0.0,
            "total_captures": self.capture_count,
            "average_capture_time": (
                self.total_capture_time / self.cache_misses if self.cache_misses else 0.0
            ),
            "tracked_spaces": len(self.space_metrics),
            "optimization_active": self.optimization_active,
            "prefetches_requested": self.prefetches_requested,
            "space_patterns": {
                space_id: {
                    "pattern": m.access_pattern.value,
                    "priority": m.priority_score,
                    "access_count": m.access_count,
                    "likely_next": self.predict_next_spaces(space_id),
                }
                for space_id, m in sorted(
                    self.space_metrics.items(), key=lambda item: -item[1].priority_score
                )[:10]
            },
        }
