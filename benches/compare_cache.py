"""Side-by-side cache timings in one run: ns per operation and the ratio to ByteCache.

Interleaved rounds (every contender once per round, same inputs), single thread, best round
kept. Usage: python benches/compare_cache.py [--rounds N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cache_contenders import CONTENDERS, ENTRIES, OPERATIONS, VALUE_SIZES

TARGET_SECONDS_PER_SAMPLE = 0.02


def calibrate(run: Callable[[], None]) -> int:
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            run()
        if time.perf_counter() - start >= TARGET_SECONDS_PER_SAMPLE:
            return loops
        loops *= 2


def measure(rounds: int) -> dict[tuple[str, str], dict[str, float]]:
    """(operation, size) -> contender -> best ns per operation."""
    results: dict[tuple[str, str], dict[str, float]] = {}
    for size_name, size in VALUE_SIZES.items():
        value = bytes(size)
        for op_name, make in OPERATIONS.items():
            runs = {c.name: make(c, value) for c in CONTENDERS}
            loops = {name: calibrate(run) for name, run in runs.items()}
            best = dict.fromkeys(runs, float("inf"))
            for _ in range(rounds):
                for name, run in runs.items():
                    start = time.perf_counter_ns()
                    for _ in range(loops[name]):
                        run()
                    elapsed = time.perf_counter_ns() - start
                    best[name] = min(best[name], elapsed / (loops[name] * ENTRIES))
            results[(op_name, size_name)] = best
            del runs
    return results


def print_table(results: dict[tuple[str, str], dict[str, float]]) -> None:
    names = [c.name for c in CONTENDERS]
    header = f"{'operation':<20}" + "".join(f"{n:>21}" for n in names)
    print("ns per operation (ratio = contender / ByteCache(ttl) for TTL-capable, / ByteCache else)")
    print(header)
    for (op_name, size_name), best in results.items():
        row = f"{op_name + ' ' + size_name:<20}"
        for contender in CONTENDERS:
            ours = best["ByteCache(ttl)" if contender.ttl_capable else "ByteCache"]
            ns = best[contender.name]
            row += f"{ns:>11.0f} ({ns / ours:>5.2f}x)"
        print(row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = measure(args.rounds)
    print_table(results)
    if args.json:
        serial = {f"{op} {size}": best for (op, size), best in results.items()}
        args.json.write_text(json.dumps(serial, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
