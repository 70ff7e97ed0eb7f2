//! The executor: one `reqwest` client, built once, and the fetch pipeline
//! (resolve → check → substitute → sign → send → follow redirects → read → redact).
//!
//! Order matters and is the point of this module: where references sit in the URL and
//! whether a Lockbox credential rides along are checked before anything is resolved;
//! every reference is resolved and every used secret's `allowed_hosts` and the SSRF
//! guard are checked before the first byte goes out, and again for each redirect hop.
//! Substituted strings live in `Zeroizing` buffers. Errors are built from fixed texts
//! plus secret names and hosts as the run wrote them ([`Dest`]): never a substituted
//! value, never a host that came from a secret or an upstream (a redirect's Location),
//! never `reqwest`'s own messages (which quote URLs); and they pass through the
//! redactor before they leave.

use crate::credentials;
use crate::guard::{host_allowed, Blocked, Guard, GuardedResolver, LookupFailed, Refusal};
use crate::refs::{self, Encoding, Table};
use crate::sigv4;
use crate::urls;
use crate::{
    Attempt, Auth, EgressPolicy, FetchOutcome, FetchRequest, ReferenceResolver, Resolved,
    UsedSecret,
};
use base64::Engine as _;
use lockbox_core::{find_references, Error, ErrorCode, REFERENCE_PREFIX};
use lockbox_redact::{Options, PatternSet, Redactor};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use url::Url;
use zeroize::Zeroizing;

/// Sends automations' requests. Cheap to clone (the client is shared).
#[derive(Clone)]
pub struct Executor {
    client: reqwest::Client,
    guard: Guard,
    policy: Arc<EgressPolicy>,
}

/// Request headers an automation may not set: framing and hop-by-hop headers the
/// client owns, `host` (virtual-host confusion would send a secret to another site
/// behind the same address), and `accept-encoding` (the response must arrive
/// uncompressed to be redacted).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "accept-encoding",
];

/// Headers that carry credentials even without a reference; dropped on a
/// cross-origin hop like secret-bearing ones (as browsers and reqwest do).
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// Headers that describe a body; dropped when a redirect turns the request into a GET.
const BODY_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-language",
    "content-location",
];

struct Header {
    name: HeaderName,
    value: HeaderValue,
    secret: bool,
}

struct Body {
    bytes: Zeroizing<Vec<u8>>,
    /// Names of the secrets spliced into the body.
    secrets: Vec<String>,
}

enum PreparedAuth {
    /// `Authorization` value for basic and bearer auth.
    Header(Zeroizing<String>),
    Aws {
        access_key: Zeroizing<String>,
        secret_key: Zeroizing<String>,
        session_token: Option<Zeroizing<String>>,
        region: String,
        service: String,
    },
}

/// The request after substitution, hop by hop.
struct Prepared {
    method: Method,
    url: Url,
    /// The secret that held the URL, when one did.
    url_secret: Option<String>,
    headers: Vec<Header>,
    body: Option<Body>,
    auth: Option<PreparedAuth>,
}

/// How errors name a destination. Only a host the run wrote itself is quoted; a host
/// that came from a secret (a URL-valued secret) or from an upstream (a redirect's
/// Location, which may reflect a value) is named by where it came from.
#[derive(Debug, Clone)]
enum Dest {
    /// The host (and port) as the run wrote them.
    Written(String, Option<u16>),
    /// The host of the URL a secret held, by the secret's name.
    UrlSecret(String),
    /// The host of redirect hop N (1 for the first redirect).
    Hop(usize),
}

impl Dest {
    fn describe(&self) -> String {
        match self {
            Dest::Written(h, _) => format!("host \"{h}\""),
            Dest::UrlSecret(n) => format!("the host of the URL held by secret \"{n}\""),
            Dest::Hop(n) => format!("the host of redirect hop {n}"),
        }
    }

