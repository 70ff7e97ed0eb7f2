//! `lockbox script run FILE`: runs a seed 000 script on a server (which runs it as a
//! run of the workspace) or embedded against a local store with `--data-dir`. Log
//! lines and the result are printed redacted; cancelled or failed runs exit 1.

use crate::args::{Global, ScriptRunArgs};
use anyhow::{bail, Context, Result};
use lockbox_automation::script::run_script;
use lockbox_runs::EmbeddedScriptHost;
use serde_json::{json, Value};
use std::process::ExitCode;

fn request(args: &ScriptRunArgs) -> Result<Value> {
    let Some(raw) = &args.request_body else {
        return Ok(json!({}));
    };
    let text = match raw.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("read {path}"))?,
        None => raw.clone(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(body) => Ok(json!({ "body": body })),
        Err(_) => bail!("--request-body is not JSON"),
    }
}

pub async fn run(g: &Global, args: ScriptRunArgs) -> Result<ExitCode> {
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("read {}", args.file.display()))?;
    let request = request(&args)?;
    let outcome: Value = match &args.data_dir {
        None => {
            let client = crate::remote::client(g)?;
            client
                .run_script(
                    &g.workspace,
                    &source,
                    Some(&request),
                    args.user.as_deref(),
                    Some(&args.trigger),
                )
                .await?
        }
        Some(dir) => {
            let host = EmbeddedScriptHost::from(
                crate::embedded::open_run(
                    g,
                    dir,
                    args.database.as_deref(),
                    args.user.as_deref(),
                    &args.trigger,
                    args.egress_allow_private,
                )
                .await?,
            );
            serde_json::to_value(run_script(&source, request, &host).await)?
        }
    };
    let status = outcome["status"].as_str().unwrap_or("failed").to_owned();
    for line in outcome["logs"].as_array().into_iter().flatten() {
        if g.json {
            println!(
                "{}",
                json!({"type": "log", "level": line["level"], "message": line["message"]})
            );
        } else {
            println!(
                "[{}] {}",
                line["level"].as_str().unwrap_or(""),
                line["message"].as_str().unwrap_or("")
            );
        }
    }
    let message = outcome["message"].as_str().map(str::to_owned);
    if g.json {
        println!(
            "{}",
            json!({"type": "result", "status": status, "message": message})
        );
    } else {
        match &message {
            Some(m) => println!("{status}: {m}"),
            None => println!("{status}"),
        }
    }
    Ok(if status == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
