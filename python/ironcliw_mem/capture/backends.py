"""Where frames come from: the `CaptureBackend` protocol and the synthetic screens.

A backend is synchronous and may block (a screenshot command, an X11 round trip); the engine
calls it from worker threads, never on the event loop.

A capture may carry a `SizeHint`: the tier the frame is for. A backend that can scale at the
source (the synthetic screens; macOS for the fast and thumbnail tiers) returns a smaller frame as
a `CapturedFrame` that also names the screen's native size; one that cannot returns the full
frame as a plain array, as before.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from ironcliw_mem import _native
from ironcliw_mem.levels import CaptureQuality

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SizeHint:
    """What a frame will be made into: the capture tier and the thumbnail box."""

    tier: CaptureQuality
    thumbnail_size: tuple[int, int]

    def needed(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) the tier has for a `width` x `height` screen: the smallest frame
        that still makes it without upscaling."""
        return _native.tier_size(self.tier.value, width, height, thumbnail_size=self.thumbnail_size)


class CapturedFrame(NamedTuple):
    """A frame taken smaller than the screen, with the screen's own (width, height): the tier's
    size and every tier derived later are reckoned from the screen's size, not the frame's."""

    pixels: Pixels
    native_size: tuple[int, int]


def frame_and_native_size(captured: Pixels | CapturedFrame) -> tuple[Pixels, tuple[int, int]]:
    """The pixels a backend returned and the native size of the screen they show."""
    if isinstance(captured, CapturedFrame):
        return captured.pixels, captured.native_size
    return captured, (int(captured.shape[1]), int(captured.shape[0]))


DEFAULT_SCREEN = (2880, 1800)  # a 15" Retina panel, the agent's usual machine


@runtime_checkable
class CaptureBackend(Protocol):
    """Lists desktop spaces and captures one as pixels."""

    name: str
    #: Layout of the arrays `capture` returns: "BGRA" (CGImage, mss) or "RGB".
    pixel_format: str

    def list_spaces(self) -> list[int]:
        """The space ids that exist now, in display order."""
        ...

    def current_space(self) -> int:
        """The space the user is looking at."""
        ...

    def capture(self, space_id: int, size_hint: SizeHint | None = None) -> Pixels | CapturedFrame:
        """A (height, width, channels) uint8 frame of `space_id`. Raises on failure.

        With `size_hint`, a backend that can scale at the source may return a `CapturedFrame`
        no smaller on either axis than `size_hint.needed(native width, native height)`; any
        backend may ignore the hint and return the full frame. (A backend whose `capture` takes
        no `size_hint` is called without one.)"""
        ...


class CaptureError(RuntimeError):
    """A backend could not capture a space; the message says which and why."""


# --- the synthetic screens -----------------------------------------------------------------------

# Colours in RGB; one theme per space so that spaces differ visibly.
_THEMES = [
    ((30, 30, 36), (52, 120, 246)),
    ((248, 248, 248), (220, 60, 60)),
    ((24, 40, 32), (80, 200, 120)),
    ((40, 28, 48), (200, 120, 240)),
    ((250, 244, 230), (200, 130, 20)),
    ((20, 32, 52), (90, 200, 250)),
    ((236, 240, 248), (40, 90, 200)),
    ((48, 20, 20), (250, 160, 80)),
    ((28, 28, 28), (240, 220, 80)),
]
_TEXT_COLOURS = [
    (230, 80, 80),
    (80, 200, 120),
    (90, 150, 250),
    (240, 190, 60),
    (200, 110, 230),
    (60, 200, 210),
]
_WORDS = [
    "def",
    "capture_space",
    "self",
    "space_id",
    "quality",
    "await",
    "cache",
    "put",
    "metadata",
    "return",
    "pressure",
    "yellow",
    "red",
    "green",
    "budget",
    "jpeg",
    "thumbnail",
    "optimized",
    "engine",
    "backend",
]


@dataclass(frozen=True)
class _Sprite:
    x: int
    y: int
    pixels: Pixels  # BGRA


@dataclass(frozen=True)
class _Rect:
    x0: int
    y0: int
    x1: int
    y1: int
    colour: tuple[int, int, int, int]  # BGRA


