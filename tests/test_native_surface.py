"""What a Python user of the native module sees: a docstring on every public member with the
unit of each quantity, `Thresholds` fields as real attributes, reprs in Python's own syntax
(rebuildable where the object can be rebuilt), and stubs that name only what exists."""

from __future__ import annotations

import ast
import inspect
import math
import pydoc
import re
from pathlib import Path

import pytest

from ironcliw_mem import _native

STUB = Path(_native.__file__).with_name("_native.pyi")
if not STUB.exists():  # an installed wheel keeps the stub beside the package's sources
    STUB = Path(__file__).parents[1] / "python" / "ironcliw_mem" / "_native.pyi"

# Words that say what a number is counted in.
UNITS = re.compile(
    r"\b(bytes|seconds|microseconds|percent|ratio|pixels|MB|MiB|count|code|1-100|index)\b"
)


def public_members() -> list[tuple[str, object]]:
    members: list[tuple[str, object]] = []
    for name in _native.__all__:
        obj = getattr(_native, name)
        if inspect.isclass(obj):
            members.append((name, obj))
            for attr, value in vars(obj).items():
                if not attr.startswith("_") or attr in {"__getitem__", "__contains__"}:
                    members.append((f"{name}.{attr}", value))
        elif callable(obj):
            members.append((name, obj))
    return members


def test_every_public_native_member_has_a_docstring() -> None:
    missing = [name for name, obj in public_members() if not (obj.__doc__ or "").strip()]
    assert missing == []


NUMERIC_PROPERTIES = [
    (cls, attr)
    for cls in (_native.Sample, _native.Thresholds, _native.GpuDevice, _native.ByteCache)
    for attr, value in vars(cls).items()
    if not attr.startswith("_")
    and inspect.isgetsetdescriptor(value)
    and attr not in {"sources", "problems", "cgroup_unreadable", "kind", "name", "unified_memory"}
]


@pytest.mark.parametrize(
    ("cls", "attr"), NUMERIC_PROPERTIES, ids=lambda v: getattr(v, "__name__", v)
)
def test_every_quantity_says_its_unit(cls: type, attr: str) -> None:
    doc = getattr(cls, attr).__doc__ or ""
    assert UNITS.search(doc), f"{cls.__name__}.{attr}: {doc!r}"


def test_thresholds_fields_are_attributes_that_dir_and_help_show() -> None:
    thresholds = _native.Thresholds(downgrade_dwell=3.5)
    fields = thresholds.to_dict()
    assert len(fields) == 25
    assert set(fields) <= set(dir(thresholds))
    assert thresholds.downgrade_dwell == 3.5
    text = pydoc.render_doc(_native.Thresholds, renderer=pydoc.plaintext)
    for name in fields:
        assert name in text
    assert "seconds" in text


def test_sample_repr_rebuilds_the_sample() -> None:
    sample = _native.Sample(
        total=16 << 30,
        available=3 << 30,
        psi_some_avg10=12.5,
        psi_full_avg10=math.nan,
        cgroup_unreadable=True,
        sources=["meminfo", "psi"],
        problems=["cgroup: it's 'unreadable'\n"],
    )
    rebuilt = eval(repr(sample), {"Sample": _native.Sample, "float": float})
    want, got = sample.to_dict(), rebuilt.to_dict()
    assert math.isnan(got.pop("psi_full_avg10"))
    assert math.isnan(want.pop("psi_full_avg10"))
    assert got == want


def test_thresholds_repr_rebuilds_equal_thresholds() -> None:
    thresholds = _native.Thresholds(red_headroom_enter=12.25, downgrade_dwell=4.0)
    assert eval(repr(thresholds), {"Thresholds": _native.Thresholds}) == thresholds


def test_gpu_reading_repr_rebuilds_the_reading() -> None:
    reading = _native.GpuReading(
        devices=[{"kind": "metal", "name": 'M2 "Pro"', "total_bytes": 10, "used_bytes": 4}],
        problems=["nvml: not found"],
    )
    rebuilt = eval(repr(reading), {"GpuReading": _native.GpuReading})
    assert [d.to_dict() for d in rebuilt.devices] == [d.to_dict() for d in reading.devices]
    assert rebuilt.problems == reading.problems


def test_reprs_use_python_literals() -> None:
    classifier = _native.Classifier()
    verdict = classifier.update(_native.Sample(total=100, available=50), 0.0)
    text = repr(verdict)
    assert "changed=True" in text
    assert "true" not in text
    assert "level='green'" in text


def test_stateful_objects_say_what_they_hold() -> None:
    classifier = _native.Classifier(_native.Thresholds(downgrade_dwell=1.0))
    assert repr(classifier) == "<Classifier level='unknown' thresholds=custom>"
    probe = _native.PressureProbe(refresh_s=2.5)
    text = repr(probe)
    assert "refresh_s=2.5" in text
    assert "proc_root='/proc'" in text
    assert repr(probe.cgroup) in text or probe.cgroup is None
    cache = _native.ByteCache(1000)
    cache["k"] = b"v"
    assert repr(cache) == f"<ByteCache entries=1 bytes={cache.bytes} max_bytes=1000>"


def stub_public_names() -> set[str]:
    tree = ast.parse(STUB.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_") or n == "__version__"}


def test_every_public_name_of_the_stub_exists_at_run_time() -> None:
    assert sorted(n for n in stub_public_names() if not hasattr(_native, n)) == []
    assert stub_public_names() - {"__all__"} == set(_native.__all__)
