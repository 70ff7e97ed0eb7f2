//! A small time-bounded cache for hot lookups (tokens, workspaces, memberships,
//! secret rows, sealed versions, unwrapped workspace keys). Entries expire after a
//! fixed time so changes made by another process become visible within that bound
//! even without invalidation; this process invalidates explicitly on every change
//! it makes itself.
//!
//! Bounded three ways:
//! - by time: an expired entry is never returned, and it is dropped (not only
//!   ignored) by the next insert or by [`TtlCache::sweep`], which the background
//!   upkeep runs, so memory goes back down when lookups stop;
//! - by count: past `max_entries` the oldest entries go;
//! - by bytes ([`TtlCache::with_budget`]; every cache of the service has one,
//!   see `memory.rs`): an entry weighs what its weigher counts on the heap plus
//!   its slots in the map and the queue, and past the budget the oldest entries
//!   go (the version cache holds sealed values of up to 64 KiB each). The map
//!   gives back its table when it has shrunk to a quarter of it, so a burst
//!   (100k secrets read once) does not leave a table sized for it behind.
//!
//! Entries all live equally long, so insertion order is expiry order: one queue
//! serves both the expiry sweep and eviction.
//!
//! Stale inserts: every eviction (`remove`, `retain`, `clear`) bumps a
//! generation. A caller that read a value from the store captures
//! [`TtlCache::generation`] first and inserts with [`TtlCache::put_fresh`], which
//! skips the insert if an eviction ran meanwhile (the value it read may be what
//! was evicted) or if the entry there is newer by the caller's own order (a
//! slower writer must not put back an older version).

use lockbox_core::{Clock, Timestamp};
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Entries kept by a cache without its own limit.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

struct Entry<V> {
    at: Timestamp,
    /// Which queue slot is this entry's (older slots for the key are stale).
    stamp: u64,
    bytes: usize,
    value: V,
}

struct Inner<K, V> {
    map: HashMap<K, Entry<V>>,
    /// Keys in insertion order, with the stamp they were inserted under.
    order: VecDeque<(u64, K)>,
    next_stamp: u64,
    bytes: usize,
}

/// How a cache with a byte budget weighs one entry: the heap bytes its key and
/// value hold (the key twice: the map and the queue each keep one). The cache
/// adds the entry's inline size.
pub(crate) type Weigher<K, V> = fn(&K, &V) -> usize;