@dataclass(frozen=True)
class _Layout:
    background: tuple[int, int, int, int]
    items: tuple[_Rect | _Sprite, ...]  # in drawing order, back to front


def _bgra(rgb: tuple[int, int, int]) -> tuple[int, int, int, int]:
    return (rgb[2], rgb[1], rgb[0], 255)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_sprite(
    text: str, size: int, colour: tuple[int, int, int], background: tuple[int, int, int]
) -> Pixels:
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    box = (max(1, int(right - left) + 4), max(1, int(bottom - top) + 4))
    image = Image.new("RGB", box, background)
    ImageDraw.Draw(image).text((2 - left, 2 - top), text, fill=colour, font=font)
    rgb = np.asarray(image, dtype=np.uint8)
    bgra = np.empty((*rgb.shape[:2], 4), dtype=np.uint8)
    bgra[..., 0] = rgb[..., 2]
    bgra[..., 1] = rgb[..., 1]
    bgra[..., 2] = rgb[..., 0]
    bgra[..., 3] = 255
    return bgra


class SyntheticBackend:
    """Deterministic UI-like screens: windows, title bars and coloured text, one theme per space.

    Each frame also shows a clock and a line being "typed" that advance with time, so successive
    captures differ the way real screens do. Frames are composed from small pre-rendered text
    sprites, so the backend itself holds a few MB, not a full frame per space.
    """

    name = "synthetic"
    pixel_format = "BGRA"

    def __init__(
        self,
        spaces: int = 9,
        size: tuple[int, int] = DEFAULT_SCREEN,
        *,
        clock: Callable[[], float] = time.time,
        current_space: int = 1,
        seed: int = 7,
    ) -> None:
        if spaces < 1:
            raise ValueError(f"spaces must be >= 1, got {spaces}")
        width, height = size
        if width < 64 or height < 64:
            raise ValueError(f"size must be at least 64x64 pixels, got {width}x{height}")
        self.spaces = spaces
        self.size = (width, height)
        self._clock = clock
        self._seed = seed
        self._current = current_space
        self._layouts: dict[tuple[int, tuple[int, int]], _Layout] = {}
        self._lock = threading.Lock()
        self.captures = 0
        #: Pixels drawn over all captures: what a size hint saves shows here.
        self.pixels_drawn = 0
        self.failing_spaces: set[int] = set()

    def list_spaces(self) -> list[int]:
        return list(range(1, self.spaces + 1))

    def current_space(self) -> int:
        return self._current

    def switch_to(self, space_id: int) -> None:
        self._check_space(space_id)
        self._current = space_id

    def _check_space(self, space_id: int) -> None:
        if not 1 <= space_id <= self.spaces:
            raise CaptureError(f"space {space_id} does not exist (spaces are 1..{self.spaces})")

    def capture(self, space_id: int, size_hint: SizeHint | None = None) -> Pixels | CapturedFrame:
        """The space drawn at the screen's size, or at the size `size_hint` needs (the same
        layout, scaled: a thumbnail costs a thumbnail's pixels, not a 20 MB frame's)."""
        self._check_space(space_id)
        if space_id in self.failing_spaces:
            raise CaptureError(f"space {space_id}: capture failed (simulated)")
        size = self.size if size_hint is None else size_hint.needed(*self.size)
        frame = self._draw(space_id, size)
        with self._lock:
            self.captures += 1
            self.pixels_drawn += size[0] * size[1]
        return frame if size == self.size else CapturedFrame(frame, self.size)

    def _draw(self, space_id: int, size: tuple[int, int]) -> Pixels:
        layout = self._layout(space_id, size)
        width, height = size
        frame = np.empty((height, width, 4), dtype=np.uint8)
        frame[:] = layout.background
        for item in layout.items:
            if isinstance(item, _Rect):
                frame[item.y0 : item.y1, item.x0 : item.x1] = item.colour
            else:
                _paste(frame, item.pixels, item.x, item.y)
        self._draw_live_parts(frame, space_id)
        return frame

    def _layout(self, space_id: int, size: tuple[int, int]) -> _Layout:
        with self._lock:
            layout = self._layouts.get((space_id, size))
            if layout is None:
                layout = self._build_layout(space_id, size)
                self._layouts[(space_id, size)] = layout
            return layout

    def _build_layout(self, space_id: int, size: tuple[int, int]) -> _Layout:
        """The space's windows, placed in the screen's coordinates (the same random draws at
        every size) and drawn at `size`."""
        rng = np.random.default_rng(self._seed * 1000 + space_id)
        width, height = self.size
        sx, sy = size[0] / width, size[1] / height

        def at(x: int, y: int) -> tuple[int, int]:
            return int(x * sx), int(y * sy)

        scale = height / 1800
        background_rgb, accent = _THEMES[(space_id - 1) % len(_THEMES)]
        dark = sum(background_rgb) < 384
        window_rgb = (44, 44, 52) if dark else (255, 255, 255)
        bar = _bgra((20, 20, 20) if dark else (230, 230, 230))
        items: list[_Rect | _Sprite] = [_Rect(0, 0, *at(width, int(48 * scale)), bar)]
        font_size = max(10, int(26 * scale))
        drawn_font = _drawn_font_size(font_size, sy)
        line_height = int(font_size * 1.5)
        for window in range(3):
            x0 = int(rng.integers(0, width // 3))
            y0 = int(rng.integers(int(80 * scale), height // 3))
            x1 = min(width, x0 + int(rng.integers(width // 3, width // 2 + width // 4)))
            y1 = min(height, y0 + int(rng.integers(height // 3, height // 2)))
            items.append(_Rect(*at(x0, y0), *at(x1, y1), _bgra(window_rgb)))
            items.append(_Rect(*at(x0, y0), *at(x1, y0 + line_height), _bgra(accent)))
            title = f"Space {space_id} - window {window + 1}"
            items.append(
                _Sprite(
                    *at(x0 + 12, y0 + 4),
                    _text_sprite(title, drawn_font, (255, 255, 255), accent),
                )
            )
            y = y0 + line_height + 8
            while y + line_height < y1 and len(items) < 400:
                words = rng.choice(_WORDS, size=int(rng.integers(3, 9)))
                colour = _TEXT_COLOURS[int(rng.integers(0, len(_TEXT_COLOURS)))]
                text = " ".join(str(w) for w in words)
                # Whether a line fits is decided at the screen's size, so every size shows the
                # same lines (and the random draws stay in step).
                width_on_screen = _text_width(text, font_size)
                if x0 + 20 + width_on_screen < x1:
                    pixels = _text_sprite(text, drawn_font, colour, window_rgb)
                    # Small fonts are wider in proportion; the line keeps its width on screen.
                    pixels = pixels[:, : max(1, int(width_on_screen * sx))]
                    items.append(_Sprite(*at(x0 + 20, y), pixels))
                y += line_height
        return _Layout(_bgra(background_rgb), tuple(items))

    def _draw_live_parts(self, frame: Pixels, space_id: int) -> None:
        now = self._clock()
        height, width = frame.shape[:2]
        scale = height / self.size[1]  # of the frame to the screen
        font_size = _drawn_font_size(max(10, int(26 * self.size[1] / 1800)), scale)
        margin = _drawn_font_size(16, scale)
        clock_text = time.strftime("%H:%M:%S", time.gmtime(now))
        clock = _text_sprite(clock_text, font_size, (250, 250, 250), (20, 20, 20))
        _paste(frame, clock, width - clock.shape[1] - margin, _drawn_font_size(4, scale))
        typed = " ".join(_WORDS[(int(now) + space_id + i) % len(_WORDS)] for i in range(6))
        line = _text_sprite(f"> {typed}", font_size, (255, 200, 0), (0, 0, 0))
        _paste(frame, line, margin, height - line.shape[0] - margin)


def _drawn_font_size(font_size: int, scale: float) -> int:
    """The font size of text drawn at `scale` of the screen (at least 1 pixel)."""
    return font_size if scale == 1 else max(1, round(font_size * scale))


def _text_width(text: str, size: int) -> int:
    left, _, right, _ = _font(size).getbbox(text)
    return max(1, int(right - left) + 4)


def _paste(frame: Pixels, sprite: Pixels, x: int, y: int) -> None:
    height = min(sprite.shape[0], frame.shape[0] - y)
    width = min(sprite.shape[1], frame.shape[1] - x)
    if height > 0 and width > 0 and x >= 0 and y >= 0:
        frame[y : y + height, x : x + width] = sprite[:height, :width]
