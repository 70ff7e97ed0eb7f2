//! Redactors for runs, from per-version pattern sets built once per process.
//!
//! The encoded forms of one secret version (a [`PatternSet`]) are built the
//! first time a run needs them, by one caller while concurrent callers wait
//! for that build, and kept while the process holds less than
//! [`MAX_BYTES`] of them (least recently used dropped first). A change to a
//! secret, made here or seen on the change feed from another node, drops that
//! secret's sets and nothing else.
//!
//! A run's redactor is the union of the sets behind its references
//! ([`Redactor::from_sets`]: the matcher's tables laid out again, nothing
//! decrypted or encoded), cached by run and set of versions. A cached union is
//! used only while every set it was built from is still the cached set of its
//! version, so a write to a secret the run never used leaves it as it is, and
//! a change to one it used rebuilds it. Unions are bounded by count
//! ([`MAX_RUNS`]) and by bytes ([`MAX_RUN_BYTES`], a union weighing what the
//! sets it was laid out from weigh: it holds the same tables again).

use lockbox_redact::{PatternSet, Redactor};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::OnceCell;

/// The most bytes of version sets kept.
pub(crate) const MAX_BYTES: usize = 64 << 20;
/// The most run redactors kept.
const MAX_RUNS: usize = 4096;
/// The most bytes of run redactors kept.
pub(crate) const MAX_RUN_BYTES: usize = 32 << 20;
/// Sets and run redactors unused this long are dropped by [`RunRedactors::sweep`].
const IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// A secret version: secret id and version number.
pub(crate) type VersionKey = (String, u64);

type Cell = Arc<OnceCell<Arc<PatternSet>>>;

struct Slot {
    cell: Cell,
    /// 0 until built and counted.
    bytes: usize,
    used: u64,
    used_at: Instant,
}

#[derive(Default)]
struct Versions {
    map: HashMap<VersionKey, Slot>,
    bytes: usize,
    tick: u64,
}

struct RunEntry {
    /// The sets the union was built from, version by version.
    sets: Vec<(VersionKey, Arc<PatternSet>)>,
    /// What the union weighs (its sets' bytes).
    bytes: usize,
    redactor: Arc<Redactor>,
    used: u64,
    used_at: Instant,
}

/// How much building the cache has done (for tests and operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RedactorStats {
    /// Version sets built (each one a decryption and every form encoded).
    pub version_builds: u64,
    /// Run redactors laid out over sets.
    pub union_builds: u64,
    /// Version sets held now, and their bytes.
    pub cached_versions: usize,
    pub cached_bytes: usize,
    /// Run redactors held now.
    pub cached_runs: usize,
}

pub(crate) struct RunRedactors {
    versions: Mutex<Versions>,
    runs: Mutex<HashMap<(String, Vec<VersionKey>), RunEntry>>,
    version_builds: AtomicU64,
    union_builds: AtomicU64,
    max_bytes: usize,
    max_run_bytes: usize,
}

impl Default for RunRedactors {
    fn default() -> Self {
        RunRedactors::with_budgets(MAX_BYTES, MAX_RUN_BYTES)
    }
}

impl RunRedactors {
    #[cfg(test)]
    pub fn with_max_bytes(max_bytes: usize) -> RunRedactors {
        RunRedactors::with_budgets(max_bytes, MAX_RUN_BYTES)
    }

    /// Most bytes of version sets and of run redactors.
    pub fn with_budgets(max_bytes: usize, max_run_bytes: usize) -> RunRedactors {
        RunRedactors {
            versions: Mutex::default(),
            runs: Mutex::default(),
            version_builds: AtomicU64::new(0),
            union_builds: AtomicU64::new(0),
            max_bytes,
            max_run_bytes,
        }
    }

    /// The cached union for a run and its versions, if every set it was built
    /// from is still current.
    pub fn cached_union(&self, run_id: &str, keys: &[VersionKey]) -> Option<Arc<Redactor>> {
        let mut runs = self.runs.lock().expect("run redactors lock");
        let entry = runs.get_mut(&(run_id.to_owned(), keys.to_vec()))?;
        let mut versions = self.versions.lock().expect("version sets lock");
        let current = entry.sets.iter().all(|(k, set)| {
            versions
                .map
                .get(k)
                .and_then(|slot| slot.cell.get())
                .is_some_and(|s| Arc::ptr_eq(s, set))
        });
        if !current {
            runs.remove(&(run_id.to_owned(), keys.to_vec()));
            return None;
        }
        versions.tick += 1;
        entry.used = versions.tick;
        entry.used_at = Instant::now();
        Some(entry.redactor.clone())
    }

