//! The code of an automation error, typed: what Lockbox answered a module or host
//! call ([`Code::Lockbox`], carried as the service's own [`ErrorCode`], never as text
//! to be parsed back), or one of the runtimes' own codes (a fetch answered 400 or
//! more, a script's syntax, type and taint errors, its limits). On the wire and in
//! a flow's `{"error": "<code>"}` each is its stable snake_case name.

use lockbox_core::ErrorCode;
use serde::{Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// A Lockbox call failed (`not_found`, `user_required`, `egress_denied`, …); a
    /// flow or script that Lockbox refuses to parse is `invalid` too.
    Lockbox(ErrorCode),
    /// A flow's fetch answered with a status of 400 or more.
    HttpError,
    /// Script: the source does not parse.
    Syntax,
    /// Script: a builtin called with the wrong number of arguments.
    Arity,
    UnknownFunction,
    /// Script: expressions nested deeper than the parser allows.
    TooDeep,
    TypeError,
    UndefinedVariable,
    /// Script: `Log` with a level it does not know.
    InvalidLevel,
    /// Script: something would look at a secret's value.
    TaintedValue,
    /// Script: a secret's leaf sits where no reference can stand for it.
    SecretPlacement,
    LimitSteps,
    LimitTime,
    LimitMemory,
    LimitString,
    LimitSecretSpans,
    LimitSize,
    LimitLogs,
    LimitCalls,
}

impl Code {
    /// The stable name (`not_found`, `http_error`, `limit_time`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Lockbox(c) => c.as_str(),
            Code::HttpError => "http_error",
            Code::Syntax => "syntax",
            Code::Arity => "arity",
            Code::UnknownFunction => "unknown_function",
            Code::TooDeep => "too_deep",
            Code::TypeError => "type_error",
            Code::UndefinedVariable => "undefined_variable",
            Code::InvalidLevel => "invalid_level",
            Code::TaintedValue => "tainted_value",
            Code::SecretPlacement => "secret_placement",
            Code::LimitSteps => "limit_steps",
            Code::LimitTime => "limit_time",
            Code::LimitMemory => "limit_memory",
            Code::LimitString => "limit_string",
            Code::LimitSecretSpans => "limit_secret_spans",
            Code::LimitSize => "limit_size",
            Code::LimitLogs => "limit_logs",
            Code::LimitCalls => "limit_calls",
        }
    }

    /// The Lockbox code, when the error is one a Lockbox call answered.
    pub fn lockbox(self) -> Option<ErrorCode> {
        match self {
            Code::Lockbox(c) => Some(c),
            _ => None,
        }
    }
}

impl From<ErrorCode> for Code {
    fn from(c: ErrorCode) -> Code {
        Code::Lockbox(c)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Compares the stable name, so a test or a caller can write `e.code == "not_found"`.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lockbox_codes_keep_theirs() {
        let own = [
            Code::HttpError,
            Code::Syntax,
            Code::Arity,
            Code::UnknownFunction,
            Code::TooDeep,
            Code::TypeError,
            Code::UndefinedVariable,
            Code::InvalidLevel,
            Code::TaintedValue,
            Code::SecretPlacement,
            Code::LimitSteps,
            Code::LimitTime,
            Code::LimitMemory,
            Code::LimitString,
            Code::LimitSecretSpans,
            Code::LimitSize,
            Code::LimitLogs,
            Code::LimitCalls,
        ];
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(Code::from(c).as_str(), c.as_str());
            assert_eq!(Code::from(c).lockbox(), Some(c));
            assert!(seen.insert(c.as_str()));
        }
        for c in own {
            assert!(seen.insert(c.as_str()), "{c} is also a Lockbox code");
            assert_eq!(c.lockbox(), None);
        }
        assert_eq!(
            serde_json::to_value(Code::LimitTime).unwrap(),
            serde_json::json!("limit_time")
        );
    }
}
