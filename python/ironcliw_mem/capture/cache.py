"""`MultiSpaceCaptureCache`: JPEG tiers per (space, quality) in the native byte cache.

The budget follows the memory manager: a pressure callback resizes the cache the moment the level
changes (evicting at once, counted as pressure evictions), an activity callback the moment the
user goes away or comes back (counted as activity evictions), and a background sweep releases
expired entries without waiting for a lookup. A request for a lower tier is served from a cached
higher tier by downscaling; never the other way round.

Each entry is one value in the byte cache: a small header (the capture's metadata and the
monotonic moment it was captured) followed by the JPEG, so an entry's metadata comes and goes
with it and its bytes count against the budget. Every age and TTL is read from one monotonic
clock (`clock=`, `time.monotonic` by default; the replay benchmark passes its simulated one);
the metadata's `capture_time` is the wall-clock time shown to people.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import pickle
import struct
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ironcliw_mem._native import ByteCache, release_image_buffers
from ironcliw_mem.callbacks import weakly
from ironcliw_mem.capture.encoding import NATIVE_ENCODER, TierEncoder
from ironcliw_mem.capture.types import JpegScreenshot, SpaceCaptureMetadata
from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.levels import ActivityState, CaptureQuality, MemoryPressure
from ironcliw_mem.policy import LevelPolicy, policy_for

if TYPE_CHECKING:
    from ironcliw_mem.manager import MacOSMemoryManager, MemoryStats

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# How often the background sweep releases expired entries. Entries live CACHE_DEFAULT_TTL
# (30 s by default), so a second's delay in freeing them is immaterial.
SWEEP_INTERVAL_SECONDS = 1.0


def cache_key(space_id: int, quality: CaptureQuality) -> str:
    return f"space_{space_id}_{quality.value}"


def _space_and_quality(key: str) -> tuple[int, CaptureQuality]:
    space, _, quality = key.removeprefix("space_").rpartition("_")
    return int(space), CaptureQuality(quality)


# An entry's value: the header's length, the header (metadata and the monotonic capture moment),
# then the JPEG. pickle round-trips the metadata dataclass exactly (enums, datetime, the lists);
# only this class writes these values, into its own private store.
_HEADER_LENGTH = struct.Struct("<I")


def _pack_entry(jpeg: bytes, metadata: SpaceCaptureMetadata, captured_at: float) -> bytes:
    header = pickle.dumps((metadata, captured_at), protocol=pickle.HIGHEST_PROTOCOL)
    return b"".join((_HEADER_LENGTH.pack(len(header)), header, jpeg))


@dataclass(frozen=True)
class _Entry:
    """One cached screenshot as read back: its stored value (the identity that tells whether the
    entry was replaced since), its metadata, and when it was captured (by the cache's clock)."""

    value: bytes
    metadata: SpaceCaptureMetadata
    captured_at: float
    jpeg_offset: int

    @classmethod
    def unpack(cls, value: bytes) -> _Entry:
        (length,) = _HEADER_LENGTH.unpack_from(value)
        start = _HEADER_LENGTH.size
        metadata, captured_at = pickle.loads(value[start : start + length])
        return cls(value, metadata, captured_at, start + length)

    def jpeg_view(self) -> memoryview:
        """The JPEG read in place (for a derivation: no copy)."""
        return memoryview(self.value)[self.jpeg_offset :]

    def screenshot(self) -> JpegScreenshot:
        return JpegScreenshot(self.jpeg_view())


class MultiSpaceCaptureCache:
    """Compressed screenshots per space and tier, within the level's budget."""

    def __init__(
        self,
        max_size_mb: int | None = None,
        default_ttl: float | None = None,
        *,
        config: MemoryConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        encoder: TierEncoder = NATIVE_ENCODER,
        sweep_interval: float | None = SWEEP_INTERVAL_SECONDS,
    ) -> None:
        """`clock` (seconds, monotonic) times every age and TTL; `encoder` makes the JPEG tiers;
        `sweep_interval` is how often a background task releases expired entries (None: no
        task, the owner calls `expire()`, as the replay benchmark does each simulated second)."""
        self.config = config if config is not None else MemoryConfig()
        if max_size_mb is not None and max_size_mb < 0:
            raise ValueError(f"max_size_mb must be >= 0, got {max_size_mb}")
        if default_ttl is not None and default_ttl <= 0:
            raise ValueError(f"default_ttl must be > 0 seconds, got {default_ttl}")
        if sweep_interval is not None and not sweep_interval > 0:
            raise ValueError(f"sweep_interval must be > 0 seconds or None, got {sweep_interval}")
        self.max_size_mb = self.config.cache_max_size_mb if max_size_mb is None else max_size_mb
        self.default_ttl = self.config.cache_default_ttl if default_ttl is None else default_ttl
        self.clock = clock
        self.encoder = encoder
        self.sweep_interval = sweep_interval
        self._store = ByteCache(self.max_size_mb * MIB, default_ttl=self.default_ttl, clock=clock)
        # Bumped by clear/remove_space: a capture that started before is not stored after.
        self._generation = 0
        self._space_generation: dict[int, int] = {}
        self._memory_manager: MacOSMemoryManager | None = None
        self._sweeper: asyncio.Task[None] | None = None
        # The manager is a process singleton: it must not keep a dropped cache (and its JPEGs)
        # alive, so it holds this listener, which holds the cache weakly.
        self._listener = weakly(self._on_pressure_change)
        self._activity_listener = weakly(self._on_activity_change)
        self.hit_count = 0
        self.miss_count = 0
        self.derived_hits = 0
        self.budget_changes = 0

    # --- budget ------------------------------------------------------------------------------

    @property
    def dynamic_sizing(self) -> bool:
        return self.config.cache_dynamic_sizing and self._memory_manager is not None

    @property
    def policy(self) -> LevelPolicy:
        manager = self._memory_manager
        if manager is None:
            return policy_for(self.config, None)
        return policy_for(self.config, manager.current_pressure, manager.current_activity)

    def effective_budget_mb(self) -> int:
        if self._memory_manager is not None and self.dynamic_sizing:
            return self._memory_manager.get_recommended_cache_size()
        return self.max_size_mb

    def set_memory_manager(self, manager: MacOSMemoryManager | None) -> None:
        """Follows `manager`'s level from now on: the budget is applied now and on every change."""
        self._stop_following()
        self._memory_manager = manager
        if manager is not None:
            manager.register_pressure_callback(self._listener)
            manager.register_activity_callback(self._activity_listener)
        self.apply_budget()

    def _stop_following(self) -> None:
        if self._memory_manager is not None:
            self._memory_manager.unregister_pressure_callback(self._listener)
            self._memory_manager.unregister_activity_callback(self._activity_listener)

    def apply_budget(self, reason: Literal["pressure", "activity"] = "pressure") -> int:
        """Resizes to the effective budget now; returns the entries evicted."""
        budget = self.effective_budget_mb() * MIB
        if budget == self._store.max_bytes:
            return 0
        self.budget_changes += 1
        # Shrinking because of pressure (or the user's absence) is counted as such, then the
        # budget itself moves.
        evicted = self._store.evict_to(budget, reason=reason)
        evicted += self._store.resize(budget)
        return evicted

    def _on_pressure_change(self, pressure: MemoryPressure, stats: MemoryStats) -> None:
        evicted = self.apply_budget()
        released = 0
        if pressure in (MemoryPressure.YELLOW, MemoryPressure.RED):
            # The encoder keeps up to 64 MB of resize buffers between calls; give them back.
            released = release_image_buffers()
        log.info(
            "capture cache budget %d MB at %s pressure (%d entries evicted, %d buffer bytes freed)",
            self._store.max_bytes // MIB,
            pressure.value,
            evicted,
            released,
        )

    def _on_activity_change(self, activity: ActivityState, info: dict[str, Any]) -> None:
        evicted = self.apply_budget(reason="activity")
        log.info(
            "capture cache budget %d MB with the user %s (%d entries evicted)",
            self._store.max_bytes // MIB,
            activity.value,
            evicted,
        )

    # --- entries -----------------------------------------------------------------------------

    async def get(
        self, space_id: int, quality: CaptureQuality, max_age: float | None = None
    ) -> tuple[JpegScreenshot, SpaceCaptureMetadata] | None:
        """The cached screenshot of `space_id` at `quality`, or one made from a cached higher
        tier; None on a miss. `max_age` (seconds) rejects older captures."""
        self._ensure_sweeper()
        found = self._lookup(space_id, quality, max_age)
        if found is not None:
            self.hit_count += 1
            return found.screenshot(), found.metadata
        derived = await self._derive_from_higher_tier(space_id, quality, max_age)
        if derived is not None:
            self.hit_count += 1
            self.derived_hits += 1
            return derived
        self.miss_count += 1
        return None

    def _lookup(
        self, space_id: int, quality: CaptureQuality, max_age: float | None
    ) -> _Entry | None:
        value = self._store.get(cache_key(space_id, quality))
        if value is None:
            return None
        entry = _Entry.unpack(value)
        if max_age is not None and self.clock() - entry.captured_at > max_age:
            return None
        return entry

    async def _derive_from_higher_tier(
        self, space_id: int, quality: CaptureQuality, max_age: float | None
    ) -> tuple[JpegScreenshot, SpaceCaptureMetadata] | None:
        higher = sorted((q for q in CaptureQuality if q > quality), key=lambda q: q.fidelity)
        for source_quality in higher:
            source = self._lookup(space_id, source_quality, max_age)
            if source is None:
                continue
            metadata = source.metadata
            if metadata.source_resolution is None:
                continue
            generation = self.generation(space_id)
            started = time.perf_counter()
            encoded = await asyncio.to_thread(
                self.encoder.derive,
                source.jpeg_view(),
                metadata.source_resolution,
                quality,
                jpeg_quality=metadata.jpeg_quality or self.config.image_compression_quality,
                subsampling=self.config.image_subsampling,
                thumbnail_size=self.config.image_thumbnail_size,
            )
            if encoded is None:
                continue
            derived = dataclasses.replace(
                metadata,
                quality=quality,
                resolution=(encoded.width, encoded.height),
                file_size=len(encoded.jpeg),
                content_hash=encoded.content_hash,
                capture_duration=metadata.capture_duration + time.perf_counter() - started,
                derived_from=source_quality,
            )
            # The derived tier shows the same moment as its source, so it expires with it: the
            # source's own deadline in the store.
            remaining = self._source_ttl(space_id, source)
            if remaining is not None and generation == self.generation(space_id):
                key = cache_key(space_id, quality)
                self._store_entry(key, encoded.jpeg, derived, source.captured_at, remaining)
            return JpegScreenshot(encoded.jpeg), derived
        return None

    def _source_ttl(self, space_id: int, source: _Entry) -> float | None:
        """Seconds the source of a derivation has left, None when it went or was replaced by a
        newer capture while the derivation was encoding (its TTL is not the derived tier's)."""
        key = cache_key(space_id, source.metadata.quality)
        if self._store.get(key) is not source.value:  # the store keeps the very bytes object
            return None
        try:
            left = self._store.remaining_ttl(key)
        except KeyError:
            return None
        return math.inf if left is None else left

    async def put(
        self,
        space_id: int,
        screenshot: bytes | np.ndarray[Any, Any],
        metadata: SpaceCaptureMetadata,
        *,
        generation: tuple[int, int] | None = None,
        captured_at: float | None = None,
    ) -> bool:
        """Stores a screenshot under `metadata.quality`. JPEG bytes are stored as they are; a
        pixel array is encoded to that tier first. Returns False when it cannot fit the budget,
        or when `generation` (taken with `generation(space_id)` before capturing) shows the
        space was cleared since: a capture begun before `clear_cache` is not stored after it.

        `captured_at` is the capture's moment by the cache's clock (the engine passes it); without
        it the entry's age is `metadata.capture_time`'s age by the wall clock now, read once."""
        self._ensure_sweeper()
        if captured_at is None:
            captured_at = self.clock() - max(0.0, _wall_age_seconds(metadata.capture_time))
        if generation is None:
            generation = self.generation(space_id)
        if metadata.space_id != space_id:
            raise ValueError(f"metadata is for space {metadata.space_id}, not {space_id}")
        if isinstance(screenshot, np.ndarray):
            policy = self.policy
            height, width = screenshot.shape[:2]
            encoded = await asyncio.to_thread(
                self.encoder.encode,
                screenshot,
                metadata.quality,
                jpeg_quality=policy.jpeg_quality,
                subsampling=self.config.image_subsampling,
                thumbnail_size=self.config.image_thumbnail_size,
                pixel_format=None,  # an array given to put: 4 channels BGRA, 3 RGB
            )
            jpeg = encoded.jpeg
            metadata = dataclasses.replace(
                metadata,
                resolution=(encoded.width, encoded.height),
                file_size=len(jpeg),
                content_hash=encoded.content_hash,
                source_resolution=metadata.source_resolution or (width, height),
                jpeg_quality=policy.jpeg_quality,
            )
        elif isinstance(screenshot, bytes | bytearray | memoryview):
            jpeg = bytes(screenshot)
        else:
            raise TypeError(
                "screenshot must be JPEG bytes or a (height, width, channels) uint8 array, "
                f"got {type(screenshot).__name__}"
            )
        if generation != self.generation(space_id):
            return False
        key = cache_key(space_id, metadata.quality)
        return self._store_entry(key, jpeg, metadata, captured_at)

    def _store_entry(
        self,
        key: str,
        jpeg: bytes,
        metadata: SpaceCaptureMetadata,
        captured_at: float,
        ttl: float | None = None,
    ) -> bool:
        self._ensure_sweeper()  # it ends while the cache is empty
        return self._store.set(key, _pack_entry(jpeg, metadata, captured_at), ttl)

    def generation(self, space_id: int) -> tuple[int, int]:
        """A token for "the cache as of now" for one space; see `put(..., generation=)`."""
        return self._generation, self._space_generation.get(space_id, 0)

    async def clear(self) -> None:
        self._generation += 1
        self._store.clear()

    async def remove_space(self, space_id: int) -> int:
        """Drops every tier of one space; returns how many entries went."""
        self._space_generation[space_id] = self._space_generation.get(space_id, 0) + 1
        removed = 0
        for quality in CaptureQuality:
            key = cache_key(space_id, quality)
            if self._store.pop(key) is not None:
                removed += 1
        return removed

    async def evict_to_target_size(self, target_mb: float) -> int:
        """Frees least recently used entries until the cache holds at most `target_mb`."""
        if target_mb < 0:
            raise ValueError(f"target_mb must be >= 0, got {target_mb}")
        return self._store.evict_to(int(target_mb * MIB), reason="explicit")

    def expire(self) -> int:
        """Releases expired entries now; returns how many."""
        return self._store.expire()

    # --- background sweep --------------------------------------------------------------------

    def _ensure_sweeper(self) -> None:
        if self.sweep_interval is None:
            return
        if self._sweeper is not None and not self._sweeper.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._sweeper = loop.create_task(
            _sweep_while_alive(weakref.ref(self), self.sweep_interval),
            name="ironcliw-cache-sweeper",
        )

    async def close(self) -> None:
        """Stops the sweep and stops following the memory manager."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        self._stop_following()
        self._memory_manager = None

    # --- reporting ---------------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        return self._store.bytes

    def entries_by_space(self) -> dict[int, list[str]]:
        spaces: dict[int, list[str]] = {}
        for key in self._store:
            space_id, quality = _space_and_quality(key)
            spaces.setdefault(space_id, []).append(quality.value)
        return spaces

    def get_stats(self) -> dict[str, Any]:
        native = self._store.stats()
        lookups = self.hit_count + self.miss_count
        return {
            "size_mb": native["bytes"] / MIB,
            "max_size_mb": native["max_bytes"] / MIB,
            "entries": native["entries"],
            "hit_count": self.hit_count,
            "miss_count": self.miss_count,
            "hit_rate": self.hit_count / lookups if lookups else 0.0,
            "dynamic_sizing": self.dynamic_sizing,
            "compression_enabled": True,
            "compression_quality": self.policy.jpeg_quality,
            "thumbnail_size": self.config.image_thumbnail_size,
            "bytes": native["bytes"],
            "max_bytes": native["max_bytes"],
            "derived_hits": self.derived_hits,
            "default_ttl": self.default_ttl,
            "evictions": {
                reason: native[f"evictions_{reason}"]
                for reason in ("capacity", "ttl", "pressure", "explicit", "activity")
            },
        }


async def _sweep_while_alive(
    cache_ref: weakref.ref[MultiSpaceCaptureCache], interval: float
) -> None:
    """Sweeps expired entries every `interval` seconds; holds the cache weakly, ends with it.

    It also ends once the cache is empty (nothing left to expire), so an idle agent, its user
    away, keeps no timer for it; the next entry stored starts it again."""
    while True:
        await asyncio.sleep(interval)
        cache = cache_ref()
        if cache is None:
            return
        cache.expire()
        empty = len(cache._store) == 0
        del cache
        if empty:
            return


def _wall_age_seconds(captured: datetime) -> float:
    now = datetime.now(UTC) if captured.tzinfo is not None else datetime.now()
    return (now - captured).total_seconds()
