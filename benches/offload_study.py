"""The design document's headline, measured on the macOS memory model: cloud-VM triggers under
the agent's legacy offload rule against the package's `OffloadAdvisor`.

Each seeded day of the replay runs the original vision layer and the package (the real engine)
on a `MacMachine` (`offload_rules`): both rules watch the same Mac, the legacy rule psutil's
percent every 5 s, the advisor the kernel's level. `make bench-replay` prints that table;
this command also prints the sensitivity table, each row one assumption changed, replayed open
loop over the bytes each layer asked for on the base run (docs/offload-study.md).

Usage: python benches/offload_study.py [--days N] [--seed S] [--json FILE] [--quiet]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from ironcliw_mem.config import MemoryConfig
from macos_memory_model import GIB, MIB, MacModel, healthy_plateau
from offload_rules import MacMachine, replay_demands
from replay_model import (
    ORIGINAL,
    PACKAGE,
    TARGET_OFFLOAD_REDUCTION,
    DayModel,
    measure_model_sizes,
    reduction,
    run_day,
    write_json,
)

NO_VISION = "no vision bytes"
LAYERS = (ORIGINAL, PACKAGE)
# The legacy rule under each re-arm assumption (offload_rules.REARM_RULES), and the advisor.
RULES = ("return", "episode", "never", "advisor")
RULE_TITLES = {
    "return": "legacy rule, re-armed on its return rule (base)",
    "episode": "legacy rule, re-armed after a 30 min VM once it stops firing",
    "never": "legacy rule, never re-armed (as written)",
    "advisor": "OffloadAdvisor (kernel level, red 30 s)",
}
HEADLINE_REARMS = ("return", "episode")


def triggers_of(figures: dict[str, Any], rule: str) -> int:
    """A machine's triggers under `rule` (a key of RULES)."""
    if rule == "advisor":
        return int(figures["advisor_triggers"])
    return int(figures["legacy_triggers"][rule])


@dataclass
class MacDays:
    """Per stream (the layers and the no-vision reference), each day's machine figures and the
    bytes it asked for each second."""

    days: int
    figures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    demands: dict[str, list[list[int]]] = field(default_factory=dict)

    def triggers(self, stream: str, rule: str) -> list[int]:
        return [triggers_of(day, rule) for day in self.figures[stream]]

    def add(self, stream: str, figures: dict[str, Any], demands: list[int] | None) -> None:
        self.figures.setdefault(stream, []).append(figures)
        if demands is not None:
            self.demands.setdefault(stream, []).append(demands)


class _Machines:
    """Makes one `MacMachine` per run and keeps them, in the order run_day asks: the
    configurations, then the no-vision reference."""

    def __init__(self, mac: MacModel, config: MemoryConfig, record: bool) -> None:
        self.mac, self.config, self.record = mac, config, record
        self.made: list[MacMachine] = []

    def __call__(self) -> MacMachine:
        machine = MacMachine(self.mac, self.config, record=self.record)
        self.made.append(machine)
        return machine


def mac_days(
    model: DayModel,
    days: int,
    *,
    mac: MacModel | None = None,
    config: MemoryConfig | None = None,
    record: bool = False,
    progress: Callable[[str], None] | None = None,
) -> MacDays:
    """`days` seeded days (seed, seed + 1, ...) of the original and the package on the Mac."""
    mac = mac or MacModel()
    config = config or MemoryConfig(env={})
    sizes = measure_model_sizes(model, config)
    result = MacDays(days)
    for day in range(days):
        machines = _Machines(mac, config, record)
        seeded = dataclasses.replace(model, seed=model.seed + day)
        run_day(seeded, config, configurations=LAYERS, sizes=sizes, machine=machines)
        for stream, machine in zip((*LAYERS, NO_VISION), machines.made, strict=True):
            result.add(stream, machine.figures(), machine.demands)
        if progress is not None:
            progress(f"  macOS model: day {day + 1}/{days} replayed")
    return result


