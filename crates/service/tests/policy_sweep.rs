//! Legacy versions (sealed with the v1 associated data, before policy binding) stay
//! readable exactly as before, and are re-sealed as v2 with the policy they have
//! now: by the background sweep (idempotent, safe with several nodes), by the
//! offline `keys reencrypt`, and after restoring a backup written before versions
//! carried a policy. Each case runs on SQLite, and on PostgreSQL when
//! `LOCKBOX_TEST_DATABASE_URL` is set.

use lockbox_core::{Scope, SecretName, SecretValue, SystemClock, Timestamp, Visibility};
use lockbox_crypto::{DataKey, MasterKeyring, ValueAad, WrappedDataKey};
use lockbox_service::admin::{self, Location, NoProgress};
use lockbox_service::{Lockbox, PutSecret, RequestCtx, ServiceConfig};
use lockbox_store::{
    CommitVersion, Expect, PostgresStore, SecretRow, SqliteStore, Store, VersionPolicy, VersionRow,
    WorkspaceRow,
};
use serde_json::json;
use std::sync::Arc;

/// One deployment's data: a data directory (key file, SQLite) and optionally a
/// PostgreSQL database.
struct Env {
    dir: tempfile::TempDir,
    database: Option<String>,
}

impl Env {
    async fn sqlite() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            database: None,
        }
    }

    async fn postgres() -> Option<Env> {
        Some(Env {
            dir: tempfile::tempdir().unwrap(),
            database: Some(lockbox_testkit::fresh_database().await?),
        })
    }

    async fn store(&self) -> Arc<dyn Store> {
        match &self.database {
            None => Arc::new(SqliteStore::open(self.dir.path()).unwrap()),
            Some(url) => Arc::new(PostgresStore::connect(url).await.unwrap()),
        }
    }

    /// A service over its own store instance (another node, on PostgreSQL).
    async fn node(&self) -> (Arc<Lockbox>, Arc<dyn Store>) {
        let store = self.store().await;
        let keyring = MasterKeyring::load_or_create(self.dir.path()).unwrap();
        let svc = Lockbox::with_parts(
            store.clone(),
            Arc::new(keyring),
            Arc::new(SystemClock),
            ServiceConfig::default(),
        );
        (Arc::new(svc), store)
    }

    fn location(&self) -> Location {
        Location {
            data_dir: self.dir.path().to_path_buf(),
            database: self.database.clone(),
        }
    }
}

fn value(text: &str) -> SecretValue {
    SecretValue::from_json(&json!(text), 1000).unwrap()
}

fn name(n: &str) -> SecretName {
    SecretName::parse(n).unwrap()
}

fn ctx() -> RequestCtx {
    RequestCtx::default()
}

/// The workspace `default` and its data key (version 1), unwrapped from the key file.
async fn default_key(env: &Env, store: &dyn Store) -> (WorkspaceRow, DataKey) {
    let ws = store.workspace_by_name("default").await.unwrap().unwrap();
    let row = store
        .workspace_keys(&ws.id)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.version == 1)
        .unwrap();
    let keyring = MasterKeyring::load_existing(env.dir.path()).unwrap();
    let key = keyring
        .unwrap(
            &ws.id,
            1,
            &WrappedDataKey {
                master_version: row.master_version,
                blob: row.wrapped,
            },
        )
        .unwrap();
    (ws, key)
}

