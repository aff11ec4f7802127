"""The capture data types the agent already uses, plus the JPEG screenshot value."""

from __future__ import annotations

import enum
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from ironcliw_mem.levels import CaptureQuality

# Request reasons that mean "the package warming its cache", not the user's or agent's interest.
PREFETCH_REASONS = frozenset({"prefetch", "predictive_prefetch"})
# Requests the agent makes on its own (prefetches, its periodic look at the screen): not served
# while the user is away. Any other reason is taken as asked for, and is always served.
UNASKED_REASONS = PREFETCH_REASONS | {"monitoring", "background"}


class CaptureMethod(enum.Enum):
    SCREENCAPTURE_API = "screencapture_api"
    SWIFT_CAPTURE = "swift_capture"
    APPLESCRIPT_CAPTURE = "applescript_capture"
    SPACE_SWITCH = "space_switch"
    CACHED = "cached"


class JpegScreenshot(bytes):
    """A screenshot as JPEG bytes, with the pixels decoded only when someone asks for them.

    It is `bytes` (store it, send it, hash it); `.array` decodes once to an RGB
    (height, width, 3) uint8 array and keeps it; `.to_image()` gives a PIL image. (numpy and
    Pillow treat any `bytes` as raw data, so hand them `shot.array`, not `shot`.)
    """

    _decoded: npt.NDArray[np.uint8] | None

    def __new__(cls, jpeg: bytes | bytearray | memoryview) -> JpegScreenshot:
        shot = super().__new__(cls, jpeg)
        shot._decoded = None
        return shot

    @property
    def array(self) -> npt.NDArray[np.uint8]:
        if self._decoded is None:
            with Image.open(io.BytesIO(self)) as image:
                self._decoded = np.asarray(image.convert("RGB"))
        return self._decoded

    @property
    def decoded(self) -> bool:
        return self._decoded is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def to_image(self) -> Image.Image:
        return Image.fromarray(self.array)

    def __reduce__(self) -> tuple[Any, ...]:
        return (JpegScreenshot, (bytes(self),))


@dataclass
class SpaceCaptureMetadata:
    space_id: int
    capture_time: datetime
    capture_method: CaptureMethod
    quality: CaptureQuality
    resolution: tuple[int, int]  # (width, height) of the stored image
    file_size: int  # bytes of the stored JPEG
    capture_duration: float
    applications: list[str] = field(default_factory=list)
    window_count: int = 0
    is_active_space: bool = False
    content_hash: str = ""
    source_resolution: tuple[int, int] | None = None  # the screen's native (width, height)
    jpeg_quality: int | None = None
    derived_from: CaptureQuality | None = None  # set when made from a cached higher tier


CaptureCallback = Callable[[dict[int, JpegScreenshot], dict[int, SpaceCaptureMetadata]], Any]


@dataclass
class SpaceCaptureRequest:
    space_ids: list[int]
    quality: CaptureQuality = CaptureQuality.OPTIMIZED
    use_cache: bool = True
    cache_ttl: int = 30
    priority: int = 5
    require_permission: bool = True
    callback: CaptureCallback | Callable[..., Awaitable[Any]] | None = None
    reason: str = "multi_space_analysis"
    parallel: bool = False
    max_workers: int = 2


@dataclass
class SpaceCaptureResult:
    screenshots: dict[int, JpegScreenshot]
    metadata: dict[int, SpaceCaptureMetadata]
    success: bool
    total_duration: float
    errors: dict[int, str] = field(default_factory=dict)
    cache_hits: int = 0
    new_captures: int = 0
    # Spaces asked for but left out by the memory policy, with the reason.
    skipped: dict[int, str] = field(default_factory=dict)
    quality: CaptureQuality | None = None
    pressure: str | None = None
    # Why the request's callback failed (it raised, or did not finish in time); the result stands.
    callback_error: str | None = None
