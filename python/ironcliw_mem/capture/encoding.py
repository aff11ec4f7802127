"""Frames to JPEG tiers and cached tiers to lower tiers, through the Rust encoder.

Every function here is blocking pixel work (the GIL is released inside the native calls); callers
on the event loop run them with `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from ironcliw_mem import _native
from ironcliw_mem.levels import CaptureQuality

# The dominant colours of UI text survive 4:4:4; Pillow's draft decode keeps thumbnails cheap.
RESAMPLING_FILTER: Final = "catmull-rom"


@dataclass(frozen=True)
class EncodedImage:
    jpeg: bytes
    width: int
    height: int
    content_hash: str


def content_hash(jpeg: bytes) -> str:
    # Hashing the JPEG (not the 20 MB frame) costs well under a millisecond.
    return hashlib.blake2b(jpeg, digest_size=16).hexdigest()


def encode_tier(
    frame: npt.NDArray[np.uint8] | _native.Frame,
    tier: CaptureQuality,
    *,
    jpeg_quality: int,
    subsampling: str,
    thumbnail_size: tuple[int, int],
) -> EncodedImage:
    """One tier of a captured frame (BGRA/RGB array or `Frame`)."""
    encoded = _native.encode_tiers(
        frame,
        tiers=[tier.value],
        quality=jpeg_quality,
        subsampling=subsampling,  # type: ignore[arg-type]
        thumbnail_size=thumbnail_size,
        filter=RESAMPLING_FILTER,
    )[tier.value]
    return EncodedImage(encoded.jpeg, encoded.width, encoded.height, content_hash(encoded.jpeg))


def derive_tier(
    jpeg: bytes,
    source_resolution: tuple[int, int],
    tier: CaptureQuality,
    *,
    jpeg_quality: int,
    subsampling: str,
    thumbnail_size: tuple[int, int],
) -> EncodedImage | None:
    """A lower tier made from a cached higher tier's JPEG, without a new capture; None when the
    cached image is smaller than the tier (a thumbnail box can exceed the fast tier of a small
    screen), since that would need upscaling."""
    width, height = _native.tier_size(tier.value, *source_resolution, thumbnail_size=thumbnail_size)
    with Image.open(io.BytesIO(jpeg)) as image:
        if width > image.width or height > image.height:
            return None
        # libjpeg can decode at 1/2, 1/4 or 1/8 scale directly; draft() picks the largest
        # scale that still covers the target, which makes the decode several times cheaper.
        image.draft("RGB", (width, height))
        pixels: npt.NDArray[np.uint8] = np.asarray(image.convert("RGB"))
    if (pixels.shape[1], pixels.shape[0]) != (width, height):
        pixels = _native.downscale(pixels, width, height, filter=RESAMPLING_FILTER)
    encoded = _native.encode_jpeg(pixels, jpeg_quality, subsampling)  # type: ignore[arg-type]
    return EncodedImage(encoded, width, height, content_hash(encoded))
