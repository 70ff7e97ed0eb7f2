//! One conformance suite for every [`Store`] backend: each case runs against
//! SQLite (in a temp dir) and against PostgreSQL (in a schema of its own), and must
//! give the same answers on both — same rows, same ordering, same Conflict cases,
//! same audit rows. A few cases exist only for PostgreSQL: several processes on
//! one database (compare-and-set, audit chain, change feed, concurrent startup).
//!
//! PostgreSQL runs when `LOCKBOX_TEST_DATABASE_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); without it those cases are
//! reported as ignored ("needs LOCKBOX_TEST_DATABASE_URL"), unless
//! `LOCKBOX_REQUIRE_POSTGRES=1`, which makes them fail instead.

use lockbox_core::{Role, Scope, Timestamp, Visibility};
use lockbox_store::*;
use std::io::Write;
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::sync::broadcast;

// ---------------------------------------------------------------------------
// Where a case runs

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

/// One empty database for a case: a temp dir for SQLite, a fresh schema
/// `t_<random hex>` for PostgreSQL (dropped when this is dropped, best effort).
/// Any number of store instances can be opened on it.
struct Db {
    kind: Kind,
    dir: Option<tempfile::TempDir>,
    pg: Option<PgSchema>,
}

struct PgSchema {
    url: String,
    schema: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Our own runtime on our own thread: this may run inside a test's runtime
        // or while a panic unwinds.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

static SKIP_NOTICE: Once = Once::new();

fn postgres_url() -> Option<String> {
    match std::env::var("LOCKBOX_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("LOCKBOX_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("LOCKBOX_REQUIRE_POSTGRES=1 but LOCKBOX_TEST_DATABASE_URL is not set");
            }
            SKIP_NOTICE.call_once(|| {
                // Straight to the process's stderr, past the test harness's capture.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping PostgreSQL conformance cases: LOCKBOX_TEST_DATABASE_URL is not set"
                );
            });
            None
        }
    }
}

fn random_hex(n: usize) -> String {
    hex::encode(&lockbox_crypto::random_bytes::<32>()[..n])
}

impl Db {
    fn sqlite() -> Db {
        Db {
            kind: Kind::Sqlite,
            dir: Some(tempfile::tempdir().unwrap()),
            pg: None,
        }
    }

    /// `None` when PostgreSQL is not configured (the case is skipped).
    fn postgres() -> Option<Db> {
        let url = postgres_url()?;
        Some(Db {
            kind: Kind::Postgres,
            dir: None,
            pg: Some(PgSchema {
                url,
                schema: format!("t_{}", random_hex(8)),
            }),
        })
    }

    fn of(kind: Kind) -> Option<Db> {
        match kind {
            Kind::Sqlite => Some(Db::sqlite()),
            Kind::Postgres => Db::postgres(),
        }
    }

    /// A new store instance on this database.
    async fn open(&self) -> Arc<dyn Store> {
        match self.kind {
            Kind::Sqlite => Arc::new(SqliteStore::open(self.dir.as_ref().unwrap().path()).unwrap()),
            Kind::Postgres => self.open_pg().await,
        }
    }

    async fn open_pg(&self) -> Arc<PostgresStore> {
        let pg = self.pg.as_ref().expect("a PostgreSQL database");
        Arc::new(
            PostgresStore::connect_in_schema(&pg.url, &pg.schema)
                .await
                .unwrap(),
        )
    }

    /// A raw connection in this test's schema, for edits behind the store's back.
    async fn pg_client(&self) -> tokio_postgres::Client {
        let pg = self.pg.as_ref().expect("a PostgreSQL database");
        let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("SET search_path TO {}", pg.schema))
            .await
            .unwrap();
        client
    }

    /// Runs SQL (valid in both dialects) straight on the database.
    async fn exec_raw(&self, sql: &str) -> u64 {
        match self.kind {
            Kind::Sqlite => {
                let path = self.dir.as_ref().unwrap().path().join("lockbox.db");
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                conn.execute(sql, []).unwrap() as u64
            }
            Kind::Postgres => self.pg_client().await.execute(sql, &[]).await.unwrap(),
        }
    }
}

/// Generates, for each case, one `#[tokio::test]` per backend.
/// - `store`: `async fn(Arc<dyn Store>)`, given a fresh empty store;
/// - `db`: `async fn(&Db)`, for cases that open several instances or edit rows raw;
/// - `postgres_only`: `async fn(&Db)`, run only on PostgreSQL.
macro_rules! conformance {
    (
        store: [$($s:ident),* $(,)?],
        db: [$($d:ident),* $(,)?],
        postgres_only: [$($p:ident),* $(,)?] $(,)?
    ) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $s() {
                    let db = super::Db::sqlite();
                    super::$s(db.open().await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $d() {
                    let db = super::Db::sqlite();
                    super::$d(&db).await;
                }
            )*
        }
        mod postgres {
            $(lockbox_testkit::needs_postgres! {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $s() {
                    let Some(db) = super::Db::postgres() else { return };
                    super::$s(db.open().await).await;
                }
            })*
            $(lockbox_testkit::needs_postgres! {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $d() {
                    let Some(db) = super::Db::postgres() else { return };
                    super::$d(&db).await;
                }
            })*
            $(lockbox_testkit::needs_postgres! {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $p() {
                    let Some(db) = super::Db::postgres() else { return };
                    super::$p(&db).await;
                }
            })*
        }
    };
}

conformance! {
    store: [
        flows_and_bindings,
        a_failing_job_does_not_spoil_its_batch,
        concurrent_commits_each_get_their_own_answer,
        compare_and_set_admits_one_writer_per_version,
        versions_are_pruned_to_the_limit,
        workspaces_create_list_and_settings,
        delete_workspace_removes_what_it_holds,
        workspace_keys_add_and_rewrap,
        users_create_and_look_up,
        memberships_upsert_delete_and_order,
        tokens_insert_look_up_revoke_and_touch,
        secrets_find_versions_and_replace,
        list_secrets_filters_and_pages,
        list_children_of_a_folder,
        rename_and_delete_secret,
        renames_move_bindings_and_deletes_drop_one_owners,
        expired_secrets_are_found_and_deleted_compare_and_set,
        list_audit_newest_first_in_pages,
        queued_audit_rows_join_the_chain_in_order,
        import_into_a_non_empty_store_conflicts,
        reseal_is_compare_and_set_on_the_key_version,
        version_policies_round_trip_and_legacy_versions_convert_once,
        version_states_delete_undelete_destroy,
        version_states_are_compare_and_set,
        secret_settings_update_and_survive_writes,
        key_checks_are_recorded_once_and_nodes_expire,
        account_audit_lists_rows_without_a_workspace_by_actor,
        a_secret_entry_without_versions_takes_version_one,
        a_tokens_default_workspace_sets_and_clears,
    ],
    db: [
        acknowledged_writes_survive_reopening,
        two_stores_on_one_database_keep_one_audit_chain,
        verify_detects_an_edited_row,
        export_then_import_into_the_other_kind,
        change_feed_reaches_other_instances,
        keyed_chain_resists_a_recomputed_rewrite,
        legacy_chain_continues_keyed,
        per_workspace_chains_are_tied_by_checkpoints,
    ],
    postgres_only: [
        appends_to_another_workspace_do_not_wait_for_a_held_head,
        concurrent_compare_and_set_across_instances,
        concurrent_audit_appends_across_instances,
        refused_commits_in_a_batch_notify_nothing,
        listener_reconnects_and_reports_everything,
        concurrent_startup_migrates_once,
    ],
}

// ---------------------------------------------------------------------------
// Rows

fn audit_in(ws: &str, action: &str) -> AuditRecord {
    AuditRecord {
        workspace_id: Some(ws.into()),
        at: Timestamp(1),
        actor: "test".into(),
        action: action.into(),
        target: None,
        outcome: "ok".into(),
        request_id: None,
        detail: serde_json::json!({}),
    }
}

fn audit(action: &str) -> AuditRecord {
    audit_in("ws", action)
}

fn secret_in(ws: &str, id: &str, name: &str, version: u64) -> SecretRow {
    SecretRow {
        id: id.into(),
        workspace_id: ws.into(),
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
        allowed_hosts: vec!["api.example.com".into()],
        labels: Default::default(),
        max_versions: None,
        cas_required: false,
        delete_version_after: None,
        current_deleted_at: None,
        current_destroyed: false,
    }
}

fn secret(id: &str, name: &str, version: u64) -> SecretRow {
    secret_in("ws", id, name, version)
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
        deleted_at: None,
        destroyed: false,
        policy: Some(VersionPolicy::v2(vec!["api.example.com".into()])),
    }
}

fn create(id: &str, name: &str) -> CommitVersion {
    commit_new(secret(id, name, 1))
}

fn commit_new(s: SecretRow) -> CommitVersion {
    CommitVersion {
        version: version(&s.id, 1),
        secret: s,
        expect: Expect::Create,
        prune_through: 0,
    }
}

fn next(s: &SecretRow, v: u64) -> CommitVersion {
    let mut s = s.clone();
    s.current_version = v;
    s.fingerprint = format!("fp{v}");
    CommitVersion {
        version: VersionRow {
            fingerprint: format!("fp{v}"),
            ..version(&s.id, v)
        },
        secret: s,
        expect: Expect::Current(v - 1),
        prune_through: 0,
    }
}

/// A version-state request as the service makes it: read the states, ask the
/// core transition rule, apply the answer compare-and-set.
#[derive(Debug, Clone, Copy)]
enum VersionChange {
    Delete(Timestamp),
    Undelete,
    Destroy,
}

/// Applies `change` to the listed versions the way the service does; answers the
/// versions that moved, ascending.
async fn change_versions(
    s: &dyn Store,
    secret_id: &str,
    versions: Vec<u64>,
    change: VersionChange,
    audit: AuditRecord,
) -> StoreResult<Vec<u64>> {
    use lockbox_core::versions::{transition, VersionOp};
    let (op, now) = match change {
        VersionChange::Delete(at) => (VersionOp::Delete, at),
        VersionChange::Undelete => (VersionOp::Undelete, Timestamp(0)),
        VersionChange::Destroy => (VersionOp::Destroy, Timestamp(0)),
    };
    let mut changes: Vec<VersionStateChange> = s
        .list_versions(secret_id)
        .await?
        .iter()
        .filter(|v| versions.contains(&v.version))
        .filter_map(|v| {
            let from = v.state(now);
            transition(from, op, now).map(|to| VersionStateChange {
                version: v.version,
                from,
                to,
            })
        })
        .collect();
    changes.sort_by_key(|c| c.version);
    let moved = changes.iter().map(|c| c.version).collect();
    s.set_version_states(secret_id, changes, audit).await?;
    Ok(moved)
}

fn ws_row(id: &str, name: &str) -> WorkspaceRow {
    WorkspaceRow {
        id: id.into(),
        name: name.into(),
        settings: WorkspaceSettings::default(),
        active_key_version: 1,
        created_at: Timestamp(1),
    }
}

fn key_row(ws: &str, version: u32) -> WorkspaceKeyRow {
    WorkspaceKeyRow {
        workspace_id: ws.into(),
        version,
        master_version: 1,
        wrapped: vec![version as u8, 0, 9, 9],
    }
}

fn user(id: &str, name: &str) -> UserRow {
    UserRow {
        id: id.into(),
        name: name.into(),
        created_at: Timestamp(5),
    }
}

fn token(id: &str, created_at: i64) -> TokenRow {
    TokenRow {
        id: id.into(),
        hash: format!("hash-{id}"),
        name: format!("name-{id}"),
        kind: TokenKind::Personal,
        user_id: Some("u1".into()),
        workspace_id: None,
        role: None,
        created_at: Timestamp(created_at),
        created_by: "test".into(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        run_as_users: false,
    }
}

fn service_token(id: &str, ws: &str) -> TokenRow {
    TokenRow {
        kind: TokenKind::Service,
        user_id: None,
        workspace_id: Some(ws.into()),
        role: Some(Role::Viewer),
        // Round-trips through both stores (the owner's grant to open runs as users).
        run_as_users: true,
        ..token(id, 10)
    }
}

/// Creates workspace `ws` ("default") with key version 1.
async fn seed(s: &dyn Store) {
    add_workspace(s, "ws", "default").await;
}

async fn add_workspace(s: &dyn Store, id: &str, name: &str) {
    s.create_workspace(
        ws_row(id, name),
        key_row(id, 1),
        None,
        audit_in(id, "workspace.create"),
    )
    .await
    .unwrap();
}

async fn seeded(db: &Db) -> Arc<dyn Store> {
    let s = db.open().await;
    if s.workspace_by_name("default").await.unwrap().is_none() {
        seed(&*s).await;
    }
    s
}

async fn audit_rows(s: &dyn Store) -> u64 {
    let r = s.verify_audit().await.unwrap();
    assert_eq!(r.broken_at, None);
    r.rows
}

fn is_conflict<T: std::fmt::Debug>(r: StoreResult<T>) -> bool {
    match r {
        Err(StoreError::Conflict) => true,
        Err(e) => panic!("expected Conflict, got {e:?}"),
        Ok(v) => panic!("expected Conflict, got Ok({v:?})"),
    }
}

fn names(rows: &[SecretRow]) -> Vec<&str> {
    rows.iter().map(|s| s.name.as_str()).collect()
}

// ---------------------------------------------------------------------------
// Cases for every backend

async fn a_failing_job_does_not_spoil_its_batch(s: Arc<dyn Store>) {
    seed(&*s).await;
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

/// Many version commits at once (batched on both stores): compare-and-set races on
/// hot secrets, new secrets, duplicate names and stale versions, interleaved.
/// Each caller gets its own answer, every acknowledged commit is stored with its
/// audit row, and a refused one leaves neither.
async fn concurrent_commits_each_get_their_own_answer(s: Arc<dyn Store>) {
    seed(&*s).await;
    const HOT: usize = 8;
    for h in 0..HOT {
        s.commit_version(
            create(&format!("h{h}"), &format!("hot{h}")),
            audit("secret.put"),
        )
        .await
        .unwrap();
    }
    s.commit_version(create("taken", "taken"), audit("secret.put"))
        .await
        .unwrap();
    // i % 4: 0 and 1 race for version 2 of hot secret (i / 4) % HOT; 2 creates a
    // new secret; 3 either takes a name in use or expects a version long gone.
    let jobs = 240;
    let mut tasks = Vec::new();
    for i in 0..jobs {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let commit = match i % 4 {
                0 | 1 => {
                    let h = (i / 4) % HOT;
                    next(&secret(&format!("h{h}"), &format!("hot{h}"), 1), 2)
                }
                2 => create(&format!("new{i}"), &format!("new{i}")),
                _ if i % 8 == 3 => create(&format!("dup{i}"), "taken"),
                _ => next(&secret("taken", "taken", 6), 7),
            };
            let mut record = audit("secret.put");
            record.target = Some(format!("job{i}"));
            s.commit_version(commit, record).await
        }));
    }
    let mut won = [0; HOT];
    let mut acknowledged = std::collections::BTreeSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        match (i % 4, &r) {
            (0 | 1, Ok(())) => won[(i / 4) % HOT] += 1,
            (0 | 1, Err(StoreError::Conflict)) => {}
            (2, Ok(())) => {}
            (3, Err(StoreError::Conflict)) => {}
            (_, other) => panic!("job {i}: {other:?}"),
        }
        if r.is_ok() {
            acknowledged.insert(i);
        }
    }
    assert_eq!(won, [1; HOT], "one winner per hot secret");
    // The jobs the audit log holds: exactly the acknowledged ones, once each.
    let mut audited = std::collections::BTreeSet::new();
    let mut before = None;
    loop {
        let page = s.list_audit("ws", before, 100).await.unwrap();
        if page.is_empty() {
            break;
        }
        for row in &page {
            if let Some(n) = row
                .record
                .target
                .as_deref()
                .and_then(|t| t.strip_prefix("job"))
            {
                assert!(
                    audited.insert(n.parse::<usize>().unwrap()),
                    "one audit row per job"
                );
            }
        }
        before = page.last().map(|r| r.seq);
    }
    assert_eq!(audited, acknowledged);
    let creates: Vec<usize> = (0..jobs).filter(|i| i % 4 == 2).collect();
    assert_eq!(acknowledged.len(), HOT + creates.len());
    for i in creates {
        let found = s.secret_by_id(&format!("new{i}")).await.unwrap();
        assert_eq!(
            found.map(|r| r.current_version),
            Some(1),
            "new{i} is stored"
        );
        assert!(s
            .secret_version(&format!("new{i}"), 1)
            .await
            .unwrap()
            .is_some());
    }
    for h in 0..HOT {
        let found = s.secret_by_id(&format!("h{h}")).await.unwrap().unwrap();
        assert_eq!(
            (found.current_version, found.fingerprint.as_str()),
            (2, "fp2")
        );
        let kept: Vec<u64> = s
            .list_versions(&format!("h{h}"))
            .await
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(kept, [2, 1]);
    }
    for i in (0..jobs).filter(|i| i % 8 == 3) {
        assert!(s.secret_by_id(&format!("dup{i}")).await.unwrap().is_none());
    }
    let taken = s.secret_by_id("taken").await.unwrap().unwrap();
    assert_eq!(taken.current_version, 1);
    assert_eq!(s.list_versions("taken").await.unwrap().len(), 1);
    // workspace.create + the 9 seeded puts + the acknowledged jobs.
    assert_eq!(
        audit_rows(&*s).await,
        1 + HOT as u64 + 1 + acknowledged.len() as u64
    );
}

