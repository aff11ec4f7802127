"""The caches compared with ByteCache, built the same way for every benchmark.

Every contender is byte-budgeted where the library allows it (``getsizeof``/``weigher`` = the value
length); lru-dict only bounds the entry count, so it gets the count that the byte budget implies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cachebox
import cachetools
import lru
import moka_py

from ironcliw_mem import ENTRY_OVERHEAD, ByteCache

TTL_SECONDS = 3600.0  # long enough that nothing expires during a run: we time the TTL bookkeeping


@dataclass(frozen=True)
class Contender:
    name: str
    ttl_capable: bool
    # (entries it must hold, value size, key length) -> cache object
    make: Callable[[int, int, int], Any]
    setter: str = "__setitem__"

    def put(self, cache: Any) -> Callable[[str, bytes], object]:
        put: Callable[[str, bytes], object] = getattr(cache, self.setter)
        return put


def _bytes_budget(entries: int, value_size: int, key_len: int) -> int:
    return entries * (value_size + key_len + ENTRY_OVERHEAD)


def _size_of_value(_key: object, value: bytes) -> int:
    return len(value)


class BoundedDict(dict[str, bytes]):
    """dict with FIFO eviction by count: the floor any Python-level cache has to beat."""

    def __init__(self, entries: int) -> None:
        super().__init__()
        self.limit = entries

    def __setitem__(self, key: str, value: bytes) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            del self[next(iter(self))]


CONTENDERS: list[Contender] = [
    Contender("ByteCache", False, lambda n, v, k: ByteCache(_bytes_budget(n, v, k))),
    Contender(
        "ByteCache(ttl)",
        True,
        lambda n, v, k: ByteCache(_bytes_budget(n, v, k), default_ttl=TTL_SECONDS),
    ),
    Contender("dict", False, lambda n, v, k: BoundedDict(n)),
    Contender(
        "cachetools.LRUCache",
        False,
        lambda n, v, k: cachetools.LRUCache(maxsize=n * v, getsizeof=len),
    ),
    Contender(
        "cachetools.TTLCache",
        True,
        lambda n, v, k: cachetools.TTLCache(maxsize=n * v, ttl=TTL_SECONDS, getsizeof=len),
    ),
    Contender(
        "cachebox.LRUCache",
        False,
        lambda n, v, k: cachebox.LRUCache(n * v, getsizeof=_size_of_value),
    ),
    Contender(
        "cachebox.TTLCache",
        True,
        lambda n, v, k: cachebox.TTLCache(n * v, TTL_SECONDS, getsizeof=_size_of_value),
    ),
    Contender(
        "cachebox.VTTLCache",
        True,
        lambda n, v, k: cachebox.VTTLCache(n * v, getsizeof=_size_of_value),
    ),
    Contender("lru-dict", False, lambda n, v, k: lru.LRU(n)),
    Contender(
        "moka-py",
        True,
        lambda n, v, k: moka_py.Moka(n * v, ttl=TTL_SECONDS, policy="lru", weigher=_size_of_value),
        setter="set",
    ),
]

ENTRIES = 64
VALUE_SIZES = {"1KB": 1024, "1MB": 1024 * 1024}


def keys(count: int, offset: int = 0) -> list[str]:
    # Fixed-width keys so every key costs the same in every cache.
    return [f"space:{i + offset:04d}:optimized" for i in range(count)]


KEY_LEN = len(keys(1)[0])


def filled(contender: Contender, value: bytes) -> tuple[Any, list[str]]:
    """A cache holding ENTRIES entries, and their keys."""
    cache = contender.make(ENTRIES, len(value), KEY_LEN)
    present = keys(ENTRIES)
    put = contender.put(cache)
    for key in present:
        put(key, value)
    return cache, present


def make_get_hit(contender: Contender, value: bytes) -> Callable[[], None]:
    cache, present = filled(contender, value)
    get = cache.get

    def run() -> None:
        for key in present:
            get(key)

    return run


def make_get_miss(contender: Contender, value: bytes) -> Callable[[], None]:
    cache, _ = filled(contender, value)
    absent = keys(ENTRIES, offset=10_000)
    get = cache.get

    def run() -> None:
        for key in absent:
            get(key)

    return run


def make_set_evicting(contender: Contender, value: bytes) -> Callable[[], None]:
    """Every set inserts a key the cache does not hold, so every set evicts one entry."""
    cache, _ = filled(contender, value)
    rounds = [keys(ENTRIES, offset=ENTRIES * (r + 1)) for r in range(2)]
    state = {"round": 0}

    if contender.setter == "__setitem__":
        # Item assignment is how dict-like caches are written to; it reaches the C slot directly.
        def run() -> None:
            batch = rounds[state["round"]]
            state["round"] ^= 1
            for key in batch:
                cache[key] = value

        return run

    put = contender.put(cache)

    def run_method() -> None:
        batch = rounds[state["round"]]
        state["round"] ^= 1
        for key in batch:
            put(key, value)

    return run_method


OPERATIONS: dict[str, Callable[[Contender, bytes], Callable[[], None]]] = {
    "get hit": make_get_hit,
    "get miss": make_get_miss,
    "set evicting": make_set_evicting,
}
