//! A small time-bounded cache for hot lookups (tokens, workspaces, memberships,
//! unwrapped workspace keys). Entries expire after a fixed time so changes made by
//! another process become visible within that bound even without invalidation; this
//! process invalidates explicitly on every change it makes itself.

use lockbox_core::{Clock, Timestamp};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

pub struct TtlCache<K, V> {
    ttl_ms: i64,
    clock: Arc<dyn Clock>,
    map: RwLock<HashMap<K, (Timestamp, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(clock: Arc<dyn Clock>, ttl_ms: i64) -> Self {
        TtlCache {
            ttl_ms,
            clock,
            map: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, k: &K) -> Option<V> {
        let now = self.clock.now();
        let map = self.map.read().expect("cache lock");
        match map.get(k) {
            Some((at, v)) if now.millis() - at.millis() < self.ttl_ms => Some(v.clone()),
            _ => None,
        }
    }

    pub fn put(&self, k: K, v: V) {
        let now = self.clock.now();
        let mut map = self.map.write().expect("cache lock");
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(k, (now, v));
    }

    /// Inserts only if `still_current()` holds, judged under the write lock, so an
    /// eviction that runs after the caller's check cannot be undone by this insert.
    pub fn put_if(&self, k: K, v: V, still_current: impl FnOnce() -> bool) {
        let now = self.clock.now();
        let mut map = self.map.write().expect("cache lock");
        if !still_current() {
            return;
        }
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(k, (now, v));
    }

    pub fn remove(&self, k: &K) {
        self.map.write().expect("cache lock").remove(k);
    }

    pub fn retain(&self, keep: impl Fn(&K, &V) -> bool) {
        self.map
            .write()
            .expect("cache lock")
            .retain(|k, (_, v)| keep(k, v));
    }

    pub fn clear(&self) {
        self.map.write().expect("cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbox_core::ManualClock;
    use std::sync::atomic::{AtomicU64, Ordering};

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
}
