"""Multi-space capture: backends that produce frames, the cache, the engine and the optimizer."""

from ironcliw_mem.capture.backends import (
    CaptureBackend,
    CaptureError,
    SyntheticBackend,
)

__all__ = ["CaptureBackend", "CaptureError", "SyntheticBackend"]
