"""Real pressure: a child process in a memory-limited cgroup fills it to ~80 % and ~95 %.

The probe runs inside the child (so it finds the child's own cgroup through /proc/self/cgroup)
and reports its verdicts as JSON lines: yellow at ~80 %, red at ~95 %, green again after the
memory is released and two (short) dwells have passed. Needs permission to create a memory
cgroup (root on a cgroup v1 memory hierarchy, or a cgroup v2 root delegating "memory"); skipped
with the reason otherwise. The cgroup is always removed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ironcliw_mem import PressureWatcher

LIMIT = 256 * 1024 * 1024
CHUNK = 4 * 1024 * 1024
DWELL_S = 0.5
CHILD_TIMEOUT_S = 120.0
# Not a timing assertion: a hang guard, far above the ~1 s wakes measured by the benchmark.
WAKE_GUARD_S = 30.0

CHILD = r"""
import json, sys, time
from ironcliw_mem import Classifier, PressureProbe, Thresholds

CHUNK, DWELL_S = int(sys.argv[1]), float(sys.argv[2])
sys.stdin.readline()  # the parent has moved this process into the test cgroup
probe = PressureProbe()  # created after the move: finds the new cgroup
# Only the cgroup's headroom is under test. A v1 cgroup has no PSI of its own, so the PSI rules
# would read the whole machine's stalls (other jobs, earlier tests) and are switched off here.
classifier = Classifier(Thresholds(
    downgrade_dwell=DWELL_S,
    yellow_some10_enter=100.0, yellow_some10_exit=99.0,
    red_some10_enter=100.0, red_some10_exit=99.0,
    red_full10_enter=100.0, red_full10_exit=99.0,
))


def report(phase):
    s = probe.read()
    v = classifier.update(s, time.monotonic())
    print(json.dumps({
        "phase": phase, "level": v.level, "reasons": v.reasons, "cgroup": probe.cgroup,
        "working_set": s.cgroup_working_set, "limit": s.cgroup_limit, "problems": s.problems,
    }), flush=True)
    return v


def fill(chunks, share):
    while True:
        s = probe.read()
        if s.cgroup_limit is None or s.cgroup_working_set is None:
            return
        if s.cgroup_working_set >= share * s.cgroup_limit:
            return
        chunks.append(b"\x01" * CHUNK)  # written, so every page is really charged


report("start")
chunks = []
fill(chunks, 0.80)
report("80%")
fill(chunks, 0.95)
report("95%")
chunks.clear()
deadline = time.monotonic() + 20 * DWELL_S + 10
while True:
    v = report("released")
    if v.level == "green" or time.monotonic() > deadline:
        break
    time.sleep(DWELL_S / 5)
