"""Multi-space capture: backends that produce frames, the cache, the engine and the optimizer."""

from ironcliw_mem.capture.backends import (
    CaptureBackend,
    CaptureError,
    SyntheticBackend,
)
from ironcliw_mem.capture.macos import MacOSBackend, ScreenRecordingDenied
from ironcliw_mem.capture.select import describe_backend, select_backend
from ironcliw_mem.capture.x11 import X11Backend

__all__ = ["CaptureBackend", "CaptureError", "SyntheticBackend"]
__all__ += [
    "MacOSBackend",
    "ScreenRecordingDenied",
    "X11Backend",
    "describe_backend",
    "select_backend",
]
