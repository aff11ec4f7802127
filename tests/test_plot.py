"""The profile plot: RSS and USS both visible where they coincide, the cache budget and the 800 MB
target drawn, the level bands named."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from PIL import Image

from ironcliw_mem.tools.plot import plot_profile

RSS = (0x7B, 0x9B, 0xD1)
USS = (0x4A, 0x14, 0x8C)
BUDGET = (0xBF, 0x36, 0x0C)
TARGET = (0xB7, 0x1C, 0x1C)


def report() -> dict[str, Any]:
    """Sixty samples: green, yellow, red; USS equal to RSS for the first half (a process whose
    pages are all its own), the budget falling with the level."""
    samples = []
    for i in range(60):
        level = "green" if i < 30 else "yellow" if i < 45 else "red"
        rss = 300.0 + 5 * i
        samples.append(
            {"t": float(i), "component": "vision" if i < 40 else "cache", "level": level,
             "rss_mb": rss, "uss_mb": rss if i < 30 else rss - 80, "cache_mb": 3.0 * i,
             "budget_mb": {"green": 500.0, "yellow": 200.0, "red": 100.0}[level],
             "gpu_process_mb": None, "gpu_used_mb": None}
        )  # fmt: skip
    return {
        "generated_at": "2026-12-05T12:00:00",
        "baseline": {"rss_mb": 250.0},
        "samples": samples,
        "benchmarks": [],
        "summary": {"highest_peak_mb": 595.0, "priority_3_target_met": True},
        "config": {"absolute_target_mb": 800.0},
    }


def count(image: Image.Image, target: tuple[int, int, int], slack: int = 10) -> int:
    colours = image.convert("RGB").getcolors(1 << 24) or []
    return sum(
        n for n, c in colours if all(abs(a - b) <= slack for a, b in zip(c, target, strict=True))
    )


def pixels(path: Path, target: tuple[int, int, int], slack: int = 10) -> int:
    with Image.open(path) as image:
        return count(image, target, slack)


def test_rss_uss_budget_and_target_are_all_visible(tmp_path: Path) -> None:
    png = plot_profile(report(), tmp_path / "profile.png")
    keep = os.environ.get("IRONCLIW_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / "profile.png")
    assert pixels(png, RSS) > 1500, "RSS is hidden"
    assert pixels(png, USS) > 400, "USS is hidden"
    assert pixels(png, BUDGET, 6) > 150, "the cache budget is not drawn"
    assert pixels(png, TARGET, 6) > 150, "the 800 MB target is not drawn"
    # Where USS equals RSS (the first half), both still show: USS dashed on a wider RSS line.
    with Image.open(png) as image:
        left = image.convert("RGB").crop((0, 0, image.width // 3, image.height))
    assert count(left, RSS) > 300
    assert count(left, USS) > 100


def test_the_level_bands_are_named() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ironcliw_mem.tools.plot import _label_bands

    samples = report()["samples"]
    fig, ax = plt.subplots()
    try:
        _label_bands(ax, [s["t"] for s in samples], samples)
        named = [t.get_text() for t in ax.texts]
    finally:
        plt.close(fig)
    assert named == ["green", "yellow", "red"]
