"""Random operation sequences against a small pure-Python reference model of ByteCache.

Every result and every statistic must agree after every step. Time is a manual clock stepped in
halves of a second, which floats and integer nanoseconds both represent exactly.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ironcliw_mem import ENTRY_OVERHEAD, ByteCache

NANOS = 1_000_000_000
KEYS = st.sampled_from([f"space:{i}:{tier}" for i in range(4) for tier in ("full", "fast")])
SIZES = st.integers(min_value=0, max_value=600)
TTLS = st.sampled_from([None, 0.5, 1.0, 2.5])
REASONS = st.sampled_from(["pressure", "capacity", "explicit"])


@dataclass
class Entry:
    value: bytes
    expires_at: int | None


class ModelCache:
    """The specification, written for clarity rather than speed."""

    def __init__(self, max_bytes: int, default_ttl: float | None) -> None:
        self.max_bytes = max_bytes
        self.default_ttl = default_ttl
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.stats = dict.fromkeys(
            (
                "hits",
                "misses",
                "inserts",
                "updates",
                "evictions_capacity",
                "evictions_ttl",
                "evictions_pressure",
                "evictions_explicit",
            ),
            0,
        )

    @staticmethod
    def cost(key: str, value: bytes) -> int:
        return len(key.encode()) + len(value) + ENTRY_OVERHEAD

    @property
    def bytes(self) -> int:
        return sum(self.cost(k, e.value) for k, e in self.entries.items())

    @staticmethod
    def expired(entry: Entry, now: int) -> bool:
        return entry.expires_at is not None and now >= entry.expires_at

    def remove(self, key: str, reason: str) -> None:
        del self.entries[key]
        self.stats[f"evictions_{reason}"] += 1

    def get(self, key: str, now: int) -> bytes | None:
        entry = self.entries.get(key)
        if entry is None:
            self.stats["misses"] += 1
            return None
        if self.expired(entry, now):
            self.remove(key, "ttl")
            self.stats["misses"] += 1
            return None
        self.stats["hits"] += 1
        self.entries.move_to_end(key)
        return entry.value

    def set(self, key: str, value: bytes, ttl: float | None, now: int) -> bool:
        if self.cost(key, value) > self.max_bytes:
            return False
        seconds = ttl if ttl is not None else self.default_ttl
        expires_at = None if seconds is None else now + int(seconds * NANOS)
        if key in self.entries:
            self.stats["updates"] += 1
        else:
            self.stats["inserts"] += 1
        self.entries[key] = Entry(value, expires_at)
        self.entries.move_to_end(key)
        self.pop_lru_until(self.max_bytes, "capacity", now)
        return True

    def pop_lru_until(self, target: int, reason: str, now: int) -> int:
        removed = 0
        while self.bytes > target and self.entries:
            key, entry = next(iter(self.entries.items()))
            self.remove(key, "ttl" if self.expired(entry, now) else reason)
            removed += 1
        return removed

    def pop(self, key: str, now: int) -> bytes | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.remove(key, "ttl" if self.expired(entry, now) else "explicit")
        return None if self.expired(entry, now) else entry.value

    def expire(self, now: int) -> int:
        dead = [k for k, e in self.entries.items() if self.expired(e, now)]
        for key in dead:
            self.remove(key, "ttl")
        return len(dead)

    def evict_to(self, target: int, reason: str, now: int) -> int:
        if self.bytes <= target:
            return 0
        return self.expire(now) + self.pop_lru_until(target, reason, now)

    def resize(self, max_bytes: int, now: int) -> int:
        self.max_bytes = max_bytes
        return self.evict_to(max_bytes, "capacity", now)

    def clear(self) -> int:
        count = len(self.entries)
        for key in list(self.entries):
            self.remove(key, "explicit")
        return count

    def keys(self, now: int) -> list[str]:
        return [k for k, e in self.entries.items() if not self.expired(e, now)]


class CacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.cache = ByteCache(0)
        self.model = ModelCache(0, None)

    def nanos(self) -> int:
        return int(self.now * NANOS)

    @initialize(
        max_bytes=st.integers(min_value=0, max_value=3000),
        default_ttl=st.sampled_from([None, 1.0, 3.0]),
    )
    def create(self, max_bytes: int, default_ttl: float | None) -> None:
        self.cache = ByteCache(max_bytes, default_ttl, clock=lambda: self.now)
        self.model = ModelCache(max_bytes, default_ttl)

    @rule(key=KEYS, size=SIZES, ttl=TTLS)
    def set(self, key: str, size: int, ttl: float | None) -> None:
        value = bytes([size % 251]) * size
        assert self.cache.set(key, value, ttl) == self.model.set(key, value, ttl, self.nanos())

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        expected = self.model.get(key, self.nanos())
        got = self.cache.get(key)
        assert got is expected  # the very object stored, not a copy

    @rule(key=KEYS)
    def pop(self, key: str) -> None:
        assert self.cache.pop(key) is self.model.pop(key, self.nanos())

    @rule(key=KEYS)
    def contains(self, key: str) -> None:
        assert (key in self.cache) == (key in self.model.keys(self.nanos()))

    @rule(max_bytes=st.integers(min_value=0, max_value=3000))
    def resize(self, max_bytes: int) -> None:
        assert self.cache.resize(max_bytes) == self.model.resize(max_bytes, self.nanos())

    @rule(target_bytes=st.integers(min_value=0, max_value=3000), reason=REASONS)
    def evict_to(self, target_bytes: int, reason: str) -> None:
        expected = self.model.evict_to(target_bytes, reason, self.nanos())
        assert self.cache.evict_to(target_bytes, reason) == expected  # type: ignore[arg-type]

    @rule()
    def expire(self) -> None:
        assert self.cache.expire() == self.model.expire(self.nanos())

    @rule()
    def clear(self) -> None:
        assert self.cache.clear() == self.model.clear()

    @rule(step=st.sampled_from([0.5, 1.0, 2.0]))
    def advance(self, step: float) -> None:
        self.now += step

    @invariant()
    def agrees_with_model(self) -> None:
        stats = self.cache.stats()
        for name, value in self.model.stats.items():
            assert stats[name] == value, name
        assert stats["bytes"] == self.model.bytes
        assert stats["bytes"] <= stats["max_bytes"] == self.model.max_bytes
        assert stats["entries"] == len(self.model.entries) == len(self.cache)
        assert self.cache.keys() == self.model.keys(self.nanos())
        lookups = self.model.stats["hits"] + self.model.stats["misses"]
        expected_rate = self.model.stats["hits"] / lookups if lookups else 0.0
        assert stats["hit_rate"] == expected_rate


TestByteCacheAgainstModel = CacheMachine.TestCase
TestByteCacheAgainstModel.settings = settings(
    max_examples=300, stateful_step_count=60, deadline=None
)
