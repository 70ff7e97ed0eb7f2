//! Runs' redactors over per-version pattern sets: a version's forms are built
//! once and shared by every run that uses it; a write to a secret a run never
//! used rebuilds nothing for that run; a new version of a secret the run uses
//! is masked once the run holds a reference to it, and a changed secret's sets
//! are dropped (also when the change comes from another node's change feed);
//! concurrent first calls share one build; a write answers a warning for a
//! value below the minimum length.

use lockbox_core::{Scope, SecretName};
use lockbox_service::{Lockbox, Principal, PutSecret, RequestCtx, ServiceConfig};
use serde_json::{json, Value};
use std::sync::Arc;

struct Env {
    _dir: tempfile::TempDir,
    svc: Arc<Lockbox>,
    owner: Principal,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let svc = Lockbox::open(dir.path(), None, ServiceConfig::default())
        .await
        .unwrap();
    let token = svc
        .bootstrap()
        .await
        .unwrap()
        .expect("first start")
        .into_exposed();
    let owner = svc.authenticate(&token).await.unwrap();
    Env {
        _dir: dir,
        svc: Arc::new(svc),
        owner,
    }
}

fn put(value: Value) -> PutSecret {
    PutSecret {
        value: value.into(),
        description: None,
        visibility: None,
        ttl_seconds: None,
        if_match: None,
        allowed_hosts: None,
        create_only: false,
        labels: None,
    }
}

impl Env {
    async fn write(&self, name: &str, value: Value) -> lockbox_service::SecretMeta {
        let name = SecretName::parse(name).unwrap();
        self.svc
            .put_secret(
                &self.owner,
                "default",
                Scope::Workspace,
                &name,
                put(value),
                &RequestCtx::default(),
            )
            .await
            .unwrap()
            .0
    }

