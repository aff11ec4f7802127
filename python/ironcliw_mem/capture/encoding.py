"""Frames to JPEG tiers and cached tiers to lower tiers, through the Rust encoder.

Every function here is blocking pixel work (the GIL is released inside the native calls); callers
on the event loop run them with `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, cast

import numpy as np
import numpy.typing as npt

from ironcliw_mem import _native
from ironcliw_mem.levels import CaptureQuality

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

# The filter of every tier, captured or derived (Pillow's BICUBIC).
RESAMPLING_FILTER: Final = "catmull-rom"


@dataclass(frozen=True)
class EncodedImage:
    jpeg: bytes
    width: int
    height: int
    content_hash: str


def content_hash(jpeg: Buffer) -> str:
    # Hashing the JPEG (not the 20 MB frame) costs well under a millisecond.
    return hashlib.blake2b(jpeg, digest_size=16).hexdigest()


def pixel_format_of(backend: object) -> str | None:
    """The layout a backend says its frames have, checked against what the encoder reads; None
    for a backend that does not say (then 4 channels are read as BGRA, 3 as RGB)."""
    declared = getattr(backend, "pixel_format", None)
    if declared is None:
        return None
    if not isinstance(declared, str) or declared.upper() not in _native.PIXEL_FORMATS:
        raise ValueError(
            f"capture backend {getattr(backend, 'name', type(backend).__name__)!r} declares "
            f"pixel_format={declared!r}; accepted: {', '.join(_native.PIXEL_FORMATS)}"
        )
    return declared.upper()


def as_frame(
    frame: npt.NDArray[np.uint8] | _native.Frame, pixel_format: str | None
) -> npt.NDArray[np.uint8] | _native.Frame:
    """`frame` with its layout attached: an array becomes a `Frame` of `pixel_format` (used in
    place, not copied); a `Frame` already carries its own, which must not contradict it."""
    if pixel_format is None:
        return frame
    layout = cast("_native.PixelFormatName", pixel_format.upper())
    if isinstance(frame, _native.Frame):
        if frame.pixel_format != layout:
            raise ValueError(
                f"the frame is {frame.pixel_format} but the backend declares {pixel_format}"
            )
        return frame
    return _native.Frame(cast("Buffer", frame), pixel_format=layout)  # an array is a buffer


def encode_tier(
    frame: npt.NDArray[np.uint8] | _native.Frame,
    tier: CaptureQuality,
    *,
    jpeg_quality: int,
    subsampling: str,
    thumbnail_size: tuple[int, int],
    pixel_format: str | None = None,
) -> EncodedImage:
    """One tier of a captured frame (an array or `Frame`). `pixel_format` is the array's layout
    (one of `PIXEL_FORMATS`); without it 4 channels are read as BGRA and 3 as RGB."""
    encoded = _native.encode_tiers(
        as_frame(frame, pixel_format),
        tiers=[tier.value],
        quality=jpeg_quality,
        subsampling=subsampling,  # type: ignore[arg-type]
        thumbnail_size=thumbnail_size,
        filter=RESAMPLING_FILTER,
    )[tier.value]
    return EncodedImage(encoded.jpeg, encoded.width, encoded.height, content_hash(encoded.jpeg))


def derive_tier(
    jpeg: Buffer,
    source_resolution: tuple[int, int],
    tier: CaptureQuality,
    *,
    jpeg_quality: int,
    subsampling: str,
    thumbnail_size: tuple[int, int],
) -> EncodedImage | None:
    """A lower tier made from a cached higher tier's JPEG, without a new capture, in one native
    call (scaled decode, resize, encode); None when the cached image is smaller than the tier (a
    thumbnail box can exceed the fast tier of a small screen), since that would need upscaling."""
    width, height = _native.tier_size(tier.value, *source_resolution, thumbnail_size=thumbnail_size)
    encoded = _native.derive_jpeg(
        jpeg,
        width,
        height,
        quality=jpeg_quality,
        subsampling=subsampling,  # type: ignore[arg-type]
        filter=RESAMPLING_FILTER,
    )
    if encoded is None:
        return None
    return EncodedImage(encoded, width, height, content_hash(encoded))


class TierEncoder(Protocol):
    """What the capture engine and cache call to make JPEG tiers: the seam where the replay
    benchmark puts a model with measured sizes instead of the real encoder."""

    def encode(
        self,
        frame: npt.NDArray[np.uint8] | _native.Frame,
        tier: CaptureQuality,
        *,
        jpeg_quality: int,
        subsampling: str,
        thumbnail_size: tuple[int, int],
        pixel_format: str | None,
    ) -> EncodedImage:
        """One tier of a captured frame (blocking; called from a worker thread); `pixel_format`
        is the layout the backend declares (None: 4 channels BGRA, 3 RGB)."""
        ...

    def derive(
        self,
        jpeg: Buffer,
        source_resolution: tuple[int, int],
        tier: CaptureQuality,
        *,
        jpeg_quality: int,
        subsampling: str,
        thumbnail_size: tuple[int, int],
    ) -> EncodedImage | None:
        """A lower tier from a cached higher tier's JPEG; None where it would need upscaling."""
        ...


class NativeTierEncoder:
    """The Rust encoder: libjpeg-turbo and fast_image_resize, the GIL released."""

    encode = staticmethod(encode_tier)
    derive = staticmethod(derive_tier)


NATIVE_ENCODER: Final = NativeTierEncoder()
