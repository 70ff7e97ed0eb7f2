//! The audit log's hash chains: each row's link covers its content and the link of
//! the row before it *in its chain*, so editing, inserting or deleting a row breaks
//! every link after it in that chain.
//!
//! **One chain per workspace.** A row belongs to the chain of its workspace, or to
//! the account chain ([`ACCOUNT_CHAIN`]) when it has none; the chain is stored with
//! the row (`chain` column). `seq` is one number across all chains, unique and
//! increasing, with gaps allowed (PostgreSQL takes it from a sequence), and rows of
//! different chains may commit out of `seq` order: the order a link proves is the
//! order within a chain. Appends to different workspaces therefore lock different
//! heads (PostgreSQL `audit_heads`, one row per chain) and never wait for each other.
//! Rows written before per-workspace chains (`chain` NULL) are the start of the
//! account chain, linked as they always were (v1 encoding, `seq` consecutive from
//! 1); the account chain's first later row links to the last of them.
//!
//! Two kinds of link:
//! - **keyed** (`key_version` set): HMAC-SHA256 under the audit chain key of that
//!   master-key version ([`ChainKeys`]; derived in `lockbox-crypto`, never stored)
//!   over [`encode_row`], a fixed byte encoding (v2, which also covers the chain,
//!   for rows with a chain; v1 for the rows before). Write access to the database
//!   alone cannot recompute it.
//! - **legacy** (`key_version` NULL): SHA-256 over a JSON array, as chains were
//!   written before keyed links ([`legacy_row_hash`]). Only a store's first
//!   `legacy_rows` rows (counted when the keyed chain was introduced, see the
//!   migrations) may be legacy; the first keyed row links to the last legacy one,
//!   so the legacy prefix is covered by the key from there on.
//!
//! **Checkpoints tie the chains together.** Truncating a chain's tail, or deleting
//! a whole chain, leaves valid shorter chains. A checkpoint is a row of the account
//! chain (action [`CHECKPOINT_ACTION`], actor `system`) whose detail names the head
//! (chain, seq, link) of every other chain as it was when the checkpoint was
//! written; the server appends one at start, at its checkpoint interval when a head
//! moved, and whenever `lockbox audit head` is asked, which prints the checkpoint's
//! own head (`SEQ:HASH`, [`Head`]). [`verify_with`] checks every chain link by link
//! AND that every head named by every checkpoint still exists with that link, so
//! with a checkpoint's head saved elsewhere (`lockbox audit verify --expect-head`):
//! - editing any row breaks its own link (keyed: not recomputable without the key);
//! - removing rows from any chain's end, or a whole chain, *up to the heads the
//!   checkpoint names* removes a named head, and removing the checkpoint itself or
//!   anything before it in the account chain fails the expected head.
//!
//! What is not covered: rows appended after the newest checkpoint the verifier
//! trusts. Removing the newest rows of a chain, or a whole chain created, after
//! that checkpoint leaves valid chains; only the next checkpoint covers them (the
//! same bound as a single chain's tail after a saved head).

use crate::rows::{AuditRecord, AuditRow};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain of rows that belong to no workspace (and of every row written
/// before per-workspace chains). Workspace ids are never empty.
pub const ACCOUNT_CHAIN: &str = "";

/// The action of a checkpoint row (see the module doc).
pub const CHECKPOINT_ACTION: &str = "audit.checkpoint";

/// The chain a new row with this record is appended to.
pub fn chain_of(record: &AuditRecord) -> &str {
    record.workspace_id.as_deref().unwrap_or(ACCOUNT_CHAIN)
}

/// The chain a stored row belongs to (rows from before per-workspace chains are
/// the start of the account chain).
pub fn row_chain(row: &AuditRow) -> &str {
    row.chain.as_deref().unwrap_or(ACCOUNT_CHAIN)
}

/// The head of one chain, as a checkpoint names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChainHead {
    pub chain: String,
    pub head: Head,
}

/// A checkpoint's detail: every head it names, in chain order.
pub fn checkpoint_detail(heads: &[ChainHead]) -> serde_json::Value {
    let heads: Vec<serde_json::Value> = heads
        .iter()
        .map(|h| serde_json::json!({"chain": h.chain, "seq": h.head.seq, "hash": h.head.hash}))
        .collect();
    serde_json::json!({ "heads": heads })
}

/// The heads a checkpoint's detail names; `None` when it is not one.
pub fn checkpoint_heads(detail: &serde_json::Value) -> Option<Vec<ChainHead>> {
    detail
        .get("heads")?
        .as_array()?
        .iter()
        .map(|h| {
            Some(ChainHead {
                chain: h.get("chain")?.as_str()?.to_string(),
                head: Head {
                    seq: h.get("seq")?.as_i64()?,
                    hash: h.get("hash")?.as_str()?.to_string(),
                },
            })
        })
        .collect()
}

