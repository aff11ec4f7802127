"""Replay of a whole simulated day: the original vision-memory behaviour against this package.

A seeded generator writes one trace (which space the user looks at, the agent's capture requests,
the other applications' memory) and every configuration replays that same trace in simulated
time, so a day runs in well under a minute. Each configuration keeps its own vision bytes: the
cache (expired entries included until something removes them), the frames of results the agent is
still analysing that the cache does not also hold (each frame counted once, by identity), and the
extra frames alive while a tick's captures run. Those, plus the agent's non-vision baseline (the
same for all) and the other applications, are what the classifier is fed, so a configuration that
holds more memory really does push the machine into yellow and red sooner.

Configurations:

- ``original-as-written``: the agent's original code as it runs: raw RGBA frames, every requested
  space, quality not adapted, and captures never reaching the cache (``cache.put`` is called
  without ``await``), so every lookup misses.
- ``original``: the original as its authors meant it: the same,
  but captures do reach a fixed 200 MB LRU cache of raw frames; expired frames stay in memory
  until looked up or pushed out (there is no sweep); entries are stored under the requested
  tier, since the agent's engine has no manager to lower it.
- ``package``: the package itself, with its defaults: the real `MultiSpaceCaptureEngine` and
  `MultiSpaceCaptureCache` (on the simulated clock; the cache swept every simulated second) and a
  real `MacOSMemoryManager` (fed the same synthetic samples through ``read_sample``), capturing
  model screens with an encoder of measured sizes (``replay_engine``).

The originals are models of the agent's old vision layer (the thing compared against), each a
`ByteCache` of raw frames on the simulated clock; the package is not modelled, it is run.

What is measured is the same for all: a truthful `Classifier` (the package's thresholds) sees each
configuration's own samples once per simulated second; "time in each level" and the offload
triggers (red held for 30 s, once per episode) come from it. The same yardstick also runs over
the trace with no vision bytes at all: the triggers of a vision layer that holds nothing.
Each configuration's *decisions* come from its own reading: the package's manager; the
original's engine has no manager at the agent's call site, so nothing it does follows a level
(and its manager would read green on a Mac anyway). Every assumption of the model is a named
field of `DayModel` below and is documented in docs/replay.md.

Parts meant to be replaced: the other applications' memory is a list in the `Trace`
(`build_trace` writes it from the model), and the yardstick that judges every configuration is
any `Yardstick` (`run_day(yardstick=...)`; the package's `Classifier` by default), and the
machine the bytes live on is any `MachineModel` (`run_day(machine=...)`; by default used = other
+ footprint; `offload_rules.MacMachine` is the macOS memory model of docs/offload-study.md).

Run it: ``make bench-replay`` or ``python benches/replay_day.py`` (``--help`` for the options).
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ironcliw_mem._native import ByteCache
from ironcliw_mem.activity import ActivityReader
from ironcliw_mem.capture import (
    JpegScreenshot,
    MultiSpaceCaptureCache,
    MultiSpaceCaptureEngine,
    SpaceCaptureRequest,
)
from ironcliw_mem.capture.cache import cache_key
from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.levels import CaptureQuality, MemoryPressure
from ironcliw_mem.manager import MacOSMemoryManager
from ironcliw_mem.offload import RedHold
from ironcliw_mem.pressure import Classifier, Sample, Thresholds
from replay_engine import MeasuredEncoder, ModelScreens, SizeTable, measure_jpeg_sizes

MIB = 1024**2
GIB = 1024**3
HOUR = 3600

ORIGINAL_AS_WRITTEN = "original-as-written"
ORIGINAL = "original"
PACKAGE = "package"
CONFIGURATIONS = (ORIGINAL_AS_WRITTEN, ORIGINAL, PACKAGE)
LEVELS = ("green", "yellow", "red", "unknown")

# The agent's design document's targets for the package (docs/replay.md states them).
TARGET_PEAK_CACHE_MB = {"green": 800, "yellow": 400, "red": 100}
TARGET_HIT_RATE = 0.60
TARGET_OFFLOAD_REDUCTION = 0.80

RAW_CHANNELS = 4  # the original keeps np.array(PIL.Image.open(png)): RGBA, 4 bytes a pixel


@dataclass(frozen=True)
class DayModel:
    """Every number of the simulated day; each one is an assumption, named once."""

    seed: int = 2026
    hours: float = 24.0
    tick_s: int = 1  # one simulated second per step; everything happens on ticks
    spaces: int = 9
    screen: tuple[int, int] = (2880, 1800)
    total_bytes: int = 16 * GIB
    # Memory that is neither the agent nor the user's applications: kernel, wired, WindowServer.
    system_bytes: int = int(3.5 * GIB)
    # The agent process without any vision bytes (interpreter, libraries, its other state), the
    # same for every configuration. Nothing measured grounds it: the original profiler's 1200 MB
    # is the old vision layer's own footprint (what the project set out to cut), not this. A round
    # assumption; docs/replay.md shows how the results move with it (--agent-baseline-mb).
    agent_baseline_bytes: int = 1000 * MIB
    # When the user is at the machine (hours since midnight); the agent captures only then.
    active_periods: tuple[tuple[float, float], ...] = ((8.5, 12.5), (13.5, 18.5), (20.0, 23.0))
    # Other applications: a slow curve (time constant) towards a target, a swing over the
    # working day peaking mid-afternoon, a mean-reverting random walk, and bursts.
    apps_idle_bytes: int = int(2.5 * GIB)
    apps_active_bytes: int = int(5.5 * GIB)
    apps_swing_bytes: int = 1 * GIB
    apps_time_constant_s: float = 600.0
    noise_step_bytes: int = 16 * MIB
    noise_reversion: float = 0.998
    # Bursts (a build, a video call, a VM, a browser full of tabs): only while the user is active.
    bursts_per_hour: float = 0.6
    burst_bytes: tuple[float, float] = (1.0 * GIB, 4.5 * GIB)
    burst_plateau_s: tuple[float, float] = (120.0, 1500.0)
    burst_ramp_up_s: float = 60.0
    burst_ramp_down_s: float = 240.0
    # The user: seconds on a space on average, then a move to a neighbour, a favourite, or any.
    mean_dwell_s: float = 90.0
    neighbour_share: float = 0.55
    favourite_share: float = 0.30
    favourites: tuple[int, ...] = (1, 2, 5)
    # The agent: a look at the current space every few seconds and on each switch, and now and
    # then a multi-space analysis of every space (the call site's OPTIMIZED, cache_ttl=30).
    focus_interval_s: int = 5
    analyses_per_hour: float = 6.0
    requested_quality: CaptureQuality = CaptureQuality.OPTIMIZED
    request_ttl_s: float = 30.0
    # How long the agent keeps a result's screenshots before dropping them: every frame of the
    # result (hits and captures alike), whether or not the cache also holds it. The caller keeps
    # `result.screenshots` while Claude analyses them (`_capture_multi_space_screenshots` returns
    # them; `_get_multi_space_claude_response` wraps each in a PIL image for the call). A look at
    # the current space: a short single-image call. A multi-space analysis: a multi-image call,
    # under the caller's 30 s `api_timeout`; 15 s is an assumption, not a measurement.
    result_hold_s: int = 5
    analysis_hold_s: int = 15
    # Extra full frames alive while the original captures one space: PIL's decoded image beside
    # `np.array(image)` in `_capture_with_screencapture` / `_capture_with_cg_windows`, then the
    # `screenshot.tobytes()` copy hashed by `_capture_single_space` (not both at once). Captures
    # run one at a time on the event loop (`parallel=False`; the engine's ThreadPoolExecutor is
    # never used for them), so at most one capture's copies are alive.
    original_capture_copies: int = 1
    # Vision bytes the original holds while the user is active beyond what its code explains.
    # The agent's authors report ~1.2 GB of raw frames; the mechanisms above, taken from the code,
    # peak at ~0.22-0.44 GB. 0 keeps the model to the code; 925 MiB puts the original's peak at
    # 1,142 MiB, the reported figure (--original-unexplained-mb): a sensitivity, not a finding.
    original_unexplained_bytes: int = 0
    # The original's fixed cache (CACHE_MAX_SIZE_MB's default).
    original_cache_mb: int = 200
    # The agent's offload rule: red held this long, then a cloud VM at this price.
    offload_hold_s: int = 30
    offload_cost_usd: float = 0.04
    # JPEG sizes measured on synthetic screens, times this factor (real screens with photos or
    # video compress worse; 1.0 uses the measured sizes as they are).
    jpeg_size_factor: float = 1.0

    def __post_init__(self) -> None:
        problems = _model_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def ticks(self) -> int:
        return round(self.hours * HOUR / self.tick_s)

    @property
    def raw_frame_bytes(self) -> int:
        return self.screen[0] * self.screen[1] * RAW_CHANNELS

    def active_at(self, t: float) -> bool:
        hour = (t / HOUR) % 24
        return any(start <= hour < end for start, end in self.active_periods)


# What each DayModel number must be; every other number must be finite and >= 0 (the seed: any).
_POSITIVE_FIELDS = frozenset(
    {
        "hours", "tick_s", "spaces", "screen", "total_bytes", "apps_time_constant_s",
        "mean_dwell_s", "focus_interval_s", "request_ttl_s", "offload_hold_s",
        "jpeg_size_factor",
    }
)  # fmt: skip
_SHARE_FIELDS = frozenset({"neighbour_share", "favourite_share", "noise_reversion"})
_RANGE_FIELDS = frozenset({"burst_bytes", "burst_plateau_s"})  # (low, high)


def _numbers(value: Any) -> list[float]:
    if isinstance(value, tuple):
        return [number for item in value for number in _numbers(item)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def _model_problems(model: DayModel) -> list[str]:
    """Everything wrong with a model's numbers, each naming the field and what it accepts."""
    problems: list[str] = []
    for f in dataclasses.fields(model):
        value = getattr(model, f.name)
        numbers = _numbers(value)
        if not all(math.isfinite(n) for n in numbers):
            problems.append(f"{f.name} must be finite, got {value}")
        elif f.name in _POSITIVE_FIELDS and not all(n > 0 for n in numbers):
            problems.append(f"{f.name} must be > 0, got {value}")
        elif f.name in _SHARE_FIELDS and not all(0 <= n <= 1 for n in numbers):
            problems.append(f"{f.name} must be between 0 and 1, got {value}")
        elif f.name != "seed" and not all(n >= 0 for n in numbers):
            problems.append(f"{f.name} must be >= 0, got {value}")
        elif f.name in _RANGE_FIELDS and value[0] > value[1]:
            problems.append(f"{f.name} is a (low, high) range, got {value}")
    if model.neighbour_share + model.favourite_share > 1:
        problems.append("neighbour_share + favourite_share must be <= 1")
    if any(not 1 <= space <= model.spaces for space in model.favourites):
        problems.append(f"favourites must be spaces 1..{model.spaces}, got {model.favourites}")
    if any(not 0 <= start < end <= 24 for start, end in model.active_periods):
        problems.append(
            f"active_periods must be (start, end) hours with 0 <= start < end <= 24, "
            f"got {model.active_periods}"
        )
    if not problems and model.ticks < 1:
        problems.append(f"hours={model.hours} is shorter than one tick of {model.tick_s} s")
    return problems


