"""The macOS backend's pure parts, and its flow with `screencapture`, yabai and Quartz faked.

The command lines, yabai's JSON, the error mapping and the permission detection are plain
functions and run here on Linux. The backend itself is driven through a fake `subprocess.run`
that behaves like `screencapture` (writes a PNG at the path it is given) and like yabai (prints
the JSON captured from real yabai versions), and a fake Quartz namespace.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ironcliw_mem.capture import CaptureBackend, CaptureError
from ironcliw_mem.capture.macos import (
    MACOS_EXTRA_HINT,
    DisplayInfo,
    MacOSBackend,
    ScreenRecordingDenied,
    SpaceInfo,
    WindowInfo,
    YabaiOutputError,
    bgra_from_buffer,
    check_bgra_layout,
    composite_windows,
    display_of_space,
    fit_window,
    focused_space,
    is_permission_denied_text,
    looks_like_denied_capture,
    parse_yabai_displays,
    parse_yabai_spaces,
    parse_yabai_windows,
    screencapture_command,
    screencapture_display_number,
    screencapture_failure,
    yabai_displays_command,
    yabai_spaces_command,
    yabai_windows_command,
)

# yabai 5-7 (`yabai -m query --spaces`, two displays, space 2 focused, space 4 shown on display 2).
YABAI_NEW = json.dumps(
    [
        {
            "id": 3,
            "uuid": "",
            "index": 1,
            "label": "",
            "type": "bsp",
            "display": 1,
            "windows": [101, 102],
            "first-window": 101,
            "last-window": 102,
            "has-focus": False,
            "is-visible": False,
            "is-native-fullscreen": False,
        },
        {
            "id": 4,
            "uuid": "A1",
            "index": 2,
            "label": "code",
            "type": "bsp",
            "display": 1,
            "windows": [103],
            "first-window": 103,
            "last-window": 103,
            "has-focus": True,
            "is-visible": True,
            "is-native-fullscreen": False,
        },
        {
            "id": 9,
            "uuid": "B7",
            "index": 3,
            "label": "",
            "type": "float",
            "display": 1,
            "windows": [],
            "first-window": 0,
            "last-window": 0,
            "has-focus": False,
            "is-visible": False,
            "is-native-fullscreen": True,
        },
        {
            "id": 12,
            "uuid": "C2",
            "index": 4,
            "label": "",
            "type": "bsp",
            "display": 2,
            "windows": [104],
            "first-window": 104,
            "last-window": 104,
            "has-focus": False,
            "is-visible": True,
            "is-native-fullscreen": False,
        },
    ]
)
# yabai 2/3: 0/1 integers named focused / visible / native-fullscreen; listed out of order.
YABAI_OLD = json.dumps(
    [
        {
            "id": 7,
            "label": "",
            "index": 2,
            "display": 1,
            "windows": [],
            "type": "bsp",
            "visible": 0,
            "focused": 0,
            "native-fullscreen": 0,
            "first-window": 0,
            "last-window": 0,
        },
        {
            "id": 6,
            "label": "",
            "index": 1,
            "display": 1,
            "windows": [88],
            "type": "bsp",
            "visible": 1,
            "focused": 1,
            "native-fullscreen": 0,
            "first-window": 88,
            "last-window": 88,
        },
    ]
)
YABAI_WINDOWS = json.dumps(
    [
        {
            "id": 101,
            "pid": 501,
            "app": "Code",
            "title": "engine.py",
            "frame": {"x": 10.0, "y": 20.0, "w": 40.0, "h": 30.0},
            "space": 1,
            "display": 1,
            "is-minimized": False,
            "is-hidden": False,
            "is-visible": False,
        },
        {
            "id": 102,
            "pid": 502,
            "app": "Terminal",
            "title": "zsh",
            "frame": {"x": 30, "y": 30, "w": 40, "h": 20},
            "space": 1,
            "display": 1,
            "is-minimized": False,
            "is-hidden": False,
            "is-visible": False,
        },
        {
            "id": 105,
            "pid": 503,
            "app": "Mail",
            "title": "Inbox",
            "frame": {"x": 0, "y": 0, "w": 50, "h": 50},
            "space": 1,
            "display": 1,
            "is-minimized": True,
            "is-hidden": False,
            "is-visible": False,
        },
    ]
)
YABAI_OLD_WINDOWS = json.dumps(
    [
        {
            "id": 88,
            "pid": 1,
            "app": "Finder",
            "title": "",
            "frame": {"x": 0, "y": 0, "w": 10, "h": 10},
            "minimized": 0,
            "visible": 1,
        }
    ]
)

# `yabai -m query --displays` (src/display.c `display_serialize`): the main display (id 1, 80x60
# points) arranged first, a second one (id 5, 40x30 points, at x = 80) arranged second.
YABAI_DISPLAYS = json.dumps(
    [
        {
            "id": 1,
            "uuid": "37D8832A-2D66-02CA-B9F7-8F30A301B230",
            "index": 1,
            "spaces": [1, 2, 3],
            "frame": {"x": 0.0, "y": 0.0, "w": 80.0, "h": 60.0},
        },
        {
            "id": 5,
            "uuid": "9A4B1F0E-77C2-4D21-8E0B-3C1D2E5F6A7B",
            "index": 2,
            "spaces": [4],
            "frame": {"x": 80.0, "y": 0.0, "w": 40.0, "h": 30.0},
        },
    ]
)


# --- command lines ---------------------------------------------------------------------------


def test_screencapture_command_is_silent_lossless_and_to_the_given_file() -> None:
    assert screencapture_command("/tmp/a.png") == ["screencapture", "-x", "-t", "png", "/tmp/a.png"]
    assert screencapture_command(Path("/tmp/b.png"), display=2) == [
        "screencapture",
        "-x",
        "-t",
        "png",
        "-D",
        "2",
        "/tmp/b.png",
    ]
    assert screencapture_command("x.png", executable="/usr/sbin/screencapture")[0] == (
        "/usr/sbin/screencapture"
    )
    with pytest.raises(ValueError, match="display must be >= 1"):
        screencapture_command("x.png", display=0)


def test_yabai_commands() -> None:
    assert yabai_spaces_command() == ["yabai", "-m", "query", "--spaces"]
    assert yabai_windows_command(3, "/opt/homebrew/bin/yabai") == [
        "/opt/homebrew/bin/yabai",
        "-m",
        "query",
        "--windows",
        "--space",
        "3",
    ]


# --- yabai's JSON ----------------------------------------------------------------------------


def test_parse_new_yabai_spaces() -> None:
    spaces = parse_yabai_spaces(YABAI_NEW)
    assert [space.index for space in spaces] == [1, 2, 3, 4]
    assert spaces[1] == SpaceInfo(index=2, focused=True, visible=True, display=1)
    assert spaces[2].native_fullscreen
    assert (spaces[3].visible, spaces[3].focused, spaces[3].display) == (True, False, 2)
    assert focused_space(spaces) == 2


def test_parse_old_yabai_spaces_and_sort_by_index() -> None:
    spaces = parse_yabai_spaces(YABAI_OLD.encode())
    assert [space.index for space in spaces] == [1, 2]
    assert (spaces[0].focused, spaces[0].visible, spaces[1].visible) == (True, True, False)
    assert focused_space(spaces) == 1


def test_focused_space_falls_back_to_visible_then_first() -> None:
    visible = [SpaceInfo(1, False, False, 1), SpaceInfo(2, False, True, 1)]
    assert focused_space(visible) == 2
    assert focused_space([SpaceInfo(5, False, False, 1), SpaceInfo(6, False, False, 1)]) == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "did not print JSON"),
        ("yabai-msg: failed to connect to socket..", "did not print JSON"),
        (b"\xff\xfe", "did not print JSON"),
        ("{}", "JSON list of objects"),
        ("[1, 2]", "JSON list of objects"),
        ("[]", "no spaces"),
        ('[{"index": "one"}]', "'index' should be an integer"),
        ('[{"index": true}]', "'index' should be an integer"),
        ('[{"label": "no index"}]', "'index' should be an integer"),
        ('[{"index": 0}]', "should be >= 1"),
        ('[{"index": 1, "has-focus": "yes"}]', "'has-focus' should be a boolean"),
        ('[{"index": 1, "display": null}]', "'display' should be an integer"),
    ],
)
def test_garbage_yabai_spaces_are_errors(text: str | bytes, message: str) -> None:
    with pytest.raises(YabaiOutputError, match=message):
        parse_yabai_spaces(text)


def test_parse_yabai_windows_new_and_old() -> None:
    windows = parse_yabai_windows(YABAI_WINDOWS)
    assert windows[0] == WindowInfo(101, 10.0, 20.0, 40.0, 30.0)
    assert windows[2].minimized
    assert parse_yabai_windows(YABAI_OLD_WINDOWS) == [WindowInfo(88, 0, 0, 10, 10)]
    with pytest.raises(YabaiOutputError, match="frame"):
        parse_yabai_windows('[{"id": 1, "frame": {"x": 0, "y": 0, "w": "wide", "h": 1}}]')
    with pytest.raises(YabaiOutputError, match="frame"):
        parse_yabai_windows('[{"id": 1}]')


# --- failures --------------------------------------------------------------------------------


def test_permission_denied_stderr_maps_to_screen_recording_denied() -> None:
    stderr = "screencapture: could not create image from display 1\n"
    assert is_permission_denied_text(stderr)
    assert is_permission_denied_text("Could Not Create Image From Display")
    error = screencapture_failure(3, 1, stderr)
    assert isinstance(error, ScreenRecordingDenied)
    assert "space 3" in str(error)
    assert "Privacy & Security > Screen Recording" in str(error)


@pytest.mark.parametrize(
    ("code", "stderr", "message"),
    [
        (127, "", "space 2: screencapture was not found"),
        (-9, "", "space 2: screencapture was killed by signal 9"),
        (1, "screencapture: invalid display\n", "space 2: .*exited with 1: screencapture: invalid"),
        (2, "", "exited with 2: no message"),
    ],
)
def test_other_screencapture_failures(code: int, stderr: str, message: str) -> None:
    error = screencapture_failure(2, code, stderr)
    assert type(error) is CaptureError
    assert re.search(message, str(error)), str(error)


def test_black_or_empty_frames_look_denied() -> None:
    assert looks_like_denied_capture(np.zeros((10, 10, 3), np.uint8))
    assert looks_like_denied_capture(np.full((10, 10, 3), 3, np.uint8))
    assert looks_like_denied_capture(np.zeros((0, 0, 3), np.uint8))
    black_but_alpha = np.zeros((4, 4, 4), np.uint8)
    black_but_alpha[..., 3] = 255
    assert looks_like_denied_capture(black_but_alpha)
    dark_with_text = np.zeros((10, 10, 3), np.uint8)
    dark_with_text[5, 5] = (200, 200, 200)
    assert not looks_like_denied_capture(dark_with_text)


# --- pixels ----------------------------------------------------------------------------------


def test_bgra_from_a_padded_cgimage_buffer() -> None:
    width, height, stride = 3, 2, 16  # 12 bytes of pixels + 4 of padding a row
    rows = np.arange(stride * height, dtype=np.uint8).reshape(height, stride)
    pixels = bgra_from_buffer(rows.tobytes(), width, height, stride)
    assert pixels.shape == (2, 3, 4)
    assert tuple(pixels[1, 0]) == (16, 17, 18, 19)
    assert tuple(pixels[0, 2]) == (8, 9, 10, 11)
    unpadded_last_row = rows.tobytes()[: stride + width * 4]
    assert np.array_equal(bgra_from_buffer(unpadded_last_row, width, height, stride), pixels)
    with pytest.raises(ValueError, match="too small"):
        bgra_from_buffer(b"\0" * 20, width, height, stride)
    with pytest.raises(ValueError, match="too small"):
        bgra_from_buffer(b"\0" * 64, 5, 2, 16)


def _solid_bgra(width: int, height: int, rgb: tuple[int, int, int]) -> np.ndarray:
    pixels = np.empty((height, width, 4), np.uint8)
    pixels[:] = (rgb[2], rgb[1], rgb[0], 255)
    return pixels


def test_composite_lays_windows_back_to_front_and_clips() -> None:
    red = _solid_bgra(4, 4, (255, 0, 0))
    green = _solid_bgra(4, 4, (0, 255, 0))
    canvas = composite_windows((8, 6), [(1, 1, red), (3, 3, green), (-2, -2, green), (20, 0, red)])
    assert canvas.shape == (6, 8, 3)
    assert tuple(canvas[1, 2]) == (255, 0, 0)  # red, RGB order
    assert tuple(canvas[4, 4]) == (0, 255, 0)  # green painted over red
    assert tuple(canvas[0, 0]) == (0, 255, 0)  # clipped window at the top left
    assert tuple(canvas[0, 7]) == (0, 0, 0)  # the window past the right edge drew nothing


# --- the backend, with the Mac faked ---------------------------------------------------------


class FakeMac:
    """Stands in for `subprocess.run`: screencapture writes a PNG, yabai prints JSON."""

    def __init__(
        self,
        *,
        spaces: str | None = None,
        windows: str = YABAI_WINDOWS,
        displays: str = YABAI_DISPLAYS,
        windows_failure: tuple[int, str] | None = None,
        frames: dict[int, np.ndarray] | None = None,
        frame: np.ndarray | None = None,
        screencapture: tuple[int, str] = (0, ""),
        write: bool = True,
        raises: BaseException | None = None,
    ) -> None:
        self.spaces = spaces
        self.windows = windows
        self.displays = displays
        self.windows_failure = windows_failure
        self.frames = frames or {}
        self.frame = frame if frame is not None else _screen_rgb()
        self.screencapture = screencapture
        self.write = write
        self.raises = raises
        self.calls: list[list[str]] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        assert kwargs["capture_output"] is True
        assert kwargs["timeout"] > 0
        self.calls.append(command)
        if command[0].endswith("yabai"):
            if self.spaces is None:
                return subprocess.CompletedProcess(
                    command, 1, b"", b"yabai-msg: failed to connect to socket..\n"
                )
            if "--windows" in command and self.windows_failure is not None:
                code, message = self.windows_failure
                return subprocess.CompletedProcess(command, code, b"", message.encode())
            if "--spaces" in command:
                text = self.spaces
            elif "--displays" in command:
                text = self.displays
            else:
                text = self.windows
            return subprocess.CompletedProcess(command, 0, text.encode(), b"")
        if self.raises is not None:
            raise self.raises
        code, stderr = self.screencapture
        if self.write and code == 0:
            # screencapture -D n: the n-th display of CGGetActiveDisplayList, at its pixels.
            number = int(command[command.index("-D") + 1]) if "-D" in command else 1
            frame = self.frames.get(number, self.frame)
            Image.fromarray(frame).save(command[-1], format="PNG")
        return subprocess.CompletedProcess(command, code, b"", stderr.encode())


def _screen_rgb() -> np.ndarray:
    frame = np.zeros((30, 40, 3), np.uint8)
    frame[:, :20] = (250, 250, 250)
    frame[10:20, 25:35] = (30, 120, 240)
    return frame


def test_without_yabai_the_mac_is_one_space_captured_with_screencapture() -> None:
    mac = FakeMac()
    backend = MacOSBackend(yabai="", run=mac)
    assert isinstance(backend, CaptureBackend)
    assert backend.pixel_format == "RGB"
    assert backend.list_spaces() == [1]
    assert backend.current_space() == 1
    assert "yabai not installed" in backend.space_source
    frame = backend.capture(1)
    assert np.array_equal(frame, _screen_rgb())
    command = mac.calls[-1]
    assert command[:4] == ["screencapture", "-x", "-t", "png"]
    assert "-D" not in command
    assert not Path(command[-1]).exists()  # the temporary PNG is gone
    with pytest.raises(CaptureError, match="space 2 is unknown: without yabai"):
        backend.capture(2)


def test_a_yabai_that_is_not_running_means_one_space() -> None:
    backend = MacOSBackend(yabai="/usr/local/bin/yabai", run=FakeMac(spaces=None))
    assert backend.list_spaces() == [1]
    assert "yabai failed" in backend.space_source
    assert "failed to connect" in backend.space_source


def test_with_yabai_spaces_and_visible_displays() -> None:
    mac = FakeMac(spaces=YABAI_NEW)
    backend = MacOSBackend(yabai="yabai", run=mac, quartz=_fake_quartz({}))
    assert backend.list_spaces() == [1, 2, 3, 4]
    assert backend.current_space() == 2
    assert backend.space_source == "yabai"
    backend.capture(2)
    assert mac.calls[-1][4:6] == ["-D", "1"]
    backend.capture(4)  # on screen on the second display
    assert mac.calls[-1][4:6] == ["-D", "2"]
    with pytest.raises(
        CaptureError, match=r"space 9 does not exist \(yabai lists \[1, 2, 3, 4\]\)"
    ):
        backend.capture(9)


def test_off_screen_spaces_need_the_macos_extra() -> None:
    backend = MacOSBackend(yabai="yabai", run=FakeMac(spaces=YABAI_NEW))
    backend._modules["Quartz"] = None  # as on a Mac without pyobjc
    with pytest.raises(
        CaptureError, match=r"space 1 is not on screen.*pip install 'pyobjc-framework-Quartz"
    ):
        backend.capture(1)
    assert "pyobjc-framework-Quartz" in MACOS_EXTRA_HINT


#: kCGBitmapByteOrder32Little | kCGImageAlphaPremultipliedFirst: BGRA in memory.
BGRA_INFO = (2 << 12) | 2


class FakeImage:
    """A CGImage stand-in: rows of bytes with the layout fields Quartz reports."""

    def __init__(
        self, pixels: np.ndarray, bits_per_pixel: int = 32, bitmap_info: int = BGRA_INFO
    ) -> None:
        self.pixels = pixels
        self.bits_per_pixel = bits_per_pixel
        self.bitmap_info = bitmap_info


def _fake_quartz(
    images: dict[int, Any],
    allowed: bool = True,
    *,
    active_displays: tuple[int, ...] = (1, 5),
    scales: dict[int, int] | None = None,
    window_list: bool = True,
) -> SimpleNamespace:
    """Quartz's functions as pyobjc exposes them, with window images from `images`."""
    scales = scales if scales is not None else {1: 1, 5: 2}
    created: list[int] = []
    events: list[str] = []

    def create_image(_rect: object, _option: int, window_id: int, _flags: int) -> object:
        created.append(window_id)
        image = images.get(window_id)
        return FakeImage(image) if isinstance(image, np.ndarray) else image

    def main_display_id() -> int:
        events.append("CGMainDisplayID")  # also what connects a process to the window server
        return 1

    def mode(display_id: int) -> tuple[int, int]:
        return (display_id, scales[display_id])

    quartz = SimpleNamespace(
        created=created,
        events=events,
        CGPreflightScreenCaptureAccess=lambda: allowed,
        CGGetActiveDisplayList=lambda _max, _ids, _count: (
            0,
            active_displays,
            len(active_displays),
        ),
        # Quartz has these too (the old composer placed every space on the main display's).
        CGMainDisplayID=main_display_id,
        CGDisplayBounds=lambda display_id: SimpleNamespace(
            origin=SimpleNamespace(x=0.0 if display_id == 1 else 80.0, y=0.0),
            size=SimpleNamespace(
                width=80.0 if display_id == 1 else 40.0, height=60.0 if display_id == 1 else 30.0
            ),
        ),
        kCGWindowImageNominalResolution=16,
        CGDisplayCopyDisplayMode=mode,
        CGDisplayModeGetWidth=lambda m: 100,
        CGDisplayModeGetPixelWidth=lambda m: 100 * m[1],
        CGRectNull=None,
        kCGWindowListOptionIncludingWindow=8,
        kCGWindowImageBoundsIgnoreFraming=1,
        CGImageGetDataProvider=lambda image: image,
        CGDataProviderCopyData=lambda image: image.pixels.tobytes(),
        CGImageGetWidth=lambda image: image.pixels.shape[1],
        CGImageGetHeight=lambda image: image.pixels.shape[0],
        CGImageGetBytesPerRow=lambda image: image.pixels.shape[1] * image.pixels.shape[2],
        CGImageGetBitsPerPixel=lambda image: image.bits_per_pixel,
        CGImageGetBitsPerComponent=lambda image: 8,
        CGImageGetBitmapInfo=lambda image: image.bitmap_info,
    )
    if window_list:
        quartz.CGWindowListCreateImage = create_image
    return quartz


