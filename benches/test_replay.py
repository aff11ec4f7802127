"""The replay on a short trace: deterministic, one trace for all, budgets, offload episodes.

A simulated hour at a small screen size, with bursts frequent and large enough to visit yellow
and red; the package configuration is the real engine. No timing assertions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
from typing import Any

import pytest

from ironcliw_mem.capture.cache import cache_key
from ironcliw_mem.config import MemoryConfig
from ironcliw_mem.levels import CaptureQuality, MemoryPressure
from ironcliw_mem.policy import policy_for
from ironcliw_mem.pressure import Classifier, Thresholds
from macos_memory_model import (
    CRITICAL,
    NORMAL,
    WARN,
    MacMemory,
    MacModel,
    healthy_plateau,
    next_kernel_level,
    psutil_percent,
)
from offload_rules import LegacyOffloadRule, MacMachine, replay_demands
from offload_study import SENSITIVITY, format_rules, mac_days, sensitivity
from replay_day import main
from replay_model import (
    GIB,
    MIB,
    ORIGINAL,
    ORIGINAL_AS_WRITTEN,
    PACKAGE,
    DayModel,
    Meter,
    ReplayResult,
    Trace,
    build_trace,
    check_targets,
    format_report,
    offload_step,
    offloads_without_vision,
    override_model,
    run_day,
)

HOUR_MODEL = DayModel(
    hours=1,
    screen=(288, 180),
    active_periods=((0.0, 1.0),),
    apps_idle_bytes=int(5.5 * GIB),
    bursts_per_hour=6,
    burst_bytes=(3.0 * GIB, 5.0 * GIB),
    burst_plateau_s=(60.0, 300.0),
    analyses_per_hour=30,
)


@pytest.fixture(scope="module")
def hour() -> ReplayResult:
    return run_day(HOUR_MODEL)


def _figures(result: ReplayResult) -> dict[str, Any]:
    data = result.to_dict()
    data.pop("wall_seconds")
    return data


def test_same_seed_same_numbers(hour: ReplayResult) -> None:
    again = run_day(HOUR_MODEL)
    assert _figures(again) == _figures(hour)


def test_another_seed_another_day(hour: ReplayResult) -> None:
    other = build_trace(dataclasses.replace(HOUR_MODEL, seed=HOUR_MODEL.seed + 1))
    assert other.space != build_trace(HOUR_MODEL).space


def test_the_short_trace_visits_every_level(hour: ReplayResult) -> None:
    for figures in hour.configurations.values():
        seconds = figures["seconds_by_level"]
        assert seconds["green"] > 0
        assert seconds["yellow"] > 0
        assert seconds["red"] > 0
        assert sum(seconds.values()) == HOUR_MODEL.ticks * HOUR_MODEL.tick_s


def test_every_configuration_replays_the_same_requests(hour: ReplayResult) -> None:
    trace = build_trace(HOUR_MODEL)
    asked = sum(len(r.space_ids) for reqs in trace.requests.values() for r in reqs)
    configs = hour.configurations
    # The originals look up every requested space; the package looks up or skips each one.
    assert configs[ORIGINAL]["lookups"] == asked
    assert configs[ORIGINAL_AS_WRITTEN]["lookups"] == asked
    assert configs[PACKAGE]["lookups"] + configs[PACKAGE]["spaces_skipped"] == asked
    assert hour.trace_summary["requests"] == trace.request_counts()


def test_the_original_as_written_never_hits(hour: ReplayResult) -> None:
    figures = hour.configurations[ORIGINAL_AS_WRITTEN]
    assert figures["hits"] == 0
    assert figures["captures"] == figures["lookups"]
    assert figures["peak_cache_bytes"] == 0
    assert figures["raw_bytes_captured"] == figures["captures"] * 288 * 180 * 4


def test_the_original_cache_is_fixed_at_200_mb(hour: ReplayResult) -> None:
    figures = hour.configurations[ORIGINAL]
    assert 0 < figures["peak_cache_bytes"] <= 200 * MIB
    assert figures["hits"] > 0


def test_package_stays_within_the_budget_of_its_level() -> None:
    # Budgets small enough (and JPEGs large enough) that they bind at every level.
    config = MemoryConfig(env={}, cache_size_green=4, cache_size_yellow=2, cache_size_red=1)
    model = dataclasses.replace(HOUR_MODEL, jpeg_size_factor=100.0)
    figures = run_day(model, config, configurations=[PACKAGE]).configurations[PACKAGE]
    for level in (MemoryPressure.GREEN, MemoryPressure.YELLOW, MemoryPressure.RED):
        peak = figures["peak_cache_bytes_by_own_level"][level.level_name]
        assert peak <= policy_for(config, level).cache_budget_bytes
    # The green budget really was the limit (else this test would prove nothing).
    assert figures["peak_cache_bytes_by_own_level"]["green"] > 2 * MIB


def test_package_defaults_meet_the_per_level_targets(hour: ReplayResult) -> None:
    targets = check_targets(hour.configurations)
    for level in ("green", "yellow", "red"):
        assert targets[f"peak_cache_{level}"]["met"], targets[f"peak_cache_{level}"]


def _run_levels(levels: list[str]) -> Meter:
    meter = Meter()
    for tick, level in enumerate(levels):
        offload_step(meter, tick, level, 1.0, 30)
    return meter


def test_offload_triggers_once_per_red_episode() -> None:
    meter = _run_levels(["red"] * 100 + ["yellow"] * 5 + ["red"] * 29 + ["green"] + ["red"] * 30)
    # 100 s of red: one trigger, not seventy; 29 s: none; 30 s: one.
    assert meter.offload_triggers == 2
    assert meter.offload_ticks == [29, 164]


def test_offload_needs_red_held_continuously() -> None:
    assert _run_levels(["red"] * 20 + ["yellow"] + ["red"] * 20).offload_triggers == 0


def test_the_hour_counts_offloads_per_episode(hour: ReplayResult) -> None:
    for figures in hour.configurations.values():
        ticks = figures["offload_ticks"]
        assert len(ticks) == figures["offload_triggers"]
        # Two triggers of one configuration are at least an episode apart.
        assert all(b - a >= HOUR_MODEL.offload_hold_s for a, b in itertools.pairwise(ticks))
        assert figures["offload_cost_usd"] == pytest.approx(0.04 * len(ticks))


def test_the_original_stores_under_the_requested_tier_through_red() -> None:
    from replay_model import _replay

    # The agent's engine has no manager: however red the machine gets, neither the tier it
    # stores under nor the cache's size changes.
    trace = build_trace(HOUR_MODEL)
    replayer = _original(True, HOUR_MODEL)
    asyncio.run(_replay(trace, replayer, None))
    assert replayer.meter.seconds["red"] > 0
    stored = set(replayer.captured_at)  # every key it ever stored under
    asked = {space for reqs in trace.requests.values() for r in reqs for space in r.space_ids}
    assert stored == {cache_key(space, CaptureQuality.OPTIMIZED) for space in asked}
    assert replayer.store.max_bytes == HOUR_MODEL.original_cache_mb * MIB


def _trace_of(model: DayModel, used_fractions: list[float]) -> Trace:
    """A trace of other memory only (no requests), used fractions of the machine per tick."""
    total = model.total_bytes
    other = [round(total * f) - model.agent_baseline_bytes for f in used_fractions]
    ticks = len(used_fractions)
    return Trace(model, [False] * ticks, [1] * ticks, other, {}, [])


def test_offloads_without_vision_come_from_the_other_memory_alone() -> None:
    model = dataclasses.replace(HOUR_MODEL, hours=200 / 3600)
    # 40 s with 5 % free, 120 s calm, 10 s with 5 % free, 30 s calm. Red outlasts each stretch
    # by the 10 s dwell before stepping down: 50 s (one trigger), then 20 s (too short).
    fractions = [0.95] * 40 + [0.3] * 120 + [0.95] * 10 + [0.3] * 30
    figures = offloads_without_vision(_trace_of(model, fractions))
    assert figures["offload_triggers"] == 1
    assert figures["offload_ticks"] == [model.offload_hold_s - 1]
    assert figures["seconds_by_level"]["red"] == 70


def test_no_configuration_spends_less_time_in_red_than_no_vision_at_all(
    hour: ReplayResult,
) -> None:
    without = hour.trace_summary["without_vision"]
    for figures in hour.configurations.values():
        assert figures["seconds_by_level"]["red"] >= without["seconds_by_level"]["red"]
    assert "a layer holding no vision bytes at all" in format_report(hour)


def test_the_no_vision_reference_uses_the_configurations_thresholds() -> None:
    # Red only at 5 % headroom: fewer red seconds than with the default 15 %, for the
    # configurations and for the reference alike (one yardstick for all).
    strict = MemoryConfig(env={}, thresholds={"red_headroom_enter": 5.0, "red_headroom_exit": 8.0})
    default = run_day(HOUR_MODEL, configurations=[PACKAGE])
    result = run_day(HOUR_MODEL, strict, configurations=[PACKAGE])
    reference = result.trace_summary["without_vision"]["seconds_by_level"]["red"]
    assert reference < default.trace_summary["without_vision"]["seconds_by_level"]["red"]
    package = result.configurations[PACKAGE]["seconds_by_level"]["red"]
    assert reference <= package < default.configurations[PACKAGE]["seconds_by_level"]["red"]


def test_unexplained_original_memory_is_held_only_while_the_user_is_active() -> None:
    model = dataclasses.replace(
        HOUR_MODEL, active_periods=((0.0, 0.5),), original_unexplained_bytes=300 * MIB
    )
    result = run_day(model)
    for name in (ORIGINAL, ORIGINAL_AS_WRITTEN):
        figures = result.configurations[name]
        assert figures["peak_vision_bytes_by_part"]["unexplained"] == 300 * MIB
        # Active for half of the hour: held for exactly that half.
        mean = figures["mean_vision_bytes_by_part"]["unexplained"]
        assert mean == pytest.approx(150 * MIB)
    # A sensitivity of the originals only: the package holds nothing of it.
    assert "unexplained" not in result.configurations[PACKAGE]["peak_vision_bytes_by_part"]


def test_report_and_cli(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "replay.json"
    argv = ["--hours", "0.25", "--screen", "160x100", "--original-unexplained-mb", "64"]
    assert main([*argv, "--quiet", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| cache hit rate |" in printed
    assert "| peak unexplained (a sensitivity) |" in printed
    assert json.loads(out.read_text())["model"]["original_unexplained_bytes"] == 64 * MIB
    assert "offload triggers" in printed
    assert out.exists()
    # Both offload rules on the macOS memory model, for both vision layers.
    for layer in (ORIGINAL, PACKAGE):
        assert f"| {layer} | legacy rule, re-armed on its return rule (base) |" in printed
        assert f"| {layer} | OffloadAdvisor (kernel level, red 30 s) |" in printed
    assert "Headline, legacy re-armed 'return'" in printed


def test_report_mentions_every_configuration(hour: ReplayResult) -> None:
    report = format_report(hour)
    for name in (ORIGINAL_AS_WRITTEN, ORIGINAL, PACKAGE):
        assert name in report


# --- the vision footprint by part -----------------------------------------------------------


def _original(caches: bool, model: DayModel) -> Any:
    from replay_model import _Original, _SimClock

    name = ORIGINAL if caches else ORIGINAL_AS_WRITTEN
    return _Original(name, model, _SimClock(), Classifier(Thresholds()), caches=caches)


async def test_the_original_holds_every_frame_of_an_analysis_once() -> None:
    from replay_model import Request

    model = DayModel()  # 2880x1800 RGBA: 20.7 MB a frame, nine fit in the 200 MB cache
    raw = model.raw_frame_bytes
    everything = tuple(range(1, model.spaces + 1))
    written = _original(False, model)
    await written.handle(Request(0, everything, "analysis"), 1)
    parts = written.vision_parts()
    # As written nothing is cached: the caller holds the nine frames, plus one capture's copy.
    assert parts == {"cache": 0, "held": 9 * raw, "in_flight": model.original_capture_copies * raw}
    intended = _original(True, model)
    await intended.handle(Request(0, everything, "analysis"), 1)
    parts = intended.vision_parts()
    # `put` stores the result's own arrays: the held frames are the cached ones, counted once.
    assert parts["held"] == 0
    assert 9 * raw <= parts["cache"] <= model.original_cache_mb * MIB
    # Dropped by the caller after its analysis; the cache's copies stay.
    intended.clock.now = written.clock.now = model.analysis_hold_s
    assert written.vision_parts()["held"] == 0
    assert intended.vision_parts()["cache"] == parts["cache"]


async def test_the_original_counts_frames_pushed_out_of_its_cache_but_still_held() -> None:
    from replay_model import Request

    model = DayModel(original_cache_mb=50)  # room for two raw frames
    raw = model.raw_frame_bytes
    replayer = _original(True, model)
    await replayer.handle(Request(0, tuple(range(1, model.spaces + 1)), "analysis"), 1)
    parts = replayer.vision_parts()
    assert len(replayer.store) == 2
    assert parts["held"] == (model.spaces - 2) * raw  # the other seven live in the result only


async def test_the_original_never_sweeps_expired_frames() -> None:
    from replay_model import Request

    model = DayModel()
    replayer = _original(True, model)
    await replayer.handle(Request(0, (1, 2, 3), "analysis"), 1)
    cached = replayer.vision_parts()["cache"]
    replayer.clock.now = 10 * model.request_ttl_s  # long expired, never looked up again
    replayer.end_tick()
    assert replayer.vision_parts() == {"cache": cached, "held": 0, "in_flight": 0}
    # A lookup of an expired entry removes it (and misses), as the original's `get` does.
    await replayer.handle(Request(300, (1,), "focus"), 1)
    assert replayer.captures == 4
    assert replayer.vision_parts()["cache"] == cached  # space 1 replaced by its new frame


def test_the_package_holds_no_more_than_its_budget_and_encoders(hour: ReplayResult) -> None:
    config = MemoryConfig(env={})
    package = hour.configurations[PACKAGE]
    peaks = package["peak_vision_bytes_by_part"]
    green_budget = policy_for(config, MemoryPressure.GREEN).cache_budget_bytes
    # The agent's call site captures one space at a time (parallel=False): one raw frame.
    encoders = HOUR_MODEL.raw_frame_bytes
    assert peaks["cache"] <= green_budget
    assert peaks["in_flight"] == encoders
    # Its results are JPEGs (copies of the cached bytes): below one raw frame.
    assert peaks["held"] < HOUR_MODEL.raw_frame_bytes
    assert package["peak_vision_bytes"] <= green_budget + encoders + peaks["held"]
    for level, budget_level in (("yellow", MemoryPressure.YELLOW), ("red", MemoryPressure.RED)):
        budget = policy_for(config, budget_level).cache_budget_bytes
        assert package["peak_cache_bytes_by_own_level"][level] <= budget


def test_the_vision_parts_add_up_to_the_footprint(hour: ReplayResult) -> None:
    for figures in hour.configurations.values():
        assert set(figures["peak_vision_bytes_by_part"]) == {"cache", "held", "in_flight"}
        assert figures["peak_vision_bytes"] <= sum(figures["peak_vision_bytes_by_part"].values())
        assert figures["peak_footprint_bytes"] == (
            figures["agent_baseline_bytes"] + figures["peak_vision_bytes"]
        )


# --- changing the model from the command line -------------------------------------------------


def test_override_parses_each_field_like_its_default() -> None:
    model = override_model(
        DayModel(),
        [
            "burst_bytes=1GB, 2.5GB",
            "active_periods=8,12;13.5,18",
            "favourites=1,2,3,4",
            "requested_quality=FAST",
            "hours=2",
            "agent_baseline_bytes=512MB",
            "seed=7",
        ],
    )
    assert model.burst_bytes == (1.0 * GIB, 2.5 * GIB)
    assert model.active_periods == ((8.0, 12.0), (13.5, 18.0))
    assert model.favourites == (1, 2, 3, 4)
    assert model.requested_quality is CaptureQuality.FAST
    assert (model.hours, model.agent_baseline_bytes, model.seed) == (2.0, 512 * MIB, 7)
    assert isinstance(model.agent_baseline_bytes, int)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("colour=blue", "'colour=blue': expected NAME=VALUE with NAME one of seed, hours"),
        ("hours", "'hours': expected NAME=VALUE"),
        ("hours=soon", "hours: 'soon' is not a number"),
        ("burst_bytes=1XB,2GB", "burst_bytes: '1XB' is not a number, with a KB/MB/GB suffix"),
        ("spaces=2.5", "spaces: '2.5' must be a whole number"),
        ("screen=100,200,300", "screen: expected 2 comma-separated numbers per item"),
        ("requested_quality=best", "'best' is not one of full, optimized, fast, thumbnail"),
        ("spaces=0", "spaces must be > 0, got 0"),
        ("hours=0.0001", "hours=0.0001 is shorter than one tick of 1 s"),
        ("hours=inf", "hours: 'inf' is not a finite number"),
        ("jpeg_size_factor=nan", "jpeg_size_factor: 'nan' is not a finite number"),
        ("mean_dwell_s=0", "mean_dwell_s must be > 0"),
        ("apps_time_constant_s=0", "apps_time_constant_s must be > 0"),
        ("offload_hold_s=0", "offload_hold_s must be > 0"),
        ("original_unexplained_bytes=-500MB", "original_unexplained_bytes must be >= 0"),
        ("original_cache_mb=-1", "original_cache_mb must be >= 0"),
        ("burst_bytes=3GB,1GB", "burst_bytes is a (low, high) range"),
        ("neighbour_share=1.5", "neighbour_share must be between 0 and 1"),
        ("favourites=0,99", "favourites must be spaces 1..9, got (0, 99)"),
        ("active_periods=20,25", "active_periods must be (start, end) hours"),
        ("burst_bytes=1GB,,2GB", "burst_bytes: an empty number"),
        ("screen=", "screen: an empty number"),
    ],
)
def test_override_names_what_is_wrong(assignment: str, message: str) -> None:
    with pytest.raises(ValueError, match="^.*" + re.escape(message)):
        override_model(DayModel(), [assignment])


def test_override_keeps_whole_numbers_exact_and_rounds_sizes() -> None:
    model = override_model(
        DayModel(),
        [
            "seed=12345678901234567891",
            "agent_baseline_bytes=1.2GB",
            "active_periods=",
            "favourites=",
        ],
    )
    assert model.seed == 12345678901234567891
    assert model.agent_baseline_bytes == round(1.2 * GIB)
    assert model.active_periods == ()  # never active: the agent asks for nothing
    assert model.favourites == ()


def test_override_reports_every_bad_assignment_together() -> None:
    with pytest.raises(ValueError, match="hours") as caught:
        override_model(DayModel(), ["hours=soon", "spaces=2.5"])
    assert "hours: 'soon'" in str(caught.value)
    assert "spaces: '2.5'" in str(caught.value)


def test_cli_rejects_a_bad_model_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quiet", "--set", "tick_s=0"]) == 2
    assert "bad model: tick_s must be > 0, got 0" in capsys.readouterr().err
    for flag in ("--hours", "--agent-baseline-mb", "--original-unexplained-mb"):
        with pytest.raises(SystemExit) as exited:
            main(["--quiet", flag, "inf"])
        assert exited.value.code == 2
        assert "'inf' is not a finite number" in capsys.readouterr().err


# --- the package configuration is the real engine -------------------------------------------


def test_the_package_follows_the_engines_monitored_spaces() -> None:
    # A rule the engine has and no re-statement of it needs to know: MONITORED_SPACES.
    config = MemoryConfig(env={}, monitored_spaces=[1, 2])
    figures = run_day(HOUR_MODEL, config, configurations=[PACKAGE]).configurations[PACKAGE]
    trace = build_trace(HOUR_MODEL)
    asked = [s for reqs in trace.requests.values() for r in reqs for s in r.space_ids]
    watched = sum(1 for s in asked if s in (1, 2))
    assert figures["lookups"] <= watched < len(asked)
    assert figures["lookups"] + figures["spaces_skipped"] == len(asked)


async def test_the_replayed_engine_encodes_measured_sizes_on_the_simulated_clock() -> None:
    from ironcliw_mem.capture import MultiSpaceCaptureEngine
    from replay_engine import measure_jpeg_sizes
    from replay_model import Request, _Package, _SimClock

    model = dataclasses.replace(HOUR_MODEL, screen=(960, 600))
    config = MemoryConfig(env={})
    sizes = measure_jpeg_sizes(model.spaces, model.screen, config)
    clock = _SimClock()
    package = _Package(PACKAGE, model, clock, Classifier(Thresholds()), config=config, sizes=sizes)
    assert isinstance(package.engine, MultiSpaceCaptureEngine)
    assert package.engine.cache.clock is clock
    await package.manager.override_pressure(MemoryPressure.GREEN)
    await package.handle(Request(0, (1, 2), "analysis"), 1)
    held = package.held[-1][1]
    quality = policy_for(config, MemoryPressure.GREEN).jpeg_quality
    assert [len(shot) for shot in held] == [
        sizes[(space, CaptureQuality.OPTIMIZED, quality)] for space in (1, 2)
    ]
    # A thumbnail derived from the cached tier, the size measured for a thumbnail.
    await package.handle(Request(1, (1,), "check"), 1)
    package.model = dataclasses.replace(model, requested_quality=CaptureQuality.THUMBNAIL)
    await package.handle(Request(2, (1,), "check"), 1)
    assert len(package.held[-1][1][0]) == sizes[(1, CaptureQuality.THUMBNAIL, quality)]
    assert package.engine.cache.derived_hits == 1
    # Past the request's TTL by the simulated clock (the wall clock barely moved): captured again.
    clock.now = model.request_ttl_s + 1
    before = package.engine.captures_made
    await package.handle(Request(31, (2,), "focus"), 1)
    assert package.engine.captures_made == before + 1
    await package.close()


def test_the_yardstick_and_the_trace_are_replaceable_parts() -> None:
    class AlwaysRed:
        def update(self, sample: Any, now: float) -> Any:
            return type("Reading", (), {"level": "red"})()

    model = dataclasses.replace(HOUR_MODEL, hours=0.05)  # 180 s
    trace = build_trace(model)
    quiet = dataclasses.replace(trace, other_bytes=[0] * len(trace.other_bytes))
    judged = run_day(model, trace=quiet, yardstick=AlwaysRed)
    for figures in [*judged.configurations.values(), judged.trace_summary["without_vision"]]:
        assert figures["seconds_by_level"]["red"] == model.ticks * model.tick_s
        assert figures["offload_triggers"] == 1  # one red episode, held past 30 s
    # The same quiet trace under the real classifier: no other memory, never red.
    calm = run_day(model, trace=quiet)
    assert all(f["seconds_by_level"]["red"] == 0 for f in calm.configurations.values())
    assert calm.trace_summary["peak_other_bytes"] == 0


# --- the macOS memory model and the two offload rules (docs/offload-study.md) ---------------


def _settled(memory: MacMemory, demand: float, seconds: int = 1) -> None:
    for _ in range(seconds):
        memory.advance(demand, 1.0)


def test_a_healthy_16_gb_mac_reads_80_to_85_percent_to_psutil_while_the_kernel_says_normal() -> (
    None
):
    # The anchors: psutil #1277 (a healthy 16 GB M2: 83.9 %, 2.57 GiB available) and the
    # legacy cost document ("82 % RAM + 2.8GB available + ... normal pressure"). The healthy
    # day: the default model without bursts, user active (apps 5.5-6.5 GB) and away alike.
    model = dataclasses.replace(DayModel(), hours=24, bursts_per_hour=0)
    trace = build_trace(model)
    memory = MacMemory()
    percents = []
    for other in trace.other_bytes:
        memory.advance(other + model.agent_baseline_bytes, 1.0)
        percents.append(memory.percent)
        assert memory.level == NORMAL
    assert min(percents) >= 80
    assert max(percents) <= 85
    reading = memory.reading()
    assert abs(reading.psutil_available - 2.57 * GIB) < 0.15 * GIB
    assert reading.compressor_share < 0.05
    assert healthy_plateau(MacModel()).psutil_percent == pytest.approx(memory.percent, abs=0.3)


def test_psutils_percent_and_the_kernel_share_on_a_recorded_vm_stat() -> None:
    # HMCL-dev/HMCL #4876: a full vm_stat of a 24 GB Apple-Silicon Mac (16 KiB pages): inactive
    # 443760, free 3857 + speculative 1075 pages, 181483 wired, compressor 442179 pages. psutil
    # reads (total - (inactive + free + speculative)) / total; the kernel's share is the
    # compressor over active + inactive + free + speculative + compressor: 33 %, normal.
    page = 16384
    total = 24 * GIB
    assert psutil_percent(total, 443760 * page, (3857 + 1075) * page) == 71.5
    share = 442179 / (446206 + 443760 + 3857 + 1075 + 442179)
    assert next_kernel_level(NORMAL, share, MacModel()) == NORMAL


@pytest.mark.parametrize(
    ("level", "share", "expected"),
    [
        (NORMAL, 0.49, NORMAL),
        (NORMAL, 0.51, WARN),  # vm_pageout.c L10039: N < 0.5 A
        (NORMAL, 0.67, CRITICAL),  # L10051: N < 1.2 A / 3.5, checked first
        (WARN, 0.41, WARN),
        (WARN, 0.39, NORMAL),  # L10067: N > 0.6 A
        (WARN, 0.66, CRITICAL),
        (CRITICAL, 0.61, CRITICAL),
        (CRITICAL, 0.59, WARN),  # L10079: N > 1.4 A / 3.5
        (CRITICAL, 0.39, NORMAL),
    ],
)
def test_the_kernel_level_follows_xnus_compressor_thresholds(
    level: int, share: float, expected: int
) -> None:
    assert next_kernel_level(level, share, MacModel()) == expected


def test_the_compressor_takes_anonymous_pages_only_once_the_file_cache_is_spent() -> None:
    mac = MacModel()
    memory = MacMemory(mac)
    room = mac.total_bytes - mac.wired_bytes - mac.reserved_bytes
    fits = mac.wired_bytes + room - mac.file_min_bytes  # demand that fits uncompressed
    _settled(memory, fits - 1 * GIB)
    assert memory.stored == 0
    assert memory.file_backed > mac.file_min_bytes
    _settled(memory, fits + 2 * GIB)
    reading = memory.reading()
    assert reading.compressed_stored > 0
    # Compressed as little as fits: resident + compressor pages + kept file pages = the room.
    assert abs(reading.file_backed - mac.file_min_bytes) < MIB
    used = reading.anonymous_resident + reading.compressor + reading.file_backed
    assert abs(used - room) < MIB
    assert reading.compressed_stored / reading.compressor == pytest.approx(mac.compression_ratio)
    assert memory.level == NORMAL  # 2 GiB over is far from half of available memory
    # Poorly compressible memory far over: the compressor's share passes xnu's thresholds.
    heavy = MacMemory(dataclasses.replace(mac, compression_ratio=1.5))
    _settled(heavy, fits + 5 * GIB)
    assert heavy.level == CRITICAL
    assert heavy.swapped == 0
    # Far beyond what fits even compressed: the rest is swapped, the queues stay whole.
    _settled(heavy, 2 * mac.total_bytes)
    reading = heavy.reading()
    assert heavy.swapped > 0
    assert reading.file_backed == pytest.approx(mac.file_min_bytes, abs=MIB)
    assert 0 <= reading.memorystatus_level < 100
    assert reading.to_sample(mac.page_bytes).macos_pressure_level == CRITICAL


def test_freed_memory_lowers_psutils_percent_until_the_file_cache_refills_it() -> None:
    mac = MacModel()
    memory = MacMemory(mac)
    _settled(memory, 10 * GIB)
    plateau = memory.percent
    _settled(memory, 9 * GIB)
    # 1 GiB free: psutil counts it all as available, where it counted a share of it before.
    drop = (1 - mac.inactive_share) * GIB / mac.total_bytes * 100
    assert plateau - memory.percent == pytest.approx(drop, abs=0.2)
    refill_s = int(GIB / mac.file_refill_bytes_per_s)
    _settled(memory, 9 * GIB, refill_s - 10)
    assert memory.percent < plateau
    _settled(memory, 9 * GIB, 20)
    assert memory.percent == plateau
    assert memory.level == NORMAL


def _legacy(percents: list[float], rearm: str = "return") -> LegacyOffloadRule:
    rule = LegacyOffloadRule(rearm=rearm)
    for percent in percents:
        rule.sample(percent)
    return rule


def test_the_legacy_rule_is_jarviss_percent_rule() -> None:
    # Emergency, critical: on the percent alone, from the first sample.
    assert _legacy([95.0]).reasons == {"EMERGENCY (emergency path)": 1}
    assert _legacy([85.0]).reasons == {"CRITICAL": 1}
    assert _legacy([84.9]).triggers == 0
    # Warning with a rising trend: (newest - oldest of the last 5) / 5 > 0.01.
    assert _legacy([70.0, 71.0, 72.0, 74.0, 75.1]).reasons == {"PROACTIVE": 1}
    assert _legacy([70.0, 71.0, 72.0, 74.0, 74.9]).triggers == 0
    # Predictive: percent + 10 x trend >= 85 at any level: 81 % after a 2-point rise.
    assert _legacy([79.0, 79.0, 80.0, 80.5, 81.0]).reasons == {"PREDICTIVE": 1}
    assert _legacy([79.1, 79.0, 80.0, 80.5, 81.0]).triggers == 0
    # No trend and no prediction before five samples.
    assert _legacy([60.0, 70.0, 80.0, 84.0]).triggers == 0


def test_the_legacy_rule_re_arms_by_its_assumption() -> None:
    high, low = [86.0] * 3, [50.0] * 5
    assert _legacy([*high, *low, *high]).triggers == 2  # back under 60 % and not rising
    assert _legacy([*high, *[70.0] * 400, *high]).triggers == 1  # never under 60 %
    assert _legacy([*high, *low, *high], rearm="never").triggers == 1
    # "episode": a 30 min VM (360 loop passes), then the rule must have stopped asking.
    assert _legacy([*high, *[70.0] * 300, *high], rearm="episode").triggers == 1
    assert _legacy([*high, *[70.0] * 400, *high], rearm="episode").triggers == 2
    with pytest.raises(ValueError, match="rearm must be one of return, episode, never"):
        LegacyOffloadRule(rearm="sometimes")


def test_the_rule_count_counts_what_the_real_offload_advisor_counts() -> None:
    # Red episodes: poorly compressible memory swinging far over what the Mac holds.
    mac = MacModel(compression_ratio=1.5)
    config = MemoryConfig(env={})
    demands = [int((16 + 6 * (t // 200 % 2)) * GIB) for t in range(1600)]

    async def run(real: bool) -> dict[str, Any]:
        machine = MacMachine(mac, config, real_advisor=real)
        for tick, demand in enumerate(demands):
            await machine.sample(tick, demand, 0, float(tick), 1.0)
        return machine.figures()

    real = asyncio.run(run(True))
    rules = asyncio.run(run(False))
    assert real["advisor_triggers"] >= 2
    assert rules["advisor_trigger_ticks"] == real["advisor_trigger_ticks"]
    assert (
        replay_demands(demands, mac, config)["advisor_trigger_ticks"]
        == (real["advisor_trigger_ticks"])
    )


def test_the_replay_runs_both_rules_on_the_mac_for_every_layer() -> None:
    model = dataclasses.replace(HOUR_MODEL, hours=0.5)
    days = mac_days(model, 1, record=True)
    again = mac_days(model, 1)
    for stream in (ORIGINAL, PACKAGE, "no vision bytes"):
        figures = days.figures[stream][0]
        assert figures == again.figures[stream][0]  # deterministic for a seed
        assert sum(figures["seconds_by_kernel_level"].values()) == model.ticks
        assert len(days.demands[stream][0]) == model.ticks
    # The package's engine follows the Mac's kernel level: its cache budget is green's
    # whenever the kernel says normal, so it asks for no more than the original.
    assert sum(days.demands[PACKAGE][0]) <= sum(days.demands[ORIGINAL][0])
    text = format_rules(days, 0.04)
    assert "| original | OffloadAdvisor (kernel level, red 30 s) |" in text
    table = sensitivity(days, SENSITIVITY[:2])
    assert [entry["row"] for entry in table] == [row.label for row in SENSITIVITY[:2]]
    base = table[0]["triggers"]
    for layer in (ORIGINAL, PACKAGE):
        for rule in ("return", "episode", "advisor"):
            assert base[(layer, rule)] == sum(days.triggers(layer, rule))


def test_the_mac_model_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="inactive_share must be between 0 and 1"):
        MacModel(inactive_share=1.5)
    with pytest.raises(ValueError, match="compression_ratio must be > 1"):
        MacModel(compression_ratio=1.0)
    with pytest.raises(ValueError, match="wired_bytes must be a finite number >= 0"):
        MacModel(wired_bytes=-1)
    with pytest.raises(ValueError, match="must fit in total"):
        MacModel(wired_bytes=15 * GIB)