pub struct TtlCache<K, V> {
    ttl_ms: i64,
    clock: Arc<dyn Clock>,
    max_entries: usize,
    /// Most bytes, and how an entry is weighed (`None`: no byte budget).
    budget: Option<(usize, Weigher<K, V>)>,
    inner: RwLock<Inner<K, V>>,
    generation: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache bounded by time and count only (tests of the cache itself; the
    /// service's caches all have a byte budget).
    #[cfg(test)]
    pub fn new(clock: Arc<dyn Clock>, ttl_ms: i64) -> Self {
        TtlCache::unbounded(clock, ttl_ms)
    }

    fn unbounded(clock: Arc<dyn Clock>, ttl_ms: i64) -> Self {
        TtlCache {
            ttl_ms,
            clock,
            max_entries: DEFAULT_MAX_ENTRIES,
            budget: None,
            inner: RwLock::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                next_stamp: 0,
                bytes: 0,
            }),
            generation: AtomicU64::new(0),
        }
    }

    /// A cache that also keeps its entries' total weight under `max_bytes`.
    pub fn with_budget(
        clock: Arc<dyn Clock>,
        ttl_ms: i64,
        max_bytes: usize,
        weigh: Weigher<K, V>,
    ) -> Self {
        let mut c = TtlCache::unbounded(clock, ttl_ms);
        c.budget = Some((max_bytes, weigh));
        c
    }

    /// What one entry costs besides its heap: its map slot (key, entry and a
    /// control byte, at the table's load factor) and its queue slot.
    const INLINE_BYTES: usize =
        (std::mem::size_of::<K>() + std::mem::size_of::<Entry<V>>() + 1) * 8 / 7
            + std::mem::size_of::<(u64, K)>();

    fn live(&self, now: Timestamp, at: Timestamp) -> bool {
        now.millis() - at.millis() < self.ttl_ms
    }

    pub fn get(&self, k: &K) -> Option<V> {
        let now = self.clock.now();
        let inner = self.inner.read().expect("cache lock");
        match inner.map.get(k) {
            Some(e) if self.live(now, e.at) => Some(e.value.clone()),
            _ => None,
        }
    }

    pub fn put(&self, k: K, v: V) {
        let now = self.clock.now();
        let mut inner = self.inner.write().expect("cache lock");
        self.insert(&mut inner, now, k, v);
    }

    /// Inserts only if `still_current()` holds, judged under the write lock, so an
    /// eviction that runs after the caller's check cannot be undone by this insert.
    pub fn put_if(&self, k: K, v: V, still_current: impl FnOnce() -> bool) {
        let now = self.clock.now();
        let mut inner = self.inner.write().expect("cache lock");
        if !still_current() {
            return;
        }
        self.insert(&mut inner, now, k, v);
    }

    /// The eviction generation, to capture before reading what will be inserted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Inserts `v`, read (or written) after the caller captured `generation`,
    /// unless an eviction ran since, or the live entry there is newer than `v`
    /// (`newer(existing, v)`).
    pub fn put_fresh(&self, k: K, v: V, generation: u64, newer: impl FnOnce(&V, &V) -> bool) {
        let now = self.clock.now();
        let mut inner = self.inner.write().expect("cache lock");
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if let Some(e) = inner.map.get(&k) {
            if self.live(now, e.at) && newer(&e.value, &v) {
                return;
            }
        }
        self.insert(&mut inner, now, k, v);
    }

    fn insert(&self, inner: &mut Inner<K, V>, now: Timestamp, k: K, v: V) {
        let bytes = self
            .budget
            .map_or(0, |(_, weigh)| weigh(&k, &v) + Self::INLINE_BYTES);
        let stamp = inner.next_stamp;
        inner.next_stamp += 1;
        inner.order.push_back((stamp, k.clone()));
        inner.bytes += bytes;
        if let Some(old) = inner.map.insert(
            k,
            Entry {
                at: now,
                stamp,
                bytes,
                value: v,
            },
        ) {
            inner.bytes -= old.bytes;
        }
        self.trim(inner, now);
    }

    /// Drops expired entries, then the oldest while over count or bytes; keeps the
    /// queue from filling with stale slots.
    fn trim(&self, inner: &mut Inner<K, V>, now: Timestamp) {
        let max_bytes = self.budget.map_or(usize::MAX, |(b, _)| b);
        while let Some((stamp, k)) = inner.order.front() {
            let Some(e) = inner.map.get(k) else {
                inner.order.pop_front();
                continue;
            };
            if e.stamp != *stamp {
                inner.order.pop_front();
                continue;
            }
            let over = inner.map.len() > self.max_entries || inner.bytes > max_bytes;
            if !over && self.live(now, e.at) {
                break;
            }
            let (_, k) = inner.order.pop_front().expect("front");
            if let Some(e) = inner.map.remove(&k) {
                inner.bytes -= e.bytes;
            }
        }
        if inner.order.len() > 2 * inner.map.len() + 64 {
            let mut live: Vec<(u64, K)> = inner
                .map
                .iter()
                .map(|(k, e)| (e.stamp, k.clone()))
                .collect();
            live.sort_unstable_by_key(|(s, _)| *s);
            inner.order = live.into();
        }
        Self::give_back(inner);
    }

    /// Shrinks the map and the queue once they hold a quarter of their room:
    /// a table keeps its high-water size otherwise.
    fn give_back(inner: &mut Inner<K, V>) {
        if inner.map.capacity() > 64 && inner.map.len() < inner.map.capacity() / 4 {
            inner.map.shrink_to(inner.map.len() * 2);
        }
        if inner.order.capacity() > 64 && inner.order.len() < inner.order.capacity() / 4 {
            inner.order.shrink_to(inner.order.len() * 2);
        }
    }

    /// Drops every expired entry (the background upkeep calls this).
    pub fn sweep(&self) {
        let now = self.clock.now();
        let mut inner = self.inner.write().expect("cache lock");
        self.trim(&mut inner, now);
    }

    pub fn remove(&self, k: &K) {
        let mut inner = self.inner.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = inner.map.remove(k) {
            inner.bytes -= e.bytes;
        }
    }

    pub fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        let mut inner = self.inner.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut freed = 0;
        inner.map.retain(|k, e| {
            let kept = keep(k, &e.value);
            if !kept {
                freed += e.bytes;
            }
            kept
        });
        inner.bytes -= freed;
        Self::give_back(&mut inner);
    }

    pub fn clear(&self) {
        let mut inner = self.inner.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        inner.map = HashMap::new();
        inner.order = VecDeque::new();
        inner.bytes = 0;
    }

    /// Entries held (expired ones not yet dropped included) and their weight.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.inner.read().expect("cache lock");
        (inner.map.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbox_core::ManualClock;

    /// A read that started before an eviction must not re-insert what it read.
    #[test]
    fn put_if_skips_a_value_read_before_an_eviction() {
        let cache: TtlCache<&str, u32> =
            TtlCache::new(Arc::new(ManualClock::new(Timestamp(0))), 1000);
        let generation = AtomicU64::new(0);
        let seen = generation.load(Ordering::SeqCst);
        // The eviction (bump, then evict) happens while the read is in flight.
        generation.fetch_add(1, Ordering::SeqCst);
        cache.retain(|_, _| false);
        cache.put_if("v1", 1, || generation.load(Ordering::SeqCst) == seen);
        assert_eq!(cache.get(&"v1"), None);
        // Without an eviction in between it caches.
        let seen = generation.load(Ordering::SeqCst);
        cache.put_if("v1", 2, || generation.load(Ordering::SeqCst) == seen);
        assert_eq!(cache.get(&"v1"), Some(2));
    }

    /// Issue 16: revealing 2,000 values of 60 KB each grew the version cache by
    /// 120 MB that never shrank. With a budget it stays under it, keeps the
    /// newest, and empties once the entries expire.
    #[test]
    fn a_byte_budget_bounds_large_values_and_expiry_frees_them() {
        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        let budget = 8 << 20;
        let cache: TtlCache<u32, Arc<Vec<u8>>> =
            TtlCache::with_budget(clock.clone(), 60_000, budget, |_, v| v.len() + 64);
        let weight = 60_064 + TtlCache::<u32, Arc<Vec<u8>>>::INLINE_BYTES;
        for i in 0..2_000u32 {
            cache.put(i, Arc::new(vec![0u8; 60_000]));
            assert!(cache.usage().1 <= budget, "{:?} after {i}", cache.usage());
        }
        let (entries, bytes) = cache.usage();
        assert!(bytes > budget - weight, "the budget is used: {bytes}");
        assert_eq!(entries, bytes / weight);
        assert!(cache.get(&1_999).is_some(), "the newest stays");
        assert!(cache.get(&0).is_none(), "the oldest went");
        // After the TTL a sweep frees everything, with no insert needed.
        clock.advance_seconds(60);
        assert_eq!(cache.get(&1_999), None);
        cache.sweep();
        assert_eq!(cache.usage(), (0, 0));
        assert!(
            cache.inner.read().unwrap().map.capacity() <= 64,
            "an emptied map gives back its table"
        );
    }

    #[test]
    fn expired_entries_are_dropped_by_inserts_and_the_count_is_bounded() {
        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        let mut cache: TtlCache<u32, u32> = TtlCache::new(clock.clone(), 1_000);
        cache.max_entries = 100;
        for i in 0..50 {
            cache.put(i, i);
        }
        clock.advance_seconds(1);
        cache.put(1_000, 0);
        assert_eq!(cache.usage().0, 1, "expired entries went with the insert");
        for i in 0..500 {
            cache.put(i, i);
        }
        assert_eq!(cache.usage().0, 100);
        assert_eq!(cache.get(&499), Some(499));
        // Re-inserting one key many times does not grow the queue without bound.
        for i in 0..10_000 {
            cache.put(7, i);
        }
        assert!(cache.inner.read().unwrap().order.len() <= 2 * 100 + 64 + 1);
    }

    /// Issue 16: a node served version 91 after acknowledging 95. An insert never
    /// replaces a newer entry, and a value read before an eviction is not cached.
    #[test]
    fn put_fresh_never_goes_back_to_an_older_version() {
        let cache: TtlCache<&str, u64> =
            TtlCache::new(Arc::new(ManualClock::new(Timestamp(0))), 1_000);
        let newer = |have: &u64, new: &u64| have > new;
        let g = cache.generation();
        cache.put_fresh("s", 95, g, newer);
        cache.put_fresh("s", 91, g, newer);
        assert_eq!(cache.get(&"s"), Some(95));
        cache.put_fresh("s", 96, g, newer);
        assert_eq!(cache.get(&"s"), Some(96));
        // A read that began before an eviction (another node's change) is dropped.
        let before = cache.generation();
        cache.remove(&"s");
        cache.put_fresh("s", 96, before, newer);
        assert_eq!(cache.get(&"s"), None);
    }
}
