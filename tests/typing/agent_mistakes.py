"""Mistakes the typed stats must catch under `mypy --strict` (tests/test_typing.py expects an
error on each line whose comment says which)."""

from __future__ import annotations

from ironcliw_mem import ByteCache, MultiSpaceCaptureEngine, get_memory_manager


def mistakes(cache: ByteCache, engine: MultiSpaceCaptureEngine) -> None:
    summary = get_memory_manager().get_stats_summary()
    print(summary["recommended_cache_gb"])  # error: no such key
    print(summary["level"] + 1)  # error: a str
    print(cache.stats()["hit_rate"].upper())  # error: a float
    print(engine.get_cache_stats()["evictions"]["lru"])  # error: no such reason
    print(ByteCache(1).thresholds)  # error: no such attribute