BYTE_UNITS = {"KB": 1024, "MB": MIB, "GB": GIB}  # binary, as everywhere in this model


def _model_number(text: str, kind: type, name: str) -> int | float:
    """One number of a `--set` value; byte fields take a KB/MB/GB suffix (KiB/MiB/GiB; without
    one the number is bytes), and a whole field given with a suffix is rounded to a byte."""
    raw = text.strip()
    scale = 1
    unit = raw[-2:].upper()
    if "bytes" in name and unit in BYTE_UNITS:
        raw, scale = raw[:-2].strip(), BYTE_UNITS[unit]
    units = ", with a KB/MB/GB suffix or none for bytes" if "bytes" in name else ""
    if not raw:
        raise ValueError(f"{name}: an empty number; expected a number{units}")
    if kind is int and scale == 1:
        with contextlib.suppress(ValueError):
            return int(raw)  # exactly, however large (a seed)
    try:
        value = float(raw) * scale
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number{units}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: {raw!r} is not a finite number")
    if kind is int:
        if scale == 1 and value != int(value):
            raise ValueError(f"{name}: {raw!r} must be a whole number")
        return round(value)
    return value


def _model_value(name: str, text: str) -> Any:
    """Parses `text` for the DayModel field `name`, shaped like the field's default value:
    a number, a quality name, or a tuple (items separated by commas; pairs of a tuple of
    pairs by semicolons, e.g. active_periods=8.5,12.5;13.5,18.5). An empty value is an empty
    tuple where the field's length may vary (active_periods=: never active)."""
    default = getattr(DayModel(), name)
    annotation = str(next(f.type for f in dataclasses.fields(DayModel) if f.name == name))
    if isinstance(default, CaptureQuality):
        try:
            return CaptureQuality(text.strip().lower())
        except ValueError:
            accepted = ", ".join(q.value for q in CaptureQuality)
            raise ValueError(f"{name}: {text!r} is not one of {accepted}") from None
    if not isinstance(default, tuple):
        return _model_number(text, type(default), name)
    nested = bool(default) and isinstance(default[0], tuple)
    variable = annotation.endswith(", ...]")
    if variable and not text.strip():
        return ()
    sample = default[0] if nested else default
    kind = type(sample[0]) if sample else float
    groups = text.split(";") if nested else [text]
    parsed = [tuple(_model_number(item, kind, name) for item in g.split(",")) for g in groups]
    width = len(sample)
    fixed_width = nested or not variable
    if fixed_width and any(len(group) != width for group in parsed):
        raise ValueError(f"{name}: expected {width} comma-separated numbers per item, got {text!r}")
    return tuple(parsed) if nested else parsed[0]