    /// A guard refusal: with its reason for a written host; with the class alone
    /// otherwise (the reason can quote parts of the address).
    fn refused(&self, r: &Refusal) -> Error {
        match self {
            Dest::Written(..) => denied(r.to_string()),
            _ => denied(format!(
                "{} is refused: {}",
                self.describe(),
                r.kind.summary()
            )),
        }
    }

    /// Where an upstream failure happened: `"host:port"` as the run wrote them, or
    /// where the host came from when the run did not write it.
    fn endpoint(&self) -> String {
        match self {
            Dest::Written(h, Some(p)) => format!("\"{h}:{p}\""),
            _ => self.describe(),
        }
    }

    /// A name that does not resolve: the upstream cannot be reached (502).
    fn unresolved(&self, l: &LookupFailed) -> Error {
        match self {
            Dest::Written(..) => upstream_failed(l.to_string()),
            _ => upstream_failed(format!("could not resolve {}", self.describe())),
        }
    }

    fn blocked(&self, b: &Blocked) -> Error {
        match b {
            Blocked::Refused(r) => self.refused(r),
            Blocked::Lookup(l) => self.unresolved(l),
        }
    }
}

fn denied(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::EgressDenied, msg)
}

fn upstream_failed(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::UpstreamFailed, msg)
}

fn upstream_timeout(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::UpstreamTimeout, msg)
}

fn carries_token(part: &str) -> Error {
    denied(format!("{part} carries a Lockbox token"))
}

/// The run's request as written (references blanked out, so a reference's own token
/// is never mistaken for a credential) carries no Lockbox credential.
fn check_written_credentials(req: &FetchRequest) -> Result<(), Error> {
    let blank = |t: &str| -> Result<String, Error> {
        let mut out = String::with_capacity(t.len());
        let mut last = 0;
        for r in find_references(t)? {
            out.push_str(&t[last..r.start]);
            out.push(' ');
            last = r.end;
        }
        out.push_str(&t[last..]);
        Ok(out)
    };
    let has =
        |t: &str| -> Result<bool, Error> { Ok(credentials::carries_token(blank(t)?.as_bytes())) };
    if has(&req.url)? {
        return Err(carries_token("the URL"));
    }
    for (name, value) in &req.headers {
        let lower = name.trim().to_ascii_lowercase();
        if credentials::carries_token(name.as_bytes()) || has(value)? {
            return Err(carries_token(&format!("header \"{lower}\"")));
        }
        if lower == "cookie" && credentials::names_session_cookie(&blank(value)?) {
            return Err(denied("header \"cookie\" carries Lockbox's session cookie"));
        }
    }
    for (key, value) in &req.query {
        if credentials::carries_token(key.as_bytes()) || has(value)? {
            return Err(carries_token(&format!("query parameter \"{key}\"")));
        }
    }
    let body_text = match &req.body {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(v) => {
            Some(serde_json::to_string(v).map_err(|_| Error::invalid("body is not valid JSON"))?)
        }
    };
    if let Some(text) = body_text {
        if credentials::body_carries_token(blank(&text)?.as_bytes()) {
            return Err(carries_token("the body"));
        }
    }
    let auth_fields: Vec<(&str, &str)> = match &req.auth {
        None => Vec::new(),
        Some(Auth::Basic { username, password }) => {
            vec![("auth.basic", username.as_str()), ("auth.basic", password)]
        }
        Some(Auth::Bearer { token }) => vec![("auth.bearer", token.as_str())],
        Some(Auth::Awsv4 {
            access_key,
            secret_key,
            session_token,
            region,
            service,
        }) => {
            let mut v = vec![
                ("auth.awsv4", access_key.as_str()),
                ("auth.awsv4", secret_key),
                ("auth.awsv4", region),
                ("auth.awsv4", service),
            ];
            v.extend(session_token.as_deref().map(|t| ("auth.awsv4", t)));
            v
        }
    };
    for (part, value) in auth_fields {
        if has(value)? {
            return Err(carries_token(part));
        }
    }
    Ok(())
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or("").to_string()
}

