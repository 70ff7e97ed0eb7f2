//! The interpreter: values with taint marks, builtins over a [`ScriptHost`],
//! limits, and redaction of everything that leaves the run.

use super::host::ScriptHost;
use super::parse::{parse, BinOp, Builtin, Expr, ExprKind, Pos, Stmt, UnOp};
use super::{LogLine, ScriptError, ScriptRun};
use lockbox_redact::{Options, Redactor};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Caps on one run. Exceeding one ends the run `failed` with a `limit_*` code.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Statements plus expression nodes evaluated (`limit_steps`).
    pub max_steps: u64,
    /// Wall clock for the whole run, outbound calls included (`limit_time`).
    pub timeout: Duration,
    /// Longest string a script may build, in bytes (`limit_string`).
    pub max_string_bytes: usize,
    /// Most entries in one object or array (`limit_size`).
    pub max_items: usize,
    /// Most `InvokeRestMethod` calls (`limit_calls`).
    pub max_calls: usize,
    /// Most log lines (`limit_logs`).
    pub max_logs: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_steps: 100_000,
            timeout: Duration::from_secs(60),
            max_string_bytes: 1 << 20,
            max_items: 10_000,
            max_calls: 32,
            max_logs: 1_000,
        }
    }
}

/// A span of a string that came from a secret (`src` indexes `Interp::sources`).
#[derive(Debug, Clone, Copy)]
struct Mark {
    start: usize,
    end: usize,
    src: usize,
}

#[derive(Debug, Clone, Default)]
struct TStr {
    s: String,
    marks: Vec<Mark>,
}

impl TStr {
    fn plain(s: impl Into<String>) -> TStr {
        TStr {
            s: s.into(),
            marks: Vec::new(),
        }
    }

