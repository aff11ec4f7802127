"""ironcliw-mem: a memory-pressure layer for screen-vision agents.

The Rust core (``ironcliw_mem._native``) provides the byte cache and the JPEG quality tiers; the
Python modules around it turn configuration and system readings into policy.
"""

from ironcliw_mem._native import (
    BUILD_FEATURES,
    ENTRY_OVERHEAD,
    FILTERS,
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
    tier_size,
)

__all__ = [
    "BUILD_FEATURES",
    "ENTRY_OVERHEAD",
    "FILTERS",
    "MAX_DIMENSION",
    "PIXEL_FORMATS",
    "SUBSAMPLINGS",
    "TIERS",
    "ByteCache",
    "EncodedTier",
    "Frame",
    "__version__",
    "downscale",
    "encode_jpeg",
    "encode_tiers",
    "encode_tiers_batch",
    "tier_size",
]
