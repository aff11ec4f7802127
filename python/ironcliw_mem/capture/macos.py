"""Real screens on macOS: `screencapture -x` for spaces on screen, window images for the others.

A space is a Mission Control desktop. yabai, when installed and running, lists them
(`yabai -m query --spaces`: index, focus, visibility, display) and the displays
(`--displays`: CGDirectDisplayID, UUID, arrangement index, frame in global points); without it
the Mac is one space, the current one. Spaces on screen (the focused one, and visible ones on
other displays) are captured with `screencapture -x -t png -D <n>` into a temporary PNG, decoded
with Pillow. yabai's display number is its own arrangement order (yabai src/display.c,
`display_arrangement`), not `screencapture`'s (1 = main, then the order of
`CGGetActiveDisplayList`), so the two are tied through the display's CGDirectDisplayID, which
needs Quartz when there is more than one display.

Spaces off screen cannot be photographed as a whole: their windows are captured one by one and
laid out on a canvas the size of *their* display, at that display's backing scale, so a space
gives frames of one size whether it is on screen or not. Window images come from
ScreenCaptureKit (`SCScreenshotManager`, macOS 14+) where it is present,
else from Quartz's `CGWindowListCreateImage` (deprecated in macOS 14, obsoleted in the macOS 15
SDK); with neither the capture is a `CaptureError` that says so. Either way the CGImage's layout
is checked to be 32-bit BGRA before its bytes are read.

Everything here that is not the subprocess or the Quartz/ScreenCaptureKit calls is a pure
function, tested on Linux: the command lines, yabai's JSON (old and new field names), the display
mapping, the layout check, the compositing, the mapping of failures to errors and the detection of
a missing Screen Recording permission. The calls themselves have never run here: the macOS job of
the wheel workflow runs these tests on a real Mac. Calls block; the engine runs them in worker
threads, never on the event loop.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ironcliw_mem.capture.backends import CapturedFrame, CaptureError, Pixels, SizeHint
from ironcliw_mem.levels import CaptureQuality

SCREENCAPTURE = "screencapture"
YABAI = "yabai"
#: A Retina `screencapture` takes ~0.3 s; the bound only stops a hang (a stuck WindowServer, a
#: permission prompt nobody answers) from holding an engine worker forever.
SCREENCAPTURE_TIMEOUT_S = 10.0
#: yabai answers over a local socket in milliseconds; a stopped yabai must not stall listing.
YABAI_TIMEOUT_S = 2.0
#: A frame whose colour channels never exceed this is "all black" (what macOS hands back for
#: displays the process may not record); a little above 0 to allow for colour management.
BLACK_LEVEL = 4
#: The stderr line of `screencapture` when the Screen Recording (TCC) permission is missing.
DENIED_STDERR = "could not create image from display"

PERMISSION_HINT = (
    "grant Screen Recording permission to the app that runs this Python (Terminal, iTerm2, your "
    "IDE or the agent's launcher) in System Settings > Privacy & Security > Screen Recording "
    "(macOS 15: Screen & System Audio Recording), then quit and reopen that app"
)
MACOS_EXTRA_HINT = (
    "dependencies of ironcliw-mem on macOS: "
    "pip install 'pyobjc-framework-Quartz>=10' 'pyobjc-framework-ScreenCaptureKit>=10'"
)

Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]


#: The tiers a capture at a Retina display's nominal resolution (its size in points, half its
#: pixels each way) can serve: the fast tier is exactly that size, a thumbnail far smaller.
NOMINAL_TIERS = frozenset({CaptureQuality.FAST, CaptureQuality.THUMBNAIL})


class ScreenRecordingDenied(CaptureError):
    """macOS refused the pixels: the Screen Recording permission is missing."""


class YabaiOutputError(ValueError):
    """yabai printed something that is not the JSON it documents."""


@dataclass(frozen=True)
class SpaceInfo:
    """One Mission Control space as yabai reports it."""

    index: int  # Mission Control index, 1-based across all displays: the space id
    focused: bool
    visible: bool  # on screen (the focused space, or the one shown on another display)
    display: int  # 1-based display index, as `screencapture -D` counts
    native_fullscreen: bool = False


@dataclass(frozen=True)
class WindowInfo:
    """One window of a space as yabai reports it (frame in global points)."""

    id: int
    x: float
    y: float
    w: float
    h: float
    minimized: bool = False
    hidden: bool = False


@dataclass(frozen=True)
class DisplayInfo:
    """One display as yabai reports it (frame in global points, the space of window frames)."""

    index: int  # yabai's arrangement order, what a space's `display` refers to
    id: int  # CGDirectDisplayID: what ties it to Quartz and to screencapture's numbering
    uuid: str
    x: float
    y: float
    w: float
    h: float


# --- command lines ---------------------------------------------------------------------------


def screencapture_command(
    path: str | Path, *, display: int | None = None, executable: str = SCREENCAPTURE
) -> list[str]:
    """`screencapture` silently (-x: no sound), lossless PNG, of one display (-D, 1 = main)."""
    command = [executable, "-x", "-t", "png"]
    if display is not None:
        if display < 1:
            raise ValueError(f"display must be >= 1, got {display}")
        command += ["-D", str(display)]
    command.append(str(path))
    return command


def yabai_spaces_command(executable: str = YABAI) -> list[str]:
    return [executable, "-m", "query", "--spaces"]


def yabai_windows_command(space: int, executable: str = YABAI) -> list[str]:
    return [executable, "-m", "query", "--windows", "--space", str(space)]


def yabai_displays_command(executable: str = YABAI) -> list[str]:
    return [executable, "-m", "query", "--displays"]


# --- yabai's JSON ----------------------------------------------------------------------------


def _flag(entry: dict[str, Any], *names: str) -> bool:
    """A boolean under its new name (`has-focus`, JSON true) or old one (`focused`, 0/1)."""
    for name in names:
        if name in entry:
            value = entry[name]
            if isinstance(value, bool | int):
                return bool(value)
            raise YabaiOutputError(f"yabai field {name!r} should be a boolean, got {value!r}")
    return False


def _int(entry: dict[str, Any], name: str, default: int | None = None) -> int:
    value = entry.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise YabaiOutputError(f"yabai field {name!r} should be an integer, got {value!r}")
    return value


def _entries(text: str | bytes, what: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise YabaiOutputError(f"yabai {what} query did not print JSON: {error}") from error
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise YabaiOutputError(f"yabai {what} query should print a JSON list of objects")
    return data


def parse_yabai_spaces(text: str | bytes) -> list[SpaceInfo]:
    """`yabai -m query --spaces` output, ordered by index.

    yabai 4+ names the flags `has-focus`, `is-visible`, `is-native-fullscreen` (booleans); yabai
    2/3 named them `focused`, `visible`, `native-fullscreen` (0/1). Both are accepted.
    """
    spaces = []
    for entry in _entries(text, "--spaces"):
        index = _int(entry, "index")
        if index < 1:
            raise YabaiOutputError(f"yabai space index should be >= 1, got {index}")
        spaces.append(
            SpaceInfo(
                index=index,
                focused=_flag(entry, "has-focus", "focused"),
                visible=_flag(entry, "is-visible", "visible"),
                display=_int(entry, "display", 1),
                native_fullscreen=_flag(entry, "is-native-fullscreen", "native-fullscreen"),
            )
        )
    if not spaces:
        raise YabaiOutputError("yabai listed no spaces")
    return sorted(spaces, key=lambda space: space.index)


def _frame(entry: dict[str, Any], what: str) -> tuple[float, float, float, float]:
    frame = entry.get("frame")
    if not isinstance(frame, dict) or not all(
        isinstance(frame.get(key), int | float) and not isinstance(frame.get(key), bool)
        for key in ("x", "y", "w", "h")
    ):
        raise YabaiOutputError(f"yabai {what} frame should have numbers x, y, w, h: {frame!r}")
    return float(frame["x"]), float(frame["y"]), float(frame["w"]), float(frame["h"])


def parse_yabai_windows(text: str | bytes) -> list[WindowInfo]:
    """`yabai -m query --windows --space N` output, in yabai's order."""
    windows = []
    for entry in _entries(text, "--windows"):
        x, y, w, h = _frame(entry, "window")
        windows.append(
            WindowInfo(
                id=_int(entry, "id"),
                x=x,
                y=y,
                w=w,
                h=h,
                minimized=_flag(entry, "is-minimized", "minimized"),
                hidden=_flag(entry, "is-hidden", "hidden"),
            )
        )
    return windows


