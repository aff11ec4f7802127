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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LIMIT = 256 * 1024 * 1024
CHUNK = 4 * 1024 * 1024
DWELL_S = 0.5
CHILD_TIMEOUT_S = 120.0

CHILD = r"""
import json, sys, time
from ironcliw_mem import Classifier, PressureProbe, Thresholds

CHUNK, DWELL_S = int(sys.argv[1]), float(sys.argv[2])
sys.stdin.readline()  # the parent has moved this process into the test cgroup
probe = PressureProbe()  # created after the move: finds the new cgroup
classifier = Classifier(Thresholds(downgrade_dwell=DWELL_S))


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


@pytest.fixture
def limited_cgroup() -> Iterator[Path]:
    if not sys.platform.startswith("linux"):
        pytest.skip("cgroups exist only on Linux")
    name = f"ironcliw-test-{os.getpid()}"
    reasons: list[str] = []
    made: Path | None = None
    candidates = ((_v1_parent(), "memory.limit_in_bytes"), (_v2_parent(), "memory.max"))
    for parent, limit_file in candidates:
        if parent is None:
            continue
        path = parent / name
        try:
            path.mkdir()
        except OSError as exc:
            reasons.append(f"cannot create {path}: {exc}")
            continue
        try:
            (path / limit_file).write_text(str(LIMIT))
        except OSError as exc:
            reasons.append(f"cannot limit {path}: {exc}")
            path.rmdir()
            continue
        made = path
        break
    if made is None:
        pytest.skip(
            "no memory cgroup can be created here: "
            + ("; ".join(reasons) or "no v1 memory hierarchy and no v2 root delegating memory")
        )
    try:
        yield made
    finally:
        for _ in range(50):
            try:
                made.rmdir()
                break
            except OSError:
                time.sleep(0.1)


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
    limited_cgroup: Path,
) -> None:
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
