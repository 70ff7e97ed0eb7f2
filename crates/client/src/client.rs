//! The [`Client`] handle and its transport: configuration (address, token, CA
//! certificate, timeout), URL building, sending with retries for idempotent
//! requests, and turning answers into typed values or [`Error`]s.
//!
//! One `reqwest::Client` (one connection pool) is built per [`Client`]; cloning a
//! [`Client`] shares it.

use crate::encode::encode_path_segment;
use crate::error::{api_error, decode_json, Error, Result};
use lockbox_core::Scope;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, IF_MATCH};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The address used when `LOCKBOX_ADDR` is unset.
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8270";
/// The whole-request timeout unless [`ClientBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Retries after the first try, for `GET`/`HEAD` on connection errors only.
const MAX_RETRIES: u32 = 2;
/// Backoff before retry `n` (1-based) is `n * RETRY_BACKOFF`.
const RETRY_BACKOFF: Duration = Duration::from_millis(150);

/// A Lockbox API client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `scheme://host[:port][/prefix]`, no trailing slash.
    base: String,
    auth: HeaderValue,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// Configures a [`Client`]: `Client::builder(addr, token).ca_cert_file(p).build()`.
pub struct ClientBuilder {
    addr: String,
    token: String,
    ca_cert_file: Option<PathBuf>,
    ca_cert_pem: Option<Vec<u8>>,
    timeout: Duration,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("addr", &self.addr)
            .field("token", &"[REDACTED]")
            .field("ca_cert_file", &self.ca_cert_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ClientBuilder {
    /// Trusts the CA certificate(s) in this PEM file, on top of the built-in roots.
    pub fn ca_cert_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca_cert_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Trusts the CA certificate(s) in this PEM text, on top of the built-in roots.
    pub fn ca_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_cert_pem = Some(pem.into());
        self
    }

    /// The whole-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client> {
        let base = normalize_addr(&self.addr)?;
        if self.token.is_empty() {
            return Err(Error::Config(
                "no token: set LOCKBOX_TOKEN or pass one".into(),
            ));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token)).map_err(|_| {
            Error::Config("the token holds characters not allowed in a header".into())
        })?;
        auth.set_sensitive(true);

        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("lockbox-client/", env!("CARGO_PKG_VERSION")));
        let mut pems = Vec::new();
        if let Some(path) = &self.ca_cert_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Config(format!(
                    "cannot read CA certificate {}: {e}",
                    path.display()
                ))
            })?;
            pems.push(pem);
        }
        pems.extend(self.ca_cert_pem);
        for pem in pems {
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Config(format!("CA certificate is not valid PEM: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config(
                    "CA certificate file holds no certificate".into(),
                ));
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| Error::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Client { http, base, auth })
    }
}

