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
