"""ironcliw-mem: a memory-pressure layer for screen-vision agents.

The Rust core (``ironcliw_mem._native``) provides the byte cache, the JPEG quality tiers and the
pressure probes; the Python modules around it turn configuration and system readings into policy
(``config``, ``policy``, ``manager``) and capture desktop spaces within it (``capture``). The
tools that measure and show it (``ironcliw_mem.tools``) are apart: see ARCHITECTURE.md.

The names the agent's original modules exported are all importable from here. Each is imported
from its module on first use, so ``import ironcliw_mem`` loads no image library, capture backend
or tool until one is asked for.
"""

from typing import TYPE_CHECKING

from ironcliw_mem._lazy import lazy_exports

if TYPE_CHECKING:
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
    from ironcliw_mem.config import (
        ConfigError,
        MemoryConfig,
    )
    from ironcliw_mem.levels import (
        ActivityState,
        CaptureQuality,
        MemoryPressure,
        MonitoringStrategy,
    )
    from ironcliw_mem.manager import (
        MacOSMemoryManager,
        MemoryManager,
        MemoryStats,
        get_memory_manager,
        initialize_memory_manager,
    )
    from ironcliw_mem.offload import (
        OffloadAdvisor,
        RedHold,
    )
    from ironcliw_mem.policy import (
        LevelPolicy,
    )
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
    from ironcliw_mem.tools.profiler import (
        BenchmarkResult,
        MemoryProfiler,
        MemorySnapshot,
    )

# Where each exported name lives.
_HOMES = {
    "BUILD_FEATURES": "ironcliw_mem._native",
    "ENTRY_OVERHEAD": "ironcliw_mem._native",
    "FILTERS": "ironcliw_mem._native",
    "IMAGE_BUFFER_POOL_MAX_BYTES": "ironcliw_mem._native",
    "MAX_DIMENSION": "ironcliw_mem._native",
    "PIXEL_FORMATS": "ironcliw_mem._native",
    "SUBSAMPLINGS": "ironcliw_mem._native",
    "TIERS": "ironcliw_mem._native",
    "ByteCache": "ironcliw_mem._native",
    "EncodedTier": "ironcliw_mem._native",
    "Frame": "ironcliw_mem._native",
    "__version__": "ironcliw_mem._native",
    "downscale": "ironcliw_mem._native",
    "encode_jpeg": "ironcliw_mem._native",
    "encode_tiers": "ironcliw_mem._native",
    "encode_tiers_batch": "ironcliw_mem._native",
    "release_image_buffers": "ironcliw_mem._native",
    "tier_size": "ironcliw_mem._native",
    "CaptureMethod": "ironcliw_mem.capture",
    "JpegScreenshot": "ironcliw_mem.capture",
    "MultiSpaceCaptureCache": "ironcliw_mem.capture",
    "MultiSpaceCaptureEngine": "ironcliw_mem.capture",
    "MultiSpaceOptimizer": "ironcliw_mem.capture",
    "SpaceCaptureMetadata": "ironcliw_mem.capture",
    "SpaceCaptureRequest": "ironcliw_mem.capture",
    "SpaceCaptureResult": "ironcliw_mem.capture",
    "SyntheticBackend": "ironcliw_mem.capture",
    "ConfigError": "ironcliw_mem.config",
    "MemoryConfig": "ironcliw_mem.config",
    "ActivityState": "ironcliw_mem.levels",
    "CaptureQuality": "ironcliw_mem.levels",
    "MemoryPressure": "ironcliw_mem.levels",
    "MonitoringStrategy": "ironcliw_mem.levels",
    "MacOSMemoryManager": "ironcliw_mem.manager",
    "MemoryManager": "ironcliw_mem.manager",
    "MemoryStats": "ironcliw_mem.manager",
    "get_memory_manager": "ironcliw_mem.manager",
    "initialize_memory_manager": "ironcliw_mem.manager",
    "OffloadAdvisor": "ironcliw_mem.offload",
    "RedHold": "ironcliw_mem.offload",
    "LevelPolicy": "ironcliw_mem.policy",
    "Classifier": "ironcliw_mem.pressure",
    "PressureProbe": "ironcliw_mem.pressure",
    "PressureWatcher": "ironcliw_mem.pressure",
    "Sample": "ironcliw_mem.pressure",
    "Thresholds": "ironcliw_mem.pressure",
    "Verdict": "ironcliw_mem.pressure",
    "psutil_sample": "ironcliw_mem.pressure",
    "read_sample": "ironcliw_mem.pressure",
    "thresholds_from_env": "ironcliw_mem.pressure",
    "BenchmarkResult": "ironcliw_mem.tools.profiler",
    "MemoryProfiler": "ironcliw_mem.tools.profiler",
    "MemorySnapshot": "ironcliw_mem.tools.profiler",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())

__all__ = [
    "BUILD_FEATURES",
    "ENTRY_OVERHEAD",
    "FILTERS",
    "IMAGE_BUFFER_POOL_MAX_BYTES",
    "MAX_DIMENSION",
    "PIXEL_FORMATS",
    "SUBSAMPLINGS",
    "TIERS",
    "ActivityState",
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
