"""The user's activity on an X11 desktop: a thin leaf over python-xlib.

- idle time: the MIT-SCREEN-SAVER extension's `XScreenSaverQueryInfo` (milliseconds since the
  last input event the server saw, XTest's included);
- the active window and its pid: `_NET_ACTIVE_WINDOW` on the root window (a window manager that
  follows EWMH sets it), then that window's `_NET_WM_PID`;
- input as events: XInput2 raw key, button and motion events selected on the root window, on a
  second connection of their own, so a user's return wakes the manager without polling. Armed
  only while the user is idle or away: an active user's every mouse move is not sent to us.

Each reading is one round trip per property; `read` runs in the manager's worker thread, the
event connection only on the event loop's thread.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from ironcliw_mem.activity.reading import ActivityReading, ActivityUnavailable

if TYPE_CHECKING:
    from Xlib.display import Display

# XInput 2.2 (raw events need 2.1; python-xlib's own query announces 2.0).
XI_VERSION = (2, 2)


def idle_seconds_from_milliseconds(idle_ms: object) -> float | None:
    """XScreenSaverQueryInfo's `idle` (CARD32 milliseconds) in seconds; None when malformed."""
    if isinstance(idle_ms, bool) or not isinstance(idle_ms, int) or not 0 <= idle_ms < 1 << 32:
        return None
    return idle_ms / 1000.0


def first_cardinal(prop: Any) -> int | None:
    """The first value of a 32-bit property (a WINDOW or CARDINAL), None when unset or malformed."""
    if prop is None or getattr(prop, "format", None) != 32 or len(prop.value) < 1:
        return None
    value = int(prop.value[0])
    return value if value > 0 else None


class X11ActivityReader:
    """Idle time, active window pid and input events of one X display."""

    source = "x11"

    def __init__(self, display: str | None = None) -> None:
        name = display if display is not None else os.environ.get("DISPLAY", "")
        if not name:
            raise ActivityUnavailable("no X display: DISPLAY is not set")
        try:
            from Xlib import error as xerror
            from Xlib.display import Display
        except ImportError as error:
            raise ActivityUnavailable(f"python-xlib is missing ({error})") from error
        self.display = name
        try:
            self._x: Display = Display(name)
        except (xerror.DisplayError, xerror.XauthError, OSError) as error:
            raise ActivityUnavailable(f"cannot connect to X display {name!r}: {error}") from error
        if not self._x.has_extension("MIT-SCREEN-SAVER"):
            self._x.close()
            raise ActivityUnavailable(f"X display {name!r} has no MIT-SCREEN-SAVER extension")
        self._root = self._x.screen().root
        self._active_window = self._x.intern_atom("_NET_ACTIVE_WINDOW")
        self._wm_pid = self._x.intern_atom("_NET_WM_PID")
        self._events: Display | None = self._open_event_connection()
        self._armed = False

    def _open_event_connection(self) -> Display | None:
        """A connection that receives XInput2 raw events, None where the server has no XI 2.1."""
        from Xlib.display import Display
        from Xlib.ext import xinput

        if not self._x.has_extension(xinput.extname):
            return None
        events = Display(self.display)
        try:
            reply = xinput.XIQueryVersion(
                display=events.display,
                opcode=events.display.get_extension_major(xinput.extname),
                major_version=XI_VERSION[0],
                minor_version=XI_VERSION[1],
            )
            if (reply.major_version, reply.minor_version) < (2, 1):
                events.close()
                return None
        except Exception:
            events.close()
            return None
        return events

    # --- reading (worker thread) ----------------------------------------------------------

    def read(self) -> ActivityReading:
        try:
            info = self._root.screensaver_query_info()
            idle = idle_seconds_from_milliseconds(info.idle)
            pid = self._frontmost_pid()
        except Exception as error:  # Xlib's errors, a closed socket
            return ActivityReading(
                None, None, None, self.source, f"X display {self.display!r}: {error}"
            )
        # X11 has no standard lock signal: a locker is a client like any other.
        return ActivityReading(idle, pid, None, self.source)

    def _frontmost_pid(self) -> int | None:
        from Xlib import X, Xatom

        window_id = first_cardinal(
            self._root.get_full_property(self._active_window, X.AnyPropertyType)
        )
        if window_id is None:
            return None
        window = self._x.create_resource_object("window", window_id)
        try:
            return first_cardinal(window.get_full_property(self._wm_pid, Xatom.CARDINAL))
        except Exception:  # the window went away between the two reads
            return None

    # --- input events (event loop's thread) -----------------------------------------------

    def input_fd(self) -> int | None:
        return None if self._events is None else int(self._events.fileno())

    def arm_input(self, armed: bool) -> None:
        """Selects (or deselects) raw key, button and motion events of every master device."""
        if self._events is None or armed == self._armed:
            return
        from Xlib.ext import xinput

        mask = (
            xinput.RawKeyPressMask | xinput.RawButtonPressMask | xinput.RawMotionMask
            if armed
            else 0
        )
        self._events.screen().root.xinput_select_events([(xinput.AllMasterDevices, mask)])
        self._events.flush()
        self._armed = armed
        if armed:
            self.drain_input()  # what arrived before arming is not the user's return

    def drain_input(self) -> bool:
        """Consumes the queued events; True when one of them was input."""
        events = self._events
        if events is None:
            return False
        from Xlib.ext.ge import GenericEventCode

        seen = False
        while events.pending_events():
            seen |= getattr(events.next_event(), "type", None) == GenericEventCode
        return seen

    def close(self) -> None:
        for connection in (self._events, self._x):
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
        self._events = None
