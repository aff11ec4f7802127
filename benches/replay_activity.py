"""The replay's day with the user's activity: the package with and without the activity policy.

The day model's active periods say when the user is at the machine. Here the user also takes
breaks inside them (reading, a call, coffee: seeded, on a random stream of their own so the day's
trace stays the one `replay_day` replays), and the agent is always on: its periodic look at the
screen (`"monitoring"`, every `focus_interval_s`) and its optimizer's prefetch round (every
`prefetch_interval_s`) go on whether or not anyone is there, while the user's own requests (a
switch of space, a multi-space analysis) come only while the user is at the keyboard. A
simulated user reads out the idle seconds that follow (an input every `input_interval_s` while
present), through the manager's activity reader seam, so the real manager classifies the state
(IDLE_AFTER_SECONDS, AWAY_AFTER_SECONDS) and the real engine, cache and optimizer obey it.

The same trace is replayed twice: IRONCLIW_ACTIVITY_POLICY off (every state acts as active) and
on (the defaults). Reported: captures, JPEG bytes encoded, cache bytes (mean and peak), the
manager's pressure readings (its poll stretches while away), and the evictions by reason.

Usage: python benches/replay_activity.py [--seed S] [--hours H] [--json FILE] [--set NAME=VALUE]
       [--agent-follows-periods] [--quiet]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from ironcliw_mem.activity import ActivityReading, PolledReader, classify_activity
from ironcliw_mem.capture import MultiSpaceOptimizer
from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.levels import ActivityState
from ironcliw_mem.pressure import Classifier, Thresholds
from replay_model import (
    HOUR,
    MIB,
    DayModel,
    Request,
    Trace,
    _Package,
    _sample,
    _SimClock,
    add_model_arguments,
    build_trace,
    finite_float,
    measure_model_sizes,
    model_from_args,
    write_json,
)

WITHOUT = "activity policy off"
WITH = "activity policy on"


@dataclass(frozen=True)
class UserPresence:
    """When the user is at the keyboard inside the day's active periods; each number an
    assumption, named once."""

    seed_offset: int = 1  # the breaks' random stream: the model's seed plus this
    input_interval_s: int = 4  # at the keyboard, an input event every few seconds
    breaks_per_hour: float = 1.0  # pauses inside active periods
    # A break's length, uniform: shorter than AWAY_AFTER_SECONDS (900) leaves the user idle only.
    break_s: tuple[float, float] = (60.0, 1800.0)
    # The agent runs all day: its periodic look and prefetch go on outside active periods too.
    agent_always_on: bool = True
    prefetch_interval_s: int = 30  # the optimizer's round (OPTIMIZATION_INTERVAL_SECONDS)

    def __post_init__(self) -> None:
        low, high = self.break_s
        if not (0 < low <= high and self.input_interval_s >= 1 and self.prefetch_interval_s >= 1):
            raise ValueError(f"bad presence model: {self}")
        if not (math.isfinite(self.breaks_per_hour) and self.breaks_per_hour >= 0):
            raise ValueError(f"breaks_per_hour must be a finite number >= 0: {self}")


@dataclass
class PresenceTrace:
    """The day's trace with the user's presence: idle seconds per tick and the requests of an
    always-on agent."""

    base: Trace
    present: list[bool]
    idle_seconds: list[float]
    space: list[int]
    requests: dict[int, list[Request]]

    def request_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for requests in self.requests.values():
            for request in requests:
                counts[request.reason] = counts.get(request.reason, 0) + 1
        return counts


def build_presence_trace(model: DayModel, presence: UserPresence) -> PresenceTrace:
    """Breaks inside the active periods, the idle seconds they give, and the agent's requests."""
    base = build_trace(model)
    rng = random.Random(model.seed + presence.seed_offset)
    ticks, dt = model.ticks, model.tick_s
    present = list(base.active)
    break_p = presence.breaks_per_hour * dt / HOUR
    t = 0
    while t < ticks:
        if present[t] and rng.random() < break_p:
            length = max(1, round(rng.uniform(*presence.break_s) / dt))
            present[t : t + length] = [False] * len(present[t : t + length])
            t += length
        t += 1
    idle: list[float] = []
    last_input = -model.hours * HOUR  # nobody at the machine since long before the day began
    space: list[int] = []
    for t in range(ticks):
        now = t * dt
        returning = t == 0 or not present[t - 1]  # coming back is touching the keyboard
        if present[t] and (returning or now % presence.input_interval_s == 0):
            last_input = now
        idle.append(now - last_input)
        # Away from the keyboard the user switches nowhere: the space stays where it was.
        space.append(base.space[t] if present[t] or not space else space[-1])
    requests: dict[int, list[Request]] = {}
    for t in range(ticks):
        now = t * dt
        wanted = [r for r in base.requests.get(t, ()) if r.reason != "focus" and present[t]]
        agent_on = presence.agent_always_on or base.active[t]
        if agent_on and now % model.focus_interval_s == 0:
            wanted.append(Request(t, (space[t],), "monitoring"))
        if wanted:
            requests[t] = wanted
    return PresenceTrace(base, present, idle, space, requests)


