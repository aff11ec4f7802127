"""How `encode_tiers_batch` scales: 9 spaces x 4 tiers (2880x1800) against one frame's four
tiers encoded on one core, and a batch of 1 frame (fewer frames than cores: its tiers are the
only parallel work) against the same frame encoded serially.

    .venv/bin/python benches/batch_scaling.py [--rounds 5] [--spaces 9]

Single-core figures come from `encode_tiers` (the calling thread only); the batch uses rayon's
global pool (every core unless RAYON_NUM_THREADS says otherwise). The best of `--rounds`
interleaved rounds is reported. The ideal batch time is one frame x ceil(spaces / cores) when
frames are the unit of work, one frame x spaces / cores when tiers run in parallel as well.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np

import ironcliw_mem as m
from imaging_contenders import QUALITY, SUBSAMPLING, screen_frame


def best_of(rounds: int, fn: object) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spaces", type=int, default=9)
    args = parser.parse_args()
    base = screen_frame(2880, 1800)
    frames = [np.roll(base, 37 * i, axis=1) for i in range(args.spaces)]
    kwargs: dict[str, object] = {"quality": QUALITY, "subsampling": SUBSAMPLING}
    cores = int(os.environ.get("RAYON_NUM_THREADS") or os.cpu_count() or 1)
    m.encode_tiers_batch(frames, **kwargs)  # type: ignore[arg-type]  # warm the pool
    one = best_of(args.rounds, lambda: m.encode_tiers(frames[0], **kwargs))  # type: ignore[arg-type]
    one_batched = best_of(args.rounds, lambda: m.encode_tiers_batch(frames[:1], **kwargs))  # type: ignore[arg-type]
    batch = best_of(args.rounds, lambda: m.encode_tiers_batch(frames, **kwargs))  # type: ignore[arg-type]
    frame_ideal = one * math.ceil(args.spaces / cores)
    tier_ideal = one * args.spaces / cores
    print(f"cores (rayon threads): {cores}")
    print(f"one frame, 4 tiers, one core (encode_tiers):      {one * 1e3:8.1f} ms")
    print(
        f"one frame, 4 tiers, encode_tiers_batch:           {one_batched * 1e3:8.1f} ms "
        f"({one / one_batched:.2f}x the single-core rate)"
    )
    print(
        f"{args.spaces} frames x 4 tiers, encode_tiers_batch:         {batch * 1e3:8.1f} ms "
        f"= {batch / one:.2f}x one frame on one core; "
        f"{one * args.spaces / batch:.2f}x the serial rate"
    )
    print(
        f"ideal on {cores} cores: {frame_ideal * 1e3:.1f} ms with frames as the unit, "
        f"{tier_ideal * 1e3:.1f} ms with tiers in parallel too"
    )
    # The jobs a batch with fewer frames than threads is split into, each timed on one core:
    # on N cores no batch can beat max(largest job, total work / N) (an estimate, not a run).
    jobs = {
        "full": ["full"],
        "optimized": ["optimized"],
        "fast + thumbnail": ["fast", "thumbnail"],
    }
    job_s = {
        name: best_of(args.rounds, lambda t=tiers: m.encode_tiers(frames[0], tiers=t, **kwargs))  # type: ignore[arg-type,misc]
        for name, tiers in jobs.items()
    }
    print(
        "jobs of one frame, one core: "
        + ", ".join(f"{name} {t * 1e3:.1f} ms" for name, t in job_s.items())
    )
    for n in (cores, 16):
        bound = max(max(job_s.values()), args.spaces * sum(job_s.values()) / n)
        print(
            f"lower bound for {args.spaces} frames on {n} cores (tiers split): "
            f"{bound * 1e3:.1f} ms = {bound / one:.2f}x one frame on one core"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
