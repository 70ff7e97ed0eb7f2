//! The SQLite store on its own: group commit isolates failing jobs, the audit
//! chain stays whole under concurrent writers, compare-and-set holds, and data
//! survives reopening.

use lockbox_core::{Role, Scope, Timestamp, Visibility};
use lockbox_store::*;
use std::sync::Arc;

fn audit(action: &str) -> AuditRecord {
    AuditRecord {
        workspace_id: Some("ws".into()),
        at: Timestamp(1),
        actor: "test".into(),
        action: action.into(),
        target: None,
        outcome: "ok".into(),
        request_id: None,
        detail: serde_json::json!({}),
    }
}

fn secret(id: &str, name: &str, version: u64) -> SecretRow {
    SecretRow {
        id: id.into(),
        workspace_id: "ws".into(),
        scope: Scope::Workspace,
        owner: String::new(),
        name: name.into(),
        visibility: Visibility::Masked,
        description: None,
        current_version: version,
        fingerprint: "fp".into(),
        expires_at: None,
        created_at: Timestamp(1),
        created_by: "test".into(),
        updated_at: Timestamp(1),
        updated_by: "test".into(),
    }
}

fn version(id: &str, v: u64) -> VersionRow {
    VersionRow {
        secret_id: id.into(),
        version: v,
        key_version: 1,
        sealed: vec![1, 2, 3],
        fingerprint: "fp".into(),
        created_at: Timestamp(1),
        created_by: "test".into(),
    }
}

async fn open(dir: &std::path::Path) -> Arc<SqliteStore> {
    let s = SqliteStore::open(dir).unwrap();
    let ws = WorkspaceRow {
        id: "ws".into(),
        name: "default".into(),
        settings: WorkspaceSettings::default(),
        active_key_version: 1,
        created_at: Timestamp(1),
    };
    let key = WorkspaceKeyRow {
        workspace_id: "ws".into(),
        version: 1,
        master_version: 1,
        wrapped: vec![9; 60],
    };
    if s.workspace_by_name("default").await.unwrap().is_none() {
        s.create_workspace(ws, key, None::<(String, Role)>, audit("workspace.create"))
            .await
            .unwrap();
    }
    Arc::new(s)
}

fn create(id: &str, name: &str) -> CommitVersion {
    CommitVersion {
        secret: secret(id, name, 1),
        expect: Expect::Create,
        version: version(id, 1),
        max_versions: 10,
    }
}

#[tokio::test]
async fn a_failing_job_does_not_spoil_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.commit_version(create("taken", "taken"), audit("secret.put"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            if i % 8 == 0 {
                // Same name as an existing secret: a uniqueness conflict.
                s.commit_version(create(&format!("dup{i}"), "taken"), audit("secret.put"))
                    .await
            } else {
                s.commit_version(
                    create(&format!("id{i}"), &format!("n{i}")),
                    audit("secret.put"),
                )
                .await
            }
        }));
    }
    let mut conflicts = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(()) => assert_ne!(i % 8, 0),
            Err(StoreError::Conflict) => {
                assert_eq!(i % 8, 0);
                conflicts += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(conflicts, 8);
    let report = s.verify_audit().await.unwrap();
    assert_eq!(report.broken_at, None);
    // workspace.create + the first put + 56 successful puts; failed jobs left no row.
    assert_eq!(report.rows, 58);
}

#[tokio::test]
async fn compare_and_set_admits_one_writer_per_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.commit_version(create("s", "hot"), audit("secret.put"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.commit_version(
                CommitVersion {
                    secret: secret("s", "hot", 2),
                    expect: Expect::Current(1),
                    version: version("s", 2),
                    max_versions: 10,
                },
                audit("secret.put"),
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(
        s.find_secret("ws", Scope::Workspace, "", "hot")
            .await
            .unwrap()
            .unwrap()
            .current_version,
        2
    );
}

#[tokio::test]
async fn versions_are_pruned_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    s.commit_version(create("s", "v"), audit("a"))
        .await
        .unwrap();
    for v in 2..=7u64 {
        s.commit_version(
            CommitVersion {
                secret: secret("s", "v", v),
                expect: Expect::Current(v - 1),
                version: version("s", v),
                max_versions: 3,
            },
            audit("a"),
        )
        .await
        .unwrap();
    }
    let kept: Vec<u64> = s
        .list_versions("s")
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(kept, [7, 6, 5]);
}

#[tokio::test]
async fn acknowledged_writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path()).await;
        for i in 0..20 {
            s.commit_version(create(&format!("id{i}"), &format!("n{i}")), audit("a"))
                .await
                .unwrap();
        }
    }
    let s = open(dir.path()).await;
    for i in 0..20 {
        assert!(s
            .find_secret("ws", Scope::Workspace, "", &format!("n{i}"))
            .await
            .unwrap()
            .is_some());
    }
    assert_eq!(s.verify_audit().await.unwrap().broken_at, None);
}

#[tokio::test]
async fn two_stores_on_one_file_keep_one_audit_chain() {
    // Like `lockbox keys rotate` appending while the server runs.
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path()).await;
    let b = Arc::new(SqliteStore::open(dir.path()).unwrap());
    for i in 0..10 {
        a.append_audit(vec![audit(&format!("a{i}"))]).await.unwrap();
        b.append_audit(vec![audit(&format!("b{i}"))]).await.unwrap();
    }
    let r = a.verify_audit().await.unwrap();
    assert_eq!((r.rows, r.broken_at), (21, None));
}
