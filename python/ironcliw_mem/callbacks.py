"""Calling other people's code: weakly held methods, isolated callbacks, weak pressure listeners.

The memory manager is a process singleton; what listens to it (a capture cache, an offload
advisor) must not be kept alive by it, and one failing listener must not stop the others.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def weakly(method: Callable[_P, _R]) -> Callable[_P, _R | None]:
    """The bound `method` as a callable that holds its object weakly and does nothing once the
    object is gone: the manager is a process singleton, and its listeners (and timers) must not
    keep a dropped object alive."""
    method_ref = weakref.WeakMethod(method)

    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        bound = method_ref()
        return None if bound is None else bound(*args, **kwargs)

    return call


async def call_isolated(callback: Callable[..., object], *args: object, what: str) -> None:
    """Runs a user callback, sync or async; its failure is logged, never raised to the caller."""
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("%s %r failed", what, callback)


class PressureSource(Protocol):
    """What a listener needs of a memory manager: (un)registering a pressure callback."""

    def register_pressure_callback(self, callback: Any) -> None: ...

    def unregister_pressure_callback(self, callback: Any) -> bool: ...


class WeakPressureListener:
    """A bound method registered as a manager's pressure callback, holding its object weakly:
    the manager keeps the listener, never the object, and `detach()` unregisters it."""

    def __init__(self, method: Callable[..., object]) -> None:
        self.callback = weakly(method)
        self._source: PressureSource | None = None

    def attach(self, source: PressureSource | None) -> None:
        """Listens to `source` from now on (and no longer to the previous one); None detaches."""
        self.detach()
        if source is not None:
            source.register_pressure_callback(self.callback)
            self._source = source

    def detach(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.unregister_pressure_callback(self.callback)
