"""The user's activity: how long since the last input, the frontmost application, the screen lock.

One reading shape (`ActivityReading`) from one leaf per platform (`x11`, `macos`; elsewhere a
reader that reads nothing, whose state is unknown and acts as active), and the pure rule that
turns a reading into an `ActivityState` (`classify_activity`). The policy (`policy.py`) decides
what a state means for the cache and the capture; the manager reads and publishes it.
"""

from __future__ import annotations

from ironcliw_mem.activity.reading import (
    ACTIVITY_POLL_SECONDS,
    ActivityReader,
    ActivityReading,
    ActivityUnavailable,
    NoActivityReader,
    PolledReader,
    classify_activity,
    seconds_until_next_read,
)
from ironcliw_mem.activity.select import select_activity_reader

__all__ = [
    "ACTIVITY_POLL_SECONDS",
    "ActivityReader",
    "ActivityReading",
    "ActivityUnavailable",
    "NoActivityReader",
    "PolledReader",
    "classify_activity",
    "seconds_until_next_read",
    "select_activity_reader",
]
