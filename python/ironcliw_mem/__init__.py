"""ironcliw-mem: a memory-pressure layer for screen-vision agents.

The Rust core (``ironcliw_mem._native``) provides the byte cache, the JPEG quality tiers and the
pressure probes; the Python modules around it turn configuration and system readings into policy
(``config``, ``policy``, ``manager``) and capture desktop spaces within it (``capture``).

The names the agent's original modules exported are all importable from here.
"""

from ironcliw_mem._native import (
    BUILD_FEATURES,
    ENTRY_OVERHEAD,
    FILTERS,
    IMAGE_BUFFER_POOL_MAX_BYTES,
    MAX_DIMENSION,
    PIXEL_FORMATS,
    SUBSAMPLINGS,
    TIERS,
    ByteCache,
    EncodedTier,
    Frame,
    __version__,
    downscale,
    encode_jpeg,
    encode_tiers,
    encode_tiers_batch,
    release_image_buffers,
    tier_size,
)
from ironcliw_mem.capture import (
    CaptureMethod,
    JpegScreenshot,
    MultiSpaceCaptureCache,
    MultiSpaceCaptureEngine,
    MultiSpaceOptimizer,
    SpaceCaptureMetadata,
    SpaceCaptureRequest,
    SpaceCaptureResult,
    SyntheticBackend,
)
from ironcliw_mem.config import ConfigError, MemoryConfig
from ironcliw_mem.manager import (
    MacOSMemoryManager,
    MemoryManager,
    MemoryStats,
    get_memory_manager,
    initialize_memory_manager,
)
from ironcliw_mem.offload import OffloadAdvisor, RedHold
from ironcliw_mem.policy import CaptureQuality, LevelPolicy, MemoryPressure, MonitoringStrategy
from ironcliw_mem.pressure import (
    Classifier,
    PressureProbe,
    PressureWatcher,
    Sample,
    Thresholds,
    Verdict,
    psutil_sample,
    read_sample,
    thresholds_from_env,
)
from ironcliw_mem.profiler import BenchmarkResult, MemoryProfiler, MemorySnapshot

__all__ = [
    "BUILD_FEATURES",
    "ENTRY_OVERHEAD",
    "FILTERS",
    "IMAGE_BUFFER_POOL_MAX_BYTES",
    "MAX_DIMENSION",
    "PIXEL_FORMATS",
    "SUBSAMPLINGS",
    "TIERS",
    "BenchmarkResult",
    "ByteCache",
    "CaptureMethod",
    "CaptureQuality",
    "Classifier",
    "ConfigError",
    "EncodedTier",
    "Frame",
    "JpegScreenshot",
    "LevelPolicy",
    "MacOSMemoryManager",
    "MemoryConfig",
    "MemoryManager",
    "MemoryPressure",
    "MemoryProfiler",
    "MemorySnapshot",
    "MemoryStats",
    "MonitoringStrategy",
    "MultiSpaceCaptureCache",
    "MultiSpaceCaptureEngine",
    "MultiSpaceOptimizer",
    "OffloadAdvisor",
    "PressureProbe",
    "PressureWatcher",
    "RedHold",
    "Sample",
    "SpaceCaptureMetadata",
    "SpaceCaptureRequest",
    "SpaceCaptureResult",
    "SyntheticBackend",
    "Thresholds",
    "Verdict",
    "__version__",
    "downscale",
    "encode_jpeg",
    "encode_tiers",
    "encode_tiers_batch",
    "get_memory_manager",
    "initialize_memory_manager",
    "psutil_sample",
    "read_sample",
    "release_image_buffers",
    "thresholds_from_env",
    "tier_size",
]
