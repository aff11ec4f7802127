"""Type stubs for the Rust extension module."""

from collections.abc import Callable, Iterable, Iterator
from typing import Literal, TypeVar, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

_T = TypeVar("_T")

__version__: str
BUILD_FEATURES: list[str]
ENTRY_OVERHEAD: int

class ByteCache:
    """Size-bounded LRU + TTL cache of bytes values with an exact byte budget.

    Each entry costs len(key.encode()) + len(value) + ENTRY_OVERHEAD bytes; ``bytes`` never
    exceeds ``max_bytes`` once a call returns. Keys must be ``str``; values ``bytes`` (kept as the
    same object) or any buffer (copied into ``bytes``).
    """

    def __init__(
        self,
        max_bytes: int,
        default_ttl: float | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None: ...
    @overload
    def get(self, key: str) -> bytes | None: ...
    @overload
    def get(self, key: str, default: _T) -> bytes | _T: ...
    def __getitem__(self, key: str) -> bytes: ...
    def set(self, key: str, value: Buffer, ttl: float | None = None) -> bool: ...
    def __setitem__(self, key: str, value: Buffer) -> None: ...
    @overload
    def pop(self, key: str) -> bytes | None: ...
    @overload
    def pop(self, key: str, default: _T) -> bytes | _T: ...
    def __delitem__(self, key: str) -> None: ...
    def __contains__(self, key: object) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> list[str]: ...
    def clear(self) -> int: ...
    def expire(self) -> int: ...
    def resize(self, max_bytes: int) -> int: ...
    def evict_to(
        self,
        target_bytes: int,
        reason: Literal["pressure", "capacity", "explicit"] = "pressure",
    ) -> int: ...
    @property
    def max_bytes(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def default_ttl(self) -> float | None: ...
    def stats(self) -> dict[str, int | float]: ...

# --- imaging: downscale + JPEG quality tiers -------------------------------------------------

PixelFormatName = Literal["BGRA", "RGBA", "BGRX", "RGBX", "RGB", "BGR"]
FilterName = Literal["box", "bilinear", "catmull-rom", "bicubic", "lanczos3", "lanczos"]
SubsamplingName = Literal["420", "422", "444"]
TierName = Literal["full", "optimized", "fast", "thumbnail"]

PIXEL_FORMATS: list[str]
FILTERS: list[str]
SUBSAMPLINGS: list[str]
TIERS: list[str]
MAX_DIMENSION: int

class Frame:
    """Pixels to downscale or encode, used in place when rows are contiguous.

    ``Frame(array)`` takes an (H, W, 3|4) uint8 array (default format "BGRA" for 4 channels,
    "RGB" for 3). ``Frame(data, width=, height=, stride=None, pixel_format="BGRA")`` takes a
    1-D bytes-like buffer of at least height x stride bytes.
    """

    def __init__(
        self,
        data: Buffer,
        *,
        width: int | None = None,
        height: int | None = None,
        stride: int | None = None,
        pixel_format: PixelFormatName | None = None,
    ) -> None: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def stride(self) -> int: ...
    @property
    def pixel_format(self) -> PixelFormatName: ...
    @property
    def channels(self) -> int: ...
    @property
    def copied(self) -> bool: ...

class EncodedTier:
    """One encoded quality tier: the JPEG bytes and what they hold."""

    @property
    def tier(self) -> TierName: ...
    @property
    def jpeg(self) -> bytes: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def quality(self) -> int: ...
    @property
    def subsampling(self) -> SubsamplingName: ...
    @property
    def nbytes(self) -> int: ...

_FrameLike = Frame | Buffer
_Tiers = str | Iterable[str] | None

def downscale(
    frame: _FrameLike, width: int, height: int, *, filter: FilterName = "catmull-rom"
) -> npt.NDArray[np.uint8]: ...
def encode_jpeg(
    frame: _FrameLike, quality: int = 85, subsampling: SubsamplingName = "420"
) -> bytes: ...
def encode_tiers(
    frame: _FrameLike,
    tiers: _Tiers = None,
    quality: int = 85,
    subsampling: SubsamplingName = "420",
    thumbnail_size: tuple[int, int] = (400, 300),
    filter: FilterName = "catmull-rom",
) -> dict[str, EncodedTier]: ...
def encode_tiers_batch(
    frames: Iterable[_FrameLike],
    tiers: _Tiers = None,
    quality: int = 85,
    subsampling: SubsamplingName = "420",
    thumbnail_size: tuple[int, int] = (400, 300),
    filter: FilterName = "catmull-rom",
) -> list[dict[str, EncodedTier]]: ...
def tier_size(
    tier: str, width: int, height: int, thumbnail_size: tuple[int, int] = (400, 300)
) -> tuple[int, int]: ...