def parse_yabai_displays(text: str | bytes) -> list[DisplayInfo]:
    """`yabai -m query --displays` output (yabai src/display.c `display_serialize`)."""
    displays = []
    for entry in _entries(text, "--displays"):
        x, y, w, h = _frame(entry, "display")
        if w <= 0 or h <= 0:
            raise YabaiOutputError(f"yabai display frame should have a positive size: {w}x{h}")
        uuid = entry.get("uuid", "")
        displays.append(
            DisplayInfo(
                index=_int(entry, "index"),
                id=_int(entry, "id"),
                uuid=uuid if isinstance(uuid, str) else "",
                x=x,
                y=y,
                w=w,
                h=h,
            )
        )
    if not displays:
        raise YabaiOutputError("yabai listed no displays")
    return displays


def display_of_space(space: SpaceInfo, displays: Sequence[DisplayInfo]) -> DisplayInfo:
    """The display a space is on, by yabai's arrangement index.

    yabai reports 0 when the display's UUID is not (or no longer) among the managed displays,
    e.g. while displays are being connected or rearranged: there is nothing to capture then.
    """
    if space.display < 1:
        raise CaptureError(
            f"space {space.index}: yabai reports it on display {space.display}, i.e. on no "
            f"display it knows of (displays being connected or rearranged?); try again"
        )
    for display in displays:
        if display.index == space.display:
            return display
    raise CaptureError(
        f"space {space.index}: yabai puts it on display {space.display}, which its display "
        f"list does not have (it lists {sorted(d.index for d in displays)})"
    )


