"""Shared fixtures: a real, private X server for the capture backends' tests."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

XVFB_SCREEN = (320, 240)
XVFB_START_LIMIT_S = 30  # only bounds a broken start; a healthy Xvfb answers in well under 1 s


@dataclass
class Xvfb:
    display: str
    size: tuple[int, int]
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    """An Xvfb of its own (`-displayfd` lets it pick a free display number), killed after.

    Xvfb is the Debian package `xvfb`, which `make setup` installs.
    """
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb; `make setup` installs it)")
    read_end, write_end = os.pipe()
    width, height = XVFB_SCREEN
    process = subprocess.Popen(
        [
            binary,
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
        ready, _, _ = select.select([read_end], [], [], XVFB_START_LIMIT_S)
        number = os.read(read_end, 32).decode().strip() if ready else ""
        if not number:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"Xvfb did not start: {err.decode(errors='replace')[-500:]}")
        yield Xvfb(f":{number}", XVFB_SCREEN, process)
    finally:
        os.close(read_end)
        process.kill()
        process.wait()


def unused_display() -> str:
    """A display name no X server listens on here (for the unreachable-display errors)."""
    number = next(n for n in range(4000, 4100) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    return f":{number}"