async fn compare_and_set_admits_one_writer_per_version(s: Arc<dyn Store>) {
    seed(&*s).await;
    s.commit_version(create("s", "hot"), audit("secret.put"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.commit_version(next(&secret("s", "hot", 1), 2), audit("secret.put"))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);
    let found = s
        .find_secret("ws", Scope::Workspace, "", "hot")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.current_version, 2);
    assert_eq!(audit_rows(&*s).await, 3);
}

async fn flows_and_bindings(s: Arc<dyn Store>) {
    seed(&*s).await;
    let flow = |slug: &str, yaml: &str| FlowRow {
        workspace_id: "ws".into(),
        slug: slug.into(),
        yaml: yaml.into(),
        updated_at: Timestamp(5),
        updated_by: "test".into(),
    };
    let bind = |owner: &str, secret: &str, location: &str| BindingRow {
        workspace_id: "ws".into(),
        owner: owner.into(),
        secret: secret.into(),
        location: location.into(),
    };
    s.put_flow(
        flow("b-flow", "v1"),
        vec![bind("", "clientSecret", "do[0].fetch")],
        audit("flow.put"),
    )
    .await
    .unwrap();
    s.put_flow(
        flow("a-flow", "v1"),
        vec![bind("", "clientSecret", "do[1].run")],
        audit("flow.put"),
    )
    .await
    .unwrap();
    // Replacing a flow replaces its bindings.
    s.put_flow(
        flow("b-flow", "v2"),
        vec![bind("", "apiKey", "do[0].fetch")],
        audit("flow.put"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_flow("ws", "b-flow").await.unwrap().unwrap().yaml,
        "v2"
    );
    let slugs: Vec<String> = s
        .list_flows("ws")
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.slug)
        .collect();
    assert_eq!(slugs, ["a-flow", "b-flow"]);
    let used = s.bindings_of("ws", "clientSecret").await.unwrap();
    assert_eq!(used, vec![bind("flow:a-flow", "clientSecret", "do[1].run")]);
    // A platform's own bindings, replaced whole.
    s.put_bindings(
        "ws",
        "platform:crm",
        vec![bind("", "clientSecret", "node 3 / header")],
        audit("bindings.put"),
    )
    .await
    .unwrap();
    assert_eq!(s.bindings_of("ws", "clientSecret").await.unwrap().len(), 2);
    s.put_bindings("ws", "platform:crm", vec![], audit("bindings.put"))
        .await
        .unwrap();
    assert_eq!(s.bindings_of("ws", "clientSecret").await.unwrap().len(), 1);
    // Deleting the flow frees the secret.
    assert!(s
        .delete_flow("ws", "a-flow", audit("flow.delete"))
        .await
        .unwrap());
    assert!(!s
        .delete_flow("ws", "a-flow", audit("flow.delete"))
        .await
        .unwrap());
    assert!(s
        .bindings_of("ws", "clientSecret")
        .await
        .unwrap()
        .is_empty());
    assert!(s.get_flow("ws", "a-flow").await.unwrap().is_none());
    // They travel with a snapshot.
    let snap = s.export().await.unwrap();
    assert_eq!(snap.flows.len(), 1);
    assert_eq!(
        snap.bindings,
        vec![bind("flow:b-flow", "apiKey", "do[0].fetch")]
    );
}

