"""Every number a native entry point turns into a duration, size, index or count, fed hostile
values in one process: each must be a ValueError (out of range) or a TypeError (not a number of
the right kind; a bool is not a number) whose message names the parameter.

The calls catch BaseException on purpose: a Rust panic surfaces as pyo3's PanicException, which
`except Exception` does not catch, and must fail these tests rather than escape them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ironcliw_mem import _native as native

NAN, INF = math.nan, math.inf
HUGE_INT = 10**30

# What each hostile value must raise, by the kind of number the parameter takes.
AS_INT: dict[str, tuple[object, type[BaseException]]] = {
    "nan": (NAN, TypeError),
    "inf": (INF, TypeError),
    "minus_one": (-1, ValueError),
    "1e20": (1e20, TypeError),
    "huge_int": (HUGE_INT, ValueError),
    "bool": (True, TypeError),
    "str": ("5", TypeError),
}
AS_SECONDS: dict[str, tuple[object, type[BaseException]]] = {
    "nan": (NAN, ValueError),
    "inf": (INF, ValueError),
    "minus_one": (-1, ValueError),
    "1e20": (1e20, ValueError),
    "huge_int": (HUGE_INT, ValueError),
    "bool": (True, TypeError),
    "str": ("5", TypeError),
}


def frame() -> Any:
    return np.zeros((8, 8, 4), np.uint8)


def jpeg() -> bytes:
    """An 8x8 JPEG: valid input to derive_jpeg, so only the argument under test is wrong."""
    return bytes(native.encode_jpeg(frame()))


def cache_with_clock(value: object) -> None:
    cache = native.ByteCache(1000, clock=lambda: value)
    cache.set("k", b"v", ttl=5.0)


def probe_roots(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "proc").mkdir(exist_ok=True)
    (tmp_path / "cgroup").mkdir(exist_ok=True)
    return str(tmp_path / "proc"), str(tmp_path / "cgroup")


# (entry point, parameter name its errors must name, accepted kinds, values that are valid here)
Call = Callable[[object, Path], object]
ENTRY_POINTS: list[tuple[str, Call, str, dict[str, tuple[object, type[BaseException]]], set[str]]]
ENTRY_POINTS = [
    ("ByteCache", lambda v, _: native.ByteCache(v), "max_bytes", AS_INT, set()),
    (
        "ByteCache.default_ttl",
        lambda v, _: native.ByteCache(1000, v),
        "default_ttl",
        AS_SECONDS,
        {"inf", "1e20", "huge_int"},
    ),
    (
        "ByteCache.set",
        lambda v, _: native.ByteCache(1000).set("k", b"v", ttl=v),
        "ttl",
        AS_SECONDS,
        {"inf", "1e20", "huge_int"},
    ),
    ("ByteCache.resize", lambda v, _: native.ByteCache(1000).resize(v), "max_bytes", AS_INT, set()),
    (
        "ByteCache.evict_to",
        lambda v, _: native.ByteCache(1000).evict_to(v),
        "target_bytes",
        AS_INT,
        set(),
    ),
    (
        "ByteCache clock",
        lambda v, _: cache_with_clock(v),
        "clock",
        AS_SECONDS,
        {"minus_one", "1e20", "huge_int"},
    ),
    ("downscale width", lambda v, _: native.downscale(frame(), v, 4), "width", AS_INT, set()),
    ("downscale height", lambda v, _: native.downscale(frame(), 4, v), "height", AS_INT, set()),
    ("encode_jpeg", lambda v, _: native.encode_jpeg(frame(), v), "quality", AS_INT, set()),
    ("derive_jpeg width", lambda v, _: native.derive_jpeg(jpeg(), v, 4), "width", AS_INT, set()),
    ("derive_jpeg height", lambda v, _: native.derive_jpeg(jpeg(), 4, v), "height", AS_INT, set()),
    (
        "derive_jpeg quality",
        lambda v, _: native.derive_jpeg(jpeg(), 4, 4, quality=v),
        "quality",
        AS_INT,
        set(),
    ),
    (
        "encode_tiers quality",
        lambda v, _: native.encode_tiers(frame(), quality=v),
        "quality",
        AS_INT,
        set(),
    ),
    (
        "encode_tiers thumbnail_size",
        lambda v, _: native.encode_tiers(frame(), thumbnail_size=(v, 10)),
        "thumbnail_size",
        AS_INT,
        set(),
    ),
    (
        "encode_tiers_batch thumbnail_size",
        lambda v, _: native.encode_tiers_batch([frame()], thumbnail_size=(10, v)),
        "thumbnail_size",
        AS_INT,
        set(),
    ),
    (
        "encode_tiers_batch quality",
        lambda v, _: native.encode_tiers_batch([frame()], quality=v),
        "quality",
        AS_INT,
        set(),
    ),
    ("tier_size width", lambda v, _: native.tier_size("full", v, 10), "width", AS_INT, set()),
    ("tier_size height", lambda v, _: native.tier_size("full", 10, v), "height", AS_INT, set()),
    (
        "tier_size thumbnail_size",
        lambda v, _: native.tier_size("thumbnail", 10, 10, (v, 10)),
        "thumbnail_size",
        AS_INT,
        set(),
    ),
    (
        "Frame width",
        lambda v, _: native.Frame(bytes(64), width=v, height=1),
        "width",
        AS_INT,
        set(),
    ),
    (
        "Frame height",
        lambda v, _: native.Frame(bytes(64), width=1, height=v),
        "height",
        AS_INT,
        set(),
    ),
    (
        "Frame stride",
        lambda v, _: native.Frame(bytes(64), width=1, height=1, stride=v),
        "stride",
        AS_INT,
        set(),
    ),
    (
        "PressureProbe",
        lambda v, root: native.PressureProbe(*probe_roots(root), refresh_s=v),
        "refresh_s",
        AS_SECONDS,
        set(),
    ),
    (
        "PressureWatcher",
        lambda v, root: native.PressureWatcher(*probe_roots(root), window_s=v),
        "window_s",
        AS_SECONDS,
        set(),
    ),
    (
        "PressureWatcher.wait",
        lambda v, root: native.PressureWatcher(*probe_roots(root), mechanism="none").wait(v),
        "timeout_s",
        AS_SECONDS,
        # Valid (a very long wait): never called with them.
        {"inf", "1e20", "huge_int"},
    ),
    (
        "Classifier.update",
        lambda v, _: native.Classifier().update(native.Sample(), v),
        "now",
        AS_SECONDS,
        {"minus_one", "1e20", "huge_int"},
    ),
    (
        "Thresholds",
        lambda v, _: native.Thresholds(red_full10_enter=v),
        "red_full10_enter",
        AS_SECONDS,
        set(),
    ),
    ("Sample count", lambda v, _: native.Sample(total=v), "total", AS_INT, set()),
    (
        "Sample percent",
        lambda v, _: native.Sample(psi_some_avg10=v),
        "psi_some_avg10",
        AS_SECONDS,
        # NaN is the documented "missing" value of a percentage field.
        {"nan"},
    ),
]

CASES = [
    pytest.param(call, name, label, value, expected, id=f"{entry}-{label}")
    for entry, call, name, kinds, valid in ENTRY_POINTS
    for label, (value, expected) in kinds.items()
    if label not in valid
]


@pytest.mark.parametrize(("call", "name", "label", "value", "expected"), CASES)
def test_hostile_numbers_are_value_or_type_errors_naming_the_parameter(
    call: Call,
    name: str,
    label: str,
    value: object,
    expected: type[BaseException],
    tmp_path: Path,
) -> None:
    caught: BaseException | None = None
    try:
        call(value, tmp_path)
    except BaseException as error:  # a PanicException must fail here, not escape
        caught = error
    if caught is None:
        pytest.fail(f"{label}: {value!r} was accepted")
    assert isinstance(caught, expected), (
        f"{label}: expected {expected.__name__}, got {type(caught).__name__}: {caught}"
    )
    assert name in str(caught), f"{label}: the message does not name {name!r}: {caught}"


def test_the_refresh_that_used_to_panic_is_a_value_error_with_the_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"refresh_s must be .* 0 .* 86400"):
        native.PressureProbe(*probe_roots(tmp_path), refresh_s=1e20)


def test_classifier_thresholds_of_the_wrong_type_name_the_parameter() -> None:
    with pytest.raises(TypeError, match="thresholds"):
        native.Classifier(5)  # type: ignore[arg-type]


def test_number_like_values_still_work() -> None:
    assert native.ByteCache(np.int64(100)).stats()["max_bytes"] == 100
    assert native.downscale(frame(), np.int32(4), np.uint16(4)).shape == (4, 4, 4)
    # A watcher with no mechanism has nothing to wait for: it returns False at once.
    assert native.PressureWatcher(mechanism="none").wait(np.float32(0.0)) is False
    cache = native.ByteCache(1000, default_ttl=1)
    cache.set("k", b"v")
    assert 0 < cache.remaining_ttl("k") <= 1.0


# Text and path parameters: the wrong type is a TypeError naming the parameter.
TEXT_CALLS: list[tuple[str, Callable[[object, Path], object], str]] = [
    ("downscale filter", lambda v, _: native.downscale(frame(), 4, 4, filter=v), "filter"),
    ("encode_jpeg", lambda v, _: native.encode_jpeg(frame(), subsampling=v), "subsampling"),
    ("encode_tiers", lambda v, _: native.encode_tiers(frame(), filter=v), "filter"),
    ("derive_jpeg filter", lambda v, _: native.derive_jpeg(jpeg(), 4, 4, filter=v), "filter"),
    (
        "derive_jpeg subsampling",
        lambda v, _: native.derive_jpeg(jpeg(), 4, 4, subsampling=v),
        "subsampling",
    ),
    (
        "encode_tiers_batch",
        lambda v, _: native.encode_tiers_batch([frame()], subsampling=v),
        "subsampling",
    ),
    (
        "Frame",
        lambda v, _: native.Frame(bytes(16), width=2, height=2, pixel_format=v),
        "pixel_format",
    ),
    ("ByteCache.evict_to", lambda v, _: native.ByteCache(10).evict_to(0, reason=v), "reason"),
    ("PressureProbe", lambda v, _: native.PressureProbe(proc_root=v), "proc_root"),
    ("PressureProbe cgroup", lambda v, _: native.PressureProbe(cgroup_root=v), "cgroup_root"),
    (
        "PressureWatcher",
        lambda v, root: native.PressureWatcher(*probe_roots(root), mechanism=v),
        "mechanism",
    ),
]


WRONG_TEXT: dict[str, object] = {"int": 5, "float": 1.5, "bool": True, "bytes": b"box"}
TEXT_CASES = [
    pytest.param(entry, call, name, value, id=f"{entry}-{kind}")
    for entry, call, name in TEXT_CALLS
    for kind, value in WRONG_TEXT.items()
    # bytes are a valid path (os.fsdecode), so only the text parameters get them.
    if not (name.endswith("_root") and kind == "bytes")
]


@pytest.mark.parametrize(("entry", "call", "name", "value"), TEXT_CASES)
def test_text_and_path_parameters_of_the_wrong_type_name_the_parameter(
    entry: str, call: Callable[[object, Path], object], name: str, value: object, tmp_path: Path
) -> None:
    with pytest.raises(TypeError) as caught:
        call(value, tmp_path)
    assert name in str(caught.value), f"{entry}: {caught.value}"


def test_text_parameters_keep_their_defaults(tmp_path: Path) -> None:
    assert native.downscale(frame(), 4, 4).shape == (4, 4, 4)
    assert native.encode_jpeg(frame())[:2] == b"\xff\xd8"
    assert set(native.encode_tiers(frame())) == {"full", "optimized", "fast", "thumbnail"}
    assert native.ByteCache(10).evict_to(0) == 0
    assert native.PressureWatcher(*probe_roots(tmp_path)).mechanism == "none"
