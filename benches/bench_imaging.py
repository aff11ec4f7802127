"""pytest-benchmark suite for the image tiers: every contender on the same BGRA frame, grouped by
resolution and tier case (see imaging_contenders for what each contender runs).

Run: .venv/bin/python -m pytest benches/bench_imaging.py
The side-by-side table with ratios: python benches/compare_imaging.py (make bench-imaging)
"""

from __future__ import annotations

from functools import cache

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import ironcliw_mem as m
from imaging_contenders import CONTENDERS, RESOLUTIONS, TIER_CASES, Array, Contender, screen_frame

FILTER = "catmull-rom"


@cache
def frame(resolution: str) -> Array:
    return screen_frame(*RESOLUTIONS[resolution])


@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
@pytest.mark.parametrize("case", list(TIER_CASES))
@pytest.mark.parametrize("contender", CONTENDERS, ids=lambda c: c.name)
def test_tiers(
    benchmark: BenchmarkFixture, resolution: str, case: str, contender: Contender
) -> None:
    benchmark.group = f"{resolution} {case}"
    run = contender.make(TIER_CASES[case], FILTER)
    sizes = benchmark(run, frame(resolution))
    assert set(sizes) == set(TIER_CASES[case])


@pytest.mark.parametrize("parallel", [False, True], ids=["one-by-one", "batch"])
def test_batch_of_four(benchmark: BenchmarkFixture, parallel: bool) -> None:
    benchmark.group = "4 x 2880x1800 all four tiers"
    frames = [frame("2880x1800")] * 4

    def run() -> int:
        if parallel:
            return len(m.encode_tiers_batch(frames, filter=FILTER))
        return len([m.encode_tiers(f, filter=FILTER) for f in frames])

    assert benchmark(run) == 4
