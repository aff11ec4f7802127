"""The shared vocabulary: the original level names and the fidelity order of capture qualities."""

from __future__ import annotations

import pytest

from ironcliw_mem.levels import CaptureQuality, MemoryPressure

GREEN, YELLOW, RED = MemoryPressure.GREEN, MemoryPressure.YELLOW, MemoryPressure.RED


def test_pressure_values_are_the_originals() -> None:
    assert [m.value for m in MemoryPressure] == ["normal", "warn", "critical", "unknown"]
    assert MemoryPressure.parse("critical") is RED
    assert MemoryPressure.parse("Yellow") is YELLOW
    assert MemoryPressure.from_level("green") is GREEN
    with pytest.raises(ValueError, match="accepted"):
        MemoryPressure.from_level("normal")


def test_quality_order_is_fidelity_not_alphabet() -> None:
    # Alphabetically "fast" < "full" < "optimized" < "thumbnail": the originals' bug.
    order = sorted(CaptureQuality, key=lambda q: q)
    assert order == [
        CaptureQuality.THUMBNAIL,
        CaptureQuality.FAST,
        CaptureQuality.OPTIMIZED,
        CaptureQuality.FULL,
    ]
    assert CaptureQuality.THUMBNAIL < CaptureQuality.FULL
    assert CaptureQuality.OPTIMIZED > CaptureQuality.FAST
    assert max(CaptureQuality.FULL, CaptureQuality.OPTIMIZED) is CaptureQuality.FULL
    with pytest.raises(TypeError):
        _ = CaptureQuality.FULL < "thumbnail"  # type: ignore[operator]
