"""Type stubs for the Rust extension module.

Checked against the built module by ``python -m mypy.stubtest ironcliw_mem._native`` in
``make lint`` (what stubtest cannot see through is in ``stubtest-allowlist.txt``, each line with
its reason). Every class is ``@final``: PyO3 classes cannot be subclassed at run time. The
``_``-prefixed aliases exist only here, for type checkers.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal, Self, TypeVar, final, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

from ironcliw_mem.stats import ByteCacheStats, EncoderBufferStats

__all__ = [
    "BUILD_FEATURES",
    "ENTRY_OVERHEAD",
    "FILTERS",
    "IMAGE_BUFFER_POOL_MAX_BYTES",
    "MAX_DIMENSION",
    "PIXEL_FORMATS",
    "SUBSAMPLINGS",
    "TIERS",
    "ByteCache",
    "Classifier",
    "EncodedTier",
    "Frame",
    "GpuClassifier",
    "GpuDevice",
    "GpuProbe",
    "GpuReading",
    "GpuVerdict",
    "PressureProbe",
    "PressureWatcher",
    "Sample",
    "Thresholds",
    "Verdict",
    "__version__",
    "derive_jpeg",
    "downscale",
    "encode_jpeg",
    "encode_tiers",
    "encode_tiers_batch",
    "image_buffer_stats",
    "release_image_buffers",
    "set_image_buffer_cap",
    "tier_size",
]

_T = TypeVar("_T")

__version__: str
BUILD_FEATURES: list[str]
ENTRY_OVERHEAD: int

@final
class ByteCache:
    """Size-bounded LRU + TTL cache of bytes values with an exact byte budget.

    Each entry costs len(key.encode()) + len(value) + ENTRY_OVERHEAD bytes; ``bytes`` never
    exceeds ``max_bytes`` once a call returns. Keys must be ``str``; values ``bytes`` (kept as the
    same object) or any buffer (copied into ``bytes``). Budgets are ints from 0 to 2**63 - 1; TTLs
    are seconds > 0 or math.inf. A ``clock`` may return any finite float: readings are taken
    relative to its first one. A bool is never a number here (TypeError).
    """

    def __new__(
        cls,
        max_bytes: int,
        default_ttl: float | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> Self: ...
    @overload
    def get(self, key: str, /) -> bytes | None: ...
    @overload
    def get(self, key: str, default: _T, /) -> bytes | _T: ...
    def __getitem__(self, key: str, /) -> bytes: ...
    def set(self, key: str, value: Buffer, ttl: float | None = None) -> bool: ...
    def __setitem__(self, key: str, value: Buffer, /) -> None: ...
    @overload
    def pop(self, key: str) -> bytes | None: ...
    @overload
    def pop(self, key: str, default: _T) -> bytes | _T: ...
    def __delitem__(self, key: str, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def remaining_ttl(self, key: str) -> float | None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> list[str]: ...
    def clear(self) -> int: ...
    def expire(self) -> int: ...
    def resize(self, max_bytes: int) -> int: ...
    def evict_to(
        self,
        target_bytes: int,
        reason: Literal["pressure", "capacity", "explicit", "activity"] = "pressure",
    ) -> int: ...
    @property
    def max_bytes(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def default_ttl(self) -> float | None: ...
    def stats(self) -> ByteCacheStats: ...

# --- imaging: downscale + JPEG quality tiers -------------------------------------------------

_PixelFormatName = Literal["BGRA", "RGBA", "BGRX", "RGBX", "RGB", "BGR"]
_FilterName = Literal["box", "bilinear", "catmull-rom", "bicubic", "lanczos3", "lanczos"]
_SubsamplingName = Literal["420", "422", "444"]
_TierName = Literal["full", "optimized", "fast", "thumbnail"]

PIXEL_FORMATS: list[str]
FILTERS: list[str]
SUBSAMPLINGS: list[str]
TIERS: list[str]
MAX_DIMENSION: int
IMAGE_BUFFER_POOL_MAX_BYTES: int

@final
class Frame:
    """Pixels to downscale or encode, used in place when rows are contiguous.

    ``Frame(array)`` takes an (H, W, 3|4) uint8 array (default format "BGRA" for 4 channels,
    "RGB" for 3). ``Frame(data, width=, height=, stride=None, pixel_format="BGRA")`` takes a
    1-D bytes-like buffer of at least height x stride bytes.
    """

    def __new__(
        cls,
        data: Buffer,
        *,
        width: int | None = None,
        height: int | None = None,
        stride: int | None = None,
        pixel_format: _PixelFormatName | None = None,
    ) -> Self: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def stride(self) -> int: ...
    @property
    def pixel_format(self) -> _PixelFormatName: ...
    @property
    def channels(self) -> int: ...
    @property
    def copied(self) -> bool: ...

@final
class EncodedTier:
    """One encoded quality tier: the JPEG bytes and what they hold."""

    @property
    def tier(self) -> _TierName: ...
    @property
    def jpeg(self) -> bytes: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def quality(self) -> int: ...
    @property
    def subsampling(self) -> _SubsamplingName: ...
    @property
    def nbytes(self) -> int: ...

_FrameLike = Frame | Buffer | npt.NDArray[np.uint8]
_Tiers = str | Iterable[str] | None

def downscale(
    frame: _FrameLike, width: int, height: int, *, filter: _FilterName = "catmull-rom"
) -> npt.NDArray[np.uint8]: ...
def encode_jpeg(
    frame: _FrameLike, quality: int = 85, subsampling: _SubsamplingName = "420"
) -> bytes: ...
def encode_tiers(
    frame: _FrameLike,
    tiers: _Tiers = None,
    quality: int = 85,
    subsampling: _SubsamplingName = "420",
    thumbnail_size: tuple[int, int] = (400, 300),
    filter: _FilterName = "catmull-rom",
) -> dict[str, EncodedTier]: ...
def encode_tiers_batch(
    frames: Iterable[_FrameLike],
    tiers: _Tiers = None,
    quality: int = 85,
    subsampling: _SubsamplingName = "420",
    thumbnail_size: tuple[int, int] = (400, 300),
    filter: _FilterName = "catmull-rom",
) -> list[dict[str, EncodedTier]]: ...
def tier_size(
    tier: str, width: int, height: int, thumbnail_size: tuple[int, int] = (400, 300)
) -> tuple[int, int]: ...
def release_image_buffers() -> int: ...
def set_image_buffer_cap(cap_bytes: int) -> int: ...
def image_buffer_stats() -> EncoderBufferStats: ...
def derive_jpeg(
    jpeg: Buffer,
    width: int,
    height: int,
    *,
    quality: int = 85,
    subsampling: _SubsamplingName = "420",
    filter: _FilterName = "catmull-rom",
) -> bytes | None:
    """A lower tier from a higher tier's JPEG in one call (scaled decode, resize, encode; GIL
    released); None when the JPEG is smaller than ``width`` x ``height`` on an axis."""

# --- pressure -------------------------------------------------------------------------------

@final
class Sample:
    """One reading of the memory signals: bytes as ints, PSI as percent floats, None if not read.

    ``Sample(**fields)`` / ``Sample.from_values(**fields)`` accept every attribute below plus
    ``sources`` (names as listed by ``.sources``) and ``problems`` (strings). Counts are ints
    >= 0, percentages 0-100 (NaN: not measured), ``cgroup_unreadable`` a bool.
    """

    def __new__(cls, **fields: int | float | bool | list[str] | None) -> Self: ...
    @staticmethod
    def from_values(**fields: int | float | bool | list[str] | None) -> Sample: ...
    @property
    def total(self) -> int | None: ...
    @property
    def available(self) -> int | None: ...
    @property
    def used(self) -> int | None: ...
    @property
    def active(self) -> int | None: ...
    @property
    def wired(self) -> int | None: ...
    @property
    def compressed(self) -> int | None: ...
    @property
    def swap_total(self) -> int | None: ...
    @property
    def swap_used(self) -> int | None: ...
    @property
    def psi_some_avg10(self) -> float | None: ...
    @property
    def psi_some_avg60(self) -> float | None: ...
    @property
    def psi_full_avg10(self) -> float | None: ...
    @property
    def psi_full_avg60(self) -> float | None: ...
    @property
    def psi_some_total(self) -> int | None: ...
    @property
    def psi_full_total(self) -> int | None: ...
    @property
    def cgroup_limit(self) -> int | None: ...
    @property
    def cgroup_high(self) -> int | None: ...
    @property
    def cgroup_usage(self) -> int | None: ...
    @property
    def cgroup_working_set(self) -> int | None: ...
    @property
    def cgroup_events_high(self) -> int | None: ...
    @property
    def cgroup_events_max(self) -> int | None: ...
    @property
    def cgroup_events_oom(self) -> int | None: ...
    @property
    def macos_pressure_level(self) -> int | None: ...
    @property
    def memorystatus_level(self) -> int | None: ...
    @property
    def page_size(self) -> int | None: ...
    @property
    def cgroup_unreadable(self) -> bool: ...
    @property
    def sources(self) -> list[str]: ...
    @property
    def problems(self) -> list[str]: ...
    @property
    def headroom(self) -> float | None: ...
    @property
    def compressor_share(self) -> float | None: ...
    def to_dict(self) -> dict[str, int | float | bool | list[str] | None]: ...

@final
class PressureProbe:
    """Native reader: /proc and the process's cgroup on Linux; sysctl + Mach calls on macOS.

    ``refresh_s`` (0 to 86400): v2 ancestors' limits, and the figures of a cgroup without any
    limit (which cannot move the level), are reused for up to this long; 0 reads everything every
    time. Only regular files are read (a FIFO or device is a problem, never a hang), each up to a
    bound that fits the real file.
    On macOS ``refresh_s`` is ignored: every ``read()`` asks the kernel, but xnu answers
    ``host_statistics64`` from a cache once third-party processes (all of them together) ask
    more than 2-10 times (random per window) in one second (osfmk/kern/host.c), so the page
    figures can be up to a second old however often one reads.
    """

    def __new__(
        cls,
        proc_root: str = "/proc",
        cgroup_root: str = "/sys/fs/cgroup",
        refresh_s: float = 1.0,
    ) -> Self: ...
    def read(self) -> Sample: ...
    @property
    def cgroup(self) -> str | None: ...

@final
class Thresholds:
    """Classifier thresholds; raises ValueError naming the field for invalid combinations."""

    def __new__(
        cls,
        *,
        yellow_some10_enter: float = 10.0,
        yellow_some10_exit: float = 5.0,
        yellow_headroom_enter: float = 25.0,
        yellow_headroom_exit: float = 30.0,
        red_full10_enter: float = 10.0,
        red_full10_exit: float = 5.0,
        red_some10_enter: float = 40.0,
        red_some10_exit: float = 20.0,
        red_headroom_enter: float = 15.0,
        red_headroom_exit: float = 20.0,
        downgrade_dwell: float = 10.0,
        macos_compressor_warn_enter: float = 50.0,
        macos_compressor_warn_exit: float = 40.0,
        macos_compressor_critical_enter: float = 66.0,
        macos_compressor_critical_exit: float = 60.0,
        fallback_yellow_available_mb: float = 1000.0,
        fallback_red_available_mb: float = 400.0,
        gpu_nvidia_yellow_enter: float = 80.0,
        gpu_nvidia_yellow_exit: float = 75.0,
        gpu_nvidia_red_enter: float = 95.0,
        gpu_nvidia_red_exit: float = 90.0,
        gpu_metal_yellow_enter: float = 80.0,
        gpu_metal_yellow_exit: float = 75.0,
        gpu_metal_red_enter: float = 100.0,
        gpu_metal_red_exit: float = 95.0,
    ) -> Self: ...
    @property
    def yellow_some10_enter(self) -> float: ...
    @property
    def yellow_some10_exit(self) -> float: ...
    @property
    def yellow_headroom_enter(self) -> float: ...
    @property
    def yellow_headroom_exit(self) -> float: ...
    @property
    def red_full10_enter(self) -> float: ...
    @property
    def red_full10_exit(self) -> float: ...
    @property
    def red_some10_enter(self) -> float: ...
    @property
    def red_some10_exit(self) -> float: ...
    @property
    def red_headroom_enter(self) -> float: ...
    @property
    def red_headroom_exit(self) -> float: ...
    @property
    def downgrade_dwell(self) -> float: ...
    @property
    def macos_compressor_warn_enter(self) -> float: ...
    @property
    def macos_compressor_warn_exit(self) -> float: ...
    @property
    def macos_compressor_critical_enter(self) -> float: ...
    @property
    def macos_compressor_critical_exit(self) -> float: ...
    @property
    def fallback_yellow_available_mb(self) -> float: ...
    @property
    def fallback_red_available_mb(self) -> float: ...
    @property
    def gpu_nvidia_yellow_enter(self) -> float: ...
    @property
    def gpu_nvidia_yellow_exit(self) -> float: ...
    @property
    def gpu_nvidia_red_enter(self) -> float: ...
    @property
    def gpu_nvidia_red_exit(self) -> float: ...
    @property
    def gpu_metal_yellow_enter(self) -> float: ...
    @property
    def gpu_metal_yellow_exit(self) -> float: ...
    @property
    def gpu_metal_red_enter(self) -> float: ...
    @property
    def gpu_metal_red_exit(self) -> float: ...
    def to_dict(self) -> dict[str, float]: ...

_PressureLevel = Literal["green", "yellow", "red", "unknown"]
_WatchMechanism = Literal["psi-trigger", "cgroup-v1-pressure-level", "dispatch", "none"]

@final
class Verdict:
    @property
    def level(self) -> _PressureLevel: ...
    @property
    def previous(self) -> _PressureLevel: ...
    @property
    def changed(self) -> bool: ...
    @property
    def reasons(self) -> list[str]: ...
    def to_dict(self) -> dict[str, str | bool | list[str]]: ...

@final
class Classifier:
    """Hysteresis state machine: immediate upgrades, one-level downgrades after a dwell."""

    def __new__(cls, thresholds: Thresholds | None = None) -> Self: ...
    def update(self, sample: Sample, now: float) -> Verdict: ...
    @property
    def level(self) -> _PressureLevel: ...
    @property
    def thresholds(self) -> Thresholds: ...

@final
class PressureWatcher:
    """Blocks (GIL released) until the kernel signals memory pressure or a timeout passes.

    ``window_s`` is the PSI trigger window the kernel accepts, 0.5 to 10 s; ``wait`` takes
    seconds >= 0 or math.inf.
    """

    def __new__(
        cls,
        proc_root: str = "/proc",
        cgroup_root: str = "/sys/fs/cgroup",
        window_s: float = 2.0,
        mechanism: _WatchMechanism | None = None,
    ) -> Self: ...
    @property
    def mechanism(self) -> _WatchMechanism: ...
    @property
    def detail(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def wait(self, timeout_s: float) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> PressureWatcher: ...
    def __exit__(self, *args: object) -> bool: ...

_GpuKind = Literal["nvidia", "metal"]

@final
class GpuDevice:
    """One GPU's memory in bytes (Metal: total = recommended working set, used = process =
    current allocation, no reserved figure)."""

    @property
    def kind(self) -> _GpuKind: ...
    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def total_bytes(self) -> int: ...
    @property
    def used_bytes(self) -> int: ...
    @property
    def free_bytes(self) -> int: ...
    @property
    def reserved_bytes(self) -> int | None: ...
    @property
    def process_bytes(self) -> int | None: ...
    @property
    def unified_memory(self) -> bool | None: ...
    @property
    def used_percent(self) -> float | None: ...
    def to_dict(self) -> dict[str, str | int | bool | None]: ...

@final
class GpuReading:
    """Every GPU read; no devices (and `problems` saying why) when there is none."""

    def __new__(
        cls,
        devices: Sequence[dict[str, object]] = (),
        problems: Sequence[str] = (),
    ) -> Self: ...
    @property
    def devices(self) -> list[GpuDevice]: ...
    @property
    def problems(self) -> list[str]: ...
    @property
    def available(self) -> bool: ...

@final
class GpuProbe:
    """NVML (Linux) or Metal (macOS), read at most once per `refresh_s` (GIL released)."""

    def __new__(cls, refresh_s: float = 1.0) -> Self: ...
    def read(self) -> GpuReading: ...

@final
class GpuVerdict:
    @property
    def kind(self) -> _GpuKind: ...
    @property
    def index(self) -> int: ...
    @property
    def level(self) -> _PressureLevel: ...
    @property
    def previous(self) -> _PressureLevel: ...
    @property
    def changed(self) -> bool: ...
    @property
    def reasons(self) -> list[str]: ...

@final
class GpuClassifier:
    """Per-device GPU levels with the memory level's hysteresis and dwell."""

    def __new__(cls, thresholds: Thresholds | None = None) -> Self: ...
    def update(self, reading: GpuReading, now: float) -> list[GpuVerdict]: ...