class SimulatedUser(PolledReader):
    """An activity reader (the manager's seam) that reads the trace's idle seconds."""

    source = "replay"

    def __init__(self) -> None:
        self.idle_seconds = 0.0

    def read(self) -> ActivityReading:
        return ActivityReading(self.idle_seconds, None, None, self.source)


async def _replay_presence(
    trace: PresenceTrace,
    config: MemoryConfig,
    presence: UserPresence,
    sizes: Any,
    name: str,
    progress: Callable[[str], None] | None,
) -> dict[str, Any]:
    model = trace.base.model
    clock = _SimClock()
    user = SimulatedUser()
    yardstick = Classifier(Thresholds(**config.thresholds))
    package = _Package(
        name, model, clock, yardstick, config=config, sizes=sizes, activity_reader=user
    )
    manager, engine = package.manager, package.engine
    optimizer = MultiSpaceOptimizer(engine, clock=clock)
    dt = float(model.tick_s)
    seconds_by_state = dict.fromkeys((s.value for s in ActivityState), 0.0)
    captures_by_state = dict.fromkeys((s.value for s in ActivityState), 0)
    prefetch_by_state = dict.fromkeys((s.value for s in ActivityState), 0)
    cache_byte_seconds = 0.0
    peak_cache = 0
    prefetch_rounds = prefetched = 0
    next_check = 0
    for t in range(model.ticks):
        clock.now = t * dt
        user.idle_seconds = trace.idle_seconds[t]
        package.screens.active = trace.space[t]
        # The manager reads the user when the state can change (its own follower does the same
        # from the thresholds); the replay asks it when the package's rule says it changed.
        state = classify_activity(user.read(), config.idle_after_seconds, config.away_after_seconds)
        if state is not manager.current_activity:
            await manager.check_activity()
        now_state = manager.current_activity.value
        captures_before = engine.captures_made
        for request in trace.requests.get(t, ()):
            await package.handle(request, trace.space[t])
        if t % presence.prefetch_interval_s == 0 and (
            presence.agent_always_on or trace.base.active[t]
        ):
            prefetch_rounds += 1
            allowed = await engine.get_spaces_to_monitor()
            candidates = optimizer.prefetch_candidates(trace.space[t], allowed, engine.pressure)
            task = await engine.prefetch_spaces(candidates, engine.policy.capture_quality)
            if task is not None:
                fetched = (await task).new_captures
                prefetched += fetched
                prefetch_by_state[now_state] += fetched
        captures_by_state[now_state] += engine.captures_made - captures_before
        package.end_tick()
        parts = package.vision_parts()
        if t >= next_check:
            footprint = model.agent_baseline_bytes + sum(parts.values())
            await package.check(_sample(model, trace.base.other_bytes[t], footprint))
            next_check = t + max(1, round(manager.pressure_poll_interval / dt))
        cache = package.cache_bytes()
        cache_byte_seconds += cache * dt
        peak_cache = max(peak_cache, cache)
        seconds_by_state[manager.current_activity.value] += dt
        if progress is not None and t and t % (6 * HOUR) == 0:
            progress(f"  {name}: {t * dt / HOUR:.0f} h simulated")
    stats = engine.cache.get_stats()
    await package.close()
    duration = model.ticks * dt
    return {
        "captures": engine.captures_made,
        "prefetch_captures": prefetched,
        "prefetch_rounds": prefetch_rounds,
        "jpeg_bytes_encoded": package.encoder.bytes_encoded,
        "mean_cache_bytes": cache_byte_seconds / duration,
        "peak_cache_bytes": peak_cache,
        "pressure_readings": manager.checks,
        "activity_changes": manager.activity_changes,
        "spaces_skipped": package.skipped,
        "evictions": stats["evictions"],
        "seconds_by_state": seconds_by_state,
        "captures_by_state": captures_by_state,
        "prefetch_captures_by_state": prefetch_by_state,
    }


@dataclass
class ActivityReplay:
    model: DayModel
    presence: UserPresence
    requests: dict[str, int]
    active_seconds: float  # the model's active periods
    present_seconds: float  # of which at the keyboard
    runs: dict[str, dict[str, Any]]
    wall_seconds: float

    def to_dict(self) -> dict[str, Any]:
        model = asdict(self.model)
        model["requested_quality"] = self.model.requested_quality.value
        return {
            "model": model,
            "presence": asdict(self.presence),
            "requests": self.requests,
            "active_seconds": self.active_seconds,
            "present_seconds": self.present_seconds,
            "runs": self.runs,
            "savings": savings(self.runs),
            "wall_seconds": round(self.wall_seconds, 2),
        }