async fn version_states_delete_undelete_destroy(s: Arc<dyn Store>) {
    seed(&*s).await;
    s.commit_version(create("s", "v"), audit("a"))
        .await
        .unwrap();
    for v in 2..=3u64 {
        s.commit_version(next(&secret("s", "v", v - 1), v), audit("a"))
            .await
            .unwrap();
    }
    let cur = |s: Arc<dyn Store>| async move {
        let row = s
            .find_secret("ws", Scope::Workspace, "", "v")
            .await
            .unwrap()
            .unwrap();
        (row.current_deleted_at, row.current_destroyed)
    };
    assert_eq!(cur(s.clone()).await, (None, false));
    let before = audit_rows(&*s).await;

    // Soft delete: unknown numbers ignored, the rest stamped, current shows it.
    let changed = change_versions(
        &*s,
        "s",
        vec![3, 1, 99, 1],
        VersionChange::Delete(Timestamp(50)),
        audit("del"),
    )
    .await
    .unwrap();
    assert_eq!(changed, [1, 3]);
    assert_eq!(cur(s.clone()).await, (Some(Timestamp(50)), false));
    let v1 = s.secret_version("s", 1).await.unwrap().unwrap();
    assert_eq!((v1.deleted_at, v1.destroyed), (Some(Timestamp(50)), false));
    assert_eq!(v1.sealed, [1, 2, 3], "a soft delete keeps the ciphertext");
    assert!(v1.is_deleted(Timestamp(50)) && !v1.is_deleted(Timestamp(49)));
    // Deleting again keeps the first deletion time.
    let changed = change_versions(
        &*s,
        "s",
        vec![1],
        VersionChange::Delete(Timestamp(70)),
        audit("del"),
    )
    .await
    .unwrap();
    assert!(changed.is_empty());
    assert_eq!(
        s.secret_version("s", 1).await.unwrap().unwrap().deleted_at,
        Some(Timestamp(50))
    );
    // The list and the secret row agree.
    let list = s
        .list_secrets(ListQuery {
            workspace_id: "ws".into(),
            scope: Scope::Workspace,
            owner: String::new(),
            prefix: None,
            after: None,
            limit: 10,
            now: Timestamp(0),
            entries: false,
        })
        .await
        .unwrap();
    assert_eq!(list[0].current_deleted_at, Some(Timestamp(50)));

    // Undelete clears it.
    let changed = change_versions(&*s, "s", vec![3], VersionChange::Undelete, audit("undel"))
        .await
        .unwrap();
    assert_eq!(changed, [3]);
    assert_eq!(cur(s.clone()).await, (None, false));

    // Destroy: the ciphertext is gone for good, the metadata stays.
    let changed = change_versions(
        &*s,
        "s",
        vec![2, 3],
        VersionChange::Destroy,
        audit("destroy"),
    )
    .await
    .unwrap();
    assert_eq!(changed, [2, 3]);
    let v2 = s.secret_version("s", 2).await.unwrap().unwrap();
    assert!(v2.destroyed && v2.sealed.is_empty() && v2.is_deleted(Timestamp(0)));
    assert_eq!(
        (v2.fingerprint.as_str(), v2.created_by.as_str()),
        ("fp2", "test")
    );
    assert_eq!(cur(s.clone()).await, (None, true));
    // Destroyed versions never change again.
    for change in [
        VersionChange::Undelete,
        VersionChange::Destroy,
        VersionChange::Delete(Timestamp(80)),
    ] {
        let changed = change_versions(&*s, "s", vec![2], change, audit("again"))
            .await
            .unwrap();
        assert!(changed.is_empty(), "{change:?}");
    }
    assert_eq!(
        s.secret_version("s", 2).await.unwrap().unwrap().deleted_at,
        None
    );
    // Re-encryption skips what has no ciphertext.
    let to_reseal = s.versions_to_reseal("ws", 2, 100).await.unwrap();
    let versions: Vec<u64> = to_reseal.iter().map(|(_, v)| v.version).collect();
    assert_eq!(versions, [1]);
    let mut stale = s.secret_version("s", 2).await.unwrap().unwrap();
    stale.key_version = 2;
    stale.sealed = vec![9; 4];
    let old_policy = stale.policy.clone();
    let stale = Reseal {
        version: stale,
        old_key_version: 1,
        old_policy,
    };
    assert_eq!(s.reseal_versions(vec![stale]).await.unwrap(), 0);
    assert!(s
        .secret_version("s", 2)
        .await
        .unwrap()
        .unwrap()
        .sealed
        .is_empty());

    // A version scheduled for deletion later (delete_version_after) is brought
    // forward by an explicit delete.
    let mut c = next(&secret("s", "v", 3), 4);
    c.version.deleted_at = Some(Timestamp(1_000));
    s.commit_version(c, audit("a")).await.unwrap();
    assert_eq!(cur(s.clone()).await, (Some(Timestamp(1_000)), false));
    let changed = change_versions(
        &*s,
        "s",
        vec![4],
        VersionChange::Delete(Timestamp(90)),
        audit("del"),
    )
    .await
    .unwrap();
    assert_eq!(changed, [4]);
    assert_eq!(cur(s.clone()).await, (Some(Timestamp(90)), false));
    // Every call was audited, changed or not; a missing secret changes nothing.
    assert!(
        change_versions(&*s, "nope", vec![1], VersionChange::Destroy, audit("x"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(audit_rows(&*s).await, before + 10);
}

async fn version_states_are_compare_and_set(s: Arc<dyn Store>) {
    use lockbox_core::versions::VersionState;
    seed(&*s).await;
    s.commit_version(create("s", "v"), audit("a"))
        .await
        .unwrap();
    s.commit_version(next(&secret("s", "v", 1), 2), audit("a"))
        .await
        .unwrap();
    let live = VersionState::Live { delete_at: None };
    let deleted = VersionState::Deleted { at: Timestamp(5) };
    let destroyed = VersionState::Destroyed {
        deleted_at: Some(Timestamp(5)),
    };
    let before = audit_rows(&*s).await;
    // One move whose expectation no longer holds refuses the whole call: the
    // other move and the audit row are not written either.
    let r = s
        .set_version_states(
            "s",
            vec![
                VersionStateChange {
                    version: 1,
                    from: live,
                    to: deleted,
                },
                VersionStateChange {
                    version: 2,
                    from: deleted,
                    to: live,
                },
            ],
            audit("del"),
        )
        .await;
    assert!(is_conflict(r));
    assert_eq!(
        s.secret_version("s", 1).await.unwrap().unwrap().deleted_at,
        None
    );
    assert_eq!(audit_rows(&*s).await, before);
    // A version that is not there is a conflict too.
    let r = s
        .set_version_states(
            "s",
            vec![VersionStateChange {
                version: 9,
                from: live,
                to: deleted,
            }],
            audit("del"),
        )
        .await;
    assert!(is_conflict(r));
    // The store writes the state it is given, whatever it is.
    let moves = [(live, deleted), (deleted, destroyed)];
    for (from, to) in moves {
        s.set_version_states(
            "s",
            vec![VersionStateChange {
                version: 1,
                from,
                to,
            }],
            audit("move"),
        )
        .await
        .unwrap();
        let v = s.secret_version("s", 1).await.unwrap().unwrap();
        assert_eq!(v.state(Timestamp(5)), to);
    }
    let v1 = s.secret_version("s", 1).await.unwrap().unwrap();
    assert!(
        v1.sealed.is_empty(),
        "a destroyed version keeps no ciphertext"
    );
    assert_eq!(v1.fingerprint, "fp");
    // The current version's state shows on the secret row.
    s.set_version_states(
        "s",
        vec![VersionStateChange {
            version: 2,
            from: live,
            to: VersionState::Live {
                delete_at: Some(Timestamp(900)),
            },
        }],
        audit("move"),
    )
    .await
    .unwrap();
    let row = s.secret_by_id("s").await.unwrap().unwrap();
    assert_eq!(
        (row.current_deleted_at, row.current_destroyed),
        (Some(Timestamp(900)), false)
    );
    // No moves: only the audit row.
    s.set_version_states("s", vec![], audit("none"))
        .await
        .unwrap();
    assert_eq!(audit_rows(&*s).await, before + 4);
}

async fn secret_settings_update_and_survive_writes(s: Arc<dyn Store>) {
    seed(&*s).await;
    s.commit_version(create("s", "v"), audit("a"))
        .await
        .unwrap();
    let settings = SecretSettings {
        description: Some("rotated monthly ü".to_owned()),
        labels: [
            ("owner".to_owned(), "team-ü".to_owned()),
            ("empty".to_owned(), String::new()),
        ]
        .into(),
        max_versions: Some(2),
        cas_required: true,
        delete_version_after: Some(3_600),
    };
    assert!(s
        .update_secret_settings(
            "s",
            settings.clone(),
            Timestamp(9),
            "user:bob",
            audit("set")
        )
        .await
        .unwrap());
    let row = s.secret_by_id("s").await.unwrap().unwrap();
    assert_eq!(row.labels, settings.labels);
    assert_eq!(row.description.as_deref(), Some("rotated monthly ü"));
    assert_eq!(
        (row.max_versions, row.cas_required, row.delete_version_after),
        (Some(2), true, Some(3_600))
    );
    assert_eq!(
        (row.updated_at, row.updated_by.as_str()),
        (Timestamp(9), "user:bob")
    );
    assert_eq!(row.current_version, 1, "settings are not a version");
    // A version commit keeps the settings and writes the labels it carries.
    let mut c = next(&row, 2);
    c.secret.labels = [("owner".to_owned(), "new".to_owned())].into();
    s.commit_version(c, audit("a")).await.unwrap();
    let row = s.secret_by_id("s").await.unwrap().unwrap();
    assert_eq!(row.labels["owner"], "new");
    assert_eq!(
        (row.max_versions, row.cas_required, row.delete_version_after),
        (Some(2), true, Some(3_600))
    );
    // Cleared again.
    assert!(s
        .update_secret_settings(
            "s",
            SecretSettings::default(),
            Timestamp(10),
            "x",
            audit("set")
        )
        .await
        .unwrap());
    let row = s.secret_by_id("s").await.unwrap().unwrap();
    assert!(row.labels.is_empty());
    assert_eq!(
        (row.max_versions, row.cas_required, row.delete_version_after),
        (None, false, None)
    );
    assert!(!s
        .update_secret_settings(
            "gone",
            SecretSettings::default(),
            Timestamp(10),
            "x",
            audit("set")
        )
        .await
        .unwrap());
}

async fn versions_are_pruned_to_the_limit(s: Arc<dyn Store>) {
    seed(&*s).await;
    s.commit_version(create("s", "v"), audit("a"))
        .await
        .unwrap();
    for v in 2..=7u64 {
        let mut c = next(&secret("s", "v", v - 1), v);
        c.prune_through = lockbox_core::versions::pruned_through(v, 3);
        s.commit_version(c, audit("a")).await.unwrap();
    }
    let kept: Vec<u64> = s
        .list_versions("s")
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(kept, [7, 6, 5]);
    assert!(s.secret_version("s", 4).await.unwrap().is_none());
    // The store removes what it is told to, nothing else.
    let mut c = next(&secret("s", "v", 7), 8);
    c.prune_through = 0;
    s.commit_version(c, audit("a")).await.unwrap();
    assert_eq!(s.list_versions("s").await.unwrap().len(), 4);
}

async fn workspaces_create_list_and_settings(s: Arc<dyn Store>) {
    seed(&*s).await;
    s.create_user(user("u1", "alice")).await.unwrap();
    s.create_workspace(
        ws_row("w2", "beta"),
        key_row("w2", 1),
        Some(("u1".into(), Role::Owner)),
        audit_in("w2", "workspace.create"),
    )
    .await
    .unwrap();
    add_workspace(&*s, "w3", "Alpha").await;
    // The name is taken (another id), and so is the id (another name).
    assert!(is_conflict(
        s.create_workspace(ws_row("w4", "beta"), key_row("w4", 1), None, audit("x"))
            .await
    ));
    assert!(is_conflict(
        s.create_workspace(ws_row("w2", "gamma"), key_row("w2", 1), None, audit("x"))
            .await
    ));
    // A failed create leaves nothing behind.
    assert!(s.workspace_by_name("gamma").await.unwrap().is_none());
    assert_eq!(s.workspace_keys("w4").await.unwrap(), vec![]);

    // Ordered by name, bytewise (uppercase first).
    let listed: Vec<String> = s
        .list_workspaces()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(listed, ["Alpha", "beta", "default"]);
    assert_eq!(
        s.workspace_by_name("beta").await.unwrap(),
        Some(ws_row("w2", "beta"))
    );
    assert_eq!(s.workspace_by_name("nope").await.unwrap(), None);
    assert_eq!(s.membership("w2", "u1").await.unwrap(), Some(Role::Owner));
    assert_eq!(s.membership("w3", "u1").await.unwrap(), None);

    let settings = WorkspaceSettings {
        allow_rename: true,
        max_versions: 3,
        cas_required: true,
        delete_version_after: Some(90),
    };
    s.update_workspace_settings("w2", settings.clone(), audit_in("w2", "workspace.settings"))
        .await
        .unwrap();
    let w2 = s.workspace_by_name("beta").await.unwrap().unwrap();
    assert_eq!(w2.settings, settings);
    // Three creates and one settings change; failed creates wrote no row.
    assert_eq!(audit_rows(&*s).await, 4);
    let last = s.list_audit("w2", None, 1).await.unwrap();
    assert_eq!(last[0].record.action, "workspace.settings");
}

async fn delete_workspace_removes_what_it_holds(s: Arc<dyn Store>) {
    seed(&*s).await;
    add_workspace(&*s, "wd", "doomed").await;
    s.add_workspace_key(key_row("wd", 2), audit_in("wd", "key.add"))
        .await
        .unwrap();
    s.create_user(user("u1", "alice")).await.unwrap();
    s.put_membership(
        "wd",
        "u1",
        Role::Admin,
        Timestamp(3),
        audit_in("wd", "member.put"),
    )
    .await
    .unwrap();
    s.put_membership("ws", "u1", Role::Viewer, Timestamp(3), audit("member.put"))
        .await
        .unwrap();
    s.insert_token(service_token("svc", "wd"), audit_in("wd", "token.create"))
        .await
        .unwrap();
    s.insert_token(token("personal", 10), audit("token.create"))
        .await
        .unwrap();
    s.commit_version(
        commit_new(secret_in("wd", "sd", "gone", 1)),
        audit_in("wd", "secret.put"),
    )
    .await
    .unwrap();
    s.commit_version(create("sk", "kept"), audit("secret.put"))
        .await
        .unwrap();
    let before = audit_rows(&*s).await;

    assert!(s
        .delete_workspace("wd", audit_in("wd", "workspace.delete"))
        .await
        .unwrap());
    assert_eq!(s.workspace_by_name("doomed").await.unwrap(), None);
    assert_eq!(s.workspace_keys("wd").await.unwrap(), vec![]);
    assert_eq!(
        s.find_secret("wd", Scope::Workspace, "", "gone")
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.secret_version("sd", 1).await.unwrap(), None);
    assert_eq!(s.membership("wd", "u1").await.unwrap(), None);
    assert_eq!(s.token_by_id("svc").await.unwrap(), None);
    // What belongs elsewhere stays.
    assert!(s.token_by_id("personal").await.unwrap().is_some());
    assert_eq!(s.membership("ws", "u1").await.unwrap(), Some(Role::Viewer));
    assert!(s.secret_version("sk", 1).await.unwrap().is_some());
    assert_eq!(
        s.workspace_keys("ws").await.unwrap(),
        vec![key_row("ws", 1)]
    );
    assert!(s.user_by_id("u1").await.unwrap().is_some());
    // A second delete finds nothing, and is audited all the same.
    assert!(!s
        .delete_workspace("wd", audit_in("wd", "workspace.delete"))
        .await
        .unwrap());
    assert_eq!(audit_rows(&*s).await, before + 2);
}

async fn workspace_keys_add_and_rewrap(s: Arc<dyn Store>) {
    seed(&*s).await;
    add_workspace(&*s, "w2", "second").await;
    s.add_workspace_key(key_row("ws", 2), audit("key.add"))
        .await
        .unwrap();
    assert_eq!(
        s.workspace_by_name("default")
            .await
            .unwrap()
            .unwrap()
            .active_key_version,
        2
    );
    assert_eq!(
        s.workspace_by_name("second")
            .await
            .unwrap()
            .unwrap()
            .active_key_version,
        1
    );
    // Version taken.
    assert!(is_conflict(
        s.add_workspace_key(key_row("ws", 2), audit("key.add"))
            .await
    ));
    let mut keys = s.workspace_keys("ws").await.unwrap();
    keys.sort_by_key(|k| k.version);
    assert_eq!(keys, [key_row("ws", 1), key_row("ws", 2)]);

    let rewrapped: Vec<WorkspaceKeyRow> = [key_row("ws", 1), key_row("ws", 2), key_row("w2", 1)]
        .into_iter()
        .map(|k| WorkspaceKeyRow {
            master_version: 2,
            wrapped: vec![42, k.version as u8],
            ..k
        })
        .collect();
    s.rewrap_workspace_keys(rewrapped.clone(), audit("keys.rewrap"))
        .await
        .unwrap();
    let mut all = s.all_workspace_keys().await.unwrap();
    all.sort_by(|a, b| (&a.workspace_id, a.version).cmp(&(&b.workspace_id, b.version)));
    let mut expected = rewrapped;
    expected.sort_by(|a, b| (&a.workspace_id, a.version).cmp(&(&b.workspace_id, b.version)));
    assert_eq!(all, expected);
    // Two creates, one key add, one rewrap.
    assert_eq!(audit_rows(&*s).await, 4);
}

async fn users_create_and_look_up(s: Arc<dyn Store>) {
    s.create_user(user("u1", "alice")).await.unwrap();
    s.create_user(user("u2", "bob")).await.unwrap();
    assert!(is_conflict(s.create_user(user("u3", "alice")).await));
    assert!(is_conflict(s.create_user(user("u1", "carol")).await));
    assert_eq!(
        s.user_by_name("alice").await.unwrap(),
        Some(user("u1", "alice"))
    );
    assert_eq!(s.user_by_id("u2").await.unwrap(), Some(user("u2", "bob")));
    assert_eq!(s.user_by_name("carol").await.unwrap(), None);
    assert_eq!(s.user_by_id("u3").await.unwrap(), None);
    // Users are not audited here (the service audits what created them).
    assert_eq!(audit_rows(&*s).await, 0);
}

async fn memberships_upsert_delete_and_order(s: Arc<dyn Store>) {
    seed(&*s).await;
    add_workspace(&*s, "w2", "Second").await;
    add_workspace(&*s, "w3", "third").await;
    for (id, name) in [("u1", "bob"), ("u2", "alice"), ("u3", "Carol")] {
        s.create_user(user(id, name)).await.unwrap();
    }
    for (u, at) in [("u1", 10), ("u2", 11), ("u3", 12)] {
        s.put_membership("ws", u, Role::Viewer, Timestamp(at), audit("member.put"))
            .await
            .unwrap();
    }
    // Upsert: the role changes, the membership keeps its start.
    s.put_membership("ws", "u1", Role::Editor, Timestamp(99), audit("member.put"))
        .await
        .unwrap();
    assert_eq!(s.membership("ws", "u1").await.unwrap(), Some(Role::Editor));
    let members = s.list_members("ws").await.unwrap();
    let listed: Vec<(&str, &str, Role, i64)> = members
        .iter()
        .map(|m| (m.user_id.as_str(), m.user_name.as_str(), m.role, m.since.0))
        .collect();
    assert_eq!(
        listed,
        [
            ("u3", "Carol", Role::Viewer, 12),
            ("u2", "alice", Role::Viewer, 11),
            ("u1", "bob", Role::Editor, 10),
        ]
    );

    s.put_membership(
        "w3",
        "u1",
        Role::Owner,
        Timestamp(1),
        audit_in("w3", "member.put"),
    )
    .await
    .unwrap();
    s.put_membership(
        "w2",
        "u1",
        Role::Admin,
        Timestamp(1),
        audit_in("w2", "member.put"),
    )
    .await
    .unwrap();
    let of: Vec<(String, Role)> = s
        .memberships_of("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|(w, r)| (w.name, r))
        .collect();
    assert_eq!(
        of,
        [
            ("Second".to_string(), Role::Admin),
            ("default".to_string(), Role::Editor),
            ("third".to_string(), Role::Owner),
        ]
    );
    assert_eq!(s.memberships_of("nobody").await.unwrap(), vec![]);

    // An unknown user or workspace breaks a reference: Conflict on every backend.
    assert!(is_conflict(
        s.put_membership(
            "ws",
            "ghost",
            Role::Viewer,
            Timestamp(1),
            audit("member.put")
        )
        .await
    ));
    assert!(is_conflict(
        s.put_membership(
            "nope",
            "u1",
            Role::Viewer,
            Timestamp(1),
            audit("member.put")
        )
        .await
    ));

    let before = audit_rows(&*s).await;
    assert!(s
        .delete_membership("ws", "u2", audit("member.delete"))
        .await
        .unwrap());
    assert!(!s
        .delete_membership("ws", "u2", audit("member.delete"))
        .await
        .unwrap());
    assert_eq!(s.membership("ws", "u2").await.unwrap(), None);
    // Only the delete that removed something is audited.
    assert_eq!(audit_rows(&*s).await, before + 1);
    assert_eq!(s.list_members("ws").await.unwrap().len(), 2);
}

async fn tokens_insert_look_up_revoke_and_touch(s: Arc<dyn Store>) {
    seed(&*s).await;
    s.create_user(user("u1", "alice")).await.unwrap();
    let b = token("b", 20);
    let a = token("a", 20);
    let z = TokenRow {
        expires_at: Some(Timestamp(500)),
        ..token("z", 5)
    };
    let svc = service_token("svc", "ws");
    for t in [&b, &a, &z, &svc] {
        s.insert_token(t.clone(), audit("token.create"))
            .await
            .unwrap();
    }
    // Hash and id are unique.
    assert!(is_conflict(
        s.insert_token(
            TokenRow {
                hash: "hash-a".into(),
                ..token("other", 1)
            },
            audit("token.create")
        )
        .await
    ));
    assert!(is_conflict(
        s.insert_token(
            TokenRow {
                hash: "fresh".into(),
                ..token("a", 1)
            },
            audit("token.create")
        )
        .await
    ));
    assert_eq!(
        s.token_by_hash("hash-svc").await.unwrap(),
        Some(svc.clone())
    );
    assert_eq!(s.token_by_id("z").await.unwrap(), Some(z.clone()));
    assert_eq!(s.token_by_hash("nope").await.unwrap(), None);
    assert_eq!(s.token_by_id("nope").await.unwrap(), None);
    // By creation time, then id.
    let ids: Vec<String> = s
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["z", "svc", "a", "b"]);

    let before = audit_rows(&*s).await;
    assert!(s
        .revoke_token("a", Timestamp(77), audit("token.revoke"))
        .await
        .unwrap());
    assert!(!s
        .revoke_token("a", Timestamp(88), audit("token.revoke"))
        .await
        .unwrap());
    assert!(!s
        .revoke_token("nope", Timestamp(88), audit("token.revoke"))
        .await
        .unwrap());
    assert_eq!(
        s.token_by_id("a").await.unwrap().unwrap().revoked_at,
        Some(Timestamp(77))
    );
    assert_eq!(audit_rows(&*s).await, before + 1);

    // Last use only moves forward; unknown ids are ignored; nothing is audited.
    s.touch_tokens(vec![
        ("b".into(), Timestamp(100)),
        ("nope".into(), Timestamp(1)),
    ])
    .await
    .unwrap();
    s.touch_tokens(vec![
        ("b".into(), Timestamp(50)),
        ("z".into(), Timestamp(60)),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.token_by_id("b").await.unwrap().unwrap().last_used_at,
        Some(Timestamp(100))
    );
    assert_eq!(
        s.token_by_id("z").await.unwrap().unwrap().last_used_at,
        Some(Timestamp(60))
    );
    assert_eq!(
        s.token_by_id("a").await.unwrap().unwrap().last_used_at,
        None
    );
    assert_eq!(audit_rows(&*s).await, before + 1);
}

async fn secrets_find_versions_and_replace(s: Arc<dyn Store>) {
    seed(&*s).await;
    let mut first = secret("s1", "db/password", 1);
    first.description = Some("the main one".into());
    first.visibility = Visibility::Restricted;
    s.commit_version(commit_new(first.clone()), audit("secret.put"))
        .await
        .unwrap();
    let second = next(&first, 2);
    s.commit_version(second.clone(), audit("secret.put"))
        .await
        .unwrap();
    assert_eq!(
        s.find_secret("ws", Scope::Workspace, "", "db/password")
            .await
            .unwrap(),
        Some(second.secret.clone())
    );
    // Same name, other scope or owner: another secret.
    assert_eq!(
        s.find_secret("ws", Scope::User, "u1", "db/password")
            .await
            .unwrap(),
        None
    );
    let mut mine = secret("s2", "db/password", 1);
    mine.scope = Scope::User;
    mine.owner = "u1".into();
    s.commit_version(commit_new(mine.clone()), audit("secret.put"))
        .await
        .unwrap();
    assert_eq!(
        s.find_secret("ws", Scope::User, "u1", "db/password")
            .await
            .unwrap(),
        Some(mine)
    );

    assert_eq!(
        s.secret_version("s1", 2).await.unwrap(),
        Some(second.version.clone())
    );
    assert_eq!(
        s.secret_version("s1", 1).await.unwrap(),
        Some(version("s1", 1))
    );
    assert_eq!(s.secret_version("s1", 3).await.unwrap(), None);
    let listed: Vec<u64> = s
        .list_versions("s1")
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(listed, [2, 1]);
    assert_eq!(s.list_versions("nope").await.unwrap(), vec![]);

    // Stale compare-and-set, and a create over a taken name: Conflict, no trace.
    let before = audit_rows(&*s).await;
    assert!(is_conflict(
        s.commit_version(next(&first, 2), audit("secret.put")).await
    ));
    assert!(is_conflict(
        s.commit_version(create("s9", "db/password"), audit("secret.put"))
            .await
    ));
    assert!(is_conflict(
        s.commit_version(next(&secret("ghost", "ghost", 1), 2), audit("secret.put"))
            .await
    ));
    assert_eq!(audit_rows(&*s).await, before);
    assert_eq!(s.secret_version("s9", 1).await.unwrap(), None);

    // An expired secret not yet purged gives its name to a new one.
    let mut old = secret("old", "tmp", 1);
    old.expires_at = Some(Timestamp(2));
    s.commit_version(commit_new(old), audit("secret.put"))
        .await
        .unwrap();
    let mut fresh = commit_new(secret("new", "tmp", 1));
    fresh.expect = Expect::ReplaceExpired("old".into());
    s.commit_version(fresh, audit("secret.put")).await.unwrap();
    assert_eq!(
        s.find_secret("ws", Scope::Workspace, "", "tmp")
            .await
            .unwrap()
            .unwrap()
            .id,
        "new"
    );
    assert_eq!(s.secret_version("old", 1).await.unwrap(), None);
    assert_eq!(audit_rows(&*s).await, before + 2);
}

async fn list_secrets_filters_and_pages(s: Arc<dyn Store>) {
    seed(&*s).await;
    let now = Timestamp(1_000);
    let mut n = 0;
    let mut put = |name: &str, expires: Option<i64>| {
        n += 1;
        let mut row = secret(&format!("id{n}"), name, 1);
        row.expires_at = expires.map(Timestamp);
        commit_new(row)
    };
    let commits = vec![
        put("app/b", None),
        put("app/a", None),
        put("apq", None),
        put("app/c", Some(5_000)),
        put("app/expired", Some(1_000)),
        put("app/old", Some(10)),
        put("Zed", None),
        put("a_b", None),
        put("axb", None),
        put("é", None),
        put("z", None),
        put("m\u{10FFFF}x", None),
        put("n", None),
    ];
    for c in commits {
        s.commit_version(c, audit("secret.put")).await.unwrap();
    }
    let mut mine = secret("u", "app/mine", 1);
    mine.scope = Scope::User;
    mine.owner = "u1".into();
    s.commit_version(commit_new(mine), audit("secret.put"))
        .await
        .unwrap();

    let q = |prefix: Option<&str>, after: Option<&str>, limit: u32| ListQuery {
        workspace_id: "ws".into(),
        scope: Scope::Workspace,
        owner: String::new(),
        prefix: prefix.map(Into::into),
        after: after.map(Into::into),
        limit,
        now,
        entries: false,
    };
    // Bytewise order; expired at or before `now` left out; the user's own secret
    // is in another listing.
    assert_eq!(
        names(&s.list_secrets(q(None, None, 100)).await.unwrap()),
        [
            "Zed",
            "a_b",
            "app/a",
            "app/b",
            "app/c",
            "apq",
            "axb",
            "m\u{10FFFF}x",
            "n",
            "z",
            "é"
        ]
    );
    // The scan's upper bound (the prefix's successor) keeps every name with the
    // prefix, even after the highest code point, and nothing past it.
    assert_eq!(
        names(&s.list_secrets(q(Some("m"), None, 100)).await.unwrap()),
        ["m\u{10FFFF}x"]
    );
    assert_eq!(
        names(
            &s.list_secrets(q(Some("m\u{10FFFF}"), None, 100))
                .await
                .unwrap()
        ),
        ["m\u{10FFFF}x"]
    );
    assert_eq!(
        names(&s.list_secrets(q(Some("app/"), None, 100)).await.unwrap()),
        ["app/a", "app/b", "app/c"]
    );
    // `_` and `%` are plain characters in a prefix.
    assert_eq!(
        names(&s.list_secrets(q(Some("a_"), None, 100)).await.unwrap()),
        ["a_b"]
    );
    assert_eq!(
        names(&s.list_secrets(q(Some("a%"), None, 100)).await.unwrap()),
        Vec::<&str>::new()
    );
    // Pages of two, by cursor.
    assert_eq!(
        names(&s.list_secrets(q(Some("ap"), None, 2)).await.unwrap()),
        ["app/a", "app/b"]
    );
    assert_eq!(
        names(
            &s.list_secrets(q(Some("ap"), Some("app/b"), 2))
                .await
                .unwrap()
        ),
        ["app/c", "apq"]
    );
    assert_eq!(
        names(&s.list_secrets(q(Some("ap"), Some("apq"), 2)).await.unwrap()),
        Vec::<&str>::new()
    );
    assert_eq!(s.list_secrets(q(None, None, 0)).await.unwrap(), vec![]);
    let users = s
        .list_secrets(ListQuery {
            scope: Scope::User,
            owner: "u1".into(),
            ..q(None, None, 10)
        })
        .await
        .unwrap();
    assert_eq!(names(&users), ["app/mine"]);
    // Later, `app/c` has expired too.
    assert_eq!(
        names(
            &s.list_secrets(ListQuery {
                now: Timestamp(5_000),
                ..q(Some("app/"), None, 100)
            })
            .await
            .unwrap()
        ),
        ["app/a", "app/b"]
    );
}

async fn list_children_of_a_folder(s: Arc<dyn Store>) {
    seed(&*s).await;
    let now = Timestamp(1_000);
    let mut n = 0;
    let mut put = |name: &str, expires: Option<i64>| {
        n += 1;
        let mut row = secret(&format!("id{n}"), name, 1);
        row.expires_at = expires.map(Timestamp);
        commit_new(row)
    };
    let commits = vec![
        put("top", None),
        put("app/k1", None),
        put("app/k2", Some(5_000)),
        put("app/gone", Some(1_000)),
        put("app/a-b", None),
        put("app/a/x", None),
        put("app/a/y/z", None),
        put("app/a0", None),
        put("app/b/deep/er/still", None),
        put("app/dead/only", Some(10)),
        put("app/é/x", None),
        put("app/\u{10FFFF}", None),
        put("app//odd", None),
        put("apq/x", None),
        put("zz/1", None),
    ];
    for c in commits {
        s.commit_version(c, audit("secret.put")).await.unwrap();
    }
    // An entry without versions, and a user's own secret under the same folder.
    s.create_secret_entry(
        secret("e1", "app/entry", 0),
        Expect::Create,
        audit("secret.entry"),
    )
    .await
    .unwrap();
    let mut mine = secret("u", "app/mine", 1);
    mine.scope = Scope::User;
    mine.owner = "u1".into();
    s.commit_version(commit_new(mine), audit("secret.put"))
        .await
        .unwrap();

    let q = |folder: &str, after: Option<&str>, limit: u32| ChildrenQuery {
        workspace_id: "ws".into(),
        scope: Scope::Workspace,
        owner: String::new(),
        folder: folder.into(),
        after: after.map(Into::into),
        limit,
        now,
        entries: false,
    };
    let app = ["/", "a-b", "a/", "a0", "b/", "k1", "k2", "é/", "\u{10FFFF}"];
    // A page holds until the earliest expiry among the secrets it met (`k2`), or
    // for good when none of them expires.
    assert_eq!(
        s.list_children(q("app/", None, 100))
            .await
            .unwrap()
            .stable_until,
        Some(Timestamp(5_000))
    );
    assert_eq!(
        s.list_children(q("", None, 100))
            .await
            .unwrap()
            .stable_until,
        None
    );
    assert_eq!(
        s.list_children(q("app/", None, 100))
            .await
            .unwrap()
            .children,
        app
    );
    assert_eq!(
        s.list_children(q("", None, 100)).await.unwrap().children,
        ["app/", "apq/", "top", "zz/"]
    );
    assert_eq!(
        s.list_children(q("app/a/", None, 100))
            .await
            .unwrap()
            .children,
        ["x", "y/"]
    );
    assert_eq!(
        s.list_children(q("app/b/", None, 100))
            .await
            .unwrap()
            .children,
        ["deep/"]
    );
    // A folder that holds only expired secrets is not there; nor is a name's prefix
    // that is not a folder.
    assert!(s
        .list_children(q("app/dead/", None, 100))
        .await
        .unwrap()
        .children
        .is_empty());
    assert!(
        s.list_children(q("app/k", None, 100))
            .await
            .unwrap()
            .children
            == ["1", "2"]
    );
    assert!(s
        .list_children(q("nothing/", None, 100))
        .await
        .unwrap()
        .children
        .is_empty());
    assert!(s
        .list_children(q("app/", None, 0))
        .await
        .unwrap()
        .children
        .is_empty());
    // Pages of every size, by the last child, give the same children.
    for size in 1..=4u32 {
        let mut got: Vec<String> = Vec::new();
        loop {
            let page = s
                .list_children(q("app/", got.last().map(String::as_str), size))
                .await
                .unwrap()
                .children;
            assert!(page.len() <= size as usize);
            let done = page.len() < size as usize;
            got.extend(page);
            if done {
                break;
            }
        }
        assert_eq!(got, app, "pages of {size}");
    }
    // Entries on request; later, `app/k2` has expired too; another scope lists its own.
    let with_entries = s
        .list_children(ChildrenQuery {
            entries: true,
            ..q("app/", Some("b/"), 2)
        })
        .await
        .unwrap();
    assert_eq!(with_entries.children, ["entry", "k1"]);
    assert_eq!(
        s.list_children(ChildrenQuery {
            now: Timestamp(5_000),
            ..q("app/", Some("b/"), 10)
        })
        .await
        .unwrap()
        .children,
        ["k1", "é/", "\u{10FFFF}"]
    );
    assert_eq!(
        s.list_children(ChildrenQuery {
            scope: Scope::User,
            owner: "u1".into(),
            ..q("app/", None, 10)
        })
        .await
        .unwrap()
        .children,
        ["mine"]
    );
}

async fn rename_and_delete_secret(s: Arc<dyn Store>) {
    seed(&*s).await;
    s.commit_version(create("s1", "one"), audit("secret.put"))
        .await
        .unwrap();
    s.commit_version(create("s2", "two"), audit("secret.put"))
        .await
        .unwrap();
    let before = audit_rows(&*s).await;
    assert!(s
        .rename_secret(
            "s1",
            "uno",
            Timestamp(9),
            "user:bob",
            None,
            audit("secret.rename")
        )
        .await
        .unwrap());
    let renamed = s
        .find_secret("ws", Scope::Workspace, "", "uno")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            renamed.id.as_str(),
            renamed.updated_at,
            renamed.updated_by.as_str()
        ),
        ("s1", Timestamp(9), "user:bob")
    );
    assert_eq!(
        s.find_secret("ws", Scope::Workspace, "", "one")
            .await
            .unwrap(),
        None
    );
    assert!(is_conflict(
        s.rename_secret(
            "s1",
            "two",
            Timestamp(9),
            "user:bob",
            None,
            audit("secret.rename")
        )
        .await
    ));
    assert!(!s
        .rename_secret(
            "nope",
            "three",
            Timestamp(9),
            "user:bob",
            None,
            audit("secret.rename")
        )
        .await
        .unwrap());
    assert_eq!(audit_rows(&*s).await, before + 1);

    assert!(s
        .delete_secret("s2", None, audit("secret.delete"))
        .await
        .unwrap());
    assert!(!s
        .delete_secret("s2", None, audit("secret.delete"))
        .await
        .unwrap());
    assert_eq!(
        s.find_secret("ws", Scope::Workspace, "", "two")
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.secret_version("s2", 1).await.unwrap(), None);
    assert_eq!(s.list_versions("s2").await.unwrap(), vec![]);
    assert_eq!(audit_rows(&*s).await, before + 2);
    // The name is free again.
    s.commit_version(create("s3", "two"), audit("secret.put"))
        .await
        .unwrap();
}

/// A forced rename moves every binding of the old name in the same transaction; a
/// flow's delete of a secret drops that flow's bindings of it and no one else's.
async fn renames_move_bindings_and_deletes_drop_one_owners(s: Arc<dyn Store>) {
    seed(&*s).await;
    let bind = |owner: &str, secret: &str, location: &str| BindingRow {
        workspace_id: "ws".into(),
        owner: owner.into(),
        secret: secret.into(),
        location: location.into(),
    };
    s.commit_version(create("s1", "one"), audit("secret.put"))
        .await
        .unwrap();
    s.put_bindings(
        "ws",
        "crm",
        vec![bind("", "one", "node 1"), bind("", "uno", "node 2")],
        audit("bindings.put"),
    )
    .await
    .unwrap();
    s.put_bindings(
        "ws",
        "erp",
        vec![bind("", "one", "step 4")],
        audit("bindings.put"),
    )
    .await
    .unwrap();
    let before = audit_rows(&*s).await;
    assert!(s
        .rename_secret(
            "s1",
            "uno",
            Timestamp(9),
            "user:bob",
            Some(MoveBindings {
                workspace_id: "ws".into(),
                old_name: "one".into(),
            }),
            audit("secret.rename")
        )
        .await
        .unwrap());
    assert!(s.bindings_of("ws", "one").await.unwrap().is_empty());
    assert_eq!(
        s.bindings_of("ws", "uno").await.unwrap(),
        vec![
            bind("crm", "uno", "node 1"),
            bind("crm", "uno", "node 2"),
            bind("erp", "uno", "step 4")
        ]
    );
    assert_eq!(audit_rows(&*s).await, before + 1);
    // Nothing moves when the secret is gone.
    assert!(!s
        .rename_secret(
            "nope",
            "x",
            Timestamp(9),
            "user:bob",
            Some(MoveBindings {
                workspace_id: "ws".into(),
                old_name: "uno".into(),
            }),
            audit("secret.rename")
        )
        .await
        .unwrap());
    assert_eq!(s.bindings_of("ws", "uno").await.unwrap().len(), 3);

    assert!(s
        .delete_secret(
            "s1",
            Some(DropBindings {
                workspace_id: "ws".into(),
                name: "uno".into(),
                owner: "crm".into(),
            }),
            audit("secret.delete"),
        )
        .await
        .unwrap());
    assert_eq!(
        s.bindings_of("ws", "uno").await.unwrap(),
        vec![bind("erp", "uno", "step 4")]
    );
    assert!(!s
        .delete_secret(
            "s1",
            Some(DropBindings {
                workspace_id: "ws".into(),
                name: "uno".into(),
                owner: "erp".into(),
            }),
            audit("secret.delete"),
        )
        .await
        .unwrap());
    assert_eq!(s.bindings_of("ws", "uno").await.unwrap().len(), 1);
    assert_eq!(audit_rows(&*s).await, before + 2);
}

fn expire_audit(ws: &str, name: &str) -> AuditRecord {
    AuditRecord {
        target: Some(name.into()),
        actor: "system".into(),
        at: Timestamp(100),
        ..audit_in(ws, "secret.expire")
    }
}

fn expired(row: &SecretRow, audit: AuditRecord) -> ExpiredSecret {
    ExpiredSecret {
        secret_id: row.id.clone(),
        current_version: row.current_version,
        expires_at: row.expires_at.unwrap(),
        audit,
    }
}

async fn expired_secrets_are_found_and_deleted_compare_and_set(s: Arc<dyn Store>) {
    seed(&*s).await;
    add_workspace(&*s, "w2", "other").await;
    let mut a = secret("a", "gone-a", 1);
    a.expires_at = Some(Timestamp(100));
    let mut b = secret_in("w2", "b", "gone-b", 1);
    b.expires_at = Some(Timestamp(50));
    let mut c = secret("c", "stays", 1);
    c.expires_at = Some(Timestamp(101));
    for row in [&a, &b, &c] {
        s.commit_version(commit_new(row.clone()), audit("secret.put"))
            .await
            .unwrap();
    }
    s.commit_version(next(&a, 2), audit("secret.put"))
        .await
        .unwrap();
    let mut a2 = a.clone();
    a2.current_version = 2;
    a2.fingerprint = "fp2".into();

    // Found soonest first, up to the limit; what expires later is not.
    let found = s.expired_secrets(Timestamp(100), 10).await.unwrap();
    assert_eq!(found, [b.clone(), a2.clone()]);
    assert_eq!(
        s.expired_secrets(Timestamp(100), 1).await.unwrap(),
        [b.clone()]
    );
    assert!(s
        .expired_secrets(Timestamp(49), 10)
        .await
        .unwrap()
        .is_empty());

    // A secret that changed since it was found (here: a newer version) stays,
    // and its audit row is not written.
    let before = audit_rows(&*s).await;
    let stale = expired(&a, expire_audit("ws", "gone-a"));
    assert!(s.delete_expired(vec![stale]).await.unwrap().is_empty());
    assert!(s.secret_by_id("a").await.unwrap().is_some());
    assert_eq!(audit_rows(&*s).await, before);

    let batch = vec![
        expired(&b, expire_audit("w2", "gone-b")),
        expired(&a2, expire_audit("ws", "gone-a")),
    ];
    let deleted = s.delete_expired(batch.clone()).await.unwrap();
    assert_eq!(deleted, ["b", "a"]);
    assert_eq!(s.secret_version("a", 1).await.unwrap(), None);
    assert_eq!(s.secret_version("a", 2).await.unwrap(), None);
    assert_eq!(s.secret_version("b", 1).await.unwrap(), None);
    assert!(s.secret_version("c", 1).await.unwrap().is_some());
    // Each deletion appended the audit row it was given, as given.
    assert_eq!(audit_rows(&*s).await, before + 2);
    let r = &s.list_audit("ws", None, 1).await.unwrap()[0].record;
    assert_eq!(r, &batch[1].audit);
    let r = &s.list_audit("w2", None, 1).await.unwrap()[0].record;
    assert_eq!(r, &batch[0].audit);

    // Deleted already (another process purged them): nothing again, no audit.
    assert!(s.delete_expired(batch).await.unwrap().is_empty());
    assert_eq!(audit_rows(&*s).await, before + 2);
}

/// Rows queued without waiting (`queue_audit`, an egress call's row) join the
/// chains like awaited ones, in the order they were queued: once an append made
/// after them is acknowledged, every one is there and the chains verify.
async fn queued_audit_rows_join_the_chain_in_order(s: Arc<dyn Store>) {
    seed(&*s).await;
    let before = audit_rows(&*s).await;
    for i in 0..40 {
        s.queue_audit(vec![audit(&format!("queued-{i}")), audit_in("other", "q")]);
    }
    s.append_audit(vec![audit("after")]).await.unwrap();
    assert_eq!(audit_rows(&*s).await, before + 81);
    let page = s.list_audit("ws", None, 41).await.unwrap();
    let actions: Vec<&str> = page.iter().map(|r| r.record.action.as_str()).collect();
    let expected: Vec<String> = std::iter::once("after".to_string())
        .chain((0..40).rev().map(|i| format!("queued-{i}")))
        .collect();
    assert_eq!(actions, expected);
}

async fn list_audit_newest_first_in_pages(s: Arc<dyn Store>) {
    seed(&*s).await; // seq 1 in "ws"
    for i in 0..6 {
        s.append_audit(vec![
            audit(&format!("a{i}")),
            audit_in("other", &format!("o{i}")),
        ])
        .await
        .unwrap();
    }
    s.append_audit(vec![]).await.unwrap();
    let mut global = audit("global");
    global.workspace_id = None;
    global.target = Some("t".into());
    global.request_id = Some("req-1".into());
    global.detail = serde_json::json!({"n": 1, "list": [1, 2], "nested": {"k": "v"}});
    s.append_audit(vec![global.clone()]).await.unwrap();

    // "ws" rows are seq 1 (the create) and 2, 4, 6, 8, 10, 12.
    let seqs = |rows: &[AuditRow]| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
    let page = s.list_audit("ws", None, 3).await.unwrap();
    assert_eq!(seqs(&page), [12, 10, 8]);
    assert_eq!(page[0].record.action, "a5");
    let page = s.list_audit("ws", Some(8), 3).await.unwrap();
    assert_eq!(seqs(&page), [6, 4, 2]);
    let page = s.list_audit("ws", Some(2), 3).await.unwrap();
    assert_eq!(seqs(&page), [1]);
    assert_eq!(s.list_audit("ws", None, 0).await.unwrap(), vec![]);
    assert_eq!(
        seqs(&s.list_audit("other", None, 100).await.unwrap()),
        [13, 11, 9, 7, 5, 3]
    );
    assert_eq!(s.list_audit("nope", None, 10).await.unwrap(), vec![]);

    let report = s.verify_audit().await.unwrap();
    assert_eq!((report.rows, report.broken_at), (14, None));
    let all = s.export().await.unwrap().audit;
    assert_eq!(report.head, all.last().unwrap().hash);
    assert_eq!(all.last().unwrap().record, global);
    // Each row links to the previous row of its own chain: "ws", "other" and the
    // account chain each start from genesis.
    let mut heads = std::collections::HashMap::new();
    for r in &all {
        let chain = r.chain.clone().expect("rows written now have a chain");
        assert_eq!(chain, r.record.workspace_id.clone().unwrap_or_default());
        let prev = heads.insert(chain, r.hash.clone());
        assert_eq!(
            r.prev_hash,
            prev.unwrap_or_else(|| audit_chain::GENESIS.to_string())
        );
    }
    assert_eq!(heads.len(), 3);
}

async fn import_into_a_non_empty_store_conflicts(s: Arc<dyn Store>) {
    // Audit rows alone make a store non-empty.
    s.append_audit(vec![audit("a")]).await.unwrap();
    assert!(is_conflict(s.import(Snapshot::default()).await));
    seed(&*s).await;
    assert!(is_conflict(s.import(Snapshot::default()).await));
    // Nothing was changed by the refused imports.
    assert_eq!(audit_rows(&*s).await, 2);
}

async fn reseal_is_compare_and_set_on_the_key_version(s: Arc<dyn Store>) {
    seed(&*s).await;
    add_workspace(&*s, "w2", "other").await;
    s.commit_version(create("b", "b"), audit("secret.put"))
        .await
        .unwrap();
    s.commit_version(next(&secret("b", "b", 1), 2), audit("secret.put"))
        .await
        .unwrap();
    s.commit_version(create("a", "a"), audit("secret.put"))
        .await
        .unwrap();
    s.commit_version(
        commit_new(secret_in("w2", "x", "x", 1)),
        audit_in("w2", "secret.put"),
    )
    .await
    .unwrap();
    s.add_workspace_key(key_row("ws", 2), audit("key.add"))
        .await
        .unwrap();
    let todo = s.versions_to_reseal("ws", 2, 100).await.unwrap();
    let listed: Vec<(&str, u64)> = todo
        .iter()
        .map(|(s, v)| (s.id.as_str(), v.version))
        .collect();
    assert_eq!(listed, [("a", 1), ("b", 1), ("b", 2)]);
    assert_eq!(todo[1].0.current_version, 2);
    let first_two = s.versions_to_reseal("ws", 2, 2).await.unwrap();
    assert_eq!(first_two.len(), 2);

    let updates: Vec<Reseal> = todo
        .iter()
        .map(|(_, v)| Reseal {
            version: VersionRow {
                key_version: 2,
                sealed: vec![7; 5],
                ..v.clone()
            },
            old_key_version: 1,
            old_policy: v.policy.clone(),
        })
        .collect();
    let before = audit_rows(&*s).await;
    assert_eq!(s.reseal_versions(updates.clone()).await.unwrap(), 3);
    // Already moved on: nothing matches the old key version any more.
    assert_eq!(s.reseal_versions(updates).await.unwrap(), 0);
    assert_eq!(s.versions_to_reseal("ws", 2, 100).await.unwrap(), vec![]);
    let v = s.secret_version("b", 2).await.unwrap().unwrap();
    assert_eq!((v.key_version, v.sealed), (2, vec![7; 5]));
    // Other workspaces are not touched; re-sealing is not audited.
    assert_eq!(
        s.secret_version("x", 1).await.unwrap().unwrap().key_version,
        1
    );
    assert_eq!(audit_rows(&*s).await, before);
}

async fn version_policies_round_trip_and_legacy_versions_convert_once(s: Arc<dyn Store>) {
    seed(&*s).await;
    let legacy = |mut c: CommitVersion| {
        c.version.policy = None;
        c
    };
    let wide = VersionPolicy::v2(vec!["*.example.org".into(), "api.example.com".into()]);
    // a: a legacy version 1, then version 2 sealed with a policy.
    s.commit_version(legacy(create("a", "a")), audit("secret.put"))
        .await
        .unwrap();
    let mut a2 = next(&secret("a", "a", 1), 2);
    a2.version.policy = Some(wide.clone());
    s.commit_version(a2, audit("secret.put")).await.unwrap();
    // b: two legacy versions. c: a legacy version that was destroyed.
    s.commit_version(legacy(create("b", "b")), audit("secret.put"))
        .await
        .unwrap();
    s.commit_version(legacy(next(&secret("b", "b", 1), 2)), audit("secret.put"))
        .await
        .unwrap();
    s.commit_version(legacy(create("c", "c")), audit("secret.put"))
        .await
        .unwrap();
    change_versions(&*s, "c", vec![1], VersionChange::Destroy, audit("destroy"))
        .await
        .unwrap();

    // Every read carries the policy.
    assert_eq!(
        s.secret_version("a", 1).await.unwrap().unwrap().policy,
        None
    );
    assert_eq!(
        s.secret_version("a", 2).await.unwrap().unwrap().policy,
        Some(wide.clone())
    );
    let policies: Vec<Option<VersionPolicy>> = s
        .list_versions("a")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.policy)
        .collect();
    assert_eq!(policies, [Some(wide.clone()), None]);

    // Legacy versions that still hold a ciphertext, in order, paged by cursor.
    let key = |rows: &[(SecretRow, VersionRow)]| -> Vec<(String, u64)> {
        rows.iter()
            .map(|(s, v)| (s.id.clone(), v.version))
            .collect()
    };
    let all = s.legacy_versions(None, 100).await.unwrap();
    let expect = |l: &[(&str, u64)]| -> Vec<(String, u64)> {
        l.iter().map(|(id, v)| ((*id).to_owned(), *v)).collect()
    };
    assert_eq!(key(&all), expect(&[("a", 1), ("b", 1), ("b", 2)]));
    assert_eq!(all[1].0.allowed_hosts, ["api.example.com"]);
    let page = s.legacy_versions(None, 2).await.unwrap();
    assert_eq!(key(&page), expect(&[("a", 1), ("b", 1)]));
    let page = s.legacy_versions(Some(("b".into(), 1)), 2).await.unwrap();
    assert_eq!(key(&page), expect(&[("b", 2)]));
    assert!(s
        .legacy_versions(Some(("b".into(), 2)), 2)
        .await
        .unwrap()
        .is_empty());

    let convert = |(row, v): &(SecretRow, VersionRow), hosts: Vec<String>| Reseal {
        version: VersionRow {
            sealed: vec![9; 4],
            policy: Some(VersionPolicy::v2(hosts)),
            fingerprint: format!("rfp-{}-{}", row.id, v.version),
            ..v.clone()
        },
        old_key_version: v.key_version,
        old_policy: None,
    };
    // A conversion whose list is not the secret's list any more is refused.
    let stale = convert(&all[1], vec!["old.example.com".into()]);
    let before = audit_rows(&*s).await;
    assert_eq!(s.reseal_versions(vec![stale]).await.unwrap(), 0);
    let updates: Vec<Reseal> = all
        .iter()
        .map(|x| convert(x, x.0.allowed_hosts.clone()))
        .collect();
    assert_eq!(s.reseal_versions(updates.clone()).await.unwrap(), 3);
    // Compare-and-set: a second node doing the same changes nothing.
    assert_eq!(s.reseal_versions(updates).await.unwrap(), 0);
    assert!(s.legacy_versions(None, 100).await.unwrap().is_empty());
    let b2 = s.secret_version("b", 2).await.unwrap().unwrap();
    assert_eq!(
        (b2.sealed, b2.policy, b2.fingerprint.as_str()),
        (
            vec![9; 4],
            Some(VersionPolicy::v2(vec!["api.example.com".into()])),
            "rfp-b-2"
        )
    );
    // The secret's fingerprint follows its current version, and only that.
    let fp = |id: &'static str| {
        let s = s.clone();
        async move { s.secret_by_id(id).await.unwrap().unwrap().fingerprint }
    };
    assert_eq!(fp("b").await, "rfp-b-2");
    assert_eq!(fp("a").await, "fp2");
    let c1 = s.secret_version("c", 1).await.unwrap().unwrap();
    assert!(c1.destroyed && c1.policy.is_none());
    // Re-sealing is not audited.
    assert_eq!(audit_rows(&*s).await, before);

    // Under a new key version, the policy must still be the one read.
    let a2 = s.secret_version("a", 2).await.unwrap().unwrap();
    let rekey = |old_policy| Reseal {
        version: VersionRow {
            key_version: 2,
            sealed: vec![8; 4],
            ..a2.clone()
        },
        old_key_version: 1,
        old_policy,
    };
    assert_eq!(s.reseal_versions(vec![rekey(None)]).await.unwrap(), 0);
    assert_eq!(
        s.reseal_versions(vec![rekey(Some(wide.clone()))])
            .await
            .unwrap(),
        1
    );
    let a2 = s.secret_version("a", 2).await.unwrap().unwrap();
    assert_eq!((a2.key_version, a2.policy), (2, Some(wide)));
}

