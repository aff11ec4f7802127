"""Which backend captures: automatic, or chosen by argument or `IRONCLIW_CAPTURE_BACKEND`.

Automatic: macOS -> `MacOSBackend`; a reachable X display (`DISPLAY` set and connectable) ->
`X11Backend`; else `SyntheticBackend`. An explicit choice that cannot work raises `CaptureError`
instead of quietly falling back: whoever asked for real screens must learn they are not getting
them. Automatic with a display it cannot use still falls back, but logs a warning (once per
reason) saying why and what would fix it: a user with a screen expects it to be captured.
`describe_backend` says what was chosen and why, for the stats.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from ironcliw_mem.capture.backends import CaptureBackend, CaptureError, SyntheticBackend

ENV_VAR = "IRONCLIW_CAPTURE_BACKEND"
CHOICES = ("auto", "synthetic", "x11", "macos")

# Why each backend made by `select_backend` was chosen; weak so backends are not kept alive.
_REASONS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

logger = logging.getLogger(__name__)
# Fallback reasons already logged: engines are made again and again, the log says it once.
_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()

# mss loads these with ctypes when it connects (Debian/Ubuntu names; other distributions: libxcb).
_XCB_PACKAGES = "libxcb1 libxcb-randr0 libxcb-render0 libxcb-shm0 libxcb-xfixes0"


def _parse(value: str, where: str) -> str:
    choice = value.strip().lower()
    if choice not in CHOICES:
        raise ValueError(
            f"{where}={value!r} is not a capture backend; accepted: {', '.join(CHOICES)}"
        )
    return choice


def resolve_preference(preference: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    """(choice, where it came from): the argument, else the environment, else auto."""
    if preference is not None:
        return _parse(preference, "capture backend preference"), "argument"
    value = env.get(ENV_VAR, "")
    if value.strip():
        return _parse(value, ENV_VAR), ENV_VAR
    return "auto", "default"


def select_backend(
    preference: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> CaptureBackend:
    """The capture backend to use; may block briefly (it connects to the X display to check it)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    choice, source = resolve_preference(preference, env)
    display = env.get("DISPLAY", "")
    backend: CaptureBackend
    if choice == "synthetic":
        backend, reason = SyntheticBackend(), f"synthetic requested ({source})"
    elif choice == "macos":
        if platform != "darwin":
            raise CaptureError(f"the macos capture backend needs macOS; this is {platform}")
        backend, reason = _macos(), f"macos requested ({source})"
    elif choice == "x11":
        backend, reason = _x11(display), f"x11 requested ({source}), X display {display!r}"
    elif platform == "darwin":
        backend, reason = _macos(), "auto: macOS"
    elif not display:
        backend, reason = SyntheticBackend(), "auto: not macOS and DISPLAY is not set"
    else:
        try:
            backend, reason = _x11(display), f"auto: X display {display!r} is reachable"
        except CaptureError as error:
            backend = SyntheticBackend()
            reason = f"auto: X display {display!r} is not usable ({error})"
            _warn_once(reason, error)
    _REASONS[backend] = reason
    return backend


def x11_fix(error: CaptureError) -> str:
    """What would let the X11 backend open the display that failed with `error`."""
    if isinstance(error.__cause__, ImportError):
        return (
            "install the X11 capture libraries: pip install 'mss>=10.2' 'python-xlib>=0.33' "
            "(ironcliw-mem depends on them on Linux; an install with --no-deps leaves them out)"
        )
    if re.search(r"lib[\w-]+\.so", str(error)):  # mss: "Library libxcb-randr.so not found"
        return f"install the X client libraries mss loads (apt-get install {_XCB_PACKAGES})"
    return (
        "check that DISPLAY names a running X server this user may connect to (XAUTHORITY), "
        f"or set {ENV_VAR}=synthetic to choose synthetic frames"
    )


def _warn_once(reason: str, error: CaptureError) -> None:
    with _WARNED_LOCK:
        if reason in _WARNED:
            return
        _WARNED.add(reason)
    logger.warning(
        "%s: capturing synthetic frames instead; to capture the screen, %s", reason, x11_fix(error)
    )


def _macos() -> CaptureBackend:
    from ironcliw_mem.capture.macos import MacOSBackend

    return MacOSBackend()


def _x11(display: str) -> CaptureBackend:
    from ironcliw_mem.capture.x11 import X11Backend

    return X11Backend(display)


def backend_reason(backend: CaptureBackend) -> str:
    """Why `backend` was chosen (without asking it anything, so it never blocks)."""
    return _REASONS.get(backend, "constructed directly")


def describe_backend(backend: CaptureBackend) -> dict[str, Any]:
    """Name, pixel format, spaces and why it was chosen: for the engine's stats.

    Lists spaces, so it may block like a capture (a yabai query, an X round trip).
    """
    info: dict[str, Any] = {
        "name": backend.name,
        "pixel_format": backend.pixel_format,
        "reason": backend_reason(backend),
    }
    try:
        info["spaces"] = backend.list_spaces()
        info["current_space"] = backend.current_space()
    except CaptureError as error:
        info["spaces"] = []
        info["current_space"] = None
        info["error"] = str(error)
    for extra in ("display", "space_source"):
        value = getattr(backend, extra, None)
        if isinstance(value, str):
            info[extra] = value
    return info