/// Writes a secret the way a build before policy binding did: every version sealed
/// with the v1 associated data, fingerprinted by value, and stored without a policy.
#[allow(clippy::too_many_arguments)] // one row's worth of facts, spelled out per call
async fn write_legacy(
    store: &dyn Store,
    ws: &WorkspaceRow,
    key: &DataKey,
    id: &str,
    secret: &str,
    visibility: Visibility,
    hosts: &[&str],
    values: &[&str],
) -> SecretRow {
    let mut row = SecretRow {
        id: id.into(),
        workspace_id: ws.id.clone(),
        scope: Scope::Workspace,
        owner: String::new(),
        name: secret.into(),
        visibility,
        description: None,
        current_version: 0,
        fingerprint: String::new(),
        expires_at: None,
        created_at: Timestamp(1),
        created_by: "user:owner".into(),
        updated_at: Timestamp(1),
        updated_by: "user:owner".into(),
        allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        labels: Default::default(),
        max_versions: None,
        cas_required: false,
        delete_version_after: None,
        current_deleted_at: None,
        current_destroyed: false,
    };
    for (i, text) in values.iter().enumerate() {
        let version = i as u64 + 1;
        let aad = ValueAad {
            workspace_id: &ws.id,
            secret_id: id,
            scope: Scope::Workspace,
            owner: "",
            version,
            key_version: 1,
            policy: None,
        };
        let v = value(text);
        let expect = if version == 1 {
            Expect::Create
        } else {
            Expect::Current(version - 1)
        };
        row.current_version = version;
        row.fingerprint = key.fingerprint(&v);
        store
            .commit_version(
                CommitVersion {
                    secret: row.clone(),
                    expect,
                    version: VersionRow {
                        secret_id: id.into(),
                        version,
                        key_version: 1,
                        sealed: key.seal(&aad, &v),
                        fingerprint: key.fingerprint(&v),
                        created_at: Timestamp(1),
                        created_by: "user:owner".into(),
                        deleted_at: None,
                        destroyed: false,
                        policy: None,
                    },
                    prune_through: 0,
                },
                lockbox_store::AuditRecord {
                    workspace_id: Some(ws.id.clone()),
                    at: Timestamp(1),
                    actor: "user:owner".into(),
                    action: "secret.put".into(),
                    target: Some(secret.into()),
                    outcome: "ok".into(),
                    request_id: None,
                    detail: json!({"version": version}),
                },
            )
            .await
            .unwrap();
    }
    row
}

async fn legacy_count(store: &dyn Store) -> usize {
    store.legacy_versions(None, 10_000).await.unwrap().len()
}

async fn reveal(svc: &Lockbox, token: &str, secret: &str, version: u64) -> SecretValue {
    let p = svc.authenticate(token).await.unwrap();
    svc.reveal_secret(
        &p,
        "default",
        Scope::Workspace,
        &name(secret),
        Some(version),
        &ctx(),
    )
    .await
    .unwrap()
    .0
}

/// Resolves a fresh reference to `secret` as a run: the hosts the egress executor
/// would be handed, and the value.
async fn resolve(svc: &Lockbox, token: &str, secret: &str) -> (Vec<String>, SecretValue) {
    let p = svc.authenticate(token).await.unwrap();
    let run = svc
        .open_run(&p, "default", None, "manual", None, &ctx())
        .await
        .unwrap();
    // EXPOSE: the test signs in with the run token it was just given.
    let rp = svc.authenticate(run.token.expose()).await.unwrap();
    let reference = svc
        .run_get_secret(&rp, &name(secret), Scope::Workspace, None, &ctx())
        .await
        .unwrap();
    let r = svc.resolve_reference(&rp, &reference).await.unwrap();
    (r.secret.allowed_hosts, r.secret.value)
}

fn text(t: &str) -> SecretValue {
    SecretValue::from_json_bytes(t.as_bytes().to_vec())
}

