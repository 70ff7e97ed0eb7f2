//! The SDK's version-state and per-secret-settings calls against a real Lockbox
//! server started in-process on a random loopback port: soft delete, undelete and
//! destroy (by number and "the current one"), labels on `PUT` and in settings,
//! `cas_required`, `max_versions`, `delete_version_after`, and the refusals a
//! viewer and a reserved label key get.

use lockbox_client::{
    Client, ErrorCode, PutOptions, Role, Scope, SecretSettingsPatch, SettingsPatch, VersionInfo,
};
use serde_json::json;

const WS: &str = "default";
const NAME: &str = "stripe/api key ü";

struct Fixture {
    _tmp: tempfile::TempDir,
    server: lockbox_server::RunningServer,
    client: Client,
}

async fn start() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let server = lockbox_server::start(lockbox_server::ServerConfig {
        data_dir: tmp.path().join("data"),
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    })
    .await
    .expect("server starts");
    let token = server
        .init_token
        .clone()
        .expect("first start makes a token")
        .into_exposed();
    let client = Client::new(&server.url(), &token).unwrap();
    Fixture {
        _tmp: tmp,
        server,
        client,
    }
}

fn version(list: &[VersionInfo], n: u64) -> &VersionInfo {
    list.iter()
        .find(|v| v.version == n)
        .unwrap_or_else(|| panic!("version {n} in {list:?}"))
}

