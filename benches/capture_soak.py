"""Process RSS and cache bytes while 9 synthetic spaces are captured every second, per level.

The manager's level is forced through green, yellow, red and green again; at each level the
engine is asked for all nine spaces once a second (at the full tier, which the policy caps).
Prints one row per level: captures made, cache hits, peak and mean cache bytes against the
level's budget, and peak and mean process RSS; then the floor under those figures: the RSS of a
bare interpreter and of one that has done this script's imports (fresh processes), and of this
process before its first capture.

Usage: python benches/capture_soak.py [--seconds-per-level 60] [--spaces 9] [--json FILE]
       [--full-frames] [--one-buffer-cap]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ironcliw_mem import (
    CaptureQuality,
    MacOSMemoryManager,
    MemoryConfig,
    MemoryPressure,
    MultiSpaceCaptureEngine,
    SpaceCaptureRequest,
    SyntheticBackend,
    read_sample,
)
from ironcliw_mem._native import (
    IMAGE_BUFFER_POOL_MAX_BYTES,
    image_buffer_stats,
    set_image_buffer_cap,
)
from ironcliw_mem.process_memory import read_process_memory

MIB = 1024 * 1024
LEVELS = [MemoryPressure.GREEN, MemoryPressure.YELLOW, MemoryPressure.RED, MemoryPressure.GREEN]


class FullFrameBackend(SyntheticBackend):
    """The synthetic screens without size hints: full frames whatever the tier, as X11 gives."""

    def capture(self, space_id: int) -> Any:  # type: ignore[override]
        return super().capture(space_id)


async def soak(
    seconds_per_level: float, spaces: int, full_frames: bool = False, one_buffer_cap: bool = False
) -> list[dict[str, object]]:
    manager = MacOSMemoryManager(MemoryConfig(), read_sample=read_sample, watch_kernel_events=False)
    backend = (FullFrameBackend if full_frames else SyntheticBackend)(spaces=spaces)
    backend.switch_to((spaces + 1) // 2)
    engine = MultiSpaceCaptureEngine(memory_manager=manager, backend=backend)
    rows: list[dict[str, object]] = []
    request = SpaceCaptureRequest(
        space_ids=list(range(1, spaces + 1)), quality=CaptureQuality.FULL, parallel=True
    )
    for level in LEVELS:
        await manager.override_pressure(level)
        if one_buffer_cap:
            # The rule before caps per level: released on the change, then 64 MB at every level.
            set_image_buffer_cap(IMAGE_BUFFER_POOL_MAX_BYTES)
        captures_before = engine.captures_made
        cache_bytes: list[int] = []
        rss: list[float] = []  # MB
        kept: list[int] = []  # bytes of pixel buffers the encoder keeps for reuse
        hits = 0
        deadline = time.monotonic() + seconds_per_level
        while time.monotonic() < deadline:
            tick = time.monotonic()
            result = await engine.capture_all_spaces(request)
            hits += result.cache_hits
            cache_bytes.append(engine.cache.size_bytes)
            rss.append(read_process_memory(uss=False).rss_mb)
            kept.append(image_buffer_stats()["held_bytes"])
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        rows.append(
            {
                "level": level.level_name,
                "budget_mb": manager.get_recommended_cache_size(),
                "tier": engine.get_quality_for_pressure(CaptureQuality.FULL).value,
                "spaces_watched": len(result.screenshots),
                "requests": len(cache_bytes),
                "captures": engine.captures_made - captures_before,
                "cache_hits": hits,
                "cache_peak_mb": max(cache_bytes) / MIB,
                "cache_mean_mb": statistics.fmean(cache_bytes) / MIB,
                "kept_buffers_peak_mb": max(kept) / MIB,
                "rss_peak_mb": max(rss),
                "rss_mean_mb": statistics.fmean(rss),
            }
        )
    await engine.close()
    return rows


RSS_OF_A_FRESH_INTERPRETER = """
import sys
if sys.argv[1] == "imports":
    import ironcliw_mem
    from ironcliw_mem import MultiSpaceCaptureEngine, SyntheticBackend, read_sample
    from ironcliw_mem.capture import engine, backends, encoding, cache
from ironcliw_mem._native import (
    IMAGE_BUFFER_POOL_MAX_BYTES,
    image_buffer_stats,
    set_image_buffer_cap,
)
from ironcliw_mem.process_memory import read_process_memory
print(read_process_memory(uss=False).rss_mb)
"""


def fresh_interpreter_rss_mb(what: str) -> float:
    """RSS of a new interpreter, bare ("bare": only what reading RSS needs) or after the
    imports a capture needs ("imports")."""
    done = subprocess.run(
        [sys.executable, "-c", RSS_OF_A_FRESH_INTERPRETER, what],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds-per-level", type=float, default=60.0)
    parser.add_argument("--spaces", type=int, default=9)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--full-frames",
        action="store_true",
        help="capture whole frames whatever the tier (no size hint, as on X11)",
    )
    parser.add_argument(
        "--one-buffer-cap",
        action="store_true",
        help="the encoder keeps up to 64 MB at every level (the rule before caps per level)",
    )
    args = parser.parse_args()
    before_first_capture = read_process_memory(uss=False).rss_mb
    rows = asyncio.run(
        soak(args.seconds_per_level, args.spaces, args.full_frames, args.one_buffer_cap)
    )
    header = (
        f"{'level':<8}{'tier':<11}{'spaces':>7}{'reqs':>6}{'captures':>9}{'hits':>6}"
        f"{'cache peak/mean MB':>20}{'budget MB':>10}{'kept buf MB':>12}{'RSS peak/mean MB':>18}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['level']:<8}{r['tier']:<11}{r['spaces_watched']:>7}{r['requests']:>6}"
            f"{r['captures']:>9}{r['cache_hits']:>6}"
            f"{r['cache_peak_mb']:>11.1f} /{r['cache_mean_mb']:>6.1f}{r['budget_mb']:>10}"
            f"{r['kept_buffers_peak_mb']:>12.1f}"
            f"{r['rss_peak_mb']:>10.1f} /{r['rss_mean_mb']:>6.1f}"
        )
    bare = fresh_interpreter_rss_mb("bare")
    imports = fresh_interpreter_rss_mb("imports")
    print(
        f"baseline RSS MB: bare interpreter {bare:.1f}, interpreter + imports {imports:.1f}, "
        f"this process before its first capture {before_first_capture:.1f}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "levels": rows,
                    "baseline_rss_mb": {
                        "bare_interpreter": bare,
                        "interpreter_and_imports": imports,
                        "before_first_capture": before_first_capture,
                    },
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
