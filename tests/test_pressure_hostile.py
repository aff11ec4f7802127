"""The Linux probe against hostile and broken /proc and cgroup trees.

Files that never end (/dev/zero), that block (a FIFO), that are far larger than the real file,
and cgroup trees whose figures cannot be used. The dangerous cases run in a child process with a
memory cap and a timeout, so a regression fails the test instead of exhausting memory or hanging
pytest. Every case must end with a named problem and a level that is never green on the host's
figures alone when the process is known to sit in a limited cgroup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ironcliw_mem import Classifier, PressureProbe, Sample
from test_pressure_probe import (
    GIB,
    MIB,
    V1_DIR,
    V2_DIR,
    make_tree,
    meminfo,
    psi,
    v1_container,
    v2_container,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the Linux probe reads Linux file types"
)

CHILD_TIMEOUT_S = 30.0
CHILD_MEMORY_CAP = 2 * GIB

# Reads the tree twice under a memory cap and prints what it found as one JSON line.
CHILD = r"""
import json, resource, sys
cap = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from ironcliw_mem._native import Classifier, PressureProbe
probe = PressureProbe(sys.argv[1], sys.argv[2], refresh_s=0.0)
probe.read()
s = probe.read()
v = Classifier().update(s, 0.0)
print(json.dumps({"problems": s.problems, "sources": s.sources, "level": v.level,
                  "total": s.total, "cgroup": probe.cgroup}))
