"""What an agent writes against the public API; `mypy --strict` must accept it as it is.

Checked by tests/test_typing.py against the installed package (its py.typed, the .pyi stubs
and the TypedDicts of ironcliw_mem.stats), never run.
"""

from __future__ import annotations

import asyncio

from ironcliw_mem import (
    ByteCache,
    CaptureQuality,
    Classifier,
    MemoryPressure,
    MemoryStats,
    MultiSpaceCaptureEngine,
    SpaceCaptureRequest,
    Thresholds,
    initialize_memory_manager,
    read_sample,
)
from ironcliw_mem.stats import EngineStats, GpuDeviceStats, StatsSummary


def level_now() -> str:
    classifier = Classifier(Thresholds(downgrade_dwell=5.0))
    verdict = classifier.update(read_sample(), now=0.0)
    dwell: float = classifier.thresholds.downgrade_dwell
    return f"{verdict.level} after {dwell} s: {', '.join(verdict.reasons)}"


def cache_report(cache: ByteCache) -> str:
    stats = cache.stats()
    hit_rate: float = stats["hit_rate"]
    used: int = stats["bytes"]
    return f"{hit_rate:.0%} hits, {used} of {stats['max_bytes']} bytes"


def gpu_lines(summary: StatsSummary) -> list[str]:
    gpu = summary["gpu"]
    if isinstance(gpu, dict):
        return [f"no GPU: {gpu['reason']}"]
    devices: list[GpuDeviceStats] = gpu
    return [f"{d['name']}: {d['used_percent']} % ({d['level']})" for d in devices]


async def main() -> None:
    manager = await initialize_memory_manager()
    summary = manager.get_stats_summary()
    cache_mb: int = summary["recommended_cache_mb"]
    available_gb: float | None = summary.get("available_gb")
    print(summary["pressure"], cache_mb, available_gb, gpu_lines(summary))

    async def on_pressure(new_pressure: MemoryPressure, stats: MemoryStats) -> None:
        if new_pressure is MemoryPressure.RED:
            print("red:", stats.reasons)

    manager.register_pressure_callback(on_pressure)
    engine = MultiSpaceCaptureEngine(memory_manager=manager)
    result = await engine.capture_all_spaces(
        SpaceCaptureRequest(space_ids=[1, 2], quality=CaptureQuality.FULL)
    )
    stats: EngineStats = engine.get_cache_stats()
    evicted: int = stats["evictions"]["pressure"]
    print(len(result.screenshots), stats["backend"], stats["hit_rate"], evicted)
    await manager.stop_monitoring()


if __name__ == "__main__":
    print(level_now(), cache_report(ByteCache(1 << 20)))
    asyncio.run(main())
