"""The standalone dashboard server against hostile clients, with real sockets: methods it does not
serve, more connections than it serves at once, idle clients and clients trickling a byte at a
time. Each case failed on the server before these bounds (501 HTML; a thread per connection, 300
idle connections made 306 threads; a trickling client held its thread for ever)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ironcliw_mem.tools import dashboard
from ironcliw_mem.tools.dashboard import DashboardServer, DashboardState

HANG_GUARD_S = 20.0  # bounds a broken server only


@pytest.fixture
def server() -> Iterator[DashboardServer]:
    state = DashboardState(sample_interval_s=3600.0)
    state.publish({"pressure": "normal", "level": "green", "checks": 1}, None)
    running = DashboardServer(state, port=0, max_connections=4).start()
    yield running
    running.close()


def connect(server: DashboardServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=HANG_GUARD_S)


def exchange(server: DashboardServer, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with connect(server) as client:
        client.sendall(request)
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status, headers, body


def closed_by_server(client: socket.socket) -> bool:
    """True when the server closes the connection within the hang guard."""
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("method", ["FOO", "TRACE", "PROPFIND", "BREW", "PUT", "OPTIONS"])
def test_any_method_but_get_and_head_gets_the_json_405(
    server: DashboardServer, method: str
) -> None:
    status, headers, body = exchange(server, f"{method} /stats HTTP/1.0\r\n\r\n".encode())
    assert status.split()[1] == "405", status
    assert headers["content-type"] == "application/json"
    assert headers["allow"] == "GET, HEAD"
    assert json.loads(body)["error"].startswith(f"method {method} not allowed")


def test_connections_beyond_the_bound_are_turned_away_without_a_thread(
    server: DashboardServer,
) -> None:
    threads_before = threading.active_count()
    idle = [connect(server) for _ in range(4)]  # every slot held by a client saying nothing
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while threading.active_count() < threads_before + 4:
            assert time.monotonic() < deadline, "the server did not take the four connections"
            time.sleep(0.01)
        extra = [connect(server) for _ in range(40)]
        try:
            for client in extra:
                answer = client.recv(4096)
                assert answer.startswith(b"HTTP/1.0 503"), answer
                assert b"too many connections" in answer
            assert threading.active_count() <= threads_before + 4
        finally:
            for client in extra:
                client.close()
    finally:
        for client in idle:
            client.close()
    # The slots come back once those clients are gone.
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        status, _, _ = exchange(server, b"GET /healthz HTTP/1.0\r\n\r\n")
        if status.split()[1] == "200":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def test_an_idle_client_is_closed_after_the_deadline(
    server: DashboardServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "REQUEST_DEADLINE_S", 0.5)
    # Each read may wait far longer than the hang guard: only the deadline can close it in time.
    monkeypatch.setattr(dashboard._Handler, "timeout", 3 * HANG_GUARD_S)
    with connect(server) as client:
        assert closed_by_server(client)


def test_a_client_trickling_its_request_is_closed_after_the_deadline(
    server: DashboardServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "REQUEST_DEADLINE_S", 0.5)
    monkeypatch.setattr(dashboard._Handler, "timeout", 3 * HANG_GUARD_S)
    # A byte every 50 ms: far inside the per-read timeout, so only the deadline can stop it.
    trickle = b"GET /stats HTTP/1.0\r\nX-Slow: " + b"a" * 400
    with connect(server) as client:
        closed = False
        for byte in trickle:
            try:
                client.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.05)
        # 400 bytes at 50 ms take 20 s; the server must have hung up while they came.
        assert closed, "the trickling client kept its thread"
    status, _, _ = exchange(server, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status.split()[1] == "200"  # and the server goes on serving
