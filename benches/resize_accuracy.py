"""How closely `downscale` matches Pillow's resize, per filter, over a range of sizes.

For each filter and each (source, target) size pair, both resize the same RGB frame (a drawn
desktop, and uniform noise, which has the sharpest possible edges); the script prints the
largest per-channel difference in levels (0-255), where it is, and the share of channel values
that differ by more than 1. For the box filter, whose exact result is known (the area-weighted
mean of the source pixels each target pixel covers), it also prints, at the worst pixel of each
size, how far ours and Pillow's are from that exact mean.

Usage: python benches/resize_accuracy.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

import ironcliw_mem as m
from imaging_contenders import PIL_FILTERS, screen_frame

Array = npt.NDArray[np.uint8]

SOURCES = [(1440, 900), (1000, 700), (641, 401)]
# Target widths as shares of the source; heights keep the aspect ratio (what the tiers do), plus
# odd shares that stress the filters' phase.
SHARES = [0.9, 0.75, 0.7, 0.66, 0.5, 0.45, 0.37, 0.3, 0.25, 0.2, 0.13, 0.1]
QUICK_SHARES = [0.75, 0.5, 0.3]


def frames(width: int, height: int) -> dict[str, Array]:
    desktop = screen_frame(width, height)[..., 2::-1].copy()  # BGRA -> RGB
    noise = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return {"desktop": desktop, "noise": noise}


def box_exact(src: Array, width: int, height: int, x: int, y: int) -> npt.NDArray[np.float64]:
    """The exact area-weighted mean of the source region target pixel (x, y) covers."""
    sh, sw = src.shape[:2]

    def weights(index: int, out: int, size: int) -> npt.NDArray[np.float64]:
        scale = size / out
        lo, hi = index * scale, (index + 1) * scale
        edges = np.arange(size, dtype=np.float64)
        return np.clip(np.minimum(edges + 1, hi) - np.maximum(edges, lo), 0, None)

    wy, wx = weights(y, height, sh), weights(x, width, sw)
    area = np.outer(wy, wx)
    return np.asarray(
        np.tensordot(area, src.astype(np.float64), axes=([0, 1], [0, 1])) / area.sum()
    )


def compare(quick: bool) -> None:
    shares = QUICK_SHARES if quick else SHARES
    print(f"ironcliw-mem {m.__version__} vs Pillow {Image.__version__}; levels are 0-255")
    for filter_name, resample in PIL_FILTERS.items():
        worst_overall = 0
        print(f"\n== {filter_name} (Pillow {resample.name})")
        print(
            f"{'frame':8} {'source':>10} {'target':>10} {'max diff':>8} {'at (x,y)':>12} "
            f"{'>1 share':>9}"
            + ("  worst pixel vs exact mean: ours / Pillow" if filter_name == "box" else "")
        )
        for sw, sh in SOURCES:
            for name, src in frames(sw, sh).items():
                for share in shares:
                    w, h = max(1, int(sw * share)), max(1, int(sh * share))
                    ours = m.downscale(m.Frame(src), w, h, filter=filter_name)
                    theirs = np.asarray(Image.fromarray(src).resize((w, h), resample))
                    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
                    worst = int(diff.max())
                    worst_overall = max(worst_overall, worst)
                    y, x, c = np.unravel_index(int(diff.argmax()), diff.shape)
                    over_one = float((diff > 1).mean())
                    line = (
                        f"{name:8} {f'{sw}x{sh}':>10} {f'{w}x{h}':>10} {worst:8d} "
                        f"{f'({x},{y})':>12} {over_one:9.4%}"
                    )
                    if filter_name == "box" and worst > 1:
                        exact = box_exact(src, w, h, int(x), int(y))[c]
                        line += (
                            f"  exact {exact:6.1f}: ours {int(ours[y, x, c]):3d} "
                            f"(off {abs(ours[y, x, c] - exact):5.1f}) / Pillow "
                            f"{int(theirs[y, x, c]):3d} (off {abs(theirs[y, x, c] - exact):5.1f})"
                        )
                    print(line)
        print(f"-> {filter_name}: largest difference from Pillow over these sizes: {worst_overall}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three shares only (CI smoke)")
    compare(parser.parse_args().quick)


if __name__ == "__main__":
    main()
