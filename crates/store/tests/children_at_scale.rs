//! `list_children` at 100,000 secrets, on both stores: a folder of 1,000
//! sub-folders (90,000 secrets below it), a folder of 100 keys, a nested mix with
//! expired secrets and entries without versions, and another scope's secrets
//! under the same names. Every listing must equal what a plain walk over the
//! seeded names says (names, folders, order), whole and in pages of several
//! sizes. The rows are seeded by one multi-row statement (no per-secret writes),
//! so each store's case runs in seconds.

use lockbox_core::{Scope, Timestamp};
use lockbox_store::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

const NOW: i64 = 1_000_000;

/// One seeded secret row, as far as listing cares.
struct Seed {
    scope: Scope,
    owner: &'static str,
    name: String,
    version: i64,
    expires_at: Option<i64>,
}

fn ws(name: &str) -> Seed {
    Seed {
        scope: Scope::Workspace,
        owner: "",
        name: name.to_owned(),
        version: 1,
        expires_at: None,
    }
}

/// 100,000 rows: `big/` (1,000 sub-folders of 90 keys), `hundred/` (100 keys),
/// `mix/` (keys, nested folders, expired secrets, entries), a user's own secrets
/// under `big/`, and flat filler.
fn seeds() -> Vec<Seed> {
    let mut out = Vec::with_capacity(100_000);
    for f in 0..1000 {
        for k in 0..90 {
            out.push(ws(&format!("big/f{f:04}/k{k:02}")));
        }
    }
    for k in 0..100 {
        out.push(ws(&format!("hundred/k{k:03}")));
    }
    for i in 0..2000 {
        let mut s = ws(&match i % 4 {
            0 => format!("mix/k{i}"),
            1 => format!("mix/d{}/x{i}", i % 50),
            2 => format!("mix/d{}/y{}/z{i}", i % 50, i % 7),
            _ => format!("mix/e{i}/deep/er/{i}"),
        });
        match i % 10 {
            3 => s.expires_at = Some(10),      // long expired
            7 => s.expires_at = Some(NOW),     // expires right now: gone
            9 => s.expires_at = Some(NOW + 1), // still live
            5 => s.version = 0,                // an entry without versions
            _ => {}
        }
        out.push(s);
    }
    for name in ["mix/a-b", "mix/a/x", "mix/a0", "mix/é/x", "mix/\u{10FFFF}"] {
        out.push(ws(name));
    }
    for i in 0..2000 {
        out.push(Seed {
            scope: Scope::User,
            owner: "u1",
            name: if i % 2 == 0 {
                format!("big/f0000/u{i}")
            } else {
                format!("big/zz_user/u{i}")
            },
            version: 1,
            expires_at: None,
        });
    }
    let mut i = 0;
    while out.len() < 100_000 {
        out.push(ws(&format!("zfill/{i:05}")));
        i += 1;
    }
    out
}

/// What a listing must answer, by a walk over every seeded name.
fn expected(seeds: &[Seed], scope: Scope, owner: &str, folder: &str, entries: bool) -> Vec<String> {
    let set: BTreeSet<String> = seeds
        .iter()
        .filter(|s| s.scope == scope && s.owner == owner)
        .filter(|s| s.expires_at.is_none_or(|e| e > NOW))
        .filter(|s| entries || s.version > 0)
        .filter_map(|s| {
            let rest = s.name.strip_prefix(folder)?;
            Some(match rest.find('/') {
                Some(i) => rest[..=i].to_owned(),
                None => rest.to_owned(),
            })
        })
        .collect();
    set.into_iter().collect()
}

fn query(scope: Scope, owner: &str, folder: &str, entries: bool) -> ChildrenQuery {
    ChildrenQuery {
        workspace_id: "ws".into(),
        scope,
        owner: owner.into(),
        folder: folder.into(),
        after: None,
        limit: 100_000,
        now: Timestamp(NOW),
        entries,
    }
}

async fn paged(s: &dyn Store, q: &ChildrenQuery, size: u32) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    loop {
        let page = s
            .list_children(ChildrenQuery {
                after: got.last().cloned(),
                limit: size,
                ..q.clone()
            })
            .await
            .unwrap()
            .children;
        assert!(page.len() <= size as usize);
        let done = page.len() < size as usize;
        got.extend(page);
        if done {
            return got;
        }
    }
}

