//! Where references sit in a request URL, and substituting them there.
//!
//! The URL text is parsed with every reference replaced by a placeholder (lowercase
//! letters and digits that occur nowhere else in the text), so the URL parser, not a
//! value, decides the URL's structure. Each placeholder must then have landed in the
//! path or the query, where it is replaced by its value encoded for that component
//! (path encoding, form encoding), so a value can never become a host, a port, another
//! query parameter or a fragment. A reference in the scheme, credentials, host or port
//! is refused before anything is resolved (the value would reach a DNS query, an error
//! message or an audit row), and one in the fragment too (a fragment is never sent).
//!
//! One exception: a reference that is the whole URL text, or starts it, holds a whole
//! URL (a webhook URL stored as a secret). Its value must be an absolute http(s) URL
//! without credentials; the rest of the text may add a path or a query to it, and
//! nothing else.
//!
//! This module never puts a value in an error message: errors name the secret.

use crate::refs::{self, Encoding, Table};
use lockbox_core::{find_references, Error};
use std::ops::Range;
use url::{Position, Url};
use zeroize::Zeroizing;

const IN_AUTHORITY: &str = "a reference may not be in the URL's scheme, credentials, host or port \
     (only a reference that starts the URL may hold a whole URL); put it in the path, the query, \
     a header, the body or auth";
const IN_FRAGMENT: &str = "a reference may not be in the URL's fragment (a fragment is never sent)";
const LOST: &str = "a reference in the URL's path would be dropped when the path is normalized \
     (a \".\" or \"..\" segment follows it)";
const CONTINUATION: &str = "a reference that starts the URL holds a whole URL; the text after it \
     may only add a path (/…) or a query (?…)";

/// Stands in for the value of a URL-valued secret while only the URL's layout is
/// checked (before anything is resolved).
const PLACEHOLDER_BASE: &str = "http://lockbox-url-secret.invalid/";

/// The URL as the run wrote it, checked before anything is resolved.
pub(crate) struct Template {
    /// The reference that starts the URL text: the URL comes from that secret.
    pub base: Option<String>,
    /// The host as the run wrote it; empty when the URL comes from a secret.
    pub host: String,
    /// The port as the run wrote it (or its scheme's default); None when the URL
    /// comes from a secret.
    pub port: Option<u16>,
}

/// The URL with its references' values in place.
pub(crate) struct Built {
    pub url: Url,
    /// The name of the secret that held the URL, when one did.
    pub url_secret: Option<String>,
}

/// The URL text parsed with placeholders for its references (all but a starting
/// one): placeholder `i` is `prefix` + `i` + `x` and stands for `order[i]`.
struct Laid<'t> {
    url: Url,
    prefix: String,
    order: Vec<&'t str>,
}

/// A placeholder prefix that occurs in none of `texts`, in any letter case (hosts are
/// lower-cased by the parser).
fn choose_prefix(texts: &[&str]) -> String {
    let lower: Vec<String> = texts.iter().map(|t| t.to_ascii_lowercase()).collect();
    let mut salt = 0u64;
    loop {
        let prefix = format!("zq{salt}x");
        if !lower.iter().any(|t| t.contains(&prefix)) {
            return prefix;
        }
        salt += 1;
    }
}

/// Every well-formed placeholder in `s`: (byte range, index). A malformed one (which
/// only a parser's own rewriting could make) has index `usize::MAX`.
fn occurrences(s: &str, prefix: &str) -> Vec<(Range<usize>, usize)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    for (start, _) in s.match_indices(prefix) {
        let mut end = start + prefix.len();
        let digits = end;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let idx = if end > digits && end < bytes.len() && bytes[end] == b'x' {
            end += 1;
            s[digits..end - 1].parse().unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        out.push((start..end, idx));
    }
    out
}

fn span(url: &Url, from: Position, to: Position) -> Range<usize> {
    url[..from].len()..url[..to].len()
}

