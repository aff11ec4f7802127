"""Side by side: what `import ironcliw_mem` costs against `import psutil`.

    .venv/bin/python benches/compare_import.py             # or: make bench-import
    .venv/bin/python benches/compare_import.py --rounds 50

Each round runs every contender once in a fresh interpreter with `-X importtime`, in turn (the
order rotates per round, so a busy moment of the machine is shared out). The figure of a
contender is the sum of the cumulative import times the interpreter reports for the top-level
imports its statement made (site and startup excluded: they come before a marker); the median
over the rounds is reported with its ratio to `import psutil`. The modules the statement loaded
are counted too. The goal: `import ironcliw_mem` at most 1.5x `import psutil`.

The wall time of the statement (perf_counter in the child) is shown beside it: for the rows that
also take a reading, it includes the reading.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys

GOAL_RATIO = 1.5
ANCHOR = "import psutil"
CONTENDERS = [
    ANCHOR,
    "import ironcliw_mem",
    "import ironcliw_mem; ironcliw_mem.read_sample()",
    "from ironcliw_mem import MacOSMemoryManager",
    "from ironcliw_mem import MultiSpaceCaptureEngine",
]
MARKER = "--ironcliw-import-bench--"
CHILD = """
import sys, time
sys.stderr.write({marker!r} + "\\n")
before = len(sys.modules)
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(elapsed, len(sys.modules) - before)
"""
# "import time:      1234 |       5678 | name": self and cumulative microseconds; the name is
# indented by two spaces per nesting level, so a top-level import has none.
IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def run_once(statement: str) -> tuple[float, float, int]:
    """(import-time µs, wall µs, modules loaded) of `statement` in a fresh interpreter."""
    child = CHILD.format(marker=MARKER, statement=statement)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", child],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    _, _, after_marker = result.stderr.partition(MARKER)
    cumulative = 0
    for line in after_marker.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match and not match.group(3):
            cumulative += int(match.group(2))
    wall_s, modules = result.stdout.split()
    return float(cumulative), float(wall_s) * 1e6, int(modules)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="fresh interpreters per contender")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")

    import_us: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    wall_us: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    modules: dict[str, int] = {}
    for round_index in range(args.rounds):
        shift = round_index % len(CONTENDERS)
        for statement in CONTENDERS[shift:] + CONTENDERS[:shift]:
            imported, wall, loaded = run_once(statement)
            import_us[statement].append(imported)
            wall_us[statement].append(wall)
            modules[statement] = loaded

    anchor = statistics.median(import_us[ANCHOR])
    print(f"import cost, fresh interpreter, {args.rounds} rounds, median (python -X importtime)")
    print(f"{'statement':<52}{'import ms':>10}{'x psutil':>10}{'wall ms':>10}{'modules':>9}")
    for statement in CONTENDERS:
        median = statistics.median(import_us[statement])
        print(
            f"{statement:<52}{median / 1000:>10.2f}{median / anchor:>10.2f}"
            f"{statistics.median(wall_us[statement]) / 1000:>10.2f}{modules[statement]:>9}"
        )
    ratio = statistics.median(import_us["import ironcliw_mem"]) / anchor
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(f"goal: import ironcliw_mem <= {GOAL_RATIO}x import psutil: {ratio:.2f}x, {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
