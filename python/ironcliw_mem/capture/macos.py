"""Real screens on macOS: `screencapture -x` for spaces on screen, Quartz windows for the others.

A space is a Mission Control desktop. yabai, when installed and running, lists them
(`yabai -m query --spaces`: index, focus, visibility, display); without it the Mac is one space,
the current one. Spaces on screen (the focused one, and visible ones on other displays) are
captured with `screencapture -x -t png -D <display>` into a temporary PNG, decoded with Pillow.
Spaces off screen cannot be photographed as a whole: their windows are captured one by one with
Quartz (`CGWindowListCreateImage`, pyobjc, a dependency on macOS) and laid out where yabai
says they are.

Everything here that is not the subprocess or the Quartz call is a pure function, tested on Linux:
the command lines, yabai's JSON (old and new field names), the mapping of failures to errors and
the detection of a missing Screen Recording permission. Calls block; the engine runs them in
worker threads, never on the event loop.
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

from ironcliw_mem.capture.backends import CaptureError, Pixels

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
    "a dependency of ironcliw-mem on macOS: pip install 'pyobjc-framework-Quartz>=10'"
)

Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]


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


def parse_yabai_windows(text: str | bytes) -> list[WindowInfo]:
    """`yabai -m query --windows --space N` output, in yabai's order."""
    windows = []
    for entry in _entries(text, "--windows"):
        frame = entry.get("frame")
        if not isinstance(frame, dict) or not all(
            isinstance(frame.get(key), int | float) for key in ("x", "y", "w", "h")
        ):
            raise YabaiOutputError(f"yabai window frame should have numbers x, y, w, h: {frame!r}")
        windows.append(
            WindowInfo(
                id=_int(entry, "id"),
                x=float(frame["x"]),
                y=float(frame["y"]),
                w=float(frame["w"]),
                h=float(frame["h"]),
                minimized=_flag(entry, "is-minimized", "minimized"),
                hidden=_flag(entry, "is-hidden", "hidden"),
            )
        )
    return windows


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


class MacOSBackend:
    """Mission Control spaces: `screencapture` on screen, Quartz windows off screen."""

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
    ) -> None:
        self.screencapture = screencapture
        self.yabai = yabai if yabai is not None else shutil.which(YABAI)
        self.timeout = timeout
        self.yabai_timeout = yabai_timeout
        self._run = run
        self._quartz = quartz
        self._quartz_checked = quartz is not None
        self._lock = threading.Lock()
        #: Where the space list came from, for the engine's stats.
        self.space_source = "yabai" if self.yabai else "one space (yabai not installed)"

    # listing

    def spaces(self) -> list[SpaceInfo] | None:
        """yabai's spaces; None when yabai is missing or not answering (one space then)."""
        if not self.yabai:
            return None
        try:
            done = self._run(
                yabai_spaces_command(self.yabai),
                capture_output=True,
                timeout=self.yabai_timeout,
                check=False,
            )
            if done.returncode != 0:
                raise YabaiOutputError(
                    f"exit {done.returncode}: {done.stderr.decode(errors='replace').strip()}"
                )
            spaces = parse_yabai_spaces(done.stdout)
        except (OSError, subprocess.TimeoutExpired, YabaiOutputError) as error:
            self.space_source = f"one space (yabai failed: {error})"
            return None
        self.space_source = "yabai"
        return spaces

    def list_spaces(self) -> list[int]:
        spaces = self.spaces()
        return [1] if spaces is None else [space.index for space in spaces]

    def current_space(self) -> int:
        spaces = self.spaces()
        return 1 if spaces is None else focused_space(spaces)

    # capturing

    def capture(self, space_id: int) -> Pixels:
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
        if space.visible or space.focused:
            return self._screencapture(space_id, display=space.display)
        return self._capture_windows(space_id)

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

    def _quartz_module(self) -> Any | None:
        with self._lock:
            if not self._quartz_checked:
                self._quartz = _import_quartz()
                self._quartz_checked = True
            return self._quartz

    def _capture_windows(self, space_id: int) -> Pixels:
        quartz = self._quartz_module()
        if quartz is None:
            raise CaptureError(
                f"space {space_id} is not on screen; capturing its windows needs Quartz "
                f"(pyobjc): {MACOS_EXTRA_HINT}"
            )
        if self.yabai is None:  # unreachable: off-screen spaces are only known through yabai
            raise CaptureError(f"space {space_id}: listing its windows needs yabai")
        try:
            done = self._run(
                yabai_windows_command(space_id, self.yabai),
                capture_output=True,
                timeout=self.yabai_timeout,
                check=False,
            )
            windows = parse_yabai_windows(done.stdout)
        except (OSError, subprocess.TimeoutExpired, YabaiOutputError) as error:
            raise CaptureError(
                f"space {space_id}: yabai could not list its windows: {error}"
            ) from error
        return _quartz_composite(quartz, space_id, windows)


def _quartz_composite(quartz: Any, space_id: int, windows: Sequence[WindowInfo]) -> Pixels:
    """The macOS-only leaf: window images from Quartz, laid out at their yabai frames."""
    if (
        hasattr(quartz, "CGPreflightScreenCaptureAccess")
        and not quartz.CGPreflightScreenCaptureAccess()
    ):
        raise ScreenRecordingDenied(
            f"space {space_id}: Screen Recording permission is missing: {PERMISSION_HINT}"
        )
    bounds = quartz.CGDisplayBounds(quartz.CGMainDisplayID())
    origin_x, origin_y = bounds.origin.x, bounds.origin.y
    size = (int(bounds.size.width), int(bounds.size.height))
    options = quartz.kCGWindowImageBoundsIgnoreFraming | quartz.kCGWindowImageNominalResolution
    images = []
    for window in windows:
        if window.minimized or window.hidden:
            continue
        image = quartz.CGWindowListCreateImage(
            quartz.CGRectNull, quartz.kCGWindowListOptionIncludingWindow, window.id, options
        )
        if image is None:
            continue
        data = bytes(quartz.CGDataProviderCopyData(quartz.CGImageGetDataProvider(image)))
        bgra = bgra_from_buffer(
            data,
            quartz.CGImageGetWidth(image),
            quartz.CGImageGetHeight(image),
            quartz.CGImageGetBytesPerRow(image),
        )
        images.append((int(window.x - origin_x), int(window.y - origin_y), bgra))
    if not images:
        raise CaptureError(f"space {space_id}: Quartz returned no window images for it")
    return composite_windows(size, images)
