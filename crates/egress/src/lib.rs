//! Lockbox's outbound HTTP executor ("Egress executor" in DESIGN.md).
//!
//! An automation hands Lockbox a [`FetchRequest`] whose strings hold `$secret:<token>`
//! references. [`Executor::fetch`] finds and resolves every reference first (through a
//! [`ReferenceResolver`] the service layer provides), checks each secret's
//! `allowed_hosts` and the SSRF guard against the destination before a byte leaves,
//! substitutes the values, signs `auth.awsv4` requests, sends with a deadline and a
//! response-size limit, follows redirects itself (checking every hop, and stripping
//! secret-bearing headers, auth and bodies when a hop leaves the origin), and returns a
//! [`FetchOutcome`] whose status, headers and body have every resolved value redacted.
//!
//! What this crate must never do: put a value in an error message, a log line or the
//! outcome; follow a redirect or connect anywhere without checking it; read proxy
//! settings from the environment. Each `.expose()` call carries an `// EXPOSE:` comment.

mod executor;
pub mod guard;
mod refs;
pub mod sigv4;

pub use executor::Executor;
pub use refs::PREFIX as REFERENCE_PREFIX;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// What the automation asked for (seed 001's `fetch` fields). Strings in the URL,
/// header values, query values, body string leaves and keys, and auth fields may hold
/// references.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    pub url: String,
    /// Default `GET`. Case-insensitive; `CONNECT` and `TRACE` are refused.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Appended to the URL's own query, form-encoded.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A JSON string is sent as text (`text/plain; charset=utf-8` unless a
    /// `Content-Type` header says otherwise); anything else as JSON.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Deadline for the whole call (every hop and the response body), at most the
    /// policy's `max_timeout`.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Request authentication. Every field may hold references.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Auth {
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
    Awsv4 {
        access_key: String,
        secret_key: String,
        #[serde(default)]
        session_token: Option<String>,
        region: String,
        service: String,
    },
}

/// One resolved reference: the plaintext to substitute (a JSON string value's raw
/// text; any other JSON as its JSON text), and what guards it.
pub struct Resolved {
    pub name: String,
    pub secret_id: String,
    pub value: lockbox_core::SecretValue,
    /// Host patterns the value may be sent to (`api.example.com`, `*.example.org`);
    /// empty means anywhere.
    pub allowed_hosts: Vec<String>,
}

/// Opens references. The real one lives in the service layer (it checks the run,
/// expiry and workspace); tests use a map.
#[async_trait::async_trait]
pub trait ReferenceResolver: Send + Sync {
    /// `reference` is the whole token including the `$secret:` prefix. Errors
    /// (expired, tampered, other run, deleted) pass through [`Executor::fetch`]
    /// unchanged.
    async fn resolve(&self, reference: &str) -> Result<Resolved, lockbox_core::Error>;
}

/// Deployment-wide limits and the SSRF switch.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    /// Allow loopback, private, link-local and every other non-public destination.
    /// Off by default; the server exposes it as `--egress-allow-private`.
    pub allow_private: bool,
    /// Redirects followed before giving up (default 5).
    pub max_redirects: usize,
    /// Largest response body read (default 10 MiB); larger is `too_large`.
    pub max_response_bytes: usize,
    /// Deadline when the request names none (default 30 s).
    pub default_timeout: Duration,
    /// Largest deadline a request may ask for (default 120 s).
    pub max_timeout: Duration,
    /// Exact addresses allowed even though the SSRF guard would refuse them (an
    /// internal API the deployment trusts, a test upstream). Empty by default; every
    /// other non-public address stays refused.
    pub dangerous_allow_ips: Vec<IpAddr>,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            allow_private: false,
            max_redirects: 5,
            max_response_bytes: 10 * 1024 * 1024,
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(120),
            dangerous_allow_ips: Vec::new(),
        }
    }
}

/// The response as the automation sees it: every resolved value redacted.
#[derive(Debug, Clone, Serialize)]
pub struct FetchOutcome {
    pub status: u16,
    /// Response headers in order, names lower-case, values redacted (non-UTF-8 bytes
    /// decoded lossily).
    pub headers: Vec<(String, String)>,
    /// Parsed JSON when the response says it is JSON and parses; otherwise the body
    /// as a string (non-UTF-8 decoded lossily). Redacted either way.
    pub body: serde_json::Value,
    /// Every secret a reference resolved to, once each, in order of first use.
    pub used: Vec<UsedSecret>,
    /// For the audit row: the requested method and host (never the URL or query;
    /// redacted if a value was spliced into the host).
    pub method: String,
    pub host: String,
    /// Bytes of the final response body as received.
    pub bytes: u64,
}

/// What a call attempted, known even when it failed (see [`Executor::fetch_audited`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The requested method, once it parsed.
    pub method: String,
    /// The destination host, once the URL parsed (redacted like [`FetchOutcome::host`]).
    pub host: String,
    /// Every secret resolved for the call, once references resolved.
    pub used: Vec<UsedSecret>,
}

/// A secret used by a call, for the audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsedSecret {
    pub name: String,
    pub secret_id: String,
}
