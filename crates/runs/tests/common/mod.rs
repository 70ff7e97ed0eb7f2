//! Test support: a real Lockbox in a temp dir, runs opened through the service, an
//! egress executor allowed to call loopback, and an in-process upstream (axum on
//! 127.0.0.1:0) that plays seed 001's OAuth server and API and records what it got.

#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use lockbox_automation::{run_flow, Flow, FlowError, OutputLine, RunResult};
use lockbox_core::{Scope, SecretName, UserName};
use lockbox_egress::{EgressPolicy, Executor};
use lockbox_runs::{EmbeddedModule, RunSpec, Runs};
use lockbox_service::{Lockbox, Principal, PutSecret, RequestCtx, ServiceConfig};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "lockbox-test-client";
pub const CLIENT_SECRET: &str = "cs_live_Q7vX2mN9pL4kR8tW3zY6";
pub const ACCESS_TOKEN: &str = "at_9f8e7d6c5b4a3f2e1d0cBq7Zx";

/// What the upstream received: (method and path, Authorization header, body).
#[derive(Debug, Clone)]
pub struct Received {
    pub route: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct Upstream {
    pub received: Arc<Mutex<Vec<Received>>>,
}

pub struct Env {
    pub _dir: tempfile::TempDir,
    pub svc: Arc<Lockbox>,
    pub owner: Principal,
    pub egress: Arc<Executor>,
    pub upstream: Upstream,
    pub base: String,
}

fn auth_of(h: &HeaderMap) -> Option<String> {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn oauth_token(
    State(u): State<Upstream>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    u.received.lock().unwrap().push(Received {
        route: "POST /oauth/token".into(),
        authorization: auth_of(&h),
        body: body.clone(),
    });
    if body["client_secret"] == CLIENT_SECRET
        && body["client_id"] == CLIENT_ID
        && body["grant_type"] == "client_credentials"
    {
        (
            StatusCode::OK,
            Json(json!({"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600})),
        )
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
    }
}

async fn resources(State(u): State<Upstream>, h: HeaderMap) -> (StatusCode, Json<Value>) {
    let auth = auth_of(&h);
    u.received.lock().unwrap().push(Received {
        route: "GET /resources".into(),
        authorization: auth.clone(),
        body: Value::Null,
    });
    if auth.as_deref() == Some(&format!("Bearer {ACCESS_TOKEN}")) {
        (StatusCode::OK, Json(json!({"items": ["alpha", "beta"]})))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad token"})),
        )
    }
}

/// Echoes the Authorization header back (the executor must redact it).
async fn data(State(u): State<Upstream>, h: HeaderMap) -> Json<Value> {
    let auth = auth_of(&h);
    u.received.lock().unwrap().push(Received {
        route: "GET /data".into(),
        authorization: auth.clone(),
        body: Value::Null,
    });
    Json(json!({"data": [1, 2, 3], "you_sent": auth}))
}

impl Env {
    pub async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let svc = Arc::new(
            Lockbox::open(dir.path(), None, ServiceConfig::default())
                .await
                .unwrap(),
        );
        let owner_token = svc
            .bootstrap()
            .await
            .unwrap()
            .expect("first start")
            .into_exposed();
        let owner = svc.authenticate(&owner_token).await.unwrap();
        let egress = Arc::new(Executor::new(EgressPolicy {
            allow_private: true,
            ..Default::default()
        }));
        let upstream = Upstream::default();
        let app = Router::new()
            .route("/oauth/token", post(oauth_token))
            .route("/resources", get(resources))
            .route("/data", get(data))
            .with_state(upstream.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Env {
            _dir: dir,
            svc,
            owner,
            egress,
            upstream,
            base: format!("http://{addr}"),
        }
    }

    /// Opens a run (optionally as the owner user) and the embedded module for it.
    pub async fn module(&self, user: Option<&str>, trigger: &str) -> EmbeddedModule {
        let user = user.map(|u| UserName::parse(u).unwrap());
        self.runs()
            .open(
                &self.owner,
                &RunSpec {
                    workspace: "default",
                    flow: None,
                    user: user.as_ref(),
                    trigger,
                    ttl: None,
                },
                &RequestCtx::default(),
            )
            .await
            .unwrap()
    }

    /// Runs in this test's process, over its service and executor.
    pub fn runs(&self) -> Runs {
        Runs::new(self.svc.clone(), self.egress.clone())
    }

    /// Stores a workspace secret as the owner (the console's path).
    pub async fn put(&self, name: &str, value: Value) {
        self.svc
            .put_secret(
                &self.owner,
                "default",
                Scope::Workspace,
                &SecretName::parse(name).unwrap(),
                PutSecret {
                    value: value.into(),
                    description: None,
                    visibility: None,
                    ttl_seconds: None,
                    if_match: None,
                    allowed_hosts: None,
                    create_only: false,
                    labels: None,
                },
                &RequestCtx::default(),
            )
            .await
            .unwrap();
    }

    pub fn received(&self) -> Vec<Received> {
        self.upstream.received.lock().unwrap().clone()
    }

    /// Points seed 001's example hosts at the upstream.
    pub fn localize(&self, yaml: &str) -> String {
        yaml.replace("https://auth.example.com", &self.base)
            .replace("https://api.example.com", &self.base)
    }
}

/// Runs YAML text; answers the result and every printed line as JSON text.
pub async fn run_yaml(
    module: &EmbeddedModule,
    yaml: &str,
    config: Value,
) -> (Result<RunResult, FlowError>, Vec<OutputLine>) {
    let flow = Flow::from_yaml(yaml).expect("flow parses");
    let config: Map<String, Value> = match config {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut lines = Vec::new();
    let res = run_flow(&flow, module, config, &mut |l| lines.push(l)).await;
    (res, lines)
}

pub fn printed(lines: &[OutputLine]) -> String {
    lines
        .iter()
        .map(|l| serde_json::to_string(l).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn step_result<'l>(lines: &'l [OutputLine], path: &str) -> &'l Value {
    lines
        .iter()
        .find_map(|l| match l {
            OutputLine::Step { path: p, result } if p == path => Some(result),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no step line for {path} in {lines:?}"))
}
