//! The secret-version lifecycle as pure rules: the states a version moves through
//! (live, soft-deleted, destroyed), the one function that says what a delete,
//! undelete or destroy does to a state, which versions retention removes when a
//! new one is written, how the secret's and the workspace's `delete_version_after`
//! combine, and when a secret has expired.
//!
//! The service asks these functions and builds the audit rows; the store only
//! applies the answers, compare-and-set on the stored state, so both stores share
//! one copy of the rules.

use crate::Timestamp;

/// A version's state, read from its stored fields (`deleted_at`, `destroyed`) at
/// one instant. [`VersionState::deleted_at`] and [`VersionState::is_destroyed`]
/// give those fields back exactly, so a state read is also the compare-and-set
/// expectation for writing the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionState {
    /// Readable. `delete_at`: a soft delete scheduled for later
    /// (`delete_version_after` stamps it when the version is written).
    Live { delete_at: Option<Timestamp> },
    /// Soft-deleted since `at` (not after the instant it was read at): unreadable,
    /// recoverable by undelete.
    Deleted { at: Timestamp },
    /// The ciphertext is gone for good. `deleted_at` is kept as it was (a version
    /// page still shows when it was deleted).
    Destroyed { deleted_at: Option<Timestamp> },
}

/// What a caller asks of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// Soft delete, recoverable.
    Delete,
    /// Undo a soft delete, or cancel a scheduled one.
    Undelete,
    /// Remove the ciphertext for good.
    Destroy,
}

impl VersionState {
    /// The state of a version with these stored fields at `now`.
    pub fn of(deleted_at: Option<Timestamp>, destroyed: bool, now: Timestamp) -> VersionState {
        match (destroyed, deleted_at) {
            (true, deleted_at) => VersionState::Destroyed { deleted_at },
            (false, Some(at)) if at <= now => VersionState::Deleted { at },
            (false, delete_at) => VersionState::Live { delete_at },
        }
    }

    /// The stored `deleted_at` of this state.
    pub fn deleted_at(self) -> Option<Timestamp> {
        match self {
            VersionState::Live { delete_at } => delete_at,
            VersionState::Deleted { at } => Some(at),
            VersionState::Destroyed { deleted_at } => deleted_at,
        }
    }

    /// The stored `destroyed` flag of this state.
    pub fn is_destroyed(self) -> bool {
        matches!(self, VersionState::Destroyed { .. })
    }

    /// Whether the value may be read (revealed, resolved, patched, rolled back to).
    pub fn is_readable(self) -> bool {
        matches!(self, VersionState::Live { .. })
    }
}

/// The one transition rule: the state `op` at `now` leads `from` to, or `None`
/// when it leaves the version as it is.
///
/// - delete stamps `now` on a live version (a scheduled deletion is brought
///   forward); a version already deleted keeps its first deletion time;
/// - undelete clears a deletion, past or scheduled;
/// - destroy ends a live or deleted version for good, keeping its deletion time;
/// - a destroyed version never changes again.
pub fn transition(from: VersionState, op: VersionOp, now: Timestamp) -> Option<VersionState> {
    use VersionState::*;
    match (from, op) {
        (Destroyed { .. }, _) => None,
        (Live { .. }, VersionOp::Delete) => Some(Deleted { at: now }),
        (Deleted { .. }, VersionOp::Delete) => None,
        (Live { delete_at: None }, VersionOp::Undelete) => None,
        (Live { delete_at: Some(_) } | Deleted { .. }, VersionOp::Undelete) => {
            Some(Live { delete_at: None })
        }
        (state, VersionOp::Destroy) => Some(Destroyed {
            deleted_at: state.deleted_at(),
        }),
    }
}

/// How many versions a secret keeps: its own setting, else the workspace's.
pub fn max_versions(secret: Option<u32>, workspace: u32) -> u32 {
    secret.unwrap_or(workspace)
}

/// Retention: once version `newest` is written, every version numbered at or below
/// the answer is removed (0: none), so at most `max_versions` remain, and never
/// fewer than one.
pub fn pruned_through(newest: u64, max_versions: u32) -> u64 {
    newest.saturating_sub(u64::from(max_versions.max(1)))
}

