//! A size-bounded LRU + TTL cache with exact byte accounting.
//!
//! The core knows nothing of Python: keys and values are generic, the caller supplies each key's
//! hash (so the Python binding can reuse the hash a `str` already caches) and the current time (so
//! tests drive a manual clock). Entries that leave the cache are handed to a caller-provided sink
//! instead of being dropped in place: the binding drops them after releasing its lock, so no
//! destructor ever runs while the lock is held.

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use smallvec::SmallVec;

/// Fixed bookkeeping bytes charged per entry on top of the key and value lengths.
///
/// What it stands for, on a 64-bit build: the slab node (key handle, value handle, hash, expiry,
/// weight, two links: ~72 bytes) plus the hash-table slot and its control byte (~5 bytes), rounded
/// up to a multiple of 16 so the figure is stable across minor layout changes.
pub const ENTRY_OVERHEAD: usize = 96;

const NIL: u32 = u32::MAX;

/// Anything whose payload size counts against the budget.
pub trait Weighted {
    fn weight(&self) -> usize;
}

impl Weighted for Vec<u8> {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl Weighted for String {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl Weighted for std::sync::Arc<[u8]> {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// Why an entry left the cache; each reason has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvictionReason {
    /// Over budget after an insert or a `resize`.
    Capacity,
    /// Its time to live had passed.
    Ttl,
    /// Freed on request because the system is under memory pressure.
    Pressure,
    /// Removed by the caller (`pop`, `del`, `clear`).
    Explicit,
    /// Freed because the user went away (the activity policy's smaller budget).
    Activity,
}

impl EvictionReason {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "capacity" => Some(Self::Capacity),
            "ttl" => Some(Self::Ttl),
            "pressure" => Some(Self::Pressure),
            "explicit" => Some(Self::Explicit),
            "activity" => Some(Self::Activity),
            _ => None,
        }
    }
}

/// Where a caller's clock origin lands in the cache's u64 nanoseconds: 2^62 leaves ~146 years
/// for a clock that goes back and ~438 years forward before the count saturates.
pub const RELATIVE_EPOCH_NANOS: u64 = 1 << 62;

/// The cache's nanoseconds for a clock reading of `seconds`, taken relative to `origin` (the
/// clock's first reading). Any finite reading works: absolute seconds as u64 nanoseconds would
/// saturate above ~1.8e10 s, and every TTL would then end at once.
pub fn relative_nanos(seconds: f64, origin: f64) -> u64 {
    // The offset is rounded to whole nanoseconds before it meets the epoch (in f64, 2^62 + x
    // would round x to 1024 ns). `as` saturates: the difference is finite or at worst infinite,
    // never NaN, and the sum saturates at 0 and u64::MAX instead of wrapping.
    let offset = ((seconds - origin) * 1e9).round() as i64;
    RELATIVE_EPOCH_NANOS.saturating_add_signed(offset)
}

/// How long a new entry lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// The cache's default TTL (which may be "forever").
    Default,
    Forever,
    Nanos(u64),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub inserts: u64,
    pub updates: u64,
    pub evictions_capacity: u64,
    pub evictions_ttl: u64,
    pub evictions_pressure: u64,
    pub evictions_explicit: u64,
    pub evictions_activity: u64,
    pub entries: usize,
    pub bytes: usize,
    pub max_bytes: usize,
}

impl CacheStats {
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

struct Node<K, V> {
    key: K,
    value: V,
    hash: u64,
    /// Monotonic nanoseconds after which the entry is dead; `None` lives until evicted.
    expires_at: Option<u64>,
    weight: usize,
    prev: u32,
    next: u32,
}

impl<K, V> Node<K, V> {
    fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|deadline| now >= deadline)
    }
}

/// LRU + TTL cache. `bytes()` never exceeds `max_bytes()` when a method returns.
pub struct LruTtlCache<K, V> {
    table: HashTable<u32>,
    slots: Vec<Option<Node<K, V>>>,
    free_slots: Vec<u32>,
    /// Least recently used end.
    head: u32,
    /// Most recently used end.
    tail: u32,
    bytes: usize,
    max_bytes: usize,
    default_ttl: Option<u64>,
    /// Entries with a deadline; while zero no operation needs to read the clock.
    expiring: usize,
    stats: CacheStats,
}

