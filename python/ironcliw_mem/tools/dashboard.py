"""A small live dashboard over HTTP: `/stats`, `/metrics` (Prometheus text), `/history`, `/`.

The server is the standard library's `ThreadingHTTPServer` on 127.0.0.1: four read-only
endpoints need no framework, and the package gains no dependency. Request threads never touch
the memory manager or the engine: a sampler task on the asyncio loop that owns them takes a
reading every `DASHBOARD_SAMPLE_INTERVAL_S` and publishes an immutable snapshot, which the
request threads serve.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ironcliw_mem import gpu
from ironcliw_mem.activity import report as activity_report

if TYPE_CHECKING:
    from ironcliw_mem.capture.engine import MultiSpaceCaptureEngine
    from ironcliw_mem.manager import MacOSMemoryManager

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
# One reading a second: a live chart, and far below the rate at which reading PSI would starve
# the kernel's pressure triggers (see the README's Pressure caveat).
DASHBOARD_SAMPLE_INTERVAL_S = 1.0
HISTORY_POINTS = 600  # ten minutes at one point a second
# /healthz fails when no reading arrived for this many sample intervals.
STALE_AFTER_INTERVALS = 3
LEVEL_CODES = {"green": 0, "yellow": 1, "red": 2, "unknown": -1}
METRIC_PREFIX = "ironcliw_"

# Sample signals and stats exported: key -> (metric name, type, help). Bytes stay bytes
# (Prometheus base units); PSI averages and headroom are percent, as the probe gives them.
SIGNAL_METRICS: dict[str, tuple[str, str, str]] = {
    "total": (
        "memory_total_bytes",
        "gauge",
        "Memory this process can use (the cgroup limit if lower)",
    ),
    "used": ("memory_used_bytes", "gauge", "Memory in use by applications"),
    "wired": ("memory_wired_bytes", "gauge", "Wired memory (macOS)"),
    "compressed": ("memory_compressed_bytes", "gauge", "Memory held by the compressor (macOS)"),
    "swap_total": ("memory_swap_total_bytes", "gauge", "Swap space"),
    "swap_used": ("memory_swap_used_bytes", "gauge", "Swap in use"),
    "psi_some_avg10": ("memory_psi_some_avg10_percent", "gauge", "PSI memory some avg10"),
    "psi_some_avg60": ("memory_psi_some_avg60_percent", "gauge", "PSI memory some avg60"),
    "psi_full_avg10": ("memory_psi_full_avg10_percent", "gauge", "PSI memory full avg10"),
    "psi_full_avg60": ("memory_psi_full_avg60_percent", "gauge", "PSI memory full avg60"),
    "cgroup_limit": ("cgroup_memory_limit_bytes", "gauge", "The memory cgroup's limit"),
    "cgroup_high": ("cgroup_memory_high_bytes", "gauge", "The memory cgroup's high mark"),
    "cgroup_usage": ("cgroup_memory_usage_bytes", "gauge", "The memory cgroup's usage"),
    "cgroup_working_set": ("cgroup_memory_working_set_bytes", "gauge", "Usage minus inactive file"),
    "macos_pressure_level": (
        "macos_pressure_level",
        "gauge",
        "kern.memorystatus_vm_pressure_level",
    ),
    "memorystatus_level": (
        "macos_memorystatus_level",
        "gauge",
        "kern.memorystatus_level (percent free)",
    ),
    "headroom": (
        "memory_headroom_percent",
        "gauge",
        "Headroom H: min of system and cgroup, percent",
    ),
    "compressor_share": (
        "memory_compressor_share_percent",
        "gauge",
        "Compressor share (macOS), percent",
    ),
    "available": (
        "memory_available_bytes",
        "gauge",
        "Memory available (MemAvailable / macOS free+reclaimable)",
    ),
    "psi_some_total": (
        "memory_psi_some_stall_microseconds",
        "counter",
        "PSI memory some total stall",
    ),
    "psi_full_total": (
        "memory_psi_full_stall_microseconds",
        "counter",
        "PSI memory full total stall",
    ),
    "cgroup_events_high": ("cgroup_memory_events_high", "counter", "cgroup memory.events high"),
    "cgroup_events_max": ("cgroup_memory_events_max", "counter", "cgroup memory.events max"),
    "cgroup_events_oom": ("cgroup_memory_events_oom", "counter", "cgroup memory.events oom"),
}
CACHE_METRICS: dict[str, tuple[str, str, str]] = {
    "bytes": ("cache_bytes", "gauge", "Bytes held by the capture cache"),
    "max_bytes": ("cache_max_bytes", "gauge", "The capture cache's budget"),
    "entries": ("cache_entries", "gauge", "Entries in the capture cache"),
    "hit_count": ("cache_hits", "counter", "Capture cache hits"),
    "miss_count": ("cache_misses", "counter", "Capture cache misses"),
    "captures_made": ("captures", "counter", "Spaces captured"),
    "capture_failures": ("capture_failures", "counter", "Captures that failed"),
    "bytes_encoded": ("capture_encoded_bytes", "counter", "JPEG bytes encoded"),
}

EVICTION_REASONS = ("capacity", "ttl", "pressure", "explicit")


# --- Prometheus text format ----------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@dataclass
class MetricFamily:
    name: str
    kind: str  # "gauge" or "counter"
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> MetricFamily:
        self.samples.append((labels, value))
        return self

    def also(self, samples: Iterable[tuple[dict[str, str], float]]) -> MetricFamily:
        self.samples.extend(samples)
        return self

    def render(self) -> str:
        # In the 0.0.4 text format a counter's HELP/TYPE name is the sample name, `_total` included.
        sample_name = METRIC_PREFIX + self.name + ("_total" if self.kind == "counter" else "")
        lines = [f"# HELP {sample_name} {self.help}", f"# TYPE {sample_name} {self.kind}"]
        for labels, value in self.samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(
                f"{sample_name}{{{label_text}}} {_number(value)}"
                if label_text
                else f"{sample_name} {_number(value)}"
            )
        return "\n".join(lines)


def render_metrics(families: Iterable[MetricFamily]) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    return "\n".join(f.render() for f in families if f.samples) + "\n"


def table_families(
    table: dict[str, tuple[str, str, str]], values: dict[str, Any]
) -> list[MetricFamily]:
    """One family per key of `table` whose value is a number (absent signals are left out)."""
    families = []
    for key, (name, kind, help_text) in table.items():
        value = values.get(key)
        if isinstance(value, int | float):
            families.append(MetricFamily(name, kind, help_text).add(value))
    return families


def metric_families(summary: dict[str, Any], cache: dict[str, Any] | None) -> list[MetricFamily]:
    """The manager's stats summary and the engine's cache stats as metric families."""
    level = summary.get("level", "unknown")
    families = [
        MetricFamily("memory_pressure", "gauge", "1 for the current pressure level, else 0").also(
            [({"level": name}, float(name == level)) for name in LEVEL_CODES]
        ),
        MetricFamily(
            "memory_pressure_level_code",
            "gauge",
            "Pressure level: 0 green, 1 yellow, 2 red, -1 unknown",
        ).add(LEVEL_CODES.get(level, -1)),
        MetricFamily("memory_pressure_forced", "gauge", "1 when the level is overridden").add(
            bool(summary.get("forced"))
        ),
        MetricFamily("memory_checks", "counter", "Pressure readings taken").add(
            summary.get("checks", 0)
        ),
        MetricFamily(
            "recommended_cache_bytes", "gauge", "Cache budget the current level allows"
        ).add(summary.get("recommended_cache_mb", 0) * MIB),
    ]
    families += table_families(SIGNAL_METRICS, summary.get("signals") or {})
    for name, kind, help_text, samples in gpu.metric_rows(summary.get("gpu")):
        families.append(MetricFamily(name, kind, help_text).also(samples))
    families += activity_families(summary.get("activity"))
    process = summary.get("process") or {}
    if process.get("rss_mb") is not None:
        families.append(
            MetricFamily("process_resident_memory_bytes", "gauge", "Resident set size").add(
                round(process["rss_mb"] * MIB)
            )
        )
    if process.get("uss_mb") is not None:
        families.append(
            MetricFamily("process_unique_memory_bytes", "gauge", "Unique set size").add(
                round(process["uss_mb"] * MIB)
            )
        )
    if cache is not None:
        families += table_families(CACHE_METRICS, cache)
        evictions = cache.get("evictions", {})
        families.append(
            MetricFamily("cache_evictions", "counter", "Capture cache evictions by reason").also(
                [({"reason": r}, evictions.get(r, 0)) for r in EVICTION_REASONS]
            )
        )
    return families


def activity_families(activity: dict[str, Any] | None) -> list[MetricFamily]:
    """`ironcliw_user_idle_seconds` and the `ironcliw_user_activity` state set."""
    rows = activity_report.metric_rows(activity)
    return [MetricFamily(name, kind, text).also(samples) for name, kind, text, samples in rows]


# --- the state the request threads serve ---------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    stats: dict[str, Any]
    metrics: str


class DashboardState:
    """The latest snapshot and the history, shared by the sampler and the request threads."""

    def __init__(
        self, points: int = HISTORY_POINTS, sample_interval_s: float = DASHBOARD_SAMPLE_INTERVAL_S
    ) -> None:
        self._lock = threading.Lock()
        self._snapshot = Snapshot({"pressure": "unknown", "reasons": ["no reading yet"]}, "\n")
        self._history: collections.deque[dict[str, Any]] = collections.deque(maxlen=points)
        self.sample_interval_s = sample_interval_s
        self._published_at: float | None = None  # monotonic
        self.sample_errors = 0

    def record_failure(self) -> None:
        with self._lock:
            self.sample_errors += 1

    def age_seconds(self) -> float:
        """Seconds since the last published reading (infinite before the first)."""
        with self._lock:
            published = self._published_at
        return math.inf if published is None else time.monotonic() - published

    def healthy(self) -> bool:
        """Readings keep arriving: the last is at most three sample intervals old."""
        return self.age_seconds() <= STALE_AFTER_INTERVALS * self.sample_interval_s

    def freshness_metrics(self) -> str:
        """Rendered per request, unlike the snapshot: they must move when sampling stops."""
        age = self.age_seconds()
        return render_metrics(
            [
                MetricFamily(
                    "dashboard_sample_age_seconds", "gauge", "Seconds since the last reading"
                ).add(age if math.isfinite(age) else -1),
                MetricFamily("dashboard_sample_errors", "counter", "Readings that failed").add(
                    self.sample_errors
                ),
            ]
        )

    def publish(self, summary: dict[str, Any], cache: dict[str, Any] | None) -> None:
        stats = dict(summary)
        if cache is not None:
            stats["cache"] = cache
        metrics = render_metrics(metric_families(summary, cache))
        process = summary.get("process") or {}
        point = {
            "t": time.time(),
            "level": summary.get("level", "unknown"),
            "rss_mb": process.get("rss_mb"),
            "uss_mb": process.get("uss_mb"),
            "cache_mb": cache["bytes"] / MIB if cache is not None else None,
            "available_gb": summary.get("available_gb"),
            "gpu_mb": gpu.process_and_used_mb(summary["gpu"])[0]
            if isinstance(summary.get("gpu"), list)
            else None,
        }
        with self._lock:
            self._snapshot = Snapshot(stats, metrics)
            self._history.append(point)
            self._published_at = time.monotonic()

    @property
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def history(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._history)


def cache_stats_of(engine: MultiSpaceCaptureEngine | None) -> dict[str, Any] | None:
    if engine is None:
        return None
    stats = engine.get_cache_stats()
    stats.pop("memory_pressure", None)  # the summary is served beside it already
    return stats


async def sample_forever(
    state: DashboardState,
    manager: MacOSMemoryManager,
    engine: MultiSpaceCaptureEngine | None = None,
    interval_s: float = DASHBOARD_SAMPLE_INTERVAL_S,
) -> None:
    """Takes a reading every `interval_s` and publishes it; runs until cancelled."""
    while True:
        try:
            await manager.check_pressure()
            state.publish(manager.get_stats_summary(), cache_stats_of(engine))
        except Exception:
            state.record_failure()
            log.exception("dashboard sample failed; trying again")
        await asyncio.sleep(interval_s)


# --- HTTP ----------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # seconds: an idle connection must not hold a thread for ever
    server: DashboardHTTPServer
    server_version = "ironcliw-mem"

    def do_GET(self) -> None:
        self._respond(include_body=True)

    def do_HEAD(self) -> None:
        self._respond(include_body=False)

    def _respond(self, include_body: bool) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode(), include_body)
        elif path == "/stats":
            self._json(HTTPStatus.OK, state.snapshot.stats, include_body)
        elif path == "/history":
            self._json(HTTPStatus.OK, {"points": state.history()}, include_body)
        elif path == "/metrics":
            body = (state.snapshot.metrics + state.freshness_metrics()).encode()
            self._send(
                HTTPStatus.OK, "text/plain; version=0.0.4; charset=utf-8", body, include_body
            )
        elif path == "/healthz":
            healthy = state.healthy()
            self._json(
                HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE,
                {
                    "ok": healthy,
                    "sample_age_s": round(min(state.age_seconds(), 1e9), 3),
                    "sample_errors": state.sample_errors,
                },
                include_body,
            )
        else:
            self._json(
                HTTPStatus.NOT_FOUND,
                {
                    "error": f"no such path: {path}",
                    "paths": ["/", "/stats", "/history", "/metrics", "/healthz"],
                },
                include_body,
            )

    def _not_allowed(self) -> None:
        self._json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": "only GET and HEAD"},
            True,
            extra={"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _json(
        self,
        status: HTTPStatus,
        payload: Any,
        include_body: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps(payload, default=str).encode()
        self._send(status, "application/json", body, include_body, extra)

    def _send(
        self,
        status: HTTPStatus,
        content_type: str,
        body: bytes,
        include_body: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if include_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class DashboardHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the default 5 refuses a browser plus a scraper or two

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-answer is routine, not a traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s went away", client_address)
            return
        super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], state: DashboardState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class DashboardServer:
    """The HTTP server in a thread of its own; `port=0` picks a free port (see `.port`)."""

    def __init__(
        self, state: DashboardState, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
    ) -> None:
        self.state = state
        self.httpd = DashboardHTTPServer((host, port), state)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="ironcliw-dashboard", daemon=True
        )

    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()


# --- the page ------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ironcliw-mem</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px 24px; background: #f6f7f9; color: #1d2330; }
  h1 { font-size: 20px; margin: 0 0 12px; }
  .row { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 12px; }
  .card { background: #fff; border-radius: 8px; padding: 10px 14px;
          box-shadow: 0 1px 3px #0002; min-width: 130px; }
  .card b { display: block; font-size: 20px; margin-top: 2px; }
  #level, #gpu { color: #fff; }
  .lv-green { background: #2e7d32 !important; } .lv-yellow { background: #f9a825 !important; }
  .lv-red { background: #c62828 !important; } .lv-unknown { background: #757575 !important; }
  canvas { background: #fff; border-radius: 8px; box-shadow: 0 1px 3px #0002;
           width: 100%; height: 340px; }
  #reasons { color: #444; margin: 8px 0; }
  .legend span { margin-right: 14px; }
  .sw { display: inline-block; width: 12px; height: 3px; margin-right: 4px; }
</style>
</head>
<body>
<h1>ironcliw-mem &mdash; memory pressure</h1>
<div class="row">
  <div class="card lv-unknown" id="level">level<b id="level-text">&hellip;</b></div>
  <div class="card">available<b id="available">&ndash;</b></div>
  <div class="card">process RSS<b id="rss">&ndash;</b></div>
  <div class="card">cache<b id="cache">&ndash;</b></div>
  <div class="card">budget / quality<b id="budget">&ndash;</b></div>
  <div class="card">captures<b id="captures">&ndash;</b></div>
  <div class="card">user<b id="user">&ndash;</b></div>
  <div class="card lv-unknown" id="gpu" hidden>GPU<b id="gpu-text"></b></div>
</div>
<div id="reasons"></div>
<canvas id="chart" width="1100" height="340"></canvas>
<div class="legend">
  <span><i class="sw" style="background:#1f3b73"></i>RSS MB</span>
  <span><i class="sw" style="background:#8e24aa"></i>USS MB</span>
  <span><i class="sw" style="background:#00838f"></i>cache MB</span>
  <span id="gpu-legend" hidden><i class="sw" style="background:#e65100"></i>GPU MB (process)</span>
  <span>bands: level (green / yellow / red / grey = unknown)</span>
</div>
<script>
"use strict";
const BAND = {green: "#4caf5033", yellow: "#ffc10744", red: "#f4433644", unknown: "#9e9e9e33"};
const SERIES = [["rss_mb", "#1f3b73"], ["uss_mb", "#8e24aa"], ["cache_mb", "#00838f"],
                ["gpu_mb", "#e65100"]];
function text(id, value) { document.getElementById(id).textContent = value; }
function mb(v) { return v == null ? "\\u2013" : v.toFixed(1) + " MB"; }
function draw(points) {
  const c = document.getElementById("chart"), g = c.getContext("2d");
  const W = c.width, H = c.height, L = 56, R = 12, T = 12, B = 28;
  g.clearRect(0, 0, W, H);
  if (points.length === 0) { g.fillText("waiting for readings\\u2026", L, H / 2); return; }
  const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
  let ymax = 1;
  for (const p of points) {
    for (const k of SERIES.map(s => s[0])) if (p[k] != null) ymax = Math.max(ymax, p[k]);
  }
  ymax *= 1.1;
  const x = t => L + (t - t0) / (t1 - t0) * (W - L - R), y = v => H - B - v / ymax * (H - T - B);
  points.forEach((p, i) => {
    const next = i + 1 < points.length ? points[i + 1].t : p.t + 1;
    g.fillStyle = BAND[p.level] || BAND.unknown;
    g.fillRect(x(p.t), T, Math.max(1, x(Math.min(next, t1)) - x(p.t)), H - T - B);
  });
  g.strokeStyle = "#ccc"; g.fillStyle = "#555"; g.lineWidth = 1; g.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4; g.beginPath(); g.moveTo(L, y(v)); g.lineTo(W - R, y(v)); g.stroke();
    g.fillText(v.toFixed(0), 8, y(v) + 4);
  }
  g.fillText(((t1 - t0)).toFixed(0) + " s", W - R - 30, H - 8);
  for (const [k, colour] of SERIES) {
    g.strokeStyle = colour; g.lineWidth = 2; g.beginPath(); let on = false;
    for (const p of points) {
      if (p[k] == null) { on = false; continue; }
      if (on) g.lineTo(x(p.t), y(p[k])); else { g.moveTo(x(p.t), y(p[k])); on = true; }
    }
    g.stroke();
  }
}
function show(s) {
  const level = s.level || "unknown", card = document.getElementById("level");
  card.className = "card lv-" + level;
  document.getElementById("level-text").textContent = level + (s.forced ? " (forced)" : "");
  const gb = s.available_gb;
  text("available", gb == null ? "\\u2013" : gb.toFixed(2) + " GB");
  document.getElementById("rss").textContent = mb(s.process ? s.process.rss_mb : null);
  const c = s.cache;
  text("cache", c ? mb(c.bytes / 1048576) + " / " + c.entries : "\\u2013");
  document.getElementById("captures").textContent = c ? String(c.captures_made) : "\\u2013";
  text("budget", s.recommended_cache_mb + " MB / " + s.recommended_quality);
  const u = s.activity || {}, idle = u.idle_seconds;
  text("user", (u.state || "unknown") + (idle == null ? "" : " " + idle.toFixed(0) + " s"));
  showGpu(s.gpu);
  const why = (s.reasons || []).join("; ") || "none (no signal past a threshold)";
  text("reasons", "reasons: " + why);
}
function showGpu(devices) {
  const card = document.getElementById("gpu"), has = Array.isArray(devices) && devices.length > 0;
  card.hidden = !has;
  document.getElementById("gpu-legend").hidden = !has;
  if (!has) return;
  const worst = ["red", "yellow", "green"].find(l => devices.some(d => d.level === l)) || "unknown";
  card.className = "card lv-" + worst;
  text("gpu-text", devices.map(d => d.level + " " + (d.used_bytes / 2 ** 30).toFixed(1) + " / " +
    (d.total_bytes / 2 ** 30).toFixed(1) + " GB").join(", "));
}
async function tick() {
  try {
    const get = path => fetch(path).then(r => r.json());
    const [stats, hist] = await Promise.all([get("/stats"), get("/history")]);
    show(stats); draw(hist.points);
  } catch (e) { document.getElementById("reasons").textContent = "dashboard unreachable: " + e; }
}
tick(); setInterval(tick, 1000);
</script>
</body>
</html>
"""
