"""Multi-space capture: backends that produce frames, the cache, the engine and the optimizer."""

from ironcliw_mem.capture.backends import (
    CaptureBackend,
    CaptureError,
    SyntheticBackend,
)
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
from ironcliw_mem.policy import CaptureQuality  # the originals defined it beside the engine

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