/// Entries removed by an operation, to be dropped by the caller when convenient. Inline room for
/// the common cases (a replaced value, one or two evictions) keeps allocation off the hot path.
pub type Sink<K, V> = SmallVec<[(K, V); 4]>;

impl<K: Weighted, V: Weighted> LruTtlCache<K, V> {
    pub fn new(max_bytes: usize, default_ttl_nanos: Option<u64>) -> Self {
        Self {
            table: HashTable::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            max_bytes,
            default_ttl: default_ttl_nanos,
            expiring: 0,
            stats: CacheStats::default(),
        }
    }

    pub fn entry_weight(key: &K, value: &V) -> usize {
        key.weight() + value.weight() + ENTRY_OVERHEAD
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub fn default_ttl_nanos(&self) -> Option<u64> {
        self.default_ttl
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.table.len(),
            bytes: self.bytes,
            max_bytes: self.max_bytes,
            ..self.stats.clone()
        }
    }

    fn node(&self, idx: u32) -> &Node<K, V> {
        self.slots[idx as usize]
            .as_ref()
            .expect("linked slot is occupied")
    }

    fn node_mut(&mut self, idx: u32) -> &mut Node<K, V> {
        self.slots[idx as usize]
            .as_mut()
            .expect("linked slot is occupied")
    }

    fn find(&self, hash: u64, eq: impl Fn(&K) -> bool) -> Option<u32> {
        let slots = &self.slots;
        self.table
            .find(hash, |&idx| {
                slots[idx as usize]
                    .as_ref()
                    .is_some_and(|node| eq(&node.key))
            })
            .copied()
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let node = self.node(idx);
            (node.prev, node.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.node_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.node_mut(next).prev = prev;
        }
    }

    fn push_back(&mut self, idx: u32) {
        let old_tail = self.tail;
        {
            let node = self.node_mut(idx);
            node.prev = old_tail;
            node.next = NIL;
        }
        if old_tail == NIL {
            self.head = idx;
        } else {
            self.node_mut(old_tail).next = idx;
        }
        self.tail = idx;
    }

    fn touch(&mut self, idx: u32) {
        if self.tail != idx {
            self.unlink(idx);
            self.push_back(idx);
        }
    }

    /// Takes the entry out of every structure and counts the reason.
    fn remove_at(&mut self, idx: u32, reason: EvictionReason) -> (K, V) {
        self.unlink(idx);
        let hash = self.node(idx).hash;
        self.table
            .find_entry(hash, |&candidate| candidate == idx)
            .expect("linked entry is in the table")
            .remove();
        let node = self.slots[idx as usize]
            .take()
            .expect("linked slot is occupied");
        self.free_slots.push(idx);
        self.bytes -= node.weight;
        if node.expires_at.is_some() {
            self.expiring -= 1;
        }
        let counter = match reason {
            EvictionReason::Capacity => &mut self.stats.evictions_capacity,
            EvictionReason::Ttl => &mut self.stats.evictions_ttl,
            EvictionReason::Pressure => &mut self.stats.evictions_pressure,
            EvictionReason::Explicit => &mut self.stats.evictions_explicit,
            EvictionReason::Activity => &mut self.stats.evictions_activity,
        };
        *counter += 1;
        (node.key, node.value)
    }

    fn ttl_nanos(&self, ttl: Ttl) -> Option<u64> {
        match ttl {
            Ttl::Default => self.default_ttl,
            Ttl::Forever => None,
            Ttl::Nanos(n) => Some(n),
        }
    }

    /// Looks a key up, refreshing its recency. An expired entry is removed and counts as a miss.
    ///
    /// `now` is called only when the entry found can expire, which keeps the clock off the hot
    /// path of caches without TTLs.
    pub fn get(
        &mut self,
        hash: u64,
        eq: impl Fn(&K) -> bool,
        now: impl FnOnce() -> u64,
        sink: &mut Sink<K, V>,
    ) -> Option<&V> {
        let Some(idx) = self.find(hash, eq) else {
            self.stats.misses += 1;
            return None;
        };
        let node = self.node(idx);
        if node.expires_at.is_some() && node.is_expired(now()) {
            sink.push(self.remove_at(idx, EvictionReason::Ttl));
            self.stats.misses += 1;
            return None;
        }
        self.stats.hits += 1;
        self.touch(idx);
        Some(&self.node(idx).value)
    }

    /// True when a live entry exists; changes neither recency nor counters.
    pub fn contains(&self, hash: u64, eq: impl Fn(&K) -> bool, now: u64) -> bool {
        self.time_to_live(hash, eq, now).is_some()
    }