def override_model(model: DayModel, assignments: Sequence[str]) -> DayModel:
    """`model` with NAME=VALUE assignments applied (the CLI's --set); every bad one is named
    in one ValueError."""
    known = [f.name for f in dataclasses.fields(DayModel)]
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        name = name.strip()
        if not sep or name not in known:
            errors.append(
                f"{assignment!r}: expected NAME=VALUE with NAME one of {', '.join(known)}"
            )
            continue
        try:
            changes[name] = _model_value(name, text)
        except ValueError as error:
            errors.append(str(error))
    if errors:
        raise ValueError("; ".join(errors))
    return dataclasses.replace(model, **changes)  # DayModel checks the combination


# --- the trace --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request of the agent: spaces to look at, why."""

    tick: int
    space_ids: tuple[int, ...]
    reason: str  # "focus", "switch" or "analysis"


@dataclass
class Trace:
    """What every configuration replays: same user, same agent, same other applications."""

    model: DayModel
    active: list[bool]
    space: list[int]
    other_bytes: list[int]  # everything but the agent: system + other applications
    requests: dict[int, list[Request]]
    bursts: list[tuple[int, int, int]]  # (start tick, plateau end tick, bytes)

    @property
    def switches(self) -> int:
        return sum(1 for reqs in self.requests.values() for r in reqs if r.reason == "switch")

    def request_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {"focus": 0, "switch": 0, "analysis": 0}
        for reqs in self.requests.values():
            for r in reqs:
                counts[r.reason] += 1
        return counts


def _next_space(rng: random.Random, model: DayModel, current: int) -> int:
    draw = rng.random()
    if draw < model.neighbour_share:
        options = [s for s in (current - 1, current + 1) if 1 <= s <= model.spaces]
    elif draw < model.neighbour_share + model.favourite_share:
        options = [s for s in model.favourites if s != current and s <= model.spaces]
    else:
        options = [s for s in range(1, model.spaces + 1) if s != current]
    return rng.choice(options or [current])


def _burst_bytes_at(t: int, bursts: Sequence[tuple[int, int, int]], model: DayModel) -> float:
    total = 0.0
    for start, plateau_end, size in bursts:
        if t < start or t > plateau_end + model.burst_ramp_down_s:
            continue
        if t < start + model.burst_ramp_up_s:
            total += size * (t - start) / model.burst_ramp_up_s
        elif t <= plateau_end:
            total += size
        else:
            total += size * (1 - (t - plateau_end) / model.burst_ramp_down_s)
    return total


def build_trace(model: DayModel) -> Trace:
    """The day's trace, from the model's seed alone."""
    rng = random.Random(model.seed)
    ticks = model.ticks
    active = [model.active_at(t * model.tick_s) for t in range(ticks)]
    # The user and the agent.
    space = [1] * ticks
    requests: dict[int, list[Request]] = {}
    current = model.favourites[0] if model.favourites else 1
    last_look = -math.inf
    switch_p = model.tick_s / model.mean_dwell_s
    analysis_p = model.analyses_per_hour * model.tick_s / HOUR
    all_spaces = tuple(range(1, model.spaces + 1))
    for t in range(ticks):
        now = t * model.tick_s
        if active[t]:
            reqs: list[Request] = []
            if rng.random() < switch_p:
                current = _next_space(rng, model, current)
                reqs.append(Request(t, (current,), "switch"))
                last_look = now
            elif now - last_look >= model.focus_interval_s:
                reqs.append(Request(t, (current,), "focus"))
                last_look = now
            if rng.random() < analysis_p:
                reqs.append(Request(t, all_spaces, "analysis"))
            if reqs:
                requests[t] = reqs
        else:
            last_look = -math.inf
        space[t] = current
    # Bursts of the other applications, while the user is active.
    bursts: list[tuple[int, int, int]] = []
    burst_p = model.bursts_per_hour * model.tick_s / HOUR
    for t in range(ticks):
        if active[t] and rng.random() < burst_p:
            size = int(rng.uniform(*model.burst_bytes))
            plateau = rng.uniform(*model.burst_plateau_s)
            start = t * model.tick_s
            bursts.append((start, int(start + model.burst_ramp_up_s + plateau), size))
    # The slow curve with noise, plus the bursts.
    other_bytes = [0] * ticks
    apps = float(model.apps_idle_bytes)
    noise = 0.0
    smoothing = 1 - math.exp(-model.tick_s / model.apps_time_constant_s)
    for t in range(ticks):
        now = t * model.tick_s
        if active[t]:
            hour = (now / HOUR) % 24
            day_phase = math.sin(math.pi * min(max((hour - 8.0) / 15.0, 0.0), 1.0))
            target = model.apps_active_bytes + model.apps_swing_bytes * day_phase
        else:
            target = model.apps_idle_bytes
        apps += (target - apps) * smoothing
        noise = noise * model.noise_reversion + rng.gauss(0.0, model.noise_step_bytes)
        other = model.system_bytes + apps + noise + _burst_bytes_at(now, bursts, model)
        other_bytes[t] = int(max(model.system_bytes, other))
    return Trace(model, active, space, other_bytes, requests, bursts)


# --- model frames of the originals ----------------------------------------------------------


class _Blobs:
    """One shared bytes object per size: the originals' caches account real lengths without
    holding a distinct 20 MB buffer per entry (`ByteCache` keeps a `bytes` value as the same
    object)."""

    def __init__(self) -> None:
        self._by_size: dict[int, bytes] = {}

    def __call__(self, size: int) -> bytes:
        blob = self._by_size.get(size)
        if blob is None:
            blob = self._by_size[size] = bytes(size)
        return blob


# --- measuring --------------------------------------------------------------------------------


def _seconds_per_level() -> dict[str, float]:
    return dict.fromkeys(LEVELS, 0.0)


def _bytes_per_level() -> dict[str, int]:
    return dict.fromkeys(LEVELS, 0)


