//! Seed 000's examples, verbatim, over a real Lockbox, the egress executor and an
//! in-process upstream; leak attempts; limits.

mod common;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::Env;
use lockbox_automation::script::{run_script, run_script_with, Limits, ScriptRun};
use lockbox_core::{Scope, SecretName};
use lockbox_runs::EmbeddedScriptHost;
use lockbox_service::{PutSecret, RequestCtx};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const USERNAME: &str = "svc-user-7Hq2Lm";
const PASSWORD: &str = "pw_Zr8!Kd3#Vx9qTn";
const JWT: &str = "eyJhbGciOi.jwtpayload4Xq9.sigZ7Kp2";
const STALE_JWT: &str = "eyJstale.tokenValue88.sigOLD77";
const API_KEY: &str = "sk_leak_value_W4t9Qp";
const EXTERNAL_KEY: &str = "ext_key_Fv6Jm3Ns0B";

// ---- seed 000, verbatim ----------------------------------------------------

const CREATE: &str = r#"# Create a new secret
var success = SetSecret("ApiKey", "sk_live_abc123", "Third-party API key")
if success then
Log("Information", "Secret created successfully")
end"#;

const UPDATE: &str = r#"# Update existing secret (description optional)
var updated = SetSecret("ApiKey", "sk_live_xyz789", null)
if not updated then
Log("Error", "Failed to update secret")
CancelAction("Secret update failed")
end"#;

const TEMP: &str = r#"# Create temporary credential
var created = SetSecret("TempToken", "token123", "Temporary access token")
if created then
Log("Information", "Temporary secret created")
end"#;

const EXTERNAL: &str = r#"# Set secret from external data
var newApiKey = Data.Request.body.apiKey
if newApiKey != null then
var saved = SetSecret("ExternalApiKey", newApiKey, "API key from external system")
if saved then
Log("Information", "External API key saved securely")
end
end"#;

const CACHING: &str = r#"# External API configuration
var apiUrl = "https://api.external-service.com"
var headers = { "Content-Type": "application/json" }
# Try to use cached JWT first
var cachedJwt = GetSecret("ExternalApiJWT")
var apiResponse
if cachedJwt != null then
Log("Information", "Using cached authentication token")
headers = {
"Content-Type": "application/json",
"Authorization": "Bearer " + cachedJwt
}
apiResponse = InvokeRestMethod(apiUrl + "/api/data", "GET", headers, null)
end
# If no cached token or authentication failed, obtain new token
if cachedJwt == null or apiResponse.statusCode == 401 then
Log("Information", "Cached token invalid or expired, obtaining new token")
# Retrieve stored credentials
var username = GetSecret("ExternalApiUsername")
var password = GetSecret("ExternalApiPassword")
if username == null or password == null then
Log("Error", "Missing API credentials")
CancelAction("External API credentials not configured")
end
# Authenticate and obtain new token
var loginPayload = {
"username": username,
"password": password
}
var authResponse = InvokeRestMethod(
apiUrl + "/auth/login",
"POST",
headers,
loginPayload
)
if authResponse.statusCode != 200 then
Log("Error", "Failed to authenticate with external API")
CancelAction("External API authentication failed")
end
# Extract JWT from response
var newJwt = authResponse.content.token
if newJwt == null then
Log("Error", "No token returned from authentication")
CancelAction("Invalid authentication response")
end
# Cache the new JWT for future requests
var cached = SetSecret("ExternalApiJWT", newJwt, "Cached authentication token")
if cached then
Log("Information", "New authentication token cached successfully")
else
Log("Warning", "Failed to cache authentication token")
end
# Retry the original request with new token
headers = {
"Content-Type": "application/json",
"Authorization": "Bearer " + newJwt
}
apiResponse = InvokeRestMethod(apiUrl + "/api/data", "GET", headers, null)
end
# Use the API response
if apiResponse.statusCode == 200 then
var data = apiResponse.content
Log("Information", "Successfully retrieved data from external API")
# Process data...
else
Log("Error", "Failed to retrieve data: " + apiResponse.statusCode)
end"#;

// ---- the external API --------------------------------------------------------

