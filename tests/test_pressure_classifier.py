"""The classifier through the Python API: thresholds, reasons, dwell, and no flapping."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironcliw_mem import Classifier, Sample, Thresholds, thresholds_from_env
from ironcliw_mem.pressure import THRESHOLD_NAMES

DEFAULTS = {
    "yellow_some10_enter": 10.0,
    "yellow_some10_exit": 5.0,
    "yellow_headroom_enter": 25.0,
    "yellow_headroom_exit": 30.0,
    "red_full10_enter": 10.0,
    "red_full10_exit": 5.0,
    "red_some10_enter": 40.0,
    "red_some10_exit": 20.0,
    "red_headroom_enter": 15.0,
    "red_headroom_exit": 20.0,
    "downgrade_dwell": 10.0,
    "macos_compressor_warn_enter": 50.0,
    "macos_compressor_warn_exit": 40.0,
    "macos_compressor_critical_enter": 66.0,
    "macos_compressor_critical_exit": 60.0,
    "fallback_yellow_available_mb": 1000.0,
    "fallback_red_available_mb": 400.0,
    # The design's GPU levels: NVIDIA used/total 80/95 %, Metal allocated/recommended 80/100 %,
    # each left 5 points lower.
    "gpu_nvidia_yellow_enter": 80.0,
    "gpu_nvidia_yellow_exit": 75.0,
    "gpu_nvidia_red_enter": 95.0,
    "gpu_nvidia_red_exit": 90.0,
    "gpu_metal_yellow_enter": 80.0,
    "gpu_metal_yellow_exit": 75.0,
    "gpu_metal_red_enter": 100.0,
    "gpu_metal_red_exit": 95.0,
}

RANK = {"green": 0, "yellow": 1, "red": 2}


def linux(some10: float = 0.0, full10: float = 0.0, headroom: float = 80.0) -> Sample:
    total = 1_000_000
    return Sample.from_values(
        total=total,
        available=round(total * headroom / 100),
        psi_some_avg10=some10,
        psi_full_avg10=full10,
        sources=["meminfo", "psi"],
    )


def test_threshold_defaults_and_names() -> None:
    assert Thresholds().to_dict() == DEFAULTS
    assert tuple(DEFAULTS) == THRESHOLD_NAMES
    t = Thresholds(downgrade_dwell=2, red_full10_enter=12.5)
    assert t.downgrade_dwell == 2.0
    assert t.red_full10_enter == 12.5
    assert t == Thresholds(red_full10_enter=12.5, downgrade_dwell=2.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"yellow_some10_exit": 11.0}, "yellow_some10_exit"),
        ({"red_headroom_exit": 10.0}, "red_headroom_enter"),
        ({"yellow_headroom_enter": 35.0}, "yellow_headroom_enter"),
        ({"red_full10_exit": 20.0}, "red_full10_exit"),
        ({"macos_compressor_critical_exit": 70.0}, "macos_compressor_critical_exit"),
        ({"fallback_red_available_mb": 2000.0}, "fallback_red_available_mb"),
        ({"downgrade_dwell": -1.0}, "downgrade_dwell"),
        ({"downgrade_dwell": math.nan}, "downgrade_dwell"),
        ({"red_some10_enter": math.inf}, "red_some10_enter"),
        ({"red_full10_enter": 101.0}, "red_full10_enter"),
        ({"gpu_nvidia_red_exit": 96.0}, "gpu_nvidia_red_exit"),
        ({"gpu_metal_yellow_enter": 100.5}, "gpu_metal_yellow_enter"),
    ],
)
def test_invalid_thresholds_raise_value_error_naming_the_field(
    kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        Thresholds(**kwargs)


def test_unknown_or_non_numeric_threshold_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword 'yellow_enter'"):
        Thresholds(yellow_enter=1.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="downgrade_dwell must be a number"):
        Thresholds(downgrade_dwell="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got bool"):
        Thresholds(downgrade_dwell=True)


def test_thresholds_from_env_reads_prefixed_variables_and_reports_all_bad_ones() -> None:
    env = {"PRESSURE_YELLOW_SOME10_ENTER": "12", "PRESSURE_DOWNGRADE_DWELL": " 3.5 "}
    t = thresholds_from_env(env)
    assert t.yellow_some10_enter == 12.0
    assert t.downgrade_dwell == 3.5
    assert thresholds_from_env(env, downgrade_dwell=1.0).downgrade_dwell == 1.0
    assert thresholds_from_env({}) == Thresholds()
    bad = {"PRESSURE_RED_FULL10_ENTER": "lots", "PRESSURE_DOWNGRADE_DWELL": "-2"}
    with pytest.raises(ValueError, match="invalid ironcliw-mem configuration") as info:
        thresholds_from_env(bad)
    message = str(info.value)
    assert "PRESSURE_RED_FULL10_ENTER='lots': expected a finite number >= 0" in message
    assert "PRESSURE_DOWNGRADE_DWELL='-2': expected a finite number >= 0" in message
    with pytest.raises(ValueError, match=r"PRESSURE_YELLOW_SOME10_EXIT=50.0: must be <="):
        thresholds_from_env({"PRESSURE_YELLOW_SOME10_EXIT": "50"})


def test_sample_from_values_checks_names_kinds_and_sources() -> None:
    s = Sample.from_values(total=10, psi_some_avg10=1.5, sources=["psi"], problems=["x"])
    assert (s.total, s.psi_some_avg10, s.sources, s.problems) == (10, 1.5, ["psi"], ["x"])
    assert Sample(total=10).total == 10
    assert Sample().to_dict()["total"] is None
    with pytest.raises(TypeError, match="no field 'totl'"):
        Sample.from_values(totl=1)
    with pytest.raises(ValueError, match="total must be between 0 and"):
        Sample.from_values(total=-1)
    with pytest.raises(ValueError, match="unknown source 'disk'"):
        Sample.from_values(sources=["disk"])
    with pytest.raises(ValueError, match="macos_pressure_level is out of range"):
        Sample.from_values(macos_pressure_level=1 << 40)
    d = linux().to_dict()
    assert d["headroom"] == pytest.approx(80.0)
    assert d["sources"] == ["meminfo", "psi"]


def test_first_sample_upgrade_reasons_and_to_dict() -> None:
    c = Classifier()
    assert c.level == "unknown"
    v = c.update(linux(), 0.0)
    assert (v.level, v.previous, v.changed, v.reasons) == ("green", "unknown", True, [])
    v = c.update(linux(some10=12.3), 1.0)
    assert v.to_dict() == {
        "level": "yellow",
        "previous": "green",
        "changed": True,
        "reasons": ["psi some avg10 12.3% >= 10.0%"],
    }
    v = c.update(linux(full10=50.0, headroom=10.0), 2.0)
    assert v.level == "red"
    assert v.reasons == ["psi full avg10 50.0% >= 10.0%", "headroom (system) 10.0% <= 15.0%"]
    assert str(c.level) == "red"


def test_downgrade_steps_one_level_per_dwell() -> None:
    c = Classifier(Thresholds(downgrade_dwell=5.0))
    c.update(linux(some10=50.0), 0.0)
    levels = [c.update(linux(), t).level for t in (1.0, 3.0, 5.9, 6.0, 8.0, 10.9, 11.0)]
    assert levels == ["red", "red", "red", "yellow", "yellow", "yellow", "green"]


def test_noise_inside_the_hysteresis_band_never_leaves_yellow() -> None:
    c = Classifier(Thresholds(downgrade_dwell=0.0))
    c.update(linux(some10=10.0), 0.0)
    for t, some10 in enumerate([9.0, 6.0, 5.0, 8.0, 9.9, 5.1], start=1):
        assert c.update(linux(some10=some10), float(t)).level == "yellow"
    assert c.update(linux(some10=4.9), 10.0).level == "green"


def test_macos_kernel_level_rule() -> None:
    c = Classifier(Thresholds(downgrade_dwell=0.0))
    for raw, level in [(1, "green"), (2, "yellow"), (4, "red"), (2, "yellow"), (1, "green")]:
        assert c.update(Sample.from_values(macos_pressure_level=raw), 0.0).level == level
    v = c.update(Sample.from_values(macos_pressure_level=3), 0.0)
    assert v.level == "unknown"
    assert v.reasons == [
        "no memory signal could be read: macOS kernel pressure level 3 (not a known level)"
    ]


def test_empty_or_nan_sample_is_unknown() -> None:
    c = Classifier()
    assert c.update(Sample(), 0.0).level == "unknown"
    assert c.update(Sample(psi_some_avg10=math.nan), 1.0).level == "unknown"
    with pytest.raises(ValueError, match="now must be a finite number"):
        c.update(Sample(), math.nan)


# --- property: the classifier never steps down faster than its dwell --------------------------

noisy_sample = st.builds(
    linux,
    some10=st.floats(0.0, 60.0),
    full10=st.floats(0.0, 20.0),
    headroom=st.floats(0.0, 100.0),
)


# Mostly noisy readings, now and then an unreadable one (unknown).
noisy_or_blank = st.one_of(noisy_sample, noisy_sample, noisy_sample, st.just(Sample()))


@settings(max_examples=300, deadline=None)
@given(
    dwell=st.floats(0.0, 20.0),
    steps=st.lists(st.tuples(st.floats(0.0, 5.0), noisy_or_blank), min_size=1, max_size=80),
)
def test_never_steps_down_faster_than_the_dwell(
    dwell: float, steps: list[tuple[float, Sample]]
) -> None:
    """Between known levels (unknown readings in between do not count as a reset), every step
    down is one level, and comes at least a full dwell after the previous change."""
    c = Classifier(Thresholds(downgrade_dwell=dwell))
    now = 0.0
    known: str | None = None
    last_change = -math.inf
    for dt, sample in steps:
        now += dt
        v = c.update(sample, now)
        if v.level == "unknown":
            assert not sample.sources
            continue
        if known is not None and v.level != known:
            if RANK[v.level] < RANK[known]:
                assert RANK[known] - RANK[v.level] == 1, (known, v.level)
                assert now - last_change >= dwell, (known, v.level, now, last_change)
            last_change = now
        elif known is None:
            last_change = now
        known = v.level


@settings(max_examples=200, deadline=None)
@given(sample=noisy_sample, dwell=st.floats(0.0, 20.0))
def test_upgrades_are_immediate(sample: Sample, dwell: float) -> None:
    fresh = Classifier(Thresholds(downgrade_dwell=dwell)).update(sample, 0.0).level
    c = Classifier(Thresholds(downgrade_dwell=dwell))
    c.update(linux(), 0.0)
    assert c.update(sample, 0.001).level == fresh