@dataclass
class Meter:
    """What the truthful classifier and the footprint tell about one configuration."""

    seconds: dict[str, float] = field(default_factory=_seconds_per_level)
    own_seconds: dict[str, float] = field(default_factory=_seconds_per_level)
    peak_cache_by_level: dict[str, int] = field(default_factory=_bytes_per_level)
    peak_vision_by_level: dict[str, int] = field(default_factory=_bytes_per_level)
    # By the configuration's own reading: what its budget follows (the truthful level can run
    # ahead of it by up to one check interval).
    peak_cache_by_own_level: dict[str, int] = field(default_factory=_bytes_per_level)
    peak_cache: int = 0
    peak_footprint: int = 0
    cache_byte_seconds: float = 0.0
    footprint_byte_seconds: float = 0.0
    red_hold: RedHold = field(default_factory=lambda: RedHold(math.inf))
    # The truthful level and the second its run began, for the offload rule.
    level_now: str = ""
    level_since_s: float = 0.0
    offload_triggers: int = 0
    offload_ticks: list[int] = field(default_factory=list)
    level_changes: int = 0
    # The vision bytes by part (cache, held results, in-flight copies): peak and byte-seconds.
    peak_parts: dict[str, int] = field(default_factory=dict)
    part_byte_seconds: dict[str, float] = field(default_factory=dict)
    peak_vision: int = 0
    vision_byte_seconds: float = 0.0

    def record_parts(self, dt: float, parts: dict[str, int]) -> None:
        for part, size in parts.items():
            self.peak_parts[part] = max(self.peak_parts.get(part, 0), size)
            self.part_byte_seconds[part] = self.part_byte_seconds.get(part, 0.0) + size * dt
        vision = sum(parts.values())
        self.peak_vision = max(self.peak_vision, vision)
        self.vision_byte_seconds += vision * dt

    def record(self, dt: float, level: str, own: str, cache: int, vision: int, base: int) -> None:
        self.seconds[level] += dt
        self.own_seconds[own] += dt
        self.peak_cache = max(self.peak_cache, cache)
        self.peak_footprint = max(self.peak_footprint, base + vision)
        self.peak_cache_by_level[level] = max(self.peak_cache_by_level[level], cache)
        self.peak_vision_by_level[level] = max(self.peak_vision_by_level[level], vision)
        self.peak_cache_by_own_level[own] = max(self.peak_cache_by_own_level[own], cache)
        self.cache_byte_seconds += cache * dt
        self.footprint_byte_seconds += (base + vision) * dt


def offload_step(meter: Meter, tick: int, level: str, dt: float, hold_s: float) -> None:
    """Counts an offload trigger once per red episode, when red has been held `hold_s`: the
    `OffloadAdvisor`'s rule, a tick's level taken to last the whole tick."""
    if level != meter.level_now:
        meter.level_now, meter.level_since_s = level, tick * dt
    rule = meter.red_hold
    rule.hold_seconds = hold_s
    rule.observe(MemoryPressure.from_level(level), meter.level_since_s)
    if rule.take_trigger((tick + 1) * dt):
        meter.offload_triggers += 1
        meter.offload_ticks.append(tick)


# --- the configurations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One raw frame as the original holds it, by identity."""

    ident: int
    size: int


class _SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Yardstick(Protocol):
    """What judges every configuration alike: a level for each tick's sample."""

    def update(self, sample: Sample, now: float) -> Any:
        """The reading after `sample`; its `.level` is "green", "yellow", "red" or "unknown"."""
        ...


class _Replayer(abc.ABC):
    """One configuration's counters and footprint over the trace."""

    # Seconds between the configuration's own pressure checks; None: it never checks.
    check_interval_s: float | None = None

    def __init__(self, name: str, model: DayModel, clock: _SimClock, yardstick: Yardstick) -> None:
        self.name = name
        self.model = model
        self.clock = clock
        self.user_active = False  # set by the replay each tick
        self.lookups = 0
        self.hits = 0
        self.derived_hits = 0
        self.skipped = 0
        self.captures = 0
        self.jpeg_bytes_encoded = 0
        self.raw_bytes_captured = 0
        self.meter = Meter()
        self.classifier = yardstick  # the truthful yardstick, the same for all

    @property
    @abc.abstractmethod
    def own_level(self) -> str: ...

    @abc.abstractmethod
    def cache_bytes(self) -> int:
        """The cache's bytes as it accounts them (expired entries included until removed)."""

    @abc.abstractmethod
    def vision_parts(self) -> dict[str, int]:
        """What the agent holds for vision, by part: "cache", "held" (frames of results still
        being analysed that the cache does not hold, each once) and "in_flight" (the extra frames
        of this tick's captures)."""

    def vision_bytes(self) -> int:
        return sum(self.vision_parts().values())

    def hold_seconds(self, request: Request) -> float:
        if request.reason == "analysis":
            return self.model.analysis_hold_s
        return self.model.result_hold_s

    @abc.abstractmethod
    async def handle(self, request: Request, active_space: int) -> None: ...

    def end_tick(self) -> None:  # noqa: B027 - an optional hook; most configurations need none
        """Housekeeping after a tick's requests (before the footprint is measured)."""

    async def check(self, sample: Sample) -> None:  # noqa: B027 - an optional hook
        """The configuration's own pressure reading (every check interval)."""

    async def close(self) -> None:  # noqa: B027 - an optional hook
        """Ends what the configuration started (the package's engine)."""

    def result(self) -> dict[str, Any]:
        m, model = self.meter, self.model
        duration = sum(m.seconds.values()) or 1.0
        return {
            "lookups": self.lookups,
            "hits": self.hits,
            "derived_hits": self.derived_hits,
            "hit_rate": self.hits / self.lookups if self.lookups else 0.0,
            "spaces_skipped": self.skipped,
            "captures": self.captures,
            "jpeg_bytes_encoded": self.jpeg_bytes_encoded,
            "raw_bytes_captured": self.raw_bytes_captured,
            "peak_cache_bytes": m.peak_cache,
            "mean_cache_bytes": m.cache_byte_seconds / duration,
            "peak_footprint_bytes": m.peak_footprint,
            "mean_footprint_bytes": m.footprint_byte_seconds / duration,
            "agent_baseline_bytes": model.agent_baseline_bytes,
            "peak_vision_bytes": m.peak_vision,
            "mean_vision_bytes": m.vision_byte_seconds / duration,
            "peak_vision_bytes_by_part": dict(m.peak_parts),
            "mean_vision_bytes_by_part": {
                part: total / duration for part, total in m.part_byte_seconds.items()
            },
            "seconds_by_level": dict(m.seconds),
            "own_reading_seconds_by_level": dict(m.own_seconds),
            "level_changes": m.level_changes,
            "peak_cache_bytes_by_level": dict(m.peak_cache_by_level),
            "peak_vision_bytes_by_level": dict(m.peak_vision_by_level),
            "peak_cache_bytes_by_own_level": dict(m.peak_cache_by_own_level),
            "offload_triggers": m.offload_triggers,
            "offload_cost_usd": round(m.offload_triggers * model.offload_cost_usd, 2),
            "offload_ticks": list(m.offload_ticks),
        }