/// The row is a checkpoint (by where it is and what it says it is; its link
/// proves both).
pub fn is_checkpoint(row: &AuditRow) -> bool {
    row.chain.as_deref() == Some(ACCOUNT_CHAIN) && row.record.action == CHECKPOINT_ACTION
}

/// The audit chain keys, by master-key version. Implemented over the master
/// keyring by the service; the store only asks for MACs.
pub trait ChainKeys: Send + Sync {
    /// The version new rows are keyed under.
    fn active_version(&self) -> u32;
    /// HMAC-SHA256 of `msg` under the chain key of master-key `version`; an error
    /// (the version is unknown here) names the version, never key material.
    fn mac(&self, version: u32, msg: &[u8]) -> Result<[u8; 32], String>;
}

/// Where a store keeps the chain keys it was given (none: it writes legacy links,
/// which only tests do).
#[derive(Default)]
pub struct ChainKeySlot(RwLock<Option<Arc<dyn ChainKeys>>>);

impl ChainKeySlot {
    pub fn set(&self, keys: Arc<dyn ChainKeys>) {
        *self.0.write().expect("chain key lock") = Some(keys);
    }

    pub fn get(&self) -> Option<Arc<dyn ChainKeys>> {
        self.0.read().expect("chain key lock").clone()
    }
}

/// A chain head: the newest row's sequence number and link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

impl Head {
    /// Parses `SEQ:HASH` (what `lockbox audit head` prints).
    pub fn parse(text: &str) -> Option<Head> {
        let (seq, hash) = text.trim().split_once(':')?;
        let seq: i64 = seq.parse().ok()?;
        let hash = hash.to_ascii_lowercase();
        (seq >= 0 && hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(Head { seq, hash })
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// The head as a store keeps it, with how much of the chain is legacy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    pub head: Head,
    /// The newest row is keyed.
    pub head_keyed: bool,
    /// Rows that may carry legacy links (the chain's length when keyed links
    /// were introduced); every later row must be keyed.
    pub legacy_rows: i64,
}

impl ChainState {
    /// The chain has legacy rows and nothing keyed after them yet: the process
    /// that holds the key should append the boundary row.
    pub fn boundary_pending(&self) -> bool {
        self.legacy_rows > 0 && self.head.seq == self.legacy_rows && !self.head_keyed
    }
}

/// How many leading rows of `rows` (in `seq` order) carry legacy links.
pub fn legacy_prefix(rows: &[AuditRow]) -> i64 {
    rows.iter().take_while(|r| r.key_version.is_none()).count() as i64
}

/// The hash of one legacy row given the previous row's hash: SHA-256 over
/// `prev || "\n" ||` [`legacy_encoding`].
pub fn legacy_row_hash(prev_hash: &str, row: &AuditRow) -> String {
    let mut msg = prev_hash.as_bytes().to_vec();
    msg.push(b'\n');
    msg.extend_from_slice(&legacy_encoding(row));
    hex::encode(lockbox_crypto::sha256(&msg))
}

/// The bytes a legacy link covers after the previous hash: the JSON array
/// `[seq, workspace_id, at, actor, action, target, outcome, request_id, detail]`
/// exactly as legacy chains were written, which was `serde_json::json!(…)
/// .to_string()` with serde_json's default features: compact, object keys in
/// bytewise order (its default map is a `BTreeMap`), floats as `zmij` prints them
/// (serde_json 1.0.154; earlier releases printed them with `ryu`, which writes
/// `1e300` where `zmij` writes `1e+300`: audit details hold no floats, so no
/// stored link depends on the difference). Written out by hand because those
/// chains must keep verifying whatever a later serde_json does or whichever
/// features a build turns on (`preserve_order` would reorder keys,
/// `arbitrary_precision` would reprint numbers).
pub fn legacy_encoding(row: &AuditRow) -> Vec<u8> {
    let r = &row.record;
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    out.extend_from_slice(row.seq.to_string().as_bytes());
    out.push(b',');
    json_opt_str(&mut out, r.workspace_id.as_deref());
    out.push(b',');
    out.extend_from_slice(r.at.millis().to_string().as_bytes());
    for field in [&r.actor, &r.action] {
        out.push(b',');
        json_str(&mut out, field);
    }
    out.push(b',');
    json_opt_str(&mut out, r.target.as_deref());
    out.push(b',');
    json_str(&mut out, &r.outcome);
    out.push(b',');
    json_opt_str(&mut out, r.request_id.as_deref());
    out.push(b',');
    json_value(&mut out, &r.detail);
    out.push(b']');
    out
}

fn json_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.extend_from_slice(b"null"),
        Some(s) => json_str(out, s),
    }
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, the control
/// characters below 0x20 as `\b \t \n \f \r` or `\u00xx` (lowercase hex),
/// everything else (DEL, non-ASCII, `/`) as it is.
fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn json_value(out: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                match n.as_f64().filter(|f| f.is_finite()) {
                    Some(f) => {
                        out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes())
                    }
                    None => out.extend_from_slice(b"null"),
                }
            }
        }
        Value::String(s) => json_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_value(out, x);
            }
            out.push(b']');
        }
        Value::Object(o) => {
            out.push(b'{');
            let mut fields: Vec<_> = o.iter().collect();
            fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (i, (k, x)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, k);
                out.push(b':');
                json_value(out, x);
            }
            out.push(b'}');
        }
    }
}

