"""The user's activity on macOS: a thin leaf over three Quartz/AppKit calls, and their decoding.

- idle time: `CGEventSourceSecondsSinceLastEventType(kCGEventSourceStateCombinedSessionState,
  kCGAnyInputEventType)`, seconds since any input event of the login session (hardware and
  posted events combined, as the session sees them);
- the frontmost application's pid: `NSWorkspace.sharedWorkspace().frontmostApplication()`;
- the screen lock: `CGSessionCopyCurrentDictionary()`, whose `CGSSessionScreenIsLocked` is set
  while the screen is locked; a session that does not own the console (fast user switching, or
  the screens asleep) has `kCGSSessionOnConsoleKey` false or absent; no dictionary at all means
  no GUI session (an ssh login, a launch daemon).

macOS offers no input event to wait on without an event tap (which needs the Accessibility
permission), so the idle time is polled, at most once a second, only while the user is idle or
away. Everything but the three calls is pure and tested on Linux (`tests/test_activity.py`,
with dictionaries and values of the shapes these calls return); the calls need pyobjc's Quartz
(a dependency of the package on macOS), whose AppKit comes with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ironcliw_mem.activity.reading import ActivityReading, ActivityUnavailable, PolledReader

# Quartz's constants, named once (CGEventSource.h, CGEventTypes.h): the combined session state,
# and "any input event" (~0 as a CGEventType).
COMBINED_SESSION_STATE = 0
ANY_INPUT_EVENT_TYPE = 0xFFFFFFFF
SCREEN_IS_LOCKED_KEY = "CGSSessionScreenIsLocked"
ON_CONSOLE_KEY = "kCGSSessionOnConsoleKey"


def idle_seconds_from_event_source(seconds: object) -> float | None:
    """`CGEventSourceSecondsSinceLastEventType`'s double; None when not a finite number >= 0."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    value = float(seconds)
    return value if math.isfinite(value) and value >= 0 else None


def screen_locked_from_session(session: Mapping[str, Any] | None) -> bool | None:
    """Locked (True) when the screen is locked or the session is not on the console; None when
    there is no GUI session to ask (the dictionary is NULL)."""
    if session is None:
        return None
    if bool(session.get(SCREEN_IS_LOCKED_KEY, False)):
        return True
    return not bool(session.get(ON_CONSOLE_KEY, False))


def pid_from_application(pid: object) -> int | None:
    """`processIdentifier()` of the frontmost application; None without one (or -1)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return None
    return pid


def reading_from_calls(
    idle: object, session: Mapping[str, Any] | None, pid: object, problem: str | None = None
) -> ActivityReading:
    """The reading from the three calls' raw results."""
    return ActivityReading(
        idle_seconds_from_event_source(idle),
        pid_from_application(pid),
        screen_locked_from_session(session),
        MacOSActivityReader.source,
        problem,
    )


class MacOSActivityReader(PolledReader):
    """Reads the session's idle time, frontmost pid and lock state (polled; no input events)."""

    source = "macos"

    def __init__(self) -> None:
        try:
            import AppKit  # type: ignore[import-not-found]
            import Quartz  # type: ignore[import-not-found]
        except ImportError as error:
            raise ActivityUnavailable(
                f"pyobjc's Quartz is missing ({error}): pip install 'pyobjc-framework-Quartz>=10'"
            ) from error
        self._quartz: Any = Quartz
        self._appkit: Any = AppKit

    def read(self) -> ActivityReading:
        quartz, appkit = self._quartz, self._appkit
        try:
            idle = quartz.CGEventSourceSecondsSinceLastEventType(
                COMBINED_SESSION_STATE, ANY_INPUT_EVENT_TYPE
            )
            session = quartz.CGSessionCopyCurrentDictionary()
            application = appkit.NSWorkspace.sharedWorkspace().frontmostApplication()
            pid = application.processIdentifier() if application is not None else None
        except Exception as error:  # pyobjc raises its own errors for a failed bridge call
            return ActivityReading(None, None, None, self.source, f"Quartz: {error}")
        return reading_from_calls(idle, None if session is None else dict(session), pid)