"""


def _v1_parent() -> Path | None:
    root = Path("/sys/fs/cgroup/memory")
    return root if (root / "memory.limit_in_bytes").exists() else None


def _v2_parent() -> Path | None:
    root = Path("/sys/fs/cgroup")
    try:
        delegated = (root / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    return root if "memory" in delegated else None


def _create(name: str, limit: int) -> tuple[Path, str]:
    """Creates a memory cgroup with `limit`; returns it and its /proc/self/cgroup line."""
    reasons: list[str] = []
    candidates = (
        (_v1_parent(), "memory.limit_in_bytes", "4:memory:/{}"),
        (_v2_parent(), "memory.max", "0::/{}"),
    )
    for parent, limit_file, line in candidates:
        if parent is None:
            continue
        path = parent / name
        try:
            path.mkdir()
        except OSError as exc:
            reasons.append(f"cannot create {path}: {exc}")
            continue
        try:
            (path / limit_file).write_text(str(limit))
        except OSError as exc:
            reasons.append(f"cannot limit {path}: {exc}")
            path.rmdir()
            continue
        return path, line.format(name)
    pytest.skip(
        "no memory cgroup can be created here: "
        + ("; ".join(reasons) or "no v1 memory hierarchy and no v2 root delegating memory")
    )


def _remove(path: Path) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


@pytest.fixture
def make_cgroup() -> Iterator[Callable[[int], tuple[Path, str]]]:
    """A factory of memory-limited cgroups, all removed at the end."""
    if not sys.platform.startswith("linux"):
        pytest.skip("cgroups exist only on Linux")
    made: list[Path] = []

    def make(limit: int) -> tuple[Path, str]:
        path, line = _create(f"ironcliw-test-{os.getpid()}-{len(made)}", limit)
        made.append(path)
        return path, line

    try:
        yield make
    finally:
        for path in made:
            _remove(path)


def _run_child(cgroup: Path) -> list[dict[str, Any]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(CHUNK), str(DWELL_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (cgroup / "cgroup.procs").write_text(str(child.pid))
        out, err = child.communicate("go\n", timeout=CHILD_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, f"child failed ({child.returncode}): {err}"
    return [json.loads(line) for line in out.splitlines()]


def test_probe_inside_a_limited_cgroup_goes_yellow_red_and_back_to_green(
    make_cgroup: Callable[[int], tuple[Path, str]],
) -> None:
    limited_cgroup, _ = make_cgroup(LIMIT)
    reports = _run_child(limited_cgroup)
    by_phase = {r["phase"]: r for r in reports}
    start = by_phase["start"]
    assert start["cgroup"].endswith(limited_cgroup.name), start
    assert start["limit"] == LIMIT, start
    assert start["level"] == "green", start

    at80 = by_phase["80%"]
    assert at80["level"] == "yellow", at80
    assert any(r.startswith("headroom (cgroup)") for r in at80["reasons"]), at80

    at95 = by_phase["95%"]
    assert at95["level"] == "red", at95
    assert any(r.startswith("headroom (cgroup)") for r in at95["reasons"]), at95

    released = [r["level"] for r in reports if r["phase"] == "released"]
    assert released[-1] == "green", reports
    # Down one level at a time: red, (red...), yellow, (yellow...), green.
    steps = [lvl for i, lvl in enumerate(released) if i == 0 or released[i - 1] != lvl]
    assert steps == ["red", "yellow", "green"], released


THRASHER = r"""
import os, sys
hold_mib, path = int(sys.argv[1]), sys.argv[2]
sys.stdin.readline()  # moved into the cgroup by now
hold = b"\x01" * (hold_mib << 20)
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
size = os.fstat(fd).st_size
print("thrashing", flush=True)
while True:
    off = 0
    while off < size:
        os.pread(fd, 1 << 16, off)
        off += 1 << 16
"""


@pytest.mark.parametrize("mechanism", ["psi-trigger", "cgroup"])
def test_watcher_wakes_on_real_memory_stall(
    mechanism: str, make_cgroup: Callable[[int], tuple[Path, str]], tmp_path: Path
) -> None:
    """Three readers thrash their page cache in a 64 MiB cgroup (holding 12 MiB each, re-reading
    a 40 MiB file): the kernel reports memory stall and the watcher must say it was signalled.
    "cgroup" watches that cgroup itself (v1 memory.pressure_level, or a PSI trigger on its v2
    memory.pressure) through a proc root whose self/cgroup names it."""
    cgroup, membership = make_cgroup(64 << 20)
    if mechanism == "psi-trigger":
        if not Path("/proc/pressure/memory").exists():
            pytest.skip("this kernel has no PSI")
        watcher = PressureWatcher(mechanism="psi-trigger")
    else:
        proc = tmp_path / "proc"
        (proc / "self").mkdir(parents=True)
        (proc / "self/cgroup").write_text(membership + "\n")
        watcher = PressureWatcher(proc_root=str(proc))
        assert watcher.mechanism in ("cgroup-v1-pressure-level", "psi-trigger"), watcher.detail
        assert cgroup.name in watcher.detail
    while watcher.wait(0.5):  # drain anything pending from earlier pressure
        pass
    data = tmp_path / "thrash.bin"
    with data.open("wb") as f:
        f.write(os.urandom(40 << 20))
        f.flush()
        os.fsync(f.fileno())
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", THRASHER, "12", str(data)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for r in readers:
            (cgroup / "cgroup.procs").write_text(str(r.pid))
        for r in readers:
            assert r.stdin is not None
            r.stdin.write("go\n")
            r.stdin.flush()
        for r in readers:
            assert r.stdout is not None
            assert r.stdout.readline().strip() == "thrashing"
        signalled = watcher.wait(WAKE_GUARD_S)
    finally:
        for r in readers:
            r.kill()
            r.wait()
        watcher.close()
    assert signalled, f"no pressure signal within {WAKE_GUARD_S} s from {watcher.detail}"