def test_off_screen_spaces_are_composed_from_quartz_window_images() -> None:
    images = {
        101: _solid_bgra(40, 30, (255, 0, 0)),
        102: _solid_bgra(40, 20, (0, 0, 255)),
        105: _solid_bgra(50, 50, (0, 255, 0)),  # minimized: must not be drawn
    }
    mac = FakeMac(spaces=YABAI_NEW)
    backend = MacOSBackend(yabai="yabai", run=mac, quartz=_fake_quartz(images))
    frame = backend.capture(1)
    assert mac.calls[-1] == ["yabai", "-m", "query", "--windows", "--space", "1"]
    assert frame.shape == (60, 80, 3)
    assert tuple(frame[25, 15]) == (255, 0, 0)
    assert tuple(frame[40, 60]) == (0, 0, 255)
    assert tuple(frame[5, 5]) == (0, 0, 0)
    assert not (frame == (0, 255, 0)).all(axis=2).any()


def test_quartz_without_permission_or_windows() -> None:
    denied = MacOSBackend(
        yabai="yabai", run=FakeMac(spaces=YABAI_NEW), quartz=_fake_quartz({}, False)
    )
    with pytest.raises(ScreenRecordingDenied, match="Screen Recording"):
        denied.capture(1)
    empty = MacOSBackend(yabai="yabai", run=FakeMac(spaces=YABAI_NEW), quartz=_fake_quartz({}))
    with pytest.raises(CaptureError, match="space 1: no window images could be taken"):
        empty.capture(1)