    /// The set of one version: cached, or built by `build` (concurrent callers
    /// for the same version wait for one build).
    pub async fn version_set<F, Fut>(
        &self,
        key: &VersionKey,
        build: F,
    ) -> lockbox_core::Result<Arc<PatternSet>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = lockbox_core::Result<PatternSet>>,
    {
        let cell = {
            let mut v = self.versions.lock().expect("version sets lock");
            v.tick += 1;
            let tick = v.tick;
            let slot = v.map.entry(key.clone()).or_insert_with(|| Slot {
                cell: Arc::new(OnceCell::new()),
                bytes: 0,
                used: tick,
                used_at: Instant::now(),
            });
            slot.used = tick;
            slot.used_at = Instant::now();
            slot.cell.clone()
        };
        let set = cell
            .get_or_try_init(|| async {
                self.version_builds.fetch_add(1, Ordering::Relaxed);
                build().await.map(Arc::new)
            })
            .await?
            .clone();
        self.account(key, &cell);
        Ok(set)
    }

    /// Counts a built set's bytes (once), then drops the least recently used
    /// sets while over the bound. A set whose slot was dropped meanwhile (its
    /// secret changed) is not counted: it is not cached.
    fn account(&self, key: &VersionKey, cell: &Cell) {
        let mut v = self.versions.lock().expect("version sets lock");
        let Some(slot) = v.map.get_mut(key) else {
            return;
        };
        if !Arc::ptr_eq(&slot.cell, cell) || slot.bytes != 0 {
            return;
        }
        let Some(set) = cell.get() else { return };
        let bytes = set.heap_bytes().max(1);
        slot.bytes = bytes;
        v.bytes += bytes;
        while v.bytes > self.max_bytes && v.map.len() > 1 {
            let Some(oldest) = v
                .map
                .iter()
                .filter(|(k, s)| s.bytes > 0 && *k != key)
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = v.map.remove(&oldest) {
                v.bytes -= gone.bytes;
            }
        }
    }

    /// Caches a run's union of `sets`.
    pub fn store_union(
        &self,
        run_id: &str,
        keys: Vec<VersionKey>,
        sets: Vec<(VersionKey, Arc<PatternSet>)>,
    ) -> Arc<Redactor> {
        self.union_builds.fetch_add(1, Ordering::Relaxed);
        let only: Vec<Arc<PatternSet>> = sets.iter().map(|(_, s)| s.clone()).collect();
        let redactor = Arc::new(Redactor::from_sets(&only));
        let bytes = only.iter().map(|s| s.heap_bytes()).sum::<usize>().max(1);
        // A tick of its own, so the least recently used union is the oldest.
        let used = {
            let mut v = self.versions.lock().expect("version sets lock");
            v.tick += 1;
            v.tick
        };
        let mut runs = self.runs.lock().expect("run redactors lock");
        if runs.len() >= MAX_RUNS {
            // Runs end; keep the more recently used half.
            let mut ticks: Vec<u64> = runs.values().map(|e| e.used).collect();
            ticks.sort_unstable();
            let median = ticks[ticks.len() / 2];
            runs.retain(|_, e| e.used > median);
        }
        // Past the byte budget the least recently used unions go (not this one:
        // its caller uses it now, and one union alone is never refused).
        let mut held: usize = runs.values().map(|e| e.bytes).sum::<usize>() + bytes;
        while held > self.max_run_bytes && !runs.is_empty() {
            let Some(oldest) = runs
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = runs.remove(&oldest) {
                held -= gone.bytes;
            }
        }
        runs.insert(
            (run_id.to_owned(), keys),
            RunEntry {
                sets,
                bytes,
                redactor: redactor.clone(),
                used,
                used_at: Instant::now(),
            },
        );
        redactor
    }

    /// Drops everything built from a secret's versions (it changed, here or on
    /// another node). Other secrets' sets and unions stay.
    pub fn forget_secret(&self, secret_id: &str) {
        {
            let mut v = self.versions.lock().expect("version sets lock");
            let mut freed = 0;
            v.map.retain(|(id, _), slot| {
                let keep = id != secret_id;
                if !keep {
                    freed += slot.bytes;
                }
                keep
            });
            v.bytes -= freed;
        }
        self.runs
            .lock()
            .expect("run redactors lock")
            .retain(|(_, keys), _| keys.iter().all(|(id, _)| id != secret_id));
    }

    /// Drops sets and run redactors unused for ten minutes (memory goes down
    /// when use stops); for the service's periodic cache upkeep.
    #[allow(dead_code)] // called by the cache upkeep (Lockbox::sweep_caches)
    pub fn sweep(&self) {
        let now = Instant::now();
        {
            let mut v = self.versions.lock().expect("version sets lock");
            let mut freed = 0;
            v.map.retain(|_, slot| {
                let keep = now.duration_since(slot.used_at) < IDLE;
                if !keep {
                    freed += slot.bytes;
                }
                keep
            });
            v.bytes -= freed;
        }
        self.runs
            .lock()
            .expect("run redactors lock")
            .retain(|_, e| now.duration_since(e.used_at) < IDLE);
    }