fn parse_method(m: Option<&str>) -> Result<Method, Error> {
    let m = m.unwrap_or("GET").trim().to_ascii_uppercase();
    if m == "CONNECT" || m == "TRACE" {
        return Err(Error::invalid(format!("method {m} is not allowed")));
    }
    Method::from_bytes(m.as_bytes())
        .map_err(|_| Error::invalid("method is not a valid HTTP method"))
}

fn check_scheme(url: &Url) -> Result<(), Error> {
    match url.scheme() {
        "http" | "https" => {}
        _ => return Err(Error::invalid("only http and https URLs are allowed")),
    }
    if url.host().is_none() {
        return Err(Error::invalid("the URL has no host"));
    }
    Ok(())
}

fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media = media_type(ct);
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

impl Executor {
    pub fn new(policy: EgressPolicy) -> Executor {
        let guard = Guard::from_policy(&policy);
        let client = reqwest::Client::builder()
            // System HTTP(S)_PROXY must not route around the guard.
            .no_proxy()
            // Redirects are followed by `fetch`, hop by hop, with checks.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            // Names resolve through the guard; the client connects only to checked addresses.
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .user_agent(concat!("lockbox-egress/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10).min(policy.max_timeout))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("building the egress HTTP client (TLS roots) cannot fail");
        Executor {
            client,
            guard,
            policy: Arc::new(policy),
        }
    }

    fn deadline(&self, timeout_ms: Option<u64>) -> Result<Duration, Error> {
        match timeout_ms {
            None => Ok(self.policy.default_timeout.min(self.policy.max_timeout)),
            Some(0) => Err(Error::invalid("timeout_ms must be positive")),
            Some(ms) => {
                let d = Duration::from_millis(ms);
                if d > self.policy.max_timeout {
                    return Err(Error::invalid(format!(
                        "timeout_ms is {ms}; the limit is {}",
                        self.policy.max_timeout.as_millis()
                    )));
                }
                Ok(d)
            }
        }
    }

    /// Resolves, checks, sends and redacts one automation request. See the crate docs
    /// for the order of checks; any refusal happens before the first byte is sent.
    pub async fn fetch(
        &self,
        req: FetchRequest,
        resolver: &dyn ReferenceResolver,
    ) -> Result<FetchOutcome, Error> {
        self.fetch_audited(req, resolver).await.1
    }

    /// [`fetch`](Executor::fetch), also reporting what was attempted, so a refused or
    /// failed call can be audited with the secrets it tried to use. The [`Attempt`] is
    /// filled as far as the call got: empty `used` if it failed before resolving,
    /// empty `host` if the URL never parsed.
    pub async fn fetch_audited(
        &self,
        req: FetchRequest,
        resolver: &dyn ReferenceResolver,
    ) -> (Attempt, Result<FetchOutcome, Error>) {
        let mut attempt = Attempt {
            method: String::new(),
            host: String::new(),
            url_secret: None,
            used: Vec::new(),
        };
        let result = self.fetch_inner(req, resolver, &mut attempt).await;
        (attempt, result)
    }

    async fn fetch_inner(
        &self,
        req: FetchRequest,
        resolver: &dyn ReferenceResolver,
        attempt: &mut Attempt,
    ) -> Result<FetchOutcome, Error> {
        // Checks that need no value come first.
        let method = parse_method(req.method.as_deref())?;
        attempt.method = method.as_str().to_string();
        let timeout = self.deadline(req.timeout_ms)?;
        for name in req.headers.keys() {
            if name.contains(REFERENCE_PREFIX) {
                return Err(Error::invalid(
                    "references are resolved in header values, not header names",
                ));
            }
        }
        for key in req.query.keys() {
            if key.contains(REFERENCE_PREFIX) {
                return Err(Error::invalid(
                    "references are resolved in query values, not query names",
                ));
            }
        }
        // Where the URL's references sit (never in its scheme, credentials, host, port
        // or fragment), before anything is resolved: the host as written is all the
        // errors and the audit row will ever name.
        let template = urls::template(&req.url)?;
        attempt.host = template.host.clone();
        // No Lockbox credential rides along, as the run wrote the request.
        check_written_credentials(&req)?;
        // A JSON body is serialized with its references in place: reference tokens
        // need no JSON escaping, so they appear verbatim, keys and leaves alike.
        let body_template: Option<(String, bool)> = match &req.body {
            None => None,
            Some(serde_json::Value::String(s)) => Some((s.clone(), false)),
            Some(v) => Some((
                serde_json::to_string(v).map_err(|_| Error::invalid("body is not valid JSON"))?,
                true,
            )),
        };

        // 1. Find every reference.
        let mut texts: Vec<&str> = vec![req.url.as_str()];
        texts.extend(req.headers.values().map(String::as_str));
        texts.extend(req.query.values().map(String::as_str));
        if let Some((b, _)) = &body_template {
            texts.push(b);
        }
        match &req.auth {
            None => {}
            Some(Auth::Basic { username, password }) => texts.extend([username.as_str(), password]),
            Some(Auth::Bearer { token }) => texts.push(token),
            Some(Auth::Awsv4 {
                access_key,
                secret_key,
                session_token,
                region,
                service,
            }) => {
                texts.extend([access_key.as_str(), secret_key, region, service]);
                texts.extend(session_token.as_deref());
            }
        }
        let mut references: Vec<&str> = Vec::new();
        for t in &texts {
            for r in find_references(t)? {
                let token = &t[r];
                if !references.contains(&token) {
                    references.push(token);
                }
            }
        }

        // 2. Resolve them all (resolver errors pass through unchanged).
        let mut resolved: Vec<Resolved> = Vec::with_capacity(references.len());
        for r in &references {
            resolved.push(resolver.resolve(r).await?);
        }
        let mut table = Table::new();
        let mut secret_names = Table::new();
        // The response is redacted with every value this request carries, in
        // every form (the URL-encoded forms of what was substituted into a path,
        // a query or a form body included; a URL-valued secret's path and query
        // values on their own too). A value below the minimum length is masked
        // where it stands as a whole token: this answer is to a request that
        // carried it. Each value lower-cased, for the redirect host check.
        let mut forms = PatternSet::builder(Options::default()).short_values_as_tokens(true);
        let mut lowered: Vec<Zeroizing<String>> = Vec::new();
        for (r, res) in references.iter().zip(&resolved) {
            // EXPOSE: the plaintext is spliced into the outgoing request and fed to the
            // redactor that masks it in the response; it goes nowhere else.
            let bytes = res.value.expose();
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Error::invalid(format!("secret \"{}\" is not text", res.name)))?;
            table.insert(*r, text);
            secret_names.insert(*r, res.name.as_str());
            forms.add(&res.name, bytes);
            // A JSON object or array (a non-string secret, substituted as its
            // JSON text): its leaves on their own too, numbers and booleans
            // included.
            if matches!(bytes.first(), Some(b'{' | b'[')) {
                if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) {
                    forms.add_json(&res.name, &doc);
                }
            }
            if text.len() >= lockbox_redact::MIN_LEN {
                lowered.push(Zeroizing::new(text.to_ascii_lowercase()));
            }
        }
        let redactor = Redactor::from_sets(&[Arc::new(forms.build())]);
        if let Some(base) = &template.base {
            attempt.url_secret = secret_names.get(base.as_str()).map(|n| n.to_string());
        }
        let mut used: Vec<UsedSecret> = Vec::new();
        for res in &resolved {
            if !used
                .iter()
                .any(|u| u.name == res.name && u.secret_id == res.secret_id)
            {
                used.push(UsedSecret {
                    name: res.name.clone(),
                    secret_id: res.secret_id.clone(),
                });
            }
        }
        attempt.used = used.clone();
        let scrub = |e: Error| Error::new(e.code, redactor.redact_str(&e.message).into_owned());

        // 3. Substitute (and check the result for Lockbox credentials).
        let prepared =
            prepare(&req, method, &body_template, &table, &secret_names).map_err(scrub)?;
        let method_str = prepared.method.as_str().to_string();
        let url_secret = prepared.url_secret.clone();
        let first = match &url_secret {
            Some(name) => Dest::UrlSecret(name.clone()),
            None => Dest::Written(template.host.clone(), template.port),
        };

        // 4. Check, send, follow, read: all within one deadline.
        let run = self.run(prepared, first.clone(), &resolved, &redactor, &lowered);
        let (status, headers, body, bytes) = match tokio::time::timeout(timeout, run).await {
            Ok(r) => r.map_err(scrub)?,
            Err(_) => {
                return Err(upstream_timeout(format!(
                    "the request to {} did not finish within {} ms",
                    first.endpoint(),
                    timeout.as_millis()
                )))
            }
        };
        Ok(FetchOutcome {
            status,
            headers,
            body,
            used,
            method: method_str,
            host: template.host,
            url_secret,
            bytes,
        })
    }

