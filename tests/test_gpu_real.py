"""The GPU reading and level on a real NVIDIA GPU: allocate a known number of bytes and watch them.

Skipped where no NVIDIA driver (libnvidia-ml.so.1) or no device exists. The bytes are allocated
with what a GPU machine has: torch or cupy if importable, else the CUDA driver API (libcuda.so.1,
installed with the driver) through ctypes. The levels' thresholds are lowered through the
environment around the allocation rather than filling a large card.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import pytest

from ironcliw_mem import MacOSMemoryManager, MemoryConfig, MemoryPressure, Sample
from ironcliw_mem.gpu import GpuProbe, GpuReading

MIB = 1024**2
ALLOCATION = 1024 * MIB
# The driver rounds allocations up (2 MiB pages) and may map a little bookkeeping with them.
SLACK = 64 * MIB


def _nvml_reading() -> GpuReading:
    return GpuProbe(refresh_s=0.0).read()


def _skip_reason() -> str | None:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return "no NVIDIA driver here (libnvidia-ml.so.1 cannot be loaded)"
    reading = _nvml_reading()
    if not reading.devices:
        return "the NVIDIA driver reports no device: " + "; ".join(reading.problems)
    return None


SKIP_REASON = _skip_reason()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


class CudaDriver:
    """cuMemAlloc through libcuda.so.1 on device 0's primary context."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libcuda.so.1")
        self._check(self.lib.cuInit(0), "cuInit")
        device = ctypes.c_int()
        self._check(self.lib.cuDeviceGet(ctypes.byref(device), 0), "cuDeviceGet")
        self.device = device
        self.context = ctypes.c_void_p()
        self._check(
            self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(self.context), device),
            "cuDevicePrimaryCtxRetain",
        )
        self._check(self.lib.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")

    @staticmethod
    def _check(code: int, call: str) -> None:
        if code != 0:
            raise RuntimeError(f"{call} failed with CUresult {code}")

    def alloc(self, size: int) -> Callable[[], None]:
        pointer = ctypes.c_uint64()
        self._check(
            self.lib.cuMemAlloc_v2(ctypes.byref(pointer), ctypes.c_size_t(size)), "cuMemAlloc_v2"
        )
        return lambda: self._check(self.lib.cuMemFree_v2(pointer), "cuMemFree_v2")


def _allocator() -> tuple[str, Callable[[int], Callable[[], None]], Callable[[], None]]:
    """(library name, alloc(size) -> free(), synchronise) for device 0, its context created."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.init()
            torch.zeros(1, device="cuda:0")  # the context, before the baseline

            def torch_alloc(size: int) -> Callable[[], None]:
                block = torch.empty(size, dtype=torch.uint8, device="cuda:0")
                holder = [block]

                def free() -> None:
                    holder.clear()
                    torch.cuda.empty_cache()

                return free

            return "torch", torch_alloc, torch.cuda.synchronize
    except ImportError:
        pass
    try:
        import cupy

        cupy.zeros(1, dtype=cupy.uint8)
        pool = cupy.get_default_memory_pool()

        def cupy_alloc(size: int) -> Callable[[], None]:
            holder = [cupy.empty(size, dtype=cupy.uint8)]

            def free() -> None:
                holder.clear()
                pool.free_all_blocks()

            return free

        return "cupy", cupy_alloc, cupy.cuda.runtime.deviceSynchronize
    except ImportError:
        pass
    driver = CudaDriver()
    return "libcuda", driver.alloc, lambda: driver._check(driver.lib.cuCtxSynchronize(), "sync")


@pytest.fixture(scope="module")
def allocator() -> tuple[str, Callable[[int], Callable[[], None]], Callable[[], None]]:
    return _allocator()


def _moved_device(before: GpuReading, after: GpuReading) -> tuple[Any, Any]:
    """The device whose used bytes moved most (CUDA's device 0 need not be NVML's index 0)."""
    pairs = list(zip(before.devices, after.devices, strict=True))
    return max(pairs, key=lambda p: p[1].used_bytes - p[0].used_bytes)


def test_used_and_process_bytes_move_by_the_allocation(
    allocator: tuple[str, Callable[[int], Callable[[], None]], Callable[[], None]],
) -> None:
    name, alloc, synchronise = allocator
    before = _nvml_reading()
    free = alloc(ALLOCATION)
    synchronise()
    try:
        after = _nvml_reading()
    finally:
        free()
        synchronise()
    released = _nvml_reading()
    b, a = _moved_device(before, after)
    used_delta = a.used_bytes - b.used_bytes
    assert ALLOCATION <= used_delta <= ALLOCATION + SLACK, (name, used_delta)
    if b.process_bytes is None or b.process_bytes == 0:
        pytest.skip(
            f"NVML does not attribute this process's context ({b.process_bytes}): "
            "its pid is not the one the driver sees (a PID namespace); used bytes checked"
        )
    assert a.process_bytes is not None
    process_delta = a.process_bytes - b.process_bytes
    assert ALLOCATION <= process_delta <= ALLOCATION + SLACK, (name, process_delta)
    r = next(d for d in released.devices if d.index == a.index)
    assert r.used_bytes <= b.used_bytes + SLACK, "the freed bytes leave the reading"


async def test_the_level_follows_past_thresholds_lowered_through_the_environment(
    allocator: tuple[str, Callable[[int], Callable[[], None]], Callable[[], None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _name, alloc, synchronise = allocator
    probe_before = _nvml_reading()
    # Find the device the allocator uses, then put yellow halfway into the allocation's step.
    free = alloc(ALLOCATION)
    synchronise()
    probe_after = _nvml_reading()
    free()
    synchronise()
    b, _ = _moved_device(probe_before, probe_after)
    base = 100 * b.used_bytes / b.total_bytes
    step = 100 * ALLOCATION / b.total_bytes
    monkeypatch.setenv("PRESSURE_GPU_NVIDIA_YELLOW_ENTER", f"{base + step / 2:.6f}")
    monkeypatch.setenv("PRESSURE_GPU_NVIDIA_YELLOW_EXIT", f"{base + step / 4:.6f}")
    monkeypatch.setenv("PRESSURE_DOWNGRADE_DWELL", "0")
    calm = Sample.from_values(total=1 << 34, available=1 << 33, sources=["meminfo"])
    manager = MacOSMemoryManager(
        MemoryConfig(), read_sample=lambda: calm, watch_kernel_events=False, read_gpu=_nvml_reading
    )
    changes: list[tuple[MemoryPressure, dict[str, Any]]] = []
    manager.register_gpu_pressure_callback(
        lambda level, device: (
            changes.append((level, device)) if device["index"] == b.index else None
        )
    )
    await manager.check_pressure()
    assert [level for level, _ in changes] == [MemoryPressure.GREEN]
    free = alloc(ALLOCATION)
    synchronise()
    try:
        await manager.check_pressure()
        assert changes[-1][0] is MemoryPressure.YELLOW
        assert changes[-1][1]["reasons"][0].startswith("gpu memory used of total")
    finally:
        free()
        synchronise()
    await manager.check_pressure()
    assert [level for level, _ in changes] == [
        MemoryPressure.GREEN,
        MemoryPressure.YELLOW,
        MemoryPressure.GREEN,
    ]
