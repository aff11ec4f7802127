"""Real screens on an X11 desktop: mss grabs the pixels, EWMH root properties name the desktops.

A window manager that follows EWMH publishes `_NET_NUMBER_OF_DESKTOPS` and `_NET_CURRENT_DESKTOP`
(0-based) on the root window; they become spaces 1..N and the current space. Without such a
window manager the display is one space. X11 can only read the pixels of the desktop on screen:
capturing another desktop would mean switching to it, which a watcher must never do, so that is a
`CaptureError` the engine reports for that space.

Needs the optional extra `x11` (`mss`, `python-xlib`). python-xlib speaks the X protocol in pure
Python and has typed stubs, so reading two root-window properties needs no hand-written ctypes.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ironcliw_mem.capture.backends import CaptureError, Pixels

if TYPE_CHECKING:
    import mss as mss_module
    from Xlib.display import Display

X11_EXTRA_HINT = "install the optional extra: pip install 'ironcliw-mem[x11]'"
_OPAQUE = 255


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
            f"the X11 backend needs mss and python-xlib ({error}); {X11_EXTRA_HINT}"
        ) from error
    return mss, xdisplay


class X11Backend:
    """Captures the desktop on screen of an X display; desktops come from EWMH properties."""

    name = "x11"
    pixel_format = "BGRA"

    def __init__(self, display: str | None = None) -> None:
        name = display if display is not None else os.environ.get("DISPLAY", "")
        if not name:
            raise CaptureError("no X display: DISPLAY is not set and no display was given")
        self.display = name
        mss, xdisplay = _import_x11()
        from Xlib import error as xerror

        self._lock = threading.Lock()
        try:
            self._x: Display = xdisplay.Display(name)
        except (xerror.DisplayError, xerror.XauthError, OSError) as error:
            raise CaptureError(f"cannot connect to X display {name!r}: {error}") from error
        try:
            self._mss: mss_module.MSS = mss.MSS(display=name)
        except Exception as error:  # mss raises ScreenShotError, ctypes raises OSError
            self._x.close()
            raise CaptureError(f"mss cannot open X display {name!r}: {error}") from error
        self._root = self._x.screen().root
        self._atoms = {
            atom: self._x.intern_atom(atom)
            for atom in ("_NET_NUMBER_OF_DESKTOPS", "_NET_CURRENT_DESKTOP")
        }

    def _cardinal(self, atom: str) -> int | None:
        """A 32-bit CARDINAL root-window property, None when unset or malformed."""
        from Xlib import X, Xatom
        from Xlib import error as xerror

        try:
            with self._lock:
                prop = self._root.get_full_property(self._atoms[atom], Xatom.CARDINAL)
        except (xerror.XError, xerror.ConnectionClosedError, OSError) as error:
            raise CaptureError(
                f"X display {self.display!r}: reading {atom} failed: {error}"
            ) from error
        if prop is None or prop.format != 32 or len(prop.value) < 1 or prop.property_type == X.NONE:
            return None
        return int(prop.value[0])

    def list_spaces(self) -> list[int]:
        return ewmh_spaces(self._cardinal("_NET_NUMBER_OF_DESKTOPS"))

    def current_space(self) -> int:
        return ewmh_current_space(
            self._cardinal("_NET_CURRENT_DESKTOP"), self._cardinal("_NET_NUMBER_OF_DESKTOPS")
        )

    def capture(self, space_id: int) -> Pixels:
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
        try:
            shot = self._mss.grab(self._mss.monitors[0])
        except Exception as error:  # mss.ScreenShotError and the X errors under it
            raise CaptureError(
                f"space {space_id}: X11 capture on display {self.display!r} failed: {error}"
            ) from error
        frame = np.frombuffer(shot.bgra, dtype=np.uint8).reshape(shot.height, shot.width, 4).copy()
        # A 24-bit visual leaves the fourth byte undefined (mss returns 0): the screen is opaque.
        frame[..., 3] = _OPAQUE
        return frame

    def close(self) -> None:
        with self._lock:
            self._mss.close()
            self._x.close()
