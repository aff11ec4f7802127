"""Inputs and contenders for the image benchmarks, shared by the pytest-benchmark suite and the
side-by-side table.

Every contender gets the same BGRA frame (what CGImage and mss hand over) and makes the same
tiers at the same size, quality and chroma subsampling:

- ironcliw_mem: ``encode_tiers`` with the filter asked for.
- pillow: its fastest path, ``Image.frombuffer(..., "raw", "BGRX")`` (no copy into RGBA, alpha
  ignored), ``resize`` with the same filter (the thumbnail with ``reducing_gap=2.0``, as
  ``Image.thumbnail`` does), ``save(format="JPEG", quality=, subsampling=)``.
- opencv: ``cv2.resize(INTER_AREA)`` (OpenCV's only downscale that reads every source pixel; its
  INTER_LINEAR samples 2x2 and skips the rest) and ``cv2.imencode`` with the same sampling factor.
- simplejpeg: libjpeg-turbo via ``encode_jpeg(colorspace="BGRA")``, resized by the same
  ``cv2.resize(INTER_AREA)`` (simplejpeg has no resize of its own).

All single-threaded: ``cv2.setNumThreads(1)``; Pillow and simplejpeg do not thread.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

import ironcliw_mem as m

Array = npt.NDArray[np.uint8]
Encode = Callable[[Array], dict[str, int]]

RESOLUTIONS = {"2880x1800": (2880, 1800), "5120x2880": (5120, 2880)}
TIER_CASES: dict[str, tuple[str, ...]] = {
    "full": ("full",),
    "optimized": ("optimized",),
    "fast": ("fast",),
    "thumbnail": ("thumbnail",),
    "all four": ("full", "optimized", "fast", "thumbnail"),
}
QUALITY = 85
SUBSAMPLING = "420"
THUMBNAIL_BOX = (400, 300)
PIL_FILTERS = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "catmull-rom": Image.Resampling.BICUBIC,
    "lanczos3": Image.Resampling.LANCZOS,
}
PIL_SUBSAMPLING = {"444": 0, "422": 1, "420": 2}
# Pillow's own default for Image.thumbnail: reduce() by an integer factor first, then resample.
PIL_THUMBNAIL_REDUCING_GAP = 2.0


def screen_frame(width: int, height: int) -> Array:
    """A BGRA desktop: title bar, sidebar, code-like lines of coloured text, swatches, a photo-ish
    gradient panel; JPEG sees both sharp text edges and smooth areas."""
    img = Image.new("RGB", (width, height), (246, 246, 248))
    draw = ImageDraw.Draw(img)
    scale = max(1, width // 1440)
    draw.rectangle((0, 0, width, 28 * scale), fill=(32, 34, 40))
    draw.rectangle((0, 28 * scale, 240 * scale, height), fill=(228, 231, 236))
    inks = [(190, 20, 40), (0, 110, 60), (20, 70, 200), (130, 30, 150), (20, 20, 20)]
    font = ImageFont.load_default(13 * scale)
    y, n = 40 * scale, 0
    while y < height - 20 * scale:
        draw.text(
            (260 * scale, y),
            f"{n:04d}  frame.encode(q={n % 100}) -> bytes  # {n * 7919}",
            fill=inks[n % 5],
            font=font,
        )
        draw.text((10 * scale, y), f"space {n % 9}", fill=inks[(n + 1) % 5], font=font)
        y += 19 * scale
        n += 1
    gy, gx = np.mgrid[0 : height // 3, 0 : width // 4]
    panel = np.stack(
        [gx * 255 // max(1, gx.max()), gy * 255 // max(1, gy.max()), (gx + gy) % 256], axis=2
    )
    img.paste(Image.fromarray(panel.astype(np.uint8)), (width - width // 4 - 20, height // 2))
    rgb = np.asarray(img)
    out = np.empty((height, width, 4), np.uint8)
    out[..., :3] = rgb[..., ::-1]
    out[..., 3] = 255
    return out


@dataclass(frozen=True)
class Contender:
    name: str
    make: Callable[[tuple[str, ...], str], Encode]


def ours(tiers: tuple[str, ...], filter_name: str) -> Encode:
    def run(frame: Array) -> dict[str, int]:
        out = m.encode_tiers(
            frame,
            tiers=tiers,
            quality=QUALITY,
            subsampling=SUBSAMPLING,
            thumbnail_size=THUMBNAIL_BOX,
            filter=filter_name,
        )
        return {name: t.nbytes for name, t in out.items()}

    return run


def pillow(tiers: tuple[str, ...], filter_name: str) -> Encode:
    resample = PIL_FILTERS[filter_name]

    def run(frame: Array) -> dict[str, int]:
        h, w = frame.shape[:2]
        img = Image.frombuffer("RGB", (w, h), frame, "raw", "BGRX", 0, 1)
        sizes = {}
        for tier in tiers:
            size = m.tier_size(tier, w, h, THUMBNAIL_BOX)
            gap = PIL_THUMBNAIL_REDUCING_GAP if tier == "thumbnail" else None
            out = img if size == (w, h) else img.resize(size, resample, reducing_gap=gap)
            buf = io.BytesIO()
            out.save(buf, format="JPEG", quality=QUALITY, subsampling=PIL_SUBSAMPLING[SUBSAMPLING])
            sizes[tier] = buf.tell()
        return sizes

    return run


def _cv2() -> Any:
    import cv2

    cv2.setNumThreads(1)
    return cv2


def area_resized(tiers: tuple[str, ...], encode: Callable[[Array], int]) -> Encode:
    """Each tier resized with cv2.resize(INTER_AREA) (full: the frame as is), then `encode`."""
    cv2 = _cv2()

    def run(frame: Array) -> dict[str, int]:
        h, w = frame.shape[:2]
        sizes = {}
        for tier in tiers:
            size = m.tier_size(tier, w, h, THUMBNAIL_BOX)
            out = frame if size == (w, h) else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            sizes[tier] = encode(out)
        return sizes

    return run


def opencv(tiers: tuple[str, ...], filter_name: str) -> Encode:
    cv2 = _cv2()
    factors = {"420": "IMWRITE_JPEG_SAMPLING_FACTOR_420", "422": "IMWRITE_JPEG_SAMPLING_FACTOR_422"}
    factor = getattr(cv2, factors.get(SUBSAMPLING, "IMWRITE_JPEG_SAMPLING_FACTOR_444"))
    params = [cv2.IMWRITE_JPEG_QUALITY, QUALITY, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor]

    def encode(img: Array) -> int:
        ok, jpeg = cv2.imencode(".jpg", img, params)
        assert ok
        return len(jpeg)

    return area_resized(tiers, encode)


def simplejpeg(tiers: tuple[str, ...], filter_name: str) -> Encode:
    import simplejpeg as sj

    def encode(img: Array) -> int:
        jpeg = sj.encode_jpeg(img, QUALITY, colorspace="BGRA", colorsubsampling=SUBSAMPLING)
        return len(jpeg)

    return area_resized(tiers, encode)


CONTENDERS = [
    Contender("ironcliw_mem", ours),
    Contender("pillow", pillow),
    Contender("opencv(area)", opencv),
    Contender("simplejpeg+cv2(area)", simplejpeg),
]
