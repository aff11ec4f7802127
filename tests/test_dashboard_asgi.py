"""The dashboard's ASGI door under a real ASGI server (uvicorn), bare and mounted inside a real
Starlette app at /memory, seen by a real HTTP client (httpx) and headless Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from ironcliw_mem.tools.dashboard_asgi import DashboardApp, create_asgi_app
from support import WAIT_LIMIT_S, calm_manager, chromium_screenshot, wait_until

LEVEL_GREEN_RGB = (0x2E, 0x7D, 0x32)


class Served:
    """`app` under uvicorn on a free port, in a thread with its own event loop."""

    def __init__(self, app: Any, lifespan: str) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, lifespan=lifespan, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + WAIT_LIMIT_S
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT_LIMIT_S)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, f"still not true after {WAIT_LIMIT_S:g} s: {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def agent() -> Iterator[tuple[str, DashboardApp]]:
    """An agent's own Starlette app with the dashboard mounted at /memory."""
    dashboard = create_asgi_app(calm_manager(), sample_interval_s=0.2)

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("the agent")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await dashboard.aclose()  # a mounted app gets no lifespan of its own

    app = Starlette(routes=[Route("/", home), Mount("/memory", app=dashboard)], lifespan=lifespan)
    with Served(app, lifespan="on") as url:
        yield url, dashboard
    assert dashboard._sampler is None, "the agent's lifespan shutdown did not stop the sampler"


def test_mounted_in_starlette_every_route_answers_under_the_mount(
    agent: tuple[str, DashboardApp],
) -> None:
    url, dashboard = agent
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/").text == "the agent"  # the agent's own route is untouched
        # A mounted app gets no lifespan: its first request starts the sampler.
        assert client.get("/memory/healthz").status_code in {200, 503}
        wait_for(lambda: len(dashboard.state.history()) >= 2, "the sampler publishes")
        health = client.get("/memory/healthz")
        assert health.status_code == 200
        assert health.json()["ok"] is True
        stats = client.get("/memory/stats").json()
        assert stats["level"] == "green"
        assert stats["pressure"] == "normal"
        points = client.get("/memory/history").json()["points"]
        assert len(points) >= 2
        assert all(p["uss_mb"] is not None for p in points)
        metrics = client.get("/memory/metrics")
        assert metrics.headers["content-type"] == CONTENT_TYPE_LATEST
        parsed = {f.name: f for f in text_string_to_metric_families(metrics.text)}
        assert parsed["ironcliw_memory_pressure"].samples[0].labels == {"level": "green"}
        assert parsed["ironcliw_memory_pressure"].samples[0].value == 1
        page = client.get("/memory/")
        assert page.headers["content-type"].startswith("text/html")
        assert 'get("stats")' in page.text  # relative: it fetches /memory/stats, not /stats
        head = client.head("/memory/stats")
        assert head.status_code == 200
        assert head.content == b""
        assert int(head.headers["content-length"]) > 0
        posted = client.post("/memory/stats", content=b"x")
        assert posted.status_code == 405
        assert posted.headers["allow"] == "GET, HEAD"
        assert "only GET and HEAD" in posted.json()["error"]
        missing = client.get("/memory/nope")
        assert missing.status_code == 404
        assert "/metrics" in missing.json()["paths"]
        bare = client.get("/memory", follow_redirects=True)
        assert bare.status_code == 200
        assert str(bare.url).endswith("/memory/")


def test_the_mounted_page_draws_in_headless_chromium(
    agent: tuple[str, DashboardApp], tmp_path: Path
) -> None:
    url, dashboard = agent
    wait_for(lambda: len(dashboard.state.history()) >= 3, "three readings")
    shot = chromium_screenshot(url + "/memory/", tmp_path, "mounted.png")
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(1 << 22) or []
    level_card = sum(
        n
        for n, c in colours
        if all(abs(a - b) <= 12 for a, b in zip(c, LEVEL_GREEN_RGB, strict=True))
    )
    assert level_card > 1000, "the page under /memory/ did not get its stats (relative links)"


def test_bare_under_uvicorn_the_lifespan_starts_and_stops_the_sampler() -> None:
    dashboard = create_asgi_app(calm_manager(), sample_interval_s=0.2)
    with Served(dashboard, lifespan="on") as url:
        # No request yet: the lifespan startup alone started the sampler.
        wait_for(lambda: len(dashboard.state.history()) >= 2, "the sampler publishes")
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/healthz").json()["ok"] is True
            assert client.request("FOO", "/stats").status_code == 405
            assert "ironcliw_build_info" in client.get("/metrics").text
    assert dashboard._sampler is None  # the lifespan shutdown stopped it
    count = len(dashboard.state.history())
    time.sleep(0.5)
    assert len(dashboard.state.history()) == count


async def test_aclose_stops_a_sampler_started_by_a_request() -> None:
    dashboard = create_asgi_app(calm_manager(), sample_interval_s=0.05)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/healthz", "root_path": "", "headers": []}
    await dashboard(scope, receive, send)
    assert sent[0]["status"] == 503  # no reading yet at the very first request
    await wait_until(lambda: len(dashboard.state.history()) >= 2, "two samples")
    await dashboard.aclose()
    count = len(dashboard.state.history())
    await asyncio.sleep(0.2)
    assert len(dashboard.state.history()) == count
