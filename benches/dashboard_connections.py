"""300 idle connections to the standalone dashboard: the most threads alive at once.

    .venv/bin/python benches/dashboard_connections.py [--connections N]

The server caps its handler threads; connections past the cap are answered 503 at once and
idle ones are closed at the request deadline, so the thread count stays bounded however many
clients connect and say nothing.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

from ironcliw_mem.tools.dashboard import DashboardServer, DashboardState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=300)
    count = parser.parse_args().connections
    state = DashboardState()
    state.publish({"level": "green"}, None)
    server = DashboardServer(state, port=0).start()
    before = threading.active_count()
    clients: list[socket.socket] = []

    def connect() -> None:
        for _ in range(count):
            clients.append(socket.create_connection((server.host, server.port)))

    opener = threading.Thread(target=connect)
    opener.start()
    peak = 0
    while opener.is_alive():
        peak = max(peak, threading.active_count())
        time.sleep(0.01)
    turned_away = []
    for client in clients:
        client.settimeout(15)
        turned_away.append(client.recv(12).startswith(b"HTTP/1.0 503"))
    print(
        f"threads before: {before}; most alive with {count} idle connections: {peak} "
        f"(1 of them the connecting thread, cap {server.httpd.max_connections} handlers); "
        f"answered 503 at once: {sum(turned_away)}; closed without a byte: "
        f"{turned_away.count(False)}"
    )
    for client in clients:
        client.close()
    server.close()


if __name__ == "__main__":
    main()
