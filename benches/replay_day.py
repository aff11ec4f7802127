"""The replay benchmark: a simulated day, the original behaviour against the package's defaults.

Prints the side-by-side table of one day (the model is `replay_model`, the real engine's harness
`replay_engine`; docs/replay.md documents both) and checks the design
targets. With ``--days N`` it also replays N days (seeds seed .. seed+N-1) and sums the figures
that one day leaves to chance, the offload triggers above all (a day holds only a handful of red
episodes).

Usage: python benches/replay_day.py [--seed S] [--days N] [--json FILE] [--agent-baseline-mb MB]
       [--original-unexplained-mb MB] [--set NAME=VALUE ...] [--hours H] [--screen WxH]
       [--jpeg-size-factor F] [--config NAME ...] [--quiet] [--no-macos]   (--help for each)

After the table it replays the same days on the macOS memory model and prints the offload
rules side by side (`offload_study`; ``--no-macos`` skips it).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from ironcliw_mem.config import MemoryConfig
from offload_study import format_rules, mac_days
from replay_model import (
    CONFIGURATIONS,
    HOUR,
    PACKAGE,
    TARGET_OFFLOAD_REDUCTION,
    DayModel,
    ReplayResult,
    add_model_arguments,
    finite_float,
    format_report,
    measure_model_sizes,
    model_from_args,
    reduction,
    run_day,
    write_json,
)


def several_days(
    first: ReplayResult, model: DayModel, days: int, configurations: Sequence[str] = CONFIGURATIONS
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per configuration, sums over `days` days starting with `first`'s seed; and the same sums
    for the trace with no vision bytes at all (a vision layer that holds nothing)."""
    config = MemoryConfig(env={})
    sizes = measure_model_sizes(model, config)
    totals: dict[str, dict[str, Any]] = {
        name: {"lookups": 0, "hits": 0, "captures": 0, "red_s": 0.0, "yellow_s": 0.0, "trig": []}
        for name in configurations
    }
    no_vision: dict[str, Any] = {"red_s": 0.0, "yellow_s": 0.0, "trig": []}
    for day in range(days):
        if day == 0:
            result = first
        else:
            seeded = dataclasses.replace(model, seed=model.seed + day)
            result = run_day(seeded, config, configurations=configurations, sizes=sizes)
        for name, figures in result.configurations.items():
            total = totals[name]
            total["lookups"] += figures["lookups"]
            total["hits"] += figures["hits"]
            total["captures"] += figures["captures"]
            total["red_s"] += figures["seconds_by_level"]["red"]
            total["yellow_s"] += figures["seconds_by_level"]["yellow"]
            total["trig"].append(figures["offload_triggers"])
        without_vision = result.trace_summary["without_vision"]
        no_vision["red_s"] += without_vision["seconds_by_level"]["red"]
        no_vision["yellow_s"] += without_vision["seconds_by_level"]["yellow"]
        no_vision["trig"].append(without_vision["offload_triggers"])
        print(f"  day {day + 1}/{days} replayed", file=sys.stderr, flush=True)
    return totals, no_vision


def format_days(
    totals: dict[str, dict[str, Any]], no_vision: dict[str, Any], days: int, cost: float
) -> str:
    lines = [
        f"Over {days} days (seeds differ, model the same):",
        "",
        "| | hit rate | captures | yellow | red | offload triggers (per day) | cost |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, t in totals.items():
        triggers = sum(t["trig"])
        lines.append(
            f"| {name} | {100 * t['hits'] / max(1, t['lookups']):.1f} % | {t['captures']:,} "
            f"| {t['yellow_s'] / HOUR:.2f} h | {t['red_s'] / HOUR:.2f} h "
            f"| {triggers} ({', '.join(map(str, t['trig']))}) | ${triggers * cost:.2f} |"
        )
    no_vision_triggers = sum(no_vision["trig"])
    per_day = ", ".join(map(str, no_vision["trig"]))
    lines.append(
        f"| no vision bytes at all | — | — | {no_vision['yellow_s'] / HOUR:.2f} h "
        f"| {no_vision['red_s'] / HOUR:.2f} h | {no_vision_triggers} ({per_day}) "
        f"| ${no_vision_triggers * cost:.2f} |"
    )
    if PACKAGE not in totals:
        return "\n".join(lines)
    package = sum(totals[PACKAGE]["trig"])
    for baseline in totals:
        if baseline == PACKAGE:
            continue
        before = sum(totals[baseline]["trig"])
        down = reduction(before, package)
        nothing = reduction(before, no_vision_triggers)
        if down is not None and nothing is not None:
            verdict = "met" if down >= TARGET_OFFLOAD_REDUCTION else "NOT met"
            lines.append(
                f"\nOffload triggers vs {baseline}: {before} -> {package}, {100 * down:.0f} % "
                f"down (target >= {100 * TARGET_OFFLOAD_REDUCTION:.0f} %): {verdict}; a layer "
                f"holding no vision bytes: {no_vision_triggers}, {100 * nothing:.0f} % down"
            )
    return "\n".join(lines)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    defaults = DayModel()
    add_model_arguments(parser)
    parser.add_argument("--hours", type=finite_float, default=defaults.hours)
    parser.add_argument(
        "--screen",
        default=f"{defaults.screen[0]}x{defaults.screen[1]}",
        help="WIDTHxHEIGHT of every space (default %(default)s)",
    )
    parser.add_argument(
        "--jpeg-size-factor",
        type=finite_float,
        default=defaults.jpeg_size_factor,
        help="multiply the measured JPEG sizes (real screens compress worse than synthetic ones)",
    )
    parser.add_argument(
        "--config",
        action="append",
        choices=CONFIGURATIONS,
        help="configurations to run (repeatable; default all)",
    )
    parser.add_argument("--days", type=int, default=1, help="also sum this many days")
    parser.add_argument("--json", metavar="FILE", help="write the first day's full result")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--no-macos",
        action="store_true",
        help="skip the offload rules on the macOS memory model (docs/offload-study.md)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        width, height = (int(part) for part in args.screen.lower().split("x"))
    except ValueError:
        print(f"--screen must be WIDTHxHEIGHT, got {args.screen!r}", file=sys.stderr)
        return 2
    try:
        model = model_from_args(
            args, hours=args.hours, screen=(width, height), jpeg_size_factor=args.jpeg_size_factor
        )
    except ValueError as error:
        print(f"bad model: {error}", file=sys.stderr)
        return 2
    if args.days < 1:
        print(f"--days must be >= 1, got {args.days}", file=sys.stderr)
        return 2
    configurations = args.config or CONFIGURATIONS
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = run_day(model, configurations=configurations, progress=progress)
    print(format_report(result))
    if args.days > 1:
        totals, no_vision = several_days(result, model, args.days, configurations)
        print()
        print(format_days(totals, no_vision, args.days, model.offload_cost_usd))
    if not args.no_macos:
        on_the_mac = mac_days(model, args.days, progress=progress)
        print()
        print(format_rules(on_the_mac, model.offload_cost_usd))
    if args.json:
        write_json(args.json, result.to_dict())
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