async fn acknowledged_writes_survive_reopening(db: &Db) {
    {
        let s = seeded(db).await;
        for i in 0..20 {
            s.commit_version(create(&format!("id{i}"), &format!("n{i}")), audit("a"))
                .await
                .unwrap();
        }
    }
    let s = seeded(db).await;
    for i in 0..20 {
        assert!(s
            .find_secret("ws", Scope::Workspace, "", &format!("n{i}"))
            .await
            .unwrap()
            .is_some());
    }
    assert_eq!(audit_rows(&*s).await, 21);
}

async fn two_stores_on_one_database_keep_one_audit_chain(db: &Db) {
    // Like `lockbox keys rotate` appending while the server runs.
    let a = seeded(db).await;
    let b = db.open().await;
    for i in 0..10 {
        a.append_audit(vec![audit(&format!("a{i}"))]).await.unwrap();
        b.append_audit(vec![audit(&format!("b{i}"))]).await.unwrap();
    }
    let r = a.verify_audit().await.unwrap();
    assert_eq!((r.rows, r.broken_at.clone()), (21, None));
    assert_eq!(b.verify_audit().await.unwrap(), r);
}

async fn verify_detects_an_edited_row(db: &Db) {
    let s = seeded(db).await;
    for i in 0..4 {
        s.append_audit(vec![audit(&format!("a{i}"))]).await.unwrap();
    }
    assert_eq!(audit_rows(&*s).await, 5);
    assert_eq!(
        db.exec_raw("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
            .await,
        1
    );
    let r = s.verify_audit().await.unwrap();
    assert_eq!(
        r.broken_at,
        Some((3, "row content does not match its hash".to_string()))
    );
}

/// Fills a store with at least one row of every kind, edge values included.
async fn populate(s: &dyn Store) {
    seed(s).await;
    add_workspace(s, "w2", "Ünïcode ✓").await;
    s.update_workspace_settings(
        "w2",
        WorkspaceSettings {
            allow_rename: true,
            max_versions: 2,
            cas_required: true,
            delete_version_after: Some(60),
        },
        audit_in("w2", "workspace.settings"),
    )
    .await
    .unwrap();
    s.add_workspace_key(
        WorkspaceKeyRow {
            wrapped: vec![0, 255, 0, 1],
            ..key_row("w2", 2)
        },
        audit_in("w2", "key.add"),
    )
    .await
    .unwrap();
    s.create_user(user("u1", "alice")).await.unwrap();
    s.create_user(user("u2", "Bob")).await.unwrap();
    s.put_membership("ws", "u1", Role::Owner, Timestamp(3), audit("member.put"))
        .await
        .unwrap();
    s.put_membership(
        "w2",
        "u2",
        Role::Viewer,
        Timestamp(4),
        audit_in("w2", "member.put"),
    )
    .await
    .unwrap();
    s.insert_token(
        TokenRow {
            expires_at: Some(Timestamp(1 << 40)),
            ..token("t1", 7)
        },
        audit("token.create"),
    )
    .await
    .unwrap();
    s.insert_token(service_token("t2", "w2"), audit_in("w2", "token.create"))
        .await
        .unwrap();
    s.touch_tokens(vec![("t1".into(), Timestamp(8))])
        .await
        .unwrap();
    s.revoke_token("t2", Timestamp(9), audit_in("w2", "token.revoke"))
        .await
        .unwrap();
    let mut s1 = secret("s1", "app/db", 1);
    s1.description = Some("password, \"quoted\"".into());
    s1.expires_at = Some(Timestamp(i64::MAX / 2));
    s.commit_version(commit_new(s1.clone()), audit("secret.put"))
        .await
        .unwrap();
    s.commit_version(next(&s1, 2), audit("secret.put"))
        .await
        .unwrap();
    s.commit_version(next(&s1, 3), audit("secret.put"))
        .await
        .unwrap();
    s.update_secret_settings(
        "s1",
        SecretSettings {
            description: None,
            labels: [("team".into(), "Zahlungs-✓ \"ops\"".into())].into(),
            max_versions: Some(7),
            cas_required: true,
            delete_version_after: Some(86_400),
        },
        Timestamp(5),
        "user:alice",
        audit("secret.settings"),
    )
    .await
    .unwrap();
    change_versions(
        s,
        "s1",
        vec![1],
        VersionChange::Destroy,
        audit("secret.destroy_versions"),
    )
    .await
    .unwrap();
    change_versions(
        s,
        "s1",
        vec![3],
        VersionChange::Delete(Timestamp(6)),
        audit("secret.delete_versions"),
    )
    .await
    .unwrap();
    let mut s2 = secret_in("w2", "s2", "mine", 1);
    s2.scope = Scope::User;
    s2.owner = "u2".into();
    s2.visibility = Visibility::Restricted;
    let mut c = commit_new(s2);
    c.version.key_version = 2;
    c.version.sealed = (0..=255).collect();
    // A legacy version (no policy) beside policy-bound ones.
    c.version.policy = None;
    s.commit_version(c, audit_in("w2", "secret.put"))
        .await
        .unwrap();
    let mut rich = audit("secret.reveal");
    rich.target = Some("app/db".into());
    rich.request_id = Some("req-7".into());
    rich.outcome = "denied:forbidden".into();
    rich.detail = serde_json::json!({"version": 2, "why": ["a", "b"], "ok": false, "x": 1.5});
    let mut system = audit("system.start");
    system.workspace_id = None;
    system.detail = serde_json::Value::Null;
    s.append_audit(vec![rich, system]).await.unwrap();
}

async fn export_then_import_into_the_other_kind(db: &Db) {
    let source = db.open().await;
    populate(&*source).await;
    let snap = source.export().await.unwrap();
    assert!(!snap.workspaces.is_empty() && !snap.workspace_keys.is_empty());
    assert!(!snap.users.is_empty() && !snap.memberships.is_empty());
    assert!(!snap.tokens.is_empty() && !snap.secrets.is_empty());
    assert!(!snap.versions.is_empty() && !snap.audit.is_empty());
    // Exported twice, the same.
    assert_eq!(source.export().await.unwrap(), snap);

    let other_kind = match db.kind {
        Kind::Sqlite => Kind::Postgres,
        Kind::Postgres => Kind::Sqlite,
    };
    // Without PostgreSQL, SQLite round-trips into SQLite (the notice says so).
    let other = Db::of(other_kind).unwrap_or_else(Db::sqlite);
    let target = other.open().await;
    target.import(snap.clone()).await.unwrap();
    assert_eq!(target.export().await.unwrap(), snap);
    // Version states and per-secret settings come across.
    let s1 = target
        .find_secret("ws", Scope::Workspace, "", "app/db")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s1.labels["team"], "Zahlungs-✓ \"ops\"");
    assert_eq!(
        (s1.max_versions, s1.cas_required, s1.delete_version_after),
        (Some(7), true, Some(86_400))
    );
    assert_eq!(
        (
            s1.current_version,
            s1.current_deleted_at,
            s1.current_destroyed
        ),
        (3, Some(Timestamp(6)), false)
    );
    let v1 = target.secret_version("s1", 1).await.unwrap().unwrap();
    assert!(v1.destroyed && v1.sealed.is_empty());
    // Version policies come across, legacy ones as legacy.
    assert_eq!(
        target
            .secret_version("s1", 2)
            .await
            .unwrap()
            .unwrap()
            .policy,
        Some(VersionPolicy::v2(vec!["api.example.com".into()]))
    );
    assert_eq!(
        target
            .secret_version("s2", 1)
            .await
            .unwrap()
            .unwrap()
            .policy,
        None
    );
    let report = target.verify_audit().await.unwrap();
    assert_eq!(report, source.verify_audit().await.unwrap());
    assert_eq!(report.broken_at, None);

    // The imported chain goes on from its head.
    target
        .append_audit(vec![audit("after.import")])
        .await
        .unwrap();
    let report = target.verify_audit().await.unwrap();
    assert_eq!(
        (report.rows, report.broken_at),
        (snap.audit.len() as u64 + 1, None)
    );
    // And the restored store works like any other.
    let s1 = target
        .find_secret("ws", Scope::Workspace, "", "app/db")
        .await
        .unwrap()
        .unwrap();
    target
        .commit_version(next(&s1, 4), audit("secret.put"))
        .await
        .unwrap();
    assert!(is_conflict(target.import(snap).await));
}