def screencapture_display_number(display: DisplayInfo, active_display_ids: Sequence[int]) -> int:
    """`screencapture -D` for a display: its place in `CGGetActiveDisplayList` (main first), + 1.

    screencapture(1) numbers displays 1 = main, 2 = secondary, ...; CGGetActiveDisplayList puts
    the main display first. The CGDirectDisplayID ties yabai's display to that list.
    """
    ids = list(active_display_ids)
    if display.id not in ids:
        raise CaptureError(
            f"display {display.id} ({display.uuid or 'no uuid'}) from yabai is not among the "
            f"active displays {ids}; displays changed?"
        )
    return ids.index(display.id) + 1


def display_pixels(display: DisplayInfo, scale: float) -> tuple[int, int]:
    """A display's size in pixels at `scale` pixels per point (its backing scale: its native
    pixels; 1: its nominal resolution)."""
    return round(display.w * scale), round(display.h * scale)


def nominal_is_enough(display: DisplayInfo, backing_scale: float, hint: SizeHint) -> bool:
    """Whether the display's nominal resolution serves `hint`: a Retina display (there is less
    to take than its pixels), a fast or thumbnail tier, and its points cover the tier's size."""
    if backing_scale <= 1 or hint.tier not in NOMINAL_TIERS:
        return False
    needed = hint.needed(*display_pixels(display, backing_scale))
    nominal = display_pixels(display, 1.0)
    return nominal[0] >= needed[0] and nominal[1] >= needed[1]


def focused_space(spaces: Sequence[SpaceInfo]) -> int:
    """The focused space; else the first visible one; else the first (yabai mid-switch)."""
    for space in spaces:
        if space.focused:
            return space.index
    for space in spaces:
        if space.visible:
            return space.index
    return spaces[0].index


# --- failures --------------------------------------------------------------------------------


def is_permission_denied_text(stderr: str) -> bool:
    return DENIED_STDERR in stderr.lower()


def looks_like_denied_capture(pixels: Pixels) -> bool:
    """Empty, or black in every colour channel: what macOS gives a process it may not record."""
    if pixels.size == 0:
        return True
    return int(pixels[..., :3].max()) <= BLACK_LEVEL


