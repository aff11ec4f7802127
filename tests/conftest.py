"""Shared fixtures: a real, private X server for the capture backends' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xserver import Xvfb, start_xvfb, stop_xvfb


@pytest.fixture(scope="module")
def xvfb() -> Iterator[Xvfb]:
    """An Xvfb of its own, stopped after the module."""
    server = start_xvfb()
    try:
        yield server
    finally:
        stop_xvfb(server)