async fn legacy_versions_are_readable_then_converted_by_the_sweep(env: Env) {
    let (svc, store) = env.node().await;
    let token = svc.bootstrap().await.unwrap().unwrap().into_exposed();
    let (ws, key) = default_key(&env, &*store).await;
    write_legacy(
        &*store,
        &ws,
        &key,
        "legacy-db",
        "legacy/db",
        Visibility::Masked,
        &[],
        &["db-pass-1", "db-pass-2"],
    )
    .await;
    let api = write_legacy(
        &*store,
        &ws,
        &key,
        "legacy-api",
        "legacy/api",
        Visibility::Restricted,
        &["api.example.com"],
        &["api-key-1"],
    )
    .await;
    assert_eq!(legacy_count(&*store).await, 3);

    // Before the sweep: read exactly as before, with the row's columns.
    assert_eq!(
        reveal(&svc, &token, "legacy/db", 1).await,
        value("db-pass-1")
    );
    assert_eq!(
        reveal(&svc, &token, "legacy/db", 2).await,
        value("db-pass-2")
    );
    let (hosts, v) = resolve(&svc, &token, "legacy/api").await;
    assert_eq!(
        (hosts, v),
        (vec!["api.example.com".to_owned()], text("api-key-1"))
    );
    // A new version of a legacy secret inherits the legacy list and is sealed v2.
    let p = svc.authenticate(&token).await.unwrap();
    let put = PutSecret {
        value: json!("db-pass-3").into(),
        description: None,
        visibility: None,
        ttl_seconds: None,
        if_match: None,
        allowed_hosts: None,
        create_only: false,
        labels: None,
    };
    svc.put_secret(
        &p,
        "default",
        Scope::Workspace,
        &name("legacy/db"),
        put,
        &ctx(),
    )
    .await
    .unwrap();
    let v3 = store.secret_version("legacy-db", 3).await.unwrap().unwrap();
    assert_eq!(v3.policy, Some(VersionPolicy::v2(Vec::new())));
    assert_eq!(legacy_count(&*store).await, 3);

    // The sweep converts every legacy version, with the policy it has now.
    let report = svc.reseal_legacy_versions().await.unwrap();
    assert_eq!((report.converted, report.raced, report.failed), (3, 0, 0));
    assert_eq!(legacy_count(&*store).await, 0);
    for (id, version, hosts) in [
        ("legacy-db", 1, vec![]),
        ("legacy-db", 2, vec![]),
        ("legacy-api", 1, vec!["api.example.com".to_owned()]),
    ] {
        let v = store.secret_version(id, version).await.unwrap().unwrap();
        assert_eq!(v.policy, Some(VersionPolicy::v2(hosts)), "{id} v{version}");
        assert_eq!(v.key_version, 1, "the sweep keeps the key version");
    }
    // Masked fingerprints stay; a restricted one becomes per-version.
    let db1 = store.secret_version("legacy-db", 1).await.unwrap().unwrap();
    assert_eq!(db1.fingerprint, key.fingerprint(&value("db-pass-1")));
    let api1 = store
        .secret_version("legacy-api", 1)
        .await
        .unwrap()
        .unwrap();
    let per_version = key.version_fingerprint(&api.id, 1, &value("api-key-1"));
    assert_eq!(api1.fingerprint, per_version);
    assert_ne!(api1.fingerprint, key.fingerprint(&value("api-key-1")));
    let api_row = store.secret_by_id("legacy-api").await.unwrap().unwrap();
    assert_eq!(api_row.fingerprint, per_version);

    // After the sweep: the same values and hosts, now authenticated.
    for (version, want) in [(1, "db-pass-1"), (2, "db-pass-2"), (3, "db-pass-3")] {
        assert_eq!(
            reveal(&svc, &token, "legacy/db", version).await,
            value(want)
        );
    }
    let (hosts, v) = resolve(&svc, &token, "legacy/api").await;
    assert_eq!(
        (hosts, v),
        (vec!["api.example.com".to_owned()], text("api-key-1"))
    );

    // Idempotent: nothing is left to do, and the audit chain holds.
    assert_eq!(
        svc.reseal_legacy_versions().await.unwrap(),
        lockbox_service::PolicySweepReport::default()
    );
    assert_eq!(svc.verify_audit_chain().await.unwrap().broken_at, None);
}

