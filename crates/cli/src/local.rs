//! The commands that work on this machine rather than over HTTP: running the server
//! (`lockbox server`), and the offline maintenance tasks on a data directory
//! (`keys rotate`, `audit verify`), plus the tracing setup they share.

use crate::args::{Global, LogFormat, ServerArgs};
use crate::output::print_json;
use anyhow::Result;
use serde_json::json;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG` (else `default_filter`), as text or JSON.
fn init_tracing(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // `try_init` so a second call (tests, embedding) is not a panic.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub async fn server(args: ServerArgs) -> Result<ExitCode> {
    init_tracing(args.log_format, "info");
    let config = lockbox_server::ServerConfig {
        data_dir: args.data_dir,
        listen: args.listen,
        init_token_file: args.init_token_file,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        insecure_http: args.insecure_http,
        max_value_bytes: args.max_value_bytes,
    };
    lockbox_server::run(config).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn keys_rotate(g: &Global, data_dir: &Path) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let report = lockbox_service::admin::rotate_master_key(data_dir).await?;
    if g.json {
        print_json(&json!({
            "new_master_version": report.new_master_version,
            "rewrapped": report.rewrapped,
        }))?;
    } else {
        println!(
            "master key rotated: now version {}; re-wrapped {} workspace key(s)",
            report.new_master_version, report.rewrapped
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn audit_verify(g: &Global, data_dir: &Path) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let result = lockbox_service::admin::verify_audit(data_dir).await?;
    let broken = result.broken_at.is_some();
    if g.json {
        print_json(&json!({
            "ok": !broken,
            "rows": result.rows,
            "head": result.head,
            "broken_at": result.broken_at.as_ref().map(|(seq, why)| json!({"seq": seq, "reason": why})),
        }))?;
    } else {
        match &result.broken_at {
            None => println!(
                "audit chain intact: {} row(s), head {}",
                result.rows, result.head
            ),
            Some((seq, why)) => println!(
                "audit chain BROKEN at seq {seq}: {why} ({} row(s) checked)",
                result.rows
            ),
        }
    }
    Ok(if broken {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
