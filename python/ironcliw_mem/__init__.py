"""ironcliw-mem: a memory-pressure layer for screen-vision agents.

The Rust core (``ironcliw_mem._native``) provides the byte cache; the Python modules around it
turn configuration and system readings into policy.
"""

from ironcliw_mem._native import BUILD_FEATURES, ENTRY_OVERHEAD, ByteCache, __version__

__all__ = [
    "BUILD_FEATURES",
    "ENTRY_OVERHEAD",
    "ByteCache",
    "__version__",
]