async fn several_nodes_sweep_at_once_and_convert_each_version_once(env: Env) {
    let (a, store) = env.node().await;
    let token = a.bootstrap().await.unwrap().unwrap().into_exposed();
    let (b, _) = env.node().await;
    let (ws, key) = default_key(&env, &*store).await;
    // More than two batches of legacy versions, written concurrently.
    let key = Arc::new(key);
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..450 {
        let (store, ws, key) = (store.clone(), ws.clone(), key.clone());
        writes.spawn(async move {
            write_legacy(
                &*store,
                &ws,
                &key,
                &format!("s{i:03}"),
                &format!("bulk/s{i:03}"),
                Visibility::Masked,
                &[],
                &[&format!("value-{i}")],
            )
            .await;
        });
    }
    while let Some(r) = writes.join_next().await {
        r.unwrap();
    }
    assert_eq!(legacy_count(&*store).await, 450);
    let (ra, rb) = tokio::join!(a.reseal_legacy_versions(), b.reseal_legacy_versions());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.converted + rb.converted, 450, "{ra:?} {rb:?}");
    assert_eq!((ra.failed, rb.failed), (0, 0));
    assert_eq!(legacy_count(&*store).await, 0);
    for i in [0, 199, 200, 449] {
        assert_eq!(
            reveal(&b, &token, &format!("bulk/s{i:03}"), 1).await,
            value(&format!("value-{i}"))
        );
    }
}

async fn reencrypt_seals_legacy_versions_as_v2(env: Env) {
    let token = {
        let (svc, store) = env.node().await;
        let token = svc.bootstrap().await.unwrap().unwrap().into_exposed();
        let (ws, key) = default_key(&env, &*store).await;
        write_legacy(
            &*store,
            &ws,
            &key,
            "legacy-api",
            "legacy/api",
            Visibility::Restricted,
            &["api.example.com", "*.example.org"],
            &["api-key-1", "api-key-2"],
        )
        .await;
        token
    };
    let report = admin::reencrypt(&env.location(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.versions_resealed, 2);
    let (svc, store) = env.node().await;
    assert_eq!(legacy_count(&*store).await, 0);
    for version in [1, 2] {
        let v = store
            .secret_version("legacy-api", version)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.key_version, 2);
        assert_eq!(
            v.policy,
            Some(VersionPolicy::v2(vec![
                "api.example.com".into(),
                "*.example.org".into()
            ]))
        );
    }
    let (hosts, v) = resolve(&svc, &token, "legacy/api").await;
    assert_eq!(hosts, ["api.example.com", "*.example.org"]);
    assert_eq!(v, text("api-key-2"));
    // A second run re-seals v2 versions under yet another key, policy kept.
    let report = admin::reencrypt(&env.location(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.versions_resealed, 2);
    let (svc, _) = env.node().await;
    let (hosts, _) = resolve(&svc, &token, "legacy/api").await;
    assert_eq!(hosts, ["api.example.com", "*.example.org"]);
}

/// A backup written before versions carried a policy restores them as legacy
/// versions: readable, then converted by the sweep.
async fn an_older_backup_restores_as_legacy_versions(env: Env) {
    let (svc, _) = env.node().await;
    let token = svc.bootstrap().await.unwrap().unwrap().into_exposed();
    let p = svc.authenticate(&token).await.unwrap();
    for (n, hosts) in [("a", vec![]), ("b", vec!["api.example.com".to_owned()])] {
        let put = PutSecret {
            value: json!(format!("value-of-{n}")).into(),
            description: None,
            visibility: Some(Visibility::Restricted),
            ttl_seconds: None,
            if_match: None,
            allowed_hosts: Some(hosts),
            create_only: false,
            labels: None,
        };
        svc.put_secret(&p, "default", Scope::Workspace, &name(n), put, &ctx())
            .await
            .unwrap();
    }
    drop(svc);
    let file = env.dir.path().join("backup.jsonl");
    admin::backup(&env.location(), &file, &NoProgress)
        .await
        .unwrap();
    // Strip the field, as an older build would have written the lines. Those
    // versions were sealed v2, so re-seal them v1 first, as an older build had.
    let text_in = std::fs::read_to_string(&file).unwrap();
    assert!(text_in.contains("\"policy\""));
    let (_, store) = env.node().await;
    let (ws, key) = default_key(&env, &*store).await;
    let mut lines = Vec::new();
    for line in text_in.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["t"] == "version" {
            let id = v["secret_id"].as_str().unwrap().to_owned();
            let n = v["version"].as_u64().unwrap();
            let row = store.secret_by_id(&id).await.unwrap().unwrap();
            let plain = reveal_any(&key, &ws, &row, n, &store).await;
            let aad = ValueAad {
                workspace_id: &ws.id,
                secret_id: &id,
                scope: Scope::Workspace,
                owner: "",
                version: n,
                key_version: 1,
                policy: None,
            };
            use base64::Engine;
            v["sealed"] =
                json!(base64::engine::general_purpose::STANDARD.encode(key.seal(&aad, &plain)));
            v.as_object_mut().unwrap().remove("policy");
        }
        lines.push(v.to_string());
    }
    drop(store);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let target = match &env.database {
        None => Env::sqlite().await,
        Some(_) => Env::postgres().await.unwrap(),
    };
    std::fs::copy(
        env.dir.path().join("master.key"),
        target.dir.path().join("master.key"),
    )
    .unwrap();
    admin::restore(&target.location(), &file, &NoProgress)
        .await
        .unwrap();
    let (svc, store) = target.node().await;
    assert_eq!(legacy_count(&*store).await, 2);
    let (hosts, v) = resolve(&svc, &token, "b").await;
    assert_eq!(
        (hosts, v),
        (vec!["api.example.com".to_owned()], text("value-of-b"))
    );
    let report = svc.reseal_legacy_versions().await.unwrap();
    assert_eq!(report.converted, 2);
    assert_eq!(legacy_count(&*store).await, 0);
    let (hosts, v) = resolve(&svc, &token, "b").await;
    assert_eq!(
        (hosts, v),
        (vec!["api.example.com".to_owned()], text("value-of-b"))
    );
}

