//! Limits on what one request, one connection and one client may take: the
//! request deadline, the `/readyz` deadline, connection limits (applied by
//! `serve.rs`), PostgreSQL's deadlines (applied by the store), and the rate limit
//! on failed authentication.
//!
//! Failed authentication is limited per client address (IPv6 by /64) and per
//! token prefix, with token buckets: each failure takes a token; a failure when a
//! bucket is empty is answered `429 rate_limited` with `Retry-After` instead of
//! `401`. Only failures are counted and a token is always checked first, so a
//! valid token is never slowed or refused, even from an address that is being
//! limited (the 429 answers only what would have been a 401, and says nothing a
//! 401 would not).

use crate::error::ApiError;
use crate::AppState;
use axum::extract::ConnectInfo;
use lockbox_core::{Error, ErrorCode};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every limit `lockbox server` can be given; [`Limits::default`] is what it
/// uses unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The longest a request may take before it is answered `503 unavailable`
    /// (automation runs, which have their own limits, are exempt).
    pub request_timeout: Duration,
    /// The longest `/readyz` waits for its write probe.
    pub readyz_timeout: Duration,
    /// A connection must send a complete request head within this (HTTP/1: also
    /// between requests on a kept-alive connection; TLS: the handshake).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this long
    /// is closed (HTTP/1 and HTTP/2).
    pub idle_timeout: Duration,
    /// Connections held at once; one more is answered 503 and closed. Lowered at
    /// start to fit the open-files limit.
    pub max_connections: usize,
    /// Failed authentications allowed per minute from one client address, and
    /// for one token prefix (a burst of this many, refilled evenly). 0 turns the
    /// limit off.
    pub auth_failures_per_minute: u32,
    /// PostgreSQL: statement timeout, pool wait and answer deadline.
    pub db: lockbox_service::DbDeadlines,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(30),
            readyz_timeout: Duration::from_secs(3),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
            auth_failures_per_minute: 30,
            db: lockbox_service::DbDeadlines::default(),
        }
    }
}

/// Routes that run automations: bounded by their own limits (a script's run
/// time, each outbound call's `timeout_ms`), not by the request deadline.
pub(crate) fn runs_automation(route: &str) -> bool {
    matches!(
        route,
        "/v1/run/fetch"
            | "/v1/workspaces/{ws}/flows/{slug}/runs"
            | "/v1/workspaces/{ws}/scripts/run"
    )
}

/// Token buckets by key, for failures only.
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    /// Shared by new keys while the map is full (many addresses or prefixes at
    /// once): they are limited together rather than not at all.
    overflow: Bucket,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Keys kept per table; past this, full buckets are dropped, then new keys share
/// one bucket.
const MAX_KEYS: usize = 65_536;

impl<K: std::hash::Hash + Eq + Clone> Buckets<K> {
    fn new(now: Instant, capacity: f64) -> Self {
        Buckets {
            map: HashMap::new(),
            overflow: Bucket {
                tokens: capacity,
                at: now,
            },
        }
    }

    /// Takes one token for `key`: Ok, or Err(seconds until one is back).
    fn take(&mut self, key: &K, now: Instant, capacity: f64, per_sec: f64) -> Result<(), u64> {
        if !self.map.contains_key(key) && self.map.len() >= MAX_KEYS {
            // A full bucket is the same as no bucket: drop those first.
            self.map.retain(|_, b| {
                let t = b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
                t < capacity
            });
        }
        let bucket = if self.map.contains_key(key) || self.map.len() < MAX_KEYS {
            self.map.entry(key.clone()).or_insert(Bucket {
                tokens: capacity,
                at: now,
            })
        } else {
            &mut self.overflow
        };
        let refilled =
            bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * per_sec;
        bucket.tokens = refilled.min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_sec).ceil().max(1.0) as u64)
        }
    }
}

/// The rate limit on failed authentication (see the module docs).
pub struct AuthLimiter {
    per_minute: u32,
    by_addr: Mutex<Buckets<IpAddr>>,
    by_prefix: Mutex<Buckets<String>>,
}

/// Characters of a presented token that key its bucket: the kind prefix
/// (`lbx_`, `lbr_`) and 8 more. Never logged.
const PREFIX_CHARS: usize = 12;