async fn create_workspace(s: &dyn Store) {
    s.create_workspace(
        WorkspaceRow {
            id: "ws".into(),
            name: "default".into(),
            settings: WorkspaceSettings::default(),
            active_key_version: 1,
            created_at: Timestamp(1),
        },
        WorkspaceKeyRow {
            workspace_id: "ws".into(),
            version: 1,
            master_version: 1,
            wrapped: vec![1, 2, 3],
        },
        None,
        AuditRecord {
            workspace_id: Some("ws".into()),
            at: Timestamp(1),
            actor: "test".into(),
            action: "workspace.create".into(),
            target: None,
            outcome: "ok".into(),
            request_id: None,
            detail: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
}

async fn check(s: Arc<dyn Store>, seeds: &[Seed]) {
    let ws = Scope::Workspace;
    let cases: Vec<(Scope, &str, &str, bool)> = vec![
        (ws, "", "", false),
        (ws, "", "big/", false),
        (ws, "", "big/f0500/", false),
        (ws, "", "hundred/", false),
        (ws, "", "mix/", false),
        (ws, "", "mix/", true),
        (ws, "", "mix/d1/", false),
        (ws, "", "mix/d2/", true),
        (ws, "", "mix/d2/y2/", true),
        (ws, "", "mix/e3/", false),
        (ws, "", "zfill/", false),
        (ws, "", "nothing/", false),
        (Scope::User, "u1", "big/", false),
        (Scope::User, "u1", "", false),
    ];
    for (scope, owner, folder, entries) in cases {
        let want = expected(seeds, scope, owner, folder, entries);
        let q = query(scope, owner, folder, entries);
        let t = Instant::now();
        let whole = s.list_children(q.clone()).await.unwrap().children;
        let took = t.elapsed();
        assert_eq!(whole, want, "{folder:?} ({scope:?}, entries {entries})");
        eprintln!("{folder:?}: {} children in {took:?}", whole.len());
        for size in [1u32, 7, 100, 1000] {
            if size == 1 && want.len() > 200 {
                continue; // a thousand round trips prove nothing more than seven
            }
            assert_eq!(
                paged(&*s, &q, size).await,
                want,
                "{folder:?} in pages of {size}"
            );
        }
    }
    // The shapes the brief names, spelled out once.
    let big = s
        .list_children(query(ws, "", "big/", false))
        .await
        .unwrap()
        .children;
    assert_eq!(big.len(), 1000);
    assert_eq!(big.first().map(String::as_str), Some("f0000/"));
    assert_eq!(big.last().map(String::as_str), Some("f0999/"));
    assert!(big.iter().all(|c| c.ends_with('/')));
    let hundred = s
        .list_children(query(ws, "", "hundred/", false))
        .await
        .unwrap()
        .children;
    assert_eq!(hundred.len(), 100);
    assert!(hundred.iter().all(|c| !c.ends_with('/')));
    assert_eq!(
        s.list_children(query(ws, "", "", false))
            .await
            .unwrap()
            .children,
        ["big/", "hundred/", "mix/", "zfill/"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lists_the_children_of_folders_at_100k_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    create_workspace(&*s).await;
    let seeds = seeds();
    let t = Instant::now();
    {
        let mut conn = rusqlite::Connection::open(dir.path().join("lockbox.db")).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO secrets (id, workspace_id, scope, owner, name, visibility, \
                     current_version, fingerprint, expires_at, created_at, created_by, \
                     updated_at, updated_by) \
                     VALUES (?1, 'ws', ?2, ?3, ?4, 'masked', ?5, 'fp', ?6, 1, 't', 1, 't')",
                )
                .unwrap();
            for (i, r) in seeds.iter().enumerate() {
                st.execute(rusqlite::params![
                    format!("id{i}"),
                    r.scope.as_str(),
                    r.owner,
                    r.name,
                    r.version,
                    r.expires_at
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    eprintln!("seeded 100,000 rows in {:?}", t.elapsed());
    check(s, &seeds).await;
}

lockbox_testkit::needs_postgres! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_lists_the_children_of_folders_at_100k_secrets() {
        let Some(url) = lockbox_testkit::fresh_database().await else { return };
        let s: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).await.unwrap());
        create_workspace(&*s).await;
        let seeds = seeds();
        let t = Instant::now();
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let ids: Vec<String> = (0..seeds.len()).map(|i| format!("id{i}")).collect();
        let scopes: Vec<&str> = seeds.iter().map(|r| r.scope.as_str()).collect();
        let owners: Vec<&str> = seeds.iter().map(|r| r.owner).collect();
        let names: Vec<&str> = seeds.iter().map(|r| r.name.as_str()).collect();
        let versions: Vec<i64> = seeds.iter().map(|r| r.version).collect();
        let expires: Vec<Option<i64>> = seeds.iter().map(|r| r.expires_at).collect();
        client
            .execute(
                "INSERT INTO secrets (id, workspace_id, scope, owner, name, visibility, \
                 current_version, fingerprint, expires_at, created_at, created_by, \
                 updated_at, updated_by) \
                 SELECT id, 'ws', scope, owner, name, 'masked', v, 'fp', e, 1, 't', 1, 't' \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                 $6::bigint[]) AS r(id, scope, owner, name, v, e)",
                &[&ids, &scopes, &owners, &names, &versions, &expires],
            )
            .await
            .unwrap();
        client.batch_execute("ANALYZE secrets").await.unwrap();
        eprintln!("seeded 100,000 rows in {:?}", t.elapsed());
        check(s, &seeds).await;
    }
}