def test_permission_denied_shows_as_stderr_black_frame_or_no_file() -> None:
    stderr = MacOSBackend(
        yabai="", run=FakeMac(screencapture=(1, "could not create image from display\n"))
    )
    with pytest.raises(ScreenRecordingDenied, match="System Settings > Privacy & Security"):
        stderr.capture(1)
    black = MacOSBackend(yabai="", run=FakeMac(frame=np.zeros((20, 20, 3), np.uint8)))
    with pytest.raises(ScreenRecordingDenied, match="space 1: the capture is all black"):
        black.capture(1)
    nothing = MacOSBackend(yabai="", run=FakeMac(write=False))
    with pytest.raises(ScreenRecordingDenied, match="wrote no image"):
        nothing.capture(1)


def test_missing_or_hanging_screencapture() -> None:
    missing = MacOSBackend(yabai="", run=FakeMac(raises=FileNotFoundError("screencapture")))
    with pytest.raises(CaptureError, match="space 1: screencapture was not found"):
        missing.capture(1)
    hang = MacOSBackend(
        yabai="", timeout=3, run=FakeMac(raises=subprocess.TimeoutExpired("screencapture", 3))
    )
    with pytest.raises(CaptureError, match="space 1: screencapture timed out after 3 s"):
        hang.capture(1)


