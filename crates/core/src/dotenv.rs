//! The `.env` file format, both ways: `parse` reads what people paste into the
//! console or pass to `lockbox secret import`, `render_line` writes what
//! `lockbox secret export --format env` and the console's export produce.
//!
//! The input is untrusted (a pasted file), so parsing never panics, never
//! interpolates (`${OTHER}` stays literal: a secret's value is data, and expanding
//! it from the importer's environment would copy that environment into the store),
//! and its errors name a line and a key, never a value.
//!
//! Accepted, as dotenv, docker compose and python-dotenv write it:
//! - `KEY=value`, with an optional `export ` prefix and spaces around `=`;
//! - blank lines and `#` comments; an unquoted value ends at ` #`;
//! - `'single quoted'` values are literal and may span lines;
//! - `"double quoted"` values may span lines and know `\n`, `\r`, `\t`, `\"`,
//!   `\\` and `\$` (any other backslash is kept as written);
//! - keys are `[A-Za-z_][A-Za-z0-9_./-]*`, so a Lockbox name like `db/password`
//!   round-trips (shells cannot `source` such a line; dotenv loaders can).
//!
//! A key given twice is refused (which one wins differs between tools).

use crate::error::{Error, Result};
use std::fmt;
use zeroize::Zeroizing;

/// The longest key accepted (Lockbox names are at most 512 bytes).
pub const MAX_KEY_BYTES: usize = 512;

/// One `KEY=value` line (or lines, for a quoted value that spans several).
pub struct DotenvEntry {
    /// 1-based line of the key, for previews and errors.
    pub line: usize,
    pub key: String,
    /// The value, unquoted and unescaped. Secret material: zeroized on drop and
    /// kept out of `Debug`.
    pub value: Zeroizing<String>,
}

impl fmt::Debug for DotenvEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DotenvEntry")
            .field("line", &self.line)
            .field("key", &self.key)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

fn is_key_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

fn error(line: usize, why: impl fmt::Display) -> Error {
    Error::invalid(format!(".env line {line}: {why}"))
}

/// Parses a whole `.env` text. Errors name the line (and the key once known).
pub fn parse(input: &str) -> Result<Vec<DotenvEntry>> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut entries: Vec<DotenvEntry> = Vec::new();
    let mut rest = input;
    let mut line = 1usize;
    while !rest.is_empty() {
        // One logical line: skip leading blanks on it.
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = trimmed.strip_prefix(['\n']) {
            rest = after;
            line += 1;
            continue;
        }
        if let Some(after) = trimmed.strip_prefix("\r\n") {
            rest = after;
            line += 1;
            continue;
        }
        if trimmed.is_empty() {
            break;
        }
        if trimmed.starts_with('#') {
            match trimmed.find('\n') {
                Some(i) => {
                    rest = &trimmed[i + 1..];
                    line += 1;
                    continue;
                }
                None => break,
            }
        }
        let mut s = trimmed;
        if let Some(after) = s.strip_prefix("export") {
            if after.starts_with([' ', '\t']) {
                s = after.trim_start_matches([' ', '\t']);
            }
        }
        let key_len = s
            .char_indices()
            .find(|&(i, c)| {
                if i == 0 {
                    !is_key_start(c)
                } else {
                    !is_key_char(c)
                }
            })
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if key_len == 0 {
            return Err(error(line, "expected KEY=value"));
        }
        if key_len > MAX_KEY_BYTES {
            return Err(error(
                line,
                format!("a key is longer than {MAX_KEY_BYTES} bytes"),
            ));
        }
        let key = &s[..key_len];
        s = s[key_len..].trim_start_matches([' ', '\t']);
        let Some(after_eq) = s.strip_prefix('=') else {
            return Err(error(line, format!("expected '=' after {key}")));
        };
        s = after_eq.trim_start_matches([' ', '\t']);
        let key_line = line;
        let (value, after) = match s.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let (value, after, lines) = quoted(&s[1..], q)
                    .ok_or_else(|| error(key_line, format!("{key}: the quote is never closed")))?;
                line += lines;
                // Only blanks and a comment may follow the closing quote.
                let tail_end = after.find('\n').unwrap_or(after.len());
                let tail = after[..tail_end]
                    .trim_end_matches('\r')
                    .trim_matches([' ', '\t']);
                if !(tail.is_empty() || tail.starts_with('#')) {
                    return Err(error(line, format!("{key}: text after the closing quote")));
                }
                (value, &after[tail_end..])
            }
            _ => {
                let end = s.find('\n').unwrap_or(s.len());
                let raw = s[..end].trim_end_matches('\r');
                // An unquoted value ends where a comment starts (a `#` after a blank).
                let cut = raw
                    .char_indices()
                    .find(|&(i, c)| c == '#' && (i == 0 || raw[..i].ends_with([' ', '\t'])))
                    .map(|(i, _)| i)
                    .unwrap_or(raw.len());
                let v = raw[..cut].trim_end_matches([' ', '\t']);
                (Zeroizing::new(v.to_owned()), &s[end..])
            }
        };
        if entries.iter().any(|e| e.key == key) {
            return Err(error(key_line, format!("{key} is given twice")));
        }
        entries.push(DotenvEntry {
            line: key_line,
            key: key.to_owned(),
            value,
        });
        rest = after;
    }
    Ok(entries)
}