#[derive(Debug, Clone)]
struct Got {
    route: String,
    authorization: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Api {
    got: Arc<Mutex<Vec<Got>>>,
}

fn auth_of(h: &HeaderMap) -> Option<String> {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn login(
    State(a): State<Api>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    a.got.lock().unwrap().push(Got {
        route: "POST /auth/login".into(),
        authorization: auth_of(&h),
        body: body.clone(),
    });
    if body == json!({"username": USERNAME, "password": PASSWORD}) {
        (StatusCode::OK, Json(json!({ "token": JWT })))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad credentials"})),
        )
    }
}

async fn data(State(a): State<Api>, h: HeaderMap) -> (StatusCode, Json<Value>) {
    let auth = auth_of(&h);
    a.got.lock().unwrap().push(Got {
        route: "GET /api/data".into(),
        authorization: auth.clone(),
        body: Value::Null,
    });
    if auth.as_deref() == Some(&format!("Bearer {JWT}")) {
        (StatusCode::OK, Json(json!({"items": [1, 2, 3]})))
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad token"})),
        )
    }
}

/// Echoes the raw (URL-encoded) query string back as text.
async fn echo(RawQuery(q): RawQuery) -> String {
    format!("you sent: {}", q.unwrap_or_default())
}

struct T {
    env: Env,
    api: Api,
    base: String,
}

impl T {
    async fn new() -> T {
        let env = Env::new().await;
        let api = Api::default();
        let app = Router::new()
            .route("/auth/login", post(login))
            .route("/api/data", get(data))
            .route("/echo", get(echo))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        T {
            env,
            api,
            base: format!("http://{addr}"),
        }
    }

    async fn host(&self) -> EmbeddedScriptHost {
        EmbeddedScriptHost::from(self.env.module(None, "manual").await)
    }

    async fn run(&self, src: &str, request: Value) -> ScriptRun {
        let src = src.replace("https://api.external-service.com", &self.base);
        let host = self.host().await;
        run_script(&src, request, &host).await
    }

    async fn value(&self, name: &str) -> Option<Value> {
        self.env
            .svc
            .reveal_secret(
                &self.env.owner,
                "default",
                Scope::Workspace,
                &SecretName::parse(name).unwrap(),
                None,
                &RequestCtx::default(),
            )
            .await
            .ok()
            // EXPOSE: the test compares what the script stored.
            .map(|(v, _)| v.to_json().unwrap().expose().clone())
    }

    async fn description(&self, name: &str) -> Option<String> {
        self.env
            .svc
            .secret_metadata(
                &self.env.owner,
                "default",
                Scope::Workspace,
                &SecretName::parse(name).unwrap(),
                &RequestCtx::default(),
            )
            .await
            .unwrap()
            .description
    }

    fn got(&self) -> Vec<Got> {
        self.api.got.lock().unwrap().clone()
    }
}

fn text_of(run: &ScriptRun) -> String {
    serde_json::to_string(run).unwrap()
}