    /// Checks a hop's destination: every used secret's `allowed_hosts`, then the SSRF
    /// guard with the port (IP literals, or every address the name resolves to, which
    /// the guard pins for the connection; Lockbox's own endpoints).
    async fn check_destination(
        &self,
        url: &Url,
        dest: &Dest,
        resolved: &[Resolved],
    ) -> Result<(), Error> {
        let host = host_of(url);
        for r in resolved {
            if !host_allowed(&r.allowed_hosts, &host) {
                return Err(denied(format!(
                    "secret \"{}\" may not be sent to {}",
                    r.name,
                    dest.describe()
                )));
            }
        }
        let h = url
            .host()
            .ok_or_else(|| Error::invalid("the URL has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Error::invalid("the URL has no port"))?;
        self.guard
            .check_destination(&h, port)
            .await
            .map_err(|b| dest.blocked(&b))
    }

    async fn run(
        &self,
        mut p: Prepared,
        first: Dest,
        resolved: &[Resolved],
        redactor: &Redactor,
        lowered: &[Zeroizing<String>],
    ) -> Result<(u16, Vec<(String, String)>, serde_json::Value, u64), Error> {
        let origin0 = p.url.origin();
        let mut crossed = false;
        let mut redirects = 0usize;
        loop {
            let dest = if redirects == 0 {
                first.clone()
            } else {
                Dest::Hop(redirects)
            };
            self.check_destination(&p.url, &dest, resolved).await?;
            if !crossed && p.url.origin() != origin0 {
                crossed = true;
                p.headers
                    .retain(|h| !h.secret && !CREDENTIAL_HEADERS.contains(&h.name.as_str()));
                p.auth = None;
                if let Some(b) = &p.body {
                    if !b.secrets.is_empty() {
                        return Err(denied(format!(
                            "redirect hop {redirects} goes to another origin, and would replay a request body holding secret \"{}\"",
                            b.secrets[0]
                        )));
                    }
                }
            }
            let resp = self.send_once(&p, &dest).await?;
            let status = resp.status();
            let is_redirect = matches!(
                status,
                StatusCode::MOVED_PERMANENTLY
                    | StatusCode::FOUND
                    | StatusCode::SEE_OTHER
                    | StatusCode::TEMPORARY_REDIRECT
                    | StatusCode::PERMANENT_REDIRECT
            );
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| v.as_bytes().to_vec());
            let (true, Some(location)) = (is_redirect, location) else {
                return self.read_response(resp, redactor, &dest).await;
            };
            if redirects >= self.policy.max_redirects {
                return Err(Error::invalid(format!(
                    "stopped after {} redirects (the limit)",
                    self.policy.max_redirects
                )));
            }
            redirects += 1;
            let location = std::str::from_utf8(&location)
                .map_err(|_| Error::invalid("a redirect's Location is not valid text"))?;
            let next = p
                .url
                .join(location)
                .map_err(|_| Error::invalid("a redirect's Location is not a valid URL"))?;
            check_scheme(&next)
                .map_err(|_| Error::invalid("a redirect points to a non-HTTP URL"))?;
            // An upstream may reflect a value into its Location's host (lower-cased by
            // the URL parser, so the redactor would miss it): such a host never
            // reaches DNS, a connection or an error.
            if let Some(h) = next.host_str().filter(|h| Some(*h) != p.url.host_str()) {
                let h = h.to_ascii_lowercase();
                if lowered.iter().any(|v| h.contains(v.as_str())) {
                    return Err(denied(format!(
                        "redirect hop {redirects} would carry a secret in its host"
                    )));
                }
            }
            if next.origin() != origin0 && redactor.redact_str(next.as_str()) != next.as_str() {
                return Err(denied(format!(
                    "redirect hop {redirects} goes to another origin, and would carry a secret in its URL"
                )));
            }
            if matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
            ) {
                if p.method != Method::HEAD {
                    p.method = Method::GET;
                }
                p.body = None;
                p.headers
                    .retain(|h| !BODY_HEADERS.contains(&h.name.as_str()));
            }
            p.url = next;
        }
    }