async fn recv_within(rx: &mut broadcast::Receiver<Change>, within: Duration) -> Option<Change> {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => panic!("change feed: {e}"),
        Err(_) => None,
    }
}

async fn expect_changes(rx: &mut broadcast::Receiver<Change>, expected: &[Change]) {
    for want in expected {
        let got = recv_within(rx, Duration::from_secs(1)).await;
        assert_eq!(got.as_ref(), Some(want), "expected {want:?} within 1 s");
    }
}

async fn change_feed_reaches_other_instances(db: &Db) {
    let a = seeded(db).await;
    if db.kind == Kind::Sqlite {
        assert!(a.subscribe().is_none());
        return;
    }
    let b = db.open().await;
    let mut rx_b = b.subscribe().expect("PostgreSQL has a change feed");
    let mut rx_a = a.subscribe().expect("PostgreSQL has a change feed");
    let secret_id = |id: &str| Change::Secret(id.into());

    a.commit_version(create("s1", "one"), audit("secret.put"))
        .await
        .unwrap();
    expect_changes(&mut rx_b, &[secret_id("s1")]).await;
    a.commit_version(next(&secret("s1", "one", 1), 2), audit("secret.put"))
        .await
        .unwrap();
    a.rename_secret("s1", "uno", Timestamp(2), "x", None, audit("secret.rename"))
        .await
        .unwrap();
    change_versions(
        &*a,
        "s1",
        vec![2],
        VersionChange::Destroy,
        audit("secret.destroy"),
    )
    .await
    .unwrap();
    a.update_secret_settings(
        "s1",
        SecretSettings::default(),
        Timestamp(3),
        "x",
        audit("secret.settings"),
    )
    .await
    .unwrap();
    a.delete_secret("s1", None, audit("secret.delete"))
        .await
        .unwrap();
    expect_changes(
        &mut rx_b,
        &[
            secret_id("s1"),
            secret_id("s1"),
            secret_id("s1"),
            secret_id("s1"),
            secret_id("s1"),
        ],
    )
    .await;

    a.create_user(user("u1", "alice")).await.unwrap();
    a.create_workspace(
        ws_row("w2", "second"),
        key_row("w2", 1),
        Some(("u1".into(), Role::Owner)),
        audit_in("w2", "workspace.create"),
    )
    .await
    .unwrap();
    expect_changes(
        &mut rx_b,
        &[
            Change::Membership("w2".into(), "u1".into()),
            Change::Workspace("w2".into()),
        ],
    )
    .await;
    a.put_membership("ws", "u1", Role::Viewer, Timestamp(1), audit("member.put"))
        .await
        .unwrap();
    a.delete_membership("ws", "u1", audit("member.delete"))
        .await
        .unwrap();
    let ws_change = || Change::Workspace("ws".into());
    a.update_workspace_settings("ws", WorkspaceSettings::default(), audit("ws.settings"))
        .await
        .unwrap();
    a.add_workspace_key(key_row("ws", 2), audit("key.add"))
        .await
        .unwrap();
    a.rewrap_workspace_keys(vec![key_row("ws", 2)], audit("keys.rewrap"))
        .await
        .unwrap();
    expect_changes(
        &mut rx_b,
        &[
            Change::Membership("ws".into(), "u1".into()),
            Change::Membership("ws".into(), "u1".into()),
            ws_change(),
            ws_change(),
            ws_change(),
        ],
    )
    .await;

    a.insert_token(token("t1", 1), audit("token.create"))
        .await
        .unwrap();
    a.touch_tokens(vec![("t1".into(), Timestamp(5))])
        .await
        .unwrap();
    a.revoke_token("t1", Timestamp(6), audit("token.revoke"))
        .await
        .unwrap();
    expect_changes(
        &mut rx_b,
        &[Change::Token("t1".into()), Change::Token("t1".into())],
    )
    .await;

    let mut e = secret("s2", "exp", 1);
    e.expires_at = Some(Timestamp(3));
    a.commit_version(commit_new(e.clone()), audit("secret.put"))
        .await
        .unwrap();
    assert_eq!(
        a.expired_secrets(Timestamp(10), 10).await.unwrap(),
        [e.clone()]
    );
    a.delete_expired(vec![expired(&e, expire_audit("ws", "exp"))])
        .await
        .unwrap();
    let v = a.secret_version("s2", 1).await.unwrap();
    assert_eq!(v, None);
    expect_changes(&mut rx_b, &[secret_id("s2"), secret_id("s2")]).await;

    // Deleting a workspace reports it, its memberships and its service tokens.
    a.insert_token(service_token("t2", "w2"), audit_in("w2", "token.create"))
        .await
        .unwrap();
    a.delete_workspace("w2", audit_in("w2", "workspace.delete"))
        .await
        .unwrap();
    expect_changes(
        &mut rx_b,
        &[
            Change::Token("t2".into()),
            Change::Membership("w2".into(), "u1".into()),
            Change::Token("t2".into()),
            Change::Workspace("w2".into()),
        ],
    )
    .await;

    // A change from `b` reaches `a`; nobody hears its own.
    b.commit_version(create("s3", "three"), audit("secret.put"))
        .await
        .unwrap();
    expect_changes(&mut rx_a, &[secret_id("s3")]).await;
    assert_eq!(
        recv_within(&mut rx_b, Duration::from_millis(300)).await,
        None
    );
    assert_eq!(
        recv_within(&mut rx_a, Duration::from_millis(100)).await,
        None
    );

    // Importing tells everyone to start afresh.
    let other = Db::postgres().unwrap();
    let c = other.open_pg().await;
    let d = other.open().await;
    let mut rx_d = d.subscribe().unwrap();
    c.import(a.export().await.unwrap()).await.unwrap();
    expect_changes(&mut rx_d, &[Change::Everything]).await;
}