fn assert_clean(run: &ScriptRun, values: &[&str]) {
    let text = text_of(run);
    for v in values {
        assert!(!text.contains(v), "leaked {v:?} in {text}");
        let enc: String = url_encode(v);
        assert!(!text.contains(&enc), "leaked encoded {enc:?} in {text}");
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn messages(run: &ScriptRun) -> Vec<(String, String)> {
    run.logs
        .iter()
        .map(|l| (l.level.clone(), l.message.clone()))
        .collect()
}

fn line(level: &str, msg: &str) -> (String, String) {
    (level.to_owned(), msg.to_owned())
}

// ---- SetSecret examples ----------------------------------------------------------

#[tokio::test]
async fn create_update_and_temporary() {
    let t = T::new().await;
    let r = t.run(CREATE, json!({})).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(
        messages(&r),
        [line("Information", "Secret created successfully")]
    );
    assert_eq!(t.value("ApiKey").await, Some(json!("sk_live_abc123")));
    assert_eq!(
        t.description("ApiKey").await.as_deref(),
        Some("Third-party API key")
    );

    let r = t.run(UPDATE, json!({})).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert!(r.logs.is_empty(), "{r:?}");
    assert_eq!(t.value("ApiKey").await, Some(json!("sk_live_xyz789")));
    // A null description keeps the old one.
    assert_eq!(
        t.description("ApiKey").await.as_deref(),
        Some("Third-party API key")
    );

    let r = t.run(TEMP, json!({})).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(
        messages(&r),
        [line("Information", "Temporary secret created")]
    );
    assert_eq!(t.value("TempToken").await, Some(json!("token123")));
    assert_eq!(
        t.description("TempToken").await.as_deref(),
        Some("Temporary access token")
    );
}

#[tokio::test]
async fn update_failure_cancels() {
    let t = T::new().await;
    // An empty value is refused by the service: SetSecret answers false.
    let src = UPDATE.replace("\"sk_live_xyz789\"", "\"\"");
    let r = t.run(&src, json!({})).await;
    assert_eq!(r.status, "cancelled", "{r:?}");
    assert_eq!(r.message.as_deref(), Some("Secret update failed"));
    let msgs = messages(&r);
    assert_eq!(
        msgs.last().unwrap(),
        &line("Error", "Failed to update secret")
    );
    assert!(
        msgs[0].1.starts_with("SetSecret('ApiKey') failed: invalid"),
        "{msgs:?}"
    );
}

#[tokio::test]
async fn external_api_key_from_the_request() {
    let t = T::new().await;
    let r = t
        .run(
            EXTERNAL,
            json!({"body": {"apiKey": EXTERNAL_KEY}, "headers": {}, "query": {}}),
        )
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(
        messages(&r),
        [line("Information", "External API key saved securely")]
    );
    assert_eq!(t.value("ExternalApiKey").await, Some(json!(EXTERNAL_KEY)));
    assert_clean(&r, &[EXTERNAL_KEY]);

    let t = T::new().await;
    let r = t
        .run(EXTERNAL, json!({"body": {}, "headers": {}, "query": {}}))
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert!(r.logs.is_empty());
    assert_eq!(t.value("ExternalApiKey").await, None);
    // No body at all: Data.Request.body is null, so is its member.
    let r = t.run(EXTERNAL, json!({})).await;
    assert_eq!(r.status, "completed", "{r:?}");
}

// ---- the caching pattern ---------------------------------------------------------

const ALL: [&str; 4] = [USERNAME, PASSWORD, JWT, STALE_JWT];

#[tokio::test]
async fn caching_with_a_valid_cached_token() {
    let t = T::new().await;
    t.env.put("ExternalApiJWT", json!(JWT)).await;
    let r = t.run(CACHING, json!({})).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(
        messages(&r),
        [
            line("Information", "Using cached authentication token"),
            line(
                "Information",
                "Successfully retrieved data from external API"
            ),
        ]
    );
    let got = t.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].route, "GET /api/data");
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(&*format!("Bearer {JWT}"))
    );
    assert_clean(&r, &ALL);
}

#[tokio::test]
async fn caching_without_a_cached_token_logs_in() {
    let t = T::new().await;
    t.env.put("ExternalApiUsername", json!(USERNAME)).await;
    t.env.put("ExternalApiPassword", json!(PASSWORD)).await;
    let r = t.run(CACHING, json!({})).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(
        messages(&r),
        [
            line(
                "Information",
                "Cached token invalid or expired, obtaining new token"
            ),
            line(
                "Information",
                "New authentication token cached successfully"
            ),
            line(
                "Information",
                "Successfully retrieved data from external API"
            ),
        ]
    );
    let got = t.got();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].route, "POST /auth/login");
    assert_eq!(
        got[0].body,
        json!({"username": USERNAME, "password": PASSWORD})
    );
    assert_eq!(got[1].route, "GET /api/data");
    assert_eq!(
        got[1].authorization.as_deref(),
        Some(&*format!("Bearer {JWT}"))
    );
    assert_eq!(t.value("ExternalApiJWT").await, Some(json!(JWT)));
    assert_eq!(
        t.description("ExternalApiJWT").await.as_deref(),
        Some("Cached authentication token")
    );
    assert_clean(&r, &ALL);

    // The next run uses the cached token.
    let r = t.run(CACHING, json!({})).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(r.logs[0].message, "Using cached authentication token");
    assert_eq!(t.got().len(), 3);
}

