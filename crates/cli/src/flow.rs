//! `lockbox flow run FILE`: runs a seed 001 flow, over HTTP as a run of the
//! caller's workspace, or embedded against a local store with `--data-dir`. Step
//! results and events go to stdout as JSON lines (already redacted by the runtime);
//! a failed flow exits 1 with the failing step's path.

use crate::args::{FlowRunArgs, Global};
use anyhow::{bail, Context, Result};
use lockbox_automation::{Flow, OutputLine, SecretsModule};
use lockbox_runs::RemoteModule;
use serde_json::{Map, Value};
use std::process::ExitCode;

fn config(args: &FlowRunArgs) -> Result<Map<String, Value>> {
    let mut config = match &args.config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            match serde_json::from_str(&text) {
                Ok(Value::Object(m)) => m,
                _ => bail!("{}: a config file is one JSON object", path.display()),
            }
        }
        None => Map::new(),
    };
    for pair in &args.config {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--config takes KEY=VALUE");
        };
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        config.insert(k.to_owned(), value);
    }
    Ok(config)
}

pub async fn run(g: &Global, args: FlowRunArgs) -> Result<ExitCode> {
    let yaml = std::fs::read_to_string(&args.file)
        .with_context(|| format!("read {}", args.file.display()))?;
    let flow = Flow::from_yaml(&yaml)
        .map_err(|e| anyhow::anyhow!("{}: {e}: {}", args.file.display(), e.message))?;
    let config = config(&args)?;
    let module: Box<dyn SecretsModule> = match &args.data_dir {
        None => {
            let client = crate::remote::client(g)?;
            let run = client
                .open_run(&g.workspace, args.user.as_deref(), &args.trigger, None)
                .await?;
            Box::new(
                // EXPOSE: the run token goes to the module that calls the run API with it.
                RemoteModule::new(&g.addr, run.token.expose())
                    .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?,
            )
        }
        Some(dir) => Box::new(
            crate::embedded::open_run(
                g,
                dir,
                args.database.as_deref(),
                args.user.as_deref(),
                &args.trigger,
                args.egress_allow_private,
            )
            .await?,
        ),
    };
    let print = |line: OutputLine| {
        if let Ok(text) = serde_json::to_string(&line) {
            println!("{text}");
        }
    };
    let mut sink = print;
    match lockbox_automation::run_flow(&flow, module.as_ref(), config, &mut sink).await {
        Ok(result) => {
            if let Some(out) = result.output {
                println!(
                    "{}",
                    serde_json::json!({"type": "output", "output": out, "warnings": result.warnings})
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "error: {}: {} (at {})",
                e.code,
                e.message,
                if e.path.is_empty() {
                    "the flow"
                } else {
                    &e.path
                }
            );
            Ok(ExitCode::from(1))
        }
    }
}
