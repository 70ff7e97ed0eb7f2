//! The flow model (seed 001's YAML) and its parser: untrusted text in, a typed
//! [`Flow`] out, or a [`FlowError`] naming the line, column and path of the problem.
//!
//! A document is either a mapping (`slug`, `name`, `do`, `output`) or a bare list of
//! instructions (seed 001's snippets), which is read as `do:`. Instructions are
//! `run` (module `secrets`, functions `set|get|delete`), `fetch`, `emit` and
//! `conditions`; anything else, a missing required field, an unknown field or a bad
//! template is refused here, before anything runs. Errors never quote the document
//! (a flow may hold a literal value).

use crate::code::Code;
use crate::template::{Template, TemplateError};
use crate::yaml::{self, Kind, Node, Pos};
use lockbox_core::ErrorCode;
use serde::Serialize;
use std::fmt;

/// Why a flow was refused or stopped. `code` is `invalid` for anything the parser
/// or [`crate::validate`] refuses; at run time it is the failing step's error code
/// (`not_found`, `user_required`, `egress_denied`, `http_error`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowError {
    pub code: Code,
    pub message: String,
    /// 1-based; `None` when the problem has no place in the document.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// Where in the flow: `do[2].fetch.headers.Authorization`, `output`, ….
    pub path: String,
}

impl FlowError {
    pub fn invalid(pos: Pos, path: impl Into<String>, message: impl Into<String>) -> FlowError {
        FlowError::at(Code::Lockbox(ErrorCode::Invalid), pos, path, message)
    }

    pub fn at(
        code: Code,
        pos: Pos,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> FlowError {
        FlowError {
            code,
            message: message.into(),
            line: (pos.line > 0).then_some(pos.line),
            column: (pos.column > 0).then_some(pos.column),
            path: path.into(),
        }
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{} at {l}:{c}", self.code)?,
            (Some(l), None) => write!(f, "{} at line {l}", self.code)?,
            _ => write!(f, "{}", self.code)?,
        }
        if !self.path.is_empty() {
            write!(f, " ({})", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FlowError {}

/// A value from the document whose strings are templates.
#[derive(Debug, Clone)]
pub enum TValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Template, Pos),
    Array(Vec<TValue>),
    Object(Vec<(String, TValue)>),
}

impl TValue {
    /// The literal string, when this is a string without expressions.
    pub fn literal_str(&self) -> Option<String> {
        match self {
            TValue::Str(t, _) => t.literal_text(),
            _ => None,
        }
    }

    /// Every template string inside, with its path below `base`.
    pub fn strings<'a>(&'a self, base: &str, out: &mut Vec<(String, &'a Template, Pos)>) {
        match self {
            TValue::Str(t, p) => out.push((base.to_owned(), t, *p)),
            TValue::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    v.strings(&format!("{base}[{i}]"), out);
                }
            }
            TValue::Object(entries) => {
                for (k, v) in entries {
                    v.strings(&join_key(base, k), out);
                }
            }
            TValue::Null | TValue::Bool(_) | TValue::Number(_) => {}
        }
    }
}

/// `base.key`, or `base["key"]` when the key is not a plain name.
pub(crate) fn join_key(base: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    match (base.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{base}.{key}"),
        (_, false) => format!("{base}[{}]", serde_json::to_string(key).unwrap_or_default()),
    }
}

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Stop the flow with the step's error (the default).
    #[default]
    Fail,
    /// Store `{ "error": "<code>" }` in the step's output and go on.
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsFunction {
    Set,
    Get,
    Delete,
}

impl SecretsFunction {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretsFunction::Set => "set",
            SecretsFunction::Get => "get",
            SecretsFunction::Delete => "delete",
        }
    }
}

/// `run: { module: secrets, function, parameters, output, onError }`.
#[derive(Debug, Clone)]
pub struct RunStep {
    pub module: String,
    pub function: SecretsFunction,
    /// Parameter name → value, in document order.
    pub parameters: Vec<(String, TValue)>,
    pub output: Option<String>,
    pub on_error: OnError,
}

