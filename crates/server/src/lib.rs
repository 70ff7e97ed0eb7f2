//! Lockbox's HTTP transport (axum): authentication, routing, error mapping
//! (`error.rs`, the only place errors become statuses), request ids, metrics,
//! OpenAPI, TLS, and start-up. No business rule lives here: every handler parses,
//! calls `lockbox_service::Lockbox`, and shapes the answer.

pub mod console;
pub mod edge;
pub mod error;
pub mod extract;
pub mod limits;
pub mod routes;
pub mod serve;
pub mod tls;
pub mod vault;

use anyhow::{bail, Context, Result};
use axum::Router;
use lockbox_service::{Lockbox, ServiceConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything `lockbox server` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// PostgreSQL URL for many nodes; None for the embedded SQLite store.
    pub database: Option<String>,
    pub listen: String,
    pub init_token_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_http: bool,
    pub max_value_bytes: usize,
    /// Let the egress executor reach loopback and private addresses (tests,
    /// internal APIs). Off by default: the SSRF guard refuses them. Cloud-metadata
    /// and link-local addresses, and Lockbox's own endpoints, stay refused.
    pub egress_allow_private: bool,
    /// The longest a run may be opened for, in seconds (default 3600).
    pub max_run_ttl_seconds: u64,
    /// Let the egress executor reach cloud-metadata addresses (169.254.169.254,
    /// fd00:ec2::254, …) and the link-local ranges, which hand out this machine's
    /// cloud credentials. Off by default; a warning is logged at start when on.
    pub dangerous_egress_allow_metadata: bool,
    /// The URL clients reach Lockbox at (`https://lockbox.example.com`), when it is
    /// not the listen address (a proxy or load balancer in front). The egress
    /// executor refuses it as a destination, like the listen address.
    pub public_url: Option<String>,
    /// Deadlines, connection limits and the failed-authentication rate limit.
    pub limits: limits::Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: PathBuf::from("lockbox-data"),
            database: None,
            listen: "127.0.0.1:8270".into(),
            init_token_file: None,
            tls_cert: None,
            tls_key: None,
            insecure_http: false,
            max_value_bytes: lockbox_core::value::DEFAULT_MAX_VALUE_BYTES,
            egress_allow_private: false,
            max_run_ttl_seconds: ServiceConfig::default().max_run_ttl_seconds,
            dangerous_egress_allow_metadata: false,
            public_url: None,
            limits: limits::Limits::default(),
        }
    }
}

/// Parses `--public-url`: an absolute http(s) URL with a host, no credentials, no
/// query or fragment (a path is allowed: Lockbox behind a path prefix).
pub fn parse_public_url(text: &str) -> Result<url::Url> {
    let bad = |why: &str| {
        anyhow::anyhow!(
            "--public-url must be an absolute http(s) URL such as https://lockbox.example.com \
             ({why}): '{text}'"
        )
    };
    let u = url::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("the scheme is not http or https"));
    }
    if u.host().is_none() {
        return Err(bad("it has no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("it carries credentials"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("it has a query or a fragment"));
    }
    Ok(u)
}

/// What every handler and middleware gets. axum clones the state for each
/// extractor and layer of every request, so it is one `Arc`: a clone is one
/// reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    pub svc: Arc<Lockbox>,
    /// Runs in this process (stored flows, scripts) and run fetches.
    pub runs: lockbox_runs::Runs,
    pub limits: Arc<limits::Limits>,
    pub auth_limiter: Arc<limits::AuthLimiter>,
}

/// The whole HTTP surface over one service, with the default limits.
pub fn router(svc: Arc<Lockbox>, egress: Arc<lockbox_egress::Executor>) -> Router {
    router_with(svc, egress, limits::Limits::default())
}

/// The whole HTTP surface over one service.
pub fn router_with(
    svc: Arc<Lockbox>,
    egress: Arc<lockbox_egress::Executor>,
    limits: limits::Limits,
) -> Router {
    // Values are JSON-escaped on the wire, so a value at the limit can take several
    // times its size in the body; the service enforces the exact limit.
    let body_limit = svc
        .config()
        .max_value_bytes
        .saturating_mul(6)
        .saturating_add(64 * 1024);
    // Install the metrics recorder before the first request is counted.
    routes::ops::prometheus();
    let state = AppState(Arc::new(AppParts {
        runs: lockbox_runs::Runs::new(svc.clone(), egress),
        svc,
        auth_limiter: Arc::new(limits::AuthLimiter::new(limits.auth_failures_per_minute)),
        limits: Arc::new(limits),
    }));
    // Every /v1 route passes the authorization gate before its body is read.
    let v1 = Router::new()
        .merge(routes::secrets::router())
        .merge(routes::admin::router())
        .merge(routes::runs::router())
        .merge(routes::flows::router())
        .merge(routes::scripts::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::gate::authorize,
        ));
    Router::new()
        .merge(v1)
        .merge(routes::ops::router())
        .merge(console::router())
        .merge(vault::router()) // Vault KV v2 compatibility under /vault (its own errors)
        .fallback(|| async {
            error::ApiError::new(lockbox_core::ErrorCode::NotFound, "no such route")
        })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                lockbox_core::ErrorCode::Invalid,
                "method not allowed on this route",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge::edge,
        ))
        .with_state(state)
}

