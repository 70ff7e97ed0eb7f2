//! Runs a [`Flow`] over a [`SecretsModule`]: each step's templates are evaluated
//! against the run's variables, `config` and `secret.<name>`, then `run` steps call
//! the secrets module, `fetch` steps go through the module's egress executor,
//! `emit` steps produce events and `conditions` pick a branch.
//!
//! What the runtime must never do: print a secret value. Every step result, event
//! payload, error message and the final output goes through [`SecretsModule::redact`].
//! Output lines are also held until the run ends and redacted a second time then,
//! so a value that becomes a secret later in the run (seed 001's OAuth example
//! stores the token it fetched in step 1 as a secret in step 2) is masked in the
//! earlier lines too. The flow's output additionally loses any `$secret:`
//! reference (replaced with `[REDACTED]`, with a warning).

use crate::analysis::validate;
use crate::code::Code;
use crate::flow::{
    Branch, EmitStep, FetchStep, Flow, FlowError, Instruction, OnError, RunStep, SecretsFunction,
    Step, TValue,
};
use crate::module::{ModuleError, SecretsModule};
use crate::template::{walk, Expr, Scope, Template};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

/// What a run prints, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OutputLine {
    /// A step finished: its result as stored in its `output` variable (for a
    /// failed step with `onError: continue`, `{"error": "<code>"}`; for
    /// `conditions`, the branch taken).
    Step { path: String, result: Value },
    /// An `emit` instruction.
    Event { event: String, payload: Value },
}

/// What a finished run answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    /// The flow's `output:` template, evaluated and redacted (`None` without one).
    pub output: Option<Value>,
    /// Things the runtime changed to keep a value or reference out of the output.
    pub warnings: Vec<String>,
}

/// Marks a string in the output that held a reference.
pub const OUTPUT_REDACTED: &str = "[REDACTED]";

struct Run<'a> {
    module: &'a dyn SecretsModule,
    config: Value,
    vars: Map<String, Value>,
    lines: Vec<OutputLine>,
}

/// A scope over the run's variables, `config`, and pre-fetched `secret.` references.
struct RunScope<'s> {
    vars: &'s Map<String, Value>,
    config: &'s Value,
    secrets: &'s HashMap<(String, Option<String>), String>,
}

impl Scope for RunScope<'_> {
    fn lookup(&self, e: &Expr) -> Option<Value> {
        match e.root.as_str() {
            "config" => walk(self.config, &e.segments).cloned(),
            "secret" => {
                let (name, field) = e.secret()?;
                let r = self
                    .secrets
                    .get(&(name.to_owned(), field.map(str::to_owned)))?;
                // Anything past `secret.<name>.<field>` has nothing to walk into.
                (e.segments.len() <= 2).then(|| Value::String(r.clone()))
            }
            root => walk(self.vars.get(root)?, &e.segments).cloned(),
        }
    }
}

/// Runs `flow`. `config` is what `{{config.<key>}}` reads. Lines go to `sink` when
/// the run ends (see the module docs for why), also when it fails. The sink is
/// `Send` so the whole run can be spawned on a multi-threaded runtime.
///
/// The flow is checked with [`validate`] first; a flow whose output depends on a
/// secret does not run.
pub async fn run_flow(
    flow: &Flow,
    module: &dyn SecretsModule,
    config: Map<String, Value>,
    sink: &mut (dyn FnMut(OutputLine) + Send),
) -> Result<RunResult, FlowError> {
    validate(flow)?;
    let mut run = Run {
        module,
        config: Value::Object(config),
        vars: Map::new(),
        lines: Vec::new(),
    };
    let result = run.steps(&flow.steps).await;
    let result = match result {
        Ok(()) => run.output(flow).await,
        Err(e) => Err(e),
    };
    // Second pass: values that became secrets later in the run.
    let mut out = Vec::with_capacity(run.lines.len());
    for line in std::mem::take(&mut run.lines) {
        let line = match line {
            OutputLine::Step { path, result } => OutputLine::Step {
                path,
                result: module.redact(result).await,
            },
            OutputLine::Event { event, payload } => OutputLine::Event {
                event: redact_str(module, event).await,
                payload: module.redact(payload).await,
            },
        };
        out.push(line);
    }
    out.into_iter().for_each(sink);
    result
}

