//! Seed 002: "when an app is uninstalled, all secret data is deleted; reinstalled,
//! the store is empty". A workspace per installation; deleting it destroys its key
//! and leaves neither its ciphertexts nor its wrapped key in the live data files.

mod support;

use reqwest::Method;
use serde_json::json;
use support::TestServer;

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect()
}

#[tokio::test]
async fn uninstalling_an_app_shreds_its_workspace() {
    let mut s = TestServer::start().await;
    let r = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/workspaces",
            Some(json!({"name": "app-install-1"})),
        )
        .await;
    assert_eq!(r.status, 201);
    for i in 0..5 {
        let r = s
            .call(
                &s.owner,
                Method::PUT,
                &format!("/v1/workspaces/app-install-1/secrets/k{i}"),
                Some(json!({"value": {"token": format!("install-token-{i}"), "siteId": i}})),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    // What the deleted workspace leaves behind must not include these bytes.
    let (ciphertexts, wrapped): (Vec<Vec<u8>>, Vec<u8>) = {
        let db = rusqlite::Connection::open(s.data_dir().join("lockbox.db")).unwrap();
        let ws: String = db
            .query_row(
                "SELECT id FROM workspaces WHERE name = 'app-install-1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut st = db
            .prepare("SELECT v.sealed FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.workspace_id = ?")
            .unwrap();
        let c: Vec<Vec<u8>> = st
            .query_map([&ws], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let k: Vec<u8> = db
            .query_row(
                "SELECT wrapped FROM workspace_keys WHERE workspace_id = ?",
                [&ws],
                |r| r.get(0),
            )
            .unwrap();
        (c, k)
    };
    assert_eq!(ciphertexts.len(), 5);

    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            "/v1/workspaces/app-install-1",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.get(&s.owner, "/v1/workspaces/app-install-1/secrets")
        .await
        .assert_error(404, "not_found");
    // Reinstalled: the same name, an empty store.
    assert_eq!(
        s.call(
            &s.owner,
            Method::POST,
            "/v1/workspaces",
            Some(json!({"name": "app-install-1"}))
        )
        .await
        .status,
        201
    );
    let list = s
        .get(&s.owner, "/v1/workspaces/app-install-1/secrets")
        .await
        .json();
    assert_eq!(list["secrets"], json!([]));
    s.get(&s.owner, "/v1/workspaces/app-install-1/secrets/k0")
        .await
        .assert_error(404, "not_found");

    // A byte scan of the live files (database, WAL, key file) while the server runs,
    // and again after it stops.
    let scan = |files: Vec<std::path::PathBuf>| {
        for f in files {
            let bytes = std::fs::read(&f).unwrap_or_default();
            for needle in ciphertexts.iter().chain(std::iter::once(&wrapped)) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{} still holds deleted bytes",
                    f.display()
                );
            }
        }
    };
    scan(files_under(&s.data_dir()));
    s.stop().await;
    scan(files_under(&s.data_dir()));
}
