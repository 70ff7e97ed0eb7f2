//! The interpreter: values with taint marks, builtins over a [`ScriptHost`],
//! limits, and redaction of everything that leaves the run.
//!
//! A value read from a secret is never held where the script can look at it: a
//! string keeps only *spans* that point at the secret's leaf (the text lives in
//! `Interp::sources`), and a number or boolean leaf is an opaque [`V::Secret`].
//! What a script may do with such a value does not depend on it: concatenate,
//! put it in objects and arrays, send it (as a reference), store it (as a
//! reference), test it against `null` and take the truth of anything but a
//! boolean (always true). Everything else is a `tainted_value` error.

use super::host::ScriptHost;
use super::parse::{parse, BinOp, Builtin, Expr, ExprKind, Pos, Stmt, UnOp};
use super::{LogLine, ScriptError, ScriptRun};
use crate::code::Code;
use lockbox_core::Sensitive;
use lockbox_redact::{Options, Redactor};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Caps on one run. Exceeding one ends the run `failed` with a `limit_*` code.
/// No check looks at a secret's value: a string's secret spans count by number,
/// never by length.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Statements plus expression nodes evaluated (`limit_steps`).
    pub max_steps: u64,
    /// Wall clock for the whole run, outbound calls included (`limit_time`).
    pub timeout: Duration,
    /// Most bytes of a string a script may build, counting only the text that did
    /// not come from a secret (`limit_string`).
    pub max_string_bytes: usize,
    /// Most secret spans in one string (`limit_secret_spans`). Each span is one
    /// secret's leaf, at most the service's value limit (64 KiB).
    pub max_secret_spans: usize,
    /// Most entries in one object or array (`limit_size`).
    pub max_items: usize,
    /// Most `InvokeRestMethod` calls (`limit_calls`).
    pub max_calls: usize,
    /// Most log lines (`limit_logs`).
    pub max_logs: usize,
    /// Most bytes of all log lines together, counted before masking (`limit_logs`):
    /// every line is masked, and masking answers guesses.
    pub max_log_bytes: usize,
    /// Most bytes of values the run may make, in total (`limit_memory`). Counted
    /// when a value is made (a literal, a copy read from a variable or a field, a
    /// joined string, an array or object, a response) and never given back, so it
    /// bounds what the run can hold at once well below the process's memory. A
    /// secret's value counts a fixed 64 KiB (`SECRET_WEIGHT`) whatever its length.
    pub max_memory_bytes: usize,
}

/// What reading one secret counts against `max_memory_bytes`: the service's
/// value limit, never the value's own length.
pub const SECRET_WEIGHT: usize = 64 * 1024;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_steps: 100_000,
            timeout: Duration::from_secs(60),
            max_string_bytes: 1 << 20,
            max_secret_spans: 256,
            max_items: 10_000,
            max_calls: 32,
            max_logs: 1_000,
            max_log_bytes: 1 << 20,
            max_memory_bytes: 64 << 20,
        }
    }
}

/// One piece of a string.
#[derive(Debug, Clone)]
enum Seg {
    /// Text the script may see (never empty).
    Plain(String),
    /// A secret's leaf, `Interp::sources[src]`. `quoted`: the span stands for the
    /// leaf written as a JSON string literal (a string inside an array or object
    /// that was turned into text).
    Secret { src: usize, quoted: bool },
}

/// A string: plain text and secret spans. Adjacent plain pieces are merged.
#[derive(Debug, Clone, Default)]
struct TStr {
    segs: Vec<Seg>,
}

impl TStr {
    fn plain(s: impl Into<String>) -> TStr {
        let mut t = TStr::default();
        t.push_str(&s.into());
        t
    }

    fn secret(src: usize) -> TStr {
        TStr {
            segs: vec![Seg::Secret { src, quoted: false }],
        }
    }

    fn push_str(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        match self.segs.last_mut() {
            Some(Seg::Plain(p)) => p.push_str(s),
            _ => self.segs.push(Seg::Plain(s.to_owned())),
        }
    }

    fn push_secret(&mut self, src: usize, quoted: bool) {
        self.segs.push(Seg::Secret { src, quoted });
    }

    fn push(&mut self, other: &TStr) {
        for seg in &other.segs {
            match seg {
                Seg::Plain(p) => self.push_str(p),
                Seg::Secret { src, quoted } => self.push_secret(*src, *quoted),
            }
        }
    }

    /// The text, when no part of it came from a secret.
    fn as_plain(&self) -> Option<&str> {
        match self.segs.as_slice() {
            [] => Some(""),
            [Seg::Plain(p)] => Some(p),
            _ => None,
        }
    }

    fn first_secret(&self) -> Option<usize> {
        self.segs.iter().find_map(|s| match s {
            Seg::Secret { src, .. } => Some(*src),
            Seg::Plain(_) => None,
        })
    }

    /// Bytes of the plain pieces (what `limit_string` counts).
    fn plain_len(&self) -> usize {
        self.segs
            .iter()
            .map(|s| match s {
                Seg::Plain(p) => p.len(),
                Seg::Secret { .. } => 0,
            })
            .sum()
    }

    /// Number of secret spans (what `limit_secret_spans` counts).
    fn spans(&self) -> usize {
        self.segs
            .iter()
            .filter(|s| matches!(s, Seg::Secret { .. }))
            .count()
    }
}

#[derive(Debug, Clone)]
enum V {
    Null,
    Bool(bool),
    Num(f64),
    Str(TStr),
    Arr(Vec<V>),
    Obj(Vec<(String, V)>),
    /// A number or boolean leaf of a JSON secret, `Interp::sources[src]`: opaque.
    Secret(usize),
}