    async fn send_once(&self, p: &Prepared, dest: &Dest) -> Result<reqwest::Response, Error> {
        let mut headers = HeaderMap::with_capacity(p.headers.len() + 4);
        for h in &p.headers {
            headers.append(h.name.clone(), h.value.clone());
        }
        let body: &[u8] = p.body.as_ref().map(|b| b.bytes.as_slice()).unwrap_or(&[]);
        match &p.auth {
            None => {}
            Some(PreparedAuth::Header(v)) => {
                let mut v = HeaderValue::from_str(v)
                    .map_err(|_| Error::invalid("auth produces an invalid Authorization header"))?;
                v.set_sensitive(true);
                headers.insert(reqwest::header::AUTHORIZATION, v);
            }
            Some(PreparedAuth::Aws {
                access_key,
                secret_key,
                session_token,
                region,
                service,
            }) => {
                let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(headers.len());
                for (k, v) in &headers {
                    let v = v.to_str().map_err(|_| {
                        Error::invalid(
                            "a header value is not visible ASCII, so it cannot be signed",
                        )
                    })?;
                    pairs.push((k.as_str(), v));
                }
                let signed = sigv4::sign(
                    &sigv4::Credentials {
                        access_key,
                        secret_key,
                        session_token: session_token.as_deref().map(|s| s.as_str()),
                    },
                    &sigv4::SignInput {
                        method: p.method.as_str(),
                        url: p.url.as_str(),
                        headers: &pairs,
                        body,
                        region,
                        service,
                        time: lockbox_core::Clock::now(&lockbox_core::SystemClock).to_system_time(),
                        content_sha256_header: true,
                    },
                )?;
                for (name, value) in signed.headers {
                    let mut v = HeaderValue::from_str(&value)
                        .map_err(|_| Error::invalid("auth.awsv4 produced an invalid header"))?;
                    v.set_sensitive(true);
                    headers.insert(HeaderName::from_static(name), v);
                }
            }
        }
        let mut rb = self
            .client
            .request(p.method.clone(), p.url.clone())
            .headers(headers);
        if p.body.is_some() {
            rb = rb.body(body.to_vec());
        }
        rb.send().await.map_err(|e| map_send_error(&e, dest))
    }

