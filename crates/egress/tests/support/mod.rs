//! Test support for the egress executor: an in-process upstream HTTP server that
//! records exactly what it received and echoes it back in several encodings, a raw
//! TCP upstream for hand-written responses, a map-backed reference resolver, and leak
//! assertions. Each test file reads as the scenario it checks.
#![allow(dead_code)]

pub mod awsv4;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use lockbox_core::{Error, ErrorCode, SecretValue};
use lockbox_egress::{
    EgressPolicy, Executor, FetchOutcome, FetchRequest, ReferenceResolver, Resolved,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Everything received, as one string, to search for values.
    pub fn dump(&self) -> String {
        let mut s = format!("{} {}?{}\n", self.method, self.path, self.query);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push('\n');
        s.push_str(&String::from_utf8_lossy(&self.body));
        s
    }
}

#[derive(Clone)]
struct UpState {
    records: Arc<Mutex<Vec<Recorded>>>,
    sigv4_secret: Option<String>,
}

/// An axum upstream on `ip:0`.
///
/// Paths: `/redirect?to=<url>&status=<code>` answers a redirect; `/loop` redirects
/// to itself; `/slow?ms=` waits;
/// `/big?n=` answers n bytes with a Content-Length; `/text` and `/binary` echo as
/// text and as non-UTF-8 bytes; `/sigv4` verifies an AWS signature with its own
/// implementation ([`awsv4`]); anything else echoes as JSON: the request's parts,
/// plus the whole dump base64 (standard and URL-safe), URL-encoded and as a JSON
/// string, and in response headers (raw, base64).
pub struct Upstream {
    pub addr: SocketAddr,
    records: Arc<Mutex<Vec<Recorded>>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        Self::start_with("127.0.0.1", None).await
    }

    pub async fn start_with(ip: &str, sigv4_secret: Option<&str>) -> Upstream {
        let records = Arc::new(Mutex::new(Vec::new()));
        let state = UpState {
            records: records.clone(),
            sigv4_secret: sigv4_secret.map(str::to_string),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Upstream { addr, records }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn records(&self) -> Vec<Recorded> {
        self.records.lock().unwrap().clone()
    }

    pub fn only(&self) -> Recorded {
        let r = self.records();
        assert_eq!(r.len(), 1, "expected exactly one request, got {}", r.len());
        r.into_iter().next().unwrap()
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn handle(State(st): State<UpState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    st.records.lock().unwrap().push(rec.clone());
    let q: HashMap<String, String> = url::form_urlencoded::parse(rec.query.as_bytes())
        .into_owned()
        .collect();
    let dump = rec.dump();
    match rec.path.as_str() {
        "/redirect" => {
            let status = q.get("status").and_then(|s| s.parse().ok()).unwrap_or(302);
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(q.get("to").map(String::as_str).unwrap_or("/")).unwrap(),
            );
            r
        }
        "/loop" => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/loop"));
            r
        }
        "/slow" => {
            let ms = q.get("ms").and_then(|s| s.parse().ok()).unwrap_or(2000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            "late".into_response()
        }
        "/big" => {
            let n: usize = q.get("n").and_then(|s| s.parse().ok()).unwrap_or(1024);
            vec![b'a'; n].into_response()
        }
        "/text" => ([(header::CONTENT_TYPE, "text/plain")], dump).into_response(),
        "/binary" => {
            let mut bytes = vec![0xff, 0xfe, b'\n'];
            bytes.extend_from_slice(dump.as_bytes());
            bytes.extend_from_slice(&[0xc3, b'\n', 0x80]);
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        "/sigv4" => {
            let secret = st.sigv4_secret.clone().unwrap_or_default();
            match awsv4::verify(
                &rec.method,
                &rec.path,
                &rec.query,
                &rec.headers,
                &rec.body,
                &secret,
            ) {
                Ok(()) => axum::Json(serde_json::json!({"verified": true})).into_response(),
                Err(why) => (
                    StatusCode::FORBIDDEN,
                    format!("signature check failed: {why}"),
                )
                    .into_response(),
            }
        }
        _ => {
            let headers: serde_json::Map<String, serde_json::Value> = rec
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let echo = serde_json::json!({
                "method": rec.method,
                "path": rec.path,
                "query": rec.query,
                "headers": headers,
                "body": String::from_utf8_lossy(&rec.body),
                "encoded": {
                    "base64": b64(dump.as_bytes()),
                    "base64url": b64url(dump.as_bytes()),
                    "urlencoded": urlencode(&dump),
                    "json_text": serde_json::to_string(&dump).unwrap(),
                },
            });
            let mut r = axum::Json(echo).into_response();
            let h = r.headers_mut();
            h.insert("x-echo-query", HeaderValue::from_str(&rec.query).unwrap());
            h.insert("x-echo-path", HeaderValue::from_str(&rec.path).unwrap());
            h.insert(
                "x-echo-dump-b64",
                HeaderValue::from_str(&b64(dump.as_bytes())).unwrap(),
            );
            for (k, v) in &rec.headers {
                if let Ok(v) = HeaderValue::from_str(v) {
                    h.append(
                        axum::http::HeaderName::from_bytes(format!("x-echo-{k}").as_bytes())
                            .unwrap(),
                        v,
                    );
                }
            }
            r
        }
    }
}

/// A TCP upstream that answers every connection with `response` verbatim and counts
/// connections.
pub struct RawUpstream {
    pub addr: SocketAddr,
    pub connections: Arc<Mutex<usize>>,
}

impl RawUpstream {
    pub async fn start(response: Vec<u8>) -> RawUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(Mutex::new(0));
        let count = connections.clone();
        let response = Arc::new(response);
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                *count.lock().unwrap() += 1;
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = sock.read(&mut buf).await;
                    let _ = sock.write_all(&response).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        RawUpstream { addr, connections }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// A secret the map resolver knows.
#[derive(Clone)]
pub struct TestSecret {
    pub name: String,
    pub id: String,
    pub value: String,
    pub allowed_hosts: Vec<String>,
}

/// A [`ReferenceResolver`] over a map from reference to secret; unknown references
/// resolve to `expired`, as the real resolver does for an old reference.
#[derive(Default)]
pub struct MapResolver {
    map: HashMap<String, TestSecret>,
    pub calls: Mutex<Vec<String>>,
}

impl MapResolver {
    pub fn new() -> MapResolver {
        MapResolver::default()
    }

    /// Adds a secret and returns its reference.
    pub fn add(&mut self, name: &str, value: &str, allowed_hosts: &[&str]) -> String {
        let reference = format!("$secret:ref_{}_{}", name, self.map.len());
        self.map.insert(
            reference.clone(),
            TestSecret {
                name: name.to_string(),
                id: format!("id-{name}"),
                value: value.to_string(),
                allowed_hosts: allowed_hosts.iter().map(|s| s.to_string()).collect(),
            },
        );
        reference
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl ReferenceResolver for MapResolver {
    async fn resolve(&self, reference: &str) -> Result<Resolved, Error> {
        self.calls.lock().unwrap().push(reference.to_string());
        let s = self
            .map
            .get(reference)
            .ok_or_else(|| Error::new(ErrorCode::Expired, "the reference has expired"))?;
        Ok(Resolved {
            name: s.name.clone(),
            secret_id: s.id.clone(),
            value: SecretValue::from_json_bytes(s.value.as_bytes().to_vec()),
            allowed_hosts: s.allowed_hosts.clone(),
        })
    }
}

/// A policy for an upstream on loopback.
pub fn loopback_policy() -> EgressPolicy {
    EgressPolicy {
        allow_private: true,
        ..EgressPolicy::default()
    }
}

pub fn executor() -> Executor {
    Executor::new(loopback_policy())
}

pub fn request(url: &str) -> FetchRequest {
    serde_json::from_value(serde_json::json!({ "url": url })).unwrap()
}

/// The outcome as one string (headers and body), to search for leaks.
pub fn outcome_text(o: &FetchOutcome) -> String {
    serde_json::to_string(o).unwrap()
}

/// Encodings of `value` that must not appear anywhere in the outcome.
pub fn leak_forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap();
    let mut forms = vec![
        value.to_string(),
        json[1..json.len() - 1].to_string(),
        urlencode(value),
        b64(value.as_bytes()),
        b64url(value.as_bytes()),
    ];
    // The JSON text of the outcome escapes once more: look for the doubly escaped
    // form too.
    let twice = serde_json::to_string(&json[1..json.len() - 1]).unwrap();
    forms.push(twice[1..twice.len() - 1].to_string());
    forms.sort();
    forms.dedup();
    forms
}

pub fn assert_no_leak(haystack: &str, value: &str) {
    for form in leak_forms(value) {
        assert!(
            !haystack.contains(&form),
            "value leaked in the form {form:?}:\n{haystack}"
        );
    }
}
