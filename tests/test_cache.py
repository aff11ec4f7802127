"""The native ByteCache through its Python binding."""

from __future__ import annotations

import math
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironcliw_mem import ENTRY_OVERHEAD, ByteCache
from support import ManualClock


def cost(key: str, value: bytes) -> int:
    return len(key.encode()) + len(value) + ENTRY_OVERHEAD


def test_entry_overhead_is_documented_and_bounded() -> None:
    assert 0 < ENTRY_OVERHEAD <= 128
    cache = ByteCache(10_000)
    cache["k"] = b"x" * 10
    assert cache.stats()["entry_overhead"] == ENTRY_OVERHEAD
    assert cache.bytes == 1 + 10 + ENTRY_OVERHEAD


def test_bytes_count_utf8_key_length() -> None:
    cache = ByteCache(10_000)
    cache.set("écran:3", b"abc")
    assert cache.bytes == len("écran:3".encode()) + 3 + ENTRY_OVERHEAD


def test_miss_returns_default_and_counts() -> None:
    cache = ByteCache(1000)
    sentinel = object()
    assert cache.get("absent") is None
    assert cache.get("absent", sentinel) is sentinel
    stats = cache.stats()
    assert (stats["hits"], stats["misses"]) == (0, 2)


def test_hit_returns_the_stored_object_without_copy() -> None:
    payload = bytes(5 * 1024 * 1024)
    cache = ByteCache(10 * 1024 * 1024)
    cache.set("space:1:full", payload)
    assert cache.get("space:1:full") is payload
    assert cache["space:1:full"] is payload


def test_equal_key_objects_find_the_same_entry() -> None:
    cache = ByteCache(1000)
    key = "".join(["space:", "1"])  # a distinct str object equal to "space:1"
    cache["space:1"] = b"v"
    assert key is not "space:1"  # noqa: F632 - identity is the point here
    assert cache.get(key) == b"v"


def test_lru_order_follows_get_and_set() -> None:
    value = b"x" * 100
    cache = ByteCache(3 * cost("a", value))
    for key in "abc":
        cache[key] = value
    cache.get("a")
    cache["d"] = value
    assert cache.keys() == ["c", "a", "d"]
    cache["c"] = value  # an update refreshes recency too
    cache["e"] = value
    assert cache.keys() == ["d", "c", "e"]
    assert cache.stats()["evictions_capacity"] == 2


def test_bytes_never_exceed_budget_and_match_contents() -> None:
    budget = 50_000
    cache = ByteCache(budget)
    rng = np.random.default_rng(7)
    for i in range(500):
        key = f"space:{rng.integers(0, 30)}"
        cache.set(key, bytes(int(rng.integers(1, 8000))))
        assert cache.bytes <= budget
        if i % 50 == 0:
            expected = sum(cost(k, cache[k]) for k in cache)
            assert cache.bytes == expected


def test_oversized_value_is_refused_and_nothing_evicted() -> None:
    cache = ByteCache(1000)
    cache["keep"] = b"k" * 100
    before = cache.stats()
    assert cache.set("huge", b"h" * 1000) is False
    assert cache.keys() == ["keep"]
    after = cache.stats()
    assert after["bytes"] == before["bytes"]
    assert after["inserts"] == before["inserts"]
    with pytest.raises(ValueError, match="does not fit"):
        cache["huge"] = b"h" * 1000


def test_refused_update_keeps_the_old_value() -> None:
    cache = ByteCache(1000)
    cache["k"] = b"old"
    assert cache.set("k", b"n" * 5000) is False
    assert cache["k"] == b"old"


def test_ttl_expiry_is_a_miss_and_frees_memory() -> None:
    clock = ManualClock()
    cache = ByteCache(10_000, default_ttl=5.0, clock=clock)
    cache["a"] = b"1" * 10
    cache.set("forever", b"2" * 10, ttl=math.inf)
    cache.set("short", b"3" * 10, ttl=1.0)
    clock.now += 1.0
    assert "short" not in cache
    assert cache.get("short") is None
    assert cache.get("a") == b"1" * 10
    clock.now += 4.0
    assert cache.get("a") is None
    assert cache.get("forever") == b"2" * 10
    stats = cache.stats()
    assert stats["evictions_ttl"] == 2
    assert stats["bytes"] == cost("forever", b"2" * 10)


