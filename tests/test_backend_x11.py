"""The X11 backend against a real X server: Xvfb, with known content drawn on it.

The `xvfb` fixture (conftest.py) starts a private Xvfb. EWMH is simulated by setting the root
window properties a window manager would set.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from PIL import Image

from ironcliw_mem import MemoryConfig
from ironcliw_mem.capture import (
    CaptureBackend,
    CaptureError,
    MultiSpaceCaptureEngine,
    SpaceCaptureRequest,
)
from ironcliw_mem.capture.x11 import (
    X11_ANSWER_TIMEOUT_S,
    X11Backend,
    ewmh_current_space,
    ewmh_spaces,
)
from xserver import Xvfb, start_xvfb, stop_xvfb, unused_display

Xlib = pytest.importorskip(
    "Xlib", reason="python-xlib missing: a dependency of ironcliw-mem on Linux"
)
pytest.importorskip("mss", reason="mss missing: a dependency of ironcliw-mem on Linux")

from Xlib import X, Xatom  # noqa: E402
from Xlib.display import Display  # noqa: E402

# Known content in RGB: two opaque rectangles on the black root window.
RED = (220, 30, 40)
BLUE = (20, 60, 230)
RED_BOX = (20, 30, 120, 110)  # x0, y0, x1, y1
BLUE_BOX = (180, 120, 300, 220)


@pytest.fixture
def x(xvfb: Xvfb) -> Iterator[Display]:
    """A client connection that draws the known content; EWMH properties cleared after."""
    conn = Display(xvfb.display)
    screen = conn.screen()
    windows = [_box(conn, RED_BOX, RED), _box(conn, BLUE_BOX, BLUE)]
    conn.sync()
    yield conn
    for window in windows:
        window.destroy()
    for atom in ("_NET_NUMBER_OF_DESKTOPS", "_NET_CURRENT_DESKTOP"):
        screen.root.delete_property(conn.intern_atom(atom))
    conn.close()


def _box(conn: Display, box: tuple[int, int, int, int], rgb: tuple[int, int, int]) -> object:
    screen = conn.screen()
    colour = screen.default_colormap.alloc_color(*(c * 257 for c in rgb))
    x0, y0, x1, y1 = box
    window = screen.root.create_window(
        x0,
        y0,
        x1 - x0,
        y1 - y0,
        0,
        screen.root_depth,
        X.InputOutput,
        X.CopyFromParent,
        background_pixel=colour.pixel,
        override_redirect=True,
    )
    window.map()
    return window


def _set_desktops(conn: Display, number: int, current: int) -> None:
    root = conn.screen().root
    root.change_property(conn.intern_atom("_NET_NUMBER_OF_DESKTOPS"), Xatom.CARDINAL, 32, [number])
    root.change_property(conn.intern_atom("_NET_CURRENT_DESKTOP"), Xatom.CARDINAL, 32, [current])
    conn.sync()


def _through_jpeg(frame: np.ndarray) -> np.ndarray:
    """BGRA frame -> JPEG bytes -> decoded RGB, the way the cache stores and the agent reads."""
    image = Image.frombuffer(
        "RGB", (frame.shape[1], frame.shape[0]), frame.tobytes(), "raw", "BGRX"
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    assert buffer.getvalue()[:2] == b"\xff\xd8"
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _mean(rgb: np.ndarray, box: tuple[int, int, int, int], inset: int = 4) -> np.ndarray:
    x0, y0, x1, y1 = box
    return rgb[y0 + inset : y1 - inset, x0 + inset : x1 - inset].reshape(-1, 3).mean(axis=0)


def _capture_with_content(backend: X11Backend, space: int) -> np.ndarray:
    """The server paints window backgrounds as it maps them; allow it a few polls to land."""
    frame = backend.capture(space)
    for _ in range(20):
        if tuple(frame[RED_BOX[1] + 40, RED_BOX[0] + 40, :3]) == RED[::-1]:
            break
        time.sleep(0.05)
        frame = backend.capture(space)
    return frame


def test_without_a_window_manager_the_display_is_one_space(xvfb: Xvfb, x: Display) -> None:
    backend = X11Backend(xvfb.display)
    assert isinstance(backend, CaptureBackend)
    assert backend.pixel_format == "BGRA"
    assert backend.list_spaces() == [1]
    assert backend.current_space() == 1
    backend.close()


def test_capture_shows_the_drawn_content_after_a_jpeg_round_trip(xvfb: Xvfb, x: Display) -> None:
    backend = X11Backend(xvfb.display)
    frame = _capture_with_content(backend, 1)
    width, height = xvfb.size
    assert frame.shape == (height, width, 4)
    assert frame.dtype == np.uint8
    assert (frame[..., 3] == 255).all()
    # Exact pixels before compression: BGRA order.
    assert tuple(frame[50, 50]) == (RED[2], RED[1], RED[0], 255)
    assert tuple(frame[150, 200]) == (BLUE[2], BLUE[1], BLUE[0], 255)
    assert tuple(frame[5, 300, :3]) == (0, 0, 0)
    rgb = _through_jpeg(frame)
    assert np.abs(_mean(rgb, RED_BOX) - RED).max() < 8
    assert np.abs(_mean(rgb, BLUE_BOX) - BLUE).max() < 8
    assert _mean(rgb, (150, 0, 320, 100)).max() < 8  # the black root window between them
    backend.close()


def test_ewmh_desktops_become_spaces(xvfb: Xvfb, x: Display) -> None:
    backend = X11Backend(xvfb.display)
    _set_desktops(x, number=4, current=2)
    assert backend.list_spaces() == [1, 2, 3, 4]
    assert backend.current_space() == 3
    frame = _capture_with_content(backend, 3)
    assert tuple(frame[50, 50, :3]) == RED[::-1]
    _set_desktops(x, number=4, current=0)
    assert backend.current_space() == 1
    backend.close()


def test_other_desktops_cannot_be_captured_without_switching(xvfb: Xvfb, x: Display) -> None:
    backend = X11Backend(xvfb.display)
    _set_desktops(x, number=3, current=0)
    with pytest.raises(CaptureError, match=r"space 2: .*only capture the desktop on screen"):
        backend.capture(2)
    with pytest.raises(CaptureError, match=r"space 9 does not exist .*1\.\.3"):
        backend.capture(9)
    backend.close()


def test_captures_from_several_threads_agree(xvfb: Xvfb, x: Display) -> None:
    backend = X11Backend(xvfb.display)
    reference = _capture_with_content(backend, 1)
    frames: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                frames.append(backend.capture(backend.current_space()))
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(frames) == 20
    assert all(np.array_equal(frame, reference) for frame in frames)
    backend.close()


def test_an_unreachable_display_is_a_clear_capture_error() -> None:
    display = unused_display()
    with pytest.raises(CaptureError, match=rf"cannot connect to X display '{display}'"):
        X11Backend(display)


def test_no_display_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(CaptureError, match="DISPLAY is not set"):
        X11Backend()


@pytest.mark.parametrize(
    ("number", "current", "spaces", "expected"),
    [
        (None, None, [1], 1),
        (0, 0, [1], 1),
        (4, 0, [1, 2, 3, 4], 1),
        (4, 3, [1, 2, 3, 4], 4),
        (4, 4, [1, 2, 3, 4], 1),  # out of range: a WM mid-switch
        (2, 0xFFFFFFFF, [1, 2], 1),
        (None, 2, [1], 1),
    ],
)
def test_ewmh_values_to_spaces(
    number: int | None, current: int | None, spaces: list[int], expected: int
) -> None:
    assert ewmh_spaces(number) == spaces
    assert ewmh_current_space(current, number) == expected


def test_a_restarted_x_server_is_picked_up_at_its_new_size() -> None:
    first = start_xvfb((320, 240))
    second = None
    backend = None
    try:
        backend = X11Backend(first.display)
        assert backend.capture(1).shape == (240, 320, 4)
        stop_xvfb(first)
        # While the server is gone: a clear error every time, from the lost or refused
        # connection at once, not from waiting out the answer timeout.
        for _ in range(2):
            with pytest.raises(CaptureError, match=first.display) as gone:
                backend.capture(1)
            assert "answer" not in str(gone.value)
        second = start_xvfb((400, 300), display=first.display)
        frame = backend.capture(1)
        assert frame.shape == (300, 400, 4)
        assert backend.list_spaces() == [1]
        backend.close()
        with pytest.raises(CaptureError, match="closed"):
            backend.capture(1)
    finally:
        if backend is not None:
            backend.close()
        stop_xvfb(first)
        if second is not None:
            stop_xvfb(second)


def _resize_screen(conn: Display, width: int, height: int) -> None:
    """What a display settings change does: the root window takes another size (RandR). Xvfb
    cannot go beyond the size it started with, and its one output must be switched off first."""
    from Xlib.ext import randr

    root = conn.screen().root
    resources = root.xrandr_get_screen_resources()
    for crtc in resources.crtcs:
        conn.xrandr_set_crtc_config(crtc, resources.config_timestamp, 0, 0, 0, randr.Rotate_0, [])
    root.xrandr_set_screen_size(width, height, width // 4, height // 4)
    conn.sync()


def test_a_resolution_change_is_followed_both_ways() -> None:
    server = start_xvfb((640, 480))
    conn = Display(server.display)
    backend = None
    try:
        _resize_screen(conn, 320, 240)
        backend = X11Backend(server.display)
        assert backend.capture(1).shape == (240, 320, 4)
        # Growing: the first capture at the larger size already has it (mss sizes its buffer
        # at the first grab, so the grabber is made again when the screen's size changes).
        _resize_screen(conn, 640, 480)
        assert backend.capture(1).shape == (480, 640, 4)
        _resize_screen(conn, 400, 300)
        assert backend.capture(1).shape == (300, 400, 4)
    finally:
        if backend is not None:
            backend.close()
        conn.close()
        stop_xvfb(server)


def _open_fds() -> int:
    gc.collect()  # connections dropped by earlier tests close when collected
    return len(os.listdir("/proc/self/fd"))


def test_a_connect_that_fails_halfway_closes_what_it_opened(
    xvfb: Xvfb, monkeypatch: pytest.MonkeyPatch
) -> None:
    from Xlib import error as xerror

    backend = X11Backend(xvfb.display)
    backend.close()

    def gone(self: Display, name: str, only_if_exists: bool = False) -> int:
        raise xerror.ConnectionClosedError("server")

    monkeypatch.setattr(Display, "intern_atom", gone)
    before = _open_fds()
    for _ in range(5):
        with pytest.raises(CaptureError, match="failed while connecting"):
            X11Backend(xvfb.display)
    assert _open_fds() <= before  # each failed connect left nothing open


def test_a_server_that_hangs_up_at_once_is_a_capture_error() -> None:
    display = unused_display()
    path = f"/tmp/.X11-unix/X{display[1:]}"
    os.makedirs("/tmp/.X11-unix", exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.close()

    worker = threading.Thread(target=hang_up, daemon=True)
    worker.start()
    try:
        with pytest.raises(CaptureError, match=display):
            X11Backend(display)
    finally:
        listener.close()
        os.unlink(path)
        worker.join(timeout=5)


# A stopped server (SIGSTOP) keeps its socket open and never answers: the calls must give up.
# The short wait is set only around the stop, so that a busy machine cannot fail the rest.
ANSWER_TIMEOUT_S = 0.5
WATCHDOG_S = 20  # resumes a stopped server a broken timeout would wait on for ever
RELEASE_LIMIT_S = 30  # only bounds a broken release; a resumed Xvfb answers at once


def _until(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + RELEASE_LIMIT_S
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def _stopped(server: Xvfb) -> Iterator[None]:
    """The server stopped (SIGSTOP) for the block. A watchdog resumes it after WATCHDOG_S, so
    that a call that wrongly waits for it fails the test instead of hanging the run."""
    server.process.send_signal(signal.SIGSTOP)
    watchdog = threading.Timer(WATCHDOG_S, server.process.send_signal, (signal.SIGCONT,))
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
        server.process.send_signal(signal.SIGCONT)


def test_a_stopped_server_is_a_capture_error_and_calls_resume_when_it_answers(xvfb: Xvfb) -> None:
    backend = X11Backend(xvfb.display)
    assert backend.answer_timeout == X11_ANSWER_TIMEOUT_S
    try:
        assert backend.capture(1).shape == (240, 320, 4)
        backend.answer_timeout = ANSWER_TIMEOUT_S
        with _stopped(xvfb):
            with pytest.raises(CaptureError, match=rf"{xvfb.display}.*did not answer"):
                backend.capture(1)
            # The stuck request is still in the server: the next calls do not queue behind it.
            for call in (lambda: backend.capture(1), backend.list_spaces, backend.current_space):
                with pytest.raises(CaptureError, match="not answering: still waiting on"):
                    call()
        # With the long wait again the next call queues behind the stuck request, which returns
        # now that the server answers, and then goes through itself.
        backend.answer_timeout = X11_ANSWER_TIMEOUT_S
        assert backend.capture(1).shape == (240, 320, 4)
        assert backend.list_spaces() == [1]
    finally:
        backend.close()


def test_a_backend_made_or_closed_while_the_server_is_stopped_releases_its_connection(
    xvfb: Xvfb,
) -> None:
    before = _open_fds()
    with _stopped(xvfb), pytest.raises(CaptureError, match="did not answer the connection"):
        X11Backend(xvfb.display, answer_timeout=ANSWER_TIMEOUT_S)
    # The connect returned once the server answered, and was closed then.
    assert _until(lambda: _open_fds() <= before)

    backend = X11Backend(xvfb.display)
    backend.answer_timeout = ANSWER_TIMEOUT_S
    with _stopped(xvfb):
        with pytest.raises(CaptureError, match="did not answer"):
            backend.capture(1)
        backend.close()  # returns: it does not wait on a stuck server
        with pytest.raises(CaptureError, match="closed"):
            backend.capture(1)
    assert _until(lambda: _open_fds() <= before)


def _request_threads(display: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"x11 {display}"]


def test_a_backend_dropped_without_close_ends_its_thread_and_closes_its_connection(
    xvfb: Xvfb,
) -> None:
    before = _open_fds()
    assert _request_threads(xvfb.display) == []
    backend = X11Backend(xvfb.display)
    assert backend.capture(1).shape == (240, 320, 4)
    assert len(_request_threads(xvfb.display)) == 1
    del backend  # nothing else holds it: not the idle thread, not its last screenshot
    assert _until(lambda: not _request_threads(xvfb.display) and _open_fds() <= before)


async def test_an_engine_closes_the_backend_it_chose_and_not_one_it_was_given(
    xvfb: Xvfb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb.display)
    monkeypatch.setenv("IRONCLIW_CAPTURE_BACKEND", "x11")
    chosen = MultiSpaceCaptureEngine(config=MemoryConfig(env={}))
    given = MultiSpaceCaptureEngine(backend=X11Backend(xvfb.display), config=MemoryConfig(env={}))
    for engine in (chosen, given):
        assert isinstance(engine.backend, X11Backend)
        result = await engine.capture_all_spaces(SpaceCaptureRequest(space_ids=[1]))
        assert result.errors == {}
        await engine.close()
    with pytest.raises(CaptureError, match="closed"):
        chosen.backend.capture(1)
    assert given.backend.capture(1).shape == (240, 320, 4)  # its owner closes it
    given.backend.close()


@pytest.mark.parametrize(
    "timeout",
    [0, -1.0, float("nan"), float("inf"), 1e10, pytest.param(10**400, id="10**400"), "5", True],
)
def test_the_answer_timeout_must_be_a_positive_number_of_seconds(
    xvfb: Xvfb, timeout: object
) -> None:
    accepted = r"answer_timeout must be a number of seconds > 0 and <= 9\.2\d*e\+09"
    with pytest.raises(ValueError, match=accepted):
        X11Backend(xvfb.display, answer_timeout=timeout)  # type: ignore[arg-type]
    backend = X11Backend(xvfb.display, answer_timeout=3)
    with pytest.raises(ValueError, match=accepted):
        backend.answer_timeout = timeout  # type: ignore[assignment]
    assert backend.answer_timeout == 3.0  # a refused value leaves the wait as it was
    backend.close()
