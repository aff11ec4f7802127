"""Capture at the size the tier needs: the size hint, the synthetic backend honouring it, the
engine encoding a small frame at the screen's tier size, and the cache never letting a frame
taken small stand for a larger tier."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from ironcliw_mem import CaptureQuality, MemoryConfig, tier_size
from ironcliw_mem.capture import MultiSpaceCaptureEngine, SpaceCaptureRequest, SyntheticBackend
from ironcliw_mem.capture.backends import CapturedFrame, SizeHint, frame_and_native_size
from ironcliw_mem.capture.encoding import NATIVE_ENCODER, encode_for_screen
from ironcliw_mem.capture.engine import takes_size_hint

SCREEN = (1440, 900)
BOX = (400, 300)


def hint(tier: CaptureQuality) -> SizeHint:
    return SizeHint(tier, BOX)


def engine_for(backend: Any) -> MultiSpaceCaptureEngine:
    return MultiSpaceCaptureEngine(backend=backend, config=MemoryConfig(env={}))


def test_the_synthetic_backend_draws_at_the_size_the_tier_needs() -> None:
    backend = SyntheticBackend(spaces=2, size=SCREEN, clock=lambda: 1000.0)
    full = backend.capture(1)
    assert isinstance(full, np.ndarray)
    assert full.shape == (900, 1440, 4)
    assert isinstance(backend.capture(1, hint(CaptureQuality.FULL)), np.ndarray)
    drawn_before = backend.pixels_drawn
    for tier in (CaptureQuality.OPTIMIZED, CaptureQuality.FAST, CaptureQuality.THUMBNAIL):
        captured = backend.capture(1, hint(tier))
        assert isinstance(captured, CapturedFrame)
        width, height = tier_size(tier.value, *SCREEN, thumbnail_size=BOX)
        assert captured.pixels.shape == (height, width, 4), tier
        assert captured.native_size == SCREEN
        assert frame_and_native_size(captured) == (captured.pixels, SCREEN)
    drawn = backend.pixels_drawn - drawn_before
    assert drawn == 1080 * 675 + 720 * 450 + 400 * 250  # never a full frame for them


def test_a_frame_drawn_small_shows_the_same_screen() -> None:
    backend = SyntheticBackend(spaces=2, size=SCREEN, clock=lambda: 1000.0)
    small = frame_and_native_size(backend.capture(1, hint(CaptureQuality.THUMBNAIL)))[0]
    height, width = small.shape[:2]

    def shrunk(space: int) -> np.ndarray:  # type: ignore[type-arg]
        frame = frame_and_native_size(backend.capture(space))[0]
        image = Image.fromarray(np.ascontiguousarray(frame[..., :3])).resize(
            (width, height), Image.Resampling.BOX
        )
        return np.asarray(image, dtype=np.int16)

    small_rgb = small[..., :3].astype(np.int16)
    same = np.abs(small_rgb - shrunk(1)).mean()
    other = np.abs(small_rgb - shrunk(2)).mean()
    assert same < 12 < other, (same, other)


async def test_a_tier_captured_small_has_the_screens_tier_size_and_derives_correctly() -> None:
    backend = SyntheticBackend(spaces=3, size=SCREEN)
    engine = engine_for(backend)
    optimized = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.OPTIMIZED)
    )
    meta = optimized.metadata[1]
    assert (meta.resolution, meta.source_resolution) == ((1080, 675), SCREEN)
    assert backend.pixels_drawn == 1080 * 675
    assert optimized.screenshots[1].shape == (675, 1080, 3)
    # Derived from the optimized tier, reckoned from the screen's size, not the frame's.
    fast = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.FAST)
    )
    assert fast.cache_hits == 1
    assert fast.metadata[1].derived_from is CaptureQuality.OPTIMIZED
    assert fast.metadata[1].resolution == (720, 450)
    assert fast.screenshots[1].shape == (450, 720, 3)
    await engine.close()


async def test_a_frame_captured_small_never_serves_a_larger_tier() -> None:
    backend = SyntheticBackend(spaces=3, size=SCREEN)
    engine = engine_for(backend)
    thumb = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[2], quality=CaptureQuality.THUMBNAIL)
    )
    assert thumb.metadata[2].resolution == (400, 250)
    for tier, size in ((CaptureQuality.FAST, (720, 450)), (CaptureQuality.FULL, SCREEN)):
        made = engine.captures_made
        result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[2], quality=tier))
        assert (result.cache_hits, result.new_captures) == (0, 1), tier
        assert engine.captures_made == made + 1
        assert result.metadata[2].resolution == size
        assert result.screenshots[2].shape[:2] == (size[1], size[0])
    await engine.close()


class ShortchangingBackend(SyntheticBackend):
    """Returns half of what the size hint asked for."""

    def capture(self, space_id: int, size_hint: SizeHint | None = None) -> Any:
        frame, native = frame_and_native_size(super().capture(space_id, size_hint))
        return CapturedFrame(np.ascontiguousarray(frame[::2, ::2]), native)


async def test_a_frame_smaller_than_its_hint_is_an_error_and_is_not_cached() -> None:
    engine = engine_for(ShortchangingBackend(spaces=1, size=SCREEN))
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.FAST)
    )
    assert not result.success
    assert "without upscaling" in result.errors[1]
    assert engine.capture_failures == 1
    assert engine.cache.get_stats()["entries"] == 0
    await engine.close()


def test_a_frame_between_the_tier_and_the_screen_is_resized_to_the_tier() -> None:
    def fast_tier(frame: np.ndarray) -> tuple[int, int]:  # type: ignore[type-arg]
        encoded = encode_for_screen(
            NATIVE_ENCODER,
            frame,
            SCREEN,
            CaptureQuality.FAST,
            jpeg_quality=80,
            subsampling="420",
            thumbnail_size=BOX,
            pixel_format="BGRA",
        )
        return encoded.width, encoded.height

    frame = np.full((700, 1100, 4), 90, dtype=np.uint8)
    assert fast_tier(frame) == (720, 450)
    with pytest.raises(ValueError, match="1440x900 screen"):
        fast_tier(frame[:400])


class OldStyleBackend(SyntheticBackend):
    """A backend written before size hints: `capture(space_id)` only."""

    def capture(self, space_id: int) -> Any:  # type: ignore[override]
        return super().capture(space_id)


async def test_a_backend_without_size_hints_is_called_as_before() -> None:
    backend = OldStyleBackend(spaces=1, size=SCREEN)
    assert not takes_size_hint(backend)
    assert takes_size_hint(SyntheticBackend())
    engine = engine_for(backend)
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1], quality=CaptureQuality.THUMBNAIL)
    )
    assert result.metadata[1].resolution == (400, 250)
    assert backend.pixels_drawn == SCREEN[0] * SCREEN[1]
    await engine.close()
