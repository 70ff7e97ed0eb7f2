//! The commands that work on the store rather than over HTTP: running the server
//! (`lockbox server`), and the maintenance tasks (`keys rotate|reencrypt`,
//! `audit verify`, `backup`, `restore`), with progress bars for long work and the
//! tracing setup they share.

use crate::args::{BackupArgs, Global, LogFormat, RestoreArgs, ServerArgs, StoreArgs};
use crate::output::print_json;
use anyhow::Result;
use serde_json::json;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG` (else `default_filter`), as text or JSON.
fn init_tracing(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every line passes through the process-wide log redactor (values recently
        // resolved for automations) before it reaches stderr.
        .with_writer(|| lockbox_redact::global::RedactingWriter::new(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal());
    // `try_init` so a second call (tests, embedding) is not a panic.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub async fn server(args: ServerArgs) -> Result<ExitCode> {
    init_tracing(args.log_format, "info");
    let loc = args.store.location()?;
    let config = lockbox_server::ServerConfig {
        data_dir: loc.data_dir,
        database: loc.database,
        listen: args.listen,
        init_token_file: args.init_token_file,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        insecure_http: args.insecure_http,
        max_value_bytes: args.max_value_bytes,
        egress_allow_private: args.egress_allow_private,
        max_run_ttl_seconds: args.max_run_ttl,
        dangerous_egress_allow_metadata: args.dangerous_egress_allow_metadata,
        public_url: args.public_url,
        limits: args.limits.to_limits(),
    };
    lockbox_server::run(config).await?;
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on stderr (hidden when stderr is not a terminal or with --json).
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(g: &Global) -> Bar {
        Bar(crate::output::progress_bar(g))
    }
}

impl lockbox_service::admin::Progress for Bar {
    fn start(&self, phase: &str, total: u64) {
        self.0.set_message(phase.to_owned());
        self.0.set_length(total);
        self.0.set_position(0);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

pub async fn keys_rotate(
    g: &Global,
    store: &StoreArgs,
    reencrypt: bool,
    wait: u64,
) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let loc = store.open_announced()?;
    let bar = Bar::new(g);
    let report = lockbox_service::admin::rotate_master_key(
        &loc,
        reencrypt,
        std::time::Duration::from_secs(wait),
        &bar,
    )
    .await?;
    if g.json {
        print_json(&json!(report))?;
    } else {
        println!(
            "master key rotated: now version {}; re-wrapped {} workspace key(s); {} live node(s) hold it",
            report.new_master_version, report.rewrapped, report.live_nodes
        );
        if let Some(r) = &report.reencrypted {
            print_reencrypt(r);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn keys_add(g: &Global, store: &StoreArgs) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let loc = store.open_announced()?;
    let r = lockbox_service::admin::add_master_key(&loc).await?;
    if g.json {
        print_json(&json!(r))?;
    } else {
        println!(
            "master key version {} {} {}, not in use yet. Put it in every node's keyring \
             (copy this key file over theirs; nodes re-read it within {} s), then run \
             `lockbox keys rotate`.",
            r.version,
            if r.added {
                "added to"
            } else {
                "already waits in"
            },
            r.key_source,
            lockbox_service::KEY_CHECK_EVERY.as_secs()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn keys_status(g: &Global, store: &StoreArgs) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let loc = store.open_announced()?;
    let s = lockbox_service::admin::key_status(&loc).await?;
    if g.json {
        print_json(&json!(s))?;
        return Ok(ExitCode::SUCCESS);
    }
    let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    println!("in use: master key version {}", s.in_use);
    println!(
        "this keyring ({}): version(s) {}",
        s.key_source,
        list(&s.key_versions)
    );
    let rows: Vec<Vec<String>> = s
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.id.clone(),
                format!("{}:{}", n.host, n.pid),
                list(&n.key_versions),
                format!("{:.1}s ago", n.seen_ms_ago as f64 / 1000.0),
                n.problem.clone().unwrap_or_else(|| "ok".into()),
            ]
        })
        .collect();
    crate::output::print_table(
        &["NODE", "HOST:PID", "VERSIONS", "SEEN", "STATE"],
        &rows,
        "no live node",
    );
    Ok(ExitCode::SUCCESS)
}

pub fn keys_generate() -> Result<ExitCode> {
    println!("{}", lockbox_service::generate_master_key_text().as_str());
    Ok(ExitCode::SUCCESS)
}

fn print_reencrypt(r: &lockbox_service::admin::ReencryptReport) {
    println!(
        "re-sealed {} secret version(s) in {} workspace(s) under new workspace keys{}",
        r.versions_resealed,
        r.workspaces,
        if r.resumed > 0 {
            format!(" ({} resumed)", r.resumed)
        } else {
            String::new()
        }
    );
}

pub async fn keys_reencrypt(g: &Global, store: &StoreArgs) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let bar = Bar::new(g);
    let report = lockbox_service::admin::reencrypt(&store.open_announced()?, &bar).await?;
    if g.json {
        print_json(&json!(report))?;
    } else {
        print_reencrypt(&report);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn backup(g: &Global, args: &BackupArgs) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let bar = Bar::new(g);
    let loc = args.store.open_announced()?;
    let r = lockbox_service::admin::backup(&loc, &args.out, &bar).await?;
    if g.json {
        print_json(&json!(r))?;
    } else {
        println!(
            "backup written to {}: {} workspace(s), {} secret(s), {} version(s), {} audit row(s). \
             Values stay encrypted: keep the master key safe, and apart from this file.",
            r.file, r.workspaces, r.secrets, r.versions, r.audit_rows
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(g: &Global, args: &RestoreArgs) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let bar = Bar::new(g);
    let loc = args.store.open_announced()?;
    let r = lockbox_service::admin::restore(&loc, &args.input, &bar).await?;
    if g.json {
        print_json(&json!(r))?;
    } else {
        println!(
            "restored {}: {} workspace(s), {} secret(s), {} version(s), {} audit row(s)",
            r.file, r.workspaces, r.secrets, r.versions, r.audit_rows
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn audit_verify(
    g: &Global,
    store: &StoreArgs,
    expect_head: Option<&str>,
) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let result =
        lockbox_service::admin::verify_audit(&store.open_announced()?, expect_head).await?;
    if g.json {
        print_json(&json!({
            "ok": result.ok(),
            "rows": result.rows,
            "head": result.head,
            "keyed_from": result.keyed_from,
            "broken_at": result.broken_at.as_ref().map(|(seq, why)| json!({"seq": seq, "reason": why})),
            "expected_head": expect_head,
            "expected_head_mismatch": result.expected_head_mismatch,
        }))?;
    } else {
        match &result.broken_at {
            None => println!(
                "audit chain intact: {} row(s), {}, head {}",
                result.rows,
                match result.keyed_from {
                    Some(1) => "keyed throughout".to_owned(),
                    Some(seq) => format!("keyed from seq {seq}"),
                    None => "no keyed row yet".to_owned(),
                },
                result.head
            ),
            Some((seq, why)) => println!(
                "audit chain BROKEN at seq {seq}: {why} ({} row(s) checked)",
                result.rows
            ),
        }
        if let (Some(expect), Some(why)) = (expect_head, &result.expected_head_mismatch) {
            println!("audit chain does NOT continue the expected head {expect}: {why}");
        } else if let Some(expect) = expect_head {
            println!("the expected head {expect} holds");
        }
    }
    Ok(if result.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints the chain head, `SEQ:HASH`, alone on stdout (to keep elsewhere).
pub async fn audit_head(g: &Global, store: &StoreArgs) -> Result<ExitCode> {
    init_tracing(LogFormat::Text, "warn");
    let head = lockbox_service::admin::audit_head(&store.open_announced()?).await?;
    if g.json {
        print_json(&head)?;
    } else {
        println!("{}", head.head);
    }
    Ok(ExitCode::SUCCESS)
}
