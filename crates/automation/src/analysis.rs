//! Static analysis of a parsed flow: which secrets it binds ([`bindings`], for the
//! service's binding records, seed 003) and whether its output could carry a secret
//! ([`validate`], seed 003: "Secrets cannot be directly bound to the output node").
//!
//! Taint runs forward through the steps: `secret.<name>` and the outputs of
//! `secrets.get`/`secrets.set` are tainted; a `fetch` whose request reads anything
//! tainted (or holds a literal `$secret:` reference) taints its output; a variable
//! once tainted stays tainted (branches are merged conservatively). The runtime adds
//! a guard behind this: references left in the output are replaced.

use crate::flow::{join_key, Flow, FlowError, Instruction, SecretsFunction, Step, TValue};
use crate::template::Template;
use std::collections::HashMap;

/// A flow's use of a secret by literal name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Binding {
    pub secret: String,
    /// Where: `do[0].fetch.body.client_secret`, `do[1].run.parameters.name`.
    pub path: String,
}

/// Every secret the flow names literally: `{{secret.<name>}}` anywhere, and the
/// `name` parameter of `secrets.get/set/delete` when it is not a template.
pub fn bindings(flow: &Flow) -> Vec<Binding> {
    let mut out = Vec::new();
    fn walk(steps: &[Step], out: &mut Vec<Binding>) {
        for s in steps {
            match &s.instruction {
                Instruction::Run(r) => {
                    if let Some(name) = r.param("name").and_then(TValue::literal_str) {
                        out.push(Binding {
                            secret: name,
                            path: format!("{}.parameters.name", s.path),
                        });
                    }
                    for (k, v) in &r.parameters {
                        value(v, &join_key(&format!("{}.parameters", s.path), k), out);
                    }
                }
                Instruction::Fetch(f) => {
                    for (k, v) in &f.request {
                        value(v, &join_key(&s.path, k), out);
                    }
                }
                Instruction::Emit(e) => {
                    value(&e.event, &format!("{}.event", s.path), out);
                    value(&e.payload, &format!("{}.payload", s.path), out);
                }
                Instruction::Conditions(branches) => {
                    for b in branches {
                        if let Some(c) = &b.condition {
                            template(c, &s.path, out);
                        }
                        walk(&b.steps, out);
                    }
                }
            }
        }
    }
    fn template(t: &Template, path: &str, out: &mut Vec<Binding>) {
        for e in t.exprs() {
            if let Some((name, _)) = e.secret() {
                out.push(Binding {
                    secret: name.to_owned(),
                    path: path.to_owned(),
                });
            }
        }
    }
    fn value(v: &TValue, base: &str, out: &mut Vec<Binding>) {
        let mut strings = Vec::new();
        v.strings(base, &mut strings);
        for (path, t, _) in strings {
            template(t, &path, out);
        }
    }
    walk(&flow.steps, &mut out);
    if let Some(o) = &flow.output {
        value(o, "output", &mut out);
    }
    out
}

/// Why a variable is tainted.
type Taint = HashMap<String, String>;

/// The first reason `v` reads a secret, a reference or a tainted variable.
fn tainted_use(v: &TValue, taint: &Taint) -> Option<String> {
    let mut strings = Vec::new();
    v.strings("", &mut strings);
    for (_, t, _) in strings {
        if let Some(lit) = t.literal_text() {
            if lit.contains(lockbox_core::REFERENCE_PREFIX) {
                return Some("a literal secret reference".into());
            }
        }
        for e in t.exprs() {
            if let Some((name, _)) = e.secret() {
                return Some(format!("secret '{name}'"));
            }
            if e.root == "secret" {
                return Some("a secret".into());
            }
            if let Some(why) = taint.get(&e.root) {
                return Some(format!("variable '{}' ({why})", e.root));
            }
        }
    }
    None
}

fn propagate(steps: &[Step], taint: &mut Taint) {
    for s in steps {
        match &s.instruction {
            Instruction::Run(r) => {
                if let Some(out) = &r.output {
                    if matches!(r.function, SecretsFunction::Get | SecretsFunction::Set) {
                        taint.insert(out.clone(), format!("a secret reference from {}", s.path));
                    }
                }
            }
            Instruction::Fetch(f) => {
                if let Some(out) = &f.output {
                    let why = f.request.iter().find_map(|(_, v)| tainted_use(v, taint));
                    if let Some(why) = why {
                        taint.insert(
                            out.clone(),
                            format!("the response of {}, which used {why}", s.path),
                        );
                    }
                }
            }
            Instruction::Emit(_) => {}
            Instruction::Conditions(branches) => {
                for b in branches {
                    propagate(&b.steps, taint);
                }
            }
        }
    }
}

/// Refuses a flow whose `output` depends on a secret or a reference: directly, through
/// a variable holding a `secrets.get/set` result, or through a `fetch` response
/// whose request used one.
pub fn validate(flow: &Flow) -> Result<(), FlowError> {
    let Some(output) = &flow.output else {
        return Ok(());
    };
    let mut taint = Taint::new();
    propagate(&flow.steps, &mut taint);
    let mut strings = Vec::new();
    output.strings("output", &mut strings);
    for (path, t, pos) in strings {
        let one = TValue::Str(t.clone(), pos);
        if let Some(why) = tainted_use(&one, &taint) {
            return Err(FlowError::invalid(
                pos,
                path,
                format!(
                    "a flow's output cannot depend on a secret (it reads {why}); \
                     use secrets only inside fetch requests"
                ),
            ));
        }
    }
    Ok(())
}