def screencapture_failure(space_id: int, returncode: int, stderr: str) -> CaptureError:
    """The error for a `screencapture` that exited non-zero."""
    detail = stderr.strip() or "no message"
    if is_permission_denied_text(stderr):
        return ScreenRecordingDenied(
            f"space {space_id}: screencapture could not read the display ({detail}); "
            f"Screen Recording permission is missing: {PERMISSION_HINT}"
        )
    if returncode == 127:
        return CaptureError(f"space {space_id}: screencapture was not found (macOS only)")
    if returncode < 0:
        return CaptureError(f"space {space_id}: screencapture was killed by signal {-returncode}")
    return CaptureError(f"space {space_id}: screencapture exited with {returncode}: {detail}")


# --- pixels ----------------------------------------------------------------------------------


def decode_png(path: Path, space_id: int) -> Pixels:
    """The RGB pixels of the PNG `screencapture` wrote; a missing or empty file is an error."""
    if not path.exists() or path.stat().st_size == 0:
        raise ScreenRecordingDenied(
            f"space {space_id}: screencapture exited 0 but wrote no image; most often the Screen "
            f"Recording permission is missing: {PERMISSION_HINT}"
        )
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise CaptureError(
            f"space {space_id}: screencapture wrote an unreadable PNG: {error}"
        ) from error


def bgra_from_buffer(buffer: bytes, width: int, height: int, stride: int) -> Pixels:
    """A (height, width, 4) view of a CGImage's rows (each `stride` bytes, maybe padded)."""
    if stride < width * 4 or len(buffer) < stride * (height - 1) + width * 4:
        raise ValueError(
            f"buffer of {len(buffer)} bytes is too small for {width}x{height} BGRA "
            f"with stride {stride}"
        )
    rows = np.frombuffer(buffer, dtype=np.uint8, count=min(len(buffer), stride * height))
    if rows.size < stride * height:  # the last row need not be padded
        rows = np.concatenate([rows, np.zeros(stride * height - rows.size, dtype=np.uint8)])
    return rows.reshape(height, stride)[:, : width * 4].reshape(height, width, 4)


#: CGBitmapInfo fields (CoreGraphics CGImage.h).
CG_BITMAP_ALPHA_INFO_MASK = 0x1F
CG_BITMAP_FLOAT_COMPONENTS = 1 << 8
CG_BITMAP_BYTE_ORDER_MASK = 0x7000
CG_BITMAP_BYTE_ORDER_32_LITTLE = 2 << 12
CG_BITMAP_PIXEL_FORMAT_MASK = 0xF0000
#: Alpha (or padding) in the first component: premultiplied first, first, none-skip-first.
CG_IMAGE_ALPHA_FIRST_KINDS = frozenset({2, 4, 6})


def check_bgra_layout(bits_per_pixel: int, bits_per_component: int, bitmap_info: int) -> None:
    """Raise `CaptureError` unless a CGImage's bytes are B, G, R, A/X (8 bits each, packed).

    That is 32-bit little-endian with the alpha first (premultiplied, straight or skipped), the
    layout window images have on Intel and Apple silicon Macs; anything else (16-bit or float
    components, big-endian ARGB, RGBA, 24-bit) read as BGRA would give wrong colours silently.
    """
    alpha = bitmap_info & CG_BITMAP_ALPHA_INFO_MASK
    order = bitmap_info & CG_BITMAP_BYTE_ORDER_MASK
    if (
        bits_per_pixel != 32
        or bits_per_component != 8
        or bitmap_info & (CG_BITMAP_FLOAT_COMPONENTS | CG_BITMAP_PIXEL_FORMAT_MASK)
        or order != CG_BITMAP_BYTE_ORDER_32_LITTLE
        or alpha not in CG_IMAGE_ALPHA_FIRST_KINDS
    ):
        raise CaptureError(
            f"window image is not 32-bit BGRA ({bits_per_pixel} bits per pixel, "
            f"{bits_per_component} per component, bitmap info {bitmap_info:#x}); accepted: 32 "
            f"bits per pixel, 8 per component, little-endian byte order, alpha first"
        )