/// Seconds after which a new version reads as deleted (Vault's
/// `delete_version_after`): the secret's and the workspace's both apply, so the
/// shorter wins; 0 means unset.
pub fn delete_version_after(secret: Option<u64>, workspace: Option<u64>) -> Option<u64> {
    match (secret.filter(|d| *d > 0), workspace.filter(|d| *d > 0)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether a secret with this expiry (its TTL) has expired at `now`: it reads as
/// gone from that instant and is purged afterwards.
pub fn is_expired(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_some_and(|e| e <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use VersionOp::*;

    const NOW: Timestamp = Timestamp(100);

    fn live(at: Option<i64>) -> VersionState {
        VersionState::Live {
            delete_at: at.map(Timestamp),
        }
    }

    #[test]
    fn states_read_from_stored_fields() {
        assert_eq!(VersionState::of(None, false, NOW), live(None));
        assert_eq!(
            VersionState::of(Some(Timestamp(101)), false, NOW),
            live(Some(101))
        );
        assert_eq!(
            VersionState::of(Some(Timestamp(100)), false, NOW),
            VersionState::Deleted { at: Timestamp(100) }
        );
        assert_eq!(
            VersionState::of(Some(Timestamp(5)), true, NOW),
            VersionState::Destroyed {
                deleted_at: Some(Timestamp(5))
            }
        );
        assert!(live(Some(101)).is_readable());
        assert!(!VersionState::of(Some(Timestamp(100)), false, NOW).is_readable());
        assert!(!VersionState::of(None, true, NOW).is_readable());
    }

    #[test]
    fn every_transition() {
        let deleted = VersionState::Deleted { at: Timestamp(50) };
        let destroyed = |d: Option<i64>| VersionState::Destroyed {
            deleted_at: d.map(Timestamp),
        };
        let cases = [
            (live(None), Delete, Some(VersionState::Deleted { at: NOW })),
            (
                live(Some(900)),
                Delete,
                Some(VersionState::Deleted { at: NOW }),
            ),
            (deleted, Delete, None),
            (live(None), Undelete, None),
            (live(Some(900)), Undelete, Some(live(None))),
            (deleted, Undelete, Some(live(None))),
            (live(None), Destroy, Some(destroyed(None))),
            (live(Some(900)), Destroy, Some(destroyed(Some(900)))),
            (deleted, Destroy, Some(destroyed(Some(50)))),
            (destroyed(None), Delete, None),
            (destroyed(Some(50)), Undelete, None),
            (destroyed(None), Destroy, None),
        ];
        for (from, op, to) in cases {
            assert_eq!(transition(from, op, NOW), to, "{from:?} {op:?}");
        }
    }

    #[test]
    fn retention_keeps_at_least_one_version() {
        assert_eq!(pruned_through(1, 10), 0);
        assert_eq!(pruned_through(10, 10), 0);
        assert_eq!(pruned_through(11, 10), 1);
        assert_eq!(pruned_through(5, 0), 4);
        assert_eq!(pruned_through(5, 1), 4);
        assert_eq!(max_versions(None, 10), 10);
        assert_eq!(max_versions(Some(3), 10), 3);
    }

    #[test]
    fn the_shorter_delete_after_wins_and_zero_is_unset() {
        assert_eq!(delete_version_after(None, None), None);
        assert_eq!(delete_version_after(Some(0), Some(0)), None);
        assert_eq!(delete_version_after(Some(60), None), Some(60));
        assert_eq!(delete_version_after(None, Some(30)), Some(30));
        assert_eq!(delete_version_after(Some(0), Some(30)), Some(30));
        assert_eq!(delete_version_after(Some(3600), Some(30)), Some(30));
        assert_eq!(delete_version_after(Some(30), Some(3600)), Some(30));
    }

    #[test]
    fn expiry_is_inclusive() {
        assert!(!is_expired(None, NOW));
        assert!(!is_expired(Some(Timestamp(101)), NOW));
        assert!(is_expired(Some(NOW), NOW));
        assert!(is_expired(Some(Timestamp(99)), NOW));
    }

    fn any_state() -> impl Strategy<Value = (Option<i64>, bool)> {
        (proptest::option::of(0i64..200), any::<bool>())
    }

    fn any_op() -> impl Strategy<Value = VersionOp> {
        prop_oneof![Just(Delete), Just(Undelete), Just(Destroy)]
    }

    proptest! {
        /// Over any stored state and any sequence of operations at rising instants:
        /// the stored fields round-trip, a change is a real change, destroyed is
        /// final, delete never moves a past deletion, undelete makes it readable,
        /// and a repeated operation changes nothing the second time.
        #[test]
        fn transitions_keep_the_invariants(
            (deleted_at, destroyed) in any_state(),
            ops in proptest::collection::vec((any_op(), 0i64..50), 1..12),
        ) {
            let mut now = Timestamp(100);
            let mut state = VersionState::of(deleted_at.map(Timestamp), destroyed, now);
            prop_assert_eq!(state.deleted_at(), deleted_at.map(Timestamp));
            prop_assert_eq!(state.is_destroyed(), destroyed);
            for (op, step) in ops {
                now = Timestamp(now.0 + step);
                let from = VersionState::of(state.deleted_at(), state.is_destroyed(), now);
                let Some(to) = transition(from, op, now) else {
                    if op == Delete {
                        prop_assert!(!from.is_readable());
                    }
                    state = from;
                    continue;
                };
                prop_assert_ne!(to, from);
                prop_assert!(!from.is_destroyed(), "a destroyed version changed");
                prop_assert_eq!(
                    VersionState::of(to.deleted_at(), to.is_destroyed(), now),
                    to,
                    "the stored fields of the new state read back as it"
                );
                match op {
                    Delete => {
                        prop_assert!(from.is_readable());
                        prop_assert_eq!(to, VersionState::Deleted { at: now });
                    }
                    Undelete => prop_assert!(to.is_readable() && to.deleted_at().is_none()),
                    Destroy => {
                        prop_assert!(to.is_destroyed());
                        prop_assert_eq!(to.deleted_at(), from.deleted_at());
                    }
                }
                prop_assert_eq!(transition(to, op, now), None, "{:?} twice", op);
                state = to;
            }
        }
    }
}