/// A server that is up and listening.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub tls: bool,
    /// The owner token made on first start (None on later starts).
    pub init_token: Option<lockbox_core::Sensitive<String>>,
    pub service: Arc<Lockbox>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    background: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// The base URL clients should use.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Serves until the process is asked to stop (Ctrl-C or SIGTERM).
    pub async fn wait(mut self) -> Result<()> {
        let stop = self.shutdown.take();
        tokio::select! {
            r = &mut self.task => { r??; }
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                if let Some(s) = stop { let _ = s.send(()); }
                let _ = (&mut self.task).await;
            }
        }
        self.background.abort();
        self.service.flush_on_shutdown().await;
        self.service.leave().await;
        Ok(())
    }

    /// Stops serving (tests).
    pub async fn stop(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
        self.background.abort();
        self.service.flush_on_shutdown().await;
        self.service.leave().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Opens the data directory (creating it on first start), bootstraps the default
/// workspace and owner, and starts listening.
pub async fn start(config: ServerConfig) -> Result<RunningServer> {
    start_with_clock(config, Arc::new(lockbox_core::SystemClock)).await
}

/// As [`start`], with an injected clock (tests of TTLs and expiry).
pub async fn start_with_clock(
    config: ServerConfig,
    clock: Arc<dyn lockbox_core::Clock>,
) -> Result<RunningServer> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
        (None, None) => None,
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&config.listen)
        .await
        .with_context(|| format!("cannot resolve listen address '{}'", config.listen))?
        .collect();
    let Some(addr) = addrs.first().copied() else {
        bail!("listen address '{}' resolves to nothing", config.listen);
    };
    if tls.is_none() && !addr.ip().is_loopback() && !config.insecure_http {
        bail!(
            "refusing to serve plain HTTP on {addr}: tokens and secret values would cross the network \
             unencrypted. Give --tls-cert and --tls-key, or --insecure-http if a TLS-terminating proxy \
             sits in front of Lockbox."
        );
    }
    let public_url = config
        .public_url
        .as_deref()
        .map(parse_public_url)
        .transpose()?;
    // Bound first, before the data directory is touched: a start that cannot listen
    // (port taken) must not bootstrap the store, whose owner token only a start that
    // serves prints. Also before the egress executor is built: the executor refuses
    // Lockbox's own address (the one actually bound, port 0 resolved) and its public
    // URL, so a run cannot make Lockbox call its own API.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let svc = Lockbox::open_with_clock(
        &config.data_dir,
        config.database.as_deref(),
        ServiceConfig {
            max_value_bytes: config.max_value_bytes,
            max_run_ttl_seconds: config.max_run_ttl_seconds,
            db_deadlines: config.limits.db,
            ..ServiceConfig::default()
        },
        clock,
    )
    .await
    .with_context(|| match &config.database {
        Some(url) => format!(
            "cannot start on the PostgreSQL store {}",
            lockbox_service::describe_database_url(url)
        ),
        None => format!(
            "cannot start on data directory {}",
            config.data_dir.display()
        ),
    })?;
    let svc = Arc::new(svc);
    let init_token = svc.bootstrap().await.context("first-start set-up failed")?;
    svc.start_audit().await;
    let background = svc.spawn_background(std::time::Duration::from_secs(5));
    if config.dangerous_egress_allow_metadata {
        tracing::warn!(
            "--dangerous-egress-allow-metadata is on: automations' outbound calls may reach \
             cloud-metadata and link-local addresses, which hand out this machine's cloud credentials"
        );
    }
    let egress = Arc::new(lockbox_egress::Executor::new(
        lockbox_egress::EgressPolicy {
            allow_private: config.egress_allow_private,
            dangerous_allow_metadata: config.dangerous_egress_allow_metadata,
            self_endpoints: vec![local],
            self_urls: public_url.into_iter().collect(),
            ..lockbox_egress::EgressPolicy::default()
        },
    ));
    let app = router_with(svc.clone(), egress, config.limits.clone())
        .layer(axum::Extension(console::Tls(tls.is_some())));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = rx.await;
    };
    let is_tls = tls.is_some();
    let limits = config.limits.clone();
    let task =
        tokio::spawn(async move { serve::serve(listener, tls, app, &limits, shutdown).await });
    tracing::info!(
        store = %match &config.database {
            Some(url) => format!("PostgreSQL {}", lockbox_service::describe_database_url(url)),
            None => format!("embedded SQLite in {}", config.data_dir.display()),
        },
        "store opened"
    );
    tracing::info!(addr = %local, tls = is_tls, data_dir = %config.data_dir.display(), "Lockbox is listening");
    Ok(RunningServer {
        addr: local,
        tls: is_tls,
        init_token,
        service: svc,
        shutdown: Some(tx),
        task,
        background,
    })
}

/// `lockbox server`: start, hand over the first owner token, serve until stopped.
pub async fn run(config: ServerConfig) -> Result<()> {
    let token_file = config.init_token_file.clone();
    let server = start(config).await?;
    if let Some(token) = &server.init_token {
        match token_file {
            Some(path) => {
                // EXPOSE: the owner asked for the token in this 0600 file.
                write_private_file(&path, token.expose()).with_context(|| {
                    format!("cannot write the owner token to {}", path.display())
                })?;
                eprintln!("Lockbox: created workspace 'default' and user 'owner'; owner token written to {}", path.display());
            }
            None => {
                // EXPOSE: first start, shown once to the operator on the terminal.
                let token = token.expose();
                eprintln!(
                    "Lockbox: created workspace 'default' and user 'owner'.\n\
                     Owner token (shown once; store it now):\n\n    {token}\n\n\
                     export LOCKBOX_ADDR={} LOCKBOX_TOKEN=<the token above>",
                    server.url()
                );
            }
        }
    }
    server.wait().await
}

/// Writes `text` to a new 0600 file at `path`, atomically: a reader never sees
/// it half written (it is written under a temporary name and linked into place,
/// which also refuses to replace an existing file).
fn write_private_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    written
}
