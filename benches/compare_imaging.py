"""Side-by-side image timings in one run: downscale + JPEG tiers against Pillow, OpenCV and
simplejpeg, then the parallel batch rate.

Interleaved rounds (every contender once per round, same BGRA input, same sizes, quality and
subsampling), single thread, best round kept. Prints per row: ms, source megapixels per second,
output bytes, and the speed-up over Pillow (Pillow ms / contender ms).

Usage: python benches/compare_imaging.py [--rounds N] [--filter NAME] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ironcliw_mem as m
from imaging_contenders import (
    CONTENDERS,
    PIL_FILTERS,
    QUALITY,
    RESOLUTIONS,
    SUBSAMPLING,
    TIER_CASES,
    screen_frame,
)

BATCH_FRAMES = 4
WIDTHS = (9, 10, 12, 11)

Row = dict[str, float]


def measure(rounds: int, filter_name: str) -> dict[str, dict[str, dict[str, Row]]]:
    """resolution -> case -> contender -> {ms, mpps, bytes}."""
    results: dict[str, dict[str, dict[str, Row]]] = {}
    for res_name, (w, h) in RESOLUTIONS.items():
        frame = screen_frame(w, h)
        megapixels = w * h / 1e6
        results[res_name] = {}
        for case, tiers in TIER_CASES.items():
            runs = {c.name: c.make(tiers, filter_name) for c in CONTENDERS}
            sizes = {name: run(frame) for name, run in runs.items()}  # warm-up, output sizes
            best = dict.fromkeys(runs, float("inf"))
            for _ in range(rounds):
                for name, run in runs.items():
                    start = time.perf_counter()
                    run(frame)
                    best[name] = min(best[name], time.perf_counter() - start)
            results[res_name][case] = {
                name: {
                    "ms": best[name] * 1e3,
                    "mpps": megapixels / best[name],
                    "bytes": float(sum(sizes[name].values())),
                }
                for name in runs
            }
    return results


def measure_batch(rounds: int, filter_name: str) -> dict[str, float]:
    """All four tiers of BATCH_FRAMES 2880x1800 frames: one by one vs encode_tiers_batch."""
    w, h = RESOLUTIONS["2880x1800"]
    base = screen_frame(w, h)
    frames = [np_roll(base, i) for i in range(BATCH_FRAMES)]
    kwargs = {"quality": QUALITY, "subsampling": SUBSAMPLING, "filter": filter_name}
    serial = batch = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for f in frames:
            m.encode_tiers(f, **kwargs)  # type: ignore[arg-type]
        serial = min(serial, time.perf_counter() - start)
        start = time.perf_counter()
        m.encode_tiers_batch(frames, **kwargs)  # type: ignore[arg-type]
        batch = min(batch, time.perf_counter() - start)
    return {
        "frames": BATCH_FRAMES,
        "serial_ms": serial * 1e3,
        "batch_ms": batch * 1e3,
        "speedup": serial / batch,
        "threads": float(os.environ.get("RAYON_NUM_THREADS") or os.cpu_count() or 1),
    }


def np_roll(frame: object, shift: int) -> object:
    import numpy as np

    return np.ascontiguousarray(np.roll(frame, shift * 97, axis=1))


def print_tables(results: dict[str, dict[str, dict[str, Row]]], filter_name: str) -> None:
    for res_name, cases in results.items():
        print(
            f"\n{res_name} BGRA, q{QUALITY} {SUBSAMPLING}, filter {filter_name} (OpenCV/simplejpeg:"
            " INTER_AREA), single thread, best of the rounds"
        )
        header = ("case", "contender", "ms", "src MP/s", "out bytes", "vs Pillow")
        print(
            f"{header[0]:<11}{header[1]:<22}"
            + "".join(f"{h:>{w}}" for h, w in zip(header[2:], WIDTHS, strict=True))
        )
        for case, rows in cases.items():
            pillow_ms = rows["pillow"]["ms"]
            for name, row in rows.items():
                print(
                    f"{case:<11}{name:<22}{row['ms']:>9.1f}{row['mpps']:>10.0f}"
                    f"{int(row['bytes']):>12,}{pillow_ms / row['ms']:>10.2f}x"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--filter", default="catmull-rom", choices=sorted(PIL_FILTERS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = measure(args.rounds, args.filter)
    print_tables(results, args.filter)
    batch = measure_batch(args.rounds, args.filter)
    print(
        f"\nbatch: {batch['frames']:.0f} x 2880x1800, all four tiers: one by one "
        f"{batch['serial_ms']:.1f} ms, encode_tiers_batch on {batch['threads']:.0f} threads "
        f"{batch['batch_ms']:.1f} ms -> {batch['speedup']:.2f}x the single-thread rate"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"filter": args.filter, "results": results, "batch": batch}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
