//! Time, injectable. Every TTL, expiry, "last used" and signing-time reading goes
//! through a [`Clock`] so tests can move time instead of sleeping; the repository's
//! `clippy.toml` bans reading the wall clock anywhere else ([`SystemClock`] is the
//! one place that does).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch. Storage keeps integers; the API prints RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, seconds: u64) -> Timestamp {
        let ms = i64::try_from(seconds)
            .unwrap_or(i64::MAX / 2)
            .saturating_mul(1000);
        Timestamp(self.0.saturating_add(ms))
    }

    /// The same instant as a `SystemTime` (for APIs that take one, such as SigV4).
    pub fn to_system_time(self) -> std::time::SystemTime {
        let ms = std::time::Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 {
            std::time::UNIX_EPOCH + ms
        } else {
            std::time::UNIX_EPOCH - ms
        }
    }

    /// The same instant as a `time::OffsetDateTime` in UTC (the epoch if out of range).
    pub fn to_offset_date_time(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 with millisecond precision, UTC.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one read of the wall clock; everything else asks a `Clock` (clippy.toml).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start.0)))
    }
    pub fn advance_seconds(&self, s: i64) {
        self.0.fetch_add(s * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_500).to_rfc3339(), "1970-01-01T00:00:01.5Z");
    }

    #[test]
    fn converts_to_other_time_types() {
        let t = Timestamp(1_500);
        assert_eq!(
            t.to_system_time(),
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_500)
        );
        assert_eq!(
            t.to_offset_date_time().unix_timestamp_nanos(),
            1_500_000_000
        );
        assert_eq!(
            Timestamp(-1_000).to_system_time(),
            std::time::UNIX_EPOCH - std::time::Duration::from_secs(1)
        );
    }

    #[test]
    fn manual_clock_advances() {
        let c = ManualClock::new(Timestamp(1000));
        c.advance_seconds(2);
        assert_eq!(c.now(), Timestamp(3000));
    }
}