impl AuthLimiter {
    pub fn new(per_minute: u32) -> Self {
        let now = Instant::now();
        let cap = f64::from(per_minute.max(1));
        AuthLimiter {
            per_minute,
            by_addr: Mutex::new(Buckets::new(now, cap)),
            by_prefix: Mutex::new(Buckets::new(now, cap)),
        }
    }

    /// Records a failed authentication from `addr` with `token`: None while the
    /// client is within its allowance, else the seconds to wait (answer 429).
    pub fn failed(&self, addr: Option<IpAddr>, token: Option<&str>) -> Option<u64> {
        if self.per_minute == 0 {
            return None;
        }
        let now = Instant::now();
        let cap = f64::from(self.per_minute);
        let per_sec = cap / 60.0;
        let mut wait = None::<u64>;
        if let Some(ip) = addr.map(addr_key) {
            let r = self
                .by_addr
                .lock()
                .expect("auth limiter")
                .take(&ip, now, cap, per_sec);
            if let Err(w) = r {
                wait = Some(w);
            }
        }
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            let prefix: String = t.chars().take(PREFIX_CHARS).collect();
            let r = self
                .by_prefix
                .lock()
                .expect("auth limiter")
                .take(&prefix, now, cap, per_sec);
            if let Err(w) = r {
                wait = Some(wait.map_or(w, |x| x.max(w)));
            }
        }
        wait
    }
}

/// IPv4 as is; IPv6 by its /64 (one host usually holds a whole /64).
fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The client address of a request (set by the accept loop), if known.
pub fn client_addr(ext: &axum::http::Extensions) -> Option<IpAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The answer to a failed authentication: `err` itself (401), or 429
/// `rate_limited` with `Retry-After` when this client or this token prefix has
/// failed too often. Errors other than `unauthenticated` pass unchanged.
pub fn on_auth_failure(
    st: &AppState,
    ext: &axum::http::Extensions,
    token: Option<&str>,
    err: Error,
) -> ApiError {
    if err.code != ErrorCode::Unauthenticated {
        return ApiError::from(err);
    }
    match st.auth_limiter.failed(client_addr(ext), token) {
        None => ApiError::from(err),
        Some(wait) => {
            tracing::warn!(
                client = ?client_addr(ext),
                retry_after = wait,
                "failed authentication rate-limited"
            );
            ApiError::from(Error::new(
                ErrorCode::RateLimited,
                format!(
                    "too many failed authentications from this client or with this token; \
                     retry after {wait} s"
                ),
            ))
            .with_retry_after(wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_limited_per_address_and_per_prefix() {
        let l = AuthLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..3 {
            assert_eq!(l.failed(Some(a), Some(&format!("lbx_aaaaaaa{i}-x"))), None);
        }
        // The address is spent: 60/3 = 20 s for one more.
        let w = l.failed(Some(a), Some("lbx_zzzzzzzz")).unwrap();
        assert!((1..=20).contains(&w), "{w}");
        // Another address with another prefix is not affected.
        assert_eq!(l.failed(Some(b), Some("lbx_bbbbbbbb")), None);
        // One prefix from many addresses is limited by its prefix.
        for i in 0..2 {
            let ip: IpAddr = format!("10.1.0.{i}").parse().unwrap();
            assert_eq!(l.failed(Some(ip), Some("lbx_bbbbbbbb")), None);
        }
        assert!(l
            .failed(Some("10.2.0.1".parse().unwrap()), Some("lbx_bbbbbbbbXYZ"))
            .is_some());
        // Off.
        let off = AuthLimiter::new(0);
        for _ in 0..100 {
            assert_eq!(off.failed(Some(a), Some("lbx_x")), None);
        }
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(addr_key(a), addr_key(b));
        let m: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(addr_key(m), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_full_table_shares_one_bucket() {
        let now = Instant::now();
        let mut b: Buckets<u32> = Buckets::new(now, 1.0);
        for k in 0..MAX_KEYS as u32 {
            assert!(b.take(&k, now, 1.0, 1.0 / 60.0).is_ok());
        }
        // Table full of spent buckets: new keys share the overflow bucket.
        assert!(b.take(&(MAX_KEYS as u32), now, 1.0, 1.0 / 60.0).is_ok());
        assert!(b
            .take(&(MAX_KEYS as u32 + 1), now, 1.0, 1.0 / 60.0)
            .is_err());
        assert_eq!(b.map.len(), MAX_KEYS);
    }
}
