//! The audit log cannot be rewritten unnoticed (issue 16): the links are keyed
//! with the master key, so recomputing them after dropping rows does not verify;
//! `lockbox audit head` prints the head to keep elsewhere, the server logs it at
//! start, and `lockbox audit verify --expect-head` catches a truncated or
//! rewritten chain against it.

mod support;

use lockbox_core::Timestamp;
use lockbox_store::audit_chain::{legacy_row_hash, GENESIS};
use lockbox_store::{AuditRecord, AuditRow};
use std::path::Path;
use std::process::{Command, Output};
use support::{cli, err_text, text, ServerProcess, BIN};

fn lockbox(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("LOCKBOX_DATABASE_URL")
        .env_remove("LOCKBOX_MASTER_KEY")
        .output()
        .unwrap()
}

fn verify(data: &Path, expect: Option<&str>) -> Output {
    let mut args = vec!["audit", "verify", "--data-dir", data.to_str().unwrap()];
    if let Some(h) = expect {
        args.extend(["--expect-head", h]);
    }
    lockbox(&args)
}

fn head(data: &Path) -> String {
    let o = lockbox(&["audit", "head", "--data-dir", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err_text(&o));
    let h = text(&o).trim().to_owned();
    let (seq, hash) = h.split_once(':').expect("SEQ:HASH");
    assert!(seq.parse::<i64>().unwrap() > 0);
    assert_eq!(hash.len(), 64, "{h}");
    h
}

/// A server that wrote a few secrets and reveals, then stopped; its owner token.
fn populated(cwd: &Path) -> String {
    let mut s = ServerProcess::start(cwd, &["--data-dir", "d", "--listen", "127.0.0.1:0"], &[]);
    let token = s.token();
    for i in 0..4 {
        let o = cli(
            &s.url(),
            &token,
            &["secret", "set", &format!("s{i}")],
            Some("some-value-here"),
        );
        assert!(o.status.success(), "{}", err_text(&o));
        cli(
            &s.url(),
            &token,
            &["secret", "reveal", &format!("s{i}")],
            None,
        );
    }
    s.stop();
    token
}

/// What the 20 lines of Python did, on the SQLite file: drop rows,
/// renumber the rest, recompute every link with SHA-256 as a legacy chain does.
fn rewrite(db: &Path, drop_row: impl Fn(&str) -> bool, drop_key_version: bool) -> usize {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut rows: Vec<(AuditRow, Option<u32>)> = conn
        .prepare(
            "SELECT workspace_id, at, actor, action, target, outcome, request_id, detail, key_version \
             FROM audit_events ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| {
            let detail: String = r.get(7)?;
            Ok((
                AuditRow {
                    seq: 0,
                    record: AuditRecord {
                        workspace_id: r.get(0)?,
                        at: Timestamp(r.get(1)?),
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        outcome: r.get(5)?,
                        request_id: r.get(6)?,
                        detail: serde_json::from_str(&detail).unwrap(),
                    },
                    prev_hash: String::new(),
                    key_version: None,
                    hash: String::new(),
                    chain: None,
                },
                r.get(8)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let before = rows.len();
    rows.retain(|(r, _)| !drop_row(&r.record.action));
    conn.execute("DELETE FROM audit_events", []).unwrap();
    let mut prev = GENESIS.to_string();
    for (i, (row, key_version)) in rows.iter_mut().enumerate() {
        row.seq = i as i64 + 1;
        row.prev_hash = prev.clone();
        row.hash = legacy_row_hash(&prev, row);
        let kv = if drop_key_version { None } else { *key_version };
        let a = &row.record;
        conn.execute(
            "INSERT INTO audit_events (seq, workspace_id, at, actor, action, target, outcome, \
             request_id, detail, prev_hash, hash, key_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rusqlite::params![
                row.seq,
                a.workspace_id,
                a.at.0,
                a.actor,
                a.action,
                a.target,
                a.outcome,
                a.request_id,
                a.detail.to_string(),
                row.prev_hash,
                row.hash,
                kv
            ],
        )
        .unwrap();
        prev = row.hash.clone();
    }
    before - rows.len()
}

#[test]
fn a_recomputed_rewrite_of_the_audit_log_no_longer_verifies() {
    for drop_key_version in [false, true] {
        let cwd = tempfile::tempdir().unwrap();
        let data = cwd.path().join("d");
        populated(cwd.path());
        let ok = verify(&data, None);
        assert!(ok.status.success(), "{} {}", text(&ok), err_text(&ok));
        assert!(text(&ok).contains("keyed throughout"), "{}", text(&ok));

        let dropped = rewrite(
            &data.join("lockbox.db"),
            |action| action == "secret.reveal",
            drop_key_version,
        );
        assert_eq!(dropped, 4);
        let bad = verify(&data, None);
        assert_eq!(
            bad.status.code(),
            Some(1),
            "drop_key_version {drop_key_version}: {}",
            text(&bad)
        );
        assert!(text(&bad).contains("BROKEN at seq 1"), "{}", text(&bad));
    }
}

#[test]
fn audit_head_is_what_verify_expects_and_truncation_is_caught() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("d");
    let token = populated(cwd.path());
    let anchored = head(&data);
    let o = verify(&data, Some(&anchored));
    assert!(o.status.success(), "{} {}", text(&o), err_text(&o));
    assert!(
        text(&o).contains(&format!("head {anchored}")),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("holds"), "{}", text(&o));

    // The next start logs the same head; rows written later keep it valid.
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let o = cli(
        &s.url(),
        &token,
        &["secret", "set", "later"],
        Some("another-value"),
    );
    assert!(o.status.success(), "{}", err_text(&o));
    let log = s.stop();
    assert!(
        log.contains("audit chain head") && log.contains(&anchored),
        "the start-up log names the head {anchored}:\n{log}"
    );
    assert_ne!(head(&data), anchored);
    let o = verify(&data, Some(&anchored));
    assert!(o.status.success(), "{} {}", text(&o), err_text(&o));
    let seq: i64 = anchored.split_once(':').unwrap().0.parse().unwrap();

    // Cut the newest rows: the shorter chain is consistent, but not the anchored one.
    let conn = rusqlite::Connection::open(data.join("lockbox.db")).unwrap();
    conn.execute("DELETE FROM audit_events WHERE seq >= ?", [seq - 1])
        .unwrap();
    drop(conn);
    assert!(verify(&data, None).status.success(), "a prefix verifies");
    let o = verify(&data, Some(&anchored));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("removed"), "{}", text(&o));

    // A malformed head is refused, not ignored.
    let o = verify(&data, Some("12:not-a-hash"));
    assert!(!o.status.success());
    assert!(err_text(&o).contains("SEQ:HASH"), "{}", err_text(&o));
}

/// Per-workspace chains (issue 20): deleting every row of one workspace's chain
/// leaves valid chains, but the checkpoint `audit head` wrote names that chain's
/// head, so `audit verify` fails (with or without the saved head).
#[test]
fn a_deleted_workspace_chain_is_caught_by_the_checkpoint() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("d");
    populated(cwd.path());
    let anchored = head(&data);
    assert!(verify(&data, Some(&anchored)).status.success());
    let conn = rusqlite::Connection::open(data.join("lockbox.db")).unwrap();
    let removed = conn
        .execute(
            "DELETE FROM audit_events WHERE chain = \
             (SELECT chain FROM audit_events WHERE action = 'secret.reveal' LIMIT 1)",
            [],
        )
        .unwrap();
    assert!(removed > 4, "{removed}");
    drop(conn);
    for expect in [None, Some(anchored.as_str())] {
        let o = verify(&data, expect);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("gone"), "{}", text(&o));
    }
}
