//! Lockbox's flow runtime: runs seed 001's YAML automations (`do:` lists of `run`,
//! `fetch`, `emit` and `conditions`, with `output`, `onError` and `{{…}}` templates)
//! over one [`SecretsModule`] interface, and seed 000's scripts ([`script`]) over
//! one [`script::ScriptHost`] interface. Both interfaces are defined here and
//! implemented elsewhere (`lockbox-runs`: in-process over the service, or over
//! HTTP), so this crate depends on core, redact and its parsers only. Errors carry
//! a typed [`Code`]: a Lockbox call's `ErrorCode`, or one of the runtimes' own.
//!
//! ```text
//! Flow::from_yaml(text)  -> Flow            (parse; errors with line and column)
//! validate(&flow)        -> Ok | FlowError  (output must not depend on a secret)
//! bindings(&flow)        -> [Binding]       (secrets the flow names, for seed 003)
//! run_flow(&flow, &module, config, &mut sink) -> RunResult
//! ```
//!
//! Step results (what an `output:` variable holds):
//!
//! | instruction | result |
//! |---|---|
//! | `secrets.set` / `secrets.get` | the bare `$secret:…` reference string |
//! | `secrets.delete` | `{"deleted": true}` |
//! | `fetch` | the response **body** (parsed JSON when the response is JSON), so `{{authResponse.access_token}}` reads straight off it; a status of 400 or more is a step error `http_error` |
//! | any step failing with `onError: continue` | `{"error": "<code>"}` (`http_error` adds `status` and `body`) |
//!
//! With the default `onError: fail`, a failing step stops the flow with a
//! [`FlowError`] whose code is the module's (`not_found`, `user_required`,
//! `egress_denied`, …) and whose path names the step (`do[2].fetch`).
//! `{{secret.<name>}}` (and `{{secret.<name>.<field>}}`) is `secrets.get` in the
//! workspace scope, fetched fresh for the step that uses it.
//!
//! Every parser of untrusted input here (YAML via `serde-saphyr`, the template
//! parser) has a proptest that it never panics; a cargo-fuzz target belongs in the
//! workspace's `fuzz/` directory (not yet written).
//!
//! What this crate must never do: see a secret value (it only holds `$secret:`
//! references and redacted responses), or hand anything to a sink, an error or the
//! flow's output without passing it through the run's redactor.

mod analysis;
mod code;
mod flow;
mod module;
mod runtime;
pub mod script;
pub mod template;
mod yaml;

pub use analysis::{bindings, validate, Binding};
pub use code::Code;
pub use flow::{
    Branch, EmitStep, FetchStep, Flow, FlowError, Instruction, OnError, RunStep, SecretsFunction,
    Step, TValue,
};
pub use module::{ModuleError, SecretsModule};
pub use runtime::{run_flow, OutputLine, RunResult, OUTPUT_REDACTED};
pub use yaml::Pos;