    async fn read_response(
        &self,
        mut resp: reqwest::Response,
        redactor: &Redactor,
        dest: &Dest,
    ) -> Result<(u16, Vec<(String, String)>, serde_json::Value, u64), Error> {
        let status = resp.status().as_u16();
        let max = self.policy.max_response_bytes;
        let too_large = || {
            Error::too_large(format!(
                "the response body is larger than the limit of {max} bytes"
            ))
        };
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    redactor.redact_str(k.as_str()).into_owned(),
                    redactor
                        .redact_str(&String::from_utf8_lossy(v.as_bytes()))
                        .into_owned(),
                )
            })
            .collect();
        let is_json = is_json_content_type(resp.headers());
        let mut buf = Zeroizing::new(Vec::new());
        while let Some(chunk) = resp.chunk().await.map_err(|_| {
            upstream_failed(format!(
                "reading the response from {} failed",
                dest.endpoint()
            ))
        })? {
            if buf.len() + chunk.len() > max {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        let parsed = if is_json {
            serde_json::from_slice::<serde_json::Value>(&buf).ok()
        } else {
            None
        };
        let body = match parsed {
            Some(mut v) => {
                redactor.redact_json(&mut v);
                v
            }
            None => serde_json::Value::String(
                redactor
                    .redact_str(&String::from_utf8_lossy(&buf))
                    .into_owned(),
            ),
        };
        Ok((status, headers, body, buf.len() as u64))
    }
}