def fit_window(bgra: Pixels, width: int, height: int) -> Pixels:
    """A window image at the size its frame has on the canvas (resized only if it differs)."""
    if (bgra.shape[1] == width and bgra.shape[0] == height) or width < 1 or height < 1:
        return bgra
    image = Image.fromarray(np.ascontiguousarray(bgra))  # BGRA read as RGBA: same per channel
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def composite_windows(size: tuple[int, int], windows: Sequence[tuple[int, int, Pixels]]) -> Pixels:
    """Lay BGRA window images at (x, y), back to front, on a black (width, height) RGB canvas.

    Windows are opaque as far as a screen reader cares; parts off the canvas are cut.
    """
    width, height = size
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for x, y, bgra in windows:
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(width, x + bgra.shape[1]), min(height, y + bgra.shape[0])
        if x1 <= x0 or y1 <= y0:
            continue
        part = bgra[y0 - y : y1 - y, x0 - x : x1 - x]
        canvas[y0:y1, x0:x1] = part[..., 2::-1]
    return canvas


# --- the backend -----------------------------------------------------------------------------


def _import_quartz() -> Any | None:
    try:
        import Quartz  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Quartz


def _import_screencapturekit() -> Any | None:
    try:
        import ScreenCaptureKit  # type: ignore[import-not-found]
    except ImportError:
        return None
    # SCScreenshotManager (single images) exists from macOS 14 on.
    return ScreenCaptureKit if hasattr(ScreenCaptureKit, "SCScreenshotManager") else None