/// Checks the address is an absolute `http`/`https` URL and trims trailing slashes.
fn normalize_addr(addr: &str) -> Result<String> {
    let trimmed = addr.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|e| {
        Error::Config(format!(
            "bad address {addr:?}: {e} (want e.g. {DEFAULT_ADDR})"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Config(format!(
            "bad address {addr:?}: want an http:// or https:// URL such as {DEFAULT_ADDR}"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "bad address {addr:?}: no query or fragment allowed"
        )));
    }
    Ok(trimmed.to_owned())
}

/// A request before it is sent: relative path (already encoded) plus what goes with it.
pub(crate) struct Call {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<(Vec<u8>, &'static str)>,
    if_match: Option<u64>,
    create_only: bool,
}

impl Call {
    pub(crate) fn new(method: Method, path: String) -> Call {
        Call {
            method,
            path,
            query: Vec::new(),
            body: None,
            if_match: None,
            create_only: false,
        }
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl ToString) -> Call {
        self.query.push((key, value.to_string()));
        self
    }

    pub(crate) fn query_opt(self, key: &'static str, value: Option<impl ToString>) -> Call {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    /// Adds `?scope=user` for the user scope; the workspace scope is the default.
    pub(crate) fn scope(self, scope: Scope) -> Call {
        match scope {
            Scope::User => self.query("scope", "user"),
            Scope::Workspace => self,
        }
    }

    pub(crate) fn json(self, body: &impl serde::Serialize) -> Result<Call> {
        self.body_as(body, "application/json")
    }

    pub(crate) fn body_as(
        mut self,
        body: &impl serde::Serialize,
        content_type: &'static str,
    ) -> Result<Call> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Config(format!("cannot encode request body: {e}")))?;
        self.body = Some((bytes, content_type));
        Ok(self)
    }

    /// A body sent as it is (a flow's YAML).
    pub(crate) fn raw(mut self, bytes: Vec<u8>, content_type: &'static str) -> Call {
        self.body = Some((bytes, content_type));
        self
    }

    pub(crate) fn if_match(mut self, version: Option<u64>) -> Call {
        self.if_match = version;
        self
    }

    /// `If-None-Match: *`: the write only creates.
    pub(crate) fn create_only(mut self, yes: bool) -> Call {
        self.create_only = yes;
        self
    }
}

/// Encodes one path segment, refusing `.` and `..`: URL parsers resolve those as
/// path steps, so the request would reach a different route.
pub(crate) fn seg(what: &str, raw: &str) -> Result<String> {
    if raw.is_empty() || raw == "." || raw == ".." {
        return Err(Error::Config(format!(
            "{what} {raw:?} cannot be used in a URL path (empty, '.' and '..' are not addressable)"
        )));
    }
    Ok(encode_path_segment(raw))
}

impl Client {
    /// A client for `addr` (e.g. `http://127.0.0.1:8270`) authenticating with `token`,
    /// with the default timeout and the built-in CA roots.
    pub fn new(addr: &str, token: &str) -> Result<Client> {
        Client::builder(addr, token).build()
    }

    /// Starts configuring a client; see [`ClientBuilder`].
    pub fn builder(addr: &str, token: &str) -> ClientBuilder {
        ClientBuilder {
            addr: addr.to_owned(),
            token: token.to_owned(),
            ca_cert_file: None,
            ca_cert_pem: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A client from the environment: `LOCKBOX_ADDR` (default [`DEFAULT_ADDR`]),
    /// `LOCKBOX_TOKEN` (required) and, when set, `LOCKBOX_CA_CERT` (a PEM file).
    pub fn from_env() -> Result<Client> {
        Client::builder_from_env()?.build()
    }

    /// Like [`Client::from_env`], but returns the builder for further options.
    pub fn builder_from_env() -> Result<ClientBuilder> {
        let addr = env_nonempty("LOCKBOX_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let token = env_nonempty("LOCKBOX_TOKEN")
            .ok_or_else(|| Error::Config("LOCKBOX_TOKEN is not set".into()))?;
        let mut builder = Client::builder(&addr, &token);
        if let Some(ca) = env_nonempty("LOCKBOX_CA_CERT") {
            builder = builder.ca_cert_file(ca);
        }
        Ok(builder)
    }

    /// The same server, connection pool and settings, authenticating with
    /// another token: a run's token from [`Client::open_run`] for the run API.
    pub fn with_token(&self, token: &str) -> Result<Client> {
        if token.is_empty() {
            return Err(Error::Config("no token".into()));
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::Config("the token holds characters not allowed in a header".into())
        })?;
        auth.set_sensitive(true);
        Ok(Client {
            http: self.http.clone(),
            base: self.base.clone(),
            auth,
        })
    }

    /// The server address this client talks to.
    pub fn addr(&self) -> &str {
        &self.base
    }

    /// `GET /healthz`: `Ok(())` when the process is up. Retries like any `GET`.
    pub async fn healthz(&self) -> Result<()> {
        self.send(Call::new(Method::GET, "/healthz".into()))
            .await
            .map(drop)
    }

    /// `GET /readyz`: `Ok(())` when the server's store answers.
    pub async fn readyz(&self) -> Result<()> {
        self.send(Call::new(Method::GET, "/readyz".into()))
            .await
            .map(drop)
    }

    fn url(&self, call: &Call) -> String {
        let mut url = format!("{}{}", self.base, call.path);
        for (i, (k, v)) in call.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&encode_path_segment(v));
        }
        url
    }

    /// Sends `call`, retrying `GET`/`HEAD` on connection errors, and returns the
    /// status and body of a 2xx answer; any other status becomes [`Error::Api`].
    pub(crate) async fn send(&self, call: Call) -> Result<(StatusCode, Vec<u8>)> {
        let url = self.url(&call);
        let idempotent = call.method == Method::GET || call.method == Method::HEAD;
        let mut attempt = 0;
        let response = loop {
            let mut req = self
                .http
                .request(call.method.clone(), &url)
                .header(AUTHORIZATION, self.auth.clone());
            if let Some(version) = call.if_match {
                req = req.header(IF_MATCH, format!("\"{version}\""));
            }
            if call.create_only {
                req = req.header(reqwest::header::IF_NONE_MATCH, "*");
            }
            if let Some((bytes, content_type)) = &call.body {
                req = req.header(CONTENT_TYPE, *content_type).body(bytes.clone());
            }
            match req.send().await {
                Ok(response) => break response,
                Err(e) if idempotent && e.is_connect() && attempt < MAX_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(RETRY_BACKOFF * attempt).await;
                }
                Err(e) => return Err(Error::transport(&e)),
            }
        };
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::transport(&e))?
            .to_vec();
        if status.is_success() {
            Ok((status, body))
        } else {
            Err(api_error(status.as_u16(), &body, request_id))
        }
    }

    /// Sends `call` and decodes the 2xx body as `T`; a body that does not fit
    /// names the field that failed.
    pub(crate) async fn send_json<T: DeserializeOwned>(&self, what: &str, call: Call) -> Result<T> {
        let (_, body) = self.send(call).await?;
        decode_json(what, &body)
    }

    /// Sends `call` and accepts any 2xx answer, ignoring its body
    /// (`{"deleted": true}`, `{"revoked": true}`).
    pub(crate) async fn send_unit(&self, call: Call) -> Result<()> {
        self.send(call).await.map(drop)
    }
}

fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_trimmed() {
        assert_eq!(
            normalize_addr("http://127.0.0.1:8270/").unwrap(),
            "http://127.0.0.1:8270"
        );
        assert_eq!(
            normalize_addr("https://vault.example/lockbox").unwrap(),
            "https://vault.example/lockbox"
        );
        for bad in [
            "127.0.0.1:8270",
            "localhost:8270",
            "ftp://x",
            "",
            "http://h/?q=1",
        ] {
            assert!(
                matches!(normalize_addr(bad), Err(Error::Config(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn empty_token_and_bad_ca_are_config_errors() {
        assert!(matches!(
            Client::new(DEFAULT_ADDR, ""),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Client::new(DEFAULT_ADDR, "lbx_a\nb"),
            Err(Error::Config(_))
        ));
        let err = Client::builder(DEFAULT_ADDR, "lbx_t")
            .ca_cert_pem(b"not pem".to_vec())
            .build();
        assert!(matches!(err, Err(Error::Config(_))));
        let err = Client::builder(DEFAULT_ADDR, "lbx_t")
            .ca_cert_file("/nonexistent/ca.pem")
            .build();
        assert!(matches!(err, Err(Error::Config(_))));
    }

    #[test]
    fn urls_encode_segments_and_queries() {
        let c = Client::new("http://h:1/", "lbx_t").unwrap();
        let call = Call::new(
            Method::GET,
            format!(
                "/v1/workspaces/default/secrets/{}",
                seg("name", "a/b c").unwrap()
            ),
        )
        .scope(Scope::User)
        .query("prefix", "x&y=z");
        assert_eq!(
            c.url(&call),
            "http://h:1/v1/workspaces/default/secrets/a%2Fb%20c?scope=user&prefix=x%26y%3Dz"
        );
        assert!(format!("{c:?}").contains("REDACTED"));
        assert!(!format!("{c:?}").contains("lbx_t"));
    }

    #[test]
    fn dot_segments_are_refused() {
        for bad in ["", ".", ".."] {
            assert!(matches!(seg("secret name", bad), Err(Error::Config(_))));
        }
        assert_eq!(seg("secret name", "...").unwrap(), "...");
    }
}