// ---------------------------------------------------------------------------
// PostgreSQL only: several processes on one database

async fn concurrent_compare_and_set_across_instances(db: &Db) {
    let a = seeded(db).await;
    let b = db.open().await;
    a.commit_version(create("s", "hot"), audit("secret.put"))
        .await
        .unwrap();
    for v in 2..=6u64 {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                s.commit_version(next(&secret("s", "hot", v - 1), v), audit("secret.put"))
                    .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 1, "exactly one writer wins version {v}");
    }
    let found = b
        .find_secret("ws", Scope::Workspace, "", "hot")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.current_version, 6);
    let kept: Vec<u64> = a
        .list_versions("s")
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(kept, [6, 5, 4, 3, 2, 1]);
    // workspace.create + 6 winning puts.
    assert_eq!(audit_rows(&*a).await, 7);
}

async fn concurrent_audit_appends_across_instances(db: &Db) {
    let a = seeded(db).await;
    let b = db.open().await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                s.append_audit(vec![audit(&format!("t{t}.{i}")), audit("pair")])
                    .await
                    .unwrap();
            }
        }));
    }
    // Interleave other audited writes too.
    for i in 0..10 {
        let s = if i % 2 == 0 { &a } else { &b };
        s.commit_version(
            create(&format!("id{i}"), &format!("n{i}")),
            audit("secret.put"),
        )
        .await
        .unwrap();
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = b.verify_audit().await.unwrap();
    assert_eq!((r.rows, r.broken_at), (1 + 8 * 25 * 2 + 10, None));
    // Each append's rows are adjacent.
    let audit = a.export().await.unwrap().audit;
    for (i, row) in audit.iter().enumerate() {
        if row.record.action.starts_with('t') {
            assert_eq!(audit[i + 1].record.action, "pair");
        }
    }
}

