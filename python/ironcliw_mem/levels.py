"""The shared vocabulary: memory levels, capture qualities and which spaces to watch.

Every other module speaks these words; this one imports nothing of the package.
"""

from __future__ import annotations

import enum
import functools


class MemoryPressure(enum.Enum):
    """The memory level, with the agent's original string values."""

    GREEN = "normal"
    YELLOW = "warn"
    RED = "critical"
    UNKNOWN = "unknown"

    @classmethod
    def from_level(cls, level: str) -> MemoryPressure:
        """From the classifier's level names ("green", "yellow", "red", "unknown")."""
        try:
            return _LEVEL_NAMES[level]
        except KeyError:
            accepted = ", ".join(_LEVEL_NAMES)
            raise ValueError(f"unknown pressure level {level!r}; accepted: {accepted}") from None

    @classmethod
    def parse(cls, text: str) -> MemoryPressure:
        """From either naming: "green"/"normal", "yellow"/"warn", "red"/"critical", "unknown"."""
        lowered = text.strip().lower()
        for member in cls:
            if lowered in (member.value, member.name.lower()):
                return member
        accepted = ", ".join(f"{m.name.lower()}/{m.value}" for m in cls)
        raise ValueError(f"unknown pressure level {text!r}; accepted: {accepted}")

    @property
    def level_name(self) -> str:
        return self.name.lower()


_LEVEL_NAMES = {m.name.lower(): m for m in MemoryPressure}


@functools.total_ordering
class CaptureQuality(enum.Enum):
    """Capture tiers, ordered by fidelity: THUMBNAIL < FAST < OPTIMIZED < FULL.

    Comparisons use the fidelity rank, never the strings (the originals compared strings, so red
    never lowered full/optimized and green raised thumbnails).
    """

    FULL = "full"
    OPTIMIZED = "optimized"
    FAST = "fast"
    THUMBNAIL = "thumbnail"

    @property
    def fidelity(self) -> int:
        return _FIDELITY[self]

    @property
    def scale(self) -> float | None:
        """The linear scale of the tier; None for the thumbnail, which fits a box instead."""
        return _SCALE[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CaptureQuality):
            return NotImplemented
        return self.fidelity < other.fidelity

    @classmethod
    def parse(cls, text: str | CaptureQuality) -> CaptureQuality:
        if isinstance(text, CaptureQuality):
            return text
        try:
            return cls(text.strip().lower())
        except ValueError:
            accepted = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown capture quality {text!r}; accepted: {accepted}") from None


_FIDELITY = {
    CaptureQuality.THUMBNAIL: 0,
    CaptureQuality.FAST: 1,
    CaptureQuality.OPTIMIZED: 2,
    CaptureQuality.FULL: 3,
}
_SCALE: dict[CaptureQuality, float | None] = {
    CaptureQuality.FULL: 1.0,
    CaptureQuality.OPTIMIZED: 0.75,
    CaptureQuality.FAST: 0.5,
    CaptureQuality.THUMBNAIL: None,
}


class MonitoringStrategy(enum.Enum):
    """Which desktop spaces the agent keeps watching."""

    ALL_SPACES = "all"
    ACTIVE_AND_ADJACENT = "active+adjacent"
    ACTIVE_ONLY = "active"


class ActivityState(enum.Enum):
    """The user's presence at the machine, from the time since the last input event.

    `UNKNOWN` (nothing could be read) acts as `ACTIVE`: the package never assumes the user is
    away.
    """

    ACTIVE = "active"
    IDLE = "idle"
    AWAY = "away"
    UNKNOWN = "unknown"

    @property
    def present(self) -> bool:
        """True for the states that act as a user at the keyboard (active, unknown)."""
        return self in (ActivityState.ACTIVE, ActivityState.UNKNOWN)
