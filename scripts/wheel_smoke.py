"""Smoke test of an installed wheel, run by the venv's own interpreter (scripts/check_wheels.py).

Checks that the package imported is the installed one (not a source tree on sys.path), then the
three things the agent does with the native core: a pressure reading and its level, one JPEG
encode, one cache round trip. Prints one JSON line; exits non-zero on the first failure.
"""

from __future__ import annotations

import io
import json
import sys
import sysconfig
import time
from pathlib import Path


def main() -> int:
    import numpy as np
    from PIL import Image

    import ironcliw_mem
    from ironcliw_mem import ByteCache, Classifier, encode_jpeg, read_sample

    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    installed_at = Path(ironcliw_mem.__file__).resolve()
    if site_packages not in installed_at.parents:
        raise SystemExit(f"imported {installed_at}, not the wheel in {site_packages}")

    sample = read_sample()
    if not sample.total or sample.available is None:
        raise SystemExit(f"the pressure reading has no total/available memory: {sample}")
    verdict = Classifier().update(sample, time.monotonic())
    if verdict.level not in ("green", "yellow", "red"):
        raise SystemExit(f"no pressure level from a full reading: {verdict.to_dict()}")

    height, width = 120, 160
    rows = np.linspace(0, 255, width, dtype=np.uint8)
    rgb = np.ascontiguousarray(np.stack([np.tile(rows, (height, 1))] * 3, axis=-1))
    jpeg = encode_jpeg(rgb, 80)
    decoded = Image.open(io.BytesIO(jpeg))
    if decoded.format != "JPEG" or decoded.size != (width, height):
        raise SystemExit(
            f"encode_jpeg gave {decoded.format} {decoded.size}, not a JPEG {width}x{height}"
        )

    cache = ByteCache(1 << 20)
    cache.set("space-1", jpeg)
    if cache.get("space-1") != jpeg or cache.bytes < len(jpeg):
        raise SystemExit(f"cache round trip lost the bytes: {cache.stats()}")

    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "version": ironcliw_mem.__version__,
                "installed_at": str(installed_at.parent),
                "level": verdict.level,
                "sources": sample.sources,
                "available_mb": sample.available // 2**20,
                "jpeg_bytes": len(jpeg),
                "cache_bytes": cache.bytes,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