/// The bytes a keyed link covers. Version 1, for rows written before
/// per-workspace chains (`chain` NULL):
///
/// ```text
/// "lockbox.audit-row.v1" 0x00
/// key_version u32 | seq i64 | lp(prev_hash)
/// opt(workspace_id) | at i64 (ms) | lp(actor) | lp(action) | opt(target)
/// lp(outcome) | opt(request_id) | value(detail)
/// ```
///
/// Version 2, for rows with a chain, the same with the chain before the link:
///
/// ```text
/// "lockbox.audit-row.v2" 0x00
/// key_version u32 | seq i64 | lp(chain) | lp(prev_hash)
/// (the rest as in version 1)
/// ```
///
/// Integers are big-endian; `lp(x)` is a u32 length then the bytes; `opt(x)` is
/// `0x00` for none or `0x01 lp(x)`. `value` encodes JSON by type, independent of
/// any serializer's output: `n` null, `t`/`f`, `i` i64, `u` u64, `d` f64 bits,
/// `s lp(text)`, `a` count then items, `o` count then `lp(key) value` in
/// bytewise key order.
pub fn encode_row(key_version: u32, row: &AuditRow) -> Vec<u8> {
    let r = &row.record;
    let mut out = Vec::with_capacity(256);
    match &row.chain {
        None => {
            out.extend_from_slice(b"lockbox.audit-row.v1\0");
            out.extend_from_slice(&key_version.to_be_bytes());
            out.extend_from_slice(&row.seq.to_be_bytes());
        }
        Some(chain) => {
            out.extend_from_slice(b"lockbox.audit-row.v2\0");
            out.extend_from_slice(&key_version.to_be_bytes());
            out.extend_from_slice(&row.seq.to_be_bytes());
            lp(&mut out, chain.as_bytes());
        }
    }
    lp(&mut out, row.prev_hash.as_bytes());
    opt(&mut out, r.workspace_id.as_deref());
    out.extend_from_slice(&r.at.millis().to_be_bytes());
    lp(&mut out, r.actor.as_bytes());
    lp(&mut out, r.action.as_bytes());
    opt(&mut out, r.target.as_deref());
    lp(&mut out, r.outcome.as_bytes());
    opt(&mut out, r.request_id.as_deref());
    value(&mut out, &r.detail);
    out
}

fn lp(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            lp(out, s.as_bytes());
        }
    }
}

fn value(out: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push(b'n'),
        Value::Bool(true) => out.push(b't'),
        Value::Bool(false) => out.push(b'f'),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(b'i');
                out.extend_from_slice(&i.to_be_bytes());
            } else if let Some(u) = n.as_u64() {
                out.push(b'u');
                out.extend_from_slice(&u.to_be_bytes());
            } else {
                out.push(b'd');
                out.extend_from_slice(&n.as_f64().unwrap_or(f64::NAN).to_bits().to_be_bytes());
            }
        }
        Value::String(s) => {
            out.push(b's');
            lp(out, s.as_bytes());
        }
        Value::Array(a) => {
            out.push(b'a');
            out.extend_from_slice(&(a.len() as u32).to_be_bytes());
            for x in a {
                value(out, x);
            }
        }
        Value::Object(o) => {
            out.push(b'o');
            out.extend_from_slice(&(o.len() as u32).to_be_bytes());
            let mut fields: Vec<_> = o.iter().collect();
            fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (k, x) in fields {
                lp(out, k.as_bytes());
                value(out, x);
            }
        }
    }
}

/// The keyed link of `row` under chain key `version`.
pub fn keyed_row_hash(
    keys: &dyn ChainKeys,
    version: u32,
    row: &AuditRow,
) -> Result<String, String> {
    keys.mac(version, &encode_row(version, row))
        .map(hex::encode)
}

