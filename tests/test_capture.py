"""Multi-space capture: the cache wired to pressure, the engine, the optimizer, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ironcliw_mem import (
    CaptureQuality,
    MacOSMemoryManager,
    MemoryConfig,
    MemoryPressure,
    tier_size,
)
from ironcliw_mem._native import ENTRY_OVERHEAD
from ironcliw_mem.capture import (
    CaptureMethod,
    JpegScreenshot,
    MultiSpaceCaptureCache,
    MultiSpaceCaptureEngine,
    MultiSpaceOptimizer,
    SpaceCaptureMetadata,
    SpaceCaptureRequest,
    SyntheticBackend,
)
from ironcliw_mem.capture.backends import CaptureError
from ironcliw_mem.capture.cache import cache_key
from ironcliw_mem.capture.encoding import EncodedImage, NativeTierEncoder
from support import WAIT_LIMIT_S, ManualClock, calm_manager, wait_until

MIB = 1024**2
SCREEN = (960, 600)  # small screens keep the suite fast; the engine does not care
make_manager = calm_manager


def make_engine(
    manager: MacOSMemoryManager | None = None, spaces: int = 9, **config: object
) -> MultiSpaceCaptureEngine:
    backend = SyntheticBackend(spaces=spaces, size=SCREEN)
    if manager is None:
        return MultiSpaceCaptureEngine(backend=backend, config=MemoryConfig(env={}, **config))  # type: ignore[arg-type]
    return MultiSpaceCaptureEngine(memory_manager=manager, backend=backend)


def decode(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    assert image.format == "JPEG"
    return image


class GatedBackend(SyntheticBackend):
    """Synthetic screens whose captures, once begun, wait until the test opens `gate`: a capture
    stays in flight exactly as long as the test needs, however slowly threads get scheduled."""

    def __init__(self, spaces: int) -> None:
        super().__init__(spaces=spaces, size=SCREEN)
        self.gate = threading.Event()
        self.begun = 0  # captures that have reached the gate
        self._begun_lock = threading.Lock()

    def capture(self, space_id: int) -> np.ndarray:  # type: ignore[type-arg]
        with self._begun_lock:
            self.begun += 1
        if not self.gate.wait(WAIT_LIMIT_S):
            raise CaptureError("the test never opened the gate")
        return super().capture(space_id)


class ListingBackend(SyntheticBackend):
    """Synthetic screens that count the listings of their spaces."""

    def __init__(self, spaces: int) -> None:
        super().__init__(spaces=spaces, size=SCREEN)
        self.listings = 0  # counted once listed: a change after that is not in the listing

    def list_spaces(self) -> list[int]:
        spaces = super().list_spaces()
        self.listings += 1
        return spaces


def engine_on(backend: SyntheticBackend) -> MultiSpaceCaptureEngine:
    return MultiSpaceCaptureEngine(backend=backend, config=MemoryConfig(env={}))


def metadata_for(space_id: int, quality: CaptureQuality) -> SpaceCaptureMetadata:
    return SpaceCaptureMetadata(
        space_id=space_id,
        capture_time=datetime.now(UTC),
        capture_method=CaptureMethod.SCREENCAPTURE_API,
        quality=quality,
        resolution=(0, 0),
        file_size=0,
        capture_duration=0.0,
    )


# --- the defects of the originals ----------------------------------------------------------------


async def test_captures_reach_the_cache() -> None:
    engine = make_engine()
    request = SpaceCaptureRequest(space_ids=[1, 2, 3])
    first = await engine.capture_all_spaces(request)
    assert (first.new_captures, first.cache_hits) == (3, 0)
    assert engine.cache.get_stats()["entries"] == 3
    second = await engine.capture_all_spaces(request)
    assert (second.new_captures, second.cache_hits) == (0, 3)
    assert engine.backend.captures == 3  # type: ignore[attr-defined]
    for space_id in (1, 2, 3):
        assert second.screenshots[space_id] == first.screenshots[space_id]
    await engine.close()


async def test_clear_cache_works_for_all_and_for_some_spaces() -> None:
    engine = make_engine()
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2, 3]))
    await engine.clear_cache(space_ids=[2])
    assert sorted(engine.cache.entries_by_space()) == [1, 3]
    await engine.clear_cache()
    assert engine.cache.get_stats()["entries"] == 0
    assert engine.cache.size_bytes == 0
    await engine.close()


@pytest.mark.parametrize(
    ("pressure", "requested", "expected"),
    [
        (MemoryPressure.RED, CaptureQuality.FULL, CaptureQuality.THUMBNAIL),
        (MemoryPressure.RED, CaptureQuality.OPTIMIZED, CaptureQuality.THUMBNAIL),
        (MemoryPressure.YELLOW, CaptureQuality.OPTIMIZED, CaptureQuality.FAST),
        (MemoryPressure.YELLOW, CaptureQuality.THUMBNAIL, CaptureQuality.THUMBNAIL),
        (MemoryPressure.GREEN, CaptureQuality.THUMBNAIL, CaptureQuality.THUMBNAIL),
        (MemoryPressure.GREEN, CaptureQuality.FAST, CaptureQuality.FAST),
        (MemoryPressure.GREEN, CaptureQuality.FULL, CaptureQuality.OPTIMIZED),
    ],
)
async def test_tiers_are_compared_by_fidelity(
    pressure: MemoryPressure, requested: CaptureQuality, expected: CaptureQuality
) -> None:
    manager = make_manager()
    await manager.override_pressure(pressure)
    engine = make_engine(manager)
    assert engine.get_quality_for_pressure(requested) is expected
    await engine.close()


async def test_budget_shrinks_the_moment_the_level_changes() -> None:
    manager = make_manager(cache_size_green=8, cache_size_yellow=2, cache_size_red=1)
    await manager.override_pressure(MemoryPressure.GREEN)
    cache = MultiSpaceCaptureCache(config=manager.config)
    cache.set_memory_manager(manager)
    payload = bytes(300 * 1024)
    for space_id in range(1, 21):
        assert await cache.put(space_id, payload, metadata_for(space_id, CaptureQuality.FAST))
    assert cache.size_bytes > 2 * MIB
    await manager.override_pressure(MemoryPressure.RED)  # no put, no get after this
    stats = cache.get_stats()
    assert stats["max_size_mb"] == 1
    assert cache.size_bytes <= 1 * MIB
    assert stats["evictions"]["pressure"] > 0
    await manager.override_pressure(MemoryPressure.GREEN)
    assert cache.get_stats()["max_size_mb"] == 8
    await cache.close()


async def test_expired_entries_are_released_without_a_lookup() -> None:
    clock = ManualClock()
    cache = MultiSpaceCaptureCache(
        max_size_mb=10, default_ttl=5, config=MemoryConfig(env={}), clock=clock, sweep_interval=0.01
    )
    await cache.put(1, bytes(100_000), metadata_for(1, CaptureQuality.FAST))
    assert cache.size_bytes > 100_000
    clock.now += 6  # past the TTL; nobody looks the entry up, only the sweep can release it
    await wait_until(lambda: cache.size_bytes == 0)
    assert cache.get_stats()["evictions"]["ttl"] == 1
    assert cache.get_stats()["hit_count"] + cache.get_stats()["miss_count"] == 0
    await cache.close()


async def test_a_cached_higher_tier_serves_a_lower_tier_request() -> None:
    engine = make_engine()
    await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[4], quality=CaptureQuality.OPTIMIZED)
    )
    captured = engine.backend.captures  # type: ignore[attr-defined]
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[4], quality=CaptureQuality.THUMBNAIL)
    )
    assert engine.backend.captures == captured  # type: ignore[attr-defined]
    assert result.cache_hits == 1
    metadata = result.metadata[4]
    assert metadata.quality is CaptureQuality.THUMBNAIL
    assert metadata.derived_from is CaptureQuality.OPTIMIZED
    expected = tuple(tier_size("thumbnail", *SCREEN))
    assert decode(result.screenshots[4]).size == expected == metadata.resolution
    assert engine.cache.get_stats()["derived_hits"] == 1
    await engine.close()


async def test_a_lower_tier_never_serves_a_higher_request() -> None:
    engine = make_engine()
    await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[5], quality=CaptureQuality.THUMBNAIL)
    )
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[5], quality=CaptureQuality.FULL)
    )
    assert (result.cache_hits, result.new_captures) == (0, 1)
    assert decode(result.screenshots[5]).size == SCREEN
    await engine.close()


# --- the engine ----------------------------------------------------------------------------------


async def test_screenshots_are_jpeg_bytes_with_lazy_pixels() -> None:
    engine = make_engine()
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.FULL)
    )
    shot = result.screenshots[1]
    assert isinstance(shot, bytes)
    assert isinstance(shot, JpegScreenshot)
    assert not shot.decoded
    assert shot.shape == (SCREEN[1], SCREEN[0], 3)
    assert shot.array.dtype == np.uint8
    assert shot.decoded
    assert shot.to_image().size == SCREEN
    assert Image.fromarray(shot.array).size == SCREEN
    meta = result.metadata[1]
    assert meta.file_size == len(shot) < SCREEN[0] * SCREEN[1] * 4 // 5
    assert meta.resolution == meta.source_resolution == SCREEN
    assert meta.is_active_space
    await engine.close()


async def test_concurrent_requests_for_one_space_share_a_capture() -> None:
    backend = GatedBackend(spaces=9)
    engine = engine_on(backend)
    request = SpaceCaptureRequest(space_ids=[2], use_cache=False)
    both = asyncio.gather(engine.capture_all_spaces(request), engine.capture_all_spaces(request))
    try:
        # The first capture is held until the second request has joined it (or, were sharing
        # broken, has begun a capture of its own).
        await wait_until(lambda: engine.shared_captures + backend.begun >= 2)
    finally:
        backend.gate.set()
    first, second = await both
    assert backend.begun == backend.captures == 1
    assert engine.shared_captures == 1
    assert first.screenshots[2] == second.screenshots[2]
    await engine.close()


async def test_one_failing_space_does_not_fail_the_others() -> None:
    engine = make_engine()
    engine.backend.failing_spaces.add(2)  # type: ignore[attr-defined]
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1, 2, 3], parallel=True)
    )
    assert sorted(result.screenshots) == [1, 3]
    assert "space 2" in result.errors[2]
    assert result.success
    assert engine.capture_failures == 1
    await engine.close()


async def test_request_callback_receives_the_results() -> None:
    seen: list[tuple[list[int], list[int]]] = []

    async def on_done(screenshots: dict[int, bytes], metadata: dict[int, object]) -> None:
        seen.append((sorted(screenshots), sorted(metadata)))

    engine = make_engine()
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[3, 1], callback=on_done))
    assert seen == [([1, 3], [1, 3])]
    await engine.close()


async def test_monitored_spaces_always_bound_the_set() -> None:
    manager = make_manager(monitored_spaces=[2, 4, 42])
    await manager.override_pressure(MemoryPressure.GREEN)
    engine = make_engine(manager)
    assert await engine.get_spaces_to_monitor() == [2, 4]
    result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2, 3, 4]))
    assert sorted(result.screenshots) == [2, 4]
    assert sorted(result.skipped) == [1, 3]
    await engine.close()


async def test_prefetch_respects_the_level() -> None:
    manager = make_manager()
    await manager.override_pressure(MemoryPressure.RED)
    engine = make_engine(manager)
    assert await engine.prefetch_spaces([2, 3]) is None
    await manager.override_pressure(MemoryPressure.GREEN)
    task = await engine.prefetch_spaces([2, 3])
    assert task is not None
    result = await task
    assert sorted(result.screenshots) == [2, 3]
    assert result.quality is CaptureQuality.OPTIMIZED
    await engine.close()


async def test_health_and_space_listing() -> None:
    engine = make_engine(spaces=4)
    healthy, message, info = await engine.check_system_health()
    assert healthy
    assert message
    assert info is not None
    assert info["spaces"] == [1, 2, 3, 4]
    assert await engine.enumerate_spaces() == [1, 2, 3, 4]
    engine.backend.switch_to(3)  # type: ignore[attr-defined]
    assert await engine.get_current_space() == 3
    await engine.close()


async def test_monitor_space_changes_reports_new_spaces() -> None:
    backend = ListingBackend(spaces=2)
    engine = engine_on(backend)
    seen: list[list[int]] = []
    task = asyncio.create_task(engine.monitor_space_changes(seen.append, interval=0.02))
    await wait_until(lambda: backend.listings >= 1)  # the starting point: two spaces
    backend.spaces = 3
    await wait_until(lambda: seen or task.done())
    listed = backend.listings
    # Two more listings: the one after the report has been compared, and found unchanged.
    await wait_until(lambda: backend.listings >= listed + 2 or task.done())
    assert not task.done(), task.exception()  # the monitor still runs
    task.cancel()
    assert seen == [[1, 2, 3]]
    await engine.close()


async def test_bad_inputs_are_clear_errors() -> None:
    cache = MultiSpaceCaptureCache(max_size_mb=1, config=MemoryConfig(env={}))
    with pytest.raises(TypeError, match="JPEG bytes or a"):
        await cache.put(1, "not an image", metadata_for(1, CaptureQuality.FAST))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metadata is for space 2"):
        await cache.put(1, b"x", metadata_for(2, CaptureQuality.FAST))
    with pytest.raises(ValueError, match="max_size_mb must be >= 0"):
        MultiSpaceCaptureCache(max_size_mb=-1)
    with pytest.raises(ValueError, match="target_mb must be >= 0"):
        await cache.evict_to_target_size(-5)
    await cache.close()


async def test_put_of_a_pixel_array_encodes_it() -> None:
    cache = MultiSpaceCaptureCache(max_size_mb=10, config=MemoryConfig(env={}))
    frame = SyntheticBackend(spaces=1, size=SCREEN).capture(1)
    assert await cache.put(1, frame, metadata_for(1, CaptureQuality.FAST))
    hit = await cache.get(1, CaptureQuality.FAST)
    assert hit is not None
    shot, metadata = hit
    assert decode(shot).size == (SCREEN[0] // 2, SCREEN[1] // 2) == metadata.resolution
    assert await cache.get(1, CaptureQuality.FAST, max_age=-1) is None  # too old for the caller
    old = metadata_for(2, CaptureQuality.FAST)
    old.capture_time = datetime.now(UTC) - timedelta(hours=1)
    await cache.put(2, b"jpeg of an hour ago", old)
    assert await cache.get(2, CaptureQuality.FAST, max_age=60) is None
    assert await cache.get(2, CaptureQuality.FAST) is not None
    stats = cache.get_stats()
    for key in (
        "size_mb",
        "max_size_mb",
        "entries",
        "hit_count",
        "miss_count",
        "hit_rate",
        "dynamic_sizing",
        "compression_enabled",
        "compression_quality",
        "thumbnail_size",
    ):
        assert key in stats
    await cache.close()


# --- the optimizer -------------------------------------------------------------------------------


def test_next_space_prediction_follows_observed_transitions() -> None:
    optimizer = MultiSpaceOptimizer(clock=ManualClock())
    for _ in range(6):
        for space in (1, 2, 5):
            optimizer.track_space_access(space)
    optimizer.track_space_access(1)
    optimizer.track_space_access(3)
    prediction = dict(optimizer.predict_next_spaces(1))
    assert prediction[2] == pytest.approx(6 / 7)
    assert prediction[3] == pytest.approx(1 / 7)
    assert optimizer.predict_next_spaces(9) == []


def test_patterns_are_detected() -> None:
    clock = ManualClock()
    optimizer = MultiSpaceOptimizer(clock=clock)
    for _ in range(12):
        clock.now += 60
        optimizer.track_space_access(1)
    for _ in range(12):
        clock.now += 600
        optimizer.track_space_access(2)
    patterns = {
        space: info["pattern"]
        for space, info in optimizer.get_optimization_stats()["space_patterns"].items()
    }
    assert patterns == {1: "frequent", 2: "periodic"}


def test_prefetch_candidates_depend_on_the_level() -> None:
    optimizer = MultiSpaceOptimizer(clock=ManualClock())
    for _ in range(5):
        optimizer.track_space_access(4)
        optimizer.track_space_access(8)
    spaces = list(range(1, 10))
    assert optimizer.prefetch_candidates(4, spaces, MemoryPressure.GREEN)[0] == 8
    assert set(optimizer.prefetch_candidates(4, spaces, MemoryPressure.GREEN)) >= {3, 5}
    assert optimizer.prefetch_candidates(4, spaces, MemoryPressure.YELLOW) == [3, 5]
    assert optimizer.prefetch_candidates(4, spaces, MemoryPressure.RED) == []
    assert optimizer.prefetch_candidates(4, spaces, MemoryPressure.UNKNOWN) == []


async def test_optimizer_never_raises_quality_and_keeps_new_spaces_as_asked() -> None:
    optimizer = MultiSpaceOptimizer(clock=ManualClock())
    request = SpaceCaptureRequest(space_ids=[7], quality=CaptureQuality.FAST)
    assert (await optimizer.optimize_capture_request(request)).quality is CaptureQuality.FAST
    for _ in range(20):
        optimizer.track_space_access(7)
    request = SpaceCaptureRequest(space_ids=[7], quality=CaptureQuality.THUMBNAIL)
    assert (await optimizer.optimize_capture_request(request)).quality is CaptureQuality.THUMBNAIL


async def test_engine_with_optimizer_stays_within_policy_and_tracks() -> None:
    manager = make_manager()
    await manager.override_pressure(MemoryPressure.YELLOW)
    engine = make_engine(manager)
    optimizer = MultiSpaceOptimizer(capture_engine=engine)
    engine.optimizer = optimizer
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1, 2], quality=CaptureQuality.FULL)
    )
    assert result.quality is CaptureQuality.FAST
    stats = optimizer.get_optimization_stats()
    for key in (
        "cache_hit_rate",
        "total_captures",
        "average_capture_time",
        "tracked_spaces",
        "optimization_active",
        "space_patterns",
    ):
        assert key in stats
    assert stats["total_captures"] == 2
    assert await optimizer.prefetch_once() == [2]  # yellow: the active space's neighbour
    await optimizer.start_optimization()
    assert optimizer.get_optimization_stats()["optimization_active"]
    await optimizer.stop_optimization()
    await engine.close()


# --- end to end ----------------------------------------------------------------------------------


async def test_end_to_end_level_sequence_on_nine_spaces() -> None:
    manager = make_manager(cache_size_green=12, cache_size_yellow=3, cache_size_red=1)
    engine = make_engine(manager, spaces=9)
    engine.backend.switch_to(5)  # type: ignore[attr-defined]
    expectations = [
        (MemoryPressure.GREEN, list(range(1, 10)), CaptureQuality.OPTIMIZED, 12),
        (MemoryPressure.YELLOW, [4, 5, 6], CaptureQuality.FAST, 3),
        (MemoryPressure.RED, [5], CaptureQuality.THUMBNAIL, 1),
        (MemoryPressure.GREEN, list(range(1, 10)), CaptureQuality.OPTIMIZED, 12),
    ]
    for level, spaces, tier, budget_mb in expectations:
        await manager.override_pressure(level)
        assert engine.cache.size_bytes <= budget_mb * MIB
        result = await engine.capture_all_spaces(
            SpaceCaptureRequest(space_ids=list(range(1, 10)), quality=CaptureQuality.FULL)
        )
        assert sorted(result.screenshots) == spaces, level
        assert sorted(result.skipped) == sorted(set(range(1, 10)) - set(spaces))
        expected_size = tuple(tier_size(tier.value, *SCREEN))
        for space_id, shot in result.screenshots.items():
            assert result.metadata[space_id].quality is tier
            assert decode(shot).size == expected_size
        assert engine.cache.size_bytes <= budget_mb * MIB
        assert engine.get_cache_stats()["max_size_mb"] == budget_mb
    await engine.close()


async def test_pressure_returns_the_encoders_pooled_buffers() -> None:
    from ironcliw_mem import release_image_buffers

    manager = make_manager()
    await manager.override_pressure(MemoryPressure.GREEN)
    engine = make_engine(manager)
    request = SpaceCaptureRequest(space_ids=[1], use_cache=False)
    await engine.capture_all_spaces(request)
    assert release_image_buffers() > 0  # captures leave resize buffers pooled
    await engine.capture_all_spaces(request)
    await manager.override_pressure(MemoryPressure.RED)
    assert release_image_buffers() == 0  # the level change already gave them back
    await engine.close()


async def test_metadata_lives_and_goes_with_its_entry() -> None:
    cache = MultiSpaceCaptureCache(max_size_mb=1, config=MemoryConfig(env={}))
    for space_id in range(1, 40):
        metadata = metadata_for(space_id, CaptureQuality.FAST)
        metadata.applications = [f"app of space {space_id}"]
        await cache.put(space_id, bytes([space_id]) * 200_000, metadata)
    entries = cache.get_stats()["entries"]
    assert entries <= 5  # the budget pushed the older ones out
    spaces = cache.entries_by_space()
    assert sum(len(tiers) for tiers in spaces.values()) == entries
    for space_id in range(1, 40):
        hit = await cache.get(space_id, CaptureQuality.FAST)
        assert (hit is not None) == (space_id in spaces)
        if hit is not None:
            shot, metadata = hit
            assert shot == bytes([space_id]) * 200_000
            assert (metadata.space_id, metadata.applications) == (
                space_id,
                [f"app of space {space_id}"],
            )
    # The metadata is part of each entry's bytes, so it counts against the budget: more than the
    # JPEGs, their keys and the native per-entry overhead alone.
    bare = sum(
        len(cache_key(space_id, CaptureQuality.FAST)) + 200_000 + ENTRY_OVERHEAD
        for space_id in spaces
    )
    assert cache.size_bytes > bare
    await cache.evict_to_target_size(0)
    assert cache.entries_by_space() == {}
    assert await cache.get(39, CaptureQuality.FAST) is None
    await cache.close()


async def test_ages_follow_the_caches_clock_not_the_wall_clock() -> None:
    clock = ManualClock()
    engine = MultiSpaceCaptureEngine(
        backend=SyntheticBackend(spaces=1, size=SCREEN),
        config=MemoryConfig(cache_default_ttl=300, env={}),
        clock=clock,
    )
    request = SpaceCaptureRequest(space_ids=[1], cache_ttl=30)
    assert (await engine.capture_all_spaces(request)).new_captures == 1
    clock.now += 29
    assert (await engine.capture_all_spaces(request)).cache_hits == 1
    clock.now += 2  # 31 s by the cache's clock, a moment by the wall clock: too old to serve
    again = await engine.capture_all_spaces(request)
    assert (again.cache_hits, again.new_captures) == (0, 1)
    assert engine.cache.get_stats()["entries"] == 1
    await engine.close()


class SizedEncoder:
    """An encoder model: bytes of a fixed size per tier, counted, never a real JPEG."""

    def __init__(self) -> None:
        self.encodes = 0
        self.derivations = 0

    def encode(
        self,
        frame: Any,
        tier: CaptureQuality,
        *,
        jpeg_quality: int,
        subsampling: str,
        thumbnail_size: tuple[int, int],
        pixel_format: str | None,
    ) -> EncodedImage:
        self.encodes += 1
        return EncodedImage(bytes(1000 * tier.fidelity), 10, 10, f"encoded {tier.value}")

    def derive(
        self,
        jpeg: Any,
        source_resolution: tuple[int, int],
        tier: CaptureQuality,
        *,
        jpeg_quality: int,
        subsampling: str,
        thumbnail_size: tuple[int, int],
    ) -> EncodedImage | None:
        self.derivations += 1
        return EncodedImage(bytes(1000 * tier.fidelity), 5, 5, f"derived {tier.value}")


async def test_the_engine_and_cache_encode_through_the_encoder_they_are_given() -> None:
    encoder = SizedEncoder()
    engine = MultiSpaceCaptureEngine(
        backend=SyntheticBackend(spaces=1, size=SCREEN),
        config=MemoryConfig(env={}),
        encoder=encoder,
    )
    captured = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
    fidelity = CaptureQuality.OPTIMIZED.fidelity
    assert len(captured.screenshots[1]) == 1000 * fidelity == engine.bytes_encoded
    derived = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.THUMBNAIL)
    )
    assert derived.metadata[1].content_hash == "derived thumbnail"
    assert (encoder.encodes, encoder.derivations) == (1, 1)
    await engine.close()


async def test_a_cache_without_a_sweep_interval_starts_no_sweep_and_engine_checks_its_args() -> (
    None
):
    clock = ManualClock()
    cache = MultiSpaceCaptureCache(
        default_ttl=5, config=MemoryConfig(env={}), clock=clock, sweep_interval=None
    )
    await cache.put(1, bytes(1000), metadata_for(1, CaptureQuality.FAST))
    assert cache._sweeper is None
    clock.now += 6
    assert cache.size_bytes > 0  # nothing sweeps on its own
    assert cache.expire() == 1
    engine = MultiSpaceCaptureEngine(backend=SyntheticBackend(spaces=1, size=SCREEN), cache=cache)
    assert engine.cache is cache
    with pytest.raises(ValueError, match="either cache= or"):
        MultiSpaceCaptureEngine(backend=SyntheticBackend(spaces=1), cache=cache, clock=clock)
    with pytest.raises(ValueError, match="sweep_interval must be > 0"):
        MultiSpaceCaptureCache(sweep_interval=0)
    await engine.close()


async def test_a_small_screens_fast_tier_does_not_serve_a_larger_thumbnail() -> None:
    # On a 640x400 screen the fast tier is 320x200 and the 400x300 box fits a 400x250 thumbnail.
    backend = SyntheticBackend(spaces=1, size=(640, 400))
    engine = MultiSpaceCaptureEngine(backend=backend, config=MemoryConfig(env={}))
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.FAST))
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.THUMBNAIL)
    )
    assert result.errors == {}
    assert (result.cache_hits, result.new_captures) == (0, 1)
    assert decode(result.screenshots[1]).size == (400, 250)
    await engine.close()


async def test_clear_cache_sticks_while_captures_are_in_flight() -> None:
    backend = GatedBackend(spaces=2)
    engine = engine_on(backend)
    request = asyncio.create_task(
        engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2], parallel=True))
    )
    try:
        await wait_until(lambda: backend.begun == 2)  # both captures have begun, and wait
        await engine.clear_cache()
    finally:
        backend.gate.set()
    result = await request
    assert sorted(result.screenshots) == [1, 2]  # the caller still gets its pictures
    assert engine.cache.get_stats()["entries"] == 0  # but they are not cached after the clear
    await engine.close()


async def test_cancelling_one_request_does_not_fail_another_sharing_its_capture() -> None:
    backend = GatedBackend(spaces=2)
    engine = engine_on(backend)
    request = SpaceCaptureRequest(space_ids=[1], use_cache=False)
    owner = asyncio.create_task(engine.capture_all_spaces(request))
    try:
        await wait_until(lambda: backend.begun == 1)  # the owner's capture is in flight
        sharer = asyncio.create_task(engine.capture_all_spaces(request))
        await wait_until(lambda: engine.shared_captures + backend.begun >= 2)
        owner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await owner
        assert owner.cancelled()
    finally:
        backend.gate.set()
    result = await sharer
    assert result.errors == {}
    assert sorted(result.screenshots) == [1]
    assert engine.shared_captures == 1
    assert backend.begun == backend.captures == 1
    await engine.close()


async def test_dropped_engines_are_not_kept_alive_by_the_manager() -> None:
    import gc
    import weakref

    manager = make_manager()
    await manager.override_pressure(MemoryPressure.GREEN)
    engine = make_engine(manager)
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
    cache_ref = weakref.ref(engine.cache)
    del engine
    gc.collect()
    await asyncio.sleep(0)
    assert cache_ref() is None
    await manager.override_pressure(MemoryPressure.RED)  # its listener is now a no-op


async def test_nonexistent_spaces_are_errors_not_policy_skips() -> None:
    engine = make_engine(spaces=3)
    result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 7]))
    assert "space 7 does not exist" in result.errors[7]
    assert 7 not in result.skipped
    assert sorted(result.screenshots) == [1]
    await engine.close()


async def test_space_monitor_survives_a_failing_callback() -> None:
    backend = ListingBackend(spaces=2)
    engine = engine_on(backend)
    seen: list[list[int]] = []

    def callback(spaces: list[int]) -> None:
        seen.append(spaces)
        raise RuntimeError("listener bug")

    task = asyncio.create_task(engine.monitor_space_changes(callback, interval=0.02))
    await wait_until(lambda: backend.listings >= 1)  # the starting point: two spaces
    backend.spaces = 3
    await wait_until(lambda: len(seen) >= 1 or task.done())
    backend.spaces = 4
    await wait_until(lambda: len(seen) >= 2 or task.done())
    assert not task.done(), task.exception()  # the monitor still runs
    task.cancel()
    assert seen == [[1, 2, 3], [1, 2, 3, 4]]
    await engine.close()


async def test_a_derived_tier_expires_with_its_source() -> None:
    clock = ManualClock()
    config = MemoryConfig(cache_default_ttl=20, env={})
    engine = MultiSpaceCaptureEngine(
        backend=SyntheticBackend(spaces=1, size=SCREEN), config=config, clock=clock
    )
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
    clock.now += 15
    derived = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.THUMBNAIL)
    )
    assert derived.cache_hits == 1
    assert derived.metadata[1].derived_from is CaptureQuality.OPTIMIZED
    clock.now += 4.5  # just before the source's TTL: both tiers are still there
    engine.cache.expire()
    assert engine.cache.get_stats()["entries"] == 2
    clock.now += 1  # past the source's TTL, though only 5.5 s after the derivation
    engine.cache.expire()
    assert engine.cache.get_stats()["entries"] == 0
    await engine.close()


async def test_predictions_learn_from_the_users_moves_not_request_order() -> None:
    engine = make_engine(spaces=3)
    optimizer = MultiSpaceOptimizer(capture_engine=engine)
    engine.optimizer = optimizer
    engine.backend.switch_to(2)  # type: ignore[attr-defined]
    for _ in range(5):
        await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2, 3]))
    assert optimizer.predict_next_spaces(1) == []
    assert optimizer.predict_next_spaces(2) == []
    engine.backend.switch_to(3)  # type: ignore[attr-defined]
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[3]))
    assert optimizer.predict_next_spaces(2) == [(3, 1.0)]
    hits_before = optimizer.cache_hits
    task = await engine.prefetch_spaces([1])
    assert task is not None
    await task
    assert optimizer.cache_hits == hits_before  # prefetches do not count as the agent's hits
    await engine.close()


@pytest.mark.parametrize("change", ["replaced", "expired"])
async def test_a_derived_tier_is_not_kept_when_its_source_changes_while_it_encodes(
    change: str,
) -> None:
    clock = ManualClock()
    encoding, finish = threading.Event(), threading.Event()

    class HeldDerivation(NativeTierEncoder):
        def derive(self, *args: Any, **kwargs: Any) -> Any:
            encoding.set()
            if not finish.wait(WAIT_LIMIT_S):
                raise RuntimeError("the test never let the derivation finish")
            return super().derive(*args, **kwargs)

    config = MemoryConfig(cache_default_ttl=20, env={})
    engine = MultiSpaceCaptureEngine(
        backend=SyntheticBackend(spaces=1, size=SCREEN),
        config=config,
        clock=clock,
        encoder=HeldDerivation(),
    )
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
    clock.now += 15
    thumbnail = SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.THUMBNAIL)
    deriving = asyncio.create_task(engine.capture_all_spaces(thumbnail))
    try:
        await wait_until(encoding.is_set, "the derivation began")
        if change == "replaced":  # a newer capture of the source: its TTL is not the old frame's
            await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1], use_cache=False))
        else:
            clock.now += 6  # past the source's TTL: nothing left to expire with
    finally:
        finish.set()
    derived = await deriving
    assert derived.cache_hits == 1  # the caller still gets the picture it asked for
    assert derived.metadata[1].derived_from is CaptureQuality.OPTIMIZED
    engine.cache.expire()
    expected = {"replaced": 1, "expired": 0}[change]  # the new source only, or nothing
    assert engine.cache.get_stats()["entries"] == expected
    await engine.close()