"""


def read_in_child(proc: str, cgroup: str) -> dict[str, Any]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, proc, cgroup, str(CHILD_MEMORY_CAP)],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the probe blocked for more than {CHILD_TIMEOUT_S} s")
    assert done.returncode == 0, f"the probe crashed ({done.returncode}): {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def zero_device(path: Path) -> None:
    path.symlink_to("/dev/zero")


def fifo(path: Path) -> None:
    os.mkfifo(path)


def huge(path: Path) -> None:
    with path.open("w") as f:
        f.write(meminfo())
        f.truncate(8 * GIB)  # sparse: no disk, but 8 GiB to read


HOSTILE: list[tuple[str, str, Callable[[Path], None], str]] = [
    ("meminfo-dev-zero", "proc/meminfo", zero_device, "not a regular file"),
    ("meminfo-fifo", "proc/meminfo", fifo, "not a regular file"),
    ("meminfo-huge", "proc/meminfo", huge, "more than"),
    ("psi-fifo", "proc/pressure/memory", fifo, "not a regular file"),
    ("psi-dev-zero", "proc/pressure/memory", zero_device, "not a regular file"),
    ("proc-self-cgroup-dev-zero", "proc/self/cgroup", zero_device, "not a regular file"),
    ("proc-self-cgroup-fifo", "proc/self/cgroup", fifo, "not a regular file"),
    ("cgroup-current-fifo", f"{V2_DIR}/memory.current", fifo, "not a regular file"),
    ("cgroup-stat-dev-zero", f"{V2_DIR}/memory.stat", zero_device, "not a regular file"),
    ("cgroup-stat-huge", f"{V2_DIR}/memory.stat", huge, "more than"),
    ("cgroup-max-fifo", f"{V2_DIR}/memory.max", fifo, "not a regular file"),
    ("ancestor-max-fifo", "cgroup/app.slice/memory.max", fifo, "not a regular file"),
]


@pytest.mark.parametrize(
    ("rel", "make", "fragment"),
    [pytest.param(rel, make, fragment, id=name) for name, rel, make, fragment in HOSTILE],
)
def test_special_and_endless_files_are_named_problems_never_a_crash_or_a_hang(
    tmp_path: Path, rel: str, make: Callable[[Path], None], fragment: str
) -> None:
    files = v2_container(**{f"{V2_DIR}/memory.pressure": psi()})
    files.pop(rel, None)
    if rel == "proc/pressure/memory":
        del files[f"{V2_DIR}/memory.pressure"]  # else the cgroup's own PSI is read instead
    if rel == "cgroup/app.slice/memory.max":
        files["cgroup/app.slice/memory.high"] = "max\n"
    proc, cgroup = make_tree(tmp_path, files)
    target = tmp_path / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    make(target)
    found = read_in_child(proc, cgroup)
    named = [p for p in found["problems"] if fragment in p]
    assert named, f"no problem mentions {fragment!r}: {found['problems']}"
    if rel.startswith("cgroup/"):
        # A limit binds this cgroup (900 MiB) and a file needed to judge it was refused.
        assert found["level"] != "green", found


def test_meminfo_of_a_realistic_size_is_read_whole(tmp_path: Path) -> None:
    # A real meminfo is ~1.5 KiB; one padded to 60 KiB is still read (the bound is 64 KiB).
    padded = meminfo() + "".join(f"Padding{i}:  0 kB\n" for i in range(3000))
    assert 50_000 < len(padded) < 64 * 1024
    proc, cgroup = make_tree(tmp_path, {"proc/meminfo": padded})
    s = PressureProbe(proc, cgroup).read()
    assert "meminfo" in s.sources
    assert s.total == 16 * GIB


# --- a container's limit never vanishes without a word ------------------------------------------


def level_of(s: Sample) -> str:
    return Classifier().update(s, 0.0).level


def at_98_percent(**overrides: str) -> dict[str, str]:
    """A v2 cgroup at 98 % of its 1 GiB limit on a calm host (half its memory free)."""
    files = v2_container(
        **{
            f"{V2_DIR}/memory.current": f"{1004 * MIB}\n",
            f"{V2_DIR}/memory.max": f"{1 * GIB}\n",
            f"{V2_DIR}/memory.high": "max\n",
            f"{V2_DIR}/memory.stat": "anon 1000\ninactive_file 0\n",
            f"{V2_DIR}/memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
            f"{V2_DIR}/memory.pressure": psi(),
            "proc/pressure/memory": psi(),
        }
    )
    files.update(overrides)
    return files


def probe_of(tmp_path: Path, files: dict[str, str]) -> PressureProbe:
    return PressureProbe(*make_tree(tmp_path, files), refresh_s=0.0)


def test_the_healthy_98_percent_cgroup_is_red(tmp_path: Path) -> None:
    s = probe_of(tmp_path, at_98_percent()).read()
    assert s.problems == []
    assert level_of(s) == "red"


def test_a_limited_cgroup_whose_usage_is_missing_never_reads_green(tmp_path: Path) -> None:
    files = at_98_percent()
    del files[f"{V2_DIR}/memory.current"]
    s = probe_of(tmp_path, files).read()
    assert any(p.startswith("cgroup memory.current:") for p in s.problems), s.problems
    verdict = Classifier().update(s, 0.0)
    assert verdict.level == "unknown"
    assert any("cgroup" in r and "host" in r for r in verdict.reasons), verdict.reasons


def test_a_limited_cgroup_whose_usage_is_unreadable_never_reads_green(tmp_path: Path) -> None:
    files = at_98_percent()
    probe_dir = tmp_path / V2_DIR
    files[f"{V2_DIR}/memory.current"] = "not a number\n"
    s = probe_of(tmp_path, files).read()
    assert probe_dir.is_dir()
    assert any("memory.current" in p for p in s.problems)
    assert level_of(s) == "unknown"


def test_a_limit_that_cannot_be_read_never_reads_green(tmp_path: Path) -> None:
    s = probe_of(tmp_path, at_98_percent(**{f"{V2_DIR}/memory.max": "lots\n"})).read()
    assert any("memory.max" in p for p in s.problems)
    assert level_of(s) == "unknown"


def test_host_pressure_still_counts_while_the_cgroup_is_unreadable(tmp_path: Path) -> None:
    files = at_98_percent(**{"proc/meminfo": meminfo(available_kb=512 * 1024)})
    del files[f"{V2_DIR}/memory.current"]
    s = probe_of(tmp_path, files).read()
    assert level_of(s) == "red"  # the host itself has 3 % left: known without the cgroup


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("garbage\n", "cgroup"), ("", "cgroup"), ("0::/../../etc\n", "..")],
    ids=["garbage", "empty", "dot-dot"],
)
def test_an_unusable_proc_self_cgroup_is_a_named_problem(
    tmp_path: Path, text: str, fragment: str
) -> None:
    s = probe_of(tmp_path, at_98_percent(**{"proc/self/cgroup": text})).read()
    named = [p for p in s.problems if p.startswith("cgroup") and fragment in p]
    assert named, s.problems


def test_a_missing_proc_self_cgroup_is_a_named_problem(tmp_path: Path) -> None:
    files = at_98_percent()
    del files["proc/self/cgroup"]
    s = probe_of(tmp_path, files).read()
    assert any(p.startswith("cgroup") and "self/cgroup" in p for p in s.problems), s.problems


def test_dot_dot_cannot_walk_out_of_the_cgroup_root(tmp_path: Path) -> None:
    # A limited "cgroup" planted next to the cgroup root: reaching it needs "..".
    files = at_98_percent(**{"proc/self/cgroup": "0::/../outside\n"})
    files["outside/memory.current"] = "1\n"
    files["outside/memory.max"] = "100\n"
    probe = probe_of(tmp_path, files)
    assert probe.cgroup is None or "outside" not in probe.cgroup


@pytest.mark.parametrize(
    ("rel", "text", "fragment"),
    [
        (f"{V2_DIR}/memory.stat", "garbage\n", "memory.stat"),
        (f"{V2_DIR}/memory.stat", "anon 5\n", "inactive_file"),
        (f"{V2_DIR}/memory.events", "garbage\n", "memory.events"),
        (f"{V2_DIR}/memory.events", "low 0\n", "memory.events"),
    ],
    ids=["stat-garbage", "stat-no-inactive", "events-garbage", "events-no-counters"],
)
def test_v2_garbage_keyed_files_are_named_not_zeros(
    tmp_path: Path, rel: str, text: str, fragment: str
) -> None:
    s = probe_of(tmp_path, at_98_percent(**{rel: text})).read()
    assert any(fragment in p for p in s.problems), s.problems
    if "stat" in rel:
        assert s.cgroup_working_set is None
        assert level_of(s) != "green"
    else:
        assert "cgroup-events" not in s.sources
        assert s.cgroup_events_max is None


@pytest.mark.parametrize(
    ("rel", "text", "fragment"),
    [
        (f"{V1_DIR}/memory.stat", "garbage\n", "memory.stat"),
        (f"{V1_DIR}/memory.oom_control", "garbage\n", "memory.oom_control"),
        (f"{V1_DIR}/memory.oom_control", "under_oom 0\n", "oom_kill"),
    ],
    ids=["stat-garbage", "oom-control-garbage", "oom-control-no-kills"],
)
def test_v1_garbage_keyed_files_are_named_not_zeros(
    tmp_path: Path, rel: str, text: str, fragment: str
) -> None:
    s = probe_of(tmp_path, v1_container(**{rel: text})).read()
    assert any(fragment in p for p in s.problems), s.problems


@pytest.mark.parametrize("rel", [f"{V2_DIR}/memory.max", f"{V2_DIR}/memory.high"])
def test_a_v2_limit_of_zero_is_a_problem_not_no_limit(tmp_path: Path, rel: str) -> None:
    s = probe_of(tmp_path, at_98_percent(**{rel: "0\n"})).read()
    assert any("is 0" in p for p in s.problems), s.problems
    assert level_of(s) != "green"


def test_a_v1_limit_of_zero_is_a_problem_not_no_limit(tmp_path: Path) -> None:
    stat = f"total_inactive_file {100 * MIB}\nhierarchical_memory_limit 0\n"
    s = probe_of(tmp_path, v1_container(**{f"{V1_DIR}/memory.stat": stat})).read()
    assert any("is 0" in p for p in s.problems), s.problems
    assert level_of(s) != "green"


# --- the watcher sets up only on regular files, without blocking --------------------------------

WATCHER_CHILD = r"""
import sys
from ironcliw_mem._native import PressureWatcher
try:
    w = PressureWatcher(sys.argv[1], sys.argv[2], mechanism=sys.argv[3])
    print("set up:", w.detail)