class MacOSBackend:
    """Mission Control spaces: `screencapture` on screen, window images off screen."""

    name = "macos"
    pixel_format = "RGB"

    def __init__(
        self,
        *,
        screencapture: str = SCREENCAPTURE,
        yabai: str | None = None,
        timeout: float = SCREENCAPTURE_TIMEOUT_S,
        yabai_timeout: float = YABAI_TIMEOUT_S,
        run: Runner = subprocess.run,
        quartz: Any | None = None,
        screencapturekit: Any | None = None,
    ) -> None:
        self.screencapture = screencapture
        self.yabai = yabai if yabai is not None else shutil.which(YABAI)
        self.timeout = timeout
        self.yabai_timeout = yabai_timeout
        self._run = run
        #: pyobjc modules by name, imported on first use; None once found missing.
        self._modules: dict[str, Any | None] = {}
        if quartz is not None:
            self._modules["Quartz"] = quartz
            # An injected Quartz (a test's fake) is not mixed with the real ScreenCaptureKit.
            self._modules["ScreenCaptureKit"] = screencapturekit
        elif screencapturekit is not None:
            self._modules["ScreenCaptureKit"] = screencapturekit
        self._lock = threading.Lock()
        #: Where the space list came from, for the engine's stats.
        self.space_source = "yabai" if self.yabai else "one space (yabai not installed)"

    # listing

    def _yabai(self, command: list[str], what: str) -> bytes:
        """yabai's stdout; `YabaiOutputError` with its exit code and message when it fails."""
        done = self._run(command, capture_output=True, timeout=self.yabai_timeout, check=False)
        if done.returncode != 0:
            detail = (done.stderr or b"").decode(errors="replace").strip() or "no message"
            raise YabaiOutputError(f"{what} query exited with {done.returncode}: {detail}")
        return bytes(done.stdout)

    def spaces(self) -> list[SpaceInfo] | None:
        """yabai's spaces; None when yabai is missing or not answering (one space then)."""
        if not self.yabai:
            return None
        try:
            spaces = parse_yabai_spaces(self._yabai(yabai_spaces_command(self.yabai), "--spaces"))
        except (OSError, subprocess.TimeoutExpired, YabaiOutputError) as error:
            self.space_source = f"one space (yabai failed: {error})"
            return None
        self.space_source = "yabai"
        return spaces

    def displays(self, space_id: int) -> list[DisplayInfo]:
        """yabai's displays; a `CaptureError` (with yabai's reason) when it cannot list them."""
        assert self.yabai  # displays are only asked for spaces yabai listed
        try:
            return parse_yabai_displays(
                self._yabai(yabai_displays_command(self.yabai), "--displays")
            )
        except (OSError, subprocess.TimeoutExpired, YabaiOutputError) as error:
            raise CaptureError(
                f"space {space_id}: yabai could not list the displays: {error}"
            ) from error

    def list_spaces(self) -> list[int]:
        spaces = self.spaces()
        return [1] if spaces is None else [space.index for space in spaces]

    def current_space(self) -> int:
        spaces = self.spaces()
        return 1 if spaces is None else focused_space(spaces)

    # capturing

    def capture(self, space_id: int, size_hint: SizeHint | None = None) -> Pixels | CapturedFrame:
        """The space at its display's pixels; with a fast or thumbnail `size_hint` on a Retina
        display, its windows at the display's nominal resolution (a quarter of the pixels),
        through Quartz as for spaces off screen. Without yabai (no display geometry) or Quartz
        the hint is ignored."""
        spaces = self.spaces()
        if spaces is None:
            if space_id != 1:
                raise CaptureError(
                    f"space {space_id} is unknown: without yabai the Mac is listed as one space"
                )
            return self._screencapture(space_id, display=None)
        by_index = {space.index: space for space in spaces}
        space = by_index.get(space_id)
        if space is None:
            raise CaptureError(f"space {space_id} does not exist (yabai lists {sorted(by_index)})")
        displays = self.displays(space_id)
        display = display_of_space(space, displays)
        if size_hint is not None:
            small = self._capture_nominal(space_id, display, size_hint)
            if small is not None:
                return small
        if space.visible or space.focused:
            return self._screencapture(space_id, display=self._display_number(display, displays))
        return self._capture_windows(space_id, display)

    def _display_number(self, display: DisplayInfo, displays: Sequence[DisplayInfo]) -> int:
        if len(displays) == 1:
            return 1  # the only display is the main one
        quartz = self._quartz_module()
        if quartz is None:
            raise CaptureError(
                f"space on display {display.index} of {len(displays)}: telling screencapture "
                f"which display that is needs Quartz (yabai's numbering is not screencapture's): "
                f"{MACOS_EXTRA_HINT}"
            )
        return screencapture_display_number(display, _active_display_ids(quartz))

    def _screencapture(self, space_id: int, display: int | None) -> Pixels:
        with tempfile.TemporaryDirectory(prefix="ironcliw-capture-") as folder:
            path = Path(folder) / f"space-{space_id}.png"
            command = screencapture_command(path, display=display, executable=self.screencapture)
            try:
                done = self._run(command, capture_output=True, timeout=self.timeout, check=False)
            except FileNotFoundError as error:
                raise CaptureError(
                    f"space {space_id}: {self.screencapture} was not found (macOS only)"
                ) from error
            except subprocess.TimeoutExpired as error:
                raise CaptureError(
                    f"space {space_id}: screencapture timed out after {self.timeout:g} s"
                ) from error
            stderr = done.stderr.decode(errors="replace") if done.stderr else ""
            if done.returncode != 0 or is_permission_denied_text(stderr):
                raise screencapture_failure(space_id, done.returncode, stderr)
            pixels = decode_png(path, space_id)
        if looks_like_denied_capture(pixels):
            raise ScreenRecordingDenied(
                f"space {space_id}: the capture is all black, which is what macOS returns when "
                f"Screen Recording permission is missing (or the display is asleep): "
                f"{PERMISSION_HINT}"
            )
        return pixels

    def _module(self, name: str, load: Callable[[], Any | None]) -> Any | None:
        with self._lock:
            if name not in self._modules:
                self._modules[name] = load()
            return self._modules[name]

    def _quartz_module(self) -> Any | None:
        return self._module("Quartz", _import_quartz)

    def _screencapturekit_module(self) -> Any | None:
        return self._module("ScreenCaptureKit", _import_screencapturekit)

    def _capture_nominal(
        self, space_id: int, display: DisplayInfo, hint: SizeHint
    ) -> CapturedFrame | None:
        """The space at its display's nominal resolution where that serves `hint`, else None."""
        if hint.tier not in NOMINAL_TIERS:
            return None
        quartz = self._quartz_module()
        if quartz is None:
            return None
        scale = _backing_scale(quartz, display.id)
        if not nominal_is_enough(display, scale, hint):
            return None
        frame = self._capture_windows(space_id, display, scale=1.0)
        return CapturedFrame(frame, display_pixels(display, scale))

    def _capture_windows(
        self, space_id: int, display: DisplayInfo, scale: float | None = None
    ) -> Pixels:
        """The space's windows composed at `scale` pixels per point (None: the display's)."""
        quartz = self._quartz_module()
        if quartz is None:
            raise CaptureError(
                f"space {space_id} is not on screen; capturing its windows needs Quartz "
                f"(pyobjc): {MACOS_EXTRA_HINT}"
            )
        assert self.yabai  # off-screen spaces are only known through yabai
        try:
            windows = parse_yabai_windows(
                self._yabai(yabai_windows_command(space_id, self.yabai), "--windows")
            )
        except (OSError, subprocess.TimeoutExpired, YabaiOutputError) as error:
            raise CaptureError(
                f"space {space_id}: yabai could not list its windows: {error}"
            ) from error
        sck = self._screencapturekit_module()
        if sck is not None:
            imager: WindowImager = _ScreenCaptureKitWindows(sck, quartz, self.timeout)
        elif hasattr(quartz, "CGWindowListCreateImage"):
            imager = _QuartzWindows(quartz, nominal=scale == 1.0)
        else:
            raise CaptureError(
                f"space {space_id} is not on screen, and this Mac offers no way to capture its "
                f"windows: ScreenCaptureKit's SCScreenshotManager (macOS 14+, "
                f"pyobjc-framework-ScreenCaptureKit) is missing and Quartz has no "
                f"CGWindowListCreateImage (obsoleted in macOS 15): {MACOS_EXTRA_HINT}"
            )
        return _compose_space(quartz, imager, space_id, display, windows, scale)