    /// Nanoseconds a live entry has left: `Some(None)` when it never expires, `None` when there
    /// is no live entry. Changes neither recency nor counters.
    pub fn time_to_live(
        &self,
        hash: u64,
        eq: impl Fn(&K) -> bool,
        now: u64,
    ) -> Option<Option<u64>> {
        let node = self.node(self.find(hash, eq)?);
        match node.expires_at {
            None => Some(None),
            Some(deadline) if now < deadline => Some(Some(deadline - now)),
            Some(_) => None,
        }
    }

    /// Stores a value. Returns false, changing nothing, when the entry alone exceeds the budget.
    ///
    /// `now` is called only when some entry can expire.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        hash: u64,
        eq: impl Fn(&K) -> bool,
        key: K,
        value: V,
        ttl: Ttl,
        now: impl FnOnce() -> u64,
        sink: &mut Sink<K, V>,
    ) -> bool {
        let weight = Self::entry_weight(&key, &value);
        if weight > self.max_bytes {
            sink.push((key, value));
            return false;
        }
        let ttl = self.ttl_nanos(ttl);
        // With no deadline anywhere, expiry checks are all false and the time is never used.
        let now = if ttl.is_some() || self.expiring > 0 {
            now()
        } else {
            0
        };
        let expires_at = ttl.map(|nanos| now.saturating_add(nanos));
        self.expiring += usize::from(expires_at.is_some());
        // One probe sequence finds the key or the empty bucket it goes into.
        let slots = &self.slots;
        let entry = self.table.entry(
            hash,
            |&i| slots[i as usize].as_ref().is_some_and(|n| eq(&n.key)),
            |&i| slots[i as usize].as_ref().map_or(0, |n| n.hash),
        );
        match entry {
            Entry::Occupied(occupied) => {
                let idx = *occupied.get();
                let node = self.node_mut(idx);
                let old_weight = node.weight;
                let old_value = std::mem::replace(&mut node.value, value);
                let had_deadline = node.expires_at.is_some();
                node.weight = weight;
                node.expires_at = expires_at;
                self.expiring -= usize::from(had_deadline);
                self.bytes = self.bytes - old_weight + weight;
                self.stats.updates += 1;
                sink.push((key, old_value));
                self.touch(idx);
            }
            Entry::Vacant(vacant) => {
                let idx = match self.free_slots.pop() {
                    Some(idx) => idx,
                    None => {
                        self.slots.push(None);
                        u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 entries")
                    }
                };
                vacant.insert(idx);
                self.slots[idx as usize] = Some(Node {
                    key,
                    value,
                    hash,
                    expires_at,
                    weight,
                    prev: NIL,
                    next: NIL,
                });
                self.push_back(idx);
                self.bytes += weight;
                self.stats.inserts += 1;
            }
        }
        self.pop_lru_until(self.max_bytes, EvictionReason::Capacity, now, sink);
        true
    }

    /// Removes a key. Returns the live entry; an expired one goes to the sink and yields `None`.
    pub fn remove(
        &mut self,
        hash: u64,
        eq: impl Fn(&K) -> bool,
        now: u64,
        sink: &mut Sink<K, V>,
    ) -> Option<(K, V)> {
        let idx = self.find(hash, eq)?;
        if self.node(idx).is_expired(now) {
            sink.push(self.remove_at(idx, EvictionReason::Ttl));
            return None;
        }
        Some(self.remove_at(idx, EvictionReason::Explicit))
    }

    pub fn clear(&mut self, sink: &mut Sink<K, V>) -> usize {
        let removed = self.table.len();
        while self.head != NIL {
            sink.push(self.remove_at(self.head, EvictionReason::Explicit));
        }
        self.slots.clear();
        self.free_slots.clear();
        removed
    }

    /// Removes every expired entry now; returns how many.
    pub fn expire(&mut self, now: u64, sink: &mut Sink<K, V>) -> usize {
        if self.expiring == 0 {
            return 0;
        }
        let mut removed = 0;
        let mut idx = self.head;
        while idx != NIL {
            let node = self.node(idx);
            let next = node.next;
            if node.is_expired(now) {
                sink.push(self.remove_at(idx, EvictionReason::Ttl));
                removed += 1;
            }
            idx = next;
        }
        removed
    }

    /// Pops least recently used entries until `bytes <= target`. Expired entries met on the way
    /// count as TTL evictions, the rest under `reason`.
    fn pop_lru_until(
        &mut self,
        target: usize,
        reason: EvictionReason,
        now: u64,
        sink: &mut Sink<K, V>,
    ) -> usize {
        let mut removed = 0;
        while self.bytes > target && self.head != NIL {
            let idx = self.head;
            let why = if self.node(idx).is_expired(now) {
                EvictionReason::Ttl
            } else {
                reason
            };
            sink.push(self.remove_at(idx, why));
            removed += 1;
        }
        removed
    }

    /// Frees memory down to `target` bytes without changing the budget: expired entries first,
    /// then least recently used ones. Returns how many entries left.
    pub fn evict_to(
        &mut self,
        target: usize,
        reason: EvictionReason,
        now: u64,
        sink: &mut Sink<K, V>,
    ) -> usize {
        if self.bytes <= target {
            return 0;
        }
        let expired = self.expire(now, sink);
        expired + self.pop_lru_until(target, reason, now, sink)
    }

    /// Changes the budget; a smaller one evicts at once (expired first, then LRU).
    pub fn resize(&mut self, max_bytes: usize, now: u64, sink: &mut Sink<K, V>) -> usize {
        self.max_bytes = max_bytes;
        self.evict_to(max_bytes, EvictionReason::Capacity, now, sink)
    }

    /// Live keys from least to most recently used.
    pub fn keys(&self, now: u64) -> impl Iterator<Item = &K> + '_ {
        LruIter {
            cache: self,
            idx: self.head,
        }
        .filter(move |node| !node.is_expired(now))
        .map(|node| &node.key)
    }
}

