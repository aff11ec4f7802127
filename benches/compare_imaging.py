"""Side-by-side image timings in one run: downscale + JPEG tiers against Pillow, OpenCV and
simplejpeg, then the parallel batch rate, then a lower tier derived from a cached higher one
(`derive_jpeg`, one native call, against the Pillow decode -> Rust resize/encode path before it).

Interleaved rounds (every contender once per round, same BGRA input, same sizes, quality and
subsampling), single thread, best round kept. Prints per row: ms, source megapixels per second,
output bytes, and the speed-up over Pillow (Pillow ms / contender ms).

Usage: python benches/compare_imaging.py [--rounds N] [--filter NAME] [--json FILE] [--derived-only]
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


# (source tier held in the cache, derived tier): what the cache derives at yellow and red.
DERIVATIONS = (("optimized", "fast"), ("optimized", "thumbnail"), ("fast", "thumbnail"))


def _pillow_then_rust(jpeg: bytes, width: int, height: int, filter_name: str) -> bytes:
    """The derivation before `derive_jpeg`: Pillow's draft decode, then the Rust resize + encode."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as image:
        image.draft("RGB", (width, height))
        pixels = np.asarray(image.convert("RGB"))
    if (pixels.shape[1], pixels.shape[0]) != (width, height):
        pixels = m.downscale(pixels, width, height, filter=filter_name)  # type: ignore[arg-type]
    return m.encode_jpeg(pixels, QUALITY, SUBSAMPLING)  # type: ignore[arg-type]


def measure_derivations(rounds: int, filter_name: str) -> dict[str, dict[str, float]]:
    """2880x1800: each derivation by both paths, interleaved, best round kept."""
    from ironcliw_mem._native import derive_jpeg

    w, h = RESOLUTIONS["2880x1800"]
    frame = screen_frame(w, h)
    kwargs = {"quality": QUALITY, "subsampling": SUBSAMPLING, "filter": filter_name}
    tiers = m.encode_tiers(frame, tiers=["optimized", "fast"], **kwargs)  # type: ignore[arg-type]
    results: dict[str, dict[str, float]] = {}
    for source, target in DERIVATIONS:
        jpeg = tiers[source].jpeg
        tw, th = m.tier_size(target, w, h)

        def one_call(jpeg: bytes = jpeg, tw: int = tw, th: int = th) -> bytes | None:
            return derive_jpeg(jpeg, tw, th, **kwargs)  # type: ignore[arg-type]

        def before(jpeg: bytes = jpeg, tw: int = tw, th: int = th) -> bytes:
            return _pillow_then_rust(jpeg, tw, th, filter_name)

        runs = {"derive_jpeg": one_call, "pillow decode + rust": before}
        out = {name: len(run() or b"") for name, run in runs.items()}  # warm-up, sizes
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - start)
        results[f"{source} -> {target}"] = {
            "derive_jpeg_ms": best["derive_jpeg"] * 1e3,
            "before_ms": best["pillow decode + rust"] * 1e3,
            "speedup": best["pillow decode + rust"] / best["derive_jpeg"],
            "derive_jpeg_bytes": float(out["derive_jpeg"]),
            "before_bytes": float(out["pillow decode + rust"]),
        }
    return results


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
    parser.add_argument(
        "--derived-only", action="store_true", help="only the derived-tier table (the last one)"
    )
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, Row]]] = {}
    batch: dict[str, float] = {}
    if not args.derived_only:
        results = measure(args.rounds, args.filter)
        print_tables(results, args.filter)
        batch = measure_batch(args.rounds, args.filter)
        print(
            f"\nbatch: {batch['frames']:.0f} x 2880x1800, all four tiers: one by one "
            f"{batch['serial_ms']:.1f} ms, encode_tiers_batch on {batch['threads']:.0f} threads "
            f"{batch['batch_ms']:.1f} ms -> {batch['speedup']:.2f}x the single-thread rate"
        )
    derivations = measure_derivations(args.rounds, args.filter)
    print(
        f"\nderived tiers, 2880x1800 screen, from the cached JPEG (q{QUALITY} {SUBSAMPLING}, "
        f"filter {args.filter}), single thread, best of the rounds"
    )
    print(f"{'derivation':<24}{'derive_jpeg ms':>16}{'Pillow+Rust ms':>16}{'speed-up':>10}")
    for name, row in derivations.items():
        print(
            f"{name:<24}{row['derive_jpeg_ms']:>16.2f}{row['before_ms']:>16.2f}"
            f"{row['speedup']:>9.2f}x"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "filter": args.filter,
                    "results": results,
                    "batch": batch,
                    "derivations": derivations,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