# --- the macOS-only leaf: Quartz and ScreenCaptureKit calls ----------------------------------

#: Enough for any Mac's displays (CGGetActiveDisplayList's maxDisplays).
MAX_DISPLAYS = 32

WindowImager = Callable[[WindowInfo, int, int], Any]


def _active_display_ids(quartz: Any) -> list[int]:
    error, ids, count = quartz.CGGetActiveDisplayList(MAX_DISPLAYS, None, None)
    if error:
        raise CaptureError(f"CGGetActiveDisplayList failed with CGError {error}")
    return [int(display_id) for display_id in list(ids)[:count]]


def _backing_scale(quartz: Any, display_id: int) -> float:
    """Pixels per point of a display's current mode (2 on Retina), as screencapture records it."""
    mode = quartz.CGDisplayCopyDisplayMode(display_id)
    if mode is None:
        return 1.0
    points = quartz.CGDisplayModeGetWidth(mode)
    pixels = quartz.CGDisplayModeGetPixelWidth(mode)
    return float(pixels) / float(points) if points and pixels else 1.0


def _cgimage_bgra(quartz: Any, image: Any) -> Pixels:
    check_bgra_layout(
        int(quartz.CGImageGetBitsPerPixel(image)),
        int(quartz.CGImageGetBitsPerComponent(image)),
        int(quartz.CGImageGetBitmapInfo(image)),
    )
    data = bytes(quartz.CGDataProviderCopyData(quartz.CGImageGetDataProvider(image)))
    return bgra_from_buffer(
        data,
        int(quartz.CGImageGetWidth(image)),
        int(quartz.CGImageGetHeight(image)),
        int(quartz.CGImageGetBytesPerRow(image)),
    )


class _QuartzWindows:
    """`CGWindowListCreateImage` per window, at the resolution of the display it is on, or at
    its nominal resolution (`nominal`: a quarter of a Retina display's pixels)."""

    def __init__(self, quartz: Any, *, nominal: bool = False) -> None:
        self.quartz = quartz
        self.options = quartz.kCGWindowImageBoundsIgnoreFraming
        if nominal:
            self.options |= quartz.kCGWindowImageNominalResolution

    def __call__(self, window: WindowInfo, width: int, height: int) -> Any:
        q = self.quartz
        return q.CGWindowListCreateImage(
            q.CGRectNull,
            q.kCGWindowListOptionIncludingWindow,
            window.id,
            self.options,
        )


