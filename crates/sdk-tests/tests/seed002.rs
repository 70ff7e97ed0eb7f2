//! Seed 002's secrets-store examples, translated to [`lockbox_client::Secrets`] and run
//! against a real Lockbox server started in-process on a random loopback port.

use lockbox_client::{Client, ErrorCode, Secrets};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthToken {
    token: String,
    site_id: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct TokenRateLimit {
    counter: u64,
    hour: u64,
    token: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Token {
    value: String,
    expiration: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Counter {
    n: u64,
}

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

// The examples under test read the wall clock as any SDK user's program would.
#[allow(clippy::disallowed_methods)]
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_002_examples() {
    let fx = start().await;
    let secrets = fx.client.secrets("default");

    // Writing a secret: put('authToken', {token, siteId}).
    let site_id = 123;
    secrets
        .put(
            "authToken",
            &AuthToken {
                token: "t-1".into(),
                site_id,
            },
        )
        .await
        .unwrap();

    // Getting a secret: (await get('authToken')).token.
    let token = secrets
        .get::<AuthToken>("authToken")
        .await
        .unwrap()
        .unwrap()
        .token;
    assert_eq!(token, "t-1");

    // Checking if a secret exists.
    assert!(secrets.exists("authToken").await.unwrap());
    assert!(!secrets.exists("nope").await.unwrap());

    // Updating a secret: patch('authToken', {token}) keeps siteId.
    secrets
        .patch("authToken", &serde_json::json!({"token": "t-2"}))
        .await
        .unwrap();
    assert_eq!(
        secrets.get::<AuthToken>("authToken").await.unwrap(),
        Some(AuthToken {
            token: "t-2".into(),
            site_id
        })
    );

    // The TokenRateLimit callback.
    let callback = |current_hour: u64, api_call_cost: u64| {
        move |value: Option<TokenRateLimit>| {
            let mut value = value?;
            if value.hour != current_hour {
                value.hour = current_hour;
                value.counter = 0;
            } else {
                value.counter += api_call_cost;
            }
            Some(value)
        }
    };
    secrets
        .put(
            "token",
            &TokenRateLimit {
                counter: 7,
                hour: 9,
                token: "rl".into(),
            },
        )
        .await
        .unwrap();
    let v = secrets.patch_with("token", callback(10, 3)).await.unwrap();
    assert_eq!((v.counter, v.hour), (0, 10), "new hour resets");
    let v = secrets.patch_with("token", callback(10, 3)).await.unwrap();
    assert_eq!((v.counter, v.hour), (3, 10), "same hour adds the cost");
    let stored: TokenRateLimit = secrets.get("token").await.unwrap().unwrap();
    assert_eq!(stored, v);
    // None from the callback leaves it unchanged and returns what is stored.
    let same = secrets
        .patch_with("token", |_: Option<TokenRateLimit>| None)
        .await
        .unwrap();
    assert_eq!(same, v);
    // ... and on a missing secret, is not_found.
    let err = secrets
        .patch_with("missing", |_: Option<TokenRateLimit>| None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    // patch_with creates a missing secret when the callback gives a value.
    let created = secrets
        .patch_with("fresh", |v: Option<Counter>| {
            Some(Counter {
                n: v.map_or(1, |c| c.n + 1),
            })
        })
        .await
        .unwrap();
    assert_eq!(created, Counter { n: 1 });

    // Deleting a secret.
    assert!(secrets.delete("authToken").await.unwrap());
    assert!(!secrets.exists("authToken").await.unwrap());
    assert!(!secrets.delete("authToken").await.unwrap(), "already gone");

    // Type safety: get::<Token> and the expiration check.
    let soon = now_ms() + 30_000;
    secrets
        .put(
            "token",
            &Token {
                value: "abc".into(),
                expiration: soon,
            },
        )
        .await
        .unwrap();
    let token = secrets.get::<Token>("token").await.unwrap().unwrap();
    assert!(
        token.expiration < now_ms() + 60_000,
        "Token is expiring soon!"
    );
    // The wrong type is a decode error that does not quote the value.
    let err = secrets.get::<Counter>("token").await.unwrap_err();
    assert_eq!(err.code_str(), "decode");
    assert!(!err.to_string().contains("abc"));

    // A missing secret is Ok(None).
    assert_eq!(secrets.get::<Token>("never written").await.unwrap(), None);
    assert!(secrets.get_secret("never written").await.unwrap().is_none());

    // get_secret hands back the redacting wrapper.
    let value = secrets.get_secret("token").await.unwrap().unwrap();
    assert_eq!(format!("{value:?}"), "[REDACTED]");
    assert!(!format!("{value:?}").contains("abc"));
    // EXPOSE: the test checks the decoded value.
    assert_eq!(value.to_json().unwrap().expose()["value"], "abc");

    // Patching a missing secret is not_found.
    let err = secrets
        .patch("missing", &serde_json::json!({"a": 1}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));

    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_with_loses_no_updates() {
    let fx = start().await;
    let secrets = fx.client.secrets("default");
    secrets.put("counter", &Counter { n: 0 }).await.unwrap();

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s: Secrets = secrets.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    s.patch_with("counter", |c: Option<Counter>| {
                        Some(Counter {
                            n: c.map_or(1, |c| c.n + 1),
                        })
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        secrets.get::<Counter>("counter").await.unwrap(),
        Some(Counter { n: 400 })
    );
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_with_creates_once_when_writers_race_to_create() {
    let fx = start().await;
    let secrets = fx.client.secrets("default");
    // Nobody creates it up front: every task's first round may find it missing.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s: Secrets = secrets.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    s.patch_with("fresh-counter", |c: Option<Counter>| {
                        Some(Counter {
                            n: c.map_or(1, |c| c.n + 1),
                        })
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        secrets.get::<Counter>("fresh-counter").await.unwrap(),
        Some(Counter { n: 80 })
    );
    fx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_scope_is_separate_from_workspace_scope() {
    let fx = start().await;
    let shared = fx.client.secrets("default");
    let mine = fx.client.secrets("default").user_scope();

    shared.put("github", "shared-token").await.unwrap();
    assert!(!mine.exists("github").await.unwrap());
    assert_eq!(mine.get::<String>("github").await.unwrap(), None);

    mine.put("github", "my-token").await.unwrap();
    assert_eq!(
        mine.get::<String>("github").await.unwrap().as_deref(),
        Some("my-token")
    );
    assert_eq!(
        shared.get::<String>("github").await.unwrap().as_deref(),
        Some("shared-token")
    );

    assert!(mine.delete("github").await.unwrap());
    assert!(shared.exists("github").await.unwrap());
    fx.server.stop().await;
}