def run_activity_day(
    model: DayModel | None = None,
    presence: UserPresence | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> ActivityReplay:
    """The same presence trace replayed with the activity policy off and on (package defaults,
    without the environment, so a run is reproducible anywhere)."""
    model = model or DayModel()
    presence = presence or UserPresence()
    started = time.perf_counter()
    trace = build_presence_trace(model, presence)
    on = MemoryConfig(env={})
    off = MemoryConfig(env={}, activity_policy=False)
    sizes = measure_model_sizes(model, on)
    runs = {
        name: asyncio.run(_replay_presence(trace, config, presence, sizes, name, progress))
        for name, config in ((WITHOUT, off), (WITH, on))
    }
    return ActivityReplay(
        model,
        presence,
        trace.request_counts(),
        sum(trace.base.active) * float(model.tick_s),
        sum(trace.present) * float(model.tick_s),
        runs,
        time.perf_counter() - started,
    )


SAVED_FIGURES = ("captures", "prefetch_captures", "jpeg_bytes_encoded", "mean_cache_bytes")


def savings(runs: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """The share of each figure the activity policy saves (None where there was nothing)."""
    before, after = runs[WITHOUT], runs[WITH]
    return {
        key: None if not before[key] else round(1 - after[key] / before[key], 4)
        for key in (*SAVED_FIGURES, "pressure_readings")
    }


def _hours(seconds: float) -> str:
    return f"{seconds / HOUR:.2f} h"


def format_activity_report(result: ActivityReplay) -> str:
    model, runs = result.model, result.runs
    state_seconds = runs[WITH]["seconds_by_state"]
    lines = [
        f"Simulated {model.hours:g} h (seed {model.seed}), {model.spaces} spaces of "
        f"{model.screen[0]}x{model.screen[1]}; user at the keyboard "
        f"{_hours(result.present_seconds)} of the active periods' "
        f"{_hours(result.active_seconds)}; requests: "
        + ", ".join(f"{n:,} {reason}" for reason, n in sorted(result.requests.items())),
        "The manager's activity (policy on): "
        + ", ".join(f"{state} {_hours(s)}" for state, s in state_seconds.items()),
        "",
        "| | captures | of which prefetch | JPEG bytes encoded | mean cache | peak cache "
        "| pressure readings | evictions (activity) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        lines.append(
            f"| {name} | {r['captures']:,} | {r['prefetch_captures']:,} "
            f"| {r['jpeg_bytes_encoded'] / MIB:,.1f} MB | {r['mean_cache_bytes'] / MIB:,.2f} MB "
            f"| {r['peak_cache_bytes'] / MIB:,.1f} MB | {r['pressure_readings']:,} "
            f"| {r['evictions'].get('activity', 0):,} |"
        )
    saved = savings(runs)
    lines.append(
        "| saved | "
        + " | ".join(
            "—" if saved[key] is None else f"{100 * saved[key]:.0f} %"
            for key in ("captures", "prefetch_captures", "jpeg_bytes_encoded", "mean_cache_bytes")
        )
        + " | — | "
        + (
            "—"
            if saved["pressure_readings"] is None
            else f"{100 * saved['pressure_readings']:.0f} %"
        )
        + " | |"
    )
    lines += [
        "",
        "Captures by the user's state (prefetches among them):",
        "",
        "| | " + " | ".join(s.value for s in ActivityState) + " |",
        "|---|" + "---|" * len(ActivityState),
    ]
    for name, r in runs.items():
        cells = [
            f"{r['captures_by_state'][s.value]:,} ({r['prefetch_captures_by_state'][s.value]:,})"
            for s in ActivityState
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--hours", type=finite_float, default=DayModel().hours)
    parser.add_argument(
        "--agent-follows-periods",
        action="store_true",
        help="the agent's own looks and prefetch stop outside the active periods (the base "
        "replay's agent); the user's breaks inside them remain",
    )
    parser.add_argument("--json", metavar="FILE", help="write the full result")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    try:
        model = model_from_args(args, hours=args.hours)
    except ValueError as error:
        print(f"bad model: {error}", file=sys.stderr)
        return 2
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    presence = UserPresence(agent_always_on=not args.agent_follows_periods)
    result = run_activity_day(model, presence, progress=progress)
    print(format_activity_report(result))
    if args.json:
        write_json(args.json, result.to_dict())
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
