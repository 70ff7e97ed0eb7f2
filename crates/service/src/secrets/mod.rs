//! Secrets: the operations on one secret and the rules they share, split by
//! concern:
//!
//! - `target.rs`: where a call points (workspace, scope, owner) and who acts there;
//! - `cache.rs`: secret rows and sealed versions, read through their caches;
//! - `sealing.rs`: opening a version, and the rule that a deleted or destroyed
//!   one never opens for a caller;
//! - `writer.rs`: the one version writer (compare-and-set loop, version checks,
//!   sealing, audit row, eviction);
//! - `writes.rs`: put, patch and rollback, each a step the writer runs;
//! - `reads.rs`: metadata, exists, reveal, value kind, lists, version lists;
//! - `lifecycle.rs`: rename and delete;
//! - `hosts.rs`: `allowed_hosts` patterns and how lists compare;
//! - `expiry.rs`: purging expired secrets.

mod cache;
mod expiry;
mod hosts;
mod lifecycle;
mod reads;
mod sealing;
mod target;
mod writer;
mod writes;

pub(crate) use hosts::intersect_hosts;
pub(crate) use target::{secret_key, SecretKey, Target};
pub use writer::effective_delete_after;
pub(crate) use writes::check_description;
pub use writes::{PatchDoc, PutSecret};

use lockbox_core::{Error, ErrorCode, SecretName};

pub(crate) fn not_found(name: &SecretName) -> Error {
    Error::not_found(format!("secret '{name}' not found"))
}

fn version_mismatch(name: &SecretName, want: u64, have: Option<u64>) -> Error {
    let have = have.map_or("none".to_owned(), |h| h.to_string());
    Error::new(
        ErrorCode::VersionMismatch,
        format!("'{name}' is at version {have}, not {want}"),
    )
}