class _Original(_Replayer):
    """A model of the original vision layer: raw frames, every requested space, in a fixed
    `ByteCache` on the simulated clock when `caches` (as intended), or none (as written)."""

    def __init__(
        self,
        name: str,
        model: DayModel,
        clock: _SimClock,
        yardstick: Yardstick,
        *,
        caches: bool,
        blobs: _Blobs | None = None,
    ) -> None:
        super().__init__(name, model, clock, yardstick)
        self.caches = caches
        self.blobs = blobs or _Blobs()
        self.store = ByteCache(
            self.model.original_cache_mb * MIB, default_ttl=model.request_ttl_s, clock=clock
        )
        self.captured_at: dict[str, float] = {}
        # What the cache's memory holds, mirrored key -> frame, least recently used first; with
        # the results' frames it lets a frame held by both count once (the original's `put`
        # stores the very array its result returns).
        self.cached: OrderedDict[str, Frame] = OrderedDict()
        self.held: deque[tuple[float, tuple[Frame, ...]]] = deque()  # (release time, frames)
        self.transient_bytes = 0  # extra frames alive only while this tick's captures run
        self._frames = 0

    @property
    def own_level(self) -> str:
        # The agent builds its engine without a manager, so no level reaches the capture path
        # (`get_quality_for_pressure` returns the request, the cache keeps its fixed size); and
        # the original manager reads green on a Mac whatever happens (it greps `memory_pressure`
        # for words that command never prints).
        return "green"

    def cache_bytes(self) -> int:
        return self.store.bytes

    def new_frame(self, size: int) -> Frame:
        self._frames += 1
        return Frame(self._frames, size)

    def vision_parts(self) -> dict[str, int]:
        now = self.clock.now
        while self.held and self.held[0][0] <= now:
            self.held.popleft()
        in_cache = {frame.ident for frame in self.cached.values()}
        held = {f.ident: f.size for _, shot in self.held for f in shot if f.ident not in in_cache}
        transient, self.transient_bytes = self.transient_bytes, 0
        parts = {"cache": self.store.bytes, "held": sum(held.values()), "in_flight": transient}
        if self.model.original_unexplained_bytes:
            unexplained = self.model.original_unexplained_bytes if self.user_active else 0
            parts["unexplained"] = unexplained
        return parts

    def _sync_cached(self) -> None:
        """Drops from the mirror what the cache has let go. Entries leave a `ByteCache` by LRU
        eviction (oldest first), by a lookup of an expired entry, or by replacement; a mirrored
        key that is not live is gone unless it is an expired entry still held (the original
        never sweeps), so the oldest such keys go first until the counts agree."""
        excess = len(self.cached) - len(self.store)
        if excess <= 0:
            return
        live = set(self.store.keys())
        for key in [k for k in self.cached if k not in live][:excess]:
            del self.cached[key]

    def lookup(self, space_id: int, quality: CaptureQuality) -> Frame | None:
        """The cached frame when it is fresh for the request (the entry's capture time within
        the request's TTL), else None."""
        key = cache_key(space_id, quality)
        entries = len(self.store)
        found = self.store.get(key) is not None
        if not found:
            if key in self.cached and len(self.store) < entries:
                del self.cached[key]  # an expired entry, removed by this lookup
            return None
        self.cached.move_to_end(key)  # a live get is a use, for the cache as for the mirror
        captured = self.captured_at.get(key)
        if captured is None or self.clock.now - captured > self.model.request_ttl_s:
            return None
        return self.cached[key]

    def put(self, key: str, frame: Frame, captured: float) -> bool:
        stored = self.store.set(key, self.blobs(frame.size))
        if stored:
            self.captured_at[key] = captured
            self.cached[key] = frame
            self.cached.move_to_end(key)
        self._sync_cached()
        return stored

    def hold(self, frames: Sequence[Frame], seconds: float) -> None:
        """The result's frames, kept by the agent while it analyses them."""
        if frames:
            self.held.append((self.clock.now + seconds, tuple(frames)))

    async def handle(self, request: Request, active_space: int) -> None:
        requested = self.model.requested_quality
        raw = self.model.raw_frame_bytes
        frames: list[Frame] = []
        captured = 0
        for space_id in dict.fromkeys(request.space_ids):
            self.lookups += 1
            cached = self.lookup(space_id, requested)
            if cached is not None:
                self.hits += 1
                frames.append(cached)  # the result returns the cached array itself
                continue
            self.captures += 1
            captured += 1
            self.raw_bytes_captured += raw
            # The label does not change the pixels: screencapture gives native RGBA frames.
            frame = self.new_frame(raw)
            if self.caches:
                # `put` keeps the same array (no manager at the call site, so `_compress_image`
                # touches only THUMBNAIL, never requested here); a frame both cached and in the
                # result counts once. Nothing sweeps: an expired frame stays until looked up or
                # pushed out.
                self.put(cache_key(space_id, requested), frame, self.clock.now)
            frames.append(frame)
        if captured:
            copies = self.model.original_capture_copies * raw
            self.transient_bytes = max(self.transient_bytes, copies)
        self.hold(frames, self.hold_seconds(request))