/// Reads a quoted value after its opening quote: the value, the text after the
/// closing quote, and how many newlines the value spanned. `None`: never closed.
fn quoted(s: &str, quote: char) -> Option<(Zeroizing<String>, &str, usize)> {
    let mut out = Zeroizing::new(String::new());
    let mut lines = 0;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Some((out, &s[i + 1..], lines)),
            '\\' if quote == '"' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, e @ ('"' | '\\' | '$'))) => out.push(e),
                Some((_, other)) => {
                    if other == '\n' {
                        lines += 1;
                    }
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            '\n' => {
                lines += 1;
                out.push('\n');
            }
            c => out.push(c),
        }
    }
    None
}

/// Whether a key can be written as a `.env` key that `parse` reads back.
pub fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= MAX_KEY_BYTES && chars.next().is_some_and(is_key_start) && chars.all(is_key_char)
}

/// One `KEY=value` line (with its `\n`) that `parse` reads back as exactly this
/// key and value. Bare when the value is plain, single-quoted when it has no `'`
/// and no control characters (literal in every dotenv dialect), otherwise
/// double-quoted with escapes. The caller checks the key with `is_valid_key`.
/// The result holds the value: it is secret material, hence `Zeroizing`.
pub fn render_line(key: &str, value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(key.len() + value.len() + 4));
    out.push_str(key);
    out.push('=');
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+,=~^".contains(c));
    if plain {
        out.push_str(value);
    } else if !value.contains('\'') && !value.chars().any(char::is_control) {
        out.push('\'');
        out.push_str(value);
        out.push('\'');
    } else {
        out.push('"');
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '$' => out.push_str("\\$"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse(s)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value.to_string()))
            .collect()
    }

    #[test]
    fn reads_what_people_write() {
        let text = "\u{feff}# a comment\n\
                    export API_KEY=sk_live_123\n\
                    \n\
                    SPACED = with spaces   # trailing comment\n\
                    HASH=abc#not-a-comment\n\
                    SINGLE='lit ${HOME} \\n'\n\
                    DOUBLE=\"a\\nb\\t\\\"c\\\" \\$x \\q\"  # after\n\
                    PEM=\"-----BEGIN KEY-----\nAAAA\n-----END KEY-----\"\n\
                    EMPTY=\n\
                    db/password=p@ss\r\n\
                    LAST=1";
        assert_eq!(
            pairs(text),
            vec![
                ("API_KEY".into(), "sk_live_123".into()),
                ("SPACED".into(), "with spaces".into()),
                ("HASH".into(), "abc#not-a-comment".into()),
                ("SINGLE".into(), "lit ${HOME} \\n".into()),
                ("DOUBLE".into(), "a\nb\t\"c\" $x \\q".into()),
                (
                    "PEM".into(),
                    "-----BEGIN KEY-----\nAAAA\n-----END KEY-----".into()
                ),
                ("EMPTY".into(), "".into()),
                ("db/password".into(), "p@ss".into()),
                ("LAST".into(), "1".into()),
            ]
        );
        let lines: Vec<usize> = parse(text).unwrap().iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 4, 5, 6, 7, 8, 11, 12, 13]);
    }

    #[test]
    fn errors_name_the_line_and_key_never_the_value() {
        for (text, want) in [
            ("A=1\n=2", "line 2: expected KEY=value"),
            ("A=1\nB \"x\"", "line 2: expected '=' after B"),
            (
                "A=1\nTOKEN=\"hunter2-secret",
                "line 2: TOKEN: the quote is never closed",
            ),
            (
                "TOKEN='hunter2-secret' trailing",
                "line 1: TOKEN: text after the closing quote",
            ),
            ("A=hunter2-secret\nA=other", "line 2: A is given twice"),
            ("9A=1", "line 1: expected KEY=value"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.to_string().contains(want), "{text:?}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn debug_hides_the_value() {
        let e = parse("K=hunter2").unwrap();
        assert!(!format!("{e:?}").contains("hunter2"));
    }

    #[test]
    fn render_chooses_the_plainest_quoting() {
        assert_eq!(&*render_line("A", "sk_live-1.2"), "A=sk_live-1.2\n");
        assert_eq!(&*render_line("A", "two words $x"), "A='two words $x'\n");
        assert_eq!(&*render_line("A", ""), "A=''\n");
        assert_eq!(
            &*render_line("A", "it's\n\"x\""),
            "A=\"it's\\n\\\"x\\\"\"\n"
        );
    }

    proptest! {
        #[test]
        fn render_then_parse_round_trips(
            entries in proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_./-]{0,20}", any::<String>(), 0..6)
        ) {
            let mut text = String::new();
            for (k, v) in &entries {
                text.push_str(&render_line(k, v));
            }
            let back = pairs(&text);
            let want: Vec<(String, String)> = entries.into_iter().collect();
            prop_assert_eq!(back, want);
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = parse(&s);
        }
    }
}
