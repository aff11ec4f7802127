"""Multi-space capture: backends that produce frames, the cache, the engine and the optimizer.

Each name is imported from its module on first use: asking for the engine loads no X11 or macOS
backend that the machine will not use.
"""

from typing import TYPE_CHECKING

from ironcliw_mem._lazy import lazy_exports

if TYPE_CHECKING:
    from ironcliw_mem.capture.backends import CaptureBackend, CaptureError, SyntheticBackend
    from ironcliw_mem.capture.cache import MultiSpaceCaptureCache
    from ironcliw_mem.capture.engine import MultiSpaceCaptureEngine
    from ironcliw_mem.capture.macos import MacOSBackend, ScreenRecordingDenied
    from ironcliw_mem.capture.optimizer import AccessPattern, MultiSpaceOptimizer
    from ironcliw_mem.capture.select import describe_backend, select_backend
    from ironcliw_mem.capture.types import (
        CaptureMethod,
        JpegScreenshot,
        SpaceCaptureMetadata,
        SpaceCaptureRequest,
        SpaceCaptureResult,
    )
    from ironcliw_mem.capture.x11 import X11Backend
    from ironcliw_mem.levels import CaptureQuality

# Where each exported name lives (CaptureQuality too: the originals defined it beside the
# engine).
_HOMES = {
    "CaptureBackend": "ironcliw_mem.capture.backends",
    "CaptureError": "ironcliw_mem.capture.backends",
    "SyntheticBackend": "ironcliw_mem.capture.backends",
    "MultiSpaceCaptureCache": "ironcliw_mem.capture.cache",
    "MultiSpaceCaptureEngine": "ironcliw_mem.capture.engine",
    "MacOSBackend": "ironcliw_mem.capture.macos",
    "ScreenRecordingDenied": "ironcliw_mem.capture.macos",
    "AccessPattern": "ironcliw_mem.capture.optimizer",
    "MultiSpaceOptimizer": "ironcliw_mem.capture.optimizer",
    "describe_backend": "ironcliw_mem.capture.select",
    "select_backend": "ironcliw_mem.capture.select",
    "CaptureMethod": "ironcliw_mem.capture.types",
    "JpegScreenshot": "ironcliw_mem.capture.types",
    "SpaceCaptureMetadata": "ironcliw_mem.capture.types",
    "SpaceCaptureRequest": "ironcliw_mem.capture.types",
    "SpaceCaptureResult": "ironcliw_mem.capture.types",
    "X11Backend": "ironcliw_mem.capture.x11",
    "CaptureQuality": "ironcliw_mem.levels",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())

__all__ = [
    "AccessPattern",
    "CaptureBackend",
    "CaptureError",
    "CaptureMethod",
    "CaptureQuality",
    "JpegScreenshot",
    "MacOSBackend",
    "MultiSpaceCaptureCache",
    "MultiSpaceCaptureEngine",
    "MultiSpaceOptimizer",
    "ScreenRecordingDenied",
    "SpaceCaptureMetadata",
    "SpaceCaptureRequest",
    "SpaceCaptureResult",
    "SyntheticBackend",
    "X11Backend",
    "describe_backend",
    "select_backend",
]