#[tokio::test]
async fn caching_with_a_refused_cached_token_logs_in_again() {
    let t = T::new().await;
    t.env.put("ExternalApiJWT", json!(STALE_JWT)).await;
    t.env.put("ExternalApiUsername", json!(USERNAME)).await;
    t.env.put("ExternalApiPassword", json!(PASSWORD)).await;
    let r = t.run(CACHING, json!({})).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(
        messages(&r),
        [
            line("Information", "Using cached authentication token"),
            line(
                "Information",
                "Cached token invalid or expired, obtaining new token"
            ),
            line(
                "Information",
                "New authentication token cached successfully"
            ),
            line(
                "Information",
                "Successfully retrieved data from external API"
            ),
        ]
    );
    let got = t.got();
    let routes: Vec<_> = got.iter().map(|g| g.route.as_str()).collect();
    assert_eq!(
        routes,
        ["GET /api/data", "POST /auth/login", "GET /api/data"]
    );
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(&*format!("Bearer {STALE_JWT}"))
    );
    assert_eq!(
        got[2].authorization.as_deref(),
        Some(&*format!("Bearer {JWT}"))
    );
    assert_eq!(t.value("ExternalApiJWT").await, Some(json!(JWT)));
    assert_clean(&r, &ALL);
}

#[tokio::test]
async fn caching_without_credentials_cancels() {
    let t = T::new().await;
    let r = t.run(CACHING, json!({})).await;
    assert_eq!(r.status, "cancelled", "{r:?}");
    assert_eq!(
        r.message.as_deref(),
        Some("External API credentials not configured")
    );
    assert_eq!(
        messages(&r),
        [
            line(
                "Information",
                "Cached token invalid or expired, obtaining new token"
            ),
            line("Error", "Missing API credentials"),
        ]
    );
    assert!(t.got().is_empty());
}

#[tokio::test]
async fn caching_with_wrong_credentials_cancels() {
    let t = T::new().await;
    t.env.put("ExternalApiUsername", json!(USERNAME)).await;
    t.env
        .put("ExternalApiPassword", json!("wrong-password-123"))
        .await;
    let r = t.run(CACHING, json!({})).await;
    assert_eq!(r.status, "cancelled", "{r:?}");
    assert_eq!(
        r.message.as_deref(),
        Some("External API authentication failed")
    );
    assert_clean(&r, &[USERNAME, "wrong-password-123"]);
}

// ---- leaks -------------------------------------------------------------------------

#[tokio::test]
async fn leak_attempts_show_only_redactions() {
    let t = T::new().await;
    t.env.put("ApiKey", json!(API_KEY)).await;

    let r = t
        .run(
            r#"Log("Information", "key=" + GetSecret("ApiKey"))"#,
            json!({}),
        )
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(r.logs[0].message, "key=[REDACTED:ApiKey]");
    assert_clean(&r, &[API_KEY]);

    let r = t
        .run(
            r#"CancelAction("value: " + GetSecret("ApiKey") + "!")"#,
            json!({}),
        )
        .await;
    assert_eq!(r.status, "cancelled");
    assert_eq!(r.message.as_deref(), Some("value: [REDACTED:ApiKey]!"));

    // Objects carry marks too.
    let r = t
        .run(
            r#"var o = { "k": GetSecret("ApiKey"), "n": 1 }
Log("Debug", "" + o)
Log("Warning", o)"#,
            json!({}),
        )
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_clean(&r, &[API_KEY]);
    assert!(r.logs[0].message.contains("[REDACTED:ApiKey]"), "{r:?}");

    // Errors: a secret as a secret's name, as a URL, member of a secret.
    for src in [
        r#"var ok = SetSecret(GetSecret("ApiKey"), "x1234567")
Log("Information", "ok=" + ok)"#,
        r#"InvokeRestMethod(GetSecret("ApiKey"), "GET", null, null)"#,
        r#"var x = GetSecret("ApiKey").nope"#,
        r#"var x = GetSecret("ApiKey") + 1
var y = x.z"#,
        r#"var k = GetSecret("ApiKey")
var copy = "" + k
Log("Error", copy)
CancelAction(copy)"#,
    ] {
        let r = t.run(src, json!({})).await;
        eprintln!("{}", text_of(&r));
        assert_clean(&r, &[API_KEY]);
    }

    // An echo server hands the value back URL-encoded: only redactions remain.
    let src = format!(
        r#"var r = InvokeRestMethod("{}/echo?k=" + GetSecret("ApiKey") + "&z=1", "GET", null, null)
Log("Information", r.content)
Log("Information", "status " + r.statusCode)"#,
        t.base
    );
    let host = t.host().await;
    let r = run_script(&src, json!({}), &host).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(r.logs[1].message, "status 200");
    assert!(r.logs[0].message.starts_with("you sent: k="), "{r:?}");
    eprintln!("{}", text_of(&r));
    assert_clean(&r, &[API_KEY]);
}