    fn push(&mut self, other: &TStr) {
        let off = self.s.len();
        self.s.push_str(&other.s);
        self.marks.extend(other.marks.iter().map(|m| Mark {
            start: m.start + off,
            end: m.end + off,
            src: m.src,
        }));
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
        }
    }

    fn truthy(&self) -> bool {
        !matches!(self, V::Null | V::Bool(false))
    }

    fn is_marked(&self) -> bool {
        match self {
            V::Str(t) => !t.marks.is_empty(),
            V::Arr(a) => a.iter().any(V::is_marked),
            V::Obj(o) => o.iter().any(|(_, v)| v.is_marked()),
            _ => false,
        }
    }

    /// Plain JSON, marks dropped (for storage, never for display).
    fn to_json(&self) -> Value {
        match self {
            V::Null => Value::Null,
            V::Bool(b) => Value::Bool(*b),
            V::Num(n) => num_json(*n),
            V::Str(t) => Value::String(t.s.clone()),
            V::Arr(a) => Value::Array(a.iter().map(V::to_json).collect()),
            V::Obj(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
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

    fn deep_eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::Null, V::Null) => true,
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::Num(a), V::Num(b)) => a == b,
            (V::Str(a), V::Str(b)) => a.s == b.s,
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

/// Where a marked span came from.
struct Source {
    name: String,
    /// Top-level field of a JSON object secret.
    field: Option<String>,
    /// A reference to the version read (whole-value sources).
    reference: Option<String>,
    /// Nested deeper than one field: cannot be sent as a reference.
    nested: bool,
}

enum Stop {
    Cancelled(String),
    Failed(ScriptError),
}

type Res<T> = Result<T, Stop>;
type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn fail<T>(code: &str, message: impl Into<String>, pos: Pos) -> Res<T> {
    Err(Stop::Failed(ScriptError::new(code, message, pos)))
}

struct Interp<'h> {
    host: &'h dyn ScriptHost,
    limits: Limits,
    started: Instant,
    vars: HashMap<String, V>,
    sources: Vec<Source>,
    /// Every value the run read or wrote, by secret name.
    known: Vec<(String, Value)>,
    redactor: Option<Arc<Redactor>>,
    url_redactor: Option<Arc<Redactor>>,
    logs: Vec<LogLine>,
    steps: u64,
    calls: usize,
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
        url_redactor: None,
        logs: Vec::new(),
        steps: 0,
        calls: 0,
    };
    let data = V::Obj(vec![("Request".to_owned(), V::from_json(request))]);
    it.vars.insert("Data".to_owned(), data);
    let outcome = match tokio::time::timeout(timeout, it.block(&program.body)).await {
        Ok(r) => r,
        Err(_) => Err(Stop::Failed(ScriptError::new(
            "limit_time",
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

impl<'h> Interp<'h> {
    fn tick(&mut self, pos: Pos) -> Res<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return fail(
                "limit_steps",
                format!(
                    "the script exceeded its budget of {} steps",
                    self.limits.max_steps
                ),
                pos,
            );
        }
        if self.steps.is_multiple_of(1024) && self.started.elapsed() > self.limits.timeout {
            return fail(
                "limit_time",
                format!(
                    "the script ran longer than {} ms",
                    self.limits.timeout.as_millis()
                ),
                pos,
            );
        }
        Ok(())
    }

    fn check_str(&self, t: &TStr, pos: Pos) -> Res<()> {
        if t.s.len() > self.limits.max_string_bytes {
            return fail(
                "limit_string",
                format!("a string grew past {} bytes", self.limits.max_string_bytes),
                pos,
            );
        }
        Ok(())
    }

    fn check_items(&self, n: usize, pos: Pos) -> Res<()> {
        if n > self.limits.max_items {
            return fail(
                "limit_size",
                format!(
                    "an object or array grew past {} entries",
                    self.limits.max_items
                ),
                pos,
            );
        }
        Ok(())
    }

    fn remember(&mut self, name: &str, value: Value) {
        self.known.push((name.to_owned(), value));
        self.redactor = None;
    }

    /// Local redactor over every value read or written; plain text in, masked out.
    fn scrub(&mut self, text: &str) -> String {
        if self.known.is_empty() {
            return text.to_owned();
        }
        if self.redactor.is_none() {
            let refs: Vec<(&str, &Value)> =
                self.known.iter().map(|(n, v)| (n.as_str(), v)).collect();
            let base = Redactor::with_json(&refs, Options::default());
            // The forms a value takes once the script has pasted it raw into a URL
            // (the `url` crate escapes only what it must: a space, quotes, `<`, `>`).
            let mut extra: Vec<(String, String)> = Vec::new();
            for (name, v) in &self.known {
                let mut leaves = Vec::new();
                string_leaves(v, &mut leaves);
                for s in leaves {
                    for form in url_forms(s) {
                        if form != s {
                            extra.push((name.clone(), form));
                        }
                    }
                }
            }
            let extra: Vec<(&str, &[u8])> = extra
                .iter()
                .map(|(n, f)| (n.as_str(), f.as_bytes()))
                .collect();
            let more = Redactor::new(&extra, Options::default());
            self.redactor = Some(Arc::new(base));
            self.url_redactor = Some(Arc::new(more));
        }
        let once = match &self.redactor {
            Some(r) => r.redact_str(text).into_owned(),
            None => text.to_owned(),
        };
        match &self.url_redactor {
            Some(r) => r.redact_str(&once).into_owned(),
            None => once,
        }
    }

    /// Text for display: marked spans become `[REDACTED:<name>]`.
    fn unmarked(&self, t: &TStr) -> String {
        let mut marks = t.marks.clone();
        marks.sort_by_key(|m| m.start);
        let mut out = String::with_capacity(t.s.len());
        let mut at = 0;
        for m in marks {
            if m.start < at {
                continue;
            }
            out.push_str(&t.s[at..m.start]);
            out.push_str("[REDACTED:");
            out.push_str(&self.sources[m.src].name);
            out.push(']');
            at = m.end;
        }
        out.push_str(&t.s[at..]);
        out
    }

    /// A value as text, keeping marks (for concatenation).
    fn to_tstr(&self, v: &V, pos: Pos) -> Res<TStr> {
        let mut out = TStr::default();
        self.write_tstr(v, &mut out, false, pos)?;
        Ok(out)
    }

    fn write_tstr(&self, v: &V, out: &mut TStr, nested: bool, pos: Pos) -> Res<()> {
        match v {
            V::Null => out.s.push_str("null"),
            V::Bool(b) => out.s.push_str(if *b { "true" } else { "false" }),
            V::Num(n) => out.s.push_str(&fmt_num(*n)),
            V::Str(t) if !nested => out.push(t),
            V::Str(t) => {
                let quoted = serde_json::to_string(&t.s).unwrap_or_default();
                let start = out.s.len();
                out.s.push_str(&quoted);
                if let Some(m) = t.marks.first() {
                    out.marks.push(Mark {
                        start,
                        end: out.s.len(),
                        src: m.src,
                    });
                }
            }
            V::Arr(a) => {
                out.s.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.s.push(',');
                    }
                    self.write_tstr(x, out, true, pos)?;
                    self.check_str(out, pos)?;
                }
                out.s.push(']');
            }
            V::Obj(o) => {
                out.s.push('{');
                for (i, (k, x)) in o.iter().enumerate() {
                    if i > 0 {
                        out.s.push(',');
                    }
                    out.s
                        .push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.s.push(':');
                    self.write_tstr(x, out, true, pos)?;
                    self.check_str(out, pos)?;
                }
                out.s.push('}');
            }
        }
        self.check_str(out, pos)
    }

    /// A value as display text: marks replaced, then scrubbed.
    fn display(&mut self, v: &V, pos: Pos) -> Res<String> {
        let t = self.to_tstr(v, pos)?;
        let text = self.unmarked(&t);
        Ok(self.scrub(&text))
    }

    /// A string for the egress executor: marked spans become references.
    async fn for_egress(&mut self, t: &TStr, pos: Pos) -> Res<String> {
        let mut marks = t.marks.clone();
        marks.sort_by_key(|m| m.start);
        let mut out = String::with_capacity(t.s.len());
        let mut at = 0;
        for m in marks {
            if m.start < at {
                continue;
            }
            let follows = t.s[m.end..].chars().next();
            if follows.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return fail(
                    "secret_placement",
                    format!(
                        "a value of secret '{}' is directly followed by a letter, digit, '-' or \
                         '_'; put a separator after it",
                        self.sources[m.src].name
                    ),
                    pos,
                );
            }
            let reference = self.reference_of(m.src, pos).await?;
            out.push_str(&t.s[at..m.start]);
            out.push_str(&reference);
            at = m.end;
        }
        out.push_str(&t.s[at..]);
        Ok(out)
    }

    async fn reference_of(&mut self, src: usize, pos: Pos) -> Res<String> {
        let s = &self.sources[src];
        if let Some(r) = &s.reference {
            return Ok(r.clone());
        }
        if s.nested {
            return fail(
                "secret_placement",
                format!(
                    "only a whole secret or one top-level field of '{}' can be sent",
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
                fail(&e.code, msg, pos)
            }
        }
    }

    fn egress_json<'a>(&'a mut self, v: &'a V, pos: Pos) -> BoxFut<'a, Res<Value>> {
        Box::pin(async move {
            Ok(match v {
                V::Str(t) => Value::String(self.for_egress(t, pos).await?),
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
                other => other.to_json(),
            })
        })
    }

    /// Marks a value read from secret `name`.
    fn mark_secret(&mut self, name: &str, value: Value, reference: String) -> V {
        let whole = self.sources.len();
        self.sources.push(Source {
            name: name.to_owned(),
            field: None,
            reference: Some(reference),
            nested: false,
        });
        match value {
            Value::String(s) => V::Str(TStr {
                marks: vec![Mark {
                    start: 0,
                    end: s.len(),
                    src: whole,
                }],
                s,
            }),
            Value::Object(o) => {
                let mut out = Vec::with_capacity(o.len());
                for (k, v) in o {
                    let src = self.sources.len();
                    self.sources.push(Source {
                        name: name.to_owned(),
                        field: Some(k.clone()),
                        reference: None,
                        nested: false,
                    });
                    let v = self.mark_leaves(v, src, name);
                    out.push((k, v));
                }
                V::Obj(out)
            }
            other => {
                let src = self.sources.len();
                self.sources.push(Source {
                    name: name.to_owned(),
                    field: None,
                    reference: None,
                    nested: true,
                });
                self.mark_leaves(other, src, name)
            }
        }
    }

    /// Marks every string leaf; the top level with `src`, deeper ones as nested.
    fn mark_leaves(&mut self, v: Value, src: usize, name: &str) -> V {
        match v {
            Value::String(s) => V::Str(TStr {
                marks: vec![Mark {
                    start: 0,
                    end: s.len(),
                    src,
                }],
                s,
            }),
            Value::Array(a) => {
                let nested = self.nested_source(name);
                V::Arr(
                    a.into_iter()
                        .map(|x| self.mark_leaves(x, nested, name))
                        .collect(),
                )
            }
            Value::Object(o) => {
                let nested = self.nested_source(name);
                V::Obj(
                    o.into_iter()
                        .map(|(k, x)| (k, self.mark_leaves(x, nested, name)))
                        .collect(),
                )
            }
            other => V::from_json(other),
        }
    }

    fn nested_source(&mut self, name: &str) -> usize {
        self.sources.push(Source {
            name: name.to_owned(),
            field: None,
            reference: None,
            nested: true,
        });
        self.sources.len() - 1
    }

    fn log(&mut self, level: &str, message: String, pos: Pos) -> Res<()> {
        if self.logs.len() >= self.limits.max_logs {
            return fail(
                "limit_logs",
                format!(
                    "the script wrote more than {} log lines",
                    self.limits.max_logs
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
                        "undefined_variable",
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
                if c.truthy() {
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
                ExprKind::Str(s) => V::Str(TStr::plain(s.clone())),
                ExprKind::Var(name) => match self.vars.get(name) {
                    Some(v) => v.clone(),
                    None => {
                        return fail(
                            "undefined_variable",
                            format!("'{name}' is not declared"),
                            pos,
                        )
                    }
                },
                ExprKind::Object(fields) => {
                    self.check_items(fields.len(), pos)?;
                    let mut out = Vec::with_capacity(fields.len());
                    for (k, x) in fields {
                        out.push((k.clone(), self.eval(x).await?));
                    }
                    V::Obj(out)
                }
                ExprKind::Array(items) => {
                    self.check_items(items.len(), pos)?;
                    let mut out = Vec::with_capacity(items.len());
                    for x in items {
                        out.push(self.eval(x).await?);
                    }
                    V::Arr(out)
                }
                ExprKind::Member(obj, name) => {
                    let o = self.eval(obj).await?;
                    member(&o, name, pos)?
                }
                ExprKind::Index(obj, idx) => {
                    let o = self.eval(obj).await?;
                    let i = self.eval(idx).await?;
                    match (&o, &i) {
                        (V::Null, _) => V::Null,
                        (V::Arr(a), V::Num(n)) => {
                            if *n >= 0.0 && n.fract() == 0.0 {
                                a.get(*n as usize).cloned().unwrap_or(V::Null)
                            } else {
                                V::Null
                            }
                        }
                        (V::Obj(_), V::Str(k)) => member(&o, &k.s, pos)?,
                        _ => {
                            return fail(
                                "type_error",
                                format!("cannot index {} with {}", o.type_name(), i.type_name()),
                                pos,
                            )
                        }
                    }
                }
                ExprKind::Unary(UnOp::Not, x) => V::Bool(!self.eval(x).await?.truthy()),
                ExprKind::Unary(UnOp::Neg, x) => match self.eval(x).await? {
                    V::Num(n) => V::Num(-n),
                    other => {
                        return fail(
                            "type_error",
                            format!("cannot negate {}", other.type_name()),
                            pos,
                        )
                    }
                },
                ExprKind::Binary(BinOp::And, a, b) => {
                    let a = self.eval(a).await?;
                    if !a.truthy() {
                        V::Bool(false)
                    } else {
                        V::Bool(self.eval(b).await?.truthy())
                    }
                }
                ExprKind::Binary(BinOp::Or, a, b) => {
                    let a = self.eval(a).await?;
                    if a.truthy() {
                        V::Bool(true)
                    } else {
                        V::Bool(self.eval(b).await?.truthy())
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

    fn binary(&mut self, op: BinOp, a: V, b: V, pos: Pos) -> Res<V> {
        Ok(match op {
            BinOp::Eq => V::Bool(a.deep_eq(&b)),
            BinOp::Ne => V::Bool(!a.deep_eq(&b)),
            BinOp::Add => match (&a, &b) {
                (V::Num(x), V::Num(y)) => V::Num(x + y),
                (V::Str(_), _) | (_, V::Str(_)) => {
                    let mut t = self.to_tstr(&a, pos)?;
                    let u = self.to_tstr(&b, pos)?;
                    if t.s.len() + u.s.len() > self.limits.max_string_bytes {
                        return fail(
                            "limit_string",
                            format!("a string grew past {} bytes", self.limits.max_string_bytes),
                            pos,
                        );
                    }
                    t.push(&u);
                    V::Str(t)
                }
                _ => {
                    return fail(
                        "type_error",
                        format!("cannot add {} and {}", a.type_name(), b.type_name()),
                        pos,
                    )
                }
            },
            BinOp::Sub => match (&a, &b) {
                (V::Num(x), V::Num(y)) => V::Num(x - y),
                _ => {
                    return fail(
                        "type_error",
                        format!("cannot subtract {} from {}", b.type_name(), a.type_name()),
                        pos,
                    )
                }
            },
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                let ord = match (&a, &b) {
                    (V::Num(x), V::Num(y)) => x.partial_cmp(y),
                    (V::Str(x), V::Str(y)) => Some(x.s.cmp(&y.s)),
                    _ => {
                        return fail(
                            "type_error",
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

    async fn call(&mut self, f: Builtin, mut args: Vec<V>, pos: Pos) -> Res<V> {
        args.resize(f.arity().1, V::Null);
        match f {
            Builtin::Log => {
                let level = match &args[0] {
                    V::Str(t) if t.marks.is_empty() && LEVELS.contains(&t.s.as_str()) => {
                        t.s.clone()
                    }
                    _ => return fail(
                        "invalid_level",
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
                let name = match &args[0] {
                    V::Str(t) if t.marks.is_empty() => t.s.clone(),
                    other => {
                        return fail(
                            "type_error",
                            format!(
                                "GetSecret's name must be a plain string, not {}",
                                if other.is_marked() {
                                    "a secret's value"
                                } else {
                                    other.type_name()
                                }
                            ),
                            pos,
                        )
                    }
                };
                match self.host.get_secret(&name).await {
                    Ok(None) => Ok(V::Null),
                    Ok(Some(hs)) => {
                        self.remember(&name, hs.value.clone());
                        Ok(self.mark_secret(&name, hs.value, hs.reference))
                    }
                    Err(e) => {
                        let m = format!("GetSecret('{name}') failed: {}: {}", e.code, e.message);
                        self.log("Warning", m, pos)?;
                        Ok(V::Null)
                    }
                }
            }
            Builtin::SetSecret => {
                let name = match &args[0] {
                    V::Str(t) if t.marks.is_empty() => t.s.clone(),
                    other => {
                        let why = if other.is_marked() {
                            "the name must not come from a secret's value".to_owned()
                        } else {
                            format!("the name must be a string, not {}", other.type_name())
                        };
                        self.log("Warning", format!("SetSecret failed: {why}"), pos)?;
                        return Ok(V::Bool(false));
                    }
                };
                let value = match &args[1] {
                    V::Null => {
                        self.log(
                            "Warning",
                            format!("SetSecret('{name}') failed: the value is null"),
                            pos,
                        )?;
                        return Ok(V::Bool(false));
                    }
                    v => v.to_json(),
                };
                let description = match &args[2] {
                    V::Null => None,
                    v => Some(self.display(v, pos)?),
                };
                match self
                    .host
                    .set_secret(&name, value.clone(), description.as_deref())
                    .await
                {
                    Ok(()) => {
                        self.remember(&name, value);
                        Ok(V::Bool(true))
                    }
                    Err(e) => {
                        // Whatever the service said, the value is masked on the way out.
                        self.remember(&name, value);
                        let m = format!("SetSecret('{name}') failed: {}: {}", e.code, e.message);
                        self.log("Warning", m, pos)?;
                        Ok(V::Bool(false))
                    }
                }
            }
            Builtin::InvokeRestMethod => self.invoke(args, pos).await,
        }
    }

    async fn invoke(&mut self, args: Vec<V>, pos: Pos) -> Res<V> {
        self.calls += 1;
        if self.calls > self.limits.max_calls {
            return fail(
                "limit_calls",
                format!(
                    "the script made more than {} outbound calls",
                    self.limits.max_calls
                ),
                pos,
            );
        }
        let url = match &args[0] {
            V::Str(t) => self.for_egress(t, pos).await?,
            other => {
                return fail(
                    "type_error",
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
            V::Str(t) if t.marks.is_empty() => t.s.clone(),
            other => {
                return fail(
                    "type_error",
                    format!(
                        "InvokeRestMethod's method must be a string, not {}",
                        other.type_name()
                    ),
                    pos,
                )
            }
        };
        let mut headers = Map::new();
        match &args[2] {
            V::Null => {}
            V::Obj(o) => {
                for (k, v) in o {
                    let text = match v {
                        V::Null => continue,
                        V::Str(t) => self.for_egress(t, pos).await?,
                        V::Num(n) => fmt_num(*n),
                        V::Bool(b) => b.to_string(),
                        other => {
                            return fail(
                                "type_error",
                                format!("header '{k}' must be a string, not {}", other.type_name()),
                                pos,
                            )
                        }
                    };
                    headers.insert(k.clone(), Value::String(text));
                }
            }
            other => {
                return fail(
                    "type_error",
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
                Ok(V::Obj(vec![
                    ("statusCode".into(), status),
                    ("content".into(), content),
                    ("headers".into(), headers),
                ]))
            }
            Err(e) => {
                let msg = format!("InvokeRestMethod failed: {}", e.message);
                let msg = self.scrub(&msg);
                fail(&e.code, msg, pos)
            }
        }
    }
}

fn string_leaves<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| string_leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| string_leaves(x, out)),
        _ => {}
    }
}

/// How `url` writes `s` into a query and into a path.
fn url_forms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(u) = url::Url::parse(&format!("http://h/?{s}")) {
        if let Some(q) = u.query() {
            out.push(q.to_owned());
        }
    }
    if let Ok(u) = url::Url::parse(&format!("http://h/{s}")) {
        if let Some(p) = u.path().strip_prefix('/') {
            out.push(p.to_owned());
        }
    }
    out
}

fn member(o: &V, name: &str, pos: Pos) -> Res<V> {
    match o {
        V::Null => Ok(V::Null),
        V::Obj(fields) => Ok(fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(V::Null)),
        V::Arr(a) if name == "length" || name == "Count" => Ok(V::Num(a.len() as f64)),
        other => fail(
            "type_error",
            format!("cannot read member '{name}' of {}", other.type_name()),
            pos,
        ),
    }
}
