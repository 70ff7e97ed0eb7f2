//! Test support: start a real Lockbox server on an ephemeral loopback port with a
//! temporary data directory, and talk to it over HTTP.
#![allow(dead_code)]

use lockbox_core::{ManualClock, Timestamp};
use lockbox_server::{RunningServer, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub owner: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    /// Asserts an error response with this status and code, in the documented shape.
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        let j = self.json();
        assert_eq!(j["error"], code, "body: {}", self.text);
        assert!(
            j["message"].as_str().is_some_and(|m| !m.is_empty()),
            "body: {}",
            self.text
        );
        assert!(j["request_id"].as_str().is_some(), "body: {}", self.text);
        self
    }
}

/// Percent-encodes a secret name as one path segment.
pub fn enc(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(Timestamp(1_800_000_000_000));
        let mut config = ServerConfig {
            data_dir: dir.path().join("data"),
            listen: "127.0.0.1:0".into(),
            ..ServerConfig::default()
        };
        // Suites that probe refusals send many failed authentications from one
        // address; the rate limit on them has its own tests (limits_faults.rs).
        config.limits.auth_failures_per_minute = 0;
        tweak(&mut config);
        let server = lockbox_server::start_with_clock(config, Arc::new(clock.clone()))
            .await
            .expect("server starts");
        let owner = server
            .init_token
            .clone()
            .expect("first start makes an owner token")
            .into_exposed();
        let url = server.url();
        TestServer {
            server: Some(server),
            dir,
            url,
            owner,
            http: reqwest::Client::new(),
            clock,
        }
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    pub async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.url, path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request sent");
        Resp {
            status: r.status(),
            headers: r.headers().clone(),
            text: r.text().await.unwrap_or_default(),
        }
    }

    pub async fn raw(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request sent");
        Resp {
            status: r.status(),
            headers: r.headers().clone(),
            text: r.text().await.unwrap_or_default(),
        }
    }

    pub fn secret_path(name: &str) -> String {
        format!("/v1/workspaces/default/secrets/{}", enc(name))
    }

    pub async fn put(&self, token: &str, name: &str, body: Value) -> Resp {
        self.call(token, Method::PUT, &Self::secret_path(name), Some(body))
            .await
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.call(token, Method::GET, path, None).await
    }

    pub async fn reveal(&self, token: &str, name: &str) -> Resp {
        self.call(
            token,
            Method::POST,
            &format!("{}/reveal", Self::secret_path(name)),
            None,
        )
        .await
    }

    /// Adds a member to `default` with `role`; returns their first token.
    pub async fn member(&self, user: &str, role: &str) -> String {
        let r = self
            .call(
                &self.owner,
                Method::POST,
                "/v1/workspaces/default/members",
                Some(serde_json::json!({"user": user, "role": role})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["token"]
            .as_str()
            .expect("new user's token")
            .to_owned()
    }

    /// A service token in `default` with `role`.
    pub async fn service_token(&self, name: &str, role: &str) -> String {
        let r = self
            .call(
                &self.owner,
                Method::POST,
                "/v1/tokens",
                Some(serde_json::json!({"name": name, "workspace": "default", "role": role})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()["token"].as_str().expect("token").to_owned()
    }
}
