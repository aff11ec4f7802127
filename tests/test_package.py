"""The shape of the package: a lean import, every public name on first use, no import cycle,
and a library that never imports its tools (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ironcliw_mem
import ironcliw_mem.capture

PACKAGE_DIR = Path(ironcliw_mem.__file__).parent
TOOLS = "ironcliw_mem.tools"
# Not the library: the entry point of `python -m ironcliw_mem`, which runs the CLI.
NOT_LIBRARY = {"ironcliw_mem.__main__"}
# The one exception, by name: the package's `__init__` names the profiler's classes (the agent
# imports `MemoryProfiler` from `ironcliw_mem`), resolved on first use; the lean test checks that
# a plain import loads no tool.
INIT_NAMES_FROM_TOOLS = {"ironcliw_mem": {"ironcliw_mem.tools.profiler"}}
# What one reading must not drag in: image libraries, capture backends, tools.
HEAVY = ("PIL", "numpy", "mss", "Xlib", "matplotlib", "ironcliw_mem.capture")

LEAN_PROBE = """
import json, sys
import ironcliw_mem
sample = ironcliw_mem.read_sample()
assert sample.sources, sample
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules: list[str] = json.loads(result.stdout)
    return modules


def heavy_modules(modules: list[str]) -> list[str]:
    return [
        name
        for name in modules
        if any(name == heavy or name.startswith(heavy + ".") for heavy in (*HEAVY, TOOLS))
    ]


def test_import_and_one_reading_load_no_image_library_backend_or_tool() -> None:
    assert heavy_modules(loaded_modules(LEAN_PROBE)) == []


def test_the_lean_check_can_fail() -> None:
    # Asking for a capture name loads the capture package, and the check sees it.
    modules = loaded_modules(
        "import json, sys, ironcliw_mem; ironcliw_mem.MultiSpaceCaptureEngine;"
        " print(json.dumps(sorted(sys.modules)))"
    )
    assert "ironcliw_mem.capture.engine" in heavy_modules(modules)


def test_asking_for_the_engine_loads_no_backend_the_machine_does_not_use() -> None:
    modules = loaded_modules(
        "import json, sys; from ironcliw_mem import MultiSpaceCaptureEngine;"
        " print(json.dumps(sorted(sys.modules)))"
    )
    assert "ironcliw_mem.capture.macos" not in modules
    assert "ironcliw_mem.capture.x11" not in modules
    assert not [name for name in modules if name.startswith(TOOLS)]


@pytest.mark.parametrize("package", [ironcliw_mem, ironcliw_mem.capture], ids=lambda p: p.__name__)
def test_every_exported_name_resolves_and_is_listed(package: object) -> None:
    names: list[str] = package.__all__  # type: ignore[attr-defined]
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(package, name) is not None, name
    assert set(names) <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        _ = package.NoSuchName  # type: ignore[attr-defined]


def test_exported_names_are_the_modules_objects() -> None:
    from ironcliw_mem.levels import CaptureQuality, MemoryPressure
    from ironcliw_mem.tools.profiler import MemoryProfiler

    assert ironcliw_mem.MemoryPressure is MemoryPressure
    assert ironcliw_mem.MemoryProfiler is MemoryProfiler
    assert ironcliw_mem.capture.CaptureQuality is CaptureQuality
    assert ironcliw_mem.CaptureQuality is CaptureQuality


# --- the import graph, read from the source -------------------------------------------------


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` runs only when the module is the program, never on import."""
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def imports_of(path: Path, modules: set[str], package: str) -> set[str]:
    """Every package module `path` imports: at the top, in functions and under TYPE_CHECKING
    (all of them count for cycles), except in a `__main__` guard."""
    tree = ast.parse(path.read_text(), str(path))
    body = [node for node in tree.body if not _is_main_guard(node)]
    found: set[str] = set()
    for node in (child for top in body for child in ast.walk(top)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                native = submodule == f"{package}._native"
                found.add(submodule if submodule in modules or native else node.module)
    return {name for name in found if name == package or name.startswith(package + ".")}


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(path, root): path for path in root.rglob("*.py")}
    modules = set(files)
    return {name: imports_of(path, modules, root.name) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules (or one importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_type_checking_imports_included() -> None:
    assert cycles(import_graph(PACKAGE_DIR)) == []


def test_the_cycle_check_can_fail() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_library_never_imports_its_tools() -> None:
    graph = import_graph(PACKAGE_DIR)
    library = {name for name in graph if not name.startswith(TOOLS) and name not in NOT_LIBRARY}
    offenders = {
        name: {t for t in graph[name] if t.startswith(TOOLS)}
        - INIT_NAMES_FROM_TOOLS.get(name, set())
        for name in library
    }
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("module", ["ironcliw_mem.levels", "ironcliw_mem.stats"])
def test_the_vocabulary_imports_nothing_of_the_package(module: str) -> None:
    assert import_graph(PACKAGE_DIR)[module] == set()