def test_an_unreadable_png_is_a_capture_error() -> None:
    class Garbage(FakeMac):
        def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
            Path(command[-1]).write_bytes(b"not a png")
            return subprocess.CompletedProcess(command, 0, b"", b"")

    with pytest.raises(CaptureError, match="unreadable PNG"):
        MacOSBackend(yabai="", run=Garbage()).capture(1)


# --- more than one display -------------------------------------------------------------------

# yabai arranges the second display (id 5, at x = 80) first: its index 1 is not screencapture's
# 1, which is the main display (id 1, first in CGGetActiveDisplayList).
YABAI_DISPLAYS_REARRANGED = json.dumps(
    [{**entry, "index": 2 if entry["id"] == 1 else 1} for entry in json.loads(YABAI_DISPLAYS)]
)


def _spaces(*entries: tuple[int, int, bool]) -> str:
    """A yabai --spaces listing of (index, display, visible) spaces; the first visible focused."""
    focused = next(index for index, _, visible in entries if visible)
    return json.dumps(
        [
            {
                "index": index,
                "display": display,
                "has-focus": index == focused,
                "is-visible": visible,
                "is-native-fullscreen": False,
            }
            for index, display, visible in entries
        ]
    )


def test_parse_yabai_displays_and_map_them_to_screencapture_numbers() -> None:
    assert yabai_displays_command("/opt/yabai") == ["/opt/yabai", "-m", "query", "--displays"]
    main, second = parse_yabai_displays(YABAI_DISPLAYS)
    assert main == DisplayInfo(1, 1, "37D8832A-2D66-02CA-B9F7-8F30A301B230", 0, 0, 80, 60)
    assert (second.index, second.id, second.x, second.w) == (2, 5, 80.0, 40.0)
    assert screencapture_display_number(second, [1, 5]) == 2
    assert screencapture_display_number(second, [5, 1]) == 1
    with pytest.raises(CaptureError, match=r"display 5 .* not among the active displays"):
        screencapture_display_number(second, [1, 7])
    with pytest.raises(YabaiOutputError, match="positive size"):
        parse_yabai_displays('[{"id": 1, "index": 1, "frame": {"x":0,"y":0,"w":0,"h":9}}]')
    with pytest.raises(YabaiOutputError, match="no displays"):
        parse_yabai_displays("[]")