    pub fn clear(&self) {
        let mut v = self.versions.lock().expect("version sets lock");
        v.map.clear();
        v.bytes = 0;
        drop(v);
        self.runs.lock().expect("run redactors lock").clear();
    }

    pub fn stats(&self) -> RedactorStats {
        let v = self.versions.lock().expect("version sets lock");
        RedactorStats {
            version_builds: self.version_builds.load(Ordering::Relaxed),
            union_builds: self.union_builds.load(Ordering::Relaxed),
            cached_versions: v.map.values().filter(|s| s.bytes > 0).count(),
            cached_bytes: v.bytes,
            cached_runs: self.runs.lock().expect("run redactors lock").len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbox_redact::Options;

    fn set(v: &str) -> PatternSet {
        PatternSet::new(&[("s", v.as_bytes())], Options::default())
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_build_and_changes_drop_one_secret() {
        let c = Arc::new(RunRedactors::default());
        let key: VersionKey = ("a".into(), 1);
        let other: VersionKey = ("b".into(), 1);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let c = c.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                c.version_set(&key, || async {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    Ok(set("value-of-a-1"))
                })
                .await
                .unwrap()
            }));
        }
        let mut sets = Vec::new();
        for t in tasks {
            sets.push(t.await.unwrap());
        }
        assert!(sets.iter().all(|s| Arc::ptr_eq(s, &sets[0])));
        assert_eq!(c.stats().version_builds, 1);
        let b = c
            .version_set(&other, || async { Ok(set("value-of-b-1")) })
            .await
            .unwrap();
        let keys = vec![key.clone(), other.clone()];
        let r = c.store_union(
            "run",
            keys.clone(),
            vec![(key.clone(), sets[0].clone()), (other.clone(), b)],
        );
        assert!(Arc::ptr_eq(&c.cached_union("run", &keys).unwrap(), &r));
        // A change to a third secret changes nothing.
        c.forget_secret("z");
        assert!(c.cached_union("run", &keys).is_some());
        assert_eq!(c.stats().cached_versions, 2);
        // A change to one of them drops its set and the union.
        c.forget_secret("b");
        assert!(c.cached_union("run", &keys).is_none());
        assert_eq!(c.stats().cached_versions, 1);
        assert_eq!(c.stats().cached_bytes, sets[0].heap_bytes());
        // A sweep keeps what was used lately.
        c.sweep();
        assert_eq!(c.stats().cached_versions, 1);
    }

    #[tokio::test]
    async fn bounded_by_bytes() {
        let max = 200_000;
        let c = RunRedactors::with_max_bytes(max);
        let big = "x".repeat(20_000);
        for i in 0..30u64 {
            c.version_set(&("s".into(), i), || async { Ok(set(&big)) })
                .await
                .unwrap();
        }
        let s = c.stats();
        assert!(s.cached_bytes <= max, "{s:?}");
        assert!(s.cached_versions > 1 && s.cached_versions < 30, "{s:?}");
        // The most recently used are the ones kept.
        let again = c
            .version_set(&("s".into(), 29), || async { Ok(set("rebuilt-value")) })
            .await
            .unwrap();
        assert!(again.heap_bytes() > 20_000);
        assert_eq!(c.stats().version_builds, 30);
    }

    /// Unions are bounded by bytes too: past the budget the least recently used
    /// go, and the newest is kept.
    #[tokio::test]
    async fn run_redactors_are_bounded_by_bytes() {
        let c = RunRedactors::with_budgets(64 << 20, 300_000);
        let big = "y".repeat(20_000);
        let key: VersionKey = ("s".into(), 1);
        let s = c
            .version_set(&key, || async { Ok(set(&big)) })
            .await
            .unwrap();
        let per = s.heap_bytes();
        assert!(per > 20_000 && per < 300_000, "{per}");
        let keys = vec![key.clone()];
        for r in 0..40 {
            c.store_union(
                &format!("run-{r}"),
                keys.clone(),
                vec![(key.clone(), s.clone())],
            );
            let held = c.stats().cached_runs * per;
            assert!(held <= 300_000.max(per), "{held} after run {r}");
        }
        assert!(c.stats().cached_runs < 40);
        assert!(
            c.cached_union("run-39", &keys).is_some(),
            "the newest stays"
        );
        assert!(c.cached_union("run-0", &keys).is_none(), "the oldest went");
    }
}