/// Fills in `row.key_version` and `row.hash` (its `seq`, `chain` and `prev_hash`
/// set): keyed under the active version when `keys` is given, else a legacy link
/// (which does not cover the chain: only stores given no key, in tests, write them).
pub fn seal_row(keys: Option<&dyn ChainKeys>, row: &mut AuditRow) -> Result<(), String> {
    match keys {
        Some(k) => {
            let v = k.active_version();
            row.key_version = Some(v);
            row.hash = keyed_row_hash(k, v, row)?;
        }
        None => {
            row.key_version = None;
            row.hash = legacy_row_hash(&row.prev_hash, row);
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub rows: u64,
    /// The link of the last row that verified (the genesis hash for none).
    pub head: String,
    /// The sequence number of that row (0 for none).
    pub head_seq: i64,
    /// The first keyed row, if any.
    pub keyed_from: Option<i64>,
    /// The first row whose link does not hold, and why.
    pub broken_at: Option<(i64, String)>,
}

/// How strictly [`verify_with`] judges legacy links.
#[derive(Clone, Copy)]
pub struct Rules<'k> {
    /// Keys for keyed links; without them a keyed row cannot be checked and
    /// counts as broken.
    pub keys: Option<&'k dyn ChainKeys>,
    /// Rows after this sequence number must be keyed; `None` accepts legacy
    /// links anywhere before the first keyed one (a store that was given no keys).
    pub legacy_rows: Option<i64>,
}

/// Verifies rows in `seq` order from the genesis hash, accepting legacy links
/// before the first keyed row and checking keyed rows only when `keys` is given.
/// Prefer [`verify_with`]: this is the lenient form.
pub fn verify<'a>(rows: impl IntoIterator<Item = &'a AuditRow>) -> VerifyReport {
    verify_with(
        rows,
        Rules {
            keys: None,
            legacy_rows: None,
        },
    )
}

/// Verifies rows in `seq` order: each chain from the genesis hash, link by link,
/// and every head each checkpoint names (see the module doc). Stops at the first
/// row (by `seq`) that does not hold.
pub fn verify_with<'a>(
    rows: impl IntoIterator<Item = &'a AuditRow>,
    rules: Rules<'_>,
) -> VerifyReport {
    let rows: Vec<&AuditRow> = rows.into_iter().collect();
    let by_seq: HashMap<i64, &AuditRow> = rows.iter().map(|r| (r.seq, *r)).collect();
    /// Where a chain stands after the rows seen so far.
    struct Tip {
        seq: i64,
        hash: String,
        keyed: bool,
        /// A row with a chain (v2) was seen: rows from before chains may not follow.
        chained: bool,
    }
    let mut tips: HashMap<&str, Tip> = HashMap::new();
    let mut report = VerifyReport {
        rows: 0,
        head: GENESIS.to_string(),
        head_seq: 0,
        keyed_from: None,
        broken_at: None,
    };
    for row in rows {
        report.rows += 1;
        let broken = |why: String| Some((row.seq, why));
        if row.seq <= report.head_seq {
            report.broken_at = broken(format!(
                "sequence does not increase after {}",
                report.head_seq
            ));
            return report;
        }
        let tip = tips.entry(row_chain(row)).or_insert_with(|| Tip {
            seq: 0,
            hash: GENESIS.to_string(),
            keyed: false,
            chained: false,
        });
        if row.chain.is_none() {
            if tip.chained {
                report.broken_at = broken(
                    "a row from before per-workspace chains follows rows of the account chain"
                        .into(),
                );
                return report;
            }
            // Rows before per-workspace chains were one chain numbered without gaps.
            if row.seq != tip.seq + 1 {
                report.broken_at = broken(format!("sequence jumps from {}", tip.seq));
                return report;
            }
        }
        if row.prev_hash != tip.hash {
            report.broken_at = broken("previous-hash link does not match".into());
            return report;
        }
        let expected = match row.key_version {
            None => {
                if tip.keyed {
                    report.broken_at =
                        broken("a row without a keyed link follows keyed rows".into());
                    return report;
                }
                if let Some(limit) = rules.legacy_rows {
                    if row.seq > limit {
                        report.broken_at = broken(format!(
                            "row has no keyed link, but only the first {limit} row(s) predate keyed links"
                        ));
                        return report;
                    }
                }
                legacy_row_hash(&tip.hash, row)
            }
            Some(v) => {
                let Some(keys) = rules.keys else {
                    report.broken_at = broken("keyed row, and no key to check it".into());
                    return report;
                };
                match keyed_row_hash(keys, v, row) {
                    Ok(h) => h,
                    Err(e) => {
                        report.broken_at = broken(format!("cannot check the keyed link: {e}"));
                        return report;
                    }
                }
            }
        };
        if expected != row.hash {
            report.broken_at = broken("row content does not match its hash".into());
            return report;
        }
        if is_checkpoint(row) {
            if let Some(why) = check_checkpoint(row, &by_seq) {
                report.broken_at = broken(why);
                return report;
            }
        }
        if row.key_version.is_some() && report.keyed_from.is_none() {
            report.keyed_from = Some(row.seq);
        }
        tip.seq = row.seq;
        tip.keyed |= row.key_version.is_some();
        tip.chained |= row.chain.is_some();
        tip.hash = expected.clone();
        report.head = expected;
        report.head_seq = row.seq;
    }
    report
}

