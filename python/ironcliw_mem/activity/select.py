"""Which activity reader this machine offers: macOS, X11, or none (unknown, acting as active)."""

from __future__ import annotations

import logging
import os
import sys

from ironcliw_mem.activity.reading import ActivityReader, ActivityUnavailable, NoActivityReader

log = logging.getLogger(__name__)


def select_activity_reader(display: str | None = None) -> ActivityReader:
    """The platform's reader; a `NoActivityReader` that says why when none can read."""
    try:
        if sys.platform == "darwin":
            from ironcliw_mem.activity.macos import MacOSActivityReader

            return MacOSActivityReader()
        if display is not None or os.environ.get("DISPLAY"):
            from ironcliw_mem.activity.x11 import X11ActivityReader

            return X11ActivityReader(display)
    except ActivityUnavailable as reason:
        log.info("user activity unknown (acts as active): %s", reason)
        return NoActivityReader(str(reason))
    return NoActivityReader("not macOS and no X display (DISPLAY is not set)")
