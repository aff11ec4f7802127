"""One activity reading, the readers' shape, and the rule from a reading to a state.

Pure logic apart from the readers: a reading and the thresholds in, a state (and when to read
again) out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from ironcliw_mem.levels import ActivityState

# Where input cannot arrive as an event, the idle time is read at most this often while the user
# is idle or away (one cheap call), so a returning user is noticed within a second.
ACTIVITY_POLL_SECONDS = 1.0
# A threshold crossing is read this late at least: a reading taken right on the threshold would
# otherwise read again at once.
THRESHOLD_MARGIN_SECONDS = 0.05


class ActivityUnavailable(Exception):
    """The platform cannot tell the user's activity (no display, no extension, no library)."""


@dataclass(frozen=True)
class ActivityReading:
    """What a platform tells about the user; None where it could not tell."""

    idle_seconds: float | None
    frontmost_pid: int | None
    screen_locked: bool | None
    source: str  # "x11", "macos", "none", or a test's or a replay's name
    problem: str | None = None  # why nothing (or less) could be read

    def to_dict(self) -> dict[str, Any]:
        return {
            "idle_seconds": None if self.idle_seconds is None else round(self.idle_seconds, 3),
            "frontmost_pid": self.frontmost_pid,
            "screen_locked": self.screen_locked,
            "source": self.source,
            "problem": self.problem,
        }


class ActivityReader(Protocol):
    """A platform's leaf. `read` may block on the platform (the manager calls it in a worker
    thread). A reader whose platform delivers input as events gives a file descriptor that
    becomes readable on input while armed (`input_fd`, `arm_input`, `drain_input`, called on the
    event loop's thread); the others give None and are read every ACTIVITY_POLL_SECONDS while the
    user is idle or away."""

    source: str

    def read(self) -> ActivityReading: ...

    def input_fd(self) -> int | None: ...

    def arm_input(self, armed: bool) -> None: ...

    def drain_input(self) -> bool: ...

    def close(self) -> None: ...


class PolledReader:
    """The input-event half of a reader whose platform has no input events (or no input): the
    manager polls its `read` instead. Subclasses give `source` and `read`."""

    source = "polled"

    def input_fd(self) -> int | None:
        return None

    def arm_input(self, armed: bool) -> None:
        pass

    def drain_input(self) -> bool:
        return False

    def close(self) -> None:
        pass


class NoActivityReader(PolledReader):
    """Where nothing can be read: every reading is unknown, with the reason."""

    source = "none"

    def __init__(self, reason: str = "no activity reader on this platform") -> None:
        self.reason = reason

    def read(self) -> ActivityReading:
        return ActivityReading(None, None, None, self.source, self.reason)


def classify_activity(
    reading: ActivityReading, idle_after: float, away_after: float
) -> ActivityState:
    """Away while the screen is locked or after `away_after` seconds without input, idle after
    `idle_after`, active before; unknown when the idle time could not be read."""
    if reading.screen_locked:
        return ActivityState.AWAY
    idle = reading.idle_seconds
    if idle is None or not math.isfinite(idle):
        return ActivityState.UNKNOWN
    if idle >= away_after:
        return ActivityState.AWAY
    if idle >= idle_after:
        return ActivityState.IDLE
    return ActivityState.ACTIVE


def seconds_until_next_read(
    reading: ActivityReading,
    state: ActivityState,
    idle_after: float,
    away_after: float,
    *,
    input_events: bool,
) -> float | None:
    """How long the state cannot change without input, which is how long the next read may wait
    (None: until input arrives). Active: until the idle threshold (input meanwhile only makes it
    later). Idle: until the away threshold; without input events, polled for the user's return.
    Away: until input (events), or polled. Unknown: None; the caller retries at its own pace."""
    idle = reading.idle_seconds
    if state is ActivityState.UNKNOWN or idle is None:
        return None
    if state is ActivityState.ACTIVE:
        return max(THRESHOLD_MARGIN_SECONDS, idle_after - idle + THRESHOLD_MARGIN_SECONDS)
    if state is ActivityState.IDLE and not reading.screen_locked:
        until_away = max(THRESHOLD_MARGIN_SECONDS, away_after - idle + THRESHOLD_MARGIN_SECONDS)
        return until_away if input_events else min(until_away, ACTIVITY_POLL_SECONDS)
    return None if input_events else ACTIVITY_POLL_SECONDS