async fn put(c: &Client, value: &str, opts: &PutOptions) -> u64 {
    c.put_secret(WS, Scope::Workspace, NAME, &json!(value), opts)
        .await
        .unwrap()
        .meta
        .version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_undelete_and_destroy_versions() {
    let fx = start().await;
    let c = &fx.client;
    put(c, "value-one-A1", &PutOptions::default()).await;
    put(c, "value-two-B2", &PutOptions::default()).await;

    // Soft-delete the current version (empty list): reveal is not_found, the
    // metadata says so, the older version still reads.
    let after = c
        .delete_versions(WS, Scope::Workspace, NAME, &[])
        .await
        .unwrap();
    assert!(version(&after, 2).deleted_at.is_some());
    assert!(version(&after, 1).deleted_at.is_none());
    assert!(!version(&after, 2).destroyed);
    let err = c
        .reveal(WS, Scope::Workspace, NAME, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    assert!(!err.to_string().contains("value-two"), "{err}");
    let meta = c.get_secret(WS, Scope::Workspace, NAME).await.unwrap();
    assert!(meta.current_deleted);
    assert_eq!(meta.version, 2);
    let secrets = c.secrets(WS);
    assert!(secrets.get_secret(NAME).await.unwrap().is_none());
    let (_, v) = c
        .reveal_with_version(WS, Scope::Workspace, NAME, Some(1))
        .await
        .unwrap();
    assert_eq!(v, 1);

    // Undelete it: the value is back.
    let after = c
        .undelete_versions(WS, Scope::Workspace, NAME, &[2])
        .await
        .unwrap();
    assert!(version(&after, 2).deleted_at.is_none());
    let value = c.reveal(WS, Scope::Workspace, NAME, None).await.unwrap();
    // EXPOSE: the test compares the undeleted value with what was written
    assert_eq!(value.expose(), br#""value-two-B2""#);
    assert!(
        !c.get_secret(WS, Scope::Workspace, NAME)
            .await
            .unwrap()
            .current_deleted
    );

    // Destroy version 1 through the store view; unknown numbers are ignored.
    let after = secrets.destroy_versions(NAME, &[1, 99]).await.unwrap();
    assert!(version(&after, 1).destroyed);
    assert!(!version(&after, 2).destroyed);
    assert_eq!(after.len(), 2);
    let err = c
        .reveal(WS, Scope::Workspace, NAME, Some(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    // Undelete cannot bring a destroyed version back.
    let after = secrets.undelete_versions(NAME, &[1]).await.unwrap();
    assert!(version(&after, 1).destroyed);
    assert_eq!(secrets.versions(NAME).await.unwrap(), after);

    // A viewer may not change version states.
    let bob = c.add_member(WS, "bob", Role::Viewer).await.unwrap();
    // EXPOSE: the test signs in with the new member's token.
    let bob_token = bob.token.as_ref().unwrap().expose();
    let viewer = Client::new(&fx.server.url(), bob_token).unwrap();
    let err = viewer
        .delete_versions(WS, Scope::Workspace, NAME, &[2])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let err = viewer
        .update_secret_settings(
            WS,
            Scope::Workspace,
            NAME,
            &SecretSettingsPatch::default().cas_required(false),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    // A missing secret is not_found, not an empty list.
    let err = c
        .destroy_versions(WS, Scope::Workspace, "nope", &[1])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_per_secret_settings() {
    let fx = start().await;
    let c = &fx.client;
    // Labels on PUT; a later PUT without labels keeps them.
    put(c, "v1", &PutOptions::default().label("team", "payments")).await;
    put(c, "v2", &PutOptions::default()).await;
    let meta = c.get_secret(WS, Scope::Workspace, NAME).await.unwrap();
    assert_eq!(
        meta.labels.get("team").map(String::as_str),
        Some("payments")
    );
    assert_eq!(
        (
            meta.max_versions,
            meta.cas_required,
            meta.delete_version_after
        ),
        (None, false, None)
    );

    let patch = SecretSettingsPatch::default()
        .label("owner", "alice")
        .label("tier", "1")
        .max_versions(5)
        .cas_required(true)
        .delete_version_after(3600);
    let meta = c
        .update_secret_settings(WS, Scope::Workspace, NAME, &patch)
        .await
        .unwrap();
    assert_eq!(meta.version, 2, "settings are not a new version");
    assert_eq!(
        meta.labels.len(),
        2,
        "labels are replaced: {:?}",
        meta.labels
    );
    assert_eq!(meta.labels["owner"], "alice");
    assert_eq!(meta.max_versions, Some(5));
    assert!(meta.cas_required);
    assert_eq!(meta.delete_version_after, Some(3600));

    // cas_required: a blind write is refused, one naming the version goes through
    // and is scheduled for deletion an hour later.
    let err = c
        .put_secret(
            WS,
            Scope::Workspace,
            NAME,
            &json!("v3"),
            &PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Invalid), "{err}");
    assert_eq!(put(c, "v3", &PutOptions::default().if_match(2)).await, 3);
    let v3 = c.versions(WS, Scope::Workspace, NAME).await.unwrap();
    assert!(version(&v3, 3).deleted_at.is_some(), "{v3:?}");
    assert!(version(&v3, 2).deleted_at.is_none());
    assert!(
        !c.get_secret(WS, Scope::Workspace, NAME)
            .await
            .unwrap()
            .current_deleted
    );
    // The store view: a blind put is refused, patch_with (which names the version
    // it read) goes through.
    let store = c.secrets(WS);
    let err = store.put(NAME, "blind").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Invalid), "{err}");
    let written: String = store
        .patch_with(NAME, |v: Option<String>| v.map(|old| format!("{old}+")))
        .await
        .unwrap();
    assert_eq!(written, "v3+");
    assert_eq!(
        c.get_secret(WS, Scope::Workspace, NAME)
            .await
            .unwrap()
            .version,
        4
    );

    // Only the fields sent change; clearing labels and going back to the
    // workspace's settings with 0.
    let meta = c
        .update_secret_settings(
            WS,
            Scope::Workspace,
            NAME,
            &SecretSettingsPatch::default()
                .clear_labels()
                .max_versions(0)
                .delete_version_after(0),
        )
        .await
        .unwrap();
    assert!(meta.labels.is_empty());
    assert_eq!((meta.max_versions, meta.delete_version_after), (None, None));
    assert!(meta.cas_required, "untouched field kept");

    // Reserved label keys are refused with a stable code.
    let err = c
        .update_secret_settings(
            WS,
            Scope::Workspace,
            NAME,
            &SecretSettingsPatch::default().label("Lockbox.internal", "x"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Invalid), "{err}");

    // The workspace-wide switches, through the SDK's workspace settings.
    let ws = c
        .patch_settings(
            WS,
            &SettingsPatch {
                cas_required: Some(true),
                delete_version_after: Some(600),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (ws.cas_required, ws.delete_version_after),
        (true, Some(600))
    );
    let err = c
        .put_secret(
            WS,
            Scope::Workspace,
            "fresh",
            &json!("x"),
            &PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Invalid), "{err}");
    let ws = c
        .patch_settings(
            WS,
            &SettingsPatch {
                cas_required: Some(false),
                delete_version_after: Some(0),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((ws.cas_required, ws.delete_version_after), (false, None));
    assert_eq!(c.get_settings(WS).await.unwrap(), ws);

    // The user scope is separate: settings there touch only the caller's secret.
    c.put_secret(
        WS,
        Scope::User,
        NAME,
        &json!("mine"),
        &PutOptions::default(),
    )
    .await
    .unwrap();
    let mine = c
        .secrets(WS)
        .user_scope()
        .update_settings(NAME, &SecretSettingsPatch::default().label("k", "user"))
        .await
        .unwrap();
    assert_eq!(mine.scope, "user");
    assert!(c
        .get_secret(WS, Scope::Workspace, NAME)
        .await
        .unwrap()
        .labels
        .is_empty());
}