def test_yabai_display_numbers_are_tied_to_screencapture_by_display_id() -> None:
    # Space 1 is on yabai's display 1 = id 5, which screencapture calls 2.
    mac = FakeMac(spaces=_spaces((1, 1, True), (2, 2, True)), displays=YABAI_DISPLAYS_REARRANGED)
    backend = MacOSBackend(yabai="yabai", run=mac, quartz=_fake_quartz({}))
    backend.capture(1)
    assert mac.calls[-1][4:6] == ["-D", "2"]
    backend.capture(2)
    assert mac.calls[-1][4:6] == ["-D", "1"]


def test_several_displays_without_quartz_is_an_error_not_a_guess() -> None:
    mac = FakeMac(spaces=_spaces((1, 1, True), (2, 2, True)))
    backend = MacOSBackend(yabai="yabai", run=mac)
    backend._modules["Quartz"] = None  # as on a Mac without pyobjc
    with pytest.raises(
        CaptureError, match=r"display 2 of 2.*needs Quartz.*pip install .pyobjc-framework-Quartz"
    ):
        backend.capture(2)
    assert not any(call[0] == "screencapture" for call in mac.calls)
    # One display: it is the main one, screencapture's 1, no Quartz needed.
    single = json.dumps(json.loads(YABAI_DISPLAYS)[:1])
    alone = FakeMac(spaces=_spaces((1, 1, True)), displays=single)
    lone = MacOSBackend(yabai="yabai", run=alone)
    lone._modules["Quartz"] = None
    lone.capture(1)
    assert alone.calls[-1][4:6] == ["-D", "1"]


