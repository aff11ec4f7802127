"""The encoder's kept buffers follow the memory level: a cap per level, none kept in red, what
is held beyond a lowered cap freed at once, all of it counted in the stats."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ironcliw_mem import MemoryPressure, _native
from ironcliw_mem.capture import MultiSpaceCaptureEngine, SpaceCaptureRequest, SyntheticBackend
from ironcliw_mem.policy import encoder_buffer_cap_mb
from support import calm_manager

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def default_cap() -> Iterator[None]:
    _native.set_image_buffer_cap(_native.IMAGE_BUFFER_POOL_MAX_BYTES)
    yield
    _native.set_image_buffer_cap(_native.IMAGE_BUFFER_POOL_MAX_BYTES)


class FullFrames(SyntheticBackend):
    """Full frames whatever the tier (as X11 gives them): every capture resizes."""

    def capture(self, space_id: int) -> Any:  # type: ignore[override]
        return super().capture(space_id)


def test_the_cap_per_level_falls_to_nothing_in_red() -> None:
    green, yellow, red = (
        encoder_buffer_cap_mb(level)
        for level in (MemoryPressure.GREEN, MemoryPressure.YELLOW, MemoryPressure.RED)
    )
    assert green >= yellow >= red == 0
    assert green * MIB <= _native.IMAGE_BUFFER_POOL_MAX_BYTES
    assert encoder_buffer_cap_mb(None) == green
    assert encoder_buffer_cap_mb(MemoryPressure.UNKNOWN) == yellow


async def test_kept_buffers_follow_the_level_and_are_counted() -> None:
    manager = calm_manager()
    await manager.override_pressure(MemoryPressure.GREEN)
    engine = MultiSpaceCaptureEngine(
        memory_manager=manager, backend=FullFrames(spaces=1, size=(1440, 900))
    )
    request = SpaceCaptureRequest(space_ids=[1], use_cache=False)
    await engine.capture_all_spaces(request)
    green = engine.get_cache_stats()["encoder_buffers"]
    assert green["cap_bytes"] == encoder_buffer_cap_mb(MemoryPressure.GREEN) * MIB
    assert green["held_bytes"] > 0
    assert green["resizers_held"] > 0

    await manager.override_pressure(MemoryPressure.RED)
    red = _native.image_buffer_stats()
    assert (red["cap_bytes"], red["held_bytes"], red["resizers_held"]) == (0, 0, 0)
    assert red["released_bytes"] - green["released_bytes"] == green["held_bytes"]
    await engine.capture_all_spaces(request)
    after = _native.image_buffer_stats()
    assert (after["held_bytes"], after["resizers_held"]) == (0, 0), "nothing kept in red"
    assert after["dropped"] > red["dropped"]

    await manager.override_pressure(MemoryPressure.GREEN)
    await engine.capture_all_spaces(request)
    again = _native.image_buffer_stats()
    assert again["cap_bytes"] == green["cap_bytes"]
    assert again["held_bytes"] > 0
    await engine.close()


def test_a_lowered_cap_frees_at_once_and_a_raised_one_frees_nothing() -> None:
    frame = np.zeros((900, 1440, 4), np.uint8)
    _native.encode_tiers(frame)
    held = _native.image_buffer_stats()["held_bytes"]
    assert held > 4 * MIB
    assert _native.set_image_buffer_cap(4 * MIB) >= held - 4 * MIB
    assert _native.image_buffer_stats()["held_bytes"] <= 4 * MIB
    assert _native.image_buffer_stats()["resizers_held"] == 0
    assert _native.set_image_buffer_cap(64 * MIB) == 0


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [(-1, ValueError, "cap_bytes"), ("64", TypeError, "cap_bytes"), (2**64, ValueError, "cap")],
)
def test_a_bad_cap_is_refused(value: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        _native.set_image_buffer_cap(value)  # type: ignore[arg-type]