def format_rules(days: MacDays, cost: float) -> str:
    """Both rules' triggers for both layers (and no vision bytes), and the headline."""
    lines = [
        f"Offload rules on the macOS memory model over {days.days} day(s) (docs/offload-study.md):",
        "",
        "| vision layer | offload rule | triggers (each day) | per day | cost per day "
        "| kernel warn / critical | psutil % mean / peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for stream in (*LAYERS, NO_VISION):
        figures = days.figures[stream]
        warn = sum(f["seconds_by_kernel_level"]["warn"] for f in figures) / 3600
        critical = sum(f["seconds_by_kernel_level"]["critical"] for f in figures) / 3600
        mean = sum(f["mean_psutil_percent"] for f in figures) / len(figures)
        peak = max(f["peak_psutil_percent"] for f in figures)
        for rule in RULES:
            triggers = days.triggers(stream, rule)
            per_day = sum(triggers) / len(triggers)
            lines.append(
                f"| {stream} | {RULE_TITLES[rule]} | {sum(triggers)} "
                f"({', '.join(map(str, triggers))}) | {per_day:.2f} | ${per_day * cost:.2f} "
                f"| {warn:.2f} h / {critical:.2f} h | {mean:.1f} / {peak:.1f} |"
            )
    for rearm in HEADLINE_REARMS:
        reasons: dict[str, int] = {}
        for day in days.figures[ORIGINAL]:
            for reason, count in day["legacy_reasons"][rearm].items():
                reasons[reason] = reasons.get(reason, 0) + count
        listed = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
        lines.append(f"\nOriginal, legacy re-armed '{rearm}', by reason: {listed or 'none'}")
    lines.append("")
    lines += [headline(days, rearm) for rearm in HEADLINE_REARMS]
    return "\n".join(lines)


def verdict(before: int, after: int) -> str:
    """The reduction from `before` to `after` triggers against the design document's target."""
    cut = reduction(before, after)
    target = f"target >= {100 * TARGET_OFFLOAD_REDUCTION:.0f} %"
    if cut is None:
        return f"n/a, the legacy rule never fired ({target})"
    met = "met" if cut >= TARGET_OFFLOAD_REDUCTION else "NOT met"
    return f"{100 * cut:.0f} % down ({target}): {met}"


def headline(days: MacDays, rearm: str = "return") -> str:
    before = sum(days.triggers(ORIGINAL, rearm))
    after = sum(days.triggers(PACKAGE, "advisor"))
    return (
        f"Headline, legacy re-armed '{rearm}' (original + legacy rule -> package + "
        f"OffloadAdvisor): {before} -> {after} triggers over {days.days} day(s): "
        f"{verdict(before, after)}"
    )


# --- sensitivity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One assumption changed (or none): MacModel fields, or bytes more asked for throughout
    (the other applications heavier than the day model says)."""

    label: str
    changes: dict[str, Any] = field(default_factory=dict)
    extra_bytes: int = 0


SENSITIVITY: tuple[Row, ...] = (
    Row("base (MacModel as it is)"),
    Row("inactive share 0.15", {"inactive_share": 0.15}),
    Row("inactive share 0.25", {"inactive_share": 0.25}),
    Row("inactive share 0.50 (xnu's target; HMCL #4876)", {"inactive_share": 0.5}),
    Row("compression ratio 1.5 (poorly compressible data)", {"compression_ratio": 1.5}),
    Row("compression ratio 2", {"compression_ratio": 2.0}),
    Row("compression ratio 4.4 (HMCL #4876)", {"compression_ratio": 4.4}),
    Row("wired 1.5 GiB", {"wired_bytes": int(1.5 * GIB)}),
    Row("wired 3.5 GiB", {"wired_bytes": int(3.5 * GIB)}),
    Row("file pages kept 0.5 GiB", {"file_min_bytes": int(0.5 * GIB)}),
    Row("file pages kept 3 GiB", {"file_min_bytes": 3 * GIB}),
    Row("file cache refill 1 MiB/s", {"file_refill_bytes_per_s": 1 * MIB}),
    Row("file cache refill 50 MiB/s", {"file_refill_bytes_per_s": 50 * MIB}),
    Row("file cache refill at once", {"file_refill_bytes_per_s": 16 * GIB}),
    Row("decompression time constant 60 s", {"decompress_time_constant_s": 60.0}),
    Row("decompression time constant 3600 s", {"decompress_time_constant_s": 3600.0}),
    Row("other applications +2 GiB all day", extra_bytes=2 * GIB),
    Row("other applications +4 GiB all day", extra_bytes=4 * GIB),
    Row("+4 GiB and compression ratio 2", {"compression_ratio": 2.0}, extra_bytes=4 * GIB),
    Row("+4 GiB and compression ratio 1.5", {"compression_ratio": 1.5}, extra_bytes=4 * GIB),
)
SENSITIVITY_RULES = ("return", "episode", "advisor")


def sensitivity(
    days: MacDays,
    rows: Sequence[Row] = SENSITIVITY,
    *,
    base: MacModel | None = None,
    config: MemoryConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Each row over the recorded demands of every day (open loop), both layers, both rules."""
    base = base or MacModel()
    config = config or MemoryConfig(env={})
    table = []
    for row in rows:
        mac = dataclasses.replace(base, **row.changes)
        counts = {(layer, rule): 0 for layer in LAYERS for rule in SENSITIVITY_RULES}
        for layer in LAYERS:
            for demands in days.demands[layer]:
                figures = replay_demands(demands, mac, config, extra_bytes=row.extra_bytes)
                for rule in SENSITIVITY_RULES:
                    counts[(layer, rule)] += triggers_of(figures, rule)
        plateau = healthy_plateau(mac).psutil_percent
        table.append({"row": row.label, "days": days.days, "triggers": counts, "plateau": plateau})
        if progress is not None:
            progress(f"  sensitivity: {row.label}")
    return table


def format_sensitivity(table: Sequence[dict[str, Any]], cost: float) -> str:
    lines = [
        "Sensitivity (open loop over each layer's recorded bytes; triggers per day):",
        "",
        "| row | healthy psutil % | original: legacy (return) | legacy (episode) | advisor "
        "| package: legacy (return) | legacy (episode) | advisor "
        "| reduction (return) | reduction (episode) | cost/day (episode -> advisor) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in table:
        n = entry["days"]
        t = entry["triggers"]
        after = t[(PACKAGE, "advisor")]
        cells = [f"{t[(layer, rule)] / n:.2f}" for layer in LAYERS for rule in SENSITIVITY_RULES]
        cuts = []
        for rearm in HEADLINE_REARMS:
            cut = reduction(t[(ORIGINAL, rearm)], after)
            cuts.append("n/a" if cut is None else f"{100 * cut:.0f} %")
        before = t[(ORIGINAL, "episode")]
        lines.append(
            f"| {entry['row']} | {entry['plateau']:.1f} | {' | '.join(cells)} | {' | '.join(cuts)} "
            f"| ${before / n * cost:.2f} -> ${after / n * cost:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=DayModel().seed)
    parser.add_argument("--json", metavar="FILE", help="write every figure")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.days < 1:
        print(f"--days must be >= 1, got {args.days}", file=sys.stderr)
        return 2
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    started = time.perf_counter()
    model = DayModel(seed=args.seed)
    days = mac_days(model, args.days, record=True, progress=progress)
    table = sensitivity(days, progress=progress)
    print(format_rules(days, model.offload_cost_usd))
    print()
    print(format_sensitivity(table, model.offload_cost_usd))
    print(f"\n({time.perf_counter() - started:.0f} s)")
    if args.json:
        data = {
            "days": days.figures,
            "sensitivity": [
                {**entry, "triggers": {f"{k[0]}/{k[1]}": v for k, v in entry["triggers"].items()}}
                for entry in table
            ],
        }
        write_json(args.json, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