class _ScreenCaptureKitWindows:
    """`SCScreenshotManager` per window (off-screen windows included), at the canvas size."""

    def __init__(self, sck: Any, quartz: Any, timeout: float) -> None:
        self.sck = sck
        self.timeout = timeout
        self._windows: dict[int, Any] | None = None
        # A process that never touched a CoreGraphics display API has no window-server
        # connection, and SCContentFilter(desktopIndependentWindow:) then aborts the whole
        # process in SkyLight (CGS_REQUIRE_INIT; getopenscreen/openscreen#487, fixed by #488
        # the same way): one CGMainDisplayID() makes that connection first.
        quartz.CGMainDisplayID()

    def _wait(self, start: Callable[[Callable[[Any, Any], None]], None], what: str) -> Any:
        done = threading.Event()
        box: list[Any] = [None, None]

        def finished(result: Any, error: Any) -> None:
            box[0], box[1] = result, error
            done.set()

        start(finished)
        if not done.wait(self.timeout):
            raise CaptureError(f"ScreenCaptureKit {what} did not answer in {self.timeout:g} s")
        if box[1] is not None:
            raise CaptureError(f"ScreenCaptureKit {what} failed: {box[1]}")
        return box[0]

    def __call__(self, window: WindowInfo, width: int, height: int) -> Any:
        sck = self.sck
        if self._windows is None:
            content = self._wait(
                lambda done: (
                    sck.SCShareableContent.getShareableContentExcludingDesktopWindows_onScreenWindowsOnly_completionHandler_(
                        True, False, done
                    )
                ),
                "shareable content",
            )
            self._windows = {int(w.windowID()): w for w in content.windows()}
        sc_window = self._windows.get(window.id)
        if sc_window is None:
            return None
        content_filter = sck.SCContentFilter.alloc().initWithDesktopIndependentWindow_(sc_window)
        config = sck.SCStreamConfiguration.alloc().init()
        config.setWidth_(width)
        config.setHeight_(height)
        config.setShowsCursor_(False)
        return self._wait(
            lambda done: (
                sck.SCScreenshotManager.captureImageWithFilter_configuration_completionHandler_(
                    content_filter, config, done
                )
            ),
            f"screenshot of window {window.id}",
        )


def _compose_space(
    quartz: Any,
    imager: WindowImager,
    space_id: int,
    display: DisplayInfo,
    windows: Sequence[WindowInfo],
    scale: float | None = None,
) -> Pixels:
    """The space's windows on a canvas of its own display, in that display's pixels (or at
    `scale` pixels per point)."""
    if (
        hasattr(quartz, "CGPreflightScreenCaptureAccess")
        and not quartz.CGPreflightScreenCaptureAccess()
    ):
        raise ScreenRecordingDenied(
            f"space {space_id}: Screen Recording permission is missing: {PERMISSION_HINT}"
        )
    if scale is None:
        scale = _backing_scale(quartz, display.id)
    size = display_pixels(display, scale)
    images = []
    for window in windows:
        if window.minimized or window.hidden:
            continue
        width, height = round(window.w * scale), round(window.h * scale)
        image = imager(window, width, height)
        if image is None:
            continue
        try:
            bgra = _cgimage_bgra(quartz, image)
        except CaptureError as error:
            raise CaptureError(f"space {space_id}, window {window.id}: {error}") from error
        left = round((window.x - display.x) * scale)
        top = round((window.y - display.y) * scale)
        images.append((left, top, fit_window(bgra, width, height)))
    if not images:
        raise CaptureError(f"space {space_id}: no window images could be taken for it")
    frame = composite_windows(size, images)
    if looks_like_denied_capture(frame):
        raise ScreenRecordingDenied(
            f"space {space_id}: its window images are all black, which is what macOS returns "
            f"when Screen Recording permission is missing: {PERMISSION_HINT}"
        )
    return frame
