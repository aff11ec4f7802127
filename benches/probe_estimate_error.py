"""How far the probe's in-between estimates drift from a full reading, while memory moves.

The probe reads a limited cgroup's memory.stat and /proc/meminfo at most once per refresh_s
and estimates the working set and MemAvailable in between (docs/footprint.md). Here a probe with
the default refresh and one that reads every file on every call (refresh_s=0) are read back to
back every 5 ms while this process, inside a fresh memory-limited cgroup v1 (root only), grows
and frees anonymous memory and fills and drops page cache. Printed per figure, in MiB: how far
the estimate fell below and rose above the full reading at most, the 99th percentile and the
median of the absolute difference, and the figure's own range over the run.

    .venv/bin/python benches/probe_estimate_error.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from compare_pressure import inside_limited_v1_cgroup
from ironcliw_mem import PressureProbe

MIB = 1 << 20


def churn(stop: threading.Event, scratch: Path) -> None:
    """Anonymous memory up and down in 16 MiB steps, and a 64 MiB file read into the page
    cache and dropped again, in turns."""
    blob = scratch / "cache.bin"
    blob.write_bytes(os.urandom(64 * MIB))
    held: list[bytearray] = []
    step = 0
    while not stop.is_set():
        phase = step % 16
        if phase < 6:
            held.append(bytearray(b"\x01" * (16 * MIB)))
        elif phase < 10:
            held.clear() if phase == 9 else None
        elif phase < 13:
            with blob.open("rb") as f:
                while f.read(4 * MIB):
                    pass
        else:
            fd = os.open(blob, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        step += 1
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    try:
        cgroup = inside_limited_v1_cgroup(1 << 30)
        where = cgroup.__enter__()
    except OSError as exc:
        print(f"skipped: {exc}")
        return 0
    try:
        estimated = PressureProbe()
        exact = PressureProbe(refresh_s=0)
        diffs: dict[str, list[float]] = {"working set": [], "available": []}
        values: dict[str, list[float]] = {"working set": [], "available": []}
        stop = threading.Event()
        with tempfile.TemporaryDirectory() as tmp:
            worker = threading.Thread(target=churn, args=(stop, Path(tmp)), daemon=True)
            worker.start()
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                e, x = estimated.read(), exact.read()
                pairs = {
                    "working set": (e.cgroup_working_set, x.cgroup_working_set),
                    "available": (e.available, x.available),
                }
                for name, (a, b) in pairs.items():
                    if a is not None and b is not None:
                        diffs[name].append((a - b) / MIB)
                        values[name].append(b / MIB)
                time.sleep(0.005)
            stop.set()
            worker.join()
    finally:
        cgroup.__exit__(None, None, None)
    print(f"{where}; {len(diffs['available'])} paired readings over {args.seconds:g} s")
    print(
        f"{'figure':12} {'most below':>11} {'most above':>11} {'p99 |diff|':>11} "
        f"{'median |diff|':>14} {'range':>14}"
    )
    for name, d in diffs.items():
        if not d:
            print(f"{name:12} not read")
            continue
        absolute = [abs(x) for x in d]
        p99 = statistics.quantiles(absolute, n=100)[98] if len(d) >= 100 else max(absolute)
        span = f"{min(values[name]):.0f}..{max(values[name]):.0f}"
        print(
            f"{name:12} {-min(0.0, min(d)):11.1f} {max(0.0, max(d)):11.1f} {p99:11.1f} "
            f"{statistics.median(absolute):14.1f} {span:>14}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
