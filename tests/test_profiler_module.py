"""`python -m ironcliw_mem.tools.profiler` runs the full profile, as the agent's
`python3 backend/vision/memory_profiler.py` did (docs/migrating.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_running_the_profiler_module_profiles_both_workloads(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ironcliw_mem.tools.profiler",
            "--duration",
            "1",
            "--interval",
            "0.5",
            "--no-plot",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "IRONCLIW_CAPTURE_BACKEND": "synthetic"},
    )
    assert run.returncode in (0, 1), run.stderr  # 1: a target missed on a loaded machine
    assert "RuntimeWarning" not in run.stderr
    (report_path,) = tmp_path.glob("memory_profile_*.json")
    report = json.loads(report_path.read_text())
    assert [b["name"] for b in report["benchmarks"]] == ["Multi-Space Vision", "Capture Cache"]
    assert all(b["samples"] >= 1 for b in report["benchmarks"])
