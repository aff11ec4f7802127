"""The ironcliw-mem command as a user runs it: a separate process, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from ironcliw_mem.tools.cli import stress_cap_mb


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


def run_env(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ironcliw_mem", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("command", ["info", "status", "profile", "stress", "serve"])
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: ironcliw-mem {command}" in result.stdout


def test_status_prints_level_reasons_signals_and_recommendations() -> None:
    result = run("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("level: ")
    assert any(line.startswith("reasons: ") for line in lines)
    assert any(line.startswith("signals: ") for line in lines)
    assert any(line.startswith("recommended: cache ") for line in lines)
    assert any(line.startswith("this process: RSS ") for line in lines)


def test_status_json_is_the_stats_summary_with_a_forced_level() -> None:
    result = run_env("status", "--json", IRONCLIW_PRESSURE_OVERRIDE="red", CACHE_SIZE_RED="42")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pressure"] == "critical"
    assert summary["forced"] is True
    assert summary["recommended_cache_mb"] == 42
    assert summary["recommended_quality"] == "thumbnail"
    for key in ("total_gb", "available_gb", "used_percent", "app_memory_gb", "swap_used_gb",
                "monitor_all_spaces", "timestamp", "reasons", "signals"):  # fmt: skip
        assert key in summary


def test_a_bad_environment_value_is_a_clear_error_with_exit_2() -> None:
    result = run_env("status", CACHE_SIZE_GREEN="lots", CAPTURE_QUALITY_RED="blurry")
    assert result.returncode == 2
    assert "CACHE_SIZE_GREEN='lots'" in result.stderr
    assert "CAPTURE_QUALITY_RED='blurry'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["profile", "--duration", "-1"], "expected a number of seconds > 0, got '-1'"),
        (["profile", "--duration", "soon"], "expected a number of seconds > 0, got 'soon'"),
        (["profile", "--size", "10x10"], "expected each side from 64 to 16384 pixels"),
        (["profile", "--size", "big"], "expected WIDTHxHEIGHT"),
        (["profile", "--spaces", "0"], "expected a whole number of spaces from 1 to 64"),
        (["profile", "--backend", "vnc"], "invalid choice: 'vnc'"),
        (["stress", "--step-mb", "0"], "expected a number of MB > 0, got '0'"),
        (["stress", "--hold", "nan"], "expected a number of seconds >= 0"),
        (["stress", "--step-mb", "1e-9"], "expected at least 1 MB per step"),
        (["profile", "--output-dir", "/dev/null/reports"], "--output-dir /dev/null/reports"),
        (["serve", "--host", "0.0.0.0", "--port", "0"], "pass --allow-remote"),
        (["serve", "--port", "70000"], "expected a port from 0 to 65535"),
        (["serve", "--workload", "everything"], "invalid choice: 'everything'"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unavailable_backend_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    result = subprocess.run(
        [sys.executable, "-m", "ironcliw_mem", "profile", "--backend", "macos", "--duration", "1"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "ironcliw-mem profile: the macos capture backend needs macOS" in result.stderr


def test_serve_on_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), "--duration", "1", "--backend", "synthetic")
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_stress_steps_up_to_the_cap_and_releases() -> None:
    result = run(
        "stress", "--step-mb", "16", "--max-mb", "40", "--interval", "0.05", "--hold", "0.1"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("stress: up to 40 MB in steps of 16 MB")
    steps = [line for line in lines if line.startswith("step ")]
    assert [s.split(",")[0] for s in steps] == [
        "step 1: holding 16 MB", "step 2: holding 32 MB", "step 3: holding 40 MB",
    ]  # fmt: skip
    assert all(" level " in s for s in steps)
    assert "holding 40 MB for 0.1 s" in lines
    assert lines[-1].startswith("released 40 MB; level ")


def test_the_stress_cap_keeps_a_safety_margin() -> None:
    # 8 GB available of 16 GB: by default half of it; never closer than 10 % of the total.
    assert stress_cap_mb(8192, 16384, None) == (4096, None)
    assert stress_cap_mb(8192, 16384, 100) == (100, None)
    cap, note = stress_cap_mb(8192, 16384, 100_000)
    assert cap == pytest.approx(8192 - 1638.4)
    assert note is not None
    assert "--max-mb 100000 lowered to 6554 MB" in note
    # A small container: the margin is at least 256 MB, so nothing may be taken.
    assert stress_cap_mb(200, 1024, None) == (0.0, None)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_stress_releases_on_a_signal_with_the_right_exit_code(signum: int, code: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ironcliw_mem", "stress", "--step-mb", "8", "--max-mb", "64",
         "--interval", "30", "--hold", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("stress: up to 64 MB")
    step = process.stdout.readline()
    assert step.startswith("step 1: holding 8 MB")
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == code, err
    assert "interrupted" in out
    assert "released 8 MB" in out


def test_stress_help_says_10_percent_once() -> None:
    result = run("stress", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "margin of 10 % of the total" in text
    assert "%%" not in result.stdout


@pytest.mark.parametrize(
    "args", [["info"], ["info", "--json"], ["status"], ["status", "--json"], []]
)
def test_a_closed_pipe_ends_a_command_quietly(args: list[str]) -> None:
    """`ironcliw-mem ... | head`: the reader has gone before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "ironcliw_mem", *args],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports it