class _Package(_Replayer):
    """The package itself: the real engine, cache and manager on the simulated clock, capturing
    model screens through an encoder of measured sizes."""

    def __init__(
        self,
        name: str,
        model: DayModel,
        clock: _SimClock,
        yardstick: Yardstick,
        *,
        config: MemoryConfig,
        sizes: SizeTable,
        activity_reader: ActivityReader | None = None,
    ) -> None:
        super().__init__(name, model, clock, yardstick)
        self.config = config
        self.check_interval_s = float(config.pressure_check_interval)
        self.latest: Sample | None = None
        self.manager = MacOSMemoryManager(
            config,
            read_sample=self._read_sample,
            clock=clock,
            watch_kernel_events=False,
            activity_reader=activity_reader,  # the simulated user (replay_activity), or none
        )
        self.screens = ModelScreens(model.spaces, model.screen)
        self.encoder = MeasuredEncoder(sizes)
        # The engine's own cache, but swept by the replay each simulated second (its background
        # sweep would run on the event loop's real clock).
        cache = MultiSpaceCaptureCache(
            config=config, clock=clock, encoder=self.encoder, sweep_interval=None
        )
        self.engine = MultiSpaceCaptureEngine(
            memory_manager=self.manager, backend=self.screens, config=config, cache=cache
        )
        # Results the agent still analyses: (release time, their screenshots).
        self.held: deque[tuple[float, tuple[JpegScreenshot, ...]]] = deque()

    def _read_sample(self) -> Sample:
        assert self.latest is not None, "the replay sets a sample before every check"
        return self.latest

    @property
    def own_level(self) -> str:
        return self.manager.current_pressure.level_name

    def cache_bytes(self) -> int:
        return self.engine.cache.size_bytes

    def vision_parts(self) -> dict[str, int]:
        now = self.clock.now
        while self.held and self.held[0][0] <= now:
            self.held.popleft()
        # A result's screenshots are copies of the cache's bytes (or a capture the cache did not
        # keep): each distinct object counts, once.
        held = {id(shot): len(shot) for _, shots in self.held for shot in shots}
        in_flight = self.screens.take_peak() * self.model.raw_frame_bytes
        return {"cache": self.cache_bytes(), "held": sum(held.values()), "in_flight": in_flight}

    async def handle(self, request: Request, active_space: int) -> None:
        self.screens.active = active_space
        result = await self.engine.capture_all_spaces(
            SpaceCaptureRequest(
                space_ids=list(request.space_ids),
                quality=self.model.requested_quality,
                cache_ttl=self.model.request_ttl_s,  # type: ignore[arg-type]
                reason=request.reason,
            )
        )
        if result.errors:
            raise RuntimeError(f"the engine failed in the replay: {result.errors}")
        self.skipped += len(result.skipped)
        if result.screenshots:
            shots = tuple(result.screenshots.values())
            self.held.append((self.clock.now + self.hold_seconds(request), shots))

    def end_tick(self) -> None:
        self.engine.cache.expire()  # the cache's sweep, every simulated second

    async def check(self, sample: Sample) -> None:
        self.latest = sample
        await self.manager.check_pressure()

    async def close(self) -> None:
        await self.engine.close()

    def result(self) -> dict[str, Any]:
        cache = self.engine.cache
        self.lookups = cache.hit_count + cache.miss_count
        self.hits = cache.hit_count
        self.derived_hits = cache.derived_hits
        self.captures = self.engine.captures_made
        self.jpeg_bytes_encoded = self.encoder.bytes_encoded
        result = super().result()
        result["budget_changes"] = cache.budget_changes
        result["manager_checks"] = self.manager.checks
        return result


class _NoVision(_Replayer):
    """A vision layer that holds nothing and asks for nothing: the reference for how many of a
    configuration's red episodes its vision memory causes."""

    @property
    def own_level(self) -> str:
        return "unknown"  # it reads nothing

    def cache_bytes(self) -> int:
        return 0

    def vision_parts(self) -> dict[str, int]:
        return {"cache": 0, "held": 0, "in_flight": 0}

    async def handle(self, request: Request, active_space: int) -> None:
        pass


def measure_model_sizes(model: DayModel, config: MemoryConfig) -> SizeTable:
    """The real encoder's JPEG sizes for the model's spaces and screen (`replay_engine`)."""
    return measure_jpeg_sizes(model.spaces, model.screen, config, model.jpeg_size_factor)


# --- the run ----------------------------------------------------------------------------------


def _sample(model: DayModel, other: int, footprint: int) -> Sample:
    used = min(model.total_bytes, other + footprint)
    return Sample.from_values(
        total=model.total_bytes,
        available=model.total_bytes - used,
        used=used,
        sources=["meminfo"],
    )


class MachineModel(Protocol):
    """The machine the bytes live on: it turns a tick's memory into the sample that every
    reader of that configuration sees (the yardstick and the package's manager alike)."""

    async def sample(self, tick: int, other: int, footprint: int, now: float, dt: float) -> Sample:
        """The sample of tick `tick`, with `other` + `footprint` bytes asked for."""
        ...

    def figures(self) -> dict[str, Any]:
        """What the machine measured over the run (added to the result as "machine")."""
        ...


MachineFactory = Callable[[], MachineModel]


class _PlainMachine:
    """The default machine: used = other + footprint on a machine of `total_bytes`."""

    def __init__(self, model: DayModel) -> None:
        self.model = model

    async def sample(self, tick: int, other: int, footprint: int, now: float, dt: float) -> Sample:
        return _sample(self.model, other, footprint)

    def figures(self) -> dict[str, Any]:
        return {}


async def _replay(
    trace: Trace,
    replayer: _Replayer,
    progress: Callable[[str], None] | None,
    machine: MachineModel | None = None,
) -> dict[str, Any]:
    model = trace.model
    machine = machine or _PlainMachine(model)
    clock = replayer.clock
    dt = float(model.tick_s)
    interval = replayer.check_interval_s
    check_every = None if interval is None else max(1, round(interval / dt))
    previous_level = "unknown"
    for t in range(model.ticks):
        clock.now = t * dt
        replayer.user_active = trace.active[t]
        for request in trace.requests.get(t, ()):
            await replayer.handle(request, trace.space[t])
        replayer.end_tick()
        parts = replayer.vision_parts()
        replayer.meter.record_parts(dt, parts)
        vision = sum(parts.values())
        footprint = model.agent_baseline_bytes + vision
        sample = await machine.sample(t, trace.other_bytes[t], footprint, clock.now, dt)
        level = replayer.classifier.update(sample, clock.now).level
        if level != previous_level and previous_level != "unknown":
            replayer.meter.level_changes += 1
        previous_level = level
        if check_every is not None and t % check_every == 0:
            await replayer.check(sample)
        cache = replayer.cache_bytes()
        baseline = model.agent_baseline_bytes
        replayer.meter.record(dt, level, replayer.own_level, cache, vision, baseline)
        offload_step(replayer.meter, t, level, dt, model.offload_hold_s)
        if progress is not None and t and t % (6 * HOUR) == 0:
            progress(f"  {replayer.name}: {t * dt / HOUR:.0f} h simulated")
    await replayer.close()
    result = replayer.result()
    if measured := machine.figures():
        result["machine"] = measured
    return result


@dataclass
class ReplayResult:
    model: DayModel
    trace_summary: dict[str, Any]
    configurations: dict[str, dict[str, Any]]
    sizes: dict[str, int]
    wall_seconds: float

    @property
    def no_vision_offloads(self) -> int:
        """Offload triggers of the same trace with no vision bytes at all."""
        return int(self.trace_summary["without_vision"]["offload_triggers"])

    def to_dict(self) -> dict[str, Any]:
        model = dataclasses.asdict(self.model)
        model["requested_quality"] = self.model.requested_quality.value
        return {
            "model": model,
            "trace": self.trace_summary,
            "jpeg_sizes": self.sizes,
            "configurations": self.configurations,
            "targets": check_targets(self.configurations, self.no_vision_offloads),
            "wall_seconds": round(self.wall_seconds, 2),
        }


