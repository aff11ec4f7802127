"""Smoke run of compare_monitor.py (CI runs the benches without timings): it must still run."""

from __future__ import annotations

import compare_monitor


def test_the_monitor_comparison_runs_every_row() -> None:
    rows = compare_monitor.main(["--checks", "1", "--capture-seconds", "0.05", "--give-up", "0.5"])
    assert [(r["captures"], r["reading"]) for r in rows] == [
        (mode, way) for mode in ("idle", "slow", "hung") for way in ("shared pool", "manager")
    ]
