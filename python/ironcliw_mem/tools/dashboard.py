"""The live dashboard: the page, `/stats`, `/history`, `/healthz` and `/metrics`.

One implementation of the routes (`respond`) behind two front doors: the standalone server here
(the standard library's HTTP server on 127.0.0.1, bounded and with deadlines, for
`ironcliw-mem serve`) and the ASGI application in `dashboard_asgi` (mounted in the agent's own
FastAPI/Starlette app). Neither door touches the memory manager or the engine: a sampler task on
the asyncio loop that owns them takes a reading every `DASHBOARD_SAMPLE_INTERVAL_S` and publishes
a snapshot, which the doors serve.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ironcliw_mem import gpu
from ironcliw_mem.tools.dashboard_page import PAGE
from ironcliw_mem.tools.metrics import (
    PREFIX,
    MemoryCollector,
    Stats,
    cache_stats_of,
    read_footprint,
)

if TYPE_CHECKING:
    from ironcliw_mem.capture.engine import MultiSpaceCaptureEngine
    from ironcliw_mem.manager import MacOSMemoryManager

__all__ = [
    "DashboardServer",
    "DashboardState",
    "Response",
    "cache_stats_of",
    "respond",
    "sample_forever",
]

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
PATHS = ("/", "/stats", "/history", "/metrics", "/healthz")
READ_METHODS = ("GET", "HEAD")


# --- the state the doors serve -------------------------------------------------------------------


class DashboardState:
    """The latest snapshot and the history, shared by the sampler and the request handlers."""

    def __init__(
        self,
        points: int = HISTORY_POINTS,
        sample_interval_s: float = DASHBOARD_SAMPLE_INTERVAL_S,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        # Wall-clock time is for the timestamps people read (the page's time axis); freshness
        # is measured on the monotonic clock.
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._summary: dict[str, Any] = {"pressure": "unknown", "reasons": ["no reading yet"]}
        self._cache: dict[str, Any] | None = None
        self._history: collections.deque[dict[str, Any]] = collections.deque(maxlen=points)
        self.sample_interval_s = sample_interval_s
        self._published_at: float | None = None  # monotonic
        self.sample_errors = 0
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(MemoryCollector(stats=self.latest))
        self.registry.register(_FreshnessCollector(self))

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

    def publish(
        self,
        summary: dict[str, Any],
        cache: dict[str, Any] | None,
        footprint: tuple[float, float | None] | None = None,
    ) -> None:
        """A new reading. `footprint` is this process's (RSS MB, USS MB) measured with it; the
        summary's USS is refreshed only every 30 s and would draw as a staircase."""
        process = summary.get("process") or {}
        rss_mb, uss_mb = footprint or (process.get("rss_mb"), process.get("uss_mb"))
        budget_mb = summary.get("recommended_cache_mb")
        if cache is not None and isinstance(cache.get("max_bytes"), int | float):
            budget_mb = cache["max_bytes"] / MIB
        point = {
            "t": self._wall_clock(),
            "level": summary.get("level", "unknown"),
            "rss_mb": rss_mb,
            "uss_mb": uss_mb,
            "cache_mb": cache["bytes"] / MIB if cache is not None else None,
            "budget_mb": budget_mb,
            "available_gb": summary.get("available_gb"),
            "gpu_mb": gpu.process_and_used_mb(summary["gpu"])[0]
            if isinstance(summary.get("gpu"), list)
            else None,
        }
        with self._lock:
            self._summary, self._cache = summary, cache
            self._history.append(point)
            self._published_at = time.monotonic()

    def latest(self) -> Stats:
        with self._lock:
            return self._summary, self._cache

    def stats(self) -> dict[str, Any]:
        summary, cache = self.latest()
        stats = dict(summary)
        if cache is not None:
            stats["cache"] = cache
        stats["sample_interval_s"] = self.sample_interval_s
        stats["served_at"] = (
            self._wall_clock()
        )  # the page measures staleness on this clock, not its own
        return stats

    def metrics(self) -> bytes:
        """The Prometheus text of the latest snapshot, rendered per request: its freshness
        figures must move when sampling stops."""
        return generate_latest(self.registry)

    def history(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._history)


class _FreshnessCollector(Collector):
    def __init__(self, state: DashboardState) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        age = self._state.age_seconds()
        yield GaugeMetricFamily(
            PREFIX + "dashboard_sample_age_seconds",
            "Seconds since the dashboard's last reading (-1 before the first)",
            value=age if math.isfinite(age) else -1,
        )
        yield CounterMetricFamily(
            PREFIX + "dashboard_sample_errors_total",
            "Dashboard readings that failed",
            value=self._state.sample_errors,
        )