def test_remaining_ttl_counts_down_and_is_a_peek() -> None:
    clock = ManualClock()
    one = cost("a", b"1" * 10)
    cache = ByteCache(2 * one, default_ttl=5.0, clock=clock)
    cache["a"] = b"1" * 10
    cache.set("b", b"2" * 10, ttl=math.inf)
    clock.now += 1.5
    assert cache.remaining_ttl("a") == pytest.approx(3.5)
    assert cache.remaining_ttl("b") is None  # never expires
    before = cache.stats()
    cache["c"] = b"3" * 10  # "a" is still the least recently used: the peek did not touch it
    assert cache.keys() == ["b", "c"]
    assert (cache.stats()["hits"], cache.stats()["misses"]) == (before["hits"], before["misses"])
    clock.now += 5.0
    for gone in ("a", "c", "never stored"):  # evicted, expired, absent
        with pytest.raises(KeyError):
            cache.remaining_ttl(gone)
    with pytest.raises(TypeError, match="keys must be str"):
        cache.remaining_ttl(1)  # type: ignore[arg-type]


def test_expire_releases_without_lookup() -> None:
    clock = ManualClock()
    cache = ByteCache(10_000, default_ttl=2.0, clock=clock)
    payload = bytearray(b"p" * 100)
    cache.set("x", payload)  # copied into bytes, so watch the cache's own object instead
    stored = cache.get("x")
    assert stored is not None
    ref_count_before = sys.getrefcount(stored)
    clock.now += 3.0
    assert len(cache) == 1  # still held until swept
    assert cache.keys() == []  # but never shown
    assert cache.expire() == 1
    assert len(cache) == 0
    assert cache.bytes == 0
    assert sys.getrefcount(stored) == ref_count_before - 1


def test_evicted_values_are_released() -> None:
    class Payload(bytes):
        pass

    cache = ByteCache(200)
    value = Payload(b"z" * 50)
    refs_before = sys.getrefcount(value)
    cache["a"] = value  # a bytes subclass is copied to exact bytes, never held itself
    assert sys.getrefcount(value) == refs_before
    assert type(cache["a"]) is bytes
    cache["b"] = bytearray(b"q" * 60)  # evicts "a"
    assert cache.keys() == ["b"]
    stored = cache["b"]
    before = sys.getrefcount(stored)
    cache.clear()
    assert sys.getrefcount(stored) == before - 1


def test_resize_evicts_lru_at_once_and_reports_count() -> None:
    value = b"v" * 1000
    one = cost("k0", value)
    cache = ByteCache(10 * one)
    for i in range(10):
        cache[f"k{i}"] = value
    assert cache.resize(4 * one) == 6
    assert cache.keys() == ["k6", "k7", "k8", "k9"]
    assert cache.max_bytes == 4 * one
    assert cache.stats()["evictions_capacity"] == 6
    assert cache.resize(100 * one) == 0


def test_evict_to_keeps_budget_and_counts_reason() -> None:
    value = b"v" * 1000
    one = cost("k0", value)
    cache = ByteCache(10 * one)
    for i in range(10):
        cache[f"k{i}"] = value
    assert cache.evict_to(3 * one) == 7
    assert cache.max_bytes == 10 * one
    assert cache.stats()["evictions_pressure"] == 7
    assert cache.evict_to(0, reason="explicit") == 3
    assert cache.stats()["evictions_explicit"] == 3
    with pytest.raises(ValueError, match="reason must be one of"):
        cache.evict_to(0, reason="ttl")


def test_evict_to_prefers_expired_entries() -> None:
    clock = ManualClock()
    value = b"v" * 100
    one = cost("k0", value)
    cache = ByteCache(10 * one, clock=clock)
    cache.set("k0", value)
    cache.set("k1", value, ttl=1.0)
    cache.set("k2", value)
    clock.now += 2
    assert cache.evict_to(2 * one) == 1
    assert cache.keys() == ["k0", "k2"]
    assert cache.stats()["evictions_ttl"] == 1


