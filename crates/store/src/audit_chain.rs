//! The audit log's hash chain: each row's hash covers its content and the hash of the
//! row before, so editing, inserting or deleting a row in the middle breaks every link
//! after it. Truncating the tail is not detectable from the chain alone; the server
//! logs the head hash so it can be compared externally.

use crate::rows::AuditRow;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one row given the previous row's hash.
pub fn row_hash(prev_hash: &str, row: &AuditRow) -> String {
    let canonical = serde_json::json!([
        row.seq,
        row.record.workspace_id,
        row.record.at.millis(),
        row.record.actor,
        row.record.action,
        row.record.target,
        row.record.outcome,
        row.record.request_id,
        row.record.detail,
    ]);
    let mut msg = prev_hash.as_bytes().to_vec();
    msg.push(b'\n');
    msg.extend_from_slice(canonical.to_string().as_bytes());
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &msg))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub rows: u64,
    pub head: String,
    /// The first row whose link does not hold, and why.
    pub broken_at: Option<(i64, String)>,
}

/// Verifies rows in `seq` order, starting from the genesis hash.
pub fn verify<'a>(rows: impl IntoIterator<Item = &'a AuditRow>) -> VerifyReport {
    let mut prev = GENESIS.to_string();
    let mut count = 0;
    let mut last_seq = 0;
    for row in rows {
        count += 1;
        if row.seq != last_seq + 1 {
            return VerifyReport {
                rows: count,
                head: prev,
                broken_at: Some((row.seq, format!("sequence jumps from {last_seq}"))),
            };
        }
        if row.prev_hash != prev {
            return VerifyReport {
                rows: count,
                head: prev,
                broken_at: Some((row.seq, "previous-hash link does not match".into())),
            };
        }
        let h = row_hash(&prev, row);
        if h != row.hash {
            return VerifyReport {
                rows: count,
                head: prev,
                broken_at: Some((row.seq, "row content does not match its hash".into())),
            };
        }
        prev = h;
        last_seq = row.seq;
    }
    VerifyReport {
        rows: count,
        head: prev,
        broken_at: None,
    }
}