impl V {
    fn type_name(&self) -> &'static str {
        match self {
            V::Null => "null",
            V::Bool(_) => "a boolean",
            V::Num(_) => "a number",
            V::Str(_) => "a string",
            V::Arr(_) => "an array",
            V::Obj(_) => "an object",
            V::Secret(_) => "a secret's value",
        }
    }

    /// Null and `false` are false, everything else true. A tainted boolean's truth
    /// is its value: callers go through [`Interp::truth`].
    fn truthy(&self) -> bool {
        !matches!(self, V::Null | V::Bool(false))
    }

    /// Holds anything read from a secret, at any depth.
    fn is_tainted(&self) -> bool {
        self.taint().is_some()
    }

    /// The first secret span or leaf inside, if any.
    fn taint(&self) -> Option<usize> {
        match self {
            V::Str(t) => t.first_secret(),
            V::Secret(src) => Some(*src),
            V::Arr(a) => a.iter().find_map(V::taint),
            V::Obj(o) => o.iter().find_map(|(_, v)| v.taint()),
            V::Null | V::Bool(_) | V::Num(_) => None,
        }
    }

    fn from_json(v: Value) -> V {
        match v {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(b),
            Value::Number(n) => V::Num(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => V::Str(TStr::plain(s)),
            Value::Array(a) => V::Arr(a.into_iter().map(V::from_json).collect()),
            Value::Object(o) => V::Obj(o.into_iter().map(|(k, v)| (k, V::from_json(v))).collect()),
        }
    }

    /// Equality of untainted values (callers check taint first).
    fn deep_eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::Null, V::Null) => true,
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::Num(a), V::Num(b)) => a == b,
            (V::Str(a), V::Str(b)) => match (a.as_plain(), b.as_plain()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
            (V::Arr(a), V::Arr(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.deep_eq(y))
            }
            (V::Obj(a), V::Obj(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v.deep_eq(v2)))
            }
            _ => false,
        }
    }
}

/// The bytes `v` counts against `max_memory_bytes`: its own slot, a string's
/// plain text and pieces, and its items. A secret span counts as a piece, never
/// by the length of the value it stands for.
fn weight(v: &V) -> usize {
    const SLOT: usize = std::mem::size_of::<V>();
    match v {
        V::Null | V::Bool(_) | V::Num(_) | V::Secret(_) => SLOT,
        V::Str(t) => SLOT + t.segs.len() * std::mem::size_of::<Seg>() + t.plain_len(),
        V::Arr(a) => SLOT + a.iter().map(weight).sum::<usize>(),
        V::Obj(o) => {
            SLOT + o
                .iter()
                .map(|(k, x)| std::mem::size_of::<String>() + k.len() + weight(x))
                .sum::<usize>()
        }
    }
}

fn num_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    Str,
    Num,
    Bool,
}

/// One leaf read from a secret. Its text is never displayed nor sent: only the
/// local scrub and what `SetSecret` remembers use it.
struct Source {
    name: String,
    /// Top-level field of a JSON object secret.
    field: Option<String>,
    /// A reference to the version read (whole-value sources).
    reference: Option<String>,
    /// Nested deeper than one field: cannot be sent as a reference.
    nested: bool,
    kind: LeafKind,
    /// A string's own characters, a number's or boolean's JSON text: wiped when
    /// the run's interpreter is dropped.
    text: Sensitive<String>,
}

enum Stop {
    Cancelled(String),
    Failed(ScriptError),
}

type Res<T> = Result<T, Stop>;
type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn fail<T>(code: impl Into<Code>, message: impl Into<String>, pos: Pos) -> Res<T> {
    Err(Stop::Failed(ScriptError::new(code, message, pos)))
}

struct Interp<'h> {
    host: &'h dyn ScriptHost,
    limits: Limits,
    started: Instant,
    vars: HashMap<String, V>,
    sources: Vec<Source>,
    /// Every value the run read or wrote, by secret name (wiped on drop).
    known: Vec<(String, Sensitive<Value>)>,
    redactor: Option<Arc<Redactor>>,
    logs: Vec<LogLine>,
    /// Bytes of all log lines so far, before masking.
    log_bytes: usize,
    steps: u64,
    calls: usize,
    /// Bytes of values made so far (`limit_memory`).
    memory: usize,
}

pub(super) async fn run(
    source: &str,
    request: Value,
    host: &dyn ScriptHost,
    limits: Limits,
) -> ScriptRun {
    let program = match parse(source) {
        Ok(p) => p,
        Err(e) => return finish(host, Vec::new(), Err(Stop::Failed(e))).await,
    };
    let timeout = limits.timeout;
    let mut it = Interp {
        host,
        limits,
        started: Instant::now(),
        vars: HashMap::new(),
        sources: Vec::new(),
        known: Vec::new(),
        redactor: None,
        logs: Vec::new(),
        log_bytes: 0,
        steps: 0,
        calls: 0,
        memory: 0,
    };
    let data = V::Obj(vec![("Request".to_owned(), V::from_json(request))]);
    let charged = it.charge(weight(&data), Pos::default());
    it.vars.insert("Data".to_owned(), data);
    let body = async {
        charged?;
        it.block(&program.body).await
    };
    let outcome = match tokio::time::timeout(timeout, body).await {
        Ok(r) => r,
        Err(_) => Err(Stop::Failed(ScriptError::new(
            Code::LimitTime,
            format!("the script ran longer than {} ms", timeout.as_millis()),
            Pos::default(),
        ))),
    };
    // The interpreter's own scrub (values read and written) on the way out.
    let outcome = match outcome {
        Ok(()) => Ok(()),
        Err(Stop::Cancelled(m)) => Err(Stop::Cancelled(it.scrub(&m))),
        Err(Stop::Failed(mut e)) => {
            e.message = it.scrub(&e.message);
            Err(Stop::Failed(e))
        }
    };
    let logs = std::mem::take(&mut it.logs);
    finish(host, logs, outcome).await
}

