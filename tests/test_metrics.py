"""The metrics as a prometheus-client Collector on a user's own registry: parsed back with
prometheus-client's parser next to a user's metric, conventional names, the cgroup/host scope of
each memory figure, and the docs' table listing every family."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ironcliw_mem import MacOSMemoryManager, MemoryConfig, Sample
from ironcliw_mem.capture import MultiSpaceCaptureEngine, SpaceCaptureRequest, SyntheticBackend
from ironcliw_mem.gpu import GpuReading
from ironcliw_mem.tools.dashboard import DashboardState
from ironcliw_mem.tools.metrics import MemoryCollector
from support import ScriptedReader

GIB = 1024**3
MIB = 1024**2
DOCS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
# Every signal a probe can give, inside a 4 GiB cgroup whose working set is 3 GiB: the cgroup's
# headroom (25 %) is tighter than the host's (75 %).
EVERY_SIGNAL = Sample.from_values(
    total=16 * GIB, available=12 * GIB, used=3 * GIB, wired=GIB, compressed=GIB // 2,
    swap_total=2 * GIB, swap_used=GIB // 4, psi_some_avg10=12.5, psi_some_avg60=3.0,
    psi_full_avg10=1.0, psi_full_avg60=0.5, psi_some_total=2_500_000, psi_full_total=500_000,
    cgroup_limit=4 * GIB, cgroup_high=3 * GIB, cgroup_usage=3 * GIB + GIB // 2,
    cgroup_working_set=3 * GIB, cgroup_events_high=5, cgroup_events_max=2, cgroup_events_oom=1,
    macos_pressure_level=2, memorystatus_level=40,
    sources=["meminfo", "cgroup-v2", "cgroup-psi", "cgroup-events"],
)  # fmt: skip
HOST_ONLY = Sample.from_values(
    total=16 * GIB, available=12 * GIB, psi_some_avg10=0.0, psi_full_avg10=0.0,
    psi_some_total=7_000_000, sources=["meminfo", "psi"],
)  # fmt: skip


def one_gpu() -> GpuReading:
    return GpuReading(
        devices=[{"index": 0, "name": "NVIDIA A100", "total_bytes": 80 * GIB,
                  "used_bytes": 8 * GIB, "reserved_bytes": 0, "process_bytes": 512 * MIB}]
    )  # fmt: skip


async def manager_reading(sample: Sample, **extra: Any) -> MacOSMemoryManager:
    manager = MacOSMemoryManager(
        MemoryConfig(env={}), read_sample=lambda: sample, watch_kernel_events=False, **extra
    )
    await manager.check_pressure()
    return manager


def parse(text: bytes) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def value(family: Any, **labels: str) -> float:
    matches = [
        s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matches) == 1, (family.name, labels, family.samples)
    return float(matches[0])


async def test_the_collector_joins_a_users_registry_next_to_their_metrics() -> None:
    manager = await manager_reading(EVERY_SIGNAL)
    engine = MultiSpaceCaptureEngine(
        memory_manager=manager, backend=SyntheticBackend(spaces=2, size=(160, 100))
    )
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2]))
    registry = CollectorRegistry()
    requests = Counter("agent_requests", "The agent's own metric", registry=registry)
    requests.inc(3)
    registry.register(MemoryCollector(manager, engine))
    parsed = parse(generate_latest(registry))
    await engine.close()
    assert value(parsed["agent_requests"]) == 3  # the user's metric, untouched
    assert value(parsed["ironcliw_build_info"]) == 1
    assert parsed["ironcliw_build_info"].samples[0].labels["version"]
    assert value(parsed["ironcliw_memory_pressure"], level="green") == 0  # cgroup headroom 25 %
    assert value(parsed["ironcliw_memory_total_bytes"], scope="host") == 16 * GIB
    assert value(parsed["ironcliw_memory_total_bytes"], scope="cgroup") == 4 * GIB
    assert value(parsed["ironcliw_memory_available_bytes"], scope="cgroup") == GIB
    assert value(parsed["ironcliw_memory_used_bytes"], scope="cgroup") == 3.5 * GIB
    assert value(parsed["ironcliw_memory_headroom_ratio"], scope="cgroup") == 0.25
    # PSI from the cgroup's memory.pressure, in seconds, named like node_exporter's.
    assert value(parsed["ironcliw_pressure_memory_waiting_seconds"], scope="cgroup") == 2.5
    assert value(parsed["ironcliw_pressure_memory_stalled_seconds"], scope="cgroup") == 0.5
    assert value(parsed["ironcliw_pressure_memory_some_avg10_ratio"], scope="cgroup") == 0.125
    assert value(parsed["ironcliw_cgroup_memory_events"], event="oom") == 1
    assert value(parsed["ironcliw_macos_memorystatus_free_ratio"], scope="host") == 0.4
    assert value(parsed["ironcliw_captures"]) >= 1
    assert value(parsed["ironcliw_cache_entries"]) >= 1
    assert value(parsed["ironcliw_process_resident_memory_bytes"]) > 0


async def test_outside_a_cgroup_every_figure_says_host() -> None:
    registry = CollectorRegistry()
    registry.register(MemoryCollector(await manager_reading(HOST_ONLY)))
    parsed = parse(generate_latest(registry))
    scopes = {s.labels["scope"] for f in parsed.values() for s in f.samples if "scope" in s.labels}
    assert scopes == {"host"}
    assert value(parsed["ironcliw_pressure_memory_waiting_seconds"], scope="host") == 7.0
    assert value(parsed["ironcliw_memory_headroom_ratio"], scope="host") == 0.75
    assert "ironcliw_cache_bytes" not in parsed  # no engine, no cache figures


async def test_names_follow_the_prometheus_conventions() -> None:
    families = await every_family()
    for family in families:
        assert family.name.startswith("ironcliw_"), family.name
        assert not re.search(r"_(percent|microseconds|mb|gb|kb)(_|$)", family.name), family.name
        if family.type == "counter":
            assert all(s.name == family.name + "_total" for s in family.samples), family.name
        for sample in family.samples:
            if family.name.endswith("_ratio"):
                assert 0.0 <= sample.value <= 1.0, (family.name, sample)
    names = {f.name for f in families}
    # The GPU families on main survive the renaming.
    assert {"ironcliw_gpu_memory_used_bytes", "ironcliw_gpu_memory_pressure"} <= names
    assert "ironcliw_dashboard_sample_age_seconds" in names


async def every_family() -> list[Any]:
    """Every family the package exports: every signal, a GPU, a cache, the dashboard's own."""
    manager = await manager_reading(
        EVERY_SIGNAL, read_gpu=one_gpu, activity_reader=ScriptedReader(idle=30.0)
    )
    await manager.check_activity()
    engine = MultiSpaceCaptureEngine(
        memory_manager=manager, backend=SyntheticBackend(spaces=2, size=(160, 100))
    )
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2]))
    state = DashboardState()
    from ironcliw_mem.tools.metrics import cache_stats_of

    state.publish(manager.get_stats_summary(), cache_stats_of(engine))
    await engine.close()
    return list(text_string_to_metric_families(state.metrics().decode()))


async def test_the_docs_table_lists_every_metric_and_no_other() -> None:
    table = DOCS.read_text().split("## Every metric", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(ironcliw_[a-z0-9_]+)`", table, re.M))
    exported = {f.name + ("_total" if f.type == "counter" else "") for f in await every_family()}
    assert exported - documented == set(), "exported but not in docs/metrics.md"
    assert documented - exported == set(), "in docs/metrics.md but never exported"


def test_a_collector_needs_a_manager_or_stats() -> None:
    with pytest.raises(TypeError, match="a manager or stats="):
        MemoryCollector()
