"""The Linux probe against fixture trees built in tmp_path, healthy and broken.

Each tree has a ``proc`` root (meminfo, pressure/memory, self/cgroup) and a ``cgroup`` root laid
out like /sys/fs/cgroup (v2 at the root or under ``unified/``, v1 under ``memory/``). Every broken
input must give a clear outcome: a named problem and a missing source, or the level "unknown";
never an exception.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from ironcliw_mem import (
    Classifier,
    PressureProbe,
    Sample,
    Thresholds,
    psutil_sample,
    read_sample,
)

GIB = 1 << 30
MIB = 1 << 20
V1_UNLIMITED = "9223372036854771712"


def meminfo(total_kb: int = 16 * 1024 * 1024, available_kb: int = 8 * 1024 * 1024) -> str:
    return (
        f"MemTotal:       {total_kb} kB\n"
        "MemFree:         1000000 kB\n"
        f"MemAvailable:   {available_kb} kB\n"
        "Buffers:          100000 kB\n"
        "SwapTotal:       2097152 kB\n"
        "SwapFree:        1048576 kB\n"
    )


def psi(some10: float = 0.0, full10: float = 0.0) -> str:
    return (
        f"some avg10={some10:.2f} avg60=1.00 avg300=0.50 total=123456\n"
        f"full avg10={full10:.2f} avg60=0.50 avg300=0.25 total=6543\n"
    )


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_tree(tmp_path: Path, files: Mapping[str, str]) -> tuple[str, str]:
    write_tree(tmp_path, files)
    (tmp_path / "proc").mkdir(exist_ok=True)
    (tmp_path / "cgroup").mkdir(exist_ok=True)
    return str(tmp_path / "proc"), str(tmp_path / "cgroup")


def probe_of(tmp_path: Path, files: Mapping[str, str], refresh_s: float = 1.0) -> PressureProbe:
    proc, cgroup = make_tree(tmp_path, files)
    return PressureProbe(proc, cgroup, refresh_s=refresh_s)


def classify(sample: Sample) -> tuple[str, list[str]]:
    verdict = Classifier().update(sample, 0.0)
    return verdict.level, verdict.reasons


V2_DIR = "cgroup/app.slice/agent.scope"


def v2_container(**overrides: str) -> dict[str, str]:
    files = {
        "proc/meminfo": meminfo(),
        "proc/pressure/memory": psi(some10=1.0),
        "proc/self/cgroup": "0::/app.slice/agent.scope\n",
        f"{V2_DIR}/memory.current": f"{800 * MIB}\n",
        f"{V2_DIR}/memory.max": f"{1 * GIB}\n",
        f"{V2_DIR}/memory.high": f"{900 * MIB}\n",
        f"{V2_DIR}/memory.stat": f"anon {500 * MIB}\nfile {300 * MIB}\ninactive_file {200 * MIB}\n",
        f"{V2_DIR}/memory.events": "low 0\nhigh 3\nmax 1\noom 0\noom_kill 0\n",
        f"{V2_DIR}/memory.pressure": psi(some10=12.0, full10=2.0),
    }
    files.update(overrides)
    return files


V1_DIR = "cgroup/memory/docker/abc"


def v1_container(**overrides: str) -> dict[str, str]:
    files = {
        "proc/meminfo": meminfo(),
        "proc/pressure/memory": psi(),
        "proc/self/cgroup": "5:devices:/docker/abc\n4:memory:/docker/abc\n0::/\n",
        f"{V1_DIR}/memory.usage_in_bytes": f"{700 * MIB}\n",
        f"{V1_DIR}/memory.limit_in_bytes": f"{2 * GIB}\n",
        f"{V1_DIR}/memory.stat": (
            f"cache {300 * MIB}\nrss {400 * MIB}\ninactive_file {100 * MIB}\n"
            f"hierarchical_memory_limit {1 * GIB}\ntotal_inactive_file {100 * MIB}\n"
        ),
        f"{V1_DIR}/memory.failcnt": "7\n",
        f"{V1_DIR}/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    }
    files.update(overrides)
    return files


def test_v2_container_reads_its_own_cgroup_and_prefers_its_psi(tmp_path: Path) -> None:
    probe = probe_of(tmp_path, v2_container())
    s = probe.read()
    assert probe.cgroup == f"v2:{tmp_path / V2_DIR}"
    assert s.problems == []
    assert s.sources == ["meminfo", "cgroup-v2", "cgroup-psi", "cgroup-events"]
    assert s.total == 16 * GIB
    assert s.available == 8 * GIB
    assert s.used == 8 * GIB
    assert s.swap_total == 2 * GIB
    assert s.swap_used == 1 * GIB
    # The cgroup's PSI, not the host's.
    assert s.psi_some_avg10 == 12.0
    assert s.psi_full_avg10 == 2.0
    assert s.psi_some_total == 123456
    assert s.cgroup_usage == 800 * MIB
    assert s.cgroup_high == 900 * MIB
    assert s.cgroup_limit == 900 * MIB  # min(max, high)
    assert s.cgroup_working_set == 600 * MIB  # current - inactive_file
    assert (s.cgroup_events_high, s.cgroup_events_max, s.cgroup_events_oom) == (3, 1, 0)
    assert s.headroom == pytest.approx(100 * 300 / 900)
    level, reasons = classify(s)
    assert level == "yellow"
    assert reasons == ["psi some avg10 12.0% >= 10.0%"]


def test_v2_unlimited_cgroup_falls_back_to_system_headroom(tmp_path: Path) -> None:
    files = v2_container(
        **{f"{V2_DIR}/memory.max": "max\n", f"{V2_DIR}/memory.high": "max\n"},
        **{f"{V2_DIR}/memory.pressure": psi()},
    )
    s = probe_of(tmp_path, files).read()
    assert s.cgroup_limit is None
    assert s.cgroup_high is None
    assert s.headroom == pytest.approx(50.0)
    assert classify(s)[0] == "green"


def test_v2_hybrid_layout_under_unified(tmp_path: Path) -> None:
    files = {k.replace("cgroup/app", "cgroup/unified/app"): v for k, v in v2_container().items()}
    probe = probe_of(tmp_path, files)
    assert probe.cgroup == f"v2:{tmp_path / 'cgroup/unified/app.slice/agent.scope'}"
    assert probe.read().cgroup_limit == 900 * MIB


def test_v2_without_memory_pressure_uses_system_psi(tmp_path: Path) -> None:
    files = v2_container()
    del files[f"{V2_DIR}/memory.pressure"]
    s = probe_of(tmp_path, files).read()
    assert "psi" in s.sources
    assert "cgroup-psi" not in s.sources
    assert s.psi_some_avg10 == 1.0


def test_v1_container_limit_working_set_and_events(tmp_path: Path) -> None:
    probe = probe_of(tmp_path, v1_container())
    s = probe.read()
    assert probe.cgroup == f"v1:{tmp_path / V1_DIR}"
    assert s.problems == []
    assert s.sources == ["meminfo", "psi", "cgroup-v1", "cgroup-events"]
    # hierarchical_memory_limit (an ancestor's 1 GiB) beats the cgroup's own 2 GiB.
    assert s.cgroup_limit == 1 * GIB
    assert s.cgroup_usage == 700 * MIB
    assert s.cgroup_working_set == 600 * MIB  # usage - total_inactive_file
    assert s.cgroup_events_max == 7  # memory.failcnt
    assert s.cgroup_events_oom == 2  # oom_kill in memory.oom_control
    assert s.headroom == pytest.approx(100 * (1024 - 600) / 1024)


def test_v1_unlimited_means_no_limit(tmp_path: Path) -> None:
    files = v1_container(
        **{
            f"{V1_DIR}/memory.limit_in_bytes": V1_UNLIMITED + "\n",
            f"{V1_DIR}/memory.stat": (
                f"total_inactive_file {100 * MIB}\nhierarchical_memory_limit {V1_UNLIMITED}\n"
            ),
        }
    )
    s = probe_of(tmp_path, files).read()
    assert s.cgroup_limit is None
    assert s.headroom == pytest.approx(50.0)
    assert classify(s)[0] == "green"


def test_v1_without_hierarchical_limit_reads_limit_in_bytes(tmp_path: Path) -> None:
    files = v1_container(**{f"{V1_DIR}/memory.stat": f"total_inactive_file {100 * MIB}\n"})
    s = probe_of(tmp_path, files).read()
    assert s.cgroup_limit == 2 * GIB


def test_v1_near_its_limit_is_red_with_a_cgroup_reason(tmp_path: Path) -> None:
    files = v1_container(**{f"{V1_DIR}/memory.usage_in_bytes": f"{1000 * MIB}\n"})
    level, reasons = classify(probe_of(tmp_path, files).read())
    assert level == "red"
    assert reasons == ["headroom (cgroup) 12.1% <= 15.0%"]


def test_cgroup_path_not_visible_uses_the_hierarchy_root(tmp_path: Path) -> None:
    # A container without a cgroup namespace: /proc/self/cgroup names the host path, but the
    # container's own cgroup is mounted at the root of the hierarchy.
    files = {k.replace("memory/docker/abc", "memory"): v for k, v in v1_container().items()}
    probe = probe_of(tmp_path, files)
    assert probe.cgroup == f"v1:{tmp_path / 'cgroup/memory'}"
    assert probe.read().cgroup_limit == 1 * GIB


def test_files_are_kept_open_and_re_read(tmp_path: Path) -> None:
    probe = probe_of(tmp_path, v1_container(), refresh_s=0.0)  # no reuse: every read is fresh
    assert probe.read().psi_some_avg10 == 0.0
    # Rewritten in place (same inode): the next read sees the new text.
    with (tmp_path / "proc/pressure/memory").open("r+") as f:
        f.truncate(0)
        f.write(psi(some10=42.0))
    assert probe.read().psi_some_avg10 == 42.0
    # Unlinked after opening: still readable through the kept descriptor.
    (tmp_path / "proc/meminfo").unlink()
    s = probe.read()
    assert s.total == 16 * GIB
    assert s.problems == []


def test_v2_ancestor_limit_binds_the_cgroup(tmp_path: Path) -> None:
    files = v2_container(
        **{f"{V2_DIR}/memory.max": "max\n", f"{V2_DIR}/memory.high": "max\n"},
        **{
            "cgroup/app.slice/memory.max": f"{512 * MIB}\n",
            "cgroup/app.slice/memory.high": "max\n",
        },
    )
    s = probe_of(tmp_path, files).read()
    assert s.cgroup_high is None
    assert s.cgroup_limit == 512 * MIB  # set on the parent slice
    assert classify(s)[0] == "red"  # working set 600 MiB > 512 MiB: headroom 0 %


def test_unlimited_cgroup_figures_are_reused_within_refresh_s(tmp_path: Path) -> None:
    files = v1_container(
        **{
            f"{V1_DIR}/memory.limit_in_bytes": V1_UNLIMITED + "\n",
            f"{V1_DIR}/memory.stat": f"total_inactive_file {100 * MIB}\n",
        }
    )
    proc, cgroup = make_tree(tmp_path, files)
    cached = PressureProbe(proc, cgroup, refresh_s=3600.0)
    always = PressureProbe(proc, cgroup, refresh_s=0.0)
    assert cached.read().cgroup_usage == always.read().cgroup_usage == 700 * MIB
    with (tmp_path / V1_DIR / "memory.usage_in_bytes").open("r+") as f:
        f.truncate(0)
        f.write(f"{800 * MIB}\n")
    assert cached.read().cgroup_usage == 700 * MIB  # no limit: cannot move the level
    assert always.read().cgroup_usage == 800 * MIB
    with pytest.raises(ValueError, match="refresh_s"):
        PressureProbe(proc, cgroup, refresh_s=-1.0)


def test_a_limited_cgroup_is_read_every_time(tmp_path: Path) -> None:
    proc, cgroup = make_tree(tmp_path, v1_container())
    probe = PressureProbe(proc, cgroup, refresh_s=3600.0)
    assert probe.read().cgroup_usage == 700 * MIB
    with (tmp_path / V1_DIR / "memory.usage_in_bytes").open("r+") as f:
        f.truncate(0)
        f.write(f"{900 * MIB}\n")
    assert probe.read().cgroup_usage == 900 * MIB


# --- broken inputs: each gives a named problem or "unknown", never an exception ---------------


def test_missing_meminfo_is_a_named_problem_and_psi_still_classifies(tmp_path: Path) -> None:
    files = v1_container(**{"proc/pressure/memory": psi(full10=11.0)})
    del files["proc/meminfo"]
    s = probe_of(tmp_path, files).read()
    assert "meminfo" not in s.sources
    assert s.total is None
    assert s.available is None
    assert s.problems == [f"meminfo: {tmp_path / 'proc/meminfo'}: not found"]
    level, reasons = classify(s)
    assert level == "red"
    assert "psi full avg10 11.0% >= 10.0%" in reasons


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "meminfo: meminfo: no MemTotal line"),
        ("MemTotal: lots kB\n", 'meminfo: meminfo MemTotal: expected an integer, found "lots"'),
        ("MemTotal: 0 kB\n", "meminfo: meminfo: MemTotal is 0"),
        ("\x00\xff garbage", "meminfo: meminfo: no MemTotal line"),
    ],
)
def test_garbage_meminfo(tmp_path: Path, text: str, message: str) -> None:
    s = probe_of(tmp_path, v1_container(**{"proc/meminfo": text})).read()
    assert "meminfo" not in s.sources
    assert s.problems == [message]


def test_meminfo_without_memavailable_says_so(tmp_path: Path) -> None:
    s = probe_of(tmp_path, v1_container(**{"proc/meminfo": "MemTotal: 1000 kB\n"})).read()
    assert s.total == 1000 * 1024
    assert s.available is None
    assert s.problems == ["meminfo: no MemAvailable line (kernel older than 3.14)"]


def test_psi_absent_is_named_and_headroom_still_classifies(tmp_path: Path) -> None:
    files = v1_container(**{f"{V1_DIR}/memory.usage_in_bytes": f"{900 * MIB}\n"})
    del files["proc/pressure/memory"]
    s = probe_of(tmp_path, files).read()
    assert "psi" not in s.sources
    assert s.psi_some_avg10 is None
    assert s.psi_full_avg10 is None
    assert s.problems == [f"psi: {tmp_path / 'proc/pressure/memory'}: not found"]
    assert classify(s)[0] == "yellow"  # cgroup headroom (1024 - 800) / 1024 = 21.9 %


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("garbage\n", "unexpected line"),
        ("some avg10=x avg60=0 avg300=0 total=0\n", "avg10: not a number"),
        ("full avg10=1.00 avg60=0 avg300=0 total=0\n", 'no "some" line'),
        ("some avg10=250.00 avg60=0 avg300=0 total=0\n", "out of range"),
    ],
)
def test_garbage_psi(tmp_path: Path, text: str, fragment: str) -> None:
    s = probe_of(tmp_path, v1_container(**{"proc/pressure/memory": text})).read()
    assert "psi" not in s.sources
    assert len(s.problems) == 1
    assert s.problems[0].startswith("psi: psi")
    assert fragment in s.problems[0]


def test_garbage_cgroup_files_are_named_and_the_rest_is_read(tmp_path: Path) -> None:
    files = v2_container(
        **{
            f"{V2_DIR}/memory.current": "lots\n",
            f"{V2_DIR}/memory.events": "high many\n",
        }
    )
    s = probe_of(tmp_path, files).read()
    assert s.cgroup_usage is None
    assert s.cgroup_working_set is None
    assert s.cgroup_limit == 900 * MIB
    assert "cgroup-events" not in s.sources
    assert s.problems == [
        'cgroup memory.current: cgroup memory.current: expected an integer, found "lots"',
        'cgroup memory.events: cgroup memory.events high: expected an integer, found "many"',
    ]
    # Still classified from the cgroup's PSI and the system headroom.
    assert classify(s)[0] == "yellow"


def test_garbage_proc_self_cgroup_means_no_cgroup(tmp_path: Path) -> None:
    probe = probe_of(tmp_path, v1_container(**{"proc/self/cgroup": "garbage\n"}))
    assert probe.cgroup is None
    s = probe.read()
    assert "cgroup-v1" not in s.sources
    assert s.total == 16 * GIB


def test_empty_tree_is_unknown_never_green(tmp_path: Path) -> None:
    s = probe_of(tmp_path, {}).read()
    assert s.sources == []
    assert len(s.problems) == 3
    assert s.problems[1].startswith("cgroup: ")
    assert "self/cgroup: not found" in s.problems[1]
    level, reasons = classify(s)
    assert level == "unknown"
    assert reasons[0].startswith("no memory signal could be read: meminfo: ")
    assert "pressure/memory: not found" in reasons[0]


def test_unreadable_directory_in_place_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "proc/meminfo").mkdir(parents=True)
    s = probe_of(tmp_path, {"proc/pressure/memory": psi()}).read()
    assert "meminfo" not in s.sources
    assert s.problems
    assert s.problems[0].startswith("meminfo: ")
    assert classify(s)[0] == "green"  # PSI alone still says calm


# --- the real machine and the psutil fallback ---------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads this Linux machine")
def test_this_machine_reads_meminfo_and_is_not_unknown() -> None:
    s = PressureProbe().read()
    assert "meminfo" in s.sources
    assert s.total is not None
    assert s.total > 0
    assert Classifier().update(s, 0.0).level != "unknown"
    assert read_sample().sources == s.sources


def test_psutil_sample_uses_the_fallback_rule() -> None:
    s = psutil_sample()
    assert s.sources == ["psutil"]
    assert s.total is not None
    assert s.available is not None
    assert read_sample("psutil").sources == ["psutil"]
    mb = 1 << 20
    c = Classifier(Thresholds(downgrade_dwell=0.0))
    low = Sample.from_values(total=8000 * mb, available=300 * mb, sources=["psutil"])
    assert c.update(low, 0.0).reasons == ["available memory 300.0 MB <= 400.0 MB"]
    mid = Sample.from_values(total=8000 * mb, available=700 * mb, sources=["psutil"])
    assert c.update(mid, 1.0).level == "yellow"


def test_read_sample_with_an_explicit_probe(tmp_path: Path) -> None:
    probe = probe_of(tmp_path, v2_container())
    assert read_sample(probe=probe).cgroup_usage == 800 * MIB
    with pytest.raises(ValueError, match="source must be"):
        read_sample("bogus")  # type: ignore[arg-type]
