"""A real, private X server for the capture backends' tests (Xvfb), and a display name no
server answers. A plain module, not conftest, so that test files import it by a name no other
directory's conftest shadows (tests and benches collected in one run)."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass

import pytest

XVFB_SCREEN = (320, 240)
XVFB_START_LIMIT_S = 30  # only bounds a broken start; a healthy Xvfb answers in well under 1 s


@dataclass
class Xvfb:
    display: str
    size: tuple[int, int]
    process: subprocess.Popen[bytes]


def start_xvfb(size: tuple[int, int] = XVFB_SCREEN, display: str | None = None) -> Xvfb:
    """Starts a private Xvfb and waits until it accepts clients. Without `display`,
    `-displayfd` lets it pick a free display number; with one (":N") it takes that number, to
    restart a server where a client expects it. The caller stops it (`stop_xvfb`).

    Xvfb is the Debian package `xvfb`, which `make setup` installs.
    """
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb; `make setup` installs it)")
    read_end, write_end = os.pipe()
    width, height = size
    where = [display] if display is not None else []
    process = subprocess.Popen(
        [
            binary,
            *where,
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        number = _read_display_number(read_end)
    finally:
        os.close(read_end)
    if not number:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"Xvfb did not start: {err.decode(errors='replace')[-500:]}")
    return Xvfb(f":{number}", size, process)


def _read_display_number(read_end: int) -> str:
    """Xvfb writes its display number once it listens, then a newline in a second write: the
    pipe must stay open until the newline, or that write fails and Xvfb exits."""
    deadline = time.monotonic() + XVFB_START_LIMIT_S
    text = b""
    while not text.endswith(b"\n"):
        ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(read_end, 32) if ready else b""
        if not chunk:
            return ""
        text += chunk
    return text.decode().strip()


def stop_xvfb(server: Xvfb) -> None:
    """SIGTERM, so that Xvfb removes its socket and lock file and the number can be reused."""
    server.process.terminate()
    try:
        server.process.wait(timeout=XVFB_START_LIMIT_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def unused_display() -> str:
    """A display name no X server listens on here (for the unreachable-display errors)."""
    number = next(n for n in range(4000, 4100) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    return f":{number}"