SECOND_DISPLAY_WINDOWS = json.dumps(
    [
        {
            "id": 201,
            "frame": {"x": 90.0, "y": 5.0, "w": 20.0, "h": 10.0},
            "is-minimized": False,
            "is-hidden": False,
        }
    ]
)


def test_an_off_screen_space_is_composed_on_its_own_display_at_its_pixels() -> None:
    # Space 3 is off screen on the second display (id 5: 40x30 points at x = 80, Retina 2x).
    # Its window at (90, 5) is 10 points into that display: 20 pixels at scale 2.
    red = _solid_bgra(40, 20, (255, 0, 0))  # the window at 2x: 20x10 points
    second_display_png = np.full((60, 80, 3), 90, np.uint8)  # screencapture -D 2: 80x60 pixels
    mac = FakeMac(
        spaces=_spaces((1, 1, True), (2, 2, True), (3, 2, False)),
        windows=SECOND_DISPLAY_WINDOWS,
        frames={2: second_display_png},
    )
    backend = MacOSBackend(yabai="yabai", run=mac, quartz=_fake_quartz({201: red}))
    off_screen = backend.capture(3)
    on_screen = backend.capture(2)
    assert mac.calls[-1][4:6] == ["-D", "2"]
    # One display, one frame size, on screen or not (the main display's would be 60x80).
    assert off_screen.shape == on_screen.shape == (60, 80, 3)
    assert tuple(off_screen[10, 20]) == (255, 0, 0)  # the window's top-left corner
    assert tuple(off_screen[29, 59]) == (255, 0, 0)  # its bottom-right corner
    assert tuple(off_screen[30, 60]) == (0, 0, 0)
    assert tuple(off_screen[9, 19]) == (0, 0, 0)


