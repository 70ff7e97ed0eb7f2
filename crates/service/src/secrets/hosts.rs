//! `allowed_hosts`: the host patterns a secret may be sent to, how they are
//! checked on the way in, whether a new list widens an old one (an owner's
//! decision), and the hosts two lists share (a value built from several
//! secrets keeps the strictest guard).

use lockbox_core::{Error, Result};

/// Host patterns for `allowed_hosts`: `api.example.com` or `*.example.org`
/// (any subdomain, not the apex), lowercased, without a trailing dot; at most 32.
pub(crate) fn parse_host_patterns(raw: &[String]) -> Result<Vec<String>> {
    if raw.len() > 32 {
        return Err(
            Error::invalid("allowed_hosts takes at most 32 patterns").with_field("allowed_hosts")
        );
    }
    raw.iter()
        .map(|p| {
            let p = p.trim().trim_end_matches('.').to_ascii_lowercase();
            let host = p.strip_prefix("*.").unwrap_or(&p);
            let ok = !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if ok {
                Ok(p)
            } else {
                Err(Error::invalid(
                    "allowed_hosts entries are host names like 'api.example.com' or '*.example.org'",
                )
                .with_field("allowed_hosts"))
            }
        })
        .collect()
}

/// Whether host pattern `outer` lets through everything `inner` does: the same
/// pattern, or `*.d` over a name or pattern under `.d` (`*.d` does not match `d`).
fn pattern_covers(outer: &str, inner: &str) -> bool {
    if outer == inner {
        return true;
    }
    match outer.strip_prefix("*.") {
        Some(domain) => inner
            .strip_prefix("*.")
            .unwrap_or(inner)
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => false,
    }
}

/// Whether replacing `old` by `new` lets a value go somewhere it could not before
/// (an empty list means anywhere).
pub(crate) fn hosts_widen(old: &[String], new: &[String]) -> bool {
    if old.is_empty() {
        return false;
    }
    new.is_empty()
        || new
            .iter()
            .any(|n| !old.iter().any(|o| pattern_covers(o, n)))
}

/// The hosts both lists allow (an empty list means anywhere); `None` when they
/// share none, so a value guarded by both could go nowhere.
pub(crate) fn intersect_hosts(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.is_empty() {
        return Some(b.to_vec());
    }
    if b.is_empty() {
        return Some(a.to_vec());
    }
    let mut out: Vec<String> = Vec::new();
    for x in a {
        for y in b {
            let narrower = if pattern_covers(x, y) {
                Some(y)
            } else if pattern_covers(y, x) {
                Some(x)
            } else {
                None
            };
            if let Some(n) = narrower {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
    }
    out.sort();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn host_patterns_cover_only_what_they_match() {
        assert!(pattern_covers("*.example.org", "a.example.org"));
        assert!(pattern_covers("*.example.org", "*.a.example.org"));
        assert!(pattern_covers("*.example.org", "*.example.org"));
        assert!(!pattern_covers("*.example.org", "example.org"));
        assert!(!pattern_covers("*.example.org", "badexample.org"));
        assert!(!pattern_covers("a.example.org", "*.example.org"));
    }

    #[test]
    fn clearing_or_adding_a_host_widens_narrowing_does_not() {
        let old = v(&["api.stripe.com"]);
        assert!(hosts_widen(&old, &[]));
        assert!(hosts_widen(&old, &v(&["api.stripe.com", "evil.com"])));
        assert!(hosts_widen(&old, &v(&["*.stripe.com"])));
        assert!(!hosts_widen(&old, &v(&["api.stripe.com"])));
        assert!(!hosts_widen(&v(&["*.stripe.com"]), &v(&["api.stripe.com"])));
        assert!(!hosts_widen(&[], &v(&["x.com"])));
        assert!(!hosts_widen(&[], &[]));
    }

    #[test]
    fn intersection_keeps_the_narrower_pattern_or_nothing() {
        assert_eq!(
            intersect_hosts(&v(&["*.stripe.com"]), &v(&["api.stripe.com"])),
            Some(v(&["api.stripe.com"]))
        );
        assert_eq!(intersect_hosts(&v(&["a.com"]), &v(&["b.com"])), None);
        assert_eq!(intersect_hosts(&[], &v(&["b.com"])), Some(v(&["b.com"])));
        assert_eq!(intersect_hosts(&v(&["a.com"]), &[]), Some(v(&["a.com"])));
    }
}
