//! Lockbox's outbound HTTP executor (docs/architecture.md, "Automations: runs,
//! references, egress, redaction").
//!
//! An automation hands Lockbox a [`FetchRequest`] whose strings hold `$secret:<token>`
//! references. [`Executor::fetch`] first checks where the references sit (never in the
//! URL's scheme, credentials, host, port or fragment, unless one reference is the
//! whole URL or starts it: a URL-valued secret) and that no Lockbox credential rides
//! along; then resolves every reference (through a [`ReferenceResolver`] the service
//! layer provides), checks each secret's `allowed_hosts` and the SSRF guard (which
//! also refuses Lockbox's own endpoints) against the destination before a byte leaves,
//! substitutes the values, each encoded for the part of the request it lands in, signs
//! `auth.awsv4` requests, sends with a deadline and a response-size limit, follows
//! redirects itself (checking every hop, and stripping secret-bearing headers, auth and
//! bodies when a hop leaves the origin), and returns a [`FetchOutcome`] whose status,
//! headers and body have every resolved value redacted.
//!
//! What this crate must never do: put a value in an error message, a log line, an
//! audit field or the outcome (errors and audit fields quote the request as the run
//! wrote it, never after substitution, and never a host an upstream chose); follow a
//! redirect or connect anywhere without checking it; read proxy settings from the
//! environment. Each `.expose()` call carries an `// EXPOSE:` comment.

mod credentials;
mod executor;
pub mod guard;
mod refs;
pub mod sigv4;
mod urls;

pub use executor::Executor;
/// The resolver's answer and what a call attempted (for its audit row) are core's
/// types: the service produces and records them, this crate fills them in.
pub use lockbox_core::{EgressAttempt as Attempt, Resolved, UsedSecret};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// What the automation asked for (seed 001's `fetch` fields). Strings in the URL's
/// path and query, header values, query values, body string leaves and keys, and auth
/// fields may hold references; so may the start of the URL, when the secret holds a
/// whole URL (a webhook URL, say) and the rest of the text adds a path or a query.
/// Values are written encoded for where they land: path encoding in the path, form
/// encoding in the query and in `application/x-www-form-urlencoded` bodies, JSON
/// string escaping in JSON bodies, raw in headers, auth and other text bodies.
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

/// Opens references. The real one lives in the service layer (it checks the run,
/// expiry and workspace); tests use a map.
#[async_trait::async_trait]
pub trait ReferenceResolver: Send + Sync {
    /// `reference` is the whole token including the `$secret:` prefix. Errors
    /// (expired, tampered, other run, deleted) pass through [`Executor::fetch`]
    /// unchanged.
    async fn resolve(&self, reference: &str) -> Result<Resolved, lockbox_core::Error>;
}

/// Deployment-wide limits and the SSRF switches.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    /// Allow loopback, private and every other non-public destination except cloud
    /// metadata and link-local addresses (see `dangerous_allow_metadata`) and Lockbox's
    /// own endpoints. Off by default; the server exposes it as
    /// `--egress-allow-private`.
    pub allow_private: bool,
    /// Allow cloud-metadata addresses (169.254.169.254, fd00:ec2::254, …) and the
    /// link-local ranges, which hand out the machine's cloud credentials. Off by
    /// default; the server exposes it as `--dangerous-egress-allow-metadata`.
    pub dangerous_allow_metadata: bool,
    /// Lockbox's own listen addresses: refused as destinations (address and port)
    /// whatever the other switches say. A listen on `0.0.0.0` or `::` stands for every
    /// loopback and local address with that port.
    pub self_endpoints: Vec<std::net::SocketAddr>,
    /// Lockbox's public URLs: their host (by name, case-insensitively, with the URL's
    /// port or the scheme's default) is refused as a destination; with
    /// `allow_private`, so are the addresses the name resolves to, on that port.
    pub self_urls: Vec<url::Url>,
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
    /// other non-public address stays refused. An exception lifts the metadata class
    /// too (for exactly that address), never Lockbox's own endpoints.
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
            dangerous_allow_metadata: false,
            self_endpoints: Vec::new(),
            self_urls: Vec::new(),
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
    /// For the audit row: the requested method and host as the run wrote it (never
    /// the URL or query). Empty when the URL came from a secret (see `url_secret`).
    pub method: String,
    pub host: String,
    /// The name of the secret that held the URL, when the URL was one (its host is
    /// then never reported).
    pub url_secret: Option<String>,
    /// Bytes of the final response body as received.
    pub bytes: u64,
}
