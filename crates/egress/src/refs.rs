//! Substituting `$secret:<token>` references in request text.
//!
//! Finding them is `lockbox_core::reference`'s (the one scanner: the prefix and
//! one or more base64url characters, matched greedily; a bare prefix is an error).
//! This module only splices already-resolved plaintext in place of each one, encoded
//! for where it lands ([`Encoding`]): it never resolves a reference, never decides
//! whether a value may be sent, and keeps every string that holds plaintext in a
//! [`Zeroizing`] buffer.

use lockbox_core::{find_references, Error};
use std::collections::HashMap;
use zeroize::Zeroizing;

/// How a value is written where it is spliced in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As is (header values, `query` map values before form encoding, text bodies,
    /// auth fields).
    Raw,
    /// As the inside of a JSON string literal (JSON bodies).
    JsonString,
    /// `application/x-www-form-urlencoded` (URL query positions, form bodies).
    Form,
    /// RFC 3986 path characters (URL path positions), see [`push_path_encoded`].
    Path,
}

/// Resolved plaintext by reference.
pub type Table<'a> = HashMap<&'a str, &'a str>;

/// `text` with every reference replaced by its plaintext. Every reference in `text`
/// must be in `table` (the executor resolves them all first).
pub fn substitute(
    text: &str,
    table: &Table<'_>,
    enc: Encoding,
) -> Result<Zeroizing<String>, Error> {
    let ranges = find_references(text)?;
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 64));
    let mut last = 0;
    for r in ranges {
        out.push_str(&text[last..r.start]);
        let value = table
            .get(&text[r.clone()])
            .ok_or_else(|| Error::internal("reference was not resolved before substitution"))?;
        push_encoded(&mut out, value, enc);
        last = r.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// Appends `value` to `out` written as `enc` says.
pub fn push_encoded(out: &mut String, value: &str, enc: Encoding) {
    match enc {
        Encoding::Raw => out.push_str(value),
        Encoding::JsonString => push_json_escaped(out, value),
        Encoding::Form => out.extend(url::form_urlencoded::byte_serialize(value.as_bytes())),
        Encoding::Path => push_path_encoded(out, value),
    }
}

/// Writes `s` for a URL path: everything but RFC 3986's unreserved characters
/// (`A-Za-z0-9-._~`), sub-delims (`!$&'()*+,;=`), `:`, `@` and `/` is
/// percent-encoded (so `%`, `?`, `#`, `\`, spaces, controls and every non-ASCII byte
/// are), and the value cannot leave the path.
pub fn push_path_encoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

/// Writes `s` escaped exactly as `serde_json` escapes string contents.
fn push_json_escaped(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_several_references_greedily() {
        let t = "a $secret:abc-_9 b$secret:XYZ/c $secret:q";
        let r = find_references(t).unwrap();
        let got: Vec<&str> = r.iter().map(|r| &t[r.clone()]).collect();
        assert_eq!(got, ["$secret:abc-_9", "$secret:XYZ", "$secret:q"]);
        assert!(find_references("no refs $ here").unwrap().is_empty());
        assert!(find_references("bad $secret: token").is_err());
        assert!(find_references("bad at end $secret:").is_err());
    }

    #[test]
    fn substitutes_raw_and_json_escaped() {
        let mut table = Table::new();
        table.insert("$secret:a", "v\"1\\\n\u{1}");
        table.insert("$secret:b", "two");
        let raw = substitute("x=$secret:a&y=$secret:b;$secret:b", &table, Encoding::Raw).unwrap();
        assert_eq!(&*raw, "x=v\"1\\\n\u{1}&y=two;two");
        let js = substitute("$secret:a", &table, Encoding::JsonString).unwrap();
        let expected = serde_json::to_string("v\"1\\\n\u{1}").unwrap();
        assert_eq!(format!("\"{}\"", &*js), expected);
        assert!(substitute("$secret:missing", &table, Encoding::Raw).is_err());
    }

    /// What the executor sends for a value, in every context, is masked by a
    /// redactor over that value (as the executor builds it for the response).
    #[test]
    fn what_is_sent_is_what_the_redactor_finds() {
        use lockbox_redact::{Options, Redactor};
        for value in [
            "Az+Sec/ret=&x~9",
            "p@ss word|x:y/é\"<>`{}?#'%41",
            "line\nbreak\ttab\u{1}\\",
            "plain-alnum-value-123",
        ] {
            let r = Redactor::new(&[("v", value.as_bytes())], Options::default());
            let mut table = Table::new();
            table.insert("$secret:a", value);
            for enc in [
                Encoding::Raw,
                Encoding::JsonString,
                Encoding::Form,
                Encoding::Path,
            ] {
                let sent = substitute("<$secret:a>", &table, enc).unwrap();
                assert_eq!(r.redact_str(&sent), "<[REDACTED:v]>", "{enc:?}: {}", &*sent);
            }
            // The `query` map, as the url crate appends it.
            let mut u = url::Url::parse("http://h.example/p").unwrap();
            u.query_pairs_mut().append_pair("k", value);
            assert_eq!(
                r.redact_str(u.as_str()),
                "http://h.example/p?k=[REDACTED:v]",
                "{}",
                u.as_str()
            );
        }
    }

    #[test]
    fn substitutes_form_and_path_encoded() {
        let mut table = Table::new();
        table.insert("$secret:a", "Az+Sec/ret=&x~9 é?#%");
        let form = substitute("k=$secret:a", &table, Encoding::Form).unwrap();
        assert_eq!(&*form, "k=Az%2BSec%2Fret%3D%26x%7E9+%C3%A9%3F%23%25");
        let path = substitute("/p/$secret:a", &table, Encoding::Path).unwrap();
        assert_eq!(&*path, "/p/Az+Sec/ret=&x~9%20%C3%A9%3F%23%25");
    }
}