#[tokio::test]
async fn leaks_with_characters_that_need_encoding() {
    let t = T::new().await;
    let v = "p@ss w/rd+Qz9~x";
    t.env.put("Odd", json!(v)).await;
    let src = format!(
        r#"var r = InvokeRestMethod("{}/echo?k=" + GetSecret("Odd") + "&z=1", "GET", null, null)
Log("Information", r.content)
Log("Information", "raw " + GetSecret("Odd") + " end")"#,
        t.base
    );
    let host = t.host().await;
    let r = run_script(&src, json!({}), &host).await;
    eprintln!("{}", text_of(&r));
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(r.logs[1].message, "raw [REDACTED:Odd] end");
    assert!(!text_of(&r).contains("w/rd"), "{r:?}");
    assert_clean(&r, &[v]);
}

#[tokio::test]
async fn allowed_hosts_are_enforced_by_the_executor() {
    let t = T::new().await;
    t.env
        .svc
        .put_secret(
            &t.env.owner,
            "default",
            Scope::Workspace,
            &SecretName::parse("Pinned").unwrap(),
            PutSecret {
                value: json!("pinned_value_Yt5Rq").into(),
                description: None,
                visibility: None,
                ttl_seconds: None,
                if_match: None,
                allowed_hosts: Some(vec!["api.example.com".into()]),
                create_only: false,
                labels: None,
            },
            &RequestCtx::default(),
        )
        .await
        .unwrap();
    let src = format!(
        r#"var r = InvokeRestMethod("{}/api/data", "GET", {{ "Authorization": "Bearer " + GetSecret("Pinned") }}, null)"#,
        t.base
    );
    let host = t.host().await;
    let r = run_script(&src, json!({}), &host).await;
    assert_eq!(r.status, "failed", "{r:?}");
    assert_eq!(r.error.as_ref().unwrap().code, "egress_denied", "{r:?}");
    assert!(t.got().is_empty());
    assert_clean(&r, &["pinned_value_Yt5Rq"]);
}

// ---- limits --------------------------------------------------------------------------

#[tokio::test]
async fn a_huge_script_runs_out_of_steps() {
    let t = T::new().await;
    let src = "var x = 1\n".to_owned() + &"x = 1\n".repeat(100_000);
    let r = t.run(&src, json!({})).await;
    assert_eq!(r.status, "failed", "{:?}", r.message);
    assert_eq!(r.error.unwrap().code, "limit_steps");
}

#[tokio::test]
async fn a_huge_string_hits_the_cap() {
    let t = T::new().await;
    let src = "var s = \"0123456789abcdef\"\n".to_owned() + &"s = s + s\n".repeat(40);
    let r = t.run(&src, json!({})).await;
    assert_eq!(r.status, "failed", "{:?}", r.message);
    let e = r.error.unwrap();
    assert_eq!(e.code, "limit_string");
    assert_eq!(e.line, 18);
}

