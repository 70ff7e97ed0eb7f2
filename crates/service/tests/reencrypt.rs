//! Re-encryption under new workspace keys resumes after an interruption instead of
//! starting over, and leaves every value readable.

use lockbox_core::{Scope, SecretName};
use lockbox_crypto::{DataKey, MasterKeyring};
use lockbox_service::admin::{self, Location, NoProgress};
use lockbox_service::{Lockbox, PutSecret, RequestCtx, ServiceConfig};
use lockbox_store::{AuditRecord, SqliteStore, Store, WorkspaceKeyRow};

fn put(value: &str) -> PutSecret {
    PutSecret {
        value: serde_json::json!(value).into(),
        description: None,
        visibility: None,
        ttl_seconds: None,
        if_match: None,
        allowed_hosts: None,
        create_only: false,
        labels: None,
    }
}

#[tokio::test]
async fn an_interrupted_reencryption_resumes_without_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location {
        data_dir: dir.path().to_path_buf(),
        database: None,
    };
    let token = {
        let svc = Lockbox::open(dir.path(), None, ServiceConfig::default())
            .await
            .unwrap();
        let token = svc.bootstrap().await.unwrap().unwrap().into_exposed();
        let p = svc.authenticate(&token).await.unwrap();
        for i in 0..12 {
            let name = SecretName::parse(&format!("s{i}")).unwrap();
            svc.put_secret(
                &p,
                "default",
                Scope::Workspace,
                &name,
                put(&format!("value-{i}")),
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        }
        token
    };
    // Interrupt a rotation right after the new workspace key became active: every
    // version is still sealed under key version 1.
    {
        let keyring = std::sync::Arc::new(MasterKeyring::load_existing(dir.path()).unwrap());
        let store = SqliteStore::open(dir.path()).unwrap();
        // As the admin tools do: rows this store appends are keyed.
        store.set_chain_keys(lockbox_service::audit::chain_keys(keyring.clone()));
        let ws = store.workspace_by_name("default").await.unwrap().unwrap();
        let wrapped = keyring.wrap(&ws.id, 2, &DataKey::generate());
        let audit = AuditRecord {
            workspace_id: Some(ws.id.clone()),
            at: lockbox_core::Timestamp(0),
            actor: "system".into(),
            action: "keys.workspace_rotate".into(),
            target: None,
            outcome: "ok".into(),
            request_id: None,
            detail: serde_json::json!({"key_version": 2}),
        };
        store
            .add_workspace_key(
                WorkspaceKeyRow {
                    workspace_id: ws.id.clone(),
                    version: 2,
                    master_version: wrapped.master_version,
                    wrapped: wrapped.blob,
                },
                audit,
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .versions_to_reseal(&ws.id, 2, 100)
                .await
                .unwrap()
                .len(),
            12
        );
    }
    let report = admin::reencrypt(&loc, &NoProgress).await.unwrap();
    assert_eq!((report.resumed, report.versions_resealed), (1, 12));
    let store = SqliteStore::open(dir.path()).unwrap();
    let ws = store.workspace_by_name("default").await.unwrap().unwrap();
    assert_eq!(ws.active_key_version, 2, "resuming made no third key");
    assert_eq!(store.workspace_keys(&ws.id).await.unwrap().len(), 2);
    assert!(store
        .versions_to_reseal(&ws.id, 2, 100)
        .await
        .unwrap()
        .is_empty());
    drop(store);

    let svc = Lockbox::open(dir.path(), None, ServiceConfig::default())
        .await
        .unwrap();
    let p = svc.authenticate(&token).await.unwrap();
    for i in [0, 5, 11] {
        let name = SecretName::parse(&format!("s{i}")).unwrap();
        let (v, _) = svc
            .reveal_secret(
                &p,
                "default",
                Scope::Workspace,
                &name,
                None,
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        // EXPOSE: the test checks the re-encrypted value it wrote itself.
        assert_eq!(
            *v.to_json().unwrap().expose(),
            serde_json::json!(format!("value-{i}"))
        );
    }
    assert_eq!(
        admin::verify_audit(&loc, None).await.unwrap().broken_at,
        None
    );
}