def offloads_without_vision(
    trace: Trace,
    thresholds: Thresholds | None = None,
    yardstick: YardstickFactory | None = None,
    machine: MachineFactory | None = None,
) -> dict[str, Any]:
    """The truthful yardstick over the trace with no vision bytes at all (the agent's baseline
    and the other applications only), replayed like any configuration: the offload triggers of
    a vision layer that holds nothing."""
    make = yardstick or _classifier_of(thresholds or Thresholds())
    replayer = _NoVision("no vision bytes", trace.model, _SimClock(), make())
    figures = asyncio.run(_replay(trace, replayer, None, machine and machine()))
    keys = ("offload_triggers", "offload_ticks", "seconds_by_level", "machine")
    return {key: figures[key] for key in keys if key in figures}


YardstickFactory = Callable[[], Yardstick]


def _classifier_of(thresholds: Thresholds) -> YardstickFactory:
    return lambda: Classifier(thresholds)


def summarise_trace(
    trace: Trace,
    thresholds: Thresholds | None = None,
    yardstick: YardstickFactory | None = None,
    machine: MachineFactory | None = None,
) -> dict[str, Any]:
    model = trace.model
    without_vision = [o + model.agent_baseline_bytes for o in trace.other_bytes]
    return {
        "without_vision": offloads_without_vision(trace, thresholds, yardstick, machine),
        "ticks": model.ticks,
        "active_seconds": sum(trace.active) * model.tick_s,
        "requests": trace.request_counts(),
        "spaces_visited": sorted(set(trace.space)),
        "bursts": len(trace.bursts),
        "peak_other_bytes": max(trace.other_bytes),
        "mean_other_bytes": sum(trace.other_bytes) / len(trace.other_bytes),
        "peak_used_without_vision_bytes": max(without_vision),
    }


def run_day(
    model: DayModel | None = None,
    config: MemoryConfig | None = None,
    *,
    configurations: Sequence[str] = CONFIGURATIONS,
    sizes: SizeTable | None = None,
    progress: Callable[[str], None] | None = None,
    trace: Trace | None = None,
    yardstick: YardstickFactory | None = None,
    machine: MachineFactory | None = None,
) -> ReplayResult:
    """Builds the trace (or replays `trace`) for each configuration; deterministic for a seed.
    `yardstick` makes the truthful judge of each run (default: a `Classifier` with the config's
    thresholds); `machine` makes the machine each run's bytes live on (default: used = other +
    footprint; `offload_rules.MacMachine`: the macOS memory model)."""
    model = model or DayModel()
    # The package's defaults, without the environment, so that a run is reproducible anywhere.
    config = config or MemoryConfig(env={})
    started = time.perf_counter()
    trace = trace or build_trace(model)
    if sizes is None:
        sizes = measure_model_sizes(model, config)
    blobs = _Blobs()
    # One truthful yardstick for every configuration: the package's thresholds by default.
    thresholds = Thresholds(**config.thresholds)
    make_yardstick = yardstick or _classifier_of(thresholds)
    results: dict[str, dict[str, Any]] = {}
    for name in configurations:
        clock = _SimClock()
        replayer: _Replayer
        if name == PACKAGE:
            replayer = _Package(name, model, clock, make_yardstick(), config=config, sizes=sizes)
        elif name in (ORIGINAL, ORIGINAL_AS_WRITTEN):
            replayer = _Original(
                name, model, clock, make_yardstick(), caches=name == ORIGINAL, blobs=blobs
            )
        else:
            raise ValueError(f"unknown configuration {name!r}; known: {', '.join(CONFIGURATIONS)}")
        results[name] = asyncio.run(_replay(trace, replayer, progress, machine and machine()))
    size_table = {
        f"space{s}/{q.value}/q{jq}": size for (s, q, jq), size in sorted(sizes.items(), key=str)
    }
    return ReplayResult(
        model,
        summarise_trace(trace, thresholds, make_yardstick, machine),
        results,
        size_table,
        time.perf_counter() - started,
    )


# --- targets and the table --------------------------------------------------------------------


def reduction(before: int, after: int) -> float | None:
    """The share of `before` that `after` cuts; None when there was nothing to cut."""
    return None if before == 0 else (before - after) / before


def check_targets(
    configurations: dict[str, dict[str, Any]], no_vision_offloads: int | None = None
) -> dict[str, Any]:
    """The design document's targets for the package, checked honestly (met / not met). With
    `no_vision_offloads` (the trace's triggers with no vision bytes at all), each offload check
    also says the reduction a layer holding nothing would reach on this trace."""
    package = configurations.get(PACKAGE)
    if package is None:
        return {}
    checks: dict[str, Any] = {}
    for level, limit_mb in TARGET_PEAK_CACHE_MB.items():
        peak = package["peak_cache_bytes_by_level"][level]
        seen = package["seconds_by_level"][level] > 0
        checks[f"peak_cache_{level}"] = {
            "target_mb": limit_mb,
            "measured_mb": round(peak / MIB, 2),
            "level_seen": seen,
            "met": peak <= limit_mb * MIB,
        }
    looked_up = package["lookups"] > 0
    checks["hit_rate"] = {
        "target": TARGET_HIT_RATE,
        "measured": round(package["hit_rate"], 4),
        "met": package["hit_rate"] >= TARGET_HIT_RATE if looked_up else None,
    }
    for baseline in (ORIGINAL, ORIGINAL_AS_WRITTEN):
        if baseline not in configurations:
            continue
        before = configurations[baseline]["offload_triggers"]
        cut = reduction(before, package["offload_triggers"])
        check: dict[str, Any] = {
            "target": TARGET_OFFLOAD_REDUCTION,
            "before": before,
            "after": package["offload_triggers"],
            "measured": None if cut is None else round(cut, 4),
            "met": None if cut is None else cut >= TARGET_OFFLOAD_REDUCTION,
        }
        if no_vision_offloads is not None:
            # What a layer holding nothing at all would reach. Holding memory only adds red time;
            # the one way to count fewer triggers than this is to merge two red episodes by
            # keeping the machine red between them.
            nothing = reduction(before, no_vision_offloads)
            check["without_vision"] = no_vision_offloads
            check["reduction_without_vision"] = None if nothing is None else round(nothing, 4)
        checks[f"offload_reduction_vs_{baseline}"] = check
    return checks


def _mb(value: float) -> str:
    return f"{value / MIB:,.1f} MB"


def _ratio(value: float, base: float) -> str:
    if base == 0:
        return "—" if value == 0 else "∞"
    return f"{value / base:.2f}x"