/// A batch whose jobs are partly refused notifies only what it committed: another
/// instance hears of the acknowledged secrets, never of a refused one.
async fn refused_commits_in_a_batch_notify_nothing(db: &Db) {
    let a = seeded(db).await;
    let b = db.open().await;
    let mut rx = b.subscribe().expect("PostgreSQL has a change feed");
    a.commit_version(create("taken", "taken"), audit("secret.put"))
        .await
        .unwrap();
    // Its own announcement arrives whenever the listener gets it: take it first,
    // so every later change is one of the batch's.
    loop {
        match recv_within(&mut rx, Duration::from_secs(10)).await {
            Some(Change::Secret(id)) if id == "taken" => break,
            Some(_) => continue,
            None => panic!("the first commit was never announced"),
        }
    }
    let mut tasks = Vec::new();
    for i in 0..48 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let commit = match i % 3 {
                0 => create(&format!("ok{i}"), &format!("ok{i}")),
                // A name in use: refused; its id must not be announced.
                1 => create(&format!("ghost{i}"), "taken"),
                // A stale compare-and-set on a secret nobody else changes.
                _ => next(&secret("taken", "taken", 3), 4),
            };
            a.commit_version(commit, audit("secret.put")).await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        assert_eq!(r.is_ok(), i % 3 == 0, "job {i}: {r:?}");
    }
    let mut heard = std::collections::BTreeSet::new();
    while let Some(c) = recv_within(&mut rx, Duration::from_millis(500)).await {
        match c {
            Change::Secret(id) => {
                assert!(id.starts_with("ok"), "a refused commit was announced: {id}");
                heard.insert(id);
            }
            other => panic!("unexpected change {other:?}"),
        }
    }
    assert_eq!(heard.len(), 16, "every acknowledged commit is announced");
}

async fn listener_reconnects_and_reports_everything(db: &Db) {
    let a = db.open_pg().await;
    seed(&*a).await;
    let b = db.open().await;
    let mut rx = a.subscribe().unwrap();
    let raw = db.pg_client().await;
    let killed = raw
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("lockbox-listener-{}", a.node_id())],
        )
        .await
        .unwrap();
    assert_eq!(killed, 1);
    let got = recv_within(&mut rx, Duration::from_secs(5)).await;
    assert_eq!(got, Some(Change::Everything));
    // Listening again.
    b.commit_version(create("s1", "one"), audit("secret.put"))
        .await
        .unwrap();
    expect_changes(&mut rx, &[Change::Secret("s1".into())]).await;
}

async fn concurrent_startup_migrates_once(db: &Db) {
    let mut tasks = Vec::new();
    let pg = db.pg.as_ref().unwrap();
    for _ in 0..4 {
        let (url, schema) = (pg.url.clone(), pg.schema.clone());
        tasks.push(tokio::spawn(async move {
            PostgresStore::connect_in_schema(&url, &schema).await
        }));
    }
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap().unwrap());
    }
    seed(&stores[0]).await;
    assert!(stores[3]
        .workspace_by_name("default")
        .await
        .unwrap()
        .is_some());
    let raw = db.pg_client().await;
    // Each migration applied exactly once, however many nodes raced to start.
    let row = raw
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT version), MAX(version) FROM lockbox_schema_version",
            &[],
        )
        .await
        .unwrap();
    let (count, distinct, max): (i64, i64, i32) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(count, distinct);
    assert_eq!(count, i64::from(max));
    // Schema names are checked.
    let bad = PostgresStore::connect_in_schema(&pg.url, "Bad; DROP").await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))));
}

// ---------------------------------------------------------------------------
// Master keys every node agrees on (issue 16)

fn node_row(id: &str, versions: &[u32], seen: i64) -> NodeRow {
    NodeRow {
        id: id.into(),
        host: "h".into(),
        pid: 42,
        key_source: "the key file /x/master.key".into(),
        key_versions: versions.to_vec(),
        problem: None,
        started_at: Timestamp(1),
        seen_at: Timestamp(seen),
        expires_at: Timestamp(seen + 1000),
    }
}