    async fn run(&self) -> Principal {
        let opened = self
            .svc
            .open_run(
                &self.owner,
                "default",
                None,
                "manual",
                None,
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        // EXPOSE: the test signs in with the run token it was just given.
        self.svc.authenticate(opened.token.expose()).await.unwrap()
    }

    async fn reference(&self, run: &Principal, name: &str) -> String {
        let name = SecretName::parse(name).unwrap();
        self.svc
            .run_get_secret(run, &name, Scope::Workspace, None, &RequestCtx::default())
            .await
            .unwrap()
    }

    async fn redact(&self, run: &Principal, refs: &[String], line: &str) -> String {
        let (lines, _) = self
            .svc
            .run_redact(
                run,
                refs,
                Some(vec![line.to_owned()]),
                None,
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        lines.unwrap().remove(0)
    }
}

#[tokio::test]
async fn a_write_to_another_secret_rebuilds_nothing_and_a_new_version_is_masked() {
    let e = env().await;
    e.write("used", json!("first-value-of-used")).await;
    e.write("other", json!("value-of-other-secret")).await;
    let run = e.run().await;
    let refs = vec![e.reference(&run, "used").await];

    let line = "got first-value-of-used and value-of-other-secret";
    assert_eq!(
        e.redact(&run, &refs, line).await,
        "got [REDACTED:used] and value-of-other-secret"
    );
    let built = e.svc.redactor_stats();
    assert_eq!((built.version_builds, built.union_builds), (1, 1));

    // The same call again: nothing built.
    e.redact(&run, &refs, line).await;
    assert_eq!(e.svc.redactor_stats(), built);

    // Writes to a secret the run never used: nothing built either.
    for i in 0..5 {
        e.write("other", json!(format!("value-of-other-secret-{i}")))
            .await;
        e.write(&format!("fresh-{i}"), json!("a-fresh-secret-value"))
            .await;
    }
    assert_eq!(
        e.redact(&run, &refs, line).await,
        "got [REDACTED:used] and value-of-other-secret"
    );
    assert_eq!(e.svc.redactor_stats(), built);

    // A second run using the same version shares its set (one more union,
    // no new version build).
    let run2 = e.run().await;
    let refs2 = vec![e.reference(&run2, "used").await];
    assert_eq!(
        e.redact(&run2, &refs2, line).await,
        "got [REDACTED:used] and value-of-other-secret"
    );
    let s = e.svc.redactor_stats();
    assert_eq!((s.version_builds, s.union_builds), (1, 2));

    // A new version of the used secret: the run's old reference still masks
    // the old value; with a reference to the new version, the new value too.
    e.write("used", json!("second-value-of-used")).await;
    let mut refs = refs;
    refs.push(e.reference(&run, "used").await);
    assert_eq!(
        e.redact(&run, &refs, "first-value-of-used second-value-of-used")
            .await,
        "[REDACTED:used] [REDACTED:used]"
    );
    let s = e.svc.redactor_stats();
    // The write dropped the secret's sets: both versions built again.
    assert_eq!(s.version_builds, 3);

    // A change seen on the change feed (another node wrote it) drops them too.
    let id = e.write("used", json!("third-value-of-used")).await.id;
    e.redact(&run, &refs, "x").await;
    let before = e.svc.redactor_stats();
    e.svc.apply_change(&lockbox_store_change(&id));
    e.redact(&run, &refs, "x").await;
    let after = e.svc.redactor_stats();
    assert_eq!(after.version_builds, before.version_builds + 2);
    // ... and a change to another secret does not.
    let other = e.write("other", json!("value-of-other-secret-9")).await.id;
    e.svc.apply_change(&lockbox_store_change(&other));
    e.redact(&run, &refs, "x").await;
    assert_eq!(e.svc.redactor_stats().version_builds, after.version_builds);
}

fn lockbox_store_change(id: &str) -> lockbox_store::Change {
    lockbox_store::Change::Secret(id.to_owned())
}

#[tokio::test]
async fn concurrent_first_calls_share_one_build() {
    let e = env().await;
    let big: String = (0..64 * 1024 - 16)
        .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
        .collect();
    for i in 0..10 {
        e.write(&format!("big-{i}"), json!(format!("{i}{big}")))
            .await;
    }
    let run = e.run().await;
    let mut refs = Vec::new();
    for i in 0..10 {
        refs.push(e.reference(&run, &format!("big-{i}")).await);
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let svc = e.svc.clone();
        let run = run.clone();
        let refs = refs.clone();
        let line = format!("leak 3{big} end");
        tasks.push(tokio::spawn(async move {
            let (lines, _) = svc
                .run_redact(&run, &refs, Some(vec![line]), None, &RequestCtx::default())
                .await
                .unwrap();
            lines.unwrap().remove(0)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), "leak [REDACTED:big-3] end");
    }
    let s = e.svc.redactor_stats();
    assert_eq!(s.version_builds, 10, "{s:?}");
    // A set costs about its value, not its encoded forms.
    assert!(s.cached_bytes < 10 * 200 * 1024, "{s:?}");
}

#[tokio::test]
async fn writes_warn_about_values_below_the_minimum_length() {
    let e = env().await;
    let m = e.write("pin", json!("4821")).await;
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    assert!(m.warnings[0].starts_with("the value is shorter than 6 bytes"));
    assert!(!m.warnings[0].contains("4821"));
    let m = e
        .write(
            "db",
            json!({"host": "db", "port": 5432, "password": "long-enough-pw"}),
        )
        .await;
    assert_eq!(m.warnings.len(), 1);
    assert!(m.warnings[0].contains("/host, /port"), "{:?}", m.warnings);
    assert!(!m.warnings[0].contains("5432"));
    let m = e.write("ok", json!("long-enough-value")).await;
    assert!(m.warnings.is_empty());
    let text = serde_json::to_string(&m).unwrap();
    assert!(!text.contains("warnings"), "{text}");
}

/// Deleting a workspace drops the pattern sets built from its values (plaintext
/// forms) at once; they used to outlive the delete until the idle sweep. (The
/// delete evicts through `Lockbox::evict` with `Change::Workspace`, the path another
/// node's delete takes, so both are this one.)
#[tokio::test]
async fn a_deleted_workspace_leaves_no_pattern_sets_behind() {
    let e = env().await;
    let ctx = RequestCtx::default();
    let ws = "doomed";
    e.svc
        .create_workspace(
            &e.owner,
            &lockbox_core::WorkspaceName::parse(ws).unwrap(),
            &ctx,
        )
        .await
        .unwrap();
    let name = SecretName::parse("api-key").unwrap();
    e.svc
        .put_secret(
            &e.owner,
            ws,
            Scope::Workspace,
            &name,
            put(json!("value-in-a-doomed-workspace")),
            &ctx,
        )
        .await
        .unwrap();
    let opened = e
        .svc
        .open_run(&e.owner, ws, None, "manual", None, &ctx)
        .await
        .unwrap();
    // EXPOSE: the test signs in with the run token it was just given.
    let run = e.svc.authenticate(opened.token.expose()).await.unwrap();
    let reference = e
        .svc
        .run_get_secret(&run, &name, Scope::Workspace, None, &ctx)
        .await
        .unwrap();
    let (lines, _) = e
        .svc
        .run_redact(
            &run,
            &[reference],
            Some(vec!["x value-in-a-doomed-workspace".into()]),
            None,
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(lines.unwrap(), vec!["x [REDACTED:api-key]".to_owned()]);
    assert!(e.svc.redactor_stats().cached_versions > 0);
    e.svc.delete_workspace(&e.owner, ws, &ctx).await.unwrap();
    let s = e.svc.redactor_stats();
    assert_eq!((s.cached_versions, s.cached_bytes), (0, 0));
}
