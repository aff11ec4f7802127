"""Names a package exports, imported from their modules on first use (PEP 562).

A package's `__init__` lists where each name lives; `import ironcliw_mem` then costs nothing
beyond that table, and `ironcliw_mem.MemoryProfiler` imports the profiler only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`: each name in `homes` is imported from the
    module `homes[name]` (absolute) on first use and kept in `namespace` (the package's globals),
    so it is looked up only once."""

    def __getattr__(name: str) -> Any:
        try:
            home = homes[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