/// Builds the result; the host's redactor scrubs every string once more.
async fn finish(host: &dyn ScriptHost, logs: Vec<LogLine>, outcome: Res<()>) -> ScriptRun {
    let mut out_logs = Vec::with_capacity(logs.len());
    for l in logs {
        out_logs.push(LogLine {
            level: l.level,
            message: host.redact(&l.message).await,
        });
    }
    match outcome {
        Ok(()) => ScriptRun {
            status: "completed".into(),
            logs: out_logs,
            message: None,
            error: None,
        },
        Err(Stop::Cancelled(m)) => ScriptRun {
            status: "cancelled".into(),
            logs: out_logs,
            message: Some(host.redact(&m).await),
            error: None,
        },
        Err(Stop::Failed(mut e)) => {
            e.message = host.redact(&e.message).await;
            ScriptRun {
                status: "failed".into(),
                logs: out_logs,
                message: Some(e.to_string()),
                error: Some(e),
            }
        }
    }
}

const LEVELS: [&str; 4] = ["Debug", "Information", "Warning", "Error"];

/// What a script may do with a secret's value, said in every `tainted_value` error.
const TAINT_RULE: &str = "a secret's value may only be concatenated, put in objects and \
                          arrays, sent, stored, or tested against null";

impl<'h> Interp<'h> {
    fn tick(&mut self, pos: Pos) -> Res<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return fail(
                Code::LimitSteps,
                format!(
                    "the script exceeded its budget of {} steps",
                    self.limits.max_steps
                ),
                pos,
            );
        }
        if self.steps.is_multiple_of(1024) && self.started.elapsed() > self.limits.timeout {
            return fail(
                Code::LimitTime,
                format!(
                    "the script ran longer than {} ms",
                    self.limits.timeout.as_millis()
                ),
                pos,
            );
        }
        Ok(())
    }

    /// Counts `bytes` of values made against `limit_memory`.
    fn charge(&mut self, bytes: usize, pos: Pos) -> Res<()> {
        self.memory = self.memory.saturating_add(bytes);
        if self.memory > self.limits.max_memory_bytes {
            return fail(
                Code::LimitMemory,
                format!(
                    "the script made more than {} bytes of values (strings, arrays, objects \
                     and their copies, counted as they are made)",
                    self.limits.max_memory_bytes
                ),
                pos,
            );
        }
        Ok(())
    }

    /// The value a variable or a chain of fields names, by reference (no copy):
    /// `x`, `x.a`, `x.a.b`. `None` for anything else, or a field of a non-object.
    fn place<'a>(&'a self, e: &Expr, depth: &mut u64) -> Option<&'a V> {
        *depth += 1;
        match &e.kind {
            ExprKind::Var(name) => self.vars.get(name),
            ExprKind::Member(obj, name) => match self.place(obj, depth)? {
                V::Obj(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
                _ => None,
            },
            _ => None,
        }
    }

    /// `limit_string` on the plain bytes, `limit_secret_spans` on the number of
    /// spans: neither depends on a secret's value or length.
    fn check_len(&self, plain: usize, spans: usize, pos: Pos) -> Res<()> {
        if plain > self.limits.max_string_bytes {
            return fail(
                Code::LimitString,
                format!(
                    "a string grew past {} bytes (not counting secrets' values)",
                    self.limits.max_string_bytes
                ),
                pos,
            );
        }
        if spans > self.limits.max_secret_spans {
            return fail(
                Code::LimitSecretSpans,
                format!(
                    "a string holds more than {} secret values",
                    self.limits.max_secret_spans
                ),
                pos,
            );
        }
        Ok(())
    }

    fn check_str(&self, t: &TStr, pos: Pos) -> Res<()> {
        self.check_len(t.plain_len(), t.spans(), pos)
    }

    fn check_items(&self, n: usize, pos: Pos) -> Res<()> {
        if n > self.limits.max_items {
            return fail(
                Code::LimitSize,
                format!(
                    "an object or array grew past {} entries",
                    self.limits.max_items
                ),
                pos,
            );
        }
        Ok(())
    }

    /// A `tainted_value` error about `v` (which holds a secret's value): names the
    /// secret, never the value.
    fn tainted<T>(&self, v: &V, what: &str, pos: Pos) -> Res<T> {
        let name = v
            .taint()
            .map(|src| self.sources[src].name.as_str())
            .unwrap_or("?");
        fail(
            Code::TaintedValue,
            format!("{what}: it holds a value of secret '{name}'; {TAINT_RULE}"),
            pos,
        )
    }

    /// The truth of `v` for `if`, `not`, `and` and `or`. Any value from a secret is
    /// true, except a boolean, whose truth is its value: deciding on one is an error.
    fn truth(&self, v: &V, pos: Pos) -> Res<bool> {
        if let V::Secret(src) = v {
            if self.sources[*src].kind == LeafKind::Bool {
                return self.tainted(v, "cannot decide on a boolean read from a secret", pos);
            }
        }
        Ok(v.truthy())
    }

    fn remember(&mut self, name: &str, value: Value) {
        self.known.push((name.to_owned(), Sensitive::new(value)));
        self.redactor = None;
    }

    /// Local redactor over every value read or written; plain text in, masked out.
    fn scrub(&mut self, text: &str) -> String {
        if self.known.is_empty() {
            return text.to_owned();
        }
        if self.redactor.is_none() {
            // Every form of every value and leaf (numbers and booleans too; a
            // value pasted into a URL by the `url` crate, percent-encoded or not).
            let refs: Vec<(&str, &Value)> = self
                .known
                .iter()
                // EXPOSE: handed to the local redactor, which only ever masks them.
                .map(|(n, v)| (n.as_str(), v.expose()))
                .collect();
            self.redactor = Some(Arc::new(Redactor::with_json(&refs, Options::default())));
        }
        match &self.redactor {
            Some(r) => r.redact_str(text).into_owned(),
            None => text.to_owned(),
        }
    }

    /// Text for display: secret spans become `[REDACTED:<name>]` (not yet scrubbed).
    fn unmarked(&self, t: &TStr) -> String {
        let mut out = String::new();
        for seg in &t.segs {
            match seg {
                Seg::Plain(p) => out.push_str(p),
                Seg::Secret { src, .. } => {
                    out.push_str("[REDACTED:");
                    out.push_str(&self.sources[*src].name);
                    out.push(']');
                }
            }
        }
        out
    }

    /// The plaintext a string stands for (only for the local scrub: never shown).
    fn plaintext(&self, t: &TStr) -> String {
        let mut out = String::new();
        for seg in &t.segs {
            match seg {
                Seg::Plain(p) => out.push_str(p),
                Seg::Secret { src, quoted } => {
                    // EXPOSE: for the local scrub only, never shown.
                    let text = self.sources[*src].text.expose();
                    if *quoted {
                        out.push_str(&serde_json::to_string(text).unwrap_or_default());
                    } else {
                        out.push_str(text);
                    }
                }
            }
        }
        out
    }

    /// The JSON a value stands for, secrets' values in place (for the local scrub).
    fn plaintext_json(&self, v: &V) -> Value {
        match v {
            V::Null => Value::Null,
            V::Bool(b) => Value::Bool(*b),
            V::Num(n) => num_json(*n),
            V::Str(t) => Value::String(self.plaintext(t)),
            V::Secret(src) => {
                // EXPOSE: for the local scrub only, never shown.
                let text = self.sources[*src].text.expose();
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }
            V::Arr(a) => Value::Array(a.iter().map(|x| self.plaintext_json(x)).collect()),
            V::Obj(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.plaintext_json(x)))
                    .collect(),
            ),
        }
    }

    /// A value as text, keeping secret spans (for concatenation).
    fn to_tstr(&self, v: &V, pos: Pos) -> Res<TStr> {
        let mut out = TStr::default();
        self.write_tstr(v, &mut out, false, pos)?;
        Ok(out)
    }

    fn write_tstr(&self, v: &V, out: &mut TStr, nested: bool, pos: Pos) -> Res<()> {
        match v {
            V::Null => out.push_str("null"),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Num(n) => out.push_str(&fmt_num(*n)),
            V::Secret(src) => out.push_secret(*src, false),
            V::Str(t) if !nested => out.push(t),
            V::Str(t) => match t.segs.as_slice() {
                // A secret string alone: one span for the whole JSON literal.
                [Seg::Secret { src, quoted: false }] => out.push_secret(*src, true),
                segs => {
                    out.push_str("\"");
                    for seg in segs {
                        match seg {
                            Seg::Plain(p) => {
                                let q = serde_json::to_string(p).unwrap_or_default();
                                out.push_str(q.get(1..q.len() - 1).unwrap_or_default());
                            }
                            Seg::Secret { src, quoted } => out.push_secret(*src, *quoted),
                        }
                    }
                    out.push_str("\"");
                }
            },
            V::Arr(a) => {
                out.push_str("[");
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",");
                    }
                    self.write_tstr(x, out, true, pos)?;
                    self.check_str(out, pos)?;
                }
                out.push_str("]");
            }
            V::Obj(o) => {
                out.push_str("{");
                for (i, (k, x)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",");
                    }
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push_str(":");
                    self.write_tstr(x, out, true, pos)?;
                    self.check_str(out, pos)?;
                }
                out.push_str("}");
            }
        }
        self.check_str(out, pos)
    }

    /// A value as display text: secret spans replaced (scrubbed where it leaves).
    fn display(&self, v: &V, pos: Pos) -> Res<String> {
        let t = self.to_tstr(v, pos)?;
        Ok(self.unmarked(&t))
    }

    /// A string for the egress executor or the service: secret spans become
    /// references. Whether this fails depends only on the plain text after a span.
    async fn for_egress(&mut self, t: &TStr, pos: Pos) -> Res<String> {
        let mut out = String::new();
        for (i, seg) in t.segs.iter().enumerate() {
            match seg {
                Seg::Plain(p) => out.push_str(p),
                Seg::Secret { src, .. } => {
                    // A reference runs over letters, digits, '-' and '_'; another
                    // reference (`$secret:`) after it is fine.
                    if let Some(Seg::Plain(next)) = t.segs.get(i + 1) {
                        let follows = next.chars().next();
                        if follows
                            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                        {
                            return fail(
                                Code::SecretPlacement,
                                format!(
                                    "a value of secret '{}' is directly followed by a letter, \
                                     digit, '-' or '_'; put a separator after it",
                                    self.sources[*src].name
                                ),
                                pos,
                            );
                        }
                    }
                    let reference = self.reference_of(*src, pos).await?;
                    out.push_str(&reference);
                }
            }
        }
        Ok(out)
    }

    async fn reference_of(&mut self, src: usize, pos: Pos) -> Res<String> {
        let s = &self.sources[src];
        if let Some(r) = &s.reference {
            return Ok(r.clone());
        }
        if s.nested {
            return fail(
                Code::SecretPlacement,
                format!(
                    "only a whole secret or one top-level field of '{}' can be sent or stored",
                    s.name
                ),
                pos,
            );
        }
        let (name, field) = (s.name.clone(), s.field.clone());
        match self.host.reference(&name, field.as_deref()).await {
            Ok(r) => {
                self.sources[src].reference = Some(r.clone());
                Ok(r)
            }
            Err(e) => {
                let msg = self.scrub(&e.message);
                fail(e.code, msg, pos)
            }
        }
    }

    /// JSON for the egress executor or the service: every secret span becomes its
    /// reference; a number or boolean from a secret becomes a string that is
    /// exactly its reference.
    fn egress_json<'a>(&'a mut self, v: &'a V, pos: Pos) -> BoxFut<'a, Res<Value>> {
        Box::pin(async move {
            Ok(match v {
                V::Null => Value::Null,
                V::Bool(b) => Value::Bool(*b),
                V::Num(n) => num_json(*n),
                V::Str(t) => Value::String(self.for_egress(t, pos).await?),
                V::Secret(src) => Value::String(self.reference_of(*src, pos).await?),
                V::Arr(a) => {
                    let mut out = Vec::with_capacity(a.len());
                    for x in a {
                        out.push(self.egress_json(x, pos).await?);
                    }
                    Value::Array(out)
                }
                V::Obj(o) => {
                    let mut out = Map::new();
                    for (k, x) in o {
                        out.insert(k.clone(), self.egress_json(x, pos).await?);
                    }
                    Value::Object(out)
                }
            })
        })
    }

    fn push_source(
        &mut self,
        name: &str,
        field: Option<&str>,
        reference: Option<String>,
        nested: bool,
        kind: LeafKind,
        text: String,
    ) -> usize {
        self.sources.push(Source {
            name: name.to_owned(),
            field: field.map(str::to_owned),
            reference,
            nested,
            kind,
            text: Sensitive::new(text),
        });
        self.sources.len() - 1
    }

    /// Marks a value read from secret `name`: every string, number and boolean
    /// leaf, at any depth.
    fn mark_secret(&mut self, name: &str, value: Value, reference: String) -> V {
        match value {
            Value::String(s) => {
                let src = self.push_source(name, None, Some(reference), false, LeafKind::Str, s);
                V::Str(TStr::secret(src))
            }
            Value::Object(o) => V::Obj(
                o.into_iter()
                    .map(|(k, v)| {
                        let v = self.mark_leaves(v, name, Some(&k), false);
                        (k, v)
                    })
                    .collect(),
            ),
            other => self.mark_leaves(other, name, None, true),
        }
    }

    /// Marks every leaf: a top-level field (`field`) can be sent as a reference,
    /// deeper leaves (`nested`) cannot.
    fn mark_leaves(&mut self, v: Value, name: &str, field: Option<&str>, nested: bool) -> V {
        match v {
            Value::Null => V::Null,
            Value::String(s) => {
                let src = self.push_source(name, field, None, nested, LeafKind::Str, s);
                V::Str(TStr::secret(src))
            }
            Value::Number(n) => {
                let src = self.push_source(name, field, None, nested, LeafKind::Num, n.to_string());
                V::Secret(src)
            }
            Value::Bool(b) => {
                let src =
                    self.push_source(name, field, None, nested, LeafKind::Bool, b.to_string());
                V::Secret(src)
            }
            Value::Array(a) => V::Arr(
                a.into_iter()
                    .map(|x| self.mark_leaves(x, name, None, true))
                    .collect(),
            ),
            Value::Object(o) => V::Obj(
                o.into_iter()
                    .map(|(k, x)| (k, self.mark_leaves(x, name, None, true)))
                    .collect(),
            ),
        }
    }

    /// Appends a log line. Both caps count the line before masking, so whether a
    /// line fits never depends on a secret.
    fn log(&mut self, level: &str, message: String, pos: Pos) -> Res<()> {
        if self.logs.len() >= self.limits.max_logs {
            return fail(
                Code::LimitLogs,
                format!(
                    "the script wrote more than {} log lines",
                    self.limits.max_logs
                ),
                pos,
            );
        }
        self.log_bytes = self.log_bytes.saturating_add(message.len());
        if self.log_bytes > self.limits.max_log_bytes {
            return fail(
                Code::LimitLogs,
                format!(
                    "the script wrote more than {} bytes of log lines",
                    self.limits.max_log_bytes
                ),
                pos,
            );
        }
        let message = self.scrub(&message);
        self.logs.push(LogLine {
            level: level.to_owned(),
            message,
        });
        Ok(())
    }

    fn block<'a>(&'a mut self, stmts: &'a [Stmt]) -> BoxFut<'a, Res<()>> {
        Box::pin(async move {
            for s in stmts {
                self.stmt(s).await?;
            }
            Ok(())
        })
    }

    async fn stmt(&mut self, s: &Stmt) -> Res<()> {
        match s {
            Stmt::Var { name, init, pos } => {
                self.tick(*pos)?;
                let v = match init {
                    Some(e) => self.eval(e).await?,
                    None => V::Null,
                };
                self.vars.insert(name.clone(), v);
            }
            Stmt::Assign { name, value, pos } => {
                self.tick(*pos)?;
                if !self.vars.contains_key(name) {
                    return fail(
                        Code::UndefinedVariable,
                        format!("'{name}' is not declared; use 'var {name} = …'"),
                        *pos,
                    );
                }
                let v = self.eval(value).await?;
                self.vars.insert(name.clone(), v);
            }
            Stmt::If {
                cond,
                then,
                els,
                pos,
            } => {
                self.tick(*pos)?;
                let c = self.eval(cond).await?;
                if self.truth(&c, *pos)? {
                    self.block(then).await?;
                } else {
                    self.block(els).await?;
                }
            }
            Stmt::Expr(e) => {
                self.eval(e).await?;
            }
        }
        Ok(())
    }

    fn eval<'a>(&'a mut self, e: &'a Expr) -> BoxFut<'a, Res<V>> {
        Box::pin(async move {
            self.tick(e.pos)?;
            let pos = e.pos;
            Ok(match &e.kind {
                ExprKind::Null => V::Null,
                ExprKind::Bool(b) => V::Bool(*b),
                ExprKind::Num(n) => V::Num(*n),
                ExprKind::Str(s) => {
                    let v = V::Str(TStr::plain(s.clone()));
                    self.charge(weight(&v), pos)?;
                    v
                }
                ExprKind::Var(name) => match self.vars.get(name) {
                    Some(v) => {
                        // A copy: counted before it is made.
                        let w = weight(v);
                        self.charge(w, pos)?;
                        self.vars.get(name).cloned().unwrap_or(V::Null)
                    }
                    None => {
                        return fail(
                            Code::UndefinedVariable,
                            format!("'{name}' is not declared"),
                            pos,
                        )
                    }
                },
                ExprKind::Object(fields) => {
                    self.check_items(fields.len(), pos)?;
                    let keys: usize = fields
                        .iter()
                        .map(|(k, _)| k.len() + std::mem::size_of::<(String, V)>())
                        .sum();
                    self.charge(keys, pos)?;
                    let mut out = Vec::with_capacity(fields.len());
                    for (k, x) in fields {
                        out.push((k.clone(), self.eval(x).await?));
                    }
                    V::Obj(out)
                }
                ExprKind::Array(items) => {
                    self.check_items(items.len(), pos)?;
                    self.charge(items.len() * std::mem::size_of::<V>(), pos)?;
                    let mut out = Vec::with_capacity(items.len());
                    for x in items {
                        out.push(self.eval(x).await?);
                    }
                    V::Arr(out)
                }
                ExprKind::Member(obj, name) => {
                    // `x.a.b` reads the field in place instead of copying `x` first.
                    let mut depth = 0;
                    let field = match self.place(obj, &mut depth) {
                        Some(o) => Some(self.member(o, name, pos)?),
                        None => None,
                    };
                    let v = match field {
                        Some(v) => {
                            for _ in 0..depth {
                                self.tick(pos)?;
                            }
                            v
                        }
                        None => {
                            let o = self.eval(obj).await?;
                            self.member(&o, name, pos)?
                        }
                    };
                    self.charge(weight(&v), pos)?;
                    v
                }
                ExprKind::Index(obj, idx) => {
                    let o = self.eval(obj).await?;
                    let i = self.eval(idx).await?;
                    if i.is_tainted() {
                        return self.tainted(&i, "cannot index with a secret's value", pos);
                    }
                    let v = match (&o, &i) {
                        (V::Null, _) => V::Null,
                        (V::Arr(a), V::Num(n)) => {
                            if *n >= 0.0 && n.fract() == 0.0 {
                                a.get(*n as usize).cloned().unwrap_or(V::Null)
                            } else {
                                V::Null
                            }
                        }
                        (V::Obj(_), V::Str(k)) => {
                            let k = k.as_plain().unwrap_or_default().to_owned();
                            self.member(&o, &k, pos)?
                        }
                        (V::Str(_) | V::Secret(_), _) if o.is_tainted() => {
                            return self.tainted(&o, "cannot index a secret's value", pos)
                        }
                        _ => {
                            return fail(
                                Code::TypeError,
                                format!("cannot index {} with {}", o.type_name(), i.type_name()),
                                pos,
                            )
                        }
                    };
                    self.charge(weight(&v), pos)?;
                    v
                }
                ExprKind::Unary(UnOp::Not, x) => {
                    let v = self.eval(x).await?;
                    V::Bool(!self.truth(&v, pos)?)
                }
                ExprKind::Unary(UnOp::Neg, x) => match self.eval(x).await? {
                    V::Num(n) => V::Num(-n),
                    other if other.is_tainted() => {
                        return self.tainted(&other, "cannot negate a secret's value", pos)
                    }
                    other => {
                        return fail(
                            Code::TypeError,
                            format!("cannot negate {}", other.type_name()),
                            pos,
                        )
                    }
                },
                ExprKind::Binary(BinOp::And, a, b) => {
                    let a = self.eval(a).await?;
                    if !self.truth(&a, pos)? {
                        V::Bool(false)
                    } else {
                        let b = self.eval(b).await?;
                        V::Bool(self.truth(&b, pos)?)
                    }
                }
                ExprKind::Binary(BinOp::Or, a, b) => {
                    let a = self.eval(a).await?;
                    if self.truth(&a, pos)? {
                        V::Bool(true)
                    } else {
                        let b = self.eval(b).await?;
                        V::Bool(self.truth(&b, pos)?)
                    }
                }
                ExprKind::Binary(op, a, b) => {
                    let a = self.eval(a).await?;
                    let b = self.eval(b).await?;
                    self.binary(*op, a, b, pos)?
                }
                ExprKind::Call(f, args) => {
                    let mut vals = Vec::with_capacity(args.len());
                    for a in args {
                        vals.push(self.eval(a).await?);
                    }
                    self.call(*f, vals, pos).await?
                }
            })
        })
    }

    /// `a.name`: a field of an object (read from a secret or not), or the length
    /// of an array that holds no secret's value.
    fn member(&self, o: &V, name: &str, pos: Pos) -> Res<V> {
        match o {
            V::Null => Ok(V::Null),
            V::Obj(fields) => Ok(fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or(V::Null)),
            V::Arr(a) if name == "length" || name == "Count" => {
                if o.is_tainted() {
                    return self.tainted(
                        o,
                        &format!("cannot take '.{name}' of an array holding a secret's value"),
                        pos,
                    );
                }
                Ok(V::Num(a.len() as f64))
            }
            other if other.is_tainted() => self.tainted(
                other,
                &format!("cannot read member '{name}' of a secret's value"),
                pos,
            ),
            other => fail(
                Code::TypeError,
                format!("cannot read member '{name}' of {}", other.type_name()),
                pos,
            ),
        }
    }

    fn binary(&mut self, op: BinOp, a: V, b: V, pos: Pos) -> Res<V> {
        let sym = match op {
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Gt => ">",
            BinOp::Le => "<=",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::And => "and",
            BinOp::Or => "or",
        };
        let tainted = if a.is_tainted() {
            Some(&a)
        } else if b.is_tainted() {
            Some(&b)
        } else {
            None
        };
        Ok(match op {
            BinOp::Eq | BinOp::Ne => {
                // Against null only: a value read from a secret is never null.
                let eq = if matches!(a, V::Null) || matches!(b, V::Null) {
                    matches!(a, V::Null) && matches!(b, V::Null)
                } else if let Some(t) = tainted {
                    return self.tainted(
                        t,
                        &format!("cannot compare with '{sym}' (only with null)"),
                        pos,
                    );
                } else {
                    a.deep_eq(&b)
                };
                V::Bool(if op == BinOp::Eq { eq } else { !eq })
            }
            BinOp::Add => match (&a, &b) {
                (V::Num(x), V::Num(y)) => V::Num(x + y),
                (V::Str(_), _) | (_, V::Str(_)) => {
                    // Concatenation keeps the spans.
                    let mut t = self.to_tstr(&a, pos)?;
                    let u = self.to_tstr(&b, pos)?;
                    self.check_len(t.plain_len() + u.plain_len(), t.spans() + u.spans(), pos)?;
                    self.charge(weight(&V::Str(t.clone())) + weight(&V::Str(u.clone())), pos)?;
                    t.push(&u);
                    V::Str(t)
                }
                _ if tainted.is_some() => {
                    return self.tainted(
                        tainted.unwrap_or(&a),
                        "cannot compute with '+' (only join it to a string)",
                        pos,
                    )
                }
                _ => {
                    return fail(
                        Code::TypeError,
                        format!("cannot add {} and {}", a.type_name(), b.type_name()),
                        pos,
                    )
                }
            },
            BinOp::Sub => match (&a, &b) {
                (V::Num(x), V::Num(y)) => V::Num(x - y),
                _ if tainted.is_some() => {
                    return self.tainted(tainted.unwrap_or(&a), "cannot compute with '-'", pos)
                }
                _ => {
                    return fail(
                        Code::TypeError,
                        format!("cannot subtract {} from {}", b.type_name(), a.type_name()),
                        pos,
                    )
                }
            },
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                if let Some(t) = tainted {
                    return self.tainted(t, &format!("cannot compare with '{sym}'"), pos);
                }
                let ord = match (&a, &b) {
                    (V::Num(x), V::Num(y)) => x.partial_cmp(y),
                    (V::Str(x), V::Str(y)) => x.as_plain().partial_cmp(&y.as_plain()),
                    _ => {
                        return fail(
                            Code::TypeError,
                            format!("cannot compare {} with {}", a.type_name(), b.type_name()),
                            pos,
                        )
                    }
                };
                let Some(ord) = ord else {
                    return Ok(V::Bool(false));
                };
                V::Bool(match op {
                    BinOp::Lt => ord.is_lt(),
                    BinOp::Gt => ord.is_gt(),
                    BinOp::Le => ord.is_le(),
                    _ => ord.is_ge(),
                })
            }
            BinOp::And | BinOp::Or => unreachable!("short-circuited in eval"),
        })
    }

    /// A plain string argument (a name, a level, a method), or why not.
    fn plain_arg<'v>(&self, v: &'v V, what: &str, pos: Pos) -> Res<Option<&'v str>> {
        if v.is_tainted() {
            return self.tainted(v, &format!("{what} cannot come from a secret"), pos);
        }
        Ok(match v {
            V::Str(t) => t.as_plain(),
            _ => None,
        })
    }

    async fn call(&mut self, f: Builtin, mut args: Vec<V>, pos: Pos) -> Res<V> {
        args.resize(f.arity().1, V::Null);
        match f {
            Builtin::Log => {
                let level = match self.plain_arg(&args[0], "Log's level", pos)? {
                    Some(l) if LEVELS.contains(&l) => l.to_owned(),
                    _ => return fail(
                        Code::InvalidLevel,
                        "Log's level must be \"Debug\", \"Information\", \"Warning\" or \"Error\"",
                        pos,
                    ),
                };
                let msg = self.display(&args[1], pos)?;
                self.log(&level, msg, pos)?;
                Ok(V::Null)
            }
            Builtin::CancelAction => {
                let msg = match &args[0] {
                    V::Null => "cancelled by the script".to_owned(),
                    v => self.display(v, pos)?,
                };
                Err(Stop::Cancelled(msg))
            }
            Builtin::GetSecret => {
                let name = match self.plain_arg(&args[0], "GetSecret's name", pos)? {
                    Some(n) => n.to_owned(),
                    None => {
                        return fail(
                            Code::TypeError,
                            format!(
                                "GetSecret's name must be a string, not {}",
                                args[0].type_name()
                            ),
                            pos,
                        )
                    }
                };
                match self.host.get_secret(&name).await {
                    Ok(None) => Ok(V::Null),
                    Ok(Some(hs)) => {
                        self.remember(&name, hs.value.clone());
                        let v = self.mark_secret(&name, hs.value, hs.reference);
                        self.charge(SECRET_WEIGHT + weight(&v), pos)?;
                        Ok(v)
                    }
                    Err(e) => {
                        let m = format!("GetSecret('{name}') failed: {}: {}", e.code, e.message);
                        self.log("Warning", m, pos)?;
                        Ok(V::Null)
                    }
                }
            }
            Builtin::SetSecret => self.set_secret(args, pos).await,
            Builtin::InvokeRestMethod => self.invoke(args, pos).await,
        }
    }

    /// `SetSecret(name, value, description)`. The value goes to the host the way a
    /// request body goes to the executor: every secret span becomes its reference,
    /// which the service resolves (this run's only) and whose guard the stored
    /// secret inherits (strictest visibility, intersection of allowed_hosts). The
    /// run never hands the service a secret's plaintext to store.
    async fn set_secret(&mut self, args: Vec<V>, pos: Pos) -> Res<V> {
        let name = match self.plain_arg(&args[0], "SetSecret's name", pos)? {
            Some(n) => n.to_owned(),
            None => {
                let why = format!("the name must be a string, not {}", args[0].type_name());
                self.log("Warning", format!("SetSecret failed: {why}"), pos)?;
                return Ok(V::Bool(false));
            }
        };
        if matches!(args[1], V::Null) {
            self.log(
                "Warning",
                format!("SetSecret('{name}') failed: the value is null"),
                pos,
            )?;
            return Ok(V::Bool(false));
        }
        // The request sent and the copy remembered for masking.
        self.charge(2 * weight(&args[1]), pos)?;
        let value = self.egress_json(&args[1], pos).await?;
        let from_secret = args[1].is_tainted();
        // What the stored secret will hold, as the run knows it: masked from here on.
        let held = self.plaintext_json(&args[1]);
        let description = match &args[2] {
            V::Null => None,
            v => {
                let d = self.display(v, pos)?;
                Some(self.scrub(&d))
            }
        };
        let result = self
            .host
            .set_secret(&name, value, description.as_deref())
            .await;
        // Whatever the service said, the value is masked on the way out.
        self.remember(&name, held);
        match result {
            Ok(()) => Ok(V::Bool(true)),
            // A refusal of a value built from secrets may depend on that value (its
            // size once resolved, say): it ends the run, so a script learns at most
            // one such answer per run instead of searching with many calls.
            Err(e) if from_secret => {
                let m = format!("SetSecret('{name}') failed: {}", e.message);
                let m = self.scrub(&m);
                fail(e.code, m, pos)
            }
            Err(e) => {
                let m = format!("SetSecret('{name}') failed: {}: {}", e.code, e.message);
                self.log("Warning", m, pos)?;
                Ok(V::Bool(false))
            }
        }
    }

    async fn invoke(&mut self, args: Vec<V>, pos: Pos) -> Res<V> {
        self.calls += 1;
        if self.calls > self.limits.max_calls {
            return fail(
                Code::LimitCalls,
                format!(
                    "the script made more than {} outbound calls",
                    self.limits.max_calls
                ),
                pos,
            );
        }
        let url = match &args[0] {
            V::Str(t) => self.for_egress(t, pos).await?,
            other if other.is_tainted() => {
                return self.tainted(other, "InvokeRestMethod's url must be a string", pos)
            }
            other => {
                return fail(
                    Code::TypeError,
                    format!(
                        "InvokeRestMethod's url must be a string, not {}",
                        other.type_name()
                    ),
                    pos,
                )
            }
        };
        let method = match &args[1] {
            V::Null => "GET".to_owned(),
            v => match self.plain_arg(v, "InvokeRestMethod's method", pos)? {
                Some(m) => m.to_owned(),
                None => {
                    return fail(
                        Code::TypeError,
                        format!(
                            "InvokeRestMethod's method must be a string, not {}",
                            v.type_name()
                        ),
                        pos,
                    )
                }
            },
        };
        let mut headers = Map::new();
        match &args[2] {
            V::Null => {}
            V::Obj(o) => {
                for (k, v) in o {
                    let text = match v {
                        V::Null => continue,
                        V::Str(t) => self.for_egress(t, pos).await?,
                        V::Secret(src) => self.reference_of(*src, pos).await?,
                        V::Num(n) => fmt_num(*n),
                        V::Bool(b) => b.to_string(),
                        other => {
                            return fail(
                                Code::TypeError,
                                format!("header '{k}' must be a string, not {}", other.type_name()),
                                pos,
                            )
                        }
                    };
                    headers.insert(k.clone(), Value::String(text));
                }
            }
            other if other.is_tainted() => {
                return self.tainted(other, "InvokeRestMethod's headers must be an object", pos)
            }
            other => {
                return fail(
                    Code::TypeError,
                    format!(
                        "InvokeRestMethod's headers must be an object, not {}",
                        other.type_name()
                    ),
                    pos,
                )
            }
        }
        let mut req = Map::new();
        req.insert("url".into(), Value::String(url));
        req.insert("method".into(), Value::String(method));
        req.insert("headers".into(), Value::Object(headers));
        self.charge(weight(&args[3]), pos)?;
        let body = args[3].clone();
        if !matches!(body, V::Null) {
            let b = self.egress_json(&body, pos).await?;
            req.insert("body".into(), b);
        }
        match self.host.fetch(Value::Object(req)).await {
            Ok(resp) => {
                let status = resp
                    .get("status")
                    .and_then(Value::as_f64)
                    .map(V::Num)
                    .unwrap_or(V::Null);
                let mut resp = resp;
                let content =
                    V::from_json(resp.get_mut("body").map(Value::take).unwrap_or(Value::Null));
                let headers = V::from_json(
                    resp.get_mut("headers")
                        .map(Value::take)
                        .unwrap_or(Value::Null),
                );
                let v = V::Obj(vec![
                    ("statusCode".into(), status),
                    ("content".into(), content),
                    ("headers".into(), headers),
                ]);
                self.charge(weight(&v), pos)?;
                Ok(v)
            }
            Err(e) => {
                let msg = format!("InvokeRestMethod failed: {}", e.message);
                let msg = self.scrub(&msg);
                fail(e.code, msg, pos)
            }
        }
    }
}