async fn redact_str(module: &dyn SecretsModule, s: String) -> String {
    match module.redact(Value::String(s)).await {
        Value::String(s) => s,
        _ => OUTPUT_REDACTED.to_owned(),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Replaces every string holding a reference; answers how many.
fn strip_references(v: &mut Value) -> usize {
    match v {
        Value::String(s) if s.contains(lockbox_core::REFERENCE_PREFIX) => {
            *s = OUTPUT_REDACTED.to_owned();
            1
        }
        Value::Array(a) => a.iter_mut().map(strip_references).sum(),
        Value::Object(o) => o.values_mut().map(strip_references).sum(),
        _ => 0,
    }
}

fn collect_secret_exprs(t: &TValue, out: &mut Vec<(String, Option<String>)>) {
    let mut strings = Vec::new();
    t.strings("", &mut strings);
    for (_, tpl, _) in strings {
        collect_template_secrets(tpl, out);
    }
}

fn collect_template_secrets(tpl: &Template, out: &mut Vec<(String, Option<String>)>) {
    for e in tpl.exprs() {
        if let Some((name, field)) = e.secret() {
            let key = (name.to_owned(), field.map(str::to_owned));
            if !out.contains(&key) {
                out.push(key);
            }
        }
    }
}

fn as_string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Why a step failed: a module call's error, or the runtime's own (`http_error`,
/// which also carries the upstream's status and body for `onError: continue`).
struct Failure {
    code: Code,
    message: String,
    extra: Option<Value>,
}

impl Failure {
    fn invalid(message: impl Into<String>) -> Failure {
        ModuleError::invalid(message).into()
    }
}

impl From<ModuleError> for Failure {
    fn from(e: ModuleError) -> Failure {
        Failure {
            code: Code::Lockbox(e.code),
            message: e.message,
            extra: None,
        }
    }
}

impl Run<'_> {
    /// `secret.<name>` references used by these values, fetched now (workspace scope).
    async fn references(
        &self,
        values: &[&TValue],
        conditions: &[&Template],
    ) -> Result<HashMap<(String, Option<String>), String>, ModuleError> {
        let mut wanted = Vec::new();
        for v in values {
            collect_secret_exprs(v, &mut wanted);
        }
        for t in conditions {
            collect_template_secrets(t, &mut wanted);
        }
        let mut out = HashMap::new();
        for (name, field) in wanted {
            let r = self
                .module
                .get(&name, "workspace", field.as_deref())
                .await?;
            out.insert((name, field), r);
        }
        Ok(out)
    }

    fn eval(&self, t: &TValue, secrets: &HashMap<(String, Option<String>), String>) -> Value {
        let scope = RunScope {
            vars: &self.vars,
            config: &self.config,
            secrets,
        };
        eval_with(t, &scope)
    }

    fn steps<'s>(
        &'s mut self,
        steps: &'s [Step],
    ) -> Pin<Box<dyn Future<Output = Result<(), FlowError>> + Send + 's>> {
        Box::pin(async move {
            for step in steps {
                self.step(step).await?;
            }
            Ok(())
        })
    }

    async fn fail(&self, step: &Step, e: impl Into<Failure>) -> FlowError {
        let e = e.into();
        let message = redact_str(self.module, e.message).await;
        FlowError::at(
            e.code,
            step.pos,
            step.path.clone(),
            format!("{} failed: {message}", step.path),
        )
    }

    async fn step(&mut self, step: &Step) -> Result<(), FlowError> {
        match &step.instruction {
            Instruction::Run(r) => {
                let res = self.run_secrets(r).await;
                self.finish(step, res, r.output.as_deref(), r.on_error)
                    .await
            }
            Instruction::Fetch(f) => {
                let res = self.fetch(f).await;
                self.finish(step, res, f.output.as_deref(), f.on_error)
                    .await
            }
            Instruction::Emit(e) => match self.emit(e).await {
                Ok(()) => Ok(()),
                Err(err) => Err(self.fail(step, err).await),
            },
            Instruction::Conditions(branches) => self.conditions(step, branches).await,
        }
    }

    /// Stores a step's result, or handles its failure per `onError`.
    async fn finish(
        &mut self,
        step: &Step,
        res: Result<Value, Failure>,
        output: Option<&str>,
        on_error: OnError,
    ) -> Result<(), FlowError> {
        let value = match res {
            Ok(v) => v,
            Err(e) if on_error == OnError::Fail => return Err(self.fail(step, e).await),
            Err(e) => {
                let mut obj = Map::new();
                obj.insert("error".into(), Value::String(e.code.as_str().to_owned()));
                if let Some(Value::Object(extra)) = e.extra {
                    obj.extend(extra);
                }
                Value::Object(obj)
            }
        };
        let shown = self.module.redact(value.clone()).await;
        self.lines.push(OutputLine::Step {
            path: step.path.clone(),
            result: shown,
        });
        if let Some(name) = output {
            self.vars.insert(name.to_owned(), value);
        }
        Ok(())
    }

    async fn run_secrets(&self, r: &RunStep) -> Result<Value, Failure> {
        let values: Vec<&TValue> = r.parameters.iter().map(|(_, v)| v).collect();
        let secrets = self.references(&values, &[]).await.map_err(Failure::from)?;
        let param = |name: &str| r.param(name).map(|t| self.eval(t, &secrets));
        let text = |name: &str| -> Result<Option<String>, Failure> {
            match param(name) {
                None => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
                Some(_) => Err(Failure::invalid(format!(
                    "parameter '{name}' must be a non-empty string"
                ))),
            }
        };
        let name = text("name")?.unwrap_or_default();
        let scope = text("scope")?.unwrap_or_default();
        let m = self.module;
        let out = match r.function {
            SecretsFunction::Set => {
                let ttl = match param("ttl") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
                    Some(Value::String(s)) if s.parse::<u64>().is_ok() => s.parse().ok(),
                    Some(_) => return Err(Failure::invalid("ttl is a whole number of seconds")),
                };
                let value = param("value").unwrap_or(Value::Null);
                m.set(&name, value, &scope, ttl).await.map(Value::String)
            }
            SecretsFunction::Get => {
                let field = text("field")?;
                m.get(&name, &scope, field.as_deref())
                    .await
                    .map(Value::String)
            }
            SecretsFunction::Delete => m
                .delete(&name, &scope)
                .await
                .map(|()| json!({"deleted": true})),
        };
        out.map_err(Failure::from)
    }

    async fn fetch(&self, f: &FetchStep) -> Result<Value, Failure> {
        let values: Vec<&TValue> = f.request.iter().map(|(_, v)| v).collect();
        let secrets = self.references(&values, &[]).await.map_err(Failure::from)?;
        let mut req = Map::new();
        for (k, t) in &f.request {
            let mut v = self.eval(t, &secrets);
            match k.as_str() {
                // Header and query values are strings on the wire.
                "headers" | "query" => {
                    if let Value::Object(m) = &mut v {
                        for val in m.values_mut() {
                            if !val.is_string() {
                                *val = Value::String(as_string(val.take()));
                            }
                        }
                    }
                }
                "url" | "method" => v = Value::String(as_string(v)),
                _ => {}
            }
            req.insert(k.clone(), v);
        }
        let resp = self
            .module
            .fetch(Value::Object(req))
            .await
            .map_err(Failure::from)?;
        let status = resp.get("status").and_then(Value::as_u64).unwrap_or(0);
        let body = resp.get("body").cloned().unwrap_or(Value::Null);
        if status >= 400 {
            return Err(Failure {
                code: Code::HttpError,
                message: format!("the server answered {status}"),
                extra: Some(json!({"status": status, "body": body})),
            });
        }
        Ok(body)
    }

    async fn emit(&mut self, e: &EmitStep) -> Result<(), ModuleError> {
        let secrets = self.references(&[&e.event, &e.payload], &[]).await?;
        let event = as_string(self.eval(&e.event, &secrets));
        let payload = self.eval(&e.payload, &secrets);
        let payload = self.module.redact(payload).await;
        let event = redact_str(self.module, event).await;
        self.lines.push(OutputLine::Event { event, payload });
        Ok(())
    }

    async fn conditions(&mut self, step: &Step, branches: &[Branch]) -> Result<(), FlowError> {
        let conds: Vec<&Template> = branches
            .iter()
            .filter_map(|b| b.condition.as_ref())
            .collect();
        let secrets = match self.references(&[], &conds).await {
            Ok(s) => s,
            Err(e) => return Err(self.fail(step, e).await),
        };
        let mut chosen: Option<(usize, &Branch)> = None;
        for (i, b) in branches.iter().enumerate() {
            if let Some(c) = &b.condition {
                let scope = RunScope {
                    vars: &self.vars,
                    config: &self.config,
                    secrets: &secrets,
                };
                if truthy(&c.eval(&scope)) {
                    chosen = Some((i, b));
                    break;
                }
            }
        }
        if chosen.is_none() {
            chosen = branches
                .iter()
                .enumerate()
                .find(|(_, b)| b.condition.is_none());
        }
        self.lines.push(OutputLine::Step {
            path: step.path.clone(),
            result: match chosen {
                Some((i, b)) => json!({
                    "branch": i,
                    "default": b.condition.is_none(),
                }),
                None => json!({"branch": null}),
            },
        });
        if let Some((_, b)) = chosen {
            self.steps(&b.steps).await?;
        }
        Ok(())
    }

    async fn output(&self, flow: &Flow) -> Result<RunResult, FlowError> {
        let mut warnings = Vec::new();
        let Some(t) = &flow.output else {
            return Ok(RunResult {
                output: None,
                warnings,
            });
        };
        // `validate` refused `secret.` in the output, so there is nothing to fetch.
        let mut v = self.eval(t, &HashMap::new());
        let n = strip_references(&mut v);
        if n > 0 {
            warnings.push(format!(
                "the output held {n} secret reference(s); each was replaced with {OUTPUT_REDACTED}"
            ));
        }
        let v = self.module.redact(v).await;
        Ok(RunResult {
            output: Some(v),
            warnings,
        })
    }
}

fn eval_with(t: &TValue, scope: &dyn Scope) -> Value {
    match t {
        TValue::Null => Value::Null,
        TValue::Bool(b) => Value::Bool(*b),
        TValue::Number(n) => Value::Number(n.clone()),
        TValue::Str(tpl, _) => tpl.eval(scope),
        TValue::Array(items) => Value::Array(items.iter().map(|i| eval_with(i, scope)).collect()),
        TValue::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), eval_with(v, scope)))
                .collect(),
        ),
    }
}