def test_pop_and_del() -> None:
    cache = ByteCache(1000)
    cache["a"] = b"1"
    assert cache.pop("a") == b"1"
    assert cache.pop("a") is None
    assert cache.pop("a", b"d") == b"d"
    cache["b"] = b"2"
    del cache["b"]
    with pytest.raises(KeyError):
        del cache["b"]
    with pytest.raises(KeyError):
        cache["b"]
    assert cache.stats()["evictions_explicit"] == 2


def test_stats_keys_and_hit_rate() -> None:
    cache = ByteCache(1000)
    cache["a"] = b"1"
    cache["a"] = b"2"
    cache.get("a")
    cache.get("b")
    cache.get("a")
    stats = cache.stats()
    for key in (
        "hits",
        "misses",
        "inserts",
        "updates",
        "evictions_capacity",
        "evictions_ttl",
        "evictions_pressure",
        "evictions_explicit",
        "entries",
        "bytes",
        "max_bytes",
        "hit_rate",
    ):
        assert key in stats
    assert (stats["inserts"], stats["updates"]) == (1, 1)
    assert stats["hit_rate"] == pytest.approx(2 / 3)


def test_buffers_are_copied_in() -> None:
    cache = ByteCache(10_000)
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    cache["np"] = array
    cache["mv"] = memoryview(b"hello")
    cache["strided"] = array[:, ::2]
    assert cache["np"] == array.tobytes()
    assert cache["mv"] == b"hello"
    assert cache["strided"] == array[:, ::2].tobytes()
    array[0, 0] = 99
    assert cache["np"][0] == 0


@pytest.mark.parametrize(
    ("value", "type_name"),
    [("text", "str"), (42, "int"), (None, "NoneType"), ([1, 2], "list"), (3.5, "float")],
)
def test_non_bytes_values_raise_type_error_and_change_nothing(
    value: object, type_name: str
) -> None:
    cache = ByteCache(1000)
    cache["k"] = b"old"
    before = cache.stats()
    with pytest.raises(TypeError, match=f"bytes-like buffer.*got {type_name}"):
        cache.set("k", value)  # type: ignore[arg-type]
    assert cache["k"] == b"old"
    after = cache.stats()
    assert after["bytes"] == before["bytes"]
    assert after["updates"] == before["updates"]


