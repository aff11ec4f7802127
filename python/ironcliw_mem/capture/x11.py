"""Real screens on an X11 desktop: mss grabs the pixels, EWMH root properties name the desktops.

A window manager that follows EWMH publishes `_NET_NUMBER_OF_DESKTOPS` and `_NET_CURRENT_DESKTOP`
(0-based) on the root window; they become spaces 1..N and the current space. Without such a
window manager the display is one space. X11 can only read the pixels of the desktop on screen:
capturing another desktop would mean switching to it, which a watcher must never do, so that is a
`CaptureError` the engine reports for that space.

Needs `mss` and `python-xlib` (dependencies of the package on Linux). python-xlib speaks the X
protocol in pure Python and has typed stubs, so reading two root-window properties needs no
hand-written ctypes.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ironcliw_mem.capture.backends import CaptureError, Pixels, SizeHint

if TYPE_CHECKING:
    import mss as mss_module
    from Xlib.display import Display

X11_INSTALL_HINT = (
    "they are dependencies of ironcliw-mem on Linux: pip install 'mss>=10.2' 'python-xlib>=0.33'"
)
#: How long one request (a property read, a grab, the connect) may wait for the X server.
X11_ANSWER_TIMEOUT_S = 10.0
_OPAQUE = 255
_T = TypeVar("_T")


def ewmh_spaces(number_of_desktops: int | None) -> list[int]:
    """Space ids 1..N from `_NET_NUMBER_OF_DESKTOPS`; one space when no WM sets it (or sets 0)."""
    if number_of_desktops is None or number_of_desktops < 1:
        return [1]
    return list(range(1, number_of_desktops + 1))


def ewmh_current_space(current_desktop: int | None, number_of_desktops: int | None) -> int:
    """The 1-based current space from the 0-based `_NET_CURRENT_DESKTOP`.

    A missing or out-of-range value (a WM mid-switch, or none at all) means space 1.
    """
    spaces = ewmh_spaces(number_of_desktops)
    if current_desktop is None or not 0 <= current_desktop < len(spaces):
        return 1
    return current_desktop + 1


def _import_x11() -> tuple[Any, Any]:
    try:
        import mss
        from Xlib import display as xdisplay
    except ImportError as error:
        raise CaptureError(
            f"the X11 backend needs mss and python-xlib ({error}); {X11_INSTALL_HINT}"
        ) from error
    return mss, xdisplay


@dataclass
class _Connection:
    """One session with the X server: python-xlib for properties, mss for pixels."""

    x: Display
    grabber: mss_module.MSS
    root: Any
    atoms: dict[str, int]
    # The root window's size at the last grab: mss sizes its shared-memory buffer when it
    # connects, so a screen that grew needs a fresh grabber.
    grabbed_size: tuple[int, int] | None = None

    def close(self) -> None:
        _close_quietly(self.grabber.close, self.x.close)


_Request = tuple[Callable[[], Any], "Future[Any]", str, float]


class _ServerCalls:
    """Runs one X server's requests one at a time on a thread of their own, so that a caller can
    stop waiting for a server that has stopped answering (stopped, or wedged, not gone): neither
    python-xlib nor mss has a timeout, and a thread blocked in them cannot be interrupted.

    A caller waits at most `timeout`. While a request is stuck past it, later ones fail at once
    instead of queueing behind it; once the server answers, the stuck request returns and
    requests go through again. The thread is a daemon, so a stuck request never holds up the
    interpreter's exit.
    """

    def __init__(self, display: str, timeout: float) -> None:
        self.display = display
        self.timeout = timeout
        self._jobs: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        # (what, when its caller began to wait) of the request the thread is in, None when it
        # waits for work. From the caller's start, so that a caller whose wait ran out always
        # finds its request stuck, however late the thread picked it up.
        self._running: tuple[str, float] | None = None
        self._stopping = threading.Lock()
        self._stopped = False
        thread = threading.Thread(target=self._serve, name=f"x11 {display}", daemon=True)
        thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._run(*job)
            # A request's work holds its backend and its result a screenshot: the idle thread
            # must hold neither, or a dropped backend is never collected (nor finalized).
            del job

    def _run(
        self, work: Callable[[], Any], future: Future[Any], what: str, submitted: float
    ) -> None:
        if not future.set_running_or_notify_cancel():
            return  # its caller stopped waiting before it started
        self._running = (what, submitted)
        try:
            result = work()
        except BaseException as error:  # handed to the caller, who raises it
            self._running = None
            future.set_exception(error)
        else:
            self._running = None
            future.set_result(result)

    def stuck(self) -> str | None:
        """What the thread has been waiting on for longer than the timeout, if anything."""
        running = self._running
        if running is None:
            return None
        what, since = running
        waited = time.monotonic() - since
        return f"{what} ({waited:.0f} s)" if waited >= self.timeout else None

    def _put(self, work: Callable[[], _T], what: str) -> Future[_T]:
        future: Future[_T] = Future()
        self._jobs.put((work, future, what, time.monotonic()))
        return future

    def call(self, work: Callable[[], _T], what: str) -> _T:
        """`work()` on the thread; a `CaptureError` when the server keeps it waiting too long."""
        with self._stopping:
            self.raise_if_stopped()
            stuck = self.stuck()
            if stuck is not None:
                raise CaptureError(
                    f"X display {self.display!r} is not answering: still waiting on {stuck}; "
                    "calls fail at once until it answers"
                )
            future = self._put(work, what)
        try:
            return future.result(timeout=self.timeout)
        except TimeoutError:
            future.cancel()  # not started yet (queued behind a stuck request): never runs
            raise CaptureError(
                f"X display {self.display!r} did not answer {what} within {self.timeout:g} s "
                "(a stopped or wedged server)"
            ) from None

    def raise_if_stopped(self) -> None:
        if self._stopped:
            raise CaptureError(f"the X11 backend for display {self.display!r} is closed")

    def stop(self, last: Callable[[], None] | None = None) -> Future[None] | None:
        """Ends the thread after the requests already submitted and then `last`; `last`'s future,
        None when there is no `last` or the thread was stopped already."""
        with self._stopping:
            if self._stopped:
                return None
            self._stopped = True
            closing = self._put(last, "the close") if last is not None else None
            self._jobs.put(None)
        return closing


class _Link:
    """The backend's connection, held apart from the backend so that the backend's finalizer
    can close it (as the requests' thread's last job) without keeping the backend alive."""

    def __init__(self) -> None:
        self.connection: _Connection | None = None

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()


def _checked_timeout(seconds: object) -> float:
    """Seconds in (0, threading.TIMEOUT_MAX]; a ValueError naming what is accepted otherwise."""
    try:
        value = float(seconds) if isinstance(seconds, int | float) else math.nan
    except OverflowError:  # an int too large for a float
        value = math.inf
    if isinstance(seconds, bool) or not 0 < value <= threading.TIMEOUT_MAX:
        raise ValueError(
            f"answer_timeout must be a number of seconds > 0 and <= {threading.TIMEOUT_MAX:g}, "
            f"got {seconds!r}"
        )
    return value


def _close_quietly(*closers: Callable[[], object]) -> None:
    # The server may already be gone: closing what is left must not raise.
    for closer in closers:
        with contextlib.suppress(Exception):
            closer()


class X11Backend:
    """Captures the desktop on screen of an X display; desktops come from EWMH properties.

    The connection is made at construction (an unreachable display is an error then) and made
    again on the first call after it broke, so a restarted X server (or one that comes back
    after a crash) is picked up without a new backend. The screen's size is read on every
    capture, so a resolution change is followed too. Every failure comes out as `CaptureError`,
    including a server that keeps a request waiting longer than `answer_timeout` seconds
    (stopped or wedged, not gone): the requests run on a thread of the backend's own, and while
    one is stuck the next calls fail at once.
    """

    name = "x11"
    pixel_format = "BGRA"

    def __init__(
        self, display: str | None = None, *, answer_timeout: float = X11_ANSWER_TIMEOUT_S
    ) -> None:
        name = display if display is not None else os.environ.get("DISPLAY", "")
        if not name:
            raise CaptureError("no X display: DISPLAY is not set and no display was given")
        self.display = name
        self._link = _Link()
        # Every use of the connection runs on this thread, one at a time: no lock needed.
        self._calls = _ServerCalls(name, _checked_timeout(answer_timeout))
        # A backend dropped without close() still closes its connection and ends its thread.
        weakref.finalize(self, self._calls.stop, self._link.close)
        try:
            self._calls.call(self._session, "the connection")
        except BaseException:
            # A connect still stuck in the server is closed when it returns.
            self._calls.stop(last=self._link.close)
            raise

    def _connect(self) -> _Connection:
        mss, xdisplay = _import_x11()
        from Xlib import error as xerror

        try:
            x: Display = xdisplay.Display(self.display)
        except (xerror.DisplayError, xerror.XauthError, xerror.ConnectionClosedError, OSError) as e:
            raise CaptureError(f"cannot connect to X display {self.display!r}: {e}") from e
        try:
            grabber: mss_module.MSS = mss.MSS(display=self.display)
        except Exception as error:  # mss raises ScreenShotError, ctypes raises OSError
            _close_quietly(x.close)
            raise CaptureError(f"mss cannot open X display {self.display!r}: {error}") from error
        try:
            atoms = {
                atom: x.intern_atom(atom)
                for atom in ("_NET_NUMBER_OF_DESKTOPS", "_NET_CURRENT_DESKTOP")
            }
            return _Connection(x, grabber, x.screen().root, atoms)
        except Exception as error:  # the server went away between the two connects
            _close_quietly(grabber.close, x.close)
            raise CaptureError(
                f"X display {self.display!r} failed while connecting: {error}"
            ) from error

    @property
    def answer_timeout(self) -> float:
        """Seconds a call waits for the X server before it is a `CaptureError`; settable."""
        return self._calls.timeout

    @answer_timeout.setter
    def answer_timeout(self, seconds: float) -> None:
        self._calls.timeout = _checked_timeout(seconds)

    def _session(self) -> _Connection:
        """The live connection, made again if the last one broke. On the requests' thread."""
        self._calls.raise_if_stopped()  # a request queued before close() does not reconnect
        if self._link.connection is None:
            self._link.connection = self._connect()
        return self._link.connection

    def _drop(self, connection: _Connection) -> None:
        """Forgets a broken connection (the next call connects again). On the requests' thread."""
        if self._link.connection is connection:
            self._link.connection = None
        connection.close()

    def _cardinal(self, atom: str) -> int | None:
        """A 32-bit CARDINAL root-window property, None when unset or malformed."""
        from Xlib import X, Xatom
        from Xlib import error as xerror

        def read() -> Any:
            connection = self._session()
            try:
                return connection.root.get_full_property(connection.atoms[atom], Xatom.CARDINAL)
            except (xerror.ConnectionClosedError, OSError) as error:
                self._drop(connection)
                raise CaptureError(
                    f"X display {self.display!r}: connection lost reading {atom} ({error}); "
                    "the next call connects again"
                ) from error
            except xerror.XError as error:
                raise CaptureError(
                    f"X display {self.display!r}: reading {atom} failed: {error}"
                ) from error

        prop = self._calls.call(read, atom)
        if prop is None or prop.format != 32 or len(prop.value) < 1 or prop.property_type == X.NONE:
            return None
        return int(prop.value[0])

    def list_spaces(self) -> list[int]:
        return ewmh_spaces(self._cardinal("_NET_NUMBER_OF_DESKTOPS"))

    def current_space(self) -> int:
        return ewmh_current_space(
            self._cardinal("_NET_CURRENT_DESKTOP"), self._cardinal("_NET_NUMBER_OF_DESKTOPS")
        )

    def capture(self, space_id: int, size_hint: SizeHint | None = None) -> Pixels:
        # X11 grabs the root window as it is: there is nothing to scale at the source, so the
        # size hint is ignored and the engine resizes the full frame.
        del size_hint
        number = self._cardinal("_NET_NUMBER_OF_DESKTOPS")  # read once: a WM may change it
        spaces = ewmh_spaces(number)
        if space_id not in spaces:
            raise CaptureError(
                f"space {space_id} does not exist on X display {self.display!r} "
                f"(spaces are {spaces[0]}..{spaces[-1]})"
            )
        current = ewmh_current_space(self._cardinal("_NET_CURRENT_DESKTOP"), number)
        if space_id != current:
            raise CaptureError(
                f"space {space_id}: X11 can only capture the desktop on screen (space {current}) "
                f"on X display {self.display!r}; another desktop would have to be switched to"
            )
        shot = self._grab_screen(space_id)
        frame = np.frombuffer(shot.bgra, dtype=np.uint8).reshape(shot.height, shot.width, 4).copy()
        # A 24-bit visual leaves the fourth byte undefined (mss returns 0): the screen is opaque.
        frame[..., 3] = _OPAQUE
        return frame

    def _grab_screen(self, space_id: int) -> Any:
        """The whole root window, at the size it has now (mss would reuse the size it first saw)."""
        return self._calls.call(lambda: self._grab_on_thread(space_id), "the screen grab")

    def _grab_on_thread(self, space_id: int) -> Any:
        connection = self._session()
        try:
            geometry = connection.root.get_geometry()
            size = (geometry.width, geometry.height)
            if connection.grabbed_size is not None and size != connection.grabbed_size:
                connection.grabber.close()
                connection.grabber = _import_x11()[0].MSS(display=self.display)
            screen = {"left": 0, "top": 0, "width": size[0], "height": size[1]}
            shot = connection.grabber.grab(screen)
            connection.grabbed_size = size
            return shot
        except Exception as error:  # mss.ScreenShotError, Xlib's errors, a closed socket
            # Whatever failed, the connection is suspect: make a fresh one next time.
            self._drop(connection)
            raise CaptureError(
                f"space {space_id}: X11 capture on display {self.display!r} failed: {error}"
            ) from error

    def close(self) -> None:
        """Closes the connection; waits at most `answer_timeout` for a busy server, and not at
        all for a stuck one (the connection is then closed when its request returns)."""
        closing = self._calls.stop(last=self._link.close)
        if closing is not None and self._calls.stuck() is None:
            with contextlib.suppress(TimeoutError):
                closing.result(timeout=self._calls.timeout)