/// Opens a v2 version directly with the data key (test plumbing for the backup case).
async fn reveal_any(
    key: &DataKey,
    ws: &WorkspaceRow,
    row: &SecretRow,
    version: u64,
    store: &Arc<dyn Store>,
) -> SecretValue {
    let v = store
        .secret_version(&row.id, version)
        .await
        .unwrap()
        .unwrap();
    let policy = v.policy.clone().unwrap();
    let aad = ValueAad {
        workspace_id: &ws.id,
        secret_id: &row.id,
        scope: row.scope,
        owner: &row.owner,
        version,
        key_version: v.key_version,
        policy: Some(lockbox_crypto::PolicyAad {
            visibility: row.visibility,
            allowed_hosts: &policy.allowed_hosts,
        }),
    };
    key.open(&aad, &v.sealed).unwrap()
}

/// The service starts the sweep itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_background_runs_the_sweep() {
    let env = Env::sqlite().await;
    let (svc, store) = env.node().await;
    let token = svc.bootstrap().await.unwrap().unwrap().into_exposed();
    let (ws, key) = default_key(&env, &*store).await;
    write_legacy(
        &*store,
        &ws,
        &key,
        "legacy-db",
        "legacy/db",
        Visibility::Masked,
        &[],
        &["db-pass-1"],
    )
    .await;
    let bg = svc.spawn_background(std::time::Duration::from_secs(5));
    let mut left = 1;
    for _ in 0..200 {
        left = legacy_count(&*store).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    bg.abort();
    assert_eq!(left, 0, "the background sweep converted the legacy version");
    assert_eq!(
        reveal(&svc, &token, "legacy/db", 1).await,
        value("db-pass-1")
    );
}

macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Env::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(lockbox_testkit::needs_postgres! {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(env) = super::Env::postgres().await else { return };
                    super::$case(env).await;
                }
            })*
        }
    };
}

both_stores!(
    legacy_versions_are_readable_then_converted_by_the_sweep,
    several_nodes_sweep_at_once_and_convert_each_version_once,
    reencrypt_seals_legacy_versions_as_v2,
    an_older_backup_restores_as_legacy_versions,
);
