"""The synthetic screens: deterministic, UI-like, different per space, changing with time."""

from __future__ import annotations

import numpy as np
import pytest

from ironcliw_mem.capture import CaptureBackend, CaptureError, SyntheticBackend
from support import ManualClock


def test_is_a_capture_backend_with_bgra_frames() -> None:
    backend = SyntheticBackend(spaces=3, size=(640, 400))
    assert isinstance(backend, CaptureBackend)
    frame = backend.capture(1)
    assert frame.shape == (400, 640, 4)
    assert frame.dtype == np.uint8
    assert (frame[..., 3] == 255).all()
    assert backend.list_spaces() == [1, 2, 3]


def test_default_size_is_a_retina_screen() -> None:
    frame = SyntheticBackend(spaces=1).capture(1)
    assert frame.shape == (1800, 2880, 4)


def test_same_time_same_pixels_and_spaces_differ() -> None:
    clock = ManualClock(1_700_000_000.0)
    first = SyntheticBackend(spaces=2, size=(640, 400), clock=clock)
    second = SyntheticBackend(spaces=2, size=(640, 400), clock=clock)
    assert np.array_equal(first.capture(1), second.capture(1))
    assert not np.array_equal(first.capture(1), first.capture(2))


def test_frames_change_over_time_but_only_in_part() -> None:
    clock = ManualClock(1_700_000_000.0)
    backend = SyntheticBackend(spaces=1, size=(960, 600), clock=clock)
    before = backend.capture(1)
    clock.now += 61
    after = backend.capture(1)
    changed = (before != after).any(axis=2).mean()
    assert 0 < changed < 0.2


def test_frames_carry_coloured_text() -> None:
    frame = SyntheticBackend(spaces=1, size=(1440, 900)).capture(1)
    bgr = frame[..., :3].reshape(-1, 3).astype(int)
    saturation = bgr.max(axis=1) - bgr.min(axis=1)
    distinct_colours = {tuple(c) for c in bgr[saturation > 100][::50]}
    assert len(distinct_colours) > 20


def test_unknown_or_failing_spaces_raise_capture_error() -> None:
    backend = SyntheticBackend(spaces=2, size=(128, 128))
    with pytest.raises(CaptureError, match="space 3 does not exist"):
        backend.capture(3)
    backend.failing_spaces.add(2)
    with pytest.raises(CaptureError, match="space 2"):
        backend.capture(2)
    with pytest.raises(CaptureError):
        backend.switch_to(0)
    backend.switch_to(2)
    assert backend.current_space() == 2


@pytest.mark.parametrize(("spaces", "size"), [(0, (640, 400)), (1, (10, 400))])
def test_bad_construction_is_a_value_error(spaces: int, size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SyntheticBackend(spaces=spaces, size=size)
