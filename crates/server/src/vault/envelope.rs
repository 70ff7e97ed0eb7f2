//! Vault's response envelope and its Go-style durations.
//!
//! Owns the shape every successful Vault answer has (`request_id`, `lease_id`,
//! `renewable`, `lease_duration`, `data`, `wrap_info`, `warnings`, `auth`: vaultrs
//! fails without the first four) and the conversion of seconds to and from Go
//! duration strings (`"0s"`, `"30m0s"`, `"1h0m0s"`). It must never decide anything
//! about a secret, and it never parses a value: a revealed value is spliced into the
//! body as the bytes the service returned.

use crate::error::VaultError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// One Vault answer being built.
pub struct Envelope {
    request_id: String,
    data: Value,
    warnings: Vec<String>,
    mount_type: Option<&'static str>,
    /// Extra top-level keys (`sys/mounts` repeats its mounts there, as Vault does).
    extra: Map<String, Value>,
}

impl Envelope {
    pub fn new(request_id: &str, data: Value) -> Self {
        Envelope {
            request_id: request_id.to_owned(),
            data,
            warnings: Vec::new(),
            mount_type: None,
            extra: Map::new(),
        }
    }

    pub fn kv(mut self) -> Self {
        self.mount_type = Some("kv");
        self
    }

    pub fn warn(mut self, w: impl Into<String>) -> Self {
        self.warnings.push(w.into());
        self
    }

    pub fn warnings(mut self, ws: Vec<String>) -> Self {
        self.warnings.extend(ws);
        self
    }

    pub fn extra(mut self, key: &str, v: Value) -> Self {
        self.extra.insert(key.to_owned(), v);
        self
    }

    /// Everything but `data`, as a JSON object.
    fn head(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("request_id".into(), json!(self.request_id));
        m.insert("lease_id".into(), json!(""));
        m.insert("renewable".into(), json!(false));
        m.insert("lease_duration".into(), json!(0));
        m.insert("wrap_info".into(), Value::Null);
        m.insert(
            "warnings".into(),
            if self.warnings.is_empty() {
                Value::Null
            } else {
                json!(self.warnings)
            },
        );
        m.insert("auth".into(), Value::Null);
        if let Some(t) = self.mount_type {
            m.insert("mount_type".into(), json!(t));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        m
    }

    pub fn respond(self, status: StatusCode) -> Response {
        let mut m = self.head();
        m.insert("data".into(), self.data);
        json_response(
            status,
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default(),
        )
    }

    /// Like [`Envelope::respond`], with `data` = `{"data": <raw>, "metadata": <data>}`
    /// where `raw` is already-encoded JSON (a revealed value): it is copied into the
    /// body as it is, never parsed into an intermediate document.
    pub fn respond_with_raw_data(self, status: StatusCode, raw: &[&[u8]]) -> Response {
        let head = serde_json::to_vec(&Value::Object(self.head())).unwrap_or_default();
        let metadata = serde_json::to_vec(&self.data).unwrap_or_default();
        let raw_len: usize = raw.iter().map(|p| p.len()).sum();
        let mut body = Vec::with_capacity(head.len() + metadata.len() + raw_len + 32);
        // `head` is a non-empty object: drop its closing brace and go on.
        body.extend_from_slice(&head[..head.len().saturating_sub(1)]);
        body.extend_from_slice(b",\"data\":{\"data\":");
        for part in raw {
            body.extend_from_slice(part);
        }
        body.extend_from_slice(b",\"metadata\":");
        body.extend_from_slice(&metadata);
        body.extend_from_slice(b"}}");
        json_response(status, body)
    }
}

/// 204, or 200 with the envelope when there are warnings to carry (as Vault does).
pub fn no_content(request_id: &str, warnings: Vec<String>) -> Response {
    if warnings.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Envelope::new(request_id, Value::Null)
            .warnings(warnings)
            .respond(StatusCode::OK)
    }
}

pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Seconds as Go prints a `time.Duration`: `0s`, `45s`, `30m0s`, `1h0m0s`, `768h0m0s`.
pub fn go_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// A duration as Vault accepts it: integer seconds (a JSON number or a numeric
/// string), or Go syntax (`1h30m`, `90s`, `1.5h`, `500ms`, plus Vault's `d`), rounded
/// down to whole seconds. Negative or malformed input is refused.
pub fn parse_duration(field: &str, v: &Value) -> Result<u64, VaultError> {
    let bad = || {
        VaultError::invalid(format!(
            "invalid: {field} must be seconds or a duration like \"30m0s\""
        ))
    };
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) => parse_duration_str(s.trim()).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// The largest duration accepted: 100 years, far beyond any sensible setting.
const MAX_DURATION_SECONDS: u64 = 100 * 365 * 86_400;

fn parse_duration_str(s: &str) -> Option<u64> {
    if s.is_empty() || s == "0" {
        return Some(0);
    }
    let secs = if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u64>().ok()?
    } else {
        // Exact integer arithmetic in nanoseconds (no float rounding).
        let s = s.strip_prefix('+').unwrap_or(s);
        let mut total_ns: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (int, frac) = rest[..num_end]
                .split_once('.')
                .unwrap_or((&rest[..num_end], ""));
            if (int.is_empty() && frac.is_empty()) || frac.contains('.') || int.len() > 20 {
                return None;
            }
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale: u128 = match &rest[..unit_end] {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "d" => 86_400_000_000_000,
                _ => return None,
            };
            rest = &rest[unit_end..];
            let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
            // Digits past nanosecond precision cannot matter to whole seconds.
            let frac = &frac[..frac.len().min(18)];
            let frac_ns = if frac.is_empty() {
                0
            } else {
                frac.parse::<u128>().ok()? * scale / 10u128.pow(frac.len() as u32)
            };
            total_ns = total_ns
                .checked_add(int.checked_mul(scale)?)?
                .checked_add(frac_ns)?;
        }
        u64::try_from(total_ns / 1_000_000_000).ok()?
    };
    (secs <= MAX_DURATION_SECONDS).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(45), "45s");
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(1800), "30m0s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(32 * 86400), "768h0m0s");
    }

    #[test]
    fn durations_parse_go_syntax_and_seconds() {
        let p = |v: Value| parse_duration("d", &v).ok();
        assert_eq!(p(json!(30)), Some(30));
        assert_eq!(p(json!("30")), Some(30));
        assert_eq!(p(json!("0s")), Some(0));
        assert_eq!(p(json!("")), Some(0));
        assert_eq!(p(json!("1h30m")), Some(5400));
        assert_eq!(p(json!("30m0s")), Some(1800));
        assert_eq!(p(json!("1.5h")), Some(5400));
        assert_eq!(p(json!("1500ms")), Some(1));
        assert_eq!(p(json!("2d")), Some(172800));
        for bad in [
            json!("-1s"),
            json!("1x"),
            json!("h"),
            json!(-5),
            json!(true),
            json!("1.2.3s"),
        ] {
            assert_eq!(p(bad.clone()), None, "{bad}");
        }
        assert_eq!(p(json!(".5h")), Some(1800));
        assert_eq!(p(json!("1h.")), None);
        assert_eq!(p(json!("99999999999999999999999h")), None);
        assert_eq!(p(json!("1.2.3s")), None);
        for s in [
            0,
            1,
            59,
            60,
            61,
            3599,
            3600,
            86400,
            100_000,
            MAX_DURATION_SECONDS,
        ] {
            assert_eq!(p(json!(go_duration(s))), Some(s));
        }
    }

    #[test]
    fn raw_data_is_spliced_into_a_valid_envelope() {
        let r = Envelope::new("rid", json!({"version": 2}))
            .warn("w")
            .respond_with_raw_data(StatusCode::OK, &[b"{\"a\":1}"]);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
