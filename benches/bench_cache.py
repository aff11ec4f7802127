"""pytest-benchmark suite: ByteCache and the anchors on the same operations and inputs.

Run: .venv/bin/python -m pytest benches/bench_cache.py
The side-by-side table with ratios: python benches/compare_cache.py
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from cache_contenders import CONTENDERS, OPERATIONS, VALUE_SIZES, Contender


@pytest.mark.parametrize("size", list(VALUE_SIZES))
@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("contender", CONTENDERS, ids=[c.name for c in CONTENDERS])
def test_cache_operation(
    benchmark: BenchmarkFixture, contender: Contender, operation: str, size: str
) -> None:
    benchmark.group = f"{operation} {size}"
    run = OPERATIONS[operation](contender, bytes(VALUE_SIZES[size]))
    benchmark(run)
