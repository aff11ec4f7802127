"""ironcliw-mem: a memory-pressure layer for screen-vision agents.

The Rust core (``ironcliw_mem._native``) provides the byte cache; the Python modules around it
turn configuration and system readings into policy.
"""

from ironcliw_mem._native import BUILD_FEATURES, ENTRY_OVERHEAD, ByteCache, __version__
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

__all__ = [
    "BUILD_FEATURES",
    "ENTRY_OVERHEAD",
    "ByteCache",
    "Classifier",
    "PressureProbe",
    "PressureWatcher",
    "Sample",
    "Thresholds",
    "Verdict",
    "__version__",
    "psutil_sample",
    "read_sample",
    "thresholds_from_env",
]
