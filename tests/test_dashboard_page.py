"""The dashboard page in headless Chromium, on a fixed minute of readings: the pixels of the
level bands, the lines, the budget, the stale veil and the readout; the backing store on a
HiDPI screen; the level colours' contrast."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ironcliw_mem.tools.dashboard import DashboardServer, DashboardState
from ironcliw_mem.tools.dashboard_page import LEVEL_CARD_COLOURS
from support import CHROMIUM_LIMIT_S, chromium_dom, chromium_screenshot

MIB = 1024**2
T0 = 1_764_000_000.0  # the minute the fixture's readings span
READINGS = 60
BUDGET_MB = {"green": 500.0, "yellow": 200.0, "red": 100.0}
# Colours as the page paints them over white (the bands are translucent).
GREEN_BAND = (219, 239, 220)
YELLOW_BAND = (255, 237, 185)
RED_BAND = (252, 210, 207)
RSS_LINE = (0x1F, 0x3B, 0x73)
BUDGET_LINE = (0xBF, 0x36, 0x0C)
RED_CARD = (0xC6, 0x28, 0x28)
YELLOW_CARD = (0xF9, 0xA8, 0x25)
CARD_TEXT_DARK = (0x1D, 0x23, 0x30)
STALE_VEIL = (215, 215, 215)
READOUT_OVER_RED = (47, 49, 61)


def level_at(i: int) -> str:
    return "green" if i < 30 else "yellow" if i < 45 else "red"


def fixture_state(served_at: float, forced_yellow: bool = False) -> DashboardState:
    """A minute of readings: green, then yellow, then red; memory rising, the budget falling."""
    clock = iter([T0 + i for i in range(READINGS)] + [served_at] * 1000)
    state = DashboardState(sample_interval_s=1.0, wall_clock=lambda: next(clock))
    for i in range(READINGS):
        level = "yellow" if forced_yellow else level_at(i)
        rss = 300.0 + 6 * i
        summary = {"pressure": "x", "level": level, "forced": forced_yellow, "checks": i,
                   "available_gb": 3.0, "recommended_cache_mb": BUDGET_MB[level],
                   "recommended_quality": "medium", "reasons": []}  # fmt: skip
        cache = {"bytes": int(min(5 * i, BUDGET_MB[level]) * MIB), "entries": i,
                 "max_bytes": int(BUDGET_MB[level] * MIB), "captures_made": i}  # fmt: skip
        state.publish(summary, cache, (rss, rss - 60.0))
    return state


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[DashboardServer] = []

    def start(state: DashboardState) -> str:
        servers.append(DashboardServer(state, port=0).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


def near(colour: tuple[int, ...], target: tuple[int, int, int], slack: int) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(colour, target, strict=True))


def count(image: Image.Image, target: tuple[int, int, int], slack: int = 12) -> int:
    colours = image.convert("RGB").getcolors(1 << 24) or []
    return sum(n for n, c in colours if near(c, target, slack))


def shoot(url: str, tmp_path: Path, name: str, *args: str) -> Image.Image:
    shot = chromium_screenshot(url, tmp_path, name, *args)
    keep = os.environ.get("IRONCLIW_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / name)
    image = Image.open(shot)
    image.load()
    return image.convert("RGB")


def test_bands_lines_budget_and_level_are_drawn(serve: Any, tmp_path: Path) -> None:
    image = shoot(serve(fixture_state(served_at=T0 + READINGS)), tmp_path, "page.png")
    assert image.size == (1200, 620)
    assert count(image, RED_CARD) > 1000, "the level card (red) is not drawn"
    # Thirty green readings, fifteen yellow, fifteen red: bands about 2 : 1 : 1 wide.
    green, yellow, red = (count(image, c, 4) for c in (GREEN_BAND, YELLOW_BAND, RED_BAND))
    assert green > 20_000, green
    assert yellow > 10_000, yellow
    assert red > 10_000, red
    assert 1.4 < green / yellow < 2.8, (green, yellow)
    assert count(image, RSS_LINE) > 300, "the RSS line is not drawn"
    assert count(image, BUDGET_LINE) > 150, "the budget is not drawn"
    assert count(image, STALE_VEIL, 4) < 500, "fresh readings drawn as stale"
    assert count(image, READOUT_OVER_RED, 6) < 1_000, "a readout nobody asked for"


def test_readings_that_stopped_are_veiled_as_stale(serve: Any, tmp_path: Path) -> None:
    image = shoot(serve(fixture_state(served_at=T0 + READINGS + 40)), tmp_path, "stale.png")
    assert count(image, STALE_VEIL, 4) > 5_000, "40 s without a reading is not marked stale"


def test_the_readout_shows_a_pinned_moment(serve: Any, tmp_path: Path) -> None:
    url = serve(fixture_state(served_at=T0 + READINGS)) + "#at=-8"
    image = shoot(url, tmp_path, "readout.png")
    assert count(image, READOUT_OVER_RED, 6) > 5_000, "no readout box at the pinned moment"


def test_on_a_hidpi_screen_the_chart_has_a_device_pixel_backing_store(
    serve: Any, tmp_path: Path
) -> None:
    url = serve(fixture_state(served_at=T0 + READINGS))
    plain = chromium_dom(url, tmp_path)
    dense = chromium_dom(url, tmp_path, "--force-device-scale-factor=2")

    def canvas_width(dom: str) -> int:
        match = re.search(r'<canvas id="chart"[^>]*\bwidth="(\d+)"', dom)
        assert match, dom[:2000]
        return int(match.group(1))

    # The window is 1200 CSS pixels wide: only a device-pixel backing store is wider than it.
    assert canvas_width(plain) <= 1200
    assert canvas_width(dense) == 2 * canvas_width(plain)
    image = shoot(url, tmp_path, "hidpi.png", "--force-device-scale-factor=2")
    assert image.size == (2400, 1240)
    assert count(image, RSS_LINE) > 4 * 300


def relative_luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("level", sorted(LEVEL_CARD_COLOURS))
def test_level_colours_meet_wcag_aa(level: str) -> None:
    background, text = LEVEL_CARD_COLOURS[level]
    lighter, darker = sorted(map(relative_luminance, (background, text)), reverse=True)
    assert (lighter + 0.05) / (darker + 0.05) >= 4.5


def test_a_forced_yellow_card_is_written_in_dark_text(serve: Any, tmp_path: Path) -> None:
    image = shoot(serve(fixture_state(T0 + READINGS, forced_yellow=True)), tmp_path, "y.png")
    pixels = image.load()
    assert pixels is not None
    card = [
        (x, y)
        for y in range(0, 160)
        for x in range(image.width)
        if near(pixels[x, y], YELLOW_CARD, 6)
    ]
    assert len(card) > 1000, "no yellow card"
    left, top = min(x for x, _ in card), min(y for _, y in card)
    right, bottom = max(x for x, _ in card), max(y for _, y in card)
    dark = sum(
        near(pixels[x, y], CARD_TEXT_DARK, 40)
        for y in range(top, bottom + 1)
        for x in range(left, right + 1)
    )
    assert dark > 40, "the yellow card's text is not dark (white on amber fails WCAG AA)"


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4, messages ended
    by NUL): real mouse events, which a plain `--screenshot` cannot send."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.skip("chromium is not installed (Debian package chromium)")
        to_chrome, self._commands = os.pipe()
        self._replies, from_chrome = os.pipe()
        # Out of the way of 3 and 4, where the child needs them.
        ours = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]
        for fd in (to_chrome, from_chrome):
            os.close(fd)
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--hide-scrollbars", "--remote-debugging-pipe",
             f"--user-data-dir={directory / 'profile-devtools'}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=lambda: (os.dup2(ours[0], 3), os.dup2(ours[1], 4)),
        )  # fmt: skip
        for fd in ours:
            os.close(fd)
        self._buffer = b""
        self._id = 0
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        attached = self.call(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
        )
        self.session = attached["sessionId"]

    def call(self, method: str, params: dict[str, Any] | None = None, page: bool = False) -> Any:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + CHROMIUM_LIMIT_S
        while True:
            while b"\0" not in self._buffer:
                assert time.monotonic() < deadline, f"no answer to {method}"
                ready, _, _ = select.select([self._replies], [], [], 1)
                if ready:
                    chunk = os.read(self._replies, 1 << 20)
                    assert chunk, "chromium went away"
                    self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                assert "error" not in reply, reply
                return reply["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           page=True)  # fmt: skip
        return result["result"].get("value")

    def screenshot(self) -> Image.Image:
        data = self.call("Page.captureScreenshot", {"format": "png"}, page=True)["data"]
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
        return image.convert("RGB")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close")
        os.close(self._commands)
        os.close(self._replies)
        try:
            self.process.wait(timeout=CHROMIUM_LIMIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def test_the_pointer_over_the_chart_shows_the_values_there(serve: Any, tmp_path: Path) -> None:
    url = serve(fixture_state(served_at=T0 + READINGS))
    browser = DevTools(tmp_path)
    try:
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 1200, "height": 620, "deviceScaleFactor": 1, "mobile": False},
                     page=True)  # fmt: skip
        browser.call("Page.navigate", {"url": url}, page=True)
        deadline = time.monotonic() + CHROMIUM_LIMIT_S
        while not browser.evaluate("typeof points !== 'undefined' && points.length === 60"):
            assert time.monotonic() < deadline, "the page never drew its readings"
            time.sleep(0.1)
        box = browser.evaluate(
            "(() => { const r = document.getElementById('chart').getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })()"
        )
        left, top, width, height = box
        # Five sixths across the plot (70 px axis at the left): inside the red readings.
        x, y = left + 70 + (width - 86) * 5 / 6, top + height / 2
        browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, page=True)
        hovered = browser.screenshot()
        browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 5, "y": 5}, page=True)
        left_again = browser.screenshot()
        readout = browser.evaluate("hoverX")
    finally:
        browser.close()
    keep = os.environ.get("IRONCLIW_TEST_ARTIFACTS")
    if keep:
        hovered.save(Path(keep) / "hover.png")
    assert count(hovered, READOUT_OVER_RED, 6) > 5_000, "no values under the pointer"
    assert count(left_again, READOUT_OVER_RED, 6) < 1_000, (
        "the readout stays after the pointer left"
    )
    assert readout is None