except OSError as error:
    print("refused:", error)
"""


@pytest.mark.parametrize(
    ("mechanism", "fifo_at", "files"),
    [
        ("psi-trigger", "proc/pressure/memory", {}),
        (
            "cgroup-v1-pressure-level",
            f"{V1_DIR}/memory.pressure_level",
            {
                "proc/self/cgroup": "4:memory:/docker/abc\n",
                f"{V1_DIR}/memory.usage_in_bytes": "1\n",
            },
        ),
        (
            "cgroup-v1-pressure-level",
            f"{V1_DIR}/cgroup.event_control",
            {
                "proc/self/cgroup": "4:memory:/docker/abc\n",
                f"{V1_DIR}/memory.usage_in_bytes": "1\n",
                f"{V1_DIR}/memory.pressure_level": "",
            },
        ),
    ],
    ids=["psi-fifo", "pressure-level-fifo", "event-control-fifo"],
)
def test_the_watcher_refuses_a_fifo_instead_of_blocking_on_it(
    tmp_path: Path, mechanism: str, fifo_at: str, files: dict[str, str]
) -> None:
    proc, cgroup = make_tree(tmp_path, files)
    target = tmp_path / fifo_at
    target.parent.mkdir(parents=True, exist_ok=True)
    fifo(target)
    try:
        done = subprocess.run(
            [sys.executable, "-c", WATCHER_CHILD, proc, cgroup, mechanism],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"setting up the watcher blocked for more than {CHILD_TIMEOUT_S} s")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("refused:"), done.stdout
    assert Path(fifo_at).name in done.stdout
    # Write-only, a FIFO without a reader fails to open at once (ENXIO); else fstat refuses it.
    assert "not a regular file (a FIFO)" in done.stdout or "os error 6" in done.stdout
