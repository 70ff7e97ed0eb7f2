//! Seed 000's script runtime: `var`, `if … then … else … end`, `and`/`or`/`not`,
//! comparisons, `+`, object and array literals, member access and the builtins
//! `SetSecret`, `GetSecret`, `InvokeRestMethod`, `Log` and `CancelAction`, with
//! `Data.Request` bound to the triggering request.
//!
//! ```text
//! parse(source)                          -> Program | ScriptError (line, column)
//! run_script(source, request, &host)     -> ScriptRun  (Limits::default())
//! run_script_with(source, request, &host, limits) -> ScriptRun
//! ```
//!
//! Secrets: `GetSecret` hands the script the value, **tainted** with the
//! secret's name: a string value, and every string, number and boolean leaf of a
//! JSON value at any depth. A tainted string holds only spans that point at the
//! secret (the text stays inside the interpreter); a tainted number or boolean is
//! opaque. Concatenation and object/array construction carry the taint. Tainted
//! values may flow into `InvokeRestMethod`'s url, headers and body and into
//! `SetSecret`'s value: before a request leaves, every tainted span or leaf is put
//! back as a `$secret:` reference for that secret (a whole secret or one top-level
//! field; deeper leaves are a `secret_placement` error), so the value only ever
//! leaves through the egress executor (which checks the secret's allowed hosts and
//! the SSRF guard, and audits which secrets each call used). Everywhere else (log
//! lines, `CancelAction`'s message, error messages, the run's result) tainted
//! spans become `[REDACTED:<name>]`, and then a redactor over every value the run
//! read or wrote scrubs encoded forms, and the host's redactor (every secret the
//! run can reach) scrubs again.
//!
//! The script never learns a value: a tainted value may be tested against `null`
//! (`x == null`, `x != null`) and for truth (always true, except a boolean's, whose
//! truth is its value). Anything else that would look at it is a located
//! `tainted_value` error naming the secret: `==`/`!=` against anything but `null`
//! (deep equality included), `<`, `>`, `<=`, `>=`, arithmetic, unary `-`, `if`,
//! `not`, `and`, `or` on a tainted boolean, indexing with a tainted key, `.length`
//! of an array holding one, a tainted Log level, method or secret name. Limits do
//! not look at values either: `limit_string` counts a string's plain bytes,
//! `limit_secret_spans` its number of secret spans, `limit_logs` the lines and
//! their bytes before masking, `limit_memory` the bytes of every value the run
//! makes (copies included), a secret read counting a fixed 64 KiB.
//!
//! `SetSecret` stores what the script holds the way a request sends it: every
//! tainted span or leaf becomes its reference (a tainted number or boolean, a
//! string that is exactly its reference), and the service resolves this run's
//! references, splices the values in and gives the stored secret the strictest
//! visibility and the intersection of the sources' allowed_hosts. The run never
//! hands over a plaintext to store, so a restricted value cannot be laundered into
//! a masked secret. A refusal of such a value ends the run (it may depend on the
//! value, e.g. its resolved size).

mod host;
mod interp;
mod parse;

pub use host::{HostSecret, ScriptHost};
pub use interp::Limits;
pub use parse::{parse, BinOp, Builtin, Expr, ExprKind, Pos, Program, Stmt, UnOp};

use crate::code::Code;
use serde::Serialize;
use std::fmt;

/// A parse or runtime error, with the 1-based line and column it points at.
/// Messages never hold a secret value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptError {
    pub code: Code,
    pub message: String,
    pub line: u32,
    pub column: u32,
}

impl ScriptError {
    pub fn new(code: impl Into<Code>, message: impl Into<String>, pos: Pos) -> ScriptError {
        ScriptError {
            code: code.into(),
            message: message.into(),
            line: pos.line,
            column: pos.column,
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {}, column {}: {}",
            self.code, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ScriptError {}

/// One `Log` line (or a line the runtime adds, e.g. why `SetSecret` failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `Debug`, `Information`, `Warning` or `Error`.
    pub level: String,
    pub message: String,
}

/// What a script run did. Every string here has been redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptRun {
    /// `completed`, `cancelled` (CancelAction) or `failed` (parse error, runtime
    /// error or a limit).
    pub status: String,
    pub logs: Vec<LogLine>,
    /// CancelAction's message, or the error (`code at line L, column C: …`).
    pub message: Option<String>,
    /// The error, when `status` is `failed`.
    pub error: Option<ScriptError>,
}

/// Runs seed 000 `source` with `Data.Request` = `request` (`{body, headers,
/// query}`) over `host`, within [`Limits::default`].
pub async fn run_script(
    source: &str,
    request: serde_json::Value,
    host: &dyn ScriptHost,
) -> ScriptRun {
    run_script_with(source, request, host, Limits::default()).await
}

/// [`run_script`] with explicit limits.
pub async fn run_script_with(
    source: &str,
    request: serde_json::Value,
    host: &dyn ScriptHost,
    limits: Limits,
) -> ScriptRun {
    interp::run(source, request, host, limits).await
}
