"""Backend selection: argument, then IRONCLIW_CAPTURE_BACKEND, then automatic; and the stats."""

from __future__ import annotations

import logging
import sys

import pytest

from ironcliw_mem.capture import (
    CaptureError,
    MacOSBackend,
    SyntheticBackend,
    X11Backend,
    describe_backend,
    select,
    select_backend,
)
from ironcliw_mem.capture.select import CHOICES, ENV_VAR, resolve_preference
from xserver import Xvfb, unused_display


def test_the_argument_beats_the_environment_which_beats_auto() -> None:
    env = {ENV_VAR: "x11"}
    assert resolve_preference("synthetic", env) == ("synthetic", "argument")
    assert resolve_preference(None, env) == ("x11", ENV_VAR)
    assert resolve_preference(None, {}) == ("auto", "default")
    assert resolve_preference(None, {ENV_VAR: "  "}) == ("auto", "default")
    assert resolve_preference(None, {ENV_VAR: " MacOS "}) == ("macos", ENV_VAR)


def test_a_bad_environment_value_names_the_variable_value_and_choices() -> None:
    with pytest.raises(ValueError, match=r"IRONCLIW_CAPTURE_BACKEND='wayland'") as caught:
        select_backend(env={ENV_VAR: "wayland"}, platform="linux")
    for choice in CHOICES:
        assert choice in str(caught.value)


def test_a_bad_argument_is_a_value_error() -> None:
    with pytest.raises(
        ValueError, match=r"preference=.x12.*accepted: auto, synthetic, x11, macos$"
    ):
        select_backend("x12", env={}, platform="linux")


def test_synthetic_on_request_even_where_a_screen_exists() -> None:
    backend = select_backend(env={ENV_VAR: "synthetic", "DISPLAY": ":0"}, platform="darwin")
    assert isinstance(backend, SyntheticBackend)
    assert describe_backend(backend)["reason"] == f"synthetic requested ({ENV_VAR})"


def test_auto_on_macos_is_the_macos_backend() -> None:
    backend = select_backend(env={}, platform="darwin")
    assert isinstance(backend, MacOSBackend)
    assert describe_backend(backend)["reason"] == "auto: macOS"


def test_macos_requested_elsewhere_is_an_error() -> None:
    with pytest.raises(CaptureError, match="needs macOS; this is linux"):
        select_backend("macos", env={}, platform="linux")


def test_auto_without_a_display_is_synthetic() -> None:
    backend = select_backend(env={}, platform="linux")
    assert isinstance(backend, SyntheticBackend)
    assert describe_backend(backend)["reason"] == "auto: not macOS and DISPLAY is not set"


def test_auto_with_an_unreachable_display_falls_back_and_says_why() -> None:
    display = unused_display()
    backend = select_backend(env={"DISPLAY": display}, platform="linux")
    assert isinstance(backend, SyntheticBackend)
    reason = describe_backend(backend)["reason"]
    assert reason.startswith(f"auto: X display '{display}' is not usable")
    assert "cannot connect" in reason


def test_x11_requested_without_a_display_is_an_error() -> None:
    with pytest.raises(CaptureError, match="DISPLAY is not set"):
        select_backend("x11", env={}, platform="linux")


def test_auto_with_a_reachable_display_is_x11(xvfb: Xvfb) -> None:
    backend = select_backend(env={"DISPLAY": xvfb.display}, platform="linux")
    assert isinstance(backend, X11Backend)
    info = describe_backend(backend)
    assert info == {
        "name": "x11",
        "pixel_format": "BGRA",
        "reason": f"auto: X display '{xvfb.display}' is reachable",
        "spaces": [1],
        "current_space": 1,
        "display": xvfb.display,
    }
    backend.close()


def test_without_mss_auto_degrades_and_both_paths_say_what_to_install(
    xvfb: Xvfb, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(select, "_WARNED", set())
    monkeypatch.setitem(sys.modules, "mss", None)  # import mss -> ImportError
    with caplog.at_level(logging.WARNING, logger=select.__name__):
        backend = select_backend(env={"DISPLAY": xvfb.display}, platform="linux")
    assert isinstance(backend, SyntheticBackend)
    assert "pip install 'mss>=10.2' 'python-xlib>=0.33'" in describe_backend(backend)["reason"]
    [warning] = caplog.records
    assert "capturing synthetic frames instead" in warning.getMessage()
    assert "install the X11 capture libraries: pip install 'mss" in warning.getMessage()
    with pytest.raises(CaptureError, match=r"dependencies of ironcliw-mem on Linux"):
        select_backend("x11", env={"DISPLAY": xvfb.display}, platform="linux")


def test_auto_with_an_unusable_display_warns_once_and_keeps_the_reason_in_the_stats(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(select, "_WARNED", set())
    display = unused_display()
    with caplog.at_level(logging.WARNING, logger=select.__name__):
        first = select_backend(env={"DISPLAY": display}, platform="linux")
        second = select_backend(env={"DISPLAY": display}, platform="linux")
    assert isinstance(first, SyntheticBackend)
    assert isinstance(second, SyntheticBackend)
    [warning] = caplog.records  # once, however many engines ask
    assert warning.levelno == logging.WARNING
    message = warning.getMessage()
    assert f"X display '{display}' is not usable (cannot connect" in message
    assert "capturing synthetic frames instead" in message
    assert "check that DISPLAY names a running X server" in message
    assert f"{ENV_VAR}=synthetic" in message
    for backend in (first, second):
        assert describe_backend(backend)["reason"].startswith(
            f"auto: X display '{display}' is not usable (cannot connect"
        )


def test_choices_that_need_no_fallback_log_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(select, "_WARNED", set())
    with caplog.at_level(logging.WARNING, logger=select.__name__):
        select_backend(env={}, platform="linux")  # a display-less VM: synthetic is expected
        select_backend("synthetic", env={"DISPLAY": unused_display()}, platform="linux")
    assert caplog.records == []


def test_the_fix_for_missing_x_client_libraries_names_the_packages() -> None:
    error = CaptureError("mss cannot open X display ':0': Library libxcb-randr.so not found")
    assert "apt-get install libxcb1 libxcb-randr0" in select.x11_fix(error)


def test_describe_a_backend_built_by_hand_and_one_that_fails() -> None:
    info = describe_backend(SyntheticBackend(spaces=3, size=(64, 64)))
    assert info == {
        "name": "synthetic",
        "pixel_format": "BGRA",
        "reason": "constructed directly",
        "spaces": [1, 2, 3],
        "current_space": 1,
    }

    class Broken(SyntheticBackend):
        def list_spaces(self) -> list[int]:
            raise CaptureError("yabai went away")

    broken = describe_backend(Broken())
    assert broken["spaces"] == []
    assert broken["current_space"] is None
    assert broken["error"] == "yabai went away"


def test_macos_description_says_where_spaces_came_from() -> None:
    info = describe_backend(MacOSBackend(yabai=""))
    assert info["spaces"] == [1]
    assert info["space_source"] == "one space (yabai not installed)"