async fn key_checks_are_recorded_once_and_nodes_expire(s: Arc<dyn Store>) {
    assert!(s.master_key_checks().await.unwrap().is_empty());
    let check = |v: u32, b: u8| MasterKeyCheckRow {
        version: v,
        check: vec![b; 40],
        created_at: Timestamp(v as i64),
    };
    assert!(s.add_master_key_check(check(2, 2)).await.unwrap());
    assert!(s.add_master_key_check(check(1, 1)).await.unwrap());
    // A check is never replaced: the second node with another key loses.
    assert!(!s.add_master_key_check(check(1, 9)).await.unwrap());
    assert_eq!(
        s.master_key_checks().await.unwrap(),
        vec![check(1, 1), check(2, 2)]
    );

    s.put_node(node_row("a", &[1], 10_000)).await.unwrap();
    s.put_node(node_row("b", &[1], 10_000)).await.unwrap();
    let mut b = node_row("b", &[1, 2], 10_500);
    b.problem = Some("missing version 3".into());
    s.put_node(b.clone()).await.unwrap();
    assert_eq!(
        s.live_nodes(Timestamp(10_600)).await.unwrap(),
        vec![node_row("a", &[1], 10_000), b.clone()]
    );
    // a's row expired at 11_000; b's lasts until 11_500.
    assert_eq!(s.live_nodes(Timestamp(11_200)).await.unwrap(), vec![b]);
    s.remove_node("b").await.unwrap();
    assert!(s.live_nodes(Timestamp(11_200)).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// Keyed audit links (issue 16)

/// Chain keys as the service gives them, from a fixed test key.
struct TestKeys;

impl audit_chain::ChainKeys for TestKeys {
    fn active_version(&self) -> u32 {
        1
    }
    fn mac(&self, version: u32, msg: &[u8]) -> Result<[u8; 32], String> {
        if version != 1 {
            return Err(format!("master key version {version} is unknown"));
        }
        let ring = lockbox_crypto::MasterKeyring::from_key_bytes([5u8; 32]);
        Ok(ring
            .audit_chain_key(version)
            .map_err(|e| e.to_string())?
            .mac(msg))
    }
}

fn sql_text(s: Option<&str>) -> String {
    match s {
        None => "NULL".into(),
        Some(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// Replaces the whole audit table with `rows`, behind the store's back (what an
/// attacker with write access to the database can do), head row included.
async fn rewrite_audit_table(db: &Db, rows: &[AuditRow]) {
    db.exec_raw("DELETE FROM audit_events").await;
    for r in rows {
        let a = &r.record;
        db.exec_raw(&format!(
            "INSERT INTO audit_events (seq, workspace_id, at, actor, action, target, outcome, \
             request_id, detail, prev_hash, hash, key_version, chain) VALUES \
             ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            r.seq,
            sql_text(a.workspace_id.as_deref()),
            a.at.millis(),
            sql_text(Some(&a.actor)),
            sql_text(Some(&a.action)),
            sql_text(a.target.as_deref()),
            sql_text(Some(&a.outcome)),
            sql_text(a.request_id.as_deref()),
            sql_text(Some(&a.detail.to_string())),
            sql_text(Some(&r.prev_hash)),
            sql_text(Some(&r.hash)),
            r.key_version.map_or("NULL".to_string(), |v| v.to_string()),
            sql_text(r.chain.as_deref()),
        ))
        .await;
    }
    if db.kind == Kind::Postgres {
        rebuild_pg_heads(db).await;
    }
}

/// Sets PostgreSQL's per-chain heads to the newest row of each chain (after rows
/// were edited behind the store's back).
async fn rebuild_pg_heads(db: &Db) {
    db.exec_raw("DELETE FROM audit_heads").await;
    db.exec_raw(
        "INSERT INTO audit_heads (chain, seq, hash) SELECT COALESCE(chain, ''), seq, hash \
         FROM audit_events WHERE seq IN \
         (SELECT MAX(seq) FROM audit_events GROUP BY COALESCE(chain, ''))",
    )
    .await;
}

/// Drop every `egress.fetch` row and one user's reveals, renumber, recompute
/// every SHA-256 link: the "20 lines of Python" of issue 16. With keyed links the
/// result does not verify, whether the rows keep their key version or not.
async fn keyed_chain_resists_a_recomputed_rewrite(db: &Db) {
    let s = db.open().await;
    s.set_chain_keys(Arc::new(TestKeys));
    seed(&*s).await;
    for i in 0..6 {
        s.append_audit(vec![audit(&format!("secret.put{i}"))])
            .await
            .unwrap();
        s.append_audit(vec![audit("egress.fetch")]).await.unwrap();
        let mut reveal = audit("secret.reveal");
        reveal.actor = if i % 2 == 0 {
            "user:mallory"
        } else {
            "user:ada"
        }
        .into();
        s.append_audit(vec![reveal]).await.unwrap();
    }
    let r = s.verify_audit().await.unwrap();
    assert_eq!(
        (r.rows, r.broken_at.clone(), r.keyed_from),
        (19, None, Some(1))
    );
    let state = s.audit_chain_state().await.unwrap();
    assert_eq!(state.head.seq, 19);
    assert_eq!(state.head.hash, r.head);
    assert!(state.head_keyed && !state.boundary_pending());
    assert_eq!(s.audit_row(19).await.unwrap().unwrap().hash, r.head);
    assert_eq!(s.audit_row(20).await.unwrap(), None);

    let all = s.export().await.unwrap().audit;
    for drop_key_version in [false, true] {
        let mut kept: Vec<AuditRow> = all
            .iter()
            .filter(|r| {
                r.record.action != "egress.fetch"
                    && !(r.record.action == "secret.reveal" && r.record.actor == "user:mallory")
            })
            .cloned()
            .collect();
        let mut prev = audit_chain::GENESIS.to_string();
        for (i, r) in kept.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
            r.prev_hash = prev.clone();
            if drop_key_version {
                r.key_version = None;
            }
            r.hash = audit_chain::legacy_row_hash(&prev, r);
            prev = r.hash.clone();
        }
        rewrite_audit_table(db, &kept).await;
        let r = s.verify_audit().await.unwrap();
        assert_eq!(
            r.broken_at.as_ref().map(|b| b.0),
            Some(1),
            "drop_key_version {drop_key_version}: {r:?}"
        );
        // A fresh instance on the same database, given the key, agrees.
        let t = db.open().await;
        t.set_chain_keys(Arc::new(TestKeys));
        assert!(t.verify_audit().await.unwrap().broken_at.is_some());
    }
    // Putting the real rows back restores it.
    rewrite_audit_table(db, &all).await;
    assert_eq!(s.verify_audit().await.unwrap().broken_at, None);
}

/// Verifies `s`'s chains and checks them against `expect` (a saved checkpoint
/// head) as `lockbox audit verify --expect-head` does: `None` when all holds.
async fn check_against(s: &dyn Store, expect: &audit_chain::Head) -> Option<String> {
    let r = s.verify_audit().await.unwrap();
    let row = s.audit_row(expect.seq).await.unwrap();
    let expected = audit_chain::check_expected_head(&r, row.as_ref(), expect);
    r.broken_at
        .map(|(seq, why)| format!("broken at {seq}: {why}"))
        .or(expected)
}

/// Per-workspace chains (issue 20): each workspace's rows and the account rows
/// are linear chains of their own, and a checkpoint in the account chain names
/// every chain's head. Against a saved checkpoint, deleting a whole workspace
/// chain, cutting a chain's tail before the checkpoint, and editing any row are
/// each caught; rows after the checkpoint are covered only by their own links.
async fn per_workspace_chains_are_tied_by_checkpoints(db: &Db) {
    let s = db.open().await;
    s.set_chain_keys(Arc::new(TestKeys));
    seed(&*s).await;
    add_workspace(&*s, "w2", "second").await;
    for i in 0..3 {
        let mut acct = audit(&format!("acct{i}"));
        acct.workspace_id = None;
        s.append_audit(vec![
            audit(&format!("a{i}")),
            audit_in("w2", &format!("b{i}")),
            acct,
        ])
        .await
        .unwrap();
    }
    let cp = || {
        let mut r = audit(audit_chain::CHECKPOINT_ACTION);
        r.actor = "system".into();
        r
    };
    let head = s.checkpoint_audit(cp()).await.unwrap();
    let row = s.audit_row(head.seq).await.unwrap().unwrap();
    assert_eq!(row.hash, head.hash);
    assert_eq!(
        (row.record.workspace_id.as_deref(), row.chain.as_deref()),
        (None, Some(""))
    );
    let named = audit_chain::checkpoint_heads(&row.record.detail).unwrap();
    assert_eq!(
        named.iter().map(|h| h.chain.as_str()).collect::<Vec<_>>(),
        ["w2", "ws"]
    );
    // Not in the account view (it names every workspace's head).
    assert!(s
        .list_account_audit(vec!["system".into()], None, 100)
        .await
        .unwrap()
        .is_empty());
    // Nothing moved: the same checkpoint, no new row.
    assert_eq!(s.checkpoint_audit(cp()).await.unwrap(), head);
    // One more row in "ws" after the checkpoint.
    s.append_audit(vec![audit("after")]).await.unwrap();
    assert_eq!(check_against(&*s, &head).await, None);
    let all = s.export().await.unwrap().audit;
    assert_eq!(all.len(), 13);
    let seq_of = |pred: &dyn Fn(&AuditRow) -> bool| all.iter().rev().find(|r| pred(r)).unwrap().seq;

    // Deleting the whole "w2" chain.
    assert_eq!(
        db.exec_raw("DELETE FROM audit_events WHERE chain = 'w2'")
            .await,
        4
    );
    let why = check_against(&*s, &head)
        .await
        .expect("a deleted chain is caught");
    assert!(why.contains("\"w2\"") && why.contains("gone"), "{why}");
    rewrite_audit_table(db, &all).await;
    assert_eq!(check_against(&*s, &head).await, None);

    // Cutting "ws"'s tail before the checkpoint (its newest row the checkpoint names).
    let ws_head = seq_of(&|r| r.chain.as_deref() == Some("ws") && r.seq < head.seq);
    db.exec_raw(&format!("DELETE FROM audit_events WHERE seq = {ws_head}"))
        .await;
    let why = check_against(&*s, &head)
        .await
        .expect("a cut tail is caught");
    assert!(why.contains("gone"), "{why}");
    rewrite_audit_table(db, &all).await;

    // Cutting the account chain back to before the checkpoint fails the saved head.
    db.exec_raw(&format!(
        "DELETE FROM audit_events WHERE chain = '' AND seq >= {}",
        head.seq
    ))
    .await;
    assert!(check_against(&*s, &head).await.is_some());
    rewrite_audit_table(db, &all).await;

    // Editing any row, in any chain (the checkpoint too).
    for r in &all {
        db.exec_raw(&format!(
            "UPDATE audit_events SET actor = 'mallory' WHERE seq = {}",
            r.seq
        ))
        .await;
        assert!(
            check_against(&*s, &head).await.is_some(),
            "an edit of seq {} is caught",
            r.seq
        );
        rewrite_audit_table(db, &all).await;
    }

    // What a checkpoint does not cover: the row after it, cut from its chain.
    let after = seq_of(&|r| r.record.action == "after");
    db.exec_raw(&format!("DELETE FROM audit_events WHERE seq = {after}"))
        .await;
    assert_eq!(check_against(&*s, &head).await, None);
    rewrite_audit_table(db, &all).await;

    // The next checkpoint covers it, and chains keep appending after a reopen.
    let s = db.open().await;
    s.set_chain_keys(Arc::new(TestKeys));
    let next = s.checkpoint_audit(cp()).await.unwrap();
    assert!(next.seq > head.seq);
    s.append_audit(vec![audit_in("w2", "later")]).await.unwrap();
    assert_eq!(check_against(&*s, &next).await, None);
    assert_eq!(check_against(&*s, &head).await, None);
    db.exec_raw(&format!("DELETE FROM audit_events WHERE seq = {after}"))
        .await;
    assert!(check_against(&*s, &next).await.is_some());
}

/// Two nodes on one database: while one holds the head of workspace "ws" (as a
/// transaction appending to it does until COMMIT), an append to workspace "w2"
/// from the other node commits, and the append to "ws" waits for the holder.
/// (Before per-workspace chains every append locked one `audit_head` row.)
async fn appends_to_another_workspace_do_not_wait_for_a_held_head(db: &Db) {
    let a = seeded(db).await;
    add_workspace(&*a, "w2", "second").await;
    let b = db.open().await;
    // A transaction appending to "ws", held open before its COMMIT.
    let mut holder = db.pg_client().await;
    let held = holder.transaction().await.unwrap();
    held.query(
        "SELECT seq FROM audit_heads WHERE chain = 'ws' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    let holder_pid: i32 = held
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    // Node a's append to "ws" waits on it...
    let a2 = a.clone();
    let blocked = tokio::spawn(async move { a2.append_audit(vec![audit("ws.waits")]).await });
    let watcher = db.pg_client().await;
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                &[&holder_pid],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...while node b's append to "w2" commits (the timeout only turns a hang
    // into a failure; nothing here depends on how long anything takes).
    tokio::time::timeout(
        Duration::from_secs(60),
        b.append_audit(vec![audit_in("w2", "w2.commits")]),
    )
    .await
    .expect("an append to another workspace does not wait for the held head")
    .unwrap();
    let w2 = b.list_audit("w2", None, 1).await.unwrap();
    assert_eq!(w2[0].record.action, "w2.commits");
    assert!(
        !blocked.is_finished(),
        "the append to \"ws\" waits for the holder"
    );
    held.rollback().await.unwrap();
    blocked.await.unwrap().unwrap();
    let r = a.verify_audit().await.unwrap();
    assert_eq!((r.rows, r.broken_at), (4, None));
    // The "ws" row took its seq after the "w2" row, yet both chains verify.
    let ws = a.list_audit("ws", None, 1).await.unwrap();
    assert!(ws[0].seq > w2[0].seq);
}

/// A chain written with legacy links (before keyed links) keeps verifying, and
/// rows appended once the store has keys are keyed and link to it; a legacy row
/// after them breaks the chain.
async fn legacy_chain_continues_keyed(db: &Db) {
    let old = db.open().await;
    seed(&*old).await;
    for i in 0..2 {
        old.append_audit(vec![audit(&format!("old{i}"))])
            .await
            .unwrap();
    }
    // What the migration records for a database that already held 3 rows.
    match db.kind {
        Kind::Sqlite => db.exec_raw("UPDATE audit_chain SET legacy_rows = 3").await,
        Kind::Postgres => db.exec_raw("UPDATE audit_head SET legacy_rows = 3").await,
    };
    drop(old);
    let s = db.open().await;
    s.set_chain_keys(Arc::new(TestKeys));
    let state = s.audit_chain_state().await.unwrap();
    assert_eq!((state.head.seq, state.legacy_rows), (3, 3));
    assert!(state.boundary_pending());
    assert_eq!(s.verify_audit().await.unwrap().broken_at, None);
    for i in 0..2 {
        s.append_audit(vec![audit(&format!("new{i}"))])
            .await
            .unwrap();
    }
    let r = s.verify_audit().await.unwrap();
    assert_eq!((r.rows, r.broken_at, r.keyed_from), (5, None, Some(4)));
    let state = s.audit_chain_state().await.unwrap();
    assert!(state.head_keyed && !state.boundary_pending());
    let row4 = s.audit_row(4).await.unwrap().unwrap();
    assert_eq!(row4.key_version, Some(1));
    assert_eq!(row4.prev_hash, s.audit_row(3).await.unwrap().unwrap().hash);

    // A process without the key appending now breaks the chain (and says where).
    let keyless = db.open().await;
    keyless.append_audit(vec![audit("late")]).await.unwrap();
    assert_eq!(
        s.verify_audit().await.unwrap().broken_at.map(|b| b.0),
        Some(6)
    );
}

async fn account_audit_lists_rows_without_a_workspace_by_actor(s: Arc<dyn Store>) {
    seed(&*s).await;
    let mut rows = Vec::new();
    for (ws, actor) in [
        (None, "user:ada"),
        (Some("ws"), "user:ada"),
        (None, "user:bob"),
        (None, "system"),
        (None, "user:ada"),
    ] {
        let mut r = audit("x");
        r.workspace_id = ws.map(str::to_owned);
        r.actor = actor.into();
        rows.push(r);
    }
    s.append_audit(rows).await.unwrap();
    let seqs = |rows: Vec<AuditRow>| rows.iter().map(|r| r.seq).collect::<Vec<_>>();
    let ada = s
        .list_account_audit(vec!["user:ada".into()], None, 10)
        .await
        .unwrap();
    assert_eq!(seqs(ada), vec![6, 2]);
    let both = s
        .list_account_audit(vec!["user:ada".into(), "system".into()], None, 2)
        .await
        .unwrap();
    assert_eq!(seqs(both), vec![6, 5]);
    let older = s
        .list_account_audit(vec!["user:ada".into(), "system".into()], Some(5), 10)
        .await
        .unwrap();
    assert_eq!(seqs(older), vec![2]);
    assert!(s
        .list_account_audit(vec![], None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A secret with no version yet (Vault's metadata written before any data):
/// it reads, lists and deletes like any secret, with current version 0 and no
/// versions; its name is taken; the first commit, compare-and-set on 0, makes
/// version 1 and keeps the entry's settings.
async fn a_secret_entry_without_versions_takes_version_one(s: Arc<dyn Store>) {
    seed(&*s).await;
    let mut entry = secret("e", "entry", 0);
    entry.fingerprint = String::new();
    entry.labels = [("team".to_owned(), "infra".to_owned())].into();
    entry.max_versions = Some(3);
    entry.cas_required = true;
    let before = audit_rows(&*s).await;
    s.create_secret_entry(entry.clone(), Expect::Create, audit("secret.settings"))
        .await
        .unwrap();
    assert_eq!(audit_rows(&*s).await, before + 1);
    let found = s
        .find_secret("ws", Scope::Workspace, "", "entry")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, entry);
    assert_eq!(
        (
            found.current_version,
            found.current_deleted_at,
            found.current_destroyed
        ),
        (0, None, false)
    );
    assert!(s.list_versions("e").await.unwrap().is_empty());
    assert!(s.secret_version("e", 0).await.unwrap().is_none());
    let listed = s
        .list_secrets(ListQuery {
            workspace_id: "ws".into(),
            scope: Scope::Workspace,
            owner: String::new(),
            prefix: None,
            after: None,
            limit: 10,
            now: Timestamp(1),
            entries: true,
        })
        .await
        .unwrap();
    assert_eq!(names(&listed), ["entry"]);
    // Left out unless asked for.
    let listed = s
        .list_secrets(ListQuery {
            workspace_id: "ws".into(),
            scope: Scope::Workspace,
            owner: String::new(),
            prefix: None,
            after: None,
            limit: 10,
            now: Timestamp(1),
            entries: false,
        })
        .await
        .unwrap();
    assert!(listed.is_empty());
    // The name is taken: neither another entry nor a new secret may take it.
    assert!(is_conflict(
        s.create_secret_entry(secret("e2", "entry", 0), Expect::Create, audit("x"))
            .await
    ));
    assert!(is_conflict(
        s.commit_version(create("e3", "entry"), audit("x")).await
    ));
    // An entry is never made with a version number.
    assert!(s
        .create_secret_entry(secret("e4", "other", 1), Expect::Create, audit("x"))
        .await
        .is_err());
    // The first write: compare-and-set on version 0.
    let mut first = next(&entry, 1);
    first.prune_through = lockbox_core::versions::pruned_through(1, 3);
    s.commit_version(first, audit("secret.put")).await.unwrap();
    let found = s
        .find_secret("ws", Scope::Workspace, "", "entry")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.current_version, 1);
    assert_eq!(found.labels, entry.labels);
    assert_eq!((found.max_versions, found.cas_required), (Some(3), true));
    let vs = s.list_versions("e").await.unwrap();
    assert_eq!(vs.iter().map(|v| v.version).collect::<Vec<_>>(), [1]);
    // A stale compare-and-set on 0 now conflicts.
    assert!(is_conflict(
        s.commit_version(next(&entry, 1), audit("x")).await
    ));

    // Another entry replaces an expired secret that still holds its name.
    let mut old = secret("x", "expired", 1);
    old.expires_at = Some(Timestamp(5));
    s.commit_version(commit_new(old), audit("secret.put"))
        .await
        .unwrap();
    s.create_secret_entry(
        secret("x2", "expired", 0),
        Expect::ReplaceExpired("x".into()),
        audit("secret.settings"),
    )
    .await
    .unwrap();
    let found = s
        .find_secret("ws", Scope::Workspace, "", "expired")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id.as_str(), found.current_version), ("x2", 0));
    assert!(s.list_versions("x").await.unwrap().is_empty());
    // An entry deletes like any secret.
    assert!(s
        .delete_secret("x2", None, audit("secret.delete"))
        .await
        .unwrap());
    assert!(s
        .find_secret("ws", Scope::Workspace, "", "expired")
        .await
        .unwrap()
        .is_none());
}

/// A token's default workspace: unset at first, set and cleared (each audited),
/// `false` for a token that does not exist.
async fn a_tokens_default_workspace_sets_and_clears(s: Arc<dyn Store>) {
    seed(&*s).await;
    s.create_user(user("u1", "alice")).await.unwrap();
    s.insert_token(token("t1", 1), audit("token.create"))
        .await
        .unwrap();
    assert_eq!(s.token_default_workspace("t1").await.unwrap(), None);
    assert_eq!(s.token_default_workspace("nope").await.unwrap(), None);
    let before = audit_rows(&*s).await;
    assert!(s
        .set_token_default_workspace("t1", Some("ws".into()), audit("token.default_workspace"))
        .await
        .unwrap());
    assert_eq!(audit_rows(&*s).await, before + 1);
    assert_eq!(
        s.token_default_workspace("t1").await.unwrap().as_deref(),
        Some("ws")
    );
    // The token itself reads as before.
    assert_eq!(s.token_by_id("t1").await.unwrap(), Some(token("t1", 1)));
    assert!(s
        .set_token_default_workspace("t1", None, audit("token.default_workspace"))
        .await
        .unwrap());
    assert_eq!(s.token_default_workspace("t1").await.unwrap(), None);
    assert!(!s
        .set_token_default_workspace("nope", Some("ws".into()), audit("x"))
        .await
        .unwrap());
    assert_eq!(audit_rows(&*s).await, before + 2);
}
