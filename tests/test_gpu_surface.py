"""GPU memory where people look: `ironcliw-mem status`, the metrics, the dashboard page (real
headless Chromium) and the profiler's report and plot, with fixture GPU readings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from ironcliw_mem import MacOSMemoryManager, MemoryConfig, MemoryProfiler, Sample
from ironcliw_mem.gpu import GpuReading
from ironcliw_mem.tools import cli, profiler
from ironcliw_mem.tools.dashboard import DashboardServer, DashboardState
from ironcliw_mem.tools.plot import plot_profile
from support import chromium_screenshot

GIB = 1024**3
MIB = 1024**2
CALM_MEMORY = Sample.from_values(
    total=16 * GIB, available=12 * GIB, psi_some_avg10=0.0, psi_full_avg10=0.0,
    sources=["meminfo", "psi"],
)  # fmt: skip
GPU_CARD_RED = (0xC6, 0x28, 0x28)
GPU_LINE = (0xE6, 0x51, 0x00)


def two_gpus(process_mb: float = 1536.0) -> GpuReading:
    total = 80 * GIB
    return GpuReading(
        devices=[
            {"index": 0, "name": "NVIDIA A100", "total_bytes": total, "used_bytes": 8 * GIB,
             "reserved_bytes": GIB // 4, "process_bytes": int(process_mb * MIB)},
            {"index": 1, "name": "NVIDIA A100", "total_bytes": total, "used_bytes": 78 * GIB,
             "reserved_bytes": GIB // 4, "process_bytes": None},
        ]
    )  # fmt: skip


def manager_with(read_gpu: Any) -> MacOSMemoryManager:
    return MacOSMemoryManager(
        MemoryConfig(env={}),
        read_sample=lambda: CALM_MEMORY,
        watch_kernel_events=False,
        read_gpu=read_gpu,
    )


async def gpu_summary() -> dict[str, Any]:
    manager = manager_with(two_gpus)
    await manager.check_pressure()
    summary: dict[str, Any] = manager.get_stats_summary()
    return summary


async def test_status_shows_each_gpu_or_why_there_is_none() -> None:
    text = cli.format_status(await gpu_summary())
    assert "gpu 0 NVIDIA A100: green, 8.00 GB used of 80.00 GB (10.0 %)" in text
    assert ", reserved 0.25 GB, this process 1536 MB" in text
    assert "gpu 1 NVIDIA A100: red, 78.00 GB used of 80.00 GB (97.5 %)" in text
    assert "this process ? (not reported)" in text
    assert "  reasons: gpu memory used of total 97.5% >= 95.0%" in text
    manager = manager_with(lambda: GpuReading(problems=["nvml: no NVIDIA driver (dlopen: x)"]))
    await manager.check_pressure()
    text = cli.format_status(manager.get_stats_summary())
    assert "gpu: none (nvml: no NVIDIA driver (dlopen: x))" in text


async def test_metrics_carry_gpu_bytes_and_a_level_state_set_per_device() -> None:
    state = DashboardState()
    state.publish(await gpu_summary(), None)
    parsed = {f.name: f for f in text_string_to_metric_families(state.metrics().decode())}

    def value(metric: str, /, **labels: str) -> float:
        matches = [
            s.value
            for s in parsed[metric].samples
            if all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(matches) == 1, (metric, labels, matches)
        return float(matches[0])

    assert value("ironcliw_gpu_memory_total_bytes", device="1") == 80 * GIB
    assert value("ironcliw_gpu_memory_used_bytes", device="0", name="NVIDIA A100") == 8 * GIB
    assert value("ironcliw_gpu_memory_process_bytes", device="0") == 1536 * MIB
    # Device 1 does not say its process bytes: no sample rather than a zero.
    assert [s.labels["device"] for s in parsed["ironcliw_gpu_memory_process_bytes"].samples] == [
        "0"
    ]
    assert value("ironcliw_gpu_memory_pressure", device="1", level="red") == 1.0
    assert value("ironcliw_gpu_memory_pressure", device="1", level="green") == 0.0
    assert value("ironcliw_gpu_memory_pressure", device="0", level="green") == 1.0
    assert state.history()[-1]["gpu_mb"] == 1536.0
    no_gpu = DashboardState()
    no_gpu.publish({"level": "green", "gpu": {"available": False, "reason": "x"}}, None)
    assert "gpu" not in no_gpu.metrics().decode()
    assert no_gpu.history()[-1]["gpu_mb"] is None


def _near(colour: tuple[int, int, int], target: tuple[int, int, int], slack: int = 12) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(colour, target, strict=True))


def _pixels(path: Path, target: tuple[int, int, int]) -> int:
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(1 << 22) or []
    return sum(n for n, c in colours if _near(c, target))


async def test_the_page_shows_a_gpu_card_and_line_only_where_a_gpu_exists(tmp_path: Path) -> None:
    with_gpu = DashboardState(sample_interval_s=3600.0)
    for process_mb in (200.0, 900.0, 1600.0, 1100.0):
        manager = manager_with(lambda process_mb=process_mb: two_gpus(process_mb))
        await manager.check_pressure()
        with_gpu.publish(manager.get_stats_summary(), None)
    without_gpu = DashboardState(sample_interval_s=3600.0)
    plain = manager_with(lambda: GpuReading(problems=["nvml: no NVIDIA driver"]))
    await plain.check_pressure()
    without_gpu.publish(plain.get_stats_summary(), None)
    shots = {}
    for name, state in (("gpu.png", with_gpu), ("none.png", without_gpu)):
        server = DashboardServer(state, port=0).start()
        try:
            shots[name] = await asyncio.to_thread(chromium_screenshot, server.url, tmp_path, name)
        finally:
            server.close()
    # The memory level is green; the GPU card is red because device 1 is.
    assert _pixels(shots["gpu.png"], GPU_CARD_RED) > 1000, "the GPU card is not drawn"
    assert _pixels(shots["gpu.png"], GPU_LINE) > 50, "the GPU line is not drawn"
    assert _pixels(shots["none.png"], GPU_CARD_RED) < 50, "a GPU card without a GPU"
    assert _pixels(shots["none.png"], GPU_LINE) < 10, "a GPU line without a GPU"


async def test_profiler_samples_gpu_memory_and_report_and_plot_carry_its_peak(
    tmp_path: Path,
) -> None:
    process_mb = iter([300.0, 1200.0, 700.0] + [500.0] * 1000)
    manager = manager_with(lambda: two_gpus(next(process_mb)))
    prof = MemoryProfiler(manager)
    prof.set_baseline()

    async def idle() -> None:
        await asyncio.sleep(3600)

    result = await prof.profile_component("idle", idle, duration_seconds=0.5, sample_interval=0.1)
    values = [s.gpu_process_mb for s in result.samples]
    assert values[:3] == [300.0, 1200.0, 700.0]
    assert result.samples[0].gpu_used_mb == 86 * 1024  # 8 + 78 GiB across the two devices
    report = prof.generate_report()
    (entry,) = report["benchmarks"]
    assert entry["peak_gpu_process_mb"] == 1200.0
    assert entry["peak_gpu_used_mb"] == 86 * 1024
    assert "GPU peak: 88064 MB used on the GPUs, this process 1200 MB" in profiler.format_summary(
        report
    )
    png = plot_profile(report, tmp_path / "profile.png")
    assert _pixels(png, GPU_LINE) > 30, "the GPU line is not in the plot"
    without = MemoryProfiler(manager_with(lambda: GpuReading(problems=["none"])))
    result = await without.profile_component(
        "idle", idle, duration_seconds=0.3, sample_interval=0.1
    )
    assert all(s.gpu_process_mb is None and s.gpu_used_mb is None for s in result.samples)
    assert without.generate_report()["benchmarks"][0]["peak_gpu_process_mb"] is None
