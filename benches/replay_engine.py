"""The package's real capture engine, run by the replay in simulated time.

The replay drives the real `MultiSpaceCaptureEngine`, `MultiSpaceCaptureCache` and
`MacOSMemoryManager`; only what lies outside the package is modelled:

- the screens (`ModelScreens`, a `CaptureBackend`): a frame is a zero-byte numpy view of the
  screen's shape, so capturing costs nothing, while the backend counts the frames in flight, from
  their capture until their encode returns (each stands for a raw frame of the screen's size; the
  engine drops it then). Counting to the encode's return, not to the last reference, keeps the
  figure deterministic: the worker thread lets go of its reference a moment later, racing the
  event loop;
- the encoder (`MeasuredEncoder`, a `TierEncoder`): it returns bytes of the size the real encoder
  measured for that space, tier and JPEG quality (`measure_jpeg_sizes`), at no cost in time. A
  model JPEG starts with its space and pixel size, so a lower tier derived from it knows both.
"""

from __future__ import annotations

import struct
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from ironcliw_mem._native import encode_tiers, tier_size
from ironcliw_mem.capture.backends import SyntheticBackend
from ironcliw_mem.capture.encoding import RESAMPLING_FILTER, EncodedImage
from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.levels import CaptureQuality, MemoryPressure
from ironcliw_mem.policy import policy_for

HOUR = 3600
# (space, tier, JPEG quality) -> bytes of that JPEG.
SizeTable = dict[tuple[int, CaptureQuality, int], int]


def measure_jpeg_sizes(
    spaces: int, screen: tuple[int, int], config: MemoryConfig, factor: float = 1.0
) -> SizeTable:
    """JPEG bytes per (space, tier, JPEG quality), measured once with the real encoder on a
    synthetic frame of each space at the screen size, times `factor`; the replay reuses them."""
    qualities = sorted({policy_for(config, level).jpeg_quality for level in MemoryPressure})
    backend = SyntheticBackend(spaces=spaces, size=screen, clock=lambda: 12 * HOUR)
    sizes: SizeTable = {}
    for space_id in range(1, spaces + 1):
        frame = backend.capture(space_id)
        for jpeg_quality in qualities:
            tiers = encode_tiers(
                frame,
                tiers=[q.value for q in CaptureQuality],
                quality=jpeg_quality,
                subsampling=config.image_subsampling,  # type: ignore[arg-type]
                thumbnail_size=config.image_thumbnail_size,
                filter=RESAMPLING_FILTER,
            )
            for quality in CaptureQuality:
                measured = tiers[quality.value].nbytes
                sizes[(space_id, quality, jpeg_quality)] = round(measured * factor)
        del frame
    return sizes


class ModelFrame(np.ndarray[Any, np.dtype[np.uint8]]):
    """A frame of one space: the screen's shape, no pixels (a broadcast view of one pixel)."""

    space_id: int
    screens: ModelScreens


_ONE_PIXEL = np.zeros(4, dtype=np.uint8)


class ModelScreens:
    """`spaces` screens of `size` pixels; the replay sets the active space each tick. Counts the
    frames in flight (captured, not yet encoded) and their peak since `take_peak`."""

    name = "replay"
    pixel_format = "BGRA"

    def __init__(self, spaces: int, size: tuple[int, int]) -> None:
        self.spaces = list(range(1, spaces + 1))
        self.size = size
        self.active = 1
        self.captures = 0
        self._lock = threading.Lock()
        self._alive = 0
        self._peak = 0

    def list_spaces(self) -> list[int]:
        return list(self.spaces)

    def current_space(self) -> int:
        return self.active

    def capture(self, space_id: int) -> npt.NDArray[np.uint8]:
        width, height = self.size
        frame = np.broadcast_to(_ONE_PIXEL, (height, width, 4)).view(ModelFrame)
        frame.space_id = space_id
        frame.screens = self
        with self._lock:
            self.captures += 1
            self._alive += 1
            self._peak = max(self._peak, self._alive)
        return frame

    def encoded(self) -> None:
        """One frame's encode returned: the engine lets go of it."""
        with self._lock:
            self._alive -= 1

    def take_peak(self) -> int:
        """The most frames alive at once since the last call; starts over from those alive now."""
        with self._lock:
            peak, self._peak = self._peak, self._alive
        return peak


_MODEL_HEADER = struct.Struct("<III")  # space, width, height


class MeasuredEncoder:
    """A `TierEncoder` whose JPEGs have the measured size of their space, tier and quality."""

    def __init__(self, sizes: SizeTable) -> None:
        self.sizes = sizes
        self.bytes_encoded = 0  # captured and derived tiers alike
        self._lock = threading.Lock()

    def _image(self, space_id: int, tier: CaptureQuality, quality: int, w: int, h: int) -> Any:
        size = max(self.sizes[(space_id, tier, quality)], _MODEL_HEADER.size)
        jpeg = _MODEL_HEADER.pack(space_id, w, h) + bytes(size - _MODEL_HEADER.size)
        with self._lock:
            self.bytes_encoded += size
        return EncodedImage(jpeg, w, h, content_hash=f"{space_id}/{tier.value}/{quality}")

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
        if not isinstance(frame, ModelFrame):
            raise TypeError(f"the measured encoder takes ModelScreens' frames, got {type(frame)}")
        height, width = frame.shape[:2]
        w, h = tier_size(tier.value, width, height, thumbnail_size=thumbnail_size)
        image: EncodedImage = self._image(frame.space_id, tier, jpeg_quality, w, h)
        frame.screens.encoded()
        return image

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
        space_id, source_w, source_h = _MODEL_HEADER.unpack_from(jpeg)
        w, h = tier_size(tier.value, *source_resolution, thumbnail_size=thumbnail_size)
        if w > source_w or h > source_h:
            return None  # as the real encoder: no upscaling
        image: EncodedImage = self._image(space_id, tier, jpeg_quality, w, h)
        return image
