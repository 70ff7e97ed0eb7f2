//! An audit chain written before keyed links (issue 16) still verifies after the
//! migration, gets its boundary row at the next start and continues keyed; its
//! legacy part can no longer be rewritten unnoticed either.

use lockbox_core::Timestamp;
use lockbox_crypto::MasterKeyring;
use lockbox_service::{Lockbox, ServiceConfig};
use lockbox_store::audit_chain::{legacy_row_hash, GENESIS};
use lockbox_store::{AuditRecord, SqliteStore, Store};

fn legacy_record(i: i64) -> AuditRecord {
    AuditRecord {
        workspace_id: None,
        at: Timestamp(1_700_000_000_000 + i),
        actor: "user:owner".into(),
        action: format!("old.action{i}"),
        target: Some(format!("t{i}")),
        outcome: "ok".into(),
        request_id: None,
        detail: serde_json::json!({"i": i, "nested": {"b": [1, 2], "a": "x"}}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unkeyed_chain_still_verifies_after_migration_and_continues_keyed() {
    let dir = tempfile::tempdir().unwrap();
    MasterKeyring::load_or_create(dir.path()).unwrap();
    SqliteStore::create_pre_keyed_database(dir.path(), (1..=5).map(legacy_record).collect())
        .unwrap();

    let svc = Lockbox::open(dir.path(), None, ServiceConfig::default())
        .await
        .unwrap();
    // Migrated, not yet started: the legacy chain verifies as before.
    let check = svc.check_audit_chain(None).await.unwrap();
    assert!(check.ok(), "{check:?}");
    assert_eq!((check.rows, check.keyed_from), (5, None));
    let legacy_head = check.clone();
    assert_eq!(legacy_head.head_seq, 5);

    // The start writes the boundary (keyed, linked to the last legacy row), then
    // a checkpoint (per-workspace chains, issue 20), which `audit_head` returns.
    svc.start_audit().await;
    let head = svc.audit_head().await.unwrap();
    assert_eq!((head.seq, head.keyed), (7, true));
    assert!(svc.bootstrap().await.unwrap().is_some());
    let check = svc
        .check_audit_chain(Some(&lockbox_store::audit_chain::Head {
            seq: legacy_head.head_seq,
            hash: legacy_head.head_hash.clone(),
        }))
        .await
        .unwrap();
    assert!(check.ok(), "{check:?}");
    assert_eq!(check.keyed_from, Some(6));
    assert!(check.rows > 6);
    // A second start does not write another boundary.
    let before = svc.audit_head().await.unwrap().seq;
    svc.start_audit().await;
    assert_eq!(svc.audit_head().await.unwrap().seq, before);
    drop(svc);

    let store = SqliteStore::open(dir.path()).unwrap();
    let boundary = store.audit_row(6).await.unwrap().unwrap();
    assert_eq!(
        boundary.record.action,
        lockbox_service::audit::BOUNDARY_ACTION
    );
    assert_eq!(boundary.prev_hash, legacy_head.head_hash);
    let checkpoint = store.audit_row(7).await.unwrap().unwrap();
    assert_eq!(
        checkpoint.record.action,
        lockbox_store::audit_chain::CHECKPOINT_ACTION
    );
    assert_eq!(checkpoint.prev_hash, boundary.hash);
    assert_eq!(boundary.record.detail["legacy_rows"], 5);
    drop(store);

    // Rewriting the legacy part (editing a row, recomputing its SHA-256 links and
    // pointing the boundary at the new head) is caught at the boundary's key.
    let conn = rusqlite::Connection::open(dir.path().join("lockbox.db")).unwrap();
    let mut prev = GENESIS.to_string();
    for i in 1..=5i64 {
        let mut rec = legacy_record(i);
        if i == 3 {
            rec.actor = "user:someone-else".into();
        }
        let mut row = lockbox_store::AuditRow {
            seq: i,
            record: rec,
            prev_hash: prev.clone(),
            key_version: None,
            hash: String::new(),
            chain: None,
        };
        row.hash = legacy_row_hash(&prev, &row);
        conn.execute(
            "UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            rusqlite::params![row.record.actor, row.prev_hash, row.hash, i],
        )
        .unwrap();
        prev = row.hash;
    }
    conn.execute(
        "UPDATE audit_events SET prev_hash = ? WHERE seq = 6",
        [prev.as_str()],
    )
    .unwrap();
    drop(conn);
    let svc = Lockbox::open(dir.path(), None, ServiceConfig::default())
        .await
        .unwrap();
    let check = svc.check_audit_chain(None).await.unwrap();
    assert_eq!(check.broken_at.map(|b| b.0), Some(6), "{:?}", check.head);
}