async def sample_forever(
    state: DashboardState,
    manager: MacOSMemoryManager,
    engine: MultiSpaceCaptureEngine | None = None,
    interval_s: float | None = None,
) -> None:
    """Takes a reading every `interval_s` (default: the state's) and publishes it, with this
    process's RSS and USS measured now; runs until cancelled."""
    while True:
        try:
            await manager.check_pressure()
            footprint = await asyncio.to_thread(read_footprint)
            state.publish(manager.get_stats_summary(), cache_stats_of(engine), footprint)
        except Exception:
            state.record_failure()
            log.exception("dashboard sample failed; trying again")
        await asyncio.sleep(state.sample_interval_s if interval_s is None else interval_s)


# --- the routes: one implementation for both doors -----------------------------------------------


@dataclass(frozen=True)
class Response:
    status: HTTPStatus
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: HTTPStatus, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, "application/json", json.dumps(payload, default=str).encode(), headers)


def respond(state: DashboardState, method: str, path: str) -> Response:
    """The answer to `method path` (the query string already removed). A HEAD gets the GET's
    answer; the door sends its headers without the body."""
    if method not in READ_METHODS:
        return _json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": f"method {method} not allowed: only GET and HEAD"},
            (("Allow", "GET, HEAD"),),
        )
    if path == "/":
        return Response(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.encode())
    if path == "/stats":
        return _json(HTTPStatus.OK, state.stats())
    if path == "/history":
        return _json(HTTPStatus.OK, {"points": state.history()})
    if path == "/metrics":
        return Response(HTTPStatus.OK, CONTENT_TYPE_LATEST, state.metrics())
    if path == "/healthz":
        healthy = state.healthy()
        return _json(
            HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE,
            {
                "ok": healthy,
                "sample_age_s": round(min(state.age_seconds(), 1e9), 3),
                "sample_errors": state.sample_errors,
            },
        )
    return _json(HTTPStatus.NOT_FOUND, {"error": f"no such path: {path}", "paths": list(PATHS)})


# --- the standalone door: the standard library's server, bounded -------------------------------

# Threads (and so connections being served) at once; one more is answered 503 and closed at once.
MAX_CONNECTIONS = 32
# A connection must have sent its whole request head within this many seconds of connecting (or
# of its previous request): an idle client and one trickling a byte every few seconds alike.
REQUEST_DEADLINE_S = 10.0
# Each single read or write may wait at most this long.
SOCKET_TIMEOUT_S = 5.0
REAPER_PERIOD_S = 0.25


class _Reaper:
    """Closes the connections whose deadline has passed. One thread for every connection: a
    per-read timeout alone lets a client that sends a byte just before each timeout stay for
    ever."""

    def __init__(self) -> None:
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ironcliw-dashboard-reaper")
        self._thread.daemon = True
        self._thread.start()

    def arm(self, connection: socket.socket, seconds: float) -> None:
        with self._lock:
            self._deadlines[connection] = time.monotonic() + seconds

    def disarm(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(connection, None)

    def _run(self) -> None:
        while not self._stop.wait(REAPER_PERIOD_S):
            now = time.monotonic()
            with self._lock:
                due = [c for c, deadline in self._deadlines.items() if deadline <= now]
                for connection in due:
                    del self._deadlines[connection]
            for connection in due:
                # Wakes the handler's blocked read; the handler closes the socket.
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    timeout = SOCKET_TIMEOUT_S
    server: DashboardHTTPServer
    server_version = "ironcliw-mem"

    def handle_one_request(self) -> None:
        self.server.reaper.arm(self.connection, REQUEST_DEADLINE_S)
        try:
            super().handle_one_request()
        finally:
            self.server.reaper.disarm(self.connection)

    def __getattr__(self, name: str) -> Any:
        # Every method the request line may name (FOO as much as PUT) goes through the routes,
        # which answer the documented JSON 405 rather than the standard library's HTML 501.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        response = respond(self.server.state, self.command, path)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


BUSY_RESPONSE = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 47\r\n\r\n"
    b'{"error": "too many connections, retry later"}\n'
)


class DashboardHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the default 5 refuses a browser plus a scraper or two

    def __init__(
        self,
        address: tuple[str, int],
        state: DashboardState,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.state = state
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self.reaper = _Reaper()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._turn_away(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _turn_away(self, request: socket.socket) -> None:
        with contextlib.suppress(OSError):
            request.settimeout(0)  # never wait on a client we have no thread for
            request.send(BUSY_RESPONSE)
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away or is timed out mid-answer is routine, not a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("client %s went away or timed out", client_address)
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self.reaper.stop()


class DashboardServer:
    """The standalone server in a thread of its own; `port=0` picks a free port (see `.port`)."""

    def __init__(
        self,
        state: DashboardState,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.state = state
        self.httpd = DashboardHTTPServer((host, port), state, max_connections)
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