struct LruIter<'a, K, V> {
    cache: &'a LruTtlCache<K, V>,
    idx: u32,
}

impl<'a, K: Weighted, V: Weighted> Iterator for LruIter<'a, K, V> {
    type Item = &'a Node<K, V>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.idx == NIL {
            return None;
        }
        let node = self.cache.node(self.idx);
        self.idx = node.next;
        Some(node)
    }
}

/// A convenience front for Rust callers: `String` keys hashed with hashbrown's default hasher.
pub struct ByteCache<V> {
    inner: LruTtlCache<String, V>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<V: Weighted> ByteCache<V> {
    pub fn new(max_bytes: usize, default_ttl_nanos: Option<u64>) -> Self {
        Self {
            inner: LruTtlCache::new(max_bytes, default_ttl_nanos),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    fn hash(&self, key: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(key)
    }

    pub fn get(&mut self, key: &str, now: u64) -> Option<&V> {
        let hash = self.hash(key);
        let mut sink = Sink::new();
        self.inner.get(hash, |k| k == key, || now, &mut sink)
    }

    pub fn insert(&mut self, key: &str, value: V, ttl: Ttl, now: u64) -> bool {
        let hash = self.hash(key);
        let mut sink = Sink::new();
        self.inner.insert(
            hash,
            |k| k == key,
            key.to_owned(),
            value,
            ttl,
            || now,
            &mut sink,
        )
    }

    pub fn remove(&mut self, key: &str, now: u64) -> Option<V> {
        let hash = self.hash(key);
        let mut sink = Sink::new();
        self.inner
            .remove(hash, |k| k == key, now, &mut sink)
            .map(|(_, v)| v)
    }

    pub fn contains(&self, key: &str, now: u64) -> bool {
        self.inner.contains(self.hash(key), |k| k == key, now)
    }

    pub fn time_to_live(&self, key: &str, now: u64) -> Option<Option<u64>> {
        self.inner.time_to_live(self.hash(key), |k| k == key, now)
    }

    pub fn core(&mut self) -> &mut LruTtlCache<String, V> {
        &mut self.inner
    }

    pub fn stats(&self) -> CacheStats {
        self.inner.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_nanos_hold_a_ttl_whatever_the_clock_reads() {
        for origin in [0.0, -5.0, 1.8e10, 2e10, 1e15, 1e300, -1e300] {
            let start = relative_nanos(origin, origin);
            assert_eq!(start, RELATIVE_EPOCH_NANOS);
            let mut cache = ByteCache::new(1000, None);
            assert!(cache.insert("k", vec![1], Ttl::Nanos(60_000_000_000), start));
            let later = origin + 30.0;
            if later != origin {
                assert!(cache.get("k", relative_nanos(later, origin)).is_some());
            }
            let gone = origin + 61.0;
            if gone != origin {
                assert!(cache.get("k", relative_nanos(gone, origin)).is_none());
            }
        }
        // Far before or after the origin the count saturates instead of wrapping.
        assert_eq!(relative_nanos(-1e300, 1e300), 0);
        assert_eq!(
            relative_nanos(1e300, -1e300),
            RELATIVE_EPOCH_NANOS + i64::MAX as u64
        );
        // Exact to the nanosecond near the origin: a 1 s TTL ends after exactly 1 s.
        assert_eq!(
            relative_nanos(1001.0, 1000.0) - relative_nanos(1000.0, 1000.0),
            1_000_000_000
        );
    }

    const SECOND: u64 = 1_000_000_000;

    fn entry(key: &str, len: usize) -> usize {
        key.len() + len + ENTRY_OVERHEAD
    }

    fn keys(cache: &mut ByteCache<Vec<u8>>, now: u64) -> Vec<String> {
        cache.core().keys(now).cloned().collect()
    }

    #[test]
    fn accounts_bytes_exactly() {
        let mut cache = ByteCache::new(10_000, None);
        assert!(cache.insert("a", vec![0; 100], Ttl::Default, 0));
        assert!(cache.insert("bb", vec![0; 200], Ttl::Default, 0));
        assert_eq!(cache.stats().bytes, entry("a", 100) + entry("bb", 200));
        assert!(cache.insert("a", vec![0; 50], Ttl::Default, 0));
        assert_eq!(cache.stats().bytes, entry("a", 50) + entry("bb", 200));
        assert_eq!(cache.stats().updates, 1);
        assert_eq!(cache.remove("bb", 0).map(|v| v.len()), Some(200));
        assert_eq!(cache.stats().bytes, entry("a", 50));
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let budget = 3 * entry("k0", 100);
        let mut cache = ByteCache::new(budget, None);
        for i in 0..3 {
            assert!(cache.insert(&format!("k{i}"), vec![0; 100], Ttl::Default, 0));
        }
        assert!(cache.get("k0", 0).is_some());
        assert!(cache.insert("k3", vec![0; 100], Ttl::Default, 0));
        assert_eq!(keys(&mut cache, 0), ["k2", "k0", "k3"]);
        assert_eq!(cache.stats().evictions_capacity, 1);
        assert!(cache.stats().bytes <= budget);
    }

    #[test]
    fn refuses_oversized_value_without_evicting() {
        let mut cache = ByteCache::new(1000, None);
        assert!(cache.insert("small", vec![0; 10], Ttl::Default, 0));
        assert!(!cache.insert("huge", vec![0; 1000], Ttl::Default, 0));
        assert_eq!(keys(&mut cache, 0), ["small"]);
        assert_eq!(cache.stats().inserts, 1);
        assert_eq!(cache.stats().evictions_capacity, 0);
    }

    #[test]
    fn expired_entry_is_a_miss_and_is_released() {
        let mut cache = ByteCache::new(10_000, Some(5 * SECOND));
        cache.insert("a", vec![1; 10], Ttl::Default, 0);
        cache.insert("b", vec![1; 10], Ttl::Forever, 0);
        assert!(cache.get("a", 4 * SECOND).is_some());
        assert!(cache.get("a", 5 * SECOND).is_none());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.evictions_ttl), (1, 1, 1));
        assert_eq!(stats.bytes, entry("b", 10));
    }

    #[test]
    fn expire_sweeps_without_lookup() {
        let mut cache = ByteCache::new(10_000, None);
        cache.insert("short", vec![0; 10], Ttl::Nanos(SECOND), 0);
        cache.insert("long", vec![0; 10], Ttl::Nanos(10 * SECOND), 0);
        let mut sink = Sink::new();
        assert_eq!(cache.core().expire(2 * SECOND, &mut sink), 1);
        assert_eq!(sink.len(), 1);
        assert_eq!(keys(&mut cache, 2 * SECOND), ["long"]);
        assert_eq!(cache.stats().entries, 1);
    }

    #[test]
    fn resize_and_evict_to_free_memory_at_once() {
        let mut cache = ByteCache::new(100_000, None);
        for i in 0..10 {
            cache.insert(&format!("k{i}"), vec![0; 1000], Ttl::Default, 0);
        }
        let one = entry("k0", 1000);
        let mut sink = Sink::new();
        assert_eq!(
            cache
                .core()
                .evict_to(5 * one, EvictionReason::Pressure, 0, &mut sink),
            5
        );
        assert_eq!(cache.stats().evictions_pressure, 5);
        assert_eq!(
            cache
                .core()
                .evict_to(4 * one, EvictionReason::Activity, 0, &mut sink),
            1
        );
        assert_eq!(cache.stats().evictions_activity, 1);
        assert_eq!(cache.stats().evictions_pressure, 5);
        assert_eq!(cache.stats().max_bytes, 100_000);
        assert_eq!(cache.core().resize(2 * one, 0, &mut sink), 2);
        assert_eq!(cache.stats().evictions_capacity, 2);
        assert_eq!(keys(&mut cache, 0), ["k8", "k9"]);
        assert_eq!(sink.len(), 8);
    }

    #[test]
    fn contains_does_not_touch_recency_or_stats() {
        let mut cache = ByteCache::new(10_000, None);
        cache.insert("a", vec![0; 1], Ttl::Default, 0);
        cache.insert("b", vec![0; 1], Ttl::Default, 0);
        assert!(cache.contains("a", 0));
        assert!(!cache.contains("zzz", 0));
        assert_eq!(keys(&mut cache, 0), ["a", "b"]);
        assert_eq!(cache.stats().hits + cache.stats().misses, 0);
    }

    #[test]
    fn time_to_live_counts_down_and_ends_with_the_entry() {
        let mut cache = ByteCache::new(10_000, Some(5 * SECOND));
        cache.insert("a", vec![0; 1], Ttl::Default, SECOND);
        cache.insert("b", vec![0; 1], Ttl::Forever, SECOND);
        assert_eq!(cache.time_to_live("a", SECOND), Some(Some(5 * SECOND)));
        assert_eq!(cache.time_to_live("a", 4 * SECOND), Some(Some(2 * SECOND)));
        assert_eq!(cache.time_to_live("a", 6 * SECOND), None);
        assert_eq!(cache.time_to_live("b", 100 * SECOND), Some(None));
        assert_eq!(cache.time_to_live("zzz", 0), None);
        assert_eq!(keys(&mut cache, 0), ["a", "b"]);
        assert_eq!(cache.stats().hits + cache.stats().misses, 0);
    }

    #[test]
    fn clear_counts_explicit_evictions_and_reuses_nothing_stale() {
        let mut cache = ByteCache::new(10_000, None);
        for i in 0..4 {
            cache.insert(&format!("k{i}"), vec![0; 10], Ttl::Default, 0);
        }
        let mut sink = Sink::new();
        assert_eq!(cache.core().clear(&mut sink), 4);
        assert_eq!(cache.stats().evictions_explicit, 4);
        assert_eq!(cache.stats().bytes, 0);
        cache.insert("again", vec![0; 10], Ttl::Default, 0);
        assert_eq!(keys(&mut cache, 0), ["again"]);
    }

    #[test]
    fn randomized_operations_keep_invariants() {
        // A small xorshift keeps the test deterministic without another dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut cache = ByteCache::new(5_000, Some(3 * SECOND));
        let mut now = 0;
        for _ in 0..20_000 {
            let key = format!("k{}", next() % 40);
            match next() % 6 {
                0 | 1 => {
                    let len = (next() % 900) as usize;
                    cache.insert(&key, vec![0; len], Ttl::Default, now);
                }
                2 => {
                    cache.get(&key, now);
                }
                3 => {
                    cache.remove(&key, now);
                }
                4 => now += next() % SECOND,
                _ => {
                    let mut sink = Sink::new();
                    let target = (next() % 6_000) as usize;
                    cache.core().resize(target, now, &mut sink);
                }
            }
            let stats = cache.stats();
            assert!(stats.bytes <= stats.max_bytes);
            let held: usize = cache
                .inner
                .slots
                .iter()
                .flatten()
                .map(|node| node.key.len() + node.value.len() + ENTRY_OVERHEAD)
                .sum();
            assert_eq!(held, stats.bytes);
            assert_eq!(cache.inner.slots.iter().flatten().count(), stats.entries);
            let with_deadline = cache.inner.slots.iter().flatten();
            let with_deadline = with_deadline.filter(|n| n.expires_at.is_some()).count();
            assert_eq!(with_deadline, cache.inner.expiring);
        }
    }
}