impl RunStep {
    pub fn param(&self, name: &str) -> Option<&TValue> {
        self.parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// `fetch: { url, method, headers, query, body, auth, timeout_ms, output, onError }`.
#[derive(Debug, Clone)]
pub struct FetchStep {
    /// The request fields (everything but `output` and `onError`), in document order.
    pub request: Vec<(String, TValue)>,
    pub output: Option<String>,
    pub on_error: OnError,
}

/// `emit: { event, payload }`.
#[derive(Debug, Clone)]
pub struct EmitStep {
    pub event: TValue,
    pub payload: TValue,
}

/// One `conditions` entry: a template (or `default`) and the steps it guards.
#[derive(Debug, Clone)]
pub struct Branch {
    /// `None` for the `default` key.
    pub condition: Option<Template>,
    pub pos: Pos,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub enum Instruction {
    Run(RunStep),
    Fetch(FetchStep),
    Emit(EmitStep),
    /// Branches in document order; the first truthy one runs, else `default`.
    Conditions(Vec<Branch>),
}

impl Instruction {
    pub fn name(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "run",
            Instruction::Fetch(_) => "fetch",
            Instruction::Emit(_) => "emit",
            Instruction::Conditions(_) => "conditions",
        }
    }
}

/// One entry of a `do:` list.
#[derive(Debug, Clone)]
pub struct Step {
    /// `do[2].fetch`, `do[1].conditions["{{result.error}}"][0].emit`.
    pub path: String,
    pub pos: Pos,
    pub instruction: Instruction,
}

/// A parsed flow.
#[derive(Debug, Clone)]
pub struct Flow {
    pub slug: Option<String>,
    pub name: Option<String>,
    /// The `do:` list.
    pub steps: Vec<Step>,
    /// The `output:` template, evaluated when the flow ends.
    pub output: Option<TValue>,
    pub output_pos: Pos,
}

/// Variable names the runtime reserves.
pub const RESERVED: [&str; 2] = ["config", "secret"];

impl Flow {
    /// Parses seed 001's YAML.
    pub fn from_yaml(text: &str) -> Result<Flow, FlowError> {
        let root = yaml::parse(text)
            .map_err(|e| FlowError::invalid(e.pos, "", format!("malformed YAML: {}", e.message)))?;
        match &root.kind {
            Kind::Seq(_) => Ok(Flow {
                slug: None,
                name: None,
                steps: steps(&root, "do")?,
                output: None,
                output_pos: Pos::default(),
            }),
            Kind::Map(entries) => {
                let mut flow = Flow {
                    slug: None,
                    name: None,
                    steps: Vec::new(),
                    output: None,
                    output_pos: Pos::default(),
                };
                let mut saw_do = false;
                for (k, v) in entries {
                    let key = key_str(k, "")?;
                    match key.as_str() {
                        "slug" => flow.slug = Some(plain_str(v, "slug")?),
                        "name" => flow.name = Some(plain_str(v, "name")?),
                        "description" => {
                            plain_str(v, "description")?;
                        }
                        "do" => {
                            saw_do = true;
                            flow.steps = steps(v, "do")?;
                        }
                        "output" => {
                            flow.output = Some(tvalue(v, "output")?);
                            flow.output_pos = v.pos;
                        }
                        other => {
                            return Err(FlowError::invalid(
                                k.pos,
                                join_key("", other),
                                format!(
                                    "unknown field '{}'; a flow has slug, name, description, do and output",
                                    short(other)
                                ),
                            ))
                        }
                    }
                }
                if !saw_do {
                    return Err(FlowError::invalid(
                        root.pos,
                        "",
                        "a flow needs a 'do:' list of instructions",
                    ));
                }
                Ok(flow)
            }
            Kind::Null => Err(FlowError::invalid(root.pos, "", "the document is empty")),
            other => Err(FlowError::invalid(
                root.pos,
                "",
                format!(
                    "a flow is a mapping with 'do:' or a list of instructions, not {}",
                    other.type_name()
                ),
            )),
        }
    }
}

/// Shortens a name for an error message.
fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(40).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

fn key_str(k: &Node, base: &str) -> Result<String, FlowError> {
    match &k.kind {
        Kind::Str(s) => Ok(s.clone()),
        Kind::Seq(_) | Kind::Map(_) => Err(FlowError::invalid(
            k.pos,
            base,
            "mapping keys must be strings",
        )),
        _ => Ok(k.key_text()),
    }
}

fn plain_str(v: &Node, path: &str) -> Result<String, FlowError> {
    match &v.kind {
        Kind::Str(s) => Ok(s.clone()),
        other => Err(FlowError::invalid(
            v.pos,
            path,
            format!("expected a string, found {}", other.type_name()),
        )),
    }
}

fn template(s: &str, pos: Pos, path: &str) -> Result<Template, FlowError> {
    Template::parse(s).map_err(|TemplateError { offset, message }| {
        FlowError::invalid(
            Pos {
                line: pos.line,
                column: pos.column.saturating_add(offset as u32),
            },
            path,
            format!("bad template: {message}"),
        )
    })
}

/// Converts a node into a template value (every string parsed as a template).
pub(crate) fn tvalue(v: &Node, path: &str) -> Result<TValue, FlowError> {
    Ok(match &v.kind {
        Kind::Null => TValue::Null,
        Kind::Bool(b) => TValue::Bool(*b),
        Kind::Number(n) => TValue::Number(n.clone()),
        Kind::Str(s) => TValue::Str(template(s, v.pos, path)?, v.pos),
        Kind::Seq(items) => TValue::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| tvalue(n, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Map(entries) => {
            let mut out: Vec<(String, TValue)> = Vec::with_capacity(entries.len());
            for (k, n) in entries {
                let key = key_str(k, path)?;
                let p = join_key(path, &key);
                if out.iter().any(|(e, _)| *e == key) {
                    return Err(FlowError::invalid(k.pos, p, "duplicate key"));
                }
                out.push((key, tvalue(n, &p)?));
            }
            TValue::Object(out)
        }
    })
}

fn steps(v: &Node, path: &str) -> Result<Vec<Step>, FlowError> {
    let Kind::Seq(items) = &v.kind else {
        return Err(FlowError::invalid(
            v.pos,
            path,
            format!(
                "expected a list of instructions, found {}",
                v.kind.type_name()
            ),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, n)| step(n, &format!("{path}[{i}]")))
        .collect()
}

const INSTRUCTIONS: &str = "run, fetch, emit or conditions";

fn step(n: &Node, path: &str) -> Result<Step, FlowError> {
    let Kind::Map(entries) = &n.kind else {
        return Err(FlowError::invalid(
            n.pos,
            path,
            format!(
                "an instruction is a mapping ({INSTRUCTIONS}), not {}",
                n.kind.type_name()
            ),
        ));
    };
    let (k, body) = match entries.as_slice() {
        [one] => one,
        [] => {
            return Err(FlowError::invalid(
                n.pos,
                path,
                format!("empty instruction; expected {INSTRUCTIONS}"),
            ))
        }
        [_, (k2, _), ..] => {
            return Err(FlowError::invalid(
                k2.pos,
                path,
                "a list entry holds exactly one instruction (put output and onError inside it)",
            ))
        }
    };
    let name = key_str(k, path)?;
    let ipath = join_key(path, &name);
    let instruction = match name.as_str() {
        "run" => Instruction::Run(run_step(body, &ipath)?),
        "fetch" => Instruction::Fetch(fetch_step(body, &ipath)?),
        "emit" => Instruction::Emit(emit_step(body, &ipath)?),
        "conditions" => Instruction::Conditions(conditions(body, &ipath)?),
        other => {
            return Err(FlowError::invalid(
                k.pos,
                ipath,
                format!(
                    "unknown instruction '{}'; expected {INSTRUCTIONS}",
                    short(other)
                ),
            ))
        }
    };
    Ok(Step {
        path: ipath,
        pos: k.pos,
        instruction,
    })
}

fn fields<'n>(body: &'n Node, path: &str, what: &str) -> Result<&'n [(Node, Node)], FlowError> {
    match &body.kind {
        Kind::Map(entries) => Ok(entries),
        other => Err(FlowError::invalid(
            body.pos,
            path,
            format!("'{what}' takes a mapping, not {}", other.type_name()),
        )),
    }
}

fn unknown_field(k: &Node, path: &str, key: &str, allowed: &str) -> FlowError {
    FlowError::invalid(
        k.pos,
        join_key(path, key),
        format!("unknown field '{}'; expected {allowed}", short(key)),
    )
}

fn output_name(v: &Node, path: &str) -> Result<String, FlowError> {
    let s = plain_str(v, path)?;
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$');
    if !ok {
        return Err(FlowError::invalid(
            v.pos,
            path,
            "an output name is letters, digits, '_', '-' or '$'",
        ));
    }
    if RESERVED.contains(&s.as_str()) {
        return Err(FlowError::invalid(
            v.pos,
            path,
            format!("'{s}' is reserved; choose another output name"),
        ));
    }
    Ok(s)
}

fn on_error(v: &Node, path: &str) -> Result<OnError, FlowError> {
    match plain_str(v, path)?.as_str() {
        "continue" => Ok(OnError::Continue),
        "fail" => Ok(OnError::Fail),
        _ => Err(FlowError::invalid(
            v.pos,
            path,
            "onError is 'continue' or 'fail'",
        )),
    }
}

fn missing(body: &Node, path: &str, field: &str) -> FlowError {
    FlowError::invalid(
        body.pos,
        join_key(path, field),
        format!("missing required field '{field}'"),
    )
}

fn run_step(body: &Node, path: &str) -> Result<RunStep, FlowError> {
    let entries = fields(body, path, "run")?;
    let mut module = None;
    let mut function = None;
    let mut parameters = None;
    let mut output = None;
    let mut on_err = OnError::Fail;
    for (k, v) in entries {
        let key = key_str(k, path)?;
        let p = join_key(path, &key);
        match key.as_str() {
            "module" => {
                let m = plain_str(v, &p)?;
                if m != "secrets" {
                    return Err(FlowError::invalid(
                        v.pos,
                        p,
                        format!("unknown module '{}'; Lockbox provides 'secrets'", short(&m)),
                    ));
                }
                module = Some(m);
            }
            "function" => function = Some((plain_str(v, &p)?, v.pos, p)),
            "parameters" => parameters = Some((v, p)),
            "output" => output = Some(output_name(v, &p)?),
            "onError" => on_err = on_error(v, &p)?,
            other => {
                return Err(unknown_field(
                    k,
                    path,
                    other,
                    "module, function, parameters, output or onError",
                ))
            }
        }
    }
    let module = module.ok_or_else(|| missing(body, path, "module"))?;
    let (fname, fpos, fpath) = function.ok_or_else(|| missing(body, path, "function"))?;
    let function = match fname.as_str() {
        "set" => SecretsFunction::Set,
        "get" => SecretsFunction::Get,
        "delete" => SecretsFunction::Delete,
        other => {
            return Err(FlowError::invalid(
                fpos,
                fpath,
                format!(
                    "unknown function '{}' of module secrets; expected set, get or delete",
                    short(other)
                ),
            ))
        }
    };
    let (required, optional): (&[&str], &[&str]) = match function {
        SecretsFunction::Set => (&["name", "value", "scope"], &["ttl"]),
        SecretsFunction::Get => (&["name", "scope"], &["field"]),
        SecretsFunction::Delete => (&["name", "scope"], &[]),
    };
    let (pnode, ppath) = parameters.ok_or_else(|| missing(body, path, "parameters"))?;
    let pentries = fields(pnode, &ppath, "parameters")?;
    let mut params: Vec<(String, TValue)> = Vec::new();
    for (k, v) in pentries {
        let key = key_str(k, &ppath)?;
        let p = join_key(&ppath, &key);
        if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
            let mut all: Vec<&str> = required.to_vec();
            all.extend_from_slice(optional);
            return Err(FlowError::invalid(
                k.pos,
                p,
                format!(
                    "unknown parameter '{}' of secrets.{}; expected {}",
                    short(&key),
                    function.as_str(),
                    all.join(", ")
                ),
            ));
        }
        let tv = tvalue(v, &p)?;
        // Literal checks now; templated values are checked when they are known.
        match key.as_str() {
            "name" | "field" if !matches!(tv, TValue::Str(..)) => {
                return Err(FlowError::invalid(v.pos, p, "expected a string"));
            }
            "scope" => match tv.literal_str().as_deref() {
                None if matches!(tv, TValue::Str(..)) => {}
                Some("user" | "workspace") => {}
                _ => {
                    return Err(FlowError::invalid(
                        v.pos,
                        p,
                        "scope is 'user' or 'workspace'",
                    ))
                }
            },
            "ttl" => match &tv {
                TValue::Number(n) if n.as_u64().is_some() => {}
                TValue::Str(t, _) if !t.is_literal() => {}
                _ => {
                    return Err(FlowError::invalid(
                        v.pos,
                        p,
                        "ttl is a whole number of seconds",
                    ))
                }
            },
            _ => {}
        }
        if params.iter().any(|(e, _)| *e == key) {
            return Err(FlowError::invalid(k.pos, p, "duplicate parameter"));
        }
        params.push((key, tv));
    }
    for r in required {
        if !params.iter().any(|(k, _)| k == r) {
            return Err(FlowError::invalid(
                pnode.pos,
                join_key(&ppath, r),
                format!("secrets.{} needs parameter '{r}'", function.as_str()),
            ));
        }
    }
    Ok(RunStep {
        module,
        function,
        parameters: params,
        output,
        on_error: on_err,
    })
}

fn fetch_step(body: &Node, path: &str) -> Result<FetchStep, FlowError> {
    let entries = fields(body, path, "fetch")?;
    let mut request = Vec::new();
    let mut output = None;
    let mut on_err = OnError::Fail;
    for (k, v) in entries {
        let key = key_str(k, path)?;
        let p = join_key(path, &key);
        match key.as_str() {
            "output" => output = Some(output_name(v, &p)?),
            "onError" => on_err = on_error(v, &p)?,
            "url" | "method" => {
                plain_str(v, &p)?;
                request.push((key, tvalue(v, &p)?));
            }
            "headers" | "query" => {
                fields(v, &p, &key)?;
                request.push((key, tvalue(v, &p)?));
            }
            "body" => request.push((key, tvalue(v, &p)?)),
            "timeout_ms" => match &v.kind {
                Kind::Number(n) if n.as_u64().is_some() => request.push((key, tvalue(v, &p)?)),
                _ => {
                    return Err(FlowError::invalid(
                        v.pos,
                        p,
                        "timeout_ms is a whole number of milliseconds",
                    ))
                }
            },
            "auth" => {
                let a = fields(v, &p, "auth")?;
                match a {
                    [(ak, av)] => {
                        let kind = key_str(ak, &p)?;
                        if !matches!(kind.as_str(), "basic" | "bearer" | "awsv4") {
                            return Err(FlowError::invalid(
                                ak.pos,
                                join_key(&p, &kind),
                                "auth is one of basic, bearer or awsv4",
                            ));
                        }
                        fields(av, &join_key(&p, &kind), &kind)?;
                    }
                    _ => {
                        return Err(FlowError::invalid(
                            v.pos,
                            p,
                            "auth holds exactly one of basic, bearer or awsv4",
                        ))
                    }
                }
                request.push((key, tvalue(v, &p)?));
            }
            other => {
                return Err(unknown_field(
                    k,
                    path,
                    other,
                    "url, method, headers, query, body, auth, timeout_ms, output or onError",
                ))
            }
        }
    }
    if !request.iter().any(|(k, _)| k == "url") {
        return Err(missing(body, path, "url"));
    }
    Ok(FetchStep {
        request,
        output,
        on_error: on_err,
    })
}

fn emit_step(body: &Node, path: &str) -> Result<EmitStep, FlowError> {
    let entries = fields(body, path, "emit")?;
    let mut event = None;
    let mut payload = TValue::Null;
    for (k, v) in entries {
        let key = key_str(k, path)?;
        let p = join_key(path, &key);
        match key.as_str() {
            "event" => {
                plain_str(v, &p)?;
                event = Some(tvalue(v, &p)?);
            }
            "payload" => payload = tvalue(v, &p)?,
            other => return Err(unknown_field(k, path, other, "event or payload")),
        }
    }
    Ok(EmitStep {
        event: event.ok_or_else(|| missing(body, path, "event"))?,
        payload,
    })
}

fn conditions(body: &Node, path: &str) -> Result<Vec<Branch>, FlowError> {
    let entries = fields(body, path, "conditions")?;
    if entries.is_empty() {
        return Err(FlowError::invalid(
            body.pos,
            path,
            "conditions needs at least one '<template>: [instructions]' entry",
        ));
    }
    let mut out = Vec::with_capacity(entries.len());
    let mut saw_default = false;
    for (k, v) in entries {
        let key = key_str(k, path)?;
        let bpath = join_key(path, &key);
        let condition = if key == "default" {
            if saw_default {
                return Err(FlowError::invalid(k.pos, bpath, "duplicate default"));
            }
            saw_default = true;
            None
        } else {
            Some(template(&key, k.pos, &bpath)?)
        };
        out.push(Branch {
            condition,
            pos: k.pos,
            steps: steps(v, &bpath)?,
        });
    }
    Ok(out)
}
