//! Validated names: secrets, workspaces, users, tokens. Each parses once at the edge.

use crate::error::{Error, Result};
use std::fmt;

/// Longest secret name, in UTF-8 bytes (DESIGN.md: "max 512 bytes").
pub const MAX_SECRET_NAME_BYTES: usize = 512;

/// A secret's name: non-empty, any Unicode (including `/`, spaces, emoji), at most
/// 512 bytes, no control characters (they would corrupt logs and terminals).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(raw: &str) -> Result<SecretName> {
        if raw.is_empty() {
            return Err(Error::invalid("secret name must not be empty"));
        }
        if raw.len() > MAX_SECRET_NAME_BYTES {
            return Err(Error::invalid(format!(
                "secret name is {} bytes; the limit is {MAX_SECRET_NAME_BYTES}",
                raw.len()
            )));
        }
        if raw.chars().any(char::is_control) {
            return Err(Error::invalid(
                "secret name must not contain control characters",
            ));
        }
        if raw == "." || raw == ".." {
            // URL parsers resolve these as path segments, so no client could address them.
            return Err(Error::invalid("secret name must not be '.' or '..'"));
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
    ($ty:ident, $what:literal) => {
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
                    )));
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

slug_name!(WorkspaceName, "workspace");
slug_name!(UserName, "user");

/// A token's label: free text for people, 1–128 bytes, no control characters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(raw: &str) -> Result<TokenName> {
        if raw.trim().is_empty() || raw.len() > 128 || raw.chars().any(char::is_control) {
            return Err(Error::invalid(
                "token name must be 1-128 bytes of printable text",
            ));
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

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in "\\PC{0,600}") {
            if let Ok(n) = SecretName::parse(&s) {
                prop_assert_eq!(n.as_str(), s.as_str());
                prop_assert!(n.as_str().len() <= MAX_SECRET_NAME_BYTES);
            }
        }
    }
}
