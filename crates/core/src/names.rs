//! Validated names: secrets, workspaces, users, tokens. Each parses once at the edge.

use crate::error::{Error, Result};
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest secret name, in UTF-8 bytes (docs/api.md: at most 512 bytes).
pub const MAX_SECRET_NAME_BYTES: usize = 512;

/// A secret's name: non-empty, any visible Unicode (including `/`, inner spaces,
/// emoji), at most 512 bytes, in Unicode normalization form C. Refused: control
/// characters (they corrupt logs and terminals), format characters (bidi
/// overrides like U+202E, zero-width spaces and joiners, soft hyphens: they make
/// different names look the same), line and paragraph separators, invisible
/// fillers, and leading or trailing whitespace. Two spellings that differ only in
/// normalization (`é` as one code point or as `e` + U+0301) are the same name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName(String);

/// Characters that render as nothing although their category is a letter or symbol.
const INVISIBLE: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

/// Why `c` may not be in a name, if it may not.
fn refused_char(c: char) -> Option<&'static str> {
    match c.general_category() {
        GeneralCategory::Control => Some("control characters"),
        GeneralCategory::Format => Some(
            "invisible format characters (bidi controls such as U+202E, zero-width characters)",
        ),
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
            Some("line or paragraph separators")
        }
        GeneralCategory::Surrogate => Some("surrogates"),
        _ if INVISIBLE.contains(&c) => Some("invisible filler characters"),
        _ => None,
    }
}

/// `text` in Unicode normalization form C, as names are stored (for prefixes and
/// other partial names that are compared with stored names).
pub fn nfc(text: &str) -> String {
    text.nfc().collect()
}

impl SecretName {
    pub fn parse(raw: &str) -> Result<SecretName> {
        if raw.is_empty() {
            return Err(Error::invalid("secret name must not be empty").with_field("name"));
        }
        if raw.len() > 4 * MAX_SECRET_NAME_BYTES {
            // Not worth normalizing: it cannot fit once normalized either.
            return Err(Error::invalid(format!(
                "secret name is {} bytes; the limit is {MAX_SECRET_NAME_BYTES}",
                raw.len()
            ))
            .with_field("name"));
        }
        if let Some(why) = raw.chars().find_map(refused_char) {
            return Err(
                Error::invalid(format!("secret name must not contain {why}")).with_field("name"),
            );
        }
        if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
            return Err(
                Error::invalid("secret name must not start or end with whitespace")
                    .with_field("name"),
            );
        }
        let normalized: String = raw.nfc().collect();
        let raw = normalized.as_str();
        if raw.len() > MAX_SECRET_NAME_BYTES {
            return Err(Error::invalid(format!(
                "secret name is {} bytes; the limit is {MAX_SECRET_NAME_BYTES}",
                raw.len()
            ))
            .with_field("name"));
        }
        if raw == "." || raw == ".." {
            // URL parsers resolve these as path segments, so no client could address them.
            return Err(Error::invalid("secret name must not be '.' or '..'").with_field("name"));
        }
        Ok(SecretName(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretName({:?})", self.0)
    }
}

macro_rules! slug_name {
    ($ty:ident, $what:literal, $field:literal) => {
        #[doc = concat!("A ", $what, " name: 1–64 characters of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or digit.")]
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(raw: &str) -> Result<$ty> {
                let ok_first = raw
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
                let ok_rest = raw.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                });
                if raw.is_empty() || raw.len() > 64 || !ok_first || !ok_rest {
                    return Err(Error::invalid(concat!(
                        $what,
                        " name must be 1-64 characters of a-z, 0-9, '-', '_', '.', starting with a letter or digit"
                    ))
                    .with_field($field));
                }
                Ok($ty(raw.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_name!(WorkspaceName, "workspace", "workspace");
slug_name!(UserName, "user", "user");

/// A token's label: free text for people, 1–128 bytes, no control characters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(raw: &str) -> Result<TokenName> {
        if raw.trim().is_empty() || raw.len() > 128 || raw.chars().any(char::is_control) {
            return Err(
                Error::invalid("token name must be 1-128 bytes of printable text")
                    .with_field("name"),
            );
        }
        Ok(TokenName(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn secret_names_accept_any_printable_unicode() {
        for ok in [
            "a",
            "a/b/c",
            "with space",
            "🔑 key",
            "Ünïcødé",
            "...",
            "..x",
            "x".repeat(512).as_str(),
        ] {
            assert!(SecretName::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn secret_names_reject_empty_long_and_control() {
        assert!(SecretName::parse("").is_err());
        assert!(SecretName::parse(&"x".repeat(513)).is_err());
        assert!(SecretName::parse("a\nb").is_err());
        assert!(SecretName::parse("a\0b").is_err());
        assert!(SecretName::parse(".").is_err());
        assert!(SecretName::parse("..").is_err());
        // 171 three-byte characters = 513 bytes: the limit counts bytes, not chars.
        assert!(SecretName::parse(&"€".repeat(171)).is_err());
    }

    #[test]
    fn workspace_names_are_slugs() {
        assert!(WorkspaceName::parse("default").is_ok());
        assert!(WorkspaceName::parse("team-1.prod").is_ok());
        assert!(WorkspaceName::parse("").is_err());
        assert!(WorkspaceName::parse("Upper").is_err());
        assert!(WorkspaceName::parse("-x").is_err());
        assert!(WorkspaceName::parse("a/b").is_err());
    }

    #[test]
    fn names_that_only_look_alike_are_refused_or_merged() {
        for bad in [
            "stripe\u{202E}yek",
            "api\u{200B}key",
            "api\u{200D}key",
            "\u{FEFF}key",
            "soft\u{00AD}hyphen",
            " key",
            "key ",
            "key\u{00A0}",
            "a\u{2028}b",
            "\u{3164}",
            "x\u{2066}y",
        ] {
            let e = SecretName::parse(bad).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::Invalid, "{bad:?}");
            assert!(
                !e.message.contains(bad),
                "the message names the class, not the input"
            );
        }
        // NFC: one code point or a combining sequence is the same name.
        let composed = SecretName::parse("caf\u{e9}").unwrap();
        let decomposed = SecretName::parse("cafe\u{301}").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(decomposed.as_str(), "caf\u{e9}");
        assert!(SecretName::parse("inner space ok").is_ok());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(s in "\\PC{0,600}") {
            if let Ok(n) = SecretName::parse(&s) {
                let again = SecretName::parse(n.as_str()).expect("a parsed name parses again");
                prop_assert_eq!(again.as_str(), n.as_str());
                prop_assert!(n.as_str().len() <= MAX_SECRET_NAME_BYTES);
                prop_assert!(n.as_str().chars().all(|c| refused_char(c).is_none()));
                prop_assert!(!n.as_str().starts_with(char::is_whitespace));
                prop_assert!(!n.as_str().ends_with(char::is_whitespace));
            }
        }

        #[test]
        fn every_format_character_is_refused(prefix in "[a-z]{1,8}", c in proptest::char::any()) {
            let name = format!("{prefix}{c}{prefix}");
            if matches!(c.general_category(), GeneralCategory::Format | GeneralCategory::Control) {
                prop_assert!(SecretName::parse(&name).is_err());
            }
        }
    }
}