/// `base` with the text after a starting reference (`rest`, placeholders in place)
/// added: a path is appended to the base's path, a query to its query.
fn join_base(base: &Url, rest: &str, base_label: &str) -> Result<Url, Error> {
    if !(rest.is_empty() || rest.starts_with(['/', '?', '#'])) {
        return Err(Error::invalid(CONTINUATION));
    }
    let r = Url::parse(&format!("http://lockbox.invalid{rest}")).map_err(|_| {
        Error::invalid(
            "the URL text after the reference that starts it is not a valid path or query",
        )
    })?;
    let mut u = base.clone();
    u.set_fragment(None);
    if rest.starts_with('/') {
        if u.query().is_some() {
            return Err(Error::invalid(format!(
                "{base_label} has a query, so the URL text after it may only add to the query (?…)"
            )));
        }
        let path = format!("{}{}", u.path().trim_end_matches('/'), r.path());
        u.set_path(&path);
    }
    if let Some(q) = r.query() {
        let q = match u.query() {
            Some(b) if !b.is_empty() => format!("{b}&{q}"),
            _ => q.to_string(),
        };
        u.set_query(Some(&q));
    }
    u.set_fragment(r.fragment());
    Ok(u)
}

/// Parses `template` with placeholders. `base` is the URL a starting reference stands
/// for (its value, or [`PLACEHOLDER_BASE`] before resolution) and how to name it;
/// `avoid` is more text the placeholders must not occur in (that value).
fn lay_out<'t>(
    template: &'t str,
    base: Option<(&Url, &str)>,
    avoid: &str,
) -> Result<Laid<'t>, Error> {
    let ranges = find_references(template)?;
    let starts = ranges.first().is_some_and(|r| r.start == 0);
    let prefix = choose_prefix(&[template, avoid]);
    let (mut last, inner) = if starts {
        (ranges[0].end, &ranges[1..])
    } else {
        (0, &ranges[..])
    };
    let mut text = String::with_capacity(template.len());
    let mut order = Vec::with_capacity(inner.len());
    for r in inner {
        text.push_str(&template[last..r.start]);
        text.push_str(&format!("{prefix}{}x", order.len()));
        order.push(&template[r.clone()]);
        last = r.end;
    }
    text.push_str(&template[last..]);
    let url = match (starts, base) {
        (true, Some((base, label))) => join_base(base, &text, label)?,
        (true, None) => return Err(Error::internal("a URL-valued reference without its URL")),
        (false, _) => Url::parse(&text).map_err(|e| {
            if order.is_empty() {
                Error::invalid(format!("the URL is not valid: {e}"))
            } else {
                // A reference in the port, or a host a placeholder cannot be part of.
                Error::invalid(format!("the URL is not valid ({e}); {IN_AUTHORITY}"))
            }
        })?,
    };
    let laid = Laid { url, prefix, order };
    check_positions(&laid)?;
    Ok(laid)
}

/// Every placeholder must sit, exactly once, in the path or the query.
fn check_positions(laid: &Laid<'_>) -> Result<(), Error> {
    let url = &laid.url;
    let path = span(url, Position::BeforePath, Position::AfterPath);
    let query = span(url, Position::BeforeQuery, Position::AfterQuery);
    let fragment = span(url, Position::BeforeFragment, Position::AfterFragment);
    let mut seen = vec![0usize; laid.order.len()];
    for (r, idx) in occurrences(url.as_str(), &laid.prefix) {
        if fragment.contains(&r.start) && !fragment.is_empty() {
            return Err(Error::invalid(IN_FRAGMENT));
        }
        let inside = |s: &Range<usize>| r.start >= s.start && r.end <= s.end;
        if !(inside(&path) || inside(&query)) || idx >= seen.len() {
            return Err(Error::invalid(IN_AUTHORITY));
        }
        seen[idx] += 1;
    }
    if seen.iter().any(|n| *n != 1) {
        return Err(Error::invalid(LOST));
    }
    Ok(())
}

/// Scheme, host and credentials of a URL the run wrote.
fn check_written(url: &Url) -> Result<(), Error> {
    match url.scheme() {
        "http" | "https" => {}
        _ => return Err(Error::invalid("only http and https URLs are allowed")),
    }
    if url.host().is_none() {
        return Err(Error::invalid("the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "credentials in the URL are not allowed; use auth.basic",
        ));
    }
    Ok(())
}