def test_window_images_of_another_size_are_fitted_to_their_frame() -> None:
    # A window image at 1x on a 2x display (the Quartz path's nominal case) is scaled to its
    # frame, so the composed frame keeps the display's pixel size and layout.
    small = _solid_bgra(20, 10, (0, 0, 255))
    mac = FakeMac(
        spaces=_spaces((1, 1, True), (3, 2, False)),
        windows=SECOND_DISPLAY_WINDOWS,
    )
    frame = MacOSBackend(yabai="yabai", run=mac, quartz=_fake_quartz({201: small})).capture(3)
    assert frame.shape == (60, 80, 3)
    assert (frame[10:30, 20:60] == (0, 0, 255)).all()
    assert fit_window(small, 20, 10) is small


def test_an_all_black_off_screen_space_is_a_permission_error() -> None:
    black = _solid_bgra(40, 20, (0, 0, 0))
    mac = FakeMac(spaces=_spaces((1, 1, True), (3, 2, False)), windows=SECOND_DISPLAY_WINDOWS)
    backend = MacOSBackend(yabai="yabai", run=mac, quartz=_fake_quartz({201: black}))
    with pytest.raises(ScreenRecordingDenied, match="space 3: its window images are all black"):
        backend.capture(3)


def test_yabai_display_zero_or_unknown_is_a_capture_error() -> None:
    mac = FakeMac(spaces=_spaces((1, 0, True)))
    backend = MacOSBackend(yabai="yabai", run=mac, quartz=_fake_quartz({}))
    with pytest.raises(CaptureError, match="space 1: yabai reports it on display 0") as caught:
        backend.capture(1)
    assert not isinstance(caught.value, ValueError)
    ghost = MacOSBackend(
        yabai="yabai", run=FakeMac(spaces=_spaces((1, 3, True))), quartz=_fake_quartz({})
    )
    with pytest.raises(CaptureError, match=r"display 3, which its display list does not have"):
        ghost.capture(1)
    with pytest.raises(CaptureError, match="display 0"):
        display_of_space(SpaceInfo(1, True, True, 0), parse_yabai_displays(YABAI_DISPLAYS))


def test_a_failed_yabai_window_query_keeps_its_reason() -> None:
    mac = FakeMac(
        spaces=YABAI_NEW, windows_failure=(1, "could not locate space with mission-control 1.\n")
    )
    backend = MacOSBackend(yabai="yabai", run=mac, quartz=_fake_quartz({}))
    with pytest.raises(
        CaptureError,
        match=r"space 1: yabai could not list its windows: --windows query exited with 1: "
        r"could not locate space with mission-control 1\.",
    ):
        backend.capture(1)


def test_a_failed_yabai_display_query_keeps_its_reason() -> None:
    class NoDisplays(FakeMac):
        def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
            if "--displays" in command:
                return subprocess.CompletedProcess(command, 1, b"", b"yabai-msg: timeout\n")
            return super().__call__(command, **kwargs)

    backend = MacOSBackend(yabai="yabai", run=NoDisplays(spaces=YABAI_NEW))
    with pytest.raises(
        CaptureError, match=r"could not list the displays: .*exited with 1: yabai-msg"
    ):
        backend.capture(2)


# --- the CGImage's layout --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits_per_pixel", "bits_per_component", "info", "accepted"),
    [
        (32, 8, (2 << 12) | 2, True),  # little-endian, premultiplied first: BGRA
        (32, 8, (2 << 12) | 6, True),  # little-endian, none-skip-first: BGRX
        (32, 8, (2 << 12) | 4, True),  # little-endian, alpha first (straight)
        (32, 8, 2, False),  # default (big-endian) byte order: ARGB in memory
        (32, 8, (4 << 12) | 2, False),  # 32-bit big-endian: ARGB
        (32, 8, (2 << 12) | 1, False),  # premultiplied last: ABGR in memory
        (24, 8, (2 << 12) | 6, False),  # 3 bytes a pixel
        (64, 16, (1 << 12) | 2, False),  # 16-bit components
        (128, 32, (2 << 12) | 2 | (1 << 8), False),  # float components
        (32, 8, (2 << 12) | 2 | (1 << 16), False),  # packed 10-bit pixel format
    ],
)
def test_only_32_bit_bgra_cgimages_are_read(
    bits_per_pixel: int, bits_per_component: int, info: int, accepted: bool
) -> None:
    if accepted:
        check_bgra_layout(bits_per_pixel, bits_per_component, info)
    else:
        with pytest.raises(CaptureError, match=r"not 32-bit BGRA.*accepted: 32 bits per pixel"):
            check_bgra_layout(bits_per_pixel, bits_per_component, info)


