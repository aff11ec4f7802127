"""The dashboard: metrics in the Prometheus text format, and the real server seen by real clients
(urllib, and headless Chromium loading the page and taking a screenshot)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from ironcliw_mem import MacOSMemoryManager, MemoryConfig, Sample
from ironcliw_mem.capture import MultiSpaceCaptureEngine, SpaceCaptureRequest, SyntheticBackend
from ironcliw_mem.tools.dashboard import DashboardServer, DashboardState, cache_stats_of
from support import chromium_screenshot

GIB = 1024**3
SERVER_START_LIMIT_S = 30  # bounds a broken start only
LEVEL_GREEN_RGB = (0x2E, 0x7D, 0x32)  # the page's level card at green


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(family: Any, **labels: str) -> float:
    for sample in family.samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    raise AssertionError(f"no sample {labels} in {family.name}")


async def test_metrics_parse_with_the_prometheus_parser() -> None:
    sample = Sample.from_values(
        total=16 * GIB, available=3 * GIB, psi_some_avg10=12.5, psi_full_avg10=0.0,
        psi_some_total=1234, sources=["meminfo", "psi"],
    )  # fmt: skip
    manager = MacOSMemoryManager(
        MemoryConfig(env={}), read_sample=lambda: sample, watch_kernel_events=False
    )
    await manager.check_pressure()
    engine = MultiSpaceCaptureEngine(
        memory_manager=manager, backend=SyntheticBackend(spaces=3, size=(320, 200))
    )
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2, 3]))
    await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1, 2, 3]))
    state = DashboardState()
    state.publish(manager.get_stats_summary(), cache_stats_of(engine))
    await engine.close()
    parsed = families(state.metrics().decode())
    level = parsed["ironcliw_memory_pressure"]
    assert level.type == "gauge"
    assert value(level, level="yellow") == 1.0  # some10 12.5 % >= 10 %
    assert value(level, level="green") == 0.0
    assert value(parsed["ironcliw_memory_pressure_level"]) == 1
    assert value(parsed["ironcliw_pressure_memory_some_avg10_ratio"], scope="host") == 0.125
    assert value(parsed["ironcliw_memory_available_bytes"], scope="host") == 3 * GIB
    waiting = parsed["ironcliw_pressure_memory_waiting_seconds"]  # the parser drops `_total`
    assert waiting.type == "counter"
    assert value(waiting, scope="host") == 1234 / 1e6  # the kernel's microseconds, as seconds
    # Yellow watches the active space and its neighbour: 2 captures, then 2 hits.
    assert value(parsed["ironcliw_captures"]) == 2
    assert value(parsed["ironcliw_cache_hits"]) == 2
    assert value(parsed["ironcliw_cache_misses"]) == 2
    assert value(parsed["ironcliw_cache_entries"]) == 2
    assert value(parsed["ironcliw_cache_bytes"]) > 0
    assert value(parsed["ironcliw_cache_max_bytes"]) == 200 * 1024 * 1024  # yellow budget
    evictions = parsed["ironcliw_cache_evictions"]
    assert {s.labels["reason"] for s in evictions.samples} == {
        "capacity", "ttl", "pressure", "explicit", "activity",
    }  # fmt: skip
    assert value(parsed["ironcliw_process_resident_memory_bytes"]) > 0
    stats = state.stats()
    assert stats["pressure"] == "warn"
    assert stats["cache"]["entries"] == 2
    assert "memory_pressure" not in stats["cache"]  # not served twice
    assert state.history()[-1]["level"] == "yellow"


def test_the_in_process_server_answers_and_rejects() -> None:
    # Fresh for three 10 s intervals: however slow the start, the first answer finds it fresh.
    state = DashboardState(sample_interval_s=10.0)
    state.publish({"pressure": "normal", "level": "green", "checks": 1}, None)
    server = DashboardServer(state, port=0).start()
    try:
        with urllib.request.urlopen(server.url + "healthz", timeout=10) as response:
            health = json.load(response)
            assert health["ok"] is True
            assert health["sample_errors"] == 0
        # Readings now due every millisecond and none comes: after sleeping at least ten
        # intervals the reading is stale, and its age only grows from here.
        state.sample_interval_s = 0.001
        time.sleep(0.01)
        state.record_failure()
        with pytest.raises(urllib.error.HTTPError) as stale:
            urllib.request.urlopen(server.url + "healthz", timeout=10)
        assert stale.value.code == 503
        assert json.load(stale.value)["sample_errors"] == 1
        with urllib.request.urlopen(server.url + "metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert "ironcliw_dashboard_sample_errors_total 1" in metrics
        assert "ironcliw_dashboard_sample_age_seconds" in metrics
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        connection.request("HEAD", "/stats")
        head = connection.getresponse()
        assert head.status == 200
        assert head.read() == b""
        assert int(head.getheader("Content-Length", "0")) > 0
        connection.close()
    finally:
        server.close()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`ironcliw-mem serve` on a free port, capturing small synthetic spaces.

    Stopped with SIGTERM after the module; `--duration` only ends a server orphaned by a killed
    test run, so it is far past start-up plus a cold Chromium (SERVER_START_LIMIT_S +
    CHROMIUM_LIMIT_S)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ironcliw_mem", "serve", "--port", "0", "--duration", "600",
         "--workload", "vision", "--backend", "synthetic", "--spaces", "4", "--size", "640x400"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        printed, _, _ = select.select([process.stdout], [], [], SERVER_START_LIMIT_S)
        assert printed, f"the server printed no address within {SERVER_START_LIMIT_S} s"
        line = process.stdout.readline()
        if not line:  # its stdout closed: it is exiting, and its stderr says why
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=SERVER_START_LIMIT_S)
        # Its stderr is read only once it has exited: reading a live server's would block.
        why = process.stderr.read() if process.poll() is not None else "(still running)"
        assert line.startswith("serving http://127.0.0.1:"), line + why
        url = line.split()[1]
        deadline = time.monotonic() + SERVER_START_LIMIT_S
        while True:  # until the sampler has published a few points with captures
            points = get_json(url + "history")["points"]
            if len(points) >= 3 and get_json(url + "stats")["cache"]["captures_made"] > 0:
                break
            assert time.monotonic() < deadline, "the dashboard published no readings"
            time.sleep(0.5)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        return json.load(response)


def test_serve_answers_stats_metrics_history_and_errors(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = served
    stats = get_json(url + "stats")
    assert stats["pressure"] in {"normal", "warn", "critical", "unknown"}
    assert {"available_gb", "recommended_cache_mb", "reasons", "signals", "process"} <= set(stats)
    assert stats["cache"]["backend"] == "synthetic"
    with urllib.request.urlopen(url + "metrics", timeout=10) as response:
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        parsed = families(response.read().decode())
    level = parsed["ironcliw_memory_pressure"]
    assert sum(s.value for s in level.samples) == 1.0
    assert value(parsed["ironcliw_captures"]) > 0
    assert value(parsed["ironcliw_cache_bytes"]) > 0
    assert value(parsed["ironcliw_process_resident_memory_bytes"]) > 0
    points = get_json(url + "history")["points"]
    assert all({"t", "level", "rss_mb", "cache_mb"} <= set(p) for p in points)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "nope", timeout=10)
    assert missing.value.code == 404
    assert "no such path" in json.load(missing.value)["error"]
    with pytest.raises(urllib.error.HTTPError) as posted:
        urllib.request.urlopen(urllib.request.Request(url + "stats", data=b"x"), timeout=10)
    assert posted.value.code == 405
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert "<canvas" in page
    assert "http" not in page.replace(url, "")  # self-contained: nothing fetched from elsewhere


def test_the_page_renders_in_headless_chromium(
    served: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    url, _ = served
    shot = chromium_screenshot(url, tmp_path, "dashboard.png")
    keep = os.environ.get("IRONCLIW_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "dashboard.png")
    with Image.open(shot) as image:
        assert image.format == "PNG"
        assert image.size == (1200, 620)
        colours = image.convert("RGB").getcolors(1 << 22) or []
    assert len(colours) > 20  # not a blank page
    counts = {c: n for n, c in colours}
    level_card = sum(n for c, n in counts.items() if _near(c, LEVEL_GREEN_RGB)) + sum(
        n for c, n in counts.items() if _near(c, (0xF9, 0xA8, 0x25)) or _near(c, (0xC6, 0x28, 0x28))
    )
    assert level_card > 1000, "the level card is not drawn"
    rss_line = sum(n for c, n in counts.items() if _near(c, (0x1F, 0x3B, 0x73)))
    assert rss_line > 50, "the RSS line is not drawn"


def _near(colour: tuple[int, int, int], target: tuple[int, int, int], slack: int = 12) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(colour, target, strict=True))
