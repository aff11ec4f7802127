"""GPU memory: the reading's Python face, the per-device level, its listeners and its stats.

Readings come from fixtures at the manager's seam (`read_gpu`), except the no-driver path, which
is real on a machine without the NVIDIA driver (this one). The real-GPU test is test_gpu_real.py.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ironcliw_mem import MacOSMemoryManager, MemoryConfig, MemoryPressure, Sample
from ironcliw_mem.config import ConfigError
from ironcliw_mem.gpu import GpuClassifier, GpuMonitor, GpuProbe, GpuReading
from ironcliw_mem.pressure import Thresholds
from support import ManualClock

GIB = 1024**3
CALM_MEMORY = Sample.from_values(
    total=16 * GIB,
    available=12 * GIB,
    psi_some_avg10=0.0,
    psi_full_avg10=0.0,
    sources=["meminfo", "psi"],
)


def nvidia_driver_present() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


def h200(index: int, used_percent: float, process_gib: float = 1.0) -> dict[str, object]:
    total = 141 * GIB
    used = int(total * used_percent / 100)
    return {
        "kind": "nvidia",
        "index": index,
        "name": "NVIDIA H200",
        "total_bytes": total,
        "used_bytes": used,
        "free_bytes": total - used - GIB // 2,
        "reserved_bytes": GIB // 2,
        "process_bytes": int(process_gib * GIB),
        "unified_memory": False,
    }


class ScriptedGpu:
    def __init__(self, *devices: dict[str, object]) -> None:
        self.devices = list(devices)
        self.calls = 0

    def __call__(self) -> GpuReading:
        self.calls += 1
        return GpuReading(devices=self.devices)


def make_manager(
    gpu: ScriptedGpu, clock: ManualClock, env: dict[str, str] | None = None
) -> MacOSMemoryManager:
    return MacOSMemoryManager(
        MemoryConfig(env=env or {}),
        read_sample=lambda: CALM_MEMORY,
        clock=clock,
        watch_kernel_events=False,
        read_gpu=gpu,
    )


async def test_gpu_callbacks_run_once_per_device_whose_level_changes() -> None:
    gpu = ScriptedGpu(h200(0, 10.0), h200(1, 10.0))
    clock = ManualClock(100.0)
    manager = make_manager(gpu, clock)
    calls: list[tuple[str, MemoryPressure, int, str]] = []

    def broken(level: MemoryPressure, device: dict[str, Any]) -> None:
        calls.append(("broken", level, device["index"], device["level"]))
        raise RuntimeError("listener bug")

    async def unload_model(level: MemoryPressure, device: dict[str, Any]) -> None:
        await asyncio.sleep(0.001)
        calls.append(("async", level, device["index"], device["level"]))

    manager.register_gpu_pressure_callback(broken)
    manager.register_gpu_pressure_callback(unload_model)
    await manager.check_pressure()  # unknown -> green on both devices
    assert [c[2] for c in calls] == [0, 0, 1, 1]
    calls.clear()
    await manager.check_pressure()  # nothing changed: nobody is called
    assert calls == []
    gpu.devices = [h200(0, 10.0), h200(1, 96.0)]
    await manager.check_pressure()
    assert calls == [
        ("broken", MemoryPressure.RED, 1, "red"),
        ("async", MemoryPressure.RED, 1, "red"),
    ]
    calls.clear()
    # 91 % is under red's 95 % but not under its 90 % exit: red holds past any dwell.
    gpu.devices = [h200(0, 10.0), h200(1, 91.0)]
    clock.now += 60
    await manager.check_pressure()
    assert calls == []
    gpu.devices = [h200(0, 10.0), h200(1, 50.0)]
    await manager.check_pressure()  # calm from now on: the memory level's 10 s dwell
    clock.now += 9.9
    await manager.check_pressure()
    assert calls == []
    clock.now += 0.1
    await manager.check_pressure()
    assert [(c[0], c[1], c[2]) for c in calls] == [
        ("broken", MemoryPressure.YELLOW, 1),
        ("async", MemoryPressure.YELLOW, 1),
    ]
    assert manager.unregister_gpu_pressure_callback(unload_model)
    assert not manager.unregister_gpu_pressure_callback(unload_model)
    calls.clear()
    gpu.devices = [h200(0, 99.0), h200(1, 50.0)]
    await manager.check_pressure()
    assert [c[0] for c in calls] == ["broken"]


async def test_the_gpu_level_does_not_move_the_cache_budget_or_the_memory_level() -> None:
    gpu = ScriptedGpu(h200(0, 99.0))
    manager = make_manager(gpu, ManualClock(0.0))
    memory_calls: list[MemoryPressure] = []
    manager.register_pressure_callback(lambda level, stats: memory_calls.append(level))
    assert await manager.check_pressure() is MemoryPressure.GREEN
    summary = manager.get_stats_summary()
    assert summary["gpu"][0]["level"] == "red"
    assert summary["pressure"] == "normal"
    calm_gpu = make_manager(ScriptedGpu(h200(0, 10.0)), ManualClock(0.0))
    await calm_gpu.check_pressure()
    for key in ("recommended_cache_mb", "recommended_quality", "recommended_jpeg_quality"):
        assert summary[key] == calm_gpu.get_stats_summary()[key], key
    assert memory_calls == [MemoryPressure.GREEN]


async def test_stats_summary_lists_each_device_with_its_level_and_reasons() -> None:
    gpu = ScriptedGpu(h200(0, 85.0, process_gib=2.5))
    manager = make_manager(gpu, ManualClock(0.0))
    assert manager.get_stats_summary()["gpu"] == {"available": False, "reason": "no reading yet"}
    await manager.check_pressure()
    (device,) = manager.get_stats_summary()["gpu"]
    total = 141 * GIB
    assert device["index"] == 0
    assert device["name"] == "NVIDIA H200"
    assert device["total_bytes"] == total
    assert device["used_bytes"] == int(total * 0.85)
    assert device["free_bytes"] == total - int(total * 0.85) - GIB // 2
    assert device["reserved_bytes"] == GIB // 2
    assert device["process_bytes"] == int(2.5 * GIB)
    assert device["level"] == "yellow"
    assert device["reasons"] == ["gpu memory used of total 85.0% >= 80.0%"]
    assert device["used_percent"] == 85.0


async def test_thresholds_come_from_pressure_gpu_environment_variables() -> None:
    gpu = ScriptedGpu(h200(0, 30.0))
    env = {"PRESSURE_GPU_NVIDIA_YELLOW_ENTER": "25", "PRESSURE_GPU_NVIDIA_YELLOW_EXIT": "20"}
    manager = make_manager(gpu, ManualClock(0.0), env=env)
    await manager.check_pressure()
    assert manager.gpu_devices[0]["level"] == "yellow"
    assert manager.gpu_devices[0]["reasons"] == ["gpu memory used of total 30.0% >= 25.0%"]
    with pytest.raises(ConfigError, match=r"PRESSURE_GPU_NVIDIA_RED_EXIT=97\.0: must be <="):
        MemoryConfig(env={"PRESSURE_GPU_NVIDIA_RED_EXIT": "97"})
    with pytest.raises(ConfigError, match="PRESSURE_GPU_METAL_RED_ENTER='lots'"):
        MemoryConfig(env={"PRESSURE_GPU_METAL_RED_ENTER": "lots"})


def test_metal_device_uses_the_working_set_rule() -> None:
    classifier = GpuClassifier(Thresholds())
    working_set = 10 * GIB
    reading = GpuReading(
        devices=[
            {
                "kind": "metal",
                "name": "Apple M2",
                "total_bytes": working_set,
                "used_bytes": working_set * 97 // 100,
                "process_bytes": working_set * 97 // 100,
                "unified_memory": True,
            }
        ]
    )
    (verdict,) = classifier.update(reading, 0.0)
    assert (verdict.kind, verdict.level) == ("metal", "yellow")  # red only at 100 %
    assert verdict.reasons == ["gpu memory allocated of recommended working set 97.0% >= 80.0%"]
    (device,) = reading.devices
    assert device.free_bytes == working_set - working_set * 97 // 100
    assert device.reserved_bytes is None


def test_fixture_readings_reject_bad_devices_by_name() -> None:
    with pytest.raises(ValueError, match="needs used_bytes"):
        GpuReading(devices=[{"total_bytes": 1}])
    with pytest.raises(TypeError, match="has no field 'used'"):
        GpuReading(devices=[{"total_bytes": 1, "used": 1}])
    with pytest.raises(ValueError, match="kind must be 'nvidia' or 'metal'"):
        GpuReading(devices=[{"kind": "amd", "total_bytes": 1, "used_bytes": 0}])
    with pytest.raises(TypeError, match="total_bytes must be an int >= 0"):
        GpuReading(devices=[{"total_bytes": -1, "used_bytes": 0}])
    with pytest.raises(ValueError, match="refresh_s"):
        GpuProbe(refresh_s=-1.0)


async def test_a_failing_gpu_reader_is_no_gpu_with_the_reason() -> None:
    def broken() -> GpuReading:
        raise OSError("driver hiccup")

    manager = MacOSMemoryManager(
        MemoryConfig(env={}),
        read_sample=lambda: CALM_MEMORY,
        watch_kernel_events=False,
        read_gpu=broken,
    )
    assert await manager.check_pressure() is MemoryPressure.GREEN
    assert manager.get_stats_summary()["gpu"] == {
        "available": False,
        "reason": "GPU reading failed: driver hiccup",
    }


@pytest.mark.skipif(nvidia_driver_present(), reason="an NVIDIA driver is installed here")
async def test_without_a_driver_the_stats_say_why_and_hold_no_zeros() -> None:
    reading = GpuProbe(refresh_s=0.0).read()
    assert reading.devices == []
    assert not reading.available
    (problem,) = reading.problems
    assert problem.startswith("nvml: no NVIDIA driver (dlopen: libnvidia-ml.so.1")
    manager = MacOSMemoryManager(
        MemoryConfig(env={}), read_sample=lambda: CALM_MEMORY, watch_kernel_events=False
    )
    calls: list[object] = []
    manager.register_gpu_pressure_callback(lambda level, device: calls.append(device))
    await manager.check_pressure()
    gpu = manager.get_stats_summary()["gpu"]
    assert gpu["available"] is False
    assert "no NVIDIA driver" in gpu["reason"]
    assert manager.gpu_devices == []
    assert calls == []


def test_monitor_reads_through_the_given_reader_only() -> None:
    gpu = ScriptedGpu(h200(0, 10.0))
    monitor = GpuMonitor(Thresholds(), gpu)
    reading = monitor.read()
    changes = monitor.update(reading, time.monotonic())
    assert gpu.calls == 1
    assert [(level, d["index"]) for level, d in changes] == [(MemoryPressure.GREEN, 0)]
    assert monitor.update(reading, time.monotonic()) == []


def build_fake_nvml(directory: Path) -> Path:
    """tests/fixtures/fake_nvml.c built as `directory/libnvidia-ml.so.1` with the C compiler."""
    source = Path(__file__).parent / "fixtures" / "fake_nvml.c"
    library = directory / "libnvidia-ml.so.1"
    compiler = os.environ.get("CC", "cc")
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)],
        check=True,
        timeout=120,
    )
    return directory


def test_status_reads_nvml_through_dlopen_end_to_end(tmp_path: Path) -> None:
    """`ironcliw-mem status` in a process whose loader finds a stand-in libnvidia-ml.so.1: the
    real probe, the level with thresholds from the environment, and the status output."""
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": str(build_fake_nvml(tmp_path)),
        # Device 0 uses 12.5 % of its memory, device 1 13.75 %.
        "PRESSURE_GPU_NVIDIA_YELLOW_ENTER": "13",
        "PRESSURE_GPU_NVIDIA_YELLOW_EXIT": "12",
    }
    command = [sys.executable, "-m", "ironcliw_mem", "status"]
    as_json = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    gpus = json.loads(as_json.stdout)["gpu"]
    assert [(d["index"], d["name"], d["level"]) for d in gpus] == [
        (0, "Fake GPU 0 / call 1", "green"),
        (1, "Fake GPU 1 / call 2", "yellow"),
    ]
    assert gpus[1]["total_bytes"] == 80 * GIB
    assert gpus[1]["used_bytes"] == 11 * GIB
    assert gpus[1]["reserved_bytes"] == GIB // 2
    assert gpus[1]["free_bytes"] == 80 * GIB - GIB // 2 - 11 * GIB
    assert gpus[1]["process_bytes"] == 128 * 1024**2  # the status process's two entries
    assert gpus[0]["process_bytes"] == 0
    assert gpus[1]["reasons"] == ["gpu memory used of total 13.8% >= 13.0%"]
    text = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "gpu 1 Fake GPU 1 / call 2: yellow, 11.00 GB used of 80.00 GB (13.8 %)" in text