def test_a_window_image_in_another_layout_is_a_capture_error() -> None:
    argb = FakeImage(_solid_bgra(40, 30, (255, 0, 0)), bitmap_info=2)
    backend = MacOSBackend(
        yabai="yabai", run=FakeMac(spaces=YABAI_NEW), quartz=_fake_quartz({101: argb})
    )
    with pytest.raises(CaptureError, match=r"space 1, window 101: .*bitmap info 0x2"):
        backend.capture(1)


# --- ScreenCaptureKit, Quartz, or neither ----------------------------------------------------


class FakeScreenCaptureKit:
    """pyobjc's ScreenCaptureKit: shareable windows and screenshots through completion handlers."""

    def __init__(self, images: dict[int, np.ndarray], quartz: Any, fail: str | None = None) -> None:
        self.images = images
        self.fail = fail
        self.requests: list[tuple[int, int, int]] = []
        kit = self

        class Window:
            def __init__(self, window_id: int) -> None:
                self.window_id = window_id

            def windowID(self) -> int:
                return self.window_id

        class Content:
            def windows(self) -> list[Window]:
                return [Window(window_id) for window_id in kit.images]

        class SCShareableContent:
            @staticmethod
            def getShareableContentExcludingDesktopWindows_onScreenWindowsOnly_completionHandler_(
                exclude_desktop: bool, on_screen_only: bool, handler: Any
            ) -> None:
                assert exclude_desktop
                assert not on_screen_only  # off-screen windows are wanted
                handler(Content(), None)

        class Filter:
            def initWithDesktopIndependentWindow_(self, window: Window) -> Filter:
                # The real one aborts the process (CGS_REQUIRE_INIT) in a process that has not
                # connected to the window server through a CoreGraphics display call.
                assert "CGMainDisplayID" in quartz.events, "CGS_REQUIRE_INIT"
                self.window = window
                return self

        class Config:
            def init(self) -> Config:
                self.size = (0, 0)
                return self

            def setWidth_(self, width: int) -> None:
                self.size = (width, self.size[1])

            def setHeight_(self, height: int) -> None:
                self.size = (self.size[0], height)

            def setShowsCursor_(self, shows: bool) -> None:
                assert shows is False

        class SCScreenshotManager:
            @staticmethod
            def captureImageWithFilter_configuration_completionHandler_(
                content_filter: Filter, config: Config, handler: Any
            ) -> None:
                window_id = content_filter.window.window_id
                kit.requests.append((window_id, *config.size))
                if kit.fail:
                    handler(None, kit.fail)
                else:
                    handler(FakeImage(kit.images[window_id]), None)

        self.SCShareableContent = SCShareableContent
        self.SCContentFilter = SimpleNamespace(alloc=Filter)
        self.SCStreamConfiguration = SimpleNamespace(alloc=Config)
        self.SCScreenshotManager = SCScreenshotManager


def test_screencapturekit_takes_the_window_images_where_present() -> None:
    mac = FakeMac(spaces=_spaces((1, 1, True), (3, 2, False)), windows=SECOND_DISPLAY_WINDOWS)
    quartz = _fake_quartz({201: _solid_bgra(40, 20, (255, 0, 0))})
    kit = FakeScreenCaptureKit(
        {201: _solid_bgra(40, 20, (0, 255, 0)), 999: _solid_bgra(1, 1, (1, 1, 1))}, quartz
    )
    frame = MacOSBackend(yabai="yabai", run=mac, quartz=quartz, screencapturekit=kit).capture(3)
    assert kit.requests == [(201, 40, 20)]  # at the window's size in the display's pixels
    assert quartz.created == []  # the deprecated call is not made
    assert tuple(frame[10, 20]) == (0, 255, 0)
    failing = FakeScreenCaptureKit(
        {201: _solid_bgra(40, 20, (0, 255, 0))}, quartz, fail="TCC denied"
    )
    backend = MacOSBackend(yabai="yabai", run=mac, quartz=quartz, screencapturekit=failing)
    with pytest.raises(CaptureError, match="ScreenCaptureKit screenshot of window 201 failed: TCC"):
        backend.capture(3)


def test_quartz_window_images_without_screencapturekit_and_neither() -> None:
    mac = FakeMac(spaces=_spaces((1, 1, True), (3, 2, False)), windows=SECOND_DISPLAY_WINDOWS)
    quartz = _fake_quartz({201: _solid_bgra(40, 20, (255, 0, 0))})
    frame = MacOSBackend(yabai="yabai", run=mac, quartz=quartz).capture(3)
    assert quartz.created == [201]
    assert tuple(frame[10, 20]) == (255, 0, 0)
    # A macOS 15 SDK Quartz without CGWindowListCreateImage, and no ScreenCaptureKit.
    bare = _fake_quartz({}, window_list=False)
    with pytest.raises(
        CaptureError, match=r"space 3 is not on screen.*ScreenCaptureKit.*CGWindowListCreateImage"
    ):
        MacOSBackend(yabai="yabai", run=mac, quartz=bare).capture(3)
