"""The ironcliw-mem command as a user runs it: a separate process, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ironcliw_mem", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_info_json_reports_a_passing_cache_self_check() -> None:
    result = run("info", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    check = report["cache_self_check"]
    assert check["ok"] is True
    assert all(check["checks"].values())
    assert check["stats"]["bytes"] <= check["stats"]["max_bytes"]
    assert check["stats"]["evictions_capacity"] > 0
    assert "cache" in report["build_features"]


def test_no_command_runs_info() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
    assert "all_sets_accepted" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