/// Checks where the references in the URL text sit, before anything is resolved.
pub(crate) fn template(text: &str) -> Result<Template, Error> {
    let ranges = find_references(text)?;
    if let Some(first) = ranges.first().filter(|r| r.start == 0) {
        let base = Url::parse(PLACEHOLDER_BASE).expect("a valid placeholder URL");
        lay_out(text, Some((&base, "the URL held by that secret")), "")?;
        return Ok(Template {
            base: Some(text[first.clone()].to_string()),
            host: String::new(),
            port: None,
        });
    }
    let laid = lay_out(text, None, "")?;
    check_written(&laid.url)?;
    Ok(Template {
        base: None,
        host: laid.url.host_str().unwrap_or("").to_string(),
        port: laid.url.port_or_known_default(),
    })
}

/// The URL with every reference's value in place, encoded for its component.
/// `table` holds every reference's value, `names` its secret's name.
pub(crate) fn build(text: &str, table: &Table<'_>, names: &Table<'_>) -> Result<Built, Error> {
    // The same checks as `template`, without parsing the text one more time.
    let ranges = find_references(text)?;
    let starting = ranges
        .first()
        .filter(|r| r.start == 0)
        .map(|r| &text[r.clone()]);
    let missing = || Error::internal("reference was not resolved before substitution");
    let (laid, url_secret) = match starting {
        Some(reference) => {
            let value = *table.get(reference).ok_or_else(missing)?;
            let name = *names.get(reference).ok_or_else(missing)?;
            let label = format!("the URL held by secret \"{name}\"");
            let base = Url::parse(value)
                .map_err(|_| Error::invalid(format!("{label} is not an absolute http(s) URL")))?;
            if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
                return Err(Error::invalid(format!(
                    "{label} is not an absolute http(s) URL"
                )));
            }
            if !base.username().is_empty() || base.password().is_some() {
                return Err(Error::invalid(format!(
                    "{label} carries credentials; store them in another secret and use auth.basic"
                )));
            }
            (
                lay_out(text, Some((&base, &label)), value)?,
                Some(name.to_string()),
            )
        }
        None => {
            let laid = lay_out(text, None, "")?;
            check_written(&laid.url)?;
            (laid, None)
        }
    };
    let mut url = laid.url;
    url.set_fragment(None);
    if laid.order.is_empty() {
        // No reference besides a starting one: the URL as laid out is the URL.
        return Ok(Built { url, url_secret });
    }
    let s = url.as_str();
    let query = span(&url, Position::BeforeQuery, Position::AfterQuery);
    let mut out = Zeroizing::new(String::with_capacity(s.len() + 64));
    let mut last = 0;
    for (r, idx) in occurrences(s, &laid.prefix) {
        let reference = laid.order.get(idx).ok_or_else(missing)?;
        let value = table.get(reference).ok_or_else(missing)?;
        out.push_str(&s[last..r.start]);
        let enc = if r.start >= query.start && r.end <= query.end {
            Encoding::Form
        } else {
            Encoding::Path
        };
        refs::push_encoded(&mut out, value, enc);
        last = r.end;
    }
    out.push_str(&s[last..]);
    let built = Url::parse(&out)
        .map_err(|_| Error::invalid("the URL is not valid once its references are substituted"))?;
    // The values are encoded for their component, so the URL's origin cannot change.
    if built.scheme() != url.scheme()
        || built.host_str() != url.host_str()
        || built.port() != url.port()
        || !built.username().is_empty()
        || built.password().is_some()
    {
        return Err(Error::internal(
            "substituting the URL's references changed its origin",
        ));
    }
    Ok(Built {
        url: built,
        url_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table<'a>(pairs: &[(&'a str, &'a str)]) -> Table<'a> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn references_may_sit_in_the_path_and_query_only() {
        for ok in [
            "http://h.example/a/$secret:a/b?x=$secret:b&$secret:c=1",
            "https://h.example/$secret:a",
            "http://h.example/?q=$secret:a#plain-fragment",
        ] {
            let t = template(ok).unwrap();
            assert_eq!(t.host, "h.example");
            assert!(t.base.is_none());
        }
        for bad in [
            "http://$secret:a.example/",
            "http://x$secret:a/",
            "http://h.example:$secret:a/",
            "http://h.example:80$secret:a/",
            "http://$secret:a@h.example/",
            "http://u:$secret:a@h.example/",
            "http$secret:a://h.example/",
            "ht$secret:a://h.example/",
            "http://[$secret:a]/",
            "http://ÉX$secret:a.example/",
        ] {
            let e = template(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} passed"));
            assert!(
                e.message.contains("scheme, credentials, host or port"),
                "{bad}: {}",
                e.message
            );
        }
        let e = template("http://h.example/#$secret:a").err().unwrap();
        assert!(e.message.contains("fragment"), "{}", e.message);
        let e = template("http://h.example/$secret:a/..").err().unwrap();
        assert!(e.message.contains("normalized"), "{}", e.message);
    }

    #[test]
    fn a_starting_reference_holds_a_whole_url() {
        for ok in [
            "$secret:a",
            "$secret:a/more/$secret:b",
            "$secret:a?x=$secret:b",
            "$secret:a/p?q=1",
        ] {
            let t = template(ok).unwrap();
            assert_eq!(t.base.as_deref(), Some("$secret:a"));
            assert_eq!(t.host, "");
        }
        for bad in [
            "$secret:a.evil.example/",
            "$secret:a:8080/",
            "$secret:a@evil.example/",
            "$secret:a$secret:b",
        ] {
            let e = template(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} passed"));
            assert!(
                e.message.contains("only add a path"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn values_are_encoded_for_their_component() {
        let v = "a/b?c#d%e&f=g+h i é";
        let t = table(&[("$secret:a", v)]);
        let n = table(&[("$secret:a", "s")]);
        let b = build("http://h.example/p/$secret:a?q=$secret:a", &t, &n).unwrap();
        assert_eq!(
            b.url.as_str(),
            "http://h.example/p/a/b%3Fc%23d%25e&f=g+h%20i%20%C3%A9?q=a%2Fb%3Fc%23d%25e%26f%3Dg%2Bh+i+%C3%A9"
        );
        assert!(b.url_secret.is_none());
    }

    #[test]
    fn a_url_valued_secret_is_the_base() {
        let t = table(&[
            (
                "$secret:hook",
                "https://Hooks.Example.com/services/T0/B0/xyz",
            ),
            ("$secret:v", "1 2"),
            ("$secret:q", "https://h.example/p?a=1#frag"),
        ]);
        let n = table(&[
            ("$secret:hook", "hook"),
            ("$secret:v", "v"),
            ("$secret:q", "q"),
        ]);
        let b = build("$secret:hook", &t, &n).unwrap();
        assert_eq!(
            b.url.as_str(),
            "https://hooks.example.com/services/T0/B0/xyz"
        );
        assert_eq!(b.url_secret.as_deref(), Some("hook"));
        let b = build("$secret:hook/more/$secret:v?x=$secret:v", &t, &n).unwrap();
        assert_eq!(
            b.url.as_str(),
            "https://hooks.example.com/services/T0/B0/xyz/more/1%202?x=1+2"
        );
        let b = build("$secret:q?b=2", &t, &n).unwrap();
        assert_eq!(b.url.as_str(), "https://h.example/p?a=1&b=2");
        let e = build("$secret:q/more", &t, &n).err().unwrap();
        assert!(
            e.message.contains("secret \"q\" has a query"),
            "{}",
            e.message
        );
        for (value, why) in [
            ("not a url", "absolute http(s) URL"),
            ("ftp://h.example/x", "absolute http(s) URL"),
            ("https://user:pw@h.example/x", "credentials"),
        ] {
            let t = table(&[("$secret:hook", value)]);
            let e = build("$secret:hook", &t, &n).err().unwrap();
            assert!(e.message.contains(why), "{value}: {}", e.message);
            assert!(e.message.contains("\"hook\""), "{}", e.message);
            assert!(!e.message.contains("h.example") && !e.message.contains("pw"));
        }
    }

    #[test]
    fn placeholders_avoid_the_text_and_the_value() {
        let p = choose_prefix(&["http://zq0x.example/ZQ1X", "zq2x"]);
        assert_eq!(p, "zq3x");
        let t = table(&[("$secret:a", "zq0x0x")]);
        let n = table(&[("$secret:a", "a")]);
        let b = build("http://h.example/zq0x/$secret:a", &t, &n).unwrap();
        assert_eq!(b.url.as_str(), "http://h.example/zq0x/zq0x0x");
    }
}
