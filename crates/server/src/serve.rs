//! The accept loop and the connections it serves (in place of `axum::serve`,
//! which has no connection limit, no header-read or idle timeout, and logs
//! accept errors only at a level compiled out).
//!
//! - At most `max_connections` connections are held; one more is answered a
//!   plain `503` (HTTP) or closed (TLS) at once, never queued.
//! - A connection must finish its request head (HTTP/1, also while kept alive
//!   between requests) or its TLS handshake within `header_read_timeout`.
//! - A connection with no request in flight and no bytes moving for
//!   `idle_timeout` is closed (HTTP/2 gets a GOAWAY first).
//! - Accept errors (out of file descriptors, above all) are logged, at most one
//!   line per few seconds with a count of the rest, and the loop backs off
//!   briefly instead of spinning.
//! - Every request carries `ConnectInfo<SocketAddr>` (the peer), which the
//!   authentication rate limit keys on.

use crate::limits::Limits;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

/// How long connections may take to finish after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `max_connections`, lowered so connections cannot take the descriptors the
/// store needs: a quarter of the open-files limit stays free, at least 32 (an idle
/// node holds about 20: the database, its write-ahead log, the reader pool, the
/// runtime) and at most 128, so the connection past the limit can still be
/// accepted and told `503` rather than left in the backlog.
pub fn effective_max_connections(configured: usize) -> usize {
    let configured = configured.max(1);
    let Some(nofile) = open_files_limit() else {
        return configured;
    };
    let reserve = (nofile / 4).clamp(32, 128);
    let fit = nofile.saturating_sub(reserve).max(1);
    if fit < configured {
        tracing::info!(
            configured,
            open_files_limit = nofile,
            max_connections = fit,
            "max connections lowered to fit the open-files limit (ulimit -n)"
        );
    }
    configured.min(fit)
}

fn open_files_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes only into the struct we pass.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        if rc != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
            return None;
        }
        usize::try_from(lim.rlim_cur).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// connections finish (up to a grace period).
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: &Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let max = effective_max_connections(limits.max_connections);
    let slots = Arc::new(Semaphore::new(max));
    let (close_tx, close_rx) = watch::channel(false);
    let conn_limits = ConnLimits {
        header_read: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    let mut accept_log = LogLimiter::new(Duration::from_secs(5));
    let mut refused_log = LogLimiter::new(Duration::from_secs(5));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    if let Some(suppressed) = refused_log.allow() {
                        tracing::warn!(
                            max_connections = max,
                            suppressed,
                            "connection refused: the connection limit is reached (--max-connections)"
                        );
                    }
                    refuse(stream, tls.is_none());
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let tls = tls.clone();
                let close = close_rx.clone();
                tokio::spawn(async move {
                    serve_connection(stream, peer, tls, app, conn_limits, close).await;
                    drop(permit);
                });
            }
            Err(e) => {
                let fds = is_fd_exhaustion(&e);
                if let Some(suppressed) = accept_log.allow() {
                    let open = max - slots.available_permits();
                    if fds {
                        tracing::error!(
                            error = %e,
                            open_connections = open,
                            suppressed,
                            "accept failed: out of file descriptors; raise the open-files limit \
                             (ulimit -n) or lower --max-connections"
                        );
                    } else {
                        tracing::error!(error = %e, open_connections = open, suppressed, "accept failed");
                    }
                }
                // Nothing to accept with until a descriptor is freed: do not spin.
                let pause = if fds { 100 } else { 10 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
    drop(listener);
    let _ = close_tx.send(true);
    // Every slot back means every connection has ended.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
    Ok(())
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24)) // ENFILE, EMFILE
}

/// Answers a connection over the limit with a plain 503 (best effort: never
/// waits on the client) and closes it.
fn refuse(stream: TcpStream, plain_http: bool) {
    if plain_http {
        const BODY: &str = "{\"error\":\"unavailable\",\"message\":\"too many connections; retry shortly\",\"request_id\":null}";
        let resp = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
            BODY.len()
        );
        let _ = stream.try_write(resp.as_bytes());
    }
    drop(stream);
}

/// One log line per `every`, counting what it held back.
struct LogLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    fn new(every: Duration) -> Self {
        LogLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Some(number held back since the last line) when a line may be written.
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[derive(Clone, Copy)]
struct ConnLimits {
    header_read: Duration,
    idle: Duration,
}

/// What the idle check watches on one connection.
struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last byte read or written.
    last_io_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_io_ms.store(ms, Ordering::Relaxed);
    }
    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_io_ms.load(Ordering::Relaxed)))
    }
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(a: Arc<Activity>) -> Self {
        a.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(a)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An I/O stream that notes when bytes move.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ConnLimits,
    close: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        start: Instant::now(),
        last_io_ms: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
    });
    let io = Tracked {
        inner: stream,
        activity: activity.clone(),
    };
    match tls {
        None => serve_http(io, peer, app, limits, activity, close).await,
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_read, acceptor.accept(io)).await {
                Ok(Ok(tls)) => serve_http(tls, peer, app, limits, activity, close).await,
                Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: ConnLimits,
    activity: Arc<Activity>,
    mut close: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_activity = activity.clone();
    let service = tower::service_fn(move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        let guard = InFlight::new(svc_activity.clone());
        async move {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            let resp = tower::ServiceExt::oneshot(app, req).await;
            drop(guard);
            resp
        }
    });
    let service = hyper_util::service::TowerToHyperService::new(service);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let tick = (limits.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing_since: Option<Instant> = None;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            changed = close.changed(), if closing_since.is_none() => {
                if changed.is_err() || *close.borrow() {
                    conn.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
            }
            _ = ticker.tick() => {
                match closing_since {
                    Some(t) if t.elapsed() > SHUTDOWN_GRACE.min(limits.idle.max(Duration::from_secs(1))) => {
                        // It did not finish on its own: drop it.
                        break;
                    }
                    Some(_) => {}
                    None => {
                        if activity.in_flight.load(Ordering::Relaxed) == 0
                            && activity.idle_for() >= limits.idle
                        {
                            tracing::debug!(%peer, "closing an idle connection");
                            conn.as_mut().graceful_shutdown();
                            closing_since = Some(Instant::now());
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_limiter_counts_what_it_holds_back() {
        let mut l = LogLimiter::new(Duration::from_secs(60));
        assert_eq!(l.allow(), Some(0));
        assert_eq!(l.allow(), None);
        assert_eq!(l.allow(), None);
        l.last = Some(Instant::now() - Duration::from_secs(61));
        assert_eq!(l.allow(), Some(2));
    }

    #[test]
    fn connections_leave_descriptors_for_the_store() {
        let n = effective_max_connections(usize::MAX / 2);
        if let Some(limit) = open_files_limit() {
            assert!(n < limit, "{n} vs {limit}");
        }
        assert_eq!(effective_max_connections(1), 1);
    }
}