/// Every head a (verified) checkpoint names must still be there: the row at that
/// seq, in that chain, with that link. `None` when they all are, else why not.
fn check_checkpoint(row: &AuditRow, by_seq: &HashMap<i64, &AuditRow>) -> Option<String> {
    let Some(heads) = checkpoint_heads(&row.record.detail) else {
        return Some("a checkpoint whose detail names no heads".into());
    };
    for h in heads {
        match by_seq.get(&h.head.seq) {
            None => {
                return Some(format!(
                    "this checkpoint names the head of chain {:?} at seq {}, which is gone: \
                     rows were removed from that chain",
                    h.chain, h.head.seq
                ))
            }
            Some(r) if row_chain(r) != h.chain || r.hash != h.head.hash => {
                return Some(format!(
                    "this checkpoint names the head of chain {:?} at seq {} with link {}, \
                     and that row is not it: the chain was rewritten",
                    h.chain, h.head.seq, h.head.hash
                ))
            }
            Some(_) => {}
        }
    }
    None
}

/// Checks a verified chain against a head saved earlier: the row at `expect.seq`
/// must still exist and carry `expect.hash`. `None` when it holds, else why not.
pub fn check_expected_head(
    report: &VerifyReport,
    at_seq: Option<&AuditRow>,
    expect: &Head,
) -> Option<String> {
    if let Some((seq, _)) = &report.broken_at {
        if *seq <= expect.seq {
            return Some(format!(
                "the chain is broken at seq {seq}, before the expected head"
            ));
        }
    }
    if report.head_seq < expect.seq {
        return Some(format!(
            "the chain ends at seq {}, before the expected head at seq {}: rows were removed from its end",
            report.head_seq, expect.seq
        ));
    }
    let Some(row) = at_seq.filter(|r| r.seq == expect.seq) else {
        if expect.seq == 0 && expect.hash == GENESIS {
            return None;
        }
        return Some(format!("no row at seq {}", expect.seq));
    };
    if row.hash.to_ascii_lowercase() != expect.hash {
        return Some(format!(
            "the row at seq {} has link {}, not the expected {}: the chain was rewritten",
            expect.seq, row.hash, expect.hash
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::AuditRecord;
    use lockbox_core::Timestamp;

    /// Chain keys as the service derives them, from a fixed master key.
    struct TestKeys;
    impl ChainKeys for TestKeys {
        fn active_version(&self) -> u32 {
            1
        }
        fn mac(&self, version: u32, msg: &[u8]) -> Result<[u8; 32], String> {
            let ring = lockbox_crypto::MasterKeyring::from_key_bytes([9u8; 32]);
            let key = ring.audit_chain_key(version).map_err(|e| e.to_string())?;
            Ok(key.mac(msg))
        }
    }

    fn record(action: &str, detail: serde_json::Value) -> AuditRecord {
        AuditRecord {
            workspace_id: Some("w".into()),
            at: Timestamp(1_000),
            actor: "user:a".into(),
            action: action.into(),
            target: None,
            outcome: "ok".into(),
            request_id: None,
            detail,
        }
    }

    fn chain(keys: Option<&dyn ChainKeys>, from: &[AuditRow], n: usize) -> Vec<AuditRow> {
        let mut rows = from.to_vec();
        for i in 0..n {
            let prev = rows.last();
            let mut row = AuditRow {
                seq: prev.map_or(1, |r| r.seq + 1),
                record: record("a.b", serde_json::json!({"i": i, "z": [1, "x"], "a": null})),
                prev_hash: prev.map_or(GENESIS.to_string(), |r| r.hash.clone()),
                key_version: None,
                hash: String::new(),
                chain: None,
            };
            seal_row(keys, &mut row).unwrap();
            rows.push(row);
        }
        rows
    }

    fn strict(legacy: i64) -> Rules<'static> {
        Rules {
            keys: Some(&TestKeys),
            legacy_rows: Some(legacy),
        }
    }

    #[test]
    fn keyed_rows_verify_and_a_legacy_prefix_continues_keyed() {
        let legacy = chain(None, &[], 3);
        assert_eq!(verify_with(&legacy, strict(3)).broken_at, None);
        let all = chain(Some(&TestKeys), &legacy, 4);
        let r = verify_with(&all, strict(3));
        assert_eq!((r.broken_at, r.keyed_from, r.head_seq), (None, Some(4), 7));
        assert_eq!(r.head, all[6].hash);
        // Without the key, keyed rows cannot be checked.
        assert!(verify(&all).broken_at.is_some());
    }

    #[test]
    fn recomputing_plain_hashes_does_not_verify() {
        let mut rows = chain(Some(&TestKeys), &[], 5);
        rows.remove(2);
        // The attacker renumbers and recomputes every link, keyed rows as SHA-256
        // (the only hash they can compute).
        let mut prev = GENESIS.to_string();
        for (i, r) in rows.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
            r.prev_hash = prev.clone();
            r.hash = legacy_row_hash(&prev, r);
            prev = r.hash.clone();
        }
        assert!(verify_with(&rows, strict(0)).broken_at.is_some());
        // Dropping the key version too makes them legacy rows past the legacy prefix.
        for r in &mut rows {
            r.key_version = None;
        }
        assert_eq!(
            verify_with(&rows, strict(0)).broken_at.map(|b| b.0),
            Some(1)
        );
    }

    #[test]
    fn a_legacy_row_after_a_keyed_one_breaks() {
        let keyed = chain(Some(&TestKeys), &[], 2);
        let mixed = chain(None, &keyed, 1);
        assert_eq!(
            verify_with(&mixed, strict(0)).broken_at.map(|b| b.0),
            Some(3)
        );
        assert_eq!(verify(&mixed).broken_at.map(|b| b.0), Some(1));
    }

    #[test]
    fn the_encoding_ignores_key_order_and_binds_every_field() {
        let mut a = chain(Some(&TestKeys), &[], 1).remove(0);
        let mut b = a.clone();
        b.record.detail = serde_json::from_str(r#"{"z":[1,"x"],"a":null,"i":0}"#).unwrap();
        assert_eq!(encode_row(1, &a), encode_row(1, &b));
        for edit in 0..8 {
            let mut c = a.clone();
            match edit {
                0 => c.record.workspace_id = None,
                1 => c.record.at = Timestamp(1_001),
                2 => c.record.actor.push('x'),
                3 => c.record.target = Some(String::new()),
                4 => c.record.outcome = "denied:forbidden".into(),
                5 => c.record.request_id = Some("r".into()),
                6 => c.record.detail = serde_json::json!({"i": 0.5}),
                _ => c.prev_hash = GENESIS.replace('0', "1"),
            }
            assert_ne!(encode_row(1, &a), encode_row(1, &c), "edit {edit}");
        }
        // A string that spells another field's boundary does not collide.
        a.record.actor = "ab".into();
        a.record.action = "c".into();
        b = a.clone();
        b.record.actor = "a".into();
        b.record.action = "bc".into();
        assert_ne!(encode_row(1, &a), encode_row(1, &b));
    }

    #[test]
    fn expected_heads_catch_truncation_and_rewriting() {
        let rows = chain(Some(&TestKeys), &[], 5);
        let report = verify_with(&rows, strict(0));
        let head = Head {
            seq: 5,
            hash: rows[4].hash.clone(),
        };
        assert_eq!(Head::parse(&head.to_string()), Some(head.clone()));
        assert_eq!(check_expected_head(&report, Some(&rows[4]), &head), None);
        // An older head still holds on a longer chain.
        let older = Head {
            seq: 3,
            hash: rows[2].hash.clone(),
        };
        assert_eq!(check_expected_head(&report, Some(&rows[2]), &older), None);
        // Truncated to 4 rows.
        let short = verify_with(&rows[..4], strict(0));
        assert!(check_expected_head(&short, None, &head)
            .unwrap()
            .contains("removed"));
        // A different row at that seq.
        let mut other = rows[4].clone();
        other.hash = rows[3].hash.clone();
        assert!(check_expected_head(&report, Some(&other), &head).is_some());
        assert_eq!(Head::parse("5:xyz"), None);
        assert_eq!(Head::parse("nope"), None);
    }

    /// What legacy links hashed before [`legacy_encoding`] existed, verbatim.
    fn serde_json_encoding(row: &AuditRow) -> String {
        serde_json::json!([
            row.seq,
            row.record.workspace_id,
            row.record.at.millis(),
            row.record.actor,
            row.record.action,
            row.record.target,
            row.record.outcome,
            row.record.request_id,
            row.record.detail,
        ])
        .to_string()
    }

    /// A record that exercises every branch of the encoding: escapes, non-ASCII,
    /// key order, every number kind, nesting.
    fn frozen_row() -> AuditRow {
        AuditRow {
            seq: 42,
            record: AuditRecord {
                workspace_id: Some("ws-0123".into()),
                at: Timestamp(1_764_000_000_123),
                actor: "user:zoë \"admin\"".into(),
                action: "secret.delete_versions".into(),
                target: Some("stripe/key\\tab\t\u{1}\u{7f}/é🔑".into()),
                outcome: "ok".into(),
                request_id: None,
                detail: serde_json::json!({
                    "versions": [1, 2, 3],
                    "scope": "workspace",
                    "Z": null,
                    "a\nb": {"y": true, "x": false, "é": -7},
                    "big": u64::MAX,
                    "min": i64::MIN,
                    "half": 0.5,
                    "tiny": 1e-7,
                    "huge": 1.5e300,
                    "empty": {},
                    "none": [],
                }),
            },
            prev_hash: "ab".repeat(32),
            key_version: None,
            hash: String::new(),
            chain: None,
        }
    }

    #[test]
    fn the_legacy_encoding_is_what_serde_json_wrote() {
        let row = frozen_row();
        assert_eq!(
            String::from_utf8(legacy_encoding(&row)).unwrap(),
            serde_json_encoding(&row)
        );
        for detail in [
            serde_json::json!(null),
            serde_json::json!("\u{0}\u{8}\u{c}\r\u{1f} \"\\/"),
            serde_json::json!([1.0, -0.0, 123456789.125, 1e21, 3e-5, f64::MAX]),
            serde_json::json!({"b": {"a": [{}]}, "a": "", "aa": 1, "A": 2, "\u{e9}": 3, "z": 4}),
        ] {
            let mut r = row.clone();
            r.record.detail = detail;
            r.record.request_id = Some("req-1".into());
            r.record.workspace_id = None;
            assert_eq!(
                String::from_utf8(legacy_encoding(&r)).unwrap(),
                serde_json_encoding(&r)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn the_legacy_encoding_matches_serde_json_on_any_text_and_numbers(
            text in "\\PC*|[\\x00-\\x7f]*",
            key in "\\PC*|[\\x00-\\x7f]*",
            i in proptest::num::i64::ANY,
            u in proptest::num::u64::ANY,
            f in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
        ) {
            let mut row = frozen_row();
            row.record.actor = text.clone();
            row.record.target = Some(key.clone());
            let mut detail = serde_json::Map::new();
            detail.insert(key, serde_json::json!([text, i, u, f]));
            detail.insert("k".into(), serde_json::json!({"i": i}));
            row.record.detail = serde_json::Value::Object(detail);
            proptest::prop_assert_eq!(
                String::from_utf8(legacy_encoding(&row)).unwrap(),
                serde_json_encoding(&row)
            );
        }
    }

    /// Frozen vectors: a legacy and a keyed link of a fixed row. If either changes,
    /// every stored chain stops verifying.
    #[test]
    fn frozen_links() {
        let row = frozen_row();
        assert_eq!(legacy_row_hash(&row.prev_hash, &row), FROZEN_LEGACY_LINK);
        assert_eq!(
            keyed_row_hash(&TestKeys, 1, &row).unwrap(),
            FROZEN_KEYED_LINK
        );
    }

    /// The v2 link (a row with a chain) of the same row: another frozen vector.
    #[test]
    fn frozen_v2_link() {
        let mut row = frozen_row();
        row.chain = Some("ws-0123".into());
        let v2 = keyed_row_hash(&TestKeys, 1, &row).unwrap();
        assert_eq!(v2, FROZEN_KEYED_V2_LINK);
        assert_ne!(v2, FROZEN_KEYED_LINK);
        // The chain is covered: the same row in another chain links differently.
        row.chain = Some(ACCOUNT_CHAIN.into());
        assert_ne!(
            keyed_row_hash(&TestKeys, 1, &row).unwrap(),
            FROZEN_KEYED_V2_LINK
        );
    }

    /// Appends one row to `chain` of `rows` (keyed), as the stores do.
    fn append(rows: &mut Vec<AuditRow>, chain: &str, action: &str, detail: serde_json::Value) {
        let prev = rows
            .iter()
            .rev()
            .find(|r| row_chain(r) == chain)
            .map_or(GENESIS.to_string(), |r| r.hash.clone());
        let mut rec = record(action, detail);
        rec.workspace_id = (chain != ACCOUNT_CHAIN).then(|| chain.to_string());
        let mut row = AuditRow {
            // Gaps, as a PostgreSQL sequence leaves them.
            seq: rows.last().map_or(1, |r| r.seq + 2),
            record: rec,
            prev_hash: prev,
            key_version: None,
            hash: String::new(),
            chain: Some(chain.to_string()),
        };
        seal_row(Some(&TestKeys), &mut row).unwrap();
        rows.push(row);
    }

    fn checkpoint(rows: &mut Vec<AuditRow>) -> Head {
        let mut heads: HashMap<&str, &AuditRow> = HashMap::new();
        for r in rows.iter() {
            heads.insert(row_chain(r), r);
        }
        let mut named: Vec<ChainHead> = heads
            .into_iter()
            .filter(|(c, _)| *c != ACCOUNT_CHAIN)
            .map(|(c, r)| ChainHead {
                chain: c.to_string(),
                head: Head {
                    seq: r.seq,
                    hash: r.hash.clone(),
                },
            })
            .collect();
        named.sort();
        append(
            rows,
            ACCOUNT_CHAIN,
            CHECKPOINT_ACTION,
            checkpoint_detail(&named),
        );
        let last = rows.last().unwrap();
        Head {
            seq: last.seq,
            hash: last.hash.clone(),
        }
    }

    /// Legacy and v1 rows, then interleaved chains w1, w2 and the account chain,
    /// a checkpoint, and one more row in w1 after it.
    fn chains() -> (Vec<AuditRow>, Head) {
        let mut rows = chain(Some(&TestKeys), &chain(None, &[], 2), 2);
        for i in 0..3 {
            append(&mut rows, "w1", "a.w1", serde_json::json!({"i": i}));
            append(&mut rows, "w2", "a.w2", serde_json::json!({"i": i}));
            append(
                &mut rows,
                ACCOUNT_CHAIN,
                "a.acct",
                serde_json::json!({"i": i}),
            );
        }
        let head = checkpoint(&mut rows);
        append(&mut rows, "w1", "a.w1", serde_json::json!({"after": true}));
        (rows, head)
    }

    fn check(rows: &[AuditRow], head: &Head) -> Option<String> {
        let r = verify_with(rows, strict(2));
        let at = rows.iter().find(|x| x.seq == head.seq);
        let expected = check_expected_head(&r, at, head);
        r.broken_at
            .map(|(s, why)| format!("{s}: {why}"))
            .or(expected)
    }

    #[test]
    fn chains_verify_each_linearly_and_checkpoints_hold() {
        let (rows, head) = chains();
        let r = verify_with(&rows, strict(2));
        assert_eq!(r.broken_at, None);
        assert_eq!((r.rows, r.keyed_from), (15, Some(3)));
        assert_eq!(r.head, rows.last().unwrap().hash);
        assert_eq!(check(&rows, &head), None);
        // The account chain continues the rows from before chains.
        let first_acct = rows
            .iter()
            .find(|r| r.chain.as_deref() == Some(""))
            .unwrap();
        assert_eq!(first_acct.prev_hash, rows[3].hash);
        // Each workspace chain starts from genesis.
        let first_w1 = rows
            .iter()
            .find(|r| r.chain.as_deref() == Some("w1"))
            .unwrap();
        assert_eq!(first_w1.prev_hash, GENESIS);
    }

    #[test]
    fn deleting_a_whole_chain_before_a_checkpoint_is_caught() {
        let (rows, head) = chains();
        let rest: Vec<AuditRow> = rows
            .iter()
            .filter(|r| row_chain(r) != "w2")
            .cloned()
            .collect();
        let why = check(&rest, &head).unwrap();
        assert!(why.contains("\"w2\"") && why.contains("gone"), "{why}");
    }

    #[test]
    fn truncating_a_chain_before_a_checkpoint_is_caught() {
        let (rows, head) = chains();
        let last_w2 = rows.iter().rposition(|r| row_chain(r) == "w2").unwrap();
        let mut cut = rows.clone();
        cut.remove(last_w2);
        let why = check(&cut, &head).unwrap();
        assert!(why.contains("gone"), "{why}");
        // Cutting the account chain back before the checkpoint fails the saved head.
        let cp = rows.iter().position(|r| r.seq == head.seq).unwrap();
        let cut: Vec<AuditRow> = rows
            .iter()
            .enumerate()
            .filter(|(i, r)| *i < cp || row_chain(r) != ACCOUNT_CHAIN)
            .map(|(_, r)| r.clone())
            .collect();
        assert!(check(&cut, &head).is_some());
        // What the guarantee does not cover: w1's row after the checkpoint.
        let mut tail = rows.clone();
        tail.pop();
        assert_eq!(check(&tail, &head), None);
    }

    #[test]
    fn editing_any_row_is_caught() {
        let (rows, head) = chains();
        for i in 0..rows.len() {
            let mut edited = rows.clone();
            edited[i].record.actor.push('!');
            let why = check(&edited, &head);
            assert!(why.is_some(), "row {i}");
            // Moving a row to another chain breaks its link too.
            let mut moved = rows.clone();
            if moved[i].chain.is_some() {
                moved[i].chain = Some("w9".into());
                assert!(check(&moved, &head).is_some(), "row {i} moved");
            }
        }
    }

    const FROZEN_KEYED_V2_LINK: &str =
        "aa11c88a29e554a21eddeab9afe79e5da80e1a323fcfe241d3fc003d35f1a0d6";
    const FROZEN_LEGACY_LINK: &str =
        "eaff05186e435fae920993f708e7112895d16237772c31bdedbe762c118a96ef";
    const FROZEN_KEYED_LINK: &str =
        "c0382ec7bdc2bca05ac5afca542b45516feaeea824519b219e7a528116f0fa80";
}
