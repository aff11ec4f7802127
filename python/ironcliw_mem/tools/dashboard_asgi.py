"""The dashboard as a pure ASGI application, to mount in the agent's own web app:

    from ironcliw_mem.tools.dashboard_asgi import create_asgi_app
    app.mount("/memory", create_asgi_app(manager, engine))   # FastAPI / Starlette

No web framework: the routes are `dashboard.respond`, the same the standalone server answers.
The sampler runs on the loop that serves the app (the agent's, which owns the manager): it
starts at the ASGI lifespan startup where the server sends one, else at the first request (a
mounted app gets no lifespan events), and stops at the lifespan shutdown or with `aclose()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ironcliw_mem.tools.dashboard import (
    DASHBOARD_SAMPLE_INTERVAL_S,
    DashboardState,
    respond,
    sample_forever,
)

if TYPE_CHECKING:
    from ironcliw_mem.capture.engine import MultiSpaceCaptureEngine
    from ironcliw_mem.manager import MacOSMemoryManager

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class DashboardApp:
    """An ASGI 3 application serving the dashboard; `state` is what it serves."""

    def __init__(
        self,
        manager: MacOSMemoryManager,
        engine: MultiSpaceCaptureEngine | None = None,
        sample_interval_s: float = DASHBOARD_SAMPLE_INTERVAL_S,
    ) -> None:
        self.manager = manager
        self.engine = engine
        self.state = DashboardState(sample_interval_s=sample_interval_s)
        self._sampler: asyncio.Task[None] | None = None

    def _start_sampler(self) -> None:
        if self._sampler is None or self._sampler.done():
            self._sampler = asyncio.get_running_loop().create_task(
                sample_forever(self.state, self.manager, self.engine),
                name="ironcliw-dashboard-sampler",
            )

    async def aclose(self) -> None:
        """Stops the sampler (the lifespan shutdown does this where the server sends one)."""
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            self._start_sampler()
            await self._http(scope, send)
        else:  # a websocket: the dashboard has none
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start_sampler()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, send: Send) -> None:
        root = str(scope.get("root_path", ""))
        path = str(scope["path"])
        # ASGI puts the mount point in root_path; whether path still starts with it differs
        # between servers and framework versions.
        if root and path.startswith(root):
            path = path[len(root) :]
        if path == "":  # "/memory" under a mount: the page's relative links need "/memory/"
            await _send(
                send, HTTPStatus.PERMANENT_REDIRECT, b"", [(b"location", f"{root}/".encode())]
            )
            return
        method = str(scope["method"]).upper()
        response = respond(self.state, method, path)
        headers = [
            (b"content-type", response.content_type.encode()),
            (b"cache-control", b"no-store"),
            *((name.lower().encode(), value.encode()) for name, value in response.headers),
        ]
        body = b"" if method == "HEAD" else response.body
        headers.append((b"content-length", str(len(response.body)).encode()))
        await _send(send, response.status, body, headers)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if not any(name == b"content-length" for name, _ in headers):
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": int(status), "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_asgi_app(
    manager: MacOSMemoryManager,
    engine: MultiSpaceCaptureEngine | None = None,
    *,
    sample_interval_s: float = DASHBOARD_SAMPLE_INTERVAL_S,
) -> DashboardApp:
    """The dashboard (page, /stats, /history, /healthz, /metrics) as an ASGI application for
    `manager` and, optionally, the capture `engine`'s cache."""
    return DashboardApp(manager, engine, sample_interval_s)