def format_table(result: ReplayResult) -> str:
    """The side-by-side table (Markdown), with the package's ratio to each original."""
    configs = result.configurations
    names = [n for n in CONFIGURATIONS if n in configs]
    rows: list[tuple[str, Callable[[dict[str, Any]], float], Callable[[float], str]]] = [
        ("cache hit rate", lambda r: r["hit_rate"], lambda v: f"{100 * v:.1f} %"),
        ("lookups", lambda r: r["lookups"], lambda v: f"{v:,.0f}"),
        ("hits derived from a higher tier", lambda r: r["derived_hits"], lambda v: f"{v:,.0f}"),
        ("spaces skipped (not watched)", lambda r: r["spaces_skipped"], lambda v: f"{v:,.0f}"),
        ("captures made", lambda r: r["captures"], lambda v: f"{v:,.0f}"),
        ("JPEG bytes encoded", lambda r: r["jpeg_bytes_encoded"], _mb),
        ("raw frame bytes captured", lambda r: r["raw_bytes_captured"], _mb),
        ("peak cache", lambda r: r["peak_cache_bytes"], _mb),
        ("mean cache", lambda r: r["mean_cache_bytes"], _mb),
        ("peak vision bytes", lambda r: r["peak_vision_bytes"], _mb),
        ("mean vision bytes", lambda r: r["mean_vision_bytes"], _mb),
        ("peak held results not in the cache", _part("peak", "held"), _mb),
        ("mean held results not in the cache", _part("mean", "held"), _mb),
        ("peak in-flight copies", _part("peak", "in_flight"), _mb),
        ("peak footprint", lambda r: r["peak_footprint_bytes"], _mb),
        ("mean footprint", lambda r: r["mean_footprint_bytes"], _mb),
    ]
    if result.model.original_unexplained_bytes:
        rows.append(("peak unexplained (a sensitivity)", _part("peak", "unexplained"), _mb))
    for level in ("green", "yellow", "red"):
        rows.append(
            (f"time in {level} (truthful)", _level_hours(level), _hours),
        )
    for level in ("green", "yellow", "red"):
        rows.append(
            (f"peak cache in {level}", _peak_by_level(level, "cache"), _mb),
        )
    for level in ("green", "yellow", "red"):
        rows.append(
            (f"peak vision bytes in {level}", _peak_by_level(level, "vision"), _mb),
        )
    rows += [
        ("level changes (truthful)", lambda r: r["level_changes"], lambda v: f"{v:,.0f}"),
        ("offload triggers (red ≥ 30 s)", lambda r: r["offload_triggers"], lambda v: f"{v:,.0f}"),
        ("offload cost", lambda r: r["offload_cost_usd"], lambda v: f"${v:.2f}"),
    ]
    baselines = [n for n in (ORIGINAL, ORIGINAL_AS_WRITTEN) if n in configs and PACKAGE in configs]
    header = ["", *names, *(f"package / {b}" for b in baselines)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, get, fmt in rows:
        cells = [label, *(fmt(get(configs[n])) for n in names)]
        cells += [_ratio(get(configs[PACKAGE]), get(configs[b])) for b in baselines]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _part(kind: str, part: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: float(r[f"{kind}_vision_bytes_by_part"].get(part, 0))


def _hours(value: float) -> str:
    return f"{value:.2f} h"


def _level_hours(level: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: float(r["seconds_by_level"][level]) / HOUR


def _peak_by_level(level: str, kind: str) -> Callable[[dict[str, Any]], float]:
    return lambda r: float(r[f"peak_{kind}_bytes_by_level"][level])


def format_targets(result: ReplayResult) -> str:
    lines = []
    for name, check in check_targets(result.configurations, result.no_vision_offloads).items():
        met = check["met"]
        why = "no lookups" if name == "hit_rate" else "no baseline triggers"
        verdict = f"n/a ({why})" if met is None else ("met" if met else "NOT met")
        if name.startswith("peak_cache_"):
            seen = "" if check["level_seen"] else " (level never reached)"
            detail = f"{check['measured_mb']} MB <= {check['target_mb']} MB{seen}"
        elif name == "hit_rate":
            detail = f"{100 * check['measured']:.1f} % >= {100 * check['target']:.0f} %"
        else:
            measured = check["measured"]
            shown = "n/a" if measured is None else f"{100 * measured:.0f} %"
            nothing = check["reduction_without_vision"]
            bound = "n/a" if nothing is None else f"{100 * nothing:.0f} %"
            detail = (
                f"{check['before']} -> {check['after']} triggers: {shown} down "
                f"(target >= {100 * check['target']:.0f} %; a layer holding no vision bytes at "
                f"all: {check['without_vision']} triggers, {bound} down)"
            )
        lines.append(f"- {name}: {detail}: {verdict}")
    return "\n".join(lines)


def format_report(result: ReplayResult) -> str:
    model, trace = result.model, result.trace_summary
    requests = trace["requests"]
    head = (
        f"Simulated {model.hours:g} h (seed {model.seed}), {model.spaces} spaces at "
        f"{model.screen[0]}x{model.screen[1]}, {model.total_bytes / GIB:g} GB machine; "
        f"user active {trace['active_seconds'] / HOUR:.1f} h, {requests['switch']} switches, "
        f"{requests['focus']} focus looks, {requests['analysis']} multi-space analyses, "
        f"{trace['bursts']} memory bursts; replayed in {result.wall_seconds:.1f} s."
    )
    return "\n\n".join([head, format_table(result), "Targets (package):", format_targets(result)])


# --- command line -----------------------------------------------------------------------------


def finite_float(text: str) -> float:
    """An argparse type: a float that is a real number (not nan or inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


SET_HELP = (
    "change any DayModel field (names: docs/replay.md), e.g. burst_bytes=1GB,2.5GB; "
    "byte fields take KB/MB/GB (binary; none: bytes), tuples are comma-separated, tuples of "
    "pairs use ';' between pairs (active_periods=8.5,12.5;13.5,18.5); repeatable, applied last"
)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that shape the day's model (benches/replay_day.py's command line)."""
    defaults = DayModel()
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--agent-baseline-mb",
        type=finite_float,
        default=defaults.agent_baseline_bytes / MIB,
        help="the agent's memory without vision, MB (an assumption; default %(default)g)",
    )
    parser.add_argument(
        "--original-unexplained-mb",
        type=finite_float,
        default=defaults.original_unexplained_bytes / MIB,
        help="vision memory the original holds while the user is active beyond what its code "
        "explains, MiB (a sensitivity: 925 puts its peak at 1,142 MiB, the reported ~1.2 GB; "
        "default %(default)g)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=SET_HELP,
    )


def model_from_args(args: argparse.Namespace, **fields: Any) -> DayModel:
    """The model from `add_model_arguments`' options (and `fields`), --set applied last.
    Raises ValueError naming every bad value."""
    model = DayModel(
        seed=args.seed,
        agent_baseline_bytes=round(args.agent_baseline_mb * MIB),
        original_unexplained_bytes=round(args.original_unexplained_mb * MIB),
        **fields,
    )
    return override_model(model, args.set)


def write_json(path: str, data: object) -> None:
    """A bench's full figures as indented JSON (the `--json FILE` of the replay benches)."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
