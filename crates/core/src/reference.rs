//! `$secret:` references as every layer sees them: the prefix, how one is found in
//! text, what one resolves to ([`Resolved`]) and how a call that used one names it
//! ([`UsedSecret`], in an [`EgressAttempt`]). The service mints and opens references; the egress executor
//! and the runs crate only find and hand them on. One definition here keeps those
//! layers from each keeping a copy of the same shapes.

use crate::{Error, SecretValue};
use serde::Serialize;
use std::ops::Range;

/// The prefix every reference starts with.
pub const REFERENCE_PREFIX: &str = "$secret:";

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Byte ranges of every reference in `text`, in order: the prefix and one or more
/// base64url characters, matched greedily. A prefix with no token after it is an
/// error, so a typo never goes out (or is stored) as literal text.
pub fn find_references(text: &str) -> Result<Vec<Range<usize>>, Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find(REFERENCE_PREFIX) {
        let start = from + pos;
        let mut end = start + REFERENCE_PREFIX.len();
        while end < bytes.len() && is_token_byte(bytes[end]) {
            end += 1;
        }
        if end == start + REFERENCE_PREFIX.len() {
            return Err(Error::invalid(
                "a `$secret:` reference has no token after the prefix",
            ));
        }
        out.push(start..end);
        from = end;
    }
    Ok(out)
}

/// One resolved reference: the plaintext to substitute (a JSON string value's raw
/// text; any other JSON as its JSON text), and what guards it.
pub struct Resolved {
    pub name: String,
    pub secret_id: String,
    pub value: SecretValue,
    /// Host patterns the value may be sent to (`api.example.com`, `*.example.org`);
    /// empty means anywhere.
    pub allowed_hosts: Vec<String>,
}

/// What an outbound call of a run attempted, known even when it failed: the egress
/// executor fills it in as the call proceeds, the service writes it to the call's
/// audit row (`egress.fetch`). Never a value, never the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EgressAttempt {
    /// The requested method, once it parsed.
    pub method: String,
    /// The destination host as the run wrote it, once the URL parsed; empty when
    /// the URL comes from a secret (whose host is never reported).
    pub host: String,
    /// The name of the secret that held the URL, once it resolved.
    pub url_secret: Option<String>,
    /// Every secret resolved for the call, once each, once references resolved.
    pub used: Vec<UsedSecret>,
}

/// A secret a call used, for its audit row: never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsedSecret {
    pub name: String,
    pub secret_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_reference_and_refuses_a_bare_prefix() {
        let t = "a $secret:AbC_-1 b$secret:x/$secret:y";
        let found: Vec<&str> = find_references(t)
            .unwrap()
            .into_iter()
            .map(|r| &t[r])
            .collect();
        assert_eq!(found, ["$secret:AbC_-1", "$secret:x", "$secret:y"]);
        assert!(find_references("no reference here").unwrap().is_empty());
        assert!(find_references("oops $secret: then").is_err());
    }
}