/// Issue 16: a 2.2 KB script made the server allocate more than 6 GB. Every item
/// and string stayed under its cap; copies of them did not. Now the run ends with
/// `limit_memory` long before (this one would build about 10 GB).
#[tokio::test]
async fn a_script_that_allocates_gigabytes_ends_with_the_memory_error_quickly() {
    let t = T::new().await;
    let src = "var s = \"0123456789abcdef\"\n".to_owned()
        + &"s = s + s\n".repeat(16)
        + "var a = [s, s, s, s, s, s, s, s, s, s]\n"
        + "var b = [a, a, a, a, a, a, a, a, a, a]\n"
        + "var c = [b, b, b, b, b, b, b, b, b, b]\n"
        + "var d = [c, c, c, c, c, c, c, c, c, c]\n"
        + "Log(\"Information\", \"built it\")\n";
    let started = std::time::Instant::now();
    let r = t.run(&src, json!({})).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(r.status, "failed", "{:?}", r.message);
    let e = r.error.unwrap();
    assert_eq!(e.code, "limit_memory", "{}", e.message);
    assert_eq!(e.line, 19, "on the array of arrays: {e}");
    assert!(r.logs.is_empty());

    // Fields are read in place: a large value's fields can be used many times.
    let src = "var big = { \"text\": \"x\", \"pad\": [s, s, s, s, s, s, s, s, s, s] }\n";
    let src = "var s = \"0123456789abcdef\"\n".to_owned()
        + &"s = s + s\n".repeat(16)
        + src
        + &"Log(\"Debug\", big.text)\n".repeat(200);
    let r = t.run(&src, json!({})).await;
    assert_eq!(r.status, "completed", "{:?}", r.message);

    // The budget is a limit like the others.
    let host = t.host().await;
    let limits = Limits {
        max_memory_bytes: 4096,
        ..Limits::default()
    };
    let r = run_script_with(
        "var a = \"0123456789\"\nvar b = [a, a, a, a, a, a, a, a, a, a]\nvar c = [b, b, b, b, b, b, b, b, b, b]",
        json!({}),
        &host,
        limits,
    )
    .await;
    assert_eq!(r.error.unwrap().code, "limit_memory");
}

#[tokio::test]
async fn outbound_calls_and_logs_are_capped() {
    let t = T::new().await;
    let src = format!(
        "InvokeRestMethod(\"{}/echo\", \"GET\", null, null)\n",
        t.base
    )
    .repeat(5);
    let host = t.host().await;
    let limits = Limits {
        max_calls: 3,
        ..Limits::default()
    };
    let r = run_script_with(&src, json!({}), &host, limits).await;
    assert_eq!(r.error.unwrap().code, "limit_calls");

    let src = "Log(\"Debug\", \"x\")\n".repeat(2000);
    let r = t.run(&src, json!({})).await;
    assert_eq!(r.error.unwrap().code, "limit_logs");
}

#[tokio::test]
async fn the_run_times_out() {
    let t = T::new().await;
    let host = t.host().await;
    let limits = Limits {
        timeout: std::time::Duration::from_millis(1),
        max_steps: u64::MAX,
        max_logs: usize::MAX,
        ..Limits::default()
    };
    let src = "var x=1\n".repeat(120_000);
    let r = run_script_with(&src, json!({}), &host, limits).await;
    assert_eq!(r.error.unwrap().code, "limit_time");
}

#[test]
fn the_run_future_is_send() {
    fn is_send<T: Send>(_: T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _g = rt.enter();
    struct Nop;
    #[async_trait::async_trait]
    impl lockbox_automation::script::ScriptHost for Nop {
        async fn get_secret(
            &self,
            _: &str,
        ) -> Result<Option<lockbox_automation::script::HostSecret>, lockbox_automation::ModuleError>
        {
            Ok(None)
        }
        async fn reference(
            &self,
            _: &str,
            _: Option<&str>,
        ) -> Result<String, lockbox_automation::ModuleError> {
            Err(lockbox_automation::ModuleError::new(
                lockbox_core::ErrorCode::NotFound,
                "no",
            ))
        }
        async fn set_secret(
            &self,
            _: &str,
            _: Value,
            _: Option<&str>,
        ) -> Result<(), lockbox_automation::ModuleError> {
            Ok(())
        }
        async fn fetch(&self, _: Value) -> Result<Value, lockbox_automation::ModuleError> {
            Err(lockbox_automation::ModuleError::new(
                lockbox_core::ErrorCode::EgressDenied,
                "no",
            ))
        }
        async fn redact(&self, text: &str) -> String {
            text.to_owned()
        }
    }
    let host = Nop;
    is_send(run_script("Log(\"Debug\", \"x\")", json!({}), &host));
}
