//! `lockbox server`'s limits: deadlines, connection limits and the rate limit on
//! failed authentication (docs/operating-limits.md explains each). Defaults are
//! `lockbox_server::limits::Limits::default()`.

use clap::Args;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// A request still running after this is answered 503 unavailable (automation
    /// runs keep their own limits). A number of seconds, or with a unit: 500ms, 30s, 2m.
    #[arg(long, value_name = "DURATION", env = "LOCKBOX_REQUEST_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub request_timeout: Duration,
    /// /readyz fails when the store has not committed its probe write within this.
    #[arg(long, value_name = "DURATION", env = "LOCKBOX_READYZ_TIMEOUT", default_value = "3s", value_parser = duration)]
    pub readyz_timeout: Duration,
    /// A connection must send a complete request head (or finish its TLS
    /// handshake) within this; HTTP/1 connections waiting for their next request too.
    #[arg(long, value_name = "DURATION", env = "LOCKBOX_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and nothing sent either way for this
    /// long is closed.
    #[arg(long, value_name = "DURATION", env = "LOCKBOX_IDLE_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub idle_timeout: Duration,
    /// Connections held at once; more are answered 503 and closed. Lowered at start
    /// to leave file descriptors for the store (a quarter of ulimit -n, at least 32, at most 128).
    #[arg(long, value_name = "N", env = "LOCKBOX_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Failed authentications allowed per minute from one client address and with
    /// one token prefix; more are answered 429 rate_limited. 0 turns this off.
    #[arg(
        long,
        value_name = "N",
        env = "LOCKBOX_AUTH_FAILURES_PER_MINUTE",
        default_value_t = 30
    )]
    pub auth_failures_per_minute: u32,
    /// PostgreSQL: statements running longer are cancelled by the server (503).
    #[arg(long, value_name = "DURATION", env = "LOCKBOX_DB_STATEMENT_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub db_statement_timeout: Duration,
    /// PostgreSQL: the longest a request waits for a free pooled connection (503
    /// after). A request's whole store operation may take the statement timeout
    /// plus this before it is abandoned as unavailable.
    #[arg(long, value_name = "DURATION", env = "LOCKBOX_DB_POOL_WAIT", default_value = "5s", value_parser = duration)]
    pub db_pool_wait: Duration,
}

impl LimitArgs {
    pub fn to_limits(&self) -> lockbox_server::limits::Limits {
        lockbox_server::limits::Limits {
            request_timeout: self.request_timeout,
            readyz_timeout: self.readyz_timeout,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            auth_failures_per_minute: self.auth_failures_per_minute,
            db: lockbox_service::DbDeadlines {
                statement: Some(self.db_statement_timeout),
                pool_wait: self.db_pool_wait,
                answer: self.db_statement_timeout + self.db_pool_wait,
            },
        }
    }
}

/// `30`, `30s`, `500ms`, `2m`: a positive duration.
fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (like 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("'{text}': the unit must be ms, s or m")),
    };
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("'{text}' must be more than 0 and at most a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_or_without_a_unit() {
        assert_eq!(duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "0", "-1", "5h", "abc", "2 days"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_match_the_servers() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            l: LimitArgs,
        }
        let t = T::try_parse_from(["t"]).unwrap();
        assert_eq!(t.l.to_limits(), lockbox_server::limits::Limits::default());
    }
}