/// Maps a `reqwest` error to a message naming the destination only: `reqwest`'s own
/// text quotes the URL (path and query may hold values), and a guard refusal from the
/// resolver quotes the name it resolved, which only a written host may show.
fn map_send_error(e: &reqwest::Error, dest: &Dest) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<Refusal>() {
            return dest.refused(refusal);
        }
        if let Some(lookup) = s.downcast_ref::<LookupFailed>() {
            return dest.unresolved(lookup);
        }
        source = s.source();
    }
    let what = dest.endpoint();
    if e.is_timeout() {
        upstream_timeout(format!("the request to {what} timed out"))
    } else if e.is_connect() {
        upstream_failed(format!("could not connect to {what}"))
    } else {
        upstream_failed(format!("the request to {what} failed"))
    }
}

/// Substitutes every part of the request and validates what the automation may set.
fn prepare(
    req: &FetchRequest,
    method: Method,
    body_template: &Option<(String, bool)>,
    table: &Table<'_>,
    secret_names: &Table<'_>,
) -> Result<Prepared, Error> {
    // Each value encoded for the URL component it sits in; the URL's structure is the
    // one the run wrote (or the one a URL-valued secret holds).
    let built = urls::build(&req.url, table, secret_names)?;
    let mut url = built.url;
    if !req.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in &req.query {
            let v = refs::substitute(v, table, Encoding::Raw)?;
            if credentials::carries_token(v.as_bytes()) {
                return Err(carries_token(&format!("query parameter \"{k}\"")));
            }
            pairs.append_pair(k, &v);
        }
    }
    if credentials::carries_token(url.as_str().as_bytes()) {
        return Err(carries_token("the URL"));
    }

    let aws = matches!(req.auth, Some(Auth::Awsv4 { .. }));
    let mut headers = Vec::with_capacity(req.headers.len() + 1);
    let mut has_content_type = false;
    let mut is_form = false;
    for (name, value) in &req.headers {
        let hn = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::invalid(format!("header name \"{name}\" is not valid")))?;
        let lower = hn.as_str();
        if RESERVED_HEADERS.contains(&lower) {
            return Err(Error::invalid(format!(
                "header \"{lower}\" is set by Lockbox"
            )));
        }
        if req.auth.is_some() && lower == "authorization" {
            return Err(Error::invalid(
                "set either auth or an Authorization header, not both",
            ));
        }
        if aws
            && matches!(
                lower,
                "x-amz-date" | "x-amz-content-sha256" | "x-amz-security-token"
            )
        {
            return Err(Error::invalid(format!(
                "header \"{lower}\" is set by auth.awsv4"
            )));
        }
        if lower == "content-type" {
            has_content_type = true;
            is_form = media_type(value) == "application/x-www-form-urlencoded";
        }
        let secret = value.contains(REFERENCE_PREFIX);
        let v = refs::substitute(value, table, Encoding::Raw)?;
        if credentials::carries_token(v.as_bytes()) {
            return Err(carries_token(&format!("header \"{lower}\"")));
        }
        if lower == "cookie" && credentials::names_session_cookie(&v) {
            return Err(denied("header \"cookie\" carries Lockbox's session cookie"));
        }
        let mut hv = HeaderValue::from_str(&v).map_err(|_| {
            Error::invalid(format!(
                "header \"{lower}\" has a value that is not a valid header value"
            ))
        })?;
        hv.set_sensitive(secret);
        headers.push(Header {
            name: hn,
            value: hv,
            secret,
        });
    }

    let body = match body_template {
        None => None,
        Some((template, is_json)) => {
            let is_json = *is_json;
            let mut names: Vec<String> = Vec::new();
            for r in find_references(template)? {
                let name = secret_names
                    .get(&template[r])
                    .copied()
                    .unwrap_or("?")
                    .to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            // JSON bodies: JSON string escaping; a form body: form encoding (so a value
            // with `+`, `&` or `=` arrives as one intact field); other text: as is.
            let enc = if is_json {
                Encoding::JsonString
            } else if is_form {
                Encoding::Form
            } else {
                Encoding::Raw
            };
            let text = refs::substitute(template, table, enc)?;
            if credentials::body_carries_token(text.as_bytes()) {
                return Err(carries_token("the body"));
            }
            if !has_content_type {
                headers.push(Header {
                    name: reqwest::header::CONTENT_TYPE,
                    value: HeaderValue::from_static(if is_json {
                        "application/json"
                    } else {
                        "text/plain; charset=utf-8"
                    }),
                    secret: false,
                });
            }
            let bytes = Zeroizing::new(text.as_bytes().to_vec());
            Some(Body {
                bytes,
                secrets: names,
            })
        }
    };

    let auth = match &req.auth {
        None => None,
        Some(Auth::Basic { username, password }) => {
            let user = refs::substitute(username, table, Encoding::Raw)?;
            let pass = refs::substitute(password, table, Encoding::Raw)?;
            if credentials::carries_token(user.as_bytes())
                || credentials::carries_token(pass.as_bytes())
            {
                return Err(carries_token("auth.basic"));
            }
            if user.contains(':') {
                return Err(Error::invalid("a basic-auth username cannot contain ':'"));
            }
            let mut joined = Zeroizing::new(String::with_capacity(user.len() + pass.len() + 1));
            joined.push_str(&user);
            joined.push(':');
            joined.push_str(&pass);
            let mut value = Zeroizing::new(String::from("Basic "));
            base64::engine::general_purpose::STANDARD.encode_string(joined.as_bytes(), &mut value);
            Some(PreparedAuth::Header(value))
        }
        Some(Auth::Bearer { token }) => {
            let token = refs::substitute(token, table, Encoding::Raw)?;
            if credentials::carries_token(token.as_bytes()) {
                return Err(carries_token("auth.bearer"));
            }
            let mut value = Zeroizing::new(String::from("Bearer "));
            value.push_str(&token);
            Some(PreparedAuth::Header(value))
        }
        Some(Auth::Awsv4 {
            access_key,
            secret_key,
            session_token,
            region,
            service,
        }) => {
            let aws = PreparedAuth::Aws {
                access_key: refs::substitute(access_key, table, Encoding::Raw)?,
                secret_key: refs::substitute(secret_key, table, Encoding::Raw)?,
                session_token: match session_token {
                    Some(t) => Some(refs::substitute(t, table, Encoding::Raw)?),
                    None => None,
                },
                region: refs::substitute(region, table, Encoding::Raw)?.to_string(),
                service: refs::substitute(service, table, Encoding::Raw)?.to_string(),
            };
            if let PreparedAuth::Aws {
                access_key,
                secret_key,
                session_token,
                region,
                service,
            } = &aws
            {
                let fields = [access_key.as_str(), secret_key, region, service];
                if fields
                    .iter()
                    .chain(session_token.as_deref().map(|t| t.as_str()).as_ref())
                    .any(|f| credentials::carries_token(f.as_bytes()))
                {
                    return Err(carries_token("auth.awsv4"));
                }
            }
            Some(aws)
        }
    };

    Ok(Prepared {
        method,
        url,
        url_secret: built.url_secret,
        headers,
        body,
        auth,
    })
}