@pytest.mark.parametrize("key", [1, b"bytes", None, ("t",)])
def test_non_str_keys_raise_type_error(key: object) -> None:
    cache = ByteCache(1000)
    with pytest.raises(TypeError, match="keys must be str"):
        cache.set(key, b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keys must be str"):
        cache.get(key)  # type: ignore[arg-type]
    assert len(cache) == 0


def test_str_subclass_keys_behave_like_plain_str() -> None:
    class Loud(str):
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            raise AssertionError("the cache must not call __eq__ of a key")

    cache = ByteCache(1000)
    cache.set(Loud("space:1"), b"v")
    assert cache.get("space:1") == b"v"
    assert cache.get(Loud("space:1")) == b"v"
    assert type(cache.keys()[0]) is str


@pytest.mark.parametrize("budget", [-1, -(2**70)])
def test_negative_budgets_raise_value_error(budget: int) -> None:
    with pytest.raises(ValueError, match="max_bytes must be between 0 and"):
        ByteCache(budget)
    cache = ByteCache(100)
    with pytest.raises(ValueError, match="max_bytes must be between 0 and"):
        cache.resize(budget)
    with pytest.raises(ValueError, match="target_bytes must be between 0 and"):
        cache.evict_to(budget)


@pytest.mark.parametrize("ttl", [-1.0, 0.0, math.nan])
def test_bad_ttls_raise_value_error(ttl: float) -> None:
    with pytest.raises(ValueError, match="default_ttl must be > 0 s"):
        ByteCache(100, default_ttl=ttl)
    cache = ByteCache(1000)
    with pytest.raises(ValueError, match="ttl must be > 0 s"):
        cache.set("k", b"v", ttl=ttl)
    assert len(cache) == 0


def test_zero_budget_refuses_everything() -> None:
    cache = ByteCache(0)
    assert cache.set("k", b"") is False
    assert len(cache) == 0


def test_clock_errors_surface_and_leave_cache_intact() -> None:
    def broken() -> float:
        raise RuntimeError("clock broke")

    cache = ByteCache(1000, clock=broken)
    with pytest.raises(RuntimeError, match="clock broke"):
        cache.set("k", b"v")
    assert len(cache) == 0

    for reading in (math.nan, math.inf, -math.inf):
        cache = ByteCache(1000, clock=lambda reading=reading: reading)
        with pytest.raises(ValueError, match="ByteCache clock must be a finite number"):
            cache.set("k", b"v")
        assert len(cache) == 0


# --- TTLs under a user clock: any finite reading works ---------------------------------------


@pytest.mark.parametrize("start", [2e10, 1.8e10, 1e15, 1e300, -1e300, -5.0, 0.0])
def test_a_60_s_entry_lives_60_s_whatever_the_clock_reads(start: float) -> None:
    clock = ManualClock(start)
    cache = ByteCache(1000, clock=clock)
    assert cache.set("k", b"v", ttl=60.0)
    assert cache.get("k") == b"v", "gone at once"
    step = max(30.0, abs(start) * 2**-50)  # a step the clock can show at this magnitude
    if start + step != start and step < 60:
        clock.now = start + step
        assert cache.get("k") == b"v"
    clock.now = start + max(61.0, abs(start) * 2**-50)
    if clock.now != start:
        assert cache.get("k") is None


@settings(max_examples=300, deadline=None)
@given(
    start=st.floats(-1e300, 1e300, allow_nan=False),
    ttl=st.floats(1e-3, 1e7),
    share=st.floats(0.0, 3.0),
)
def test_ttl_property_under_any_finite_clock(start: float, ttl: float, share: float) -> None:
    """An entry is alive while the clock has moved less than its TTL and gone once it moved
    more, judged by how far the clock really moved (a float far from zero moves in steps)."""
    clock = ManualClock(start)
    cache = ByteCache(1000, clock=clock)
    cache.set("k", b"v", ttl=ttl)
    clock.now = start + ttl * share
    moved = clock.now - start
    if moved <= ttl * 0.999:
        assert cache.get("k") == b"v"
        left = cache.remaining_ttl("k")
        assert left is not None
        assert left == pytest.approx(ttl - moved, rel=1e-6, abs=1e-6)
    elif moved >= ttl * 1.001:
        assert cache.get("k") is None


def test_clock_may_use_the_cache_without_deadlock() -> None:
    # The user clock runs before the lock is taken, so re-entering the cache from it is safe.
    holder: list[ByteCache] = []

    def reentrant_clock() -> float:
        if holder:
            len(holder[0])
            holder[0].stats()
        return 1.0

    cache = ByteCache(1000, default_ttl=10.0, clock=reentrant_clock)
    holder.append(cache)
    cache["k"] = b"v"
    assert cache["k"] == b"v"


def test_threads_hammering_one_cache_keep_it_consistent() -> None:
    budget = 200_000
    clock = ManualClock()
    cache = ByteCache(budget, default_ttl=0.5, clock=clock)
    errors: list[BaseException] = []
    payloads = [bytes([i]) * (1000 + 37 * i) for i in range(16)]

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(3000):
                key = f"space:{rng.integers(0, 40)}"
                op = rng.integers(0, 20)
                if op < 8:
                    cache.set(key, payloads[int(rng.integers(0, 16))])
                elif op < 16:
                    got = cache.get(key)
                    assert got is None or got in payloads
                elif op < 18:
                    cache.pop(key)
                elif op == 18:
                    clock.now += 0.1
                    cache.expire()
                else:
                    cache.evict_to(int(rng.integers(0, budget)))
                assert cache.bytes <= budget
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    cache.expire()
    stats = cache.stats()
    assert stats["bytes"] == sum(cost(k, cache[k]) for k in cache)
    assert stats["entries"] == len(cache.keys())
    assert stats["hits"] > 0
    assert stats["inserts"] + stats["updates"] > 0
