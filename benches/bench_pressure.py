"""pytest-benchmark suite for the pressure probe (the side-by-side table: compare_pressure.py).

.venv/bin/python -m pytest benches/bench_pressure.py --benchmark-only
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import psutil
import pytest

from ironcliw_mem import Classifier, PressureProbe, Sample, psutil_sample

pytestmark = pytest.mark.benchmark(group="pressure")


@pytest.fixture(scope="module")
def probe() -> PressureProbe:
    return PressureProbe()


def test_probe_read_and_classify(benchmark: Any, probe: PressureProbe) -> None:
    classifier = Classifier()
    clock = time.monotonic
    verdict = benchmark(lambda: classifier.update(probe.read(), clock()))
    assert verdict.level in ("green", "yellow", "red", "unknown")


def test_probe_read(benchmark: Any, probe: PressureProbe) -> None:
    assert benchmark(probe.read).sources


def test_classify_only(benchmark: Any, probe: PressureProbe) -> None:
    classifier = Classifier()
    sample = probe.read()
    benchmark(classifier.update, sample, 1.0)


def test_psutil_virtual_memory(benchmark: Any) -> None:
    assert benchmark(psutil.virtual_memory).total > 0


def test_psutil_fallback_sample(benchmark: Any) -> None:
    assert isinstance(benchmark(psutil_sample), Sample)


def test_spawn_true(benchmark: Any) -> None:
    benchmark.pedantic(subprocess.run, args=(["true"],), kwargs={"capture_output": True}, rounds=50)
