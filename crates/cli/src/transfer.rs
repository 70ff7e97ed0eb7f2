//! `lockbox secret import` and `lockbox secret export`: `.env` files in and out
//! (issue 18), through `lockbox_core::dotenv` and the ordinary API.
//!
//! Import previews before it writes (values masked), never overwrites unless asked
//! (a new secret is created with the API's create-only precondition, so one
//! created meanwhile is not overwritten), and writes one secret per request: one
//! audited change each. Export gives names and metadata; values only with
//! `--values`, each one a normal audited reveal, after a confirmation, never to a
//! terminal without `--yes`, and into a file created with mode 0600.
//!
//! Nothing here prints a value except the export's own output, and no error
//! quotes one (the `.env` parser's errors name a line and a key only).

use crate::args::{ExportArgs, ExportFormat, Global, ImportArgs, VisibilityArg};
use crate::input;
use crate::output::{ask_yes, print_json, print_table, progress_bar};
use anyhow::{anyhow, bail, Result};
use lockbox_client::{Client, ErrorCode, PutOptions, Scope, SecretMeta, Visibility};
use lockbox_core::dotenv;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// What a preview row shows instead of the value.
const MASK: &str = "••••••••";

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Plan {
    Create,
    Overwrite,
    Skip,
}

#[derive(Serialize)]
struct Row {
    line: usize,
    name: String,
    /// `new`, `exists` or `invalid`.
    status: &'static str,
    visibility: String,
    action: Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Asks `question` on the terminal; `false` unless the answer is y or yes.
fn confirm(question: &str) -> Result<bool> {
    ask_yes(&format!("{question} [y/N]"))
}

fn progress(g: &Global, len: u64) -> indicatif::ProgressBar {
    let bar = progress_bar(g);
    bar.set_length(len);
    bar.set_message("importing");
    bar
}

/// `lockbox secret import FILE`.
pub async fn import(g: &Global, c: &Client, scope: Scope, args: ImportArgs) -> Result<ExitCode> {
    let ws = g.workspace.as_str();
    let text = input::read_file(&args.file, "the .env")?;
    // EXPOSE: parsed into entries whose values are sent one by one.
    let entries = dotenv::parse(text.expose())?;
    drop(text);
    let existing: BTreeMap<String, SecretMeta> = c
        .list_all_secrets(ws, scope, None)
        .await?
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    let new_visibility = match args.visibility {
        VisibilityArg::Masked => Visibility::Masked,
        VisibilityArg::Restricted => Visibility::Restricted,
    };
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| {
            if let Err(err) = lockbox_core::SecretName::parse(&e.key) {
                return Row {
                    line: e.line,
                    name: e.key.clone(),
                    status: "invalid",
                    visibility: String::new(),
                    action: Plan::Skip,
                    note: Some(err.message),
                };
            }
            match existing.get(&e.key) {
                None => Row {
                    line: e.line,
                    name: e.key.clone(),
                    status: "new",
                    visibility: new_visibility.as_str().to_owned(),
                    action: Plan::Create,
                    note: None,
                },
                Some(m) => Row {
                    line: e.line,
                    name: e.key.clone(),
                    status: "exists",
                    visibility: m.visibility.clone(),
                    action: if args.overwrite {
                        Plan::Overwrite
                    } else {
                        Plan::Skip
                    },
                    note: (!args.overwrite).then(|| "exists; --overwrite replaces it".to_owned()),
                },
            }
        })
        .collect();
    let conflicts: Vec<&str> = rows
        .iter()
        .filter(|r| r.status == "exists")
        .map(|r| r.name.as_str())
        .collect();
    let to_write = rows.iter().filter(|r| r.action != Plan::Skip).count();

    if !g.json {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.line.to_string(),
                    r.name.clone(),
                    match (r.status, r.action) {
                        ("exists", Plan::Overwrite) => "exists (overwrite)".to_owned(),
                        ("exists", _) => "exists (skip)".to_owned(),
                        ("invalid", _) => {
                            format!("invalid name (skip): {}", r.note.as_deref().unwrap_or(""))
                        }
                        (s, _) => s.to_owned(),
                    },
                    r.visibility.clone(),
                    MASK.to_owned(),
                ]
            })
            .collect();
        print_table(
            &["LINE", "NAME", "STATUS", "VISIBILITY", "VALUE"],
            &table,
            "the file holds no secrets",
        );
        if !conflicts.is_empty() && !args.overwrite {
            println!(
                "conflicts (already exist, skipped; --overwrite replaces them): {}",
                conflicts.join(", ")
            );
        }
    }
    if args.dry_run || to_write == 0 {
        if g.json {
            print_json(&json!({
                "workspace": ws, "dry_run": args.dry_run, "secrets": rows,
                "conflicts": conflicts, "created": [], "overwritten": [], "failed": [],
            }))?;
        } else if args.dry_run {
            println!("dry run: {to_write} secret(s) would be written; nothing was");
        } else {
            println!("nothing to write");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes
        && std::io::stdin().is_terminal()
        && !confirm(&format!(
            "write {to_write} secret(s) to workspace '{ws}'{}?",
            if scope == Scope::User {
                " (your user scope)"
            } else {
                ""
            }
        ))?
    {
        bail!("cancelled: nothing was written");
    }

    let bar = progress(g, to_write as u64);
    let (mut created, mut overwritten, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    let mut raced = Vec::new();
    for (entry, row) in entries.iter().zip(&rows) {
        let opts = match row.action {
            Plan::Skip => continue,
            // Create only: a secret created since the preview is not overwritten.
            Plan::Create => PutOptions {
                visibility: Some(new_visibility),
                create_only: true,
                ..PutOptions::default()
            },
            Plan::Overwrite => PutOptions {
                if_match: existing
                    .get(&row.name)
                    .filter(|m| m.cas_required)
                    .map(|m| m.version),
                ..PutOptions::default()
            },
        };
        let value = serde_json::Value::String(entry.value.as_str().to_owned());
        let res = c.put_secret(ws, scope, &row.name, &value, &opts).await;
        drop(value);
        bar.inc(1);
        match res {
            Ok(_) if row.action == Plan::Create => created.push(row.name.clone()),
            Ok(_) => overwritten.push(row.name.clone()),
            Err(e)
                if row.action == Plan::Create
                    && matches!(
                        e.code(),
                        Some(ErrorCode::VersionMismatch | ErrorCode::Conflict)
                    ) =>
            {
                raced.push(row.name.clone())
            }
            Err(e) => failed
                .push(json!({"name": row.name, "error": e.code_str(), "message": e.to_string()})),
        }
    }
    bar.finish_and_clear();
    if g.json {
        print_json(&json!({
            "workspace": ws, "dry_run": false, "secrets": rows, "conflicts": conflicts,
            "created": created, "overwritten": overwritten,
            "skipped_created_meanwhile": raced, "failed": failed,
        }))?;
    } else {
        for n in &raced {
            println!("skipped {n}: it was created by someone else since the preview");
        }
        for f in &failed {
            eprintln!(
                "failed {}: {}",
                f["name"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            );
        }
        println!(
            "imported into '{ws}': {} created, {} overwritten, {} skipped, {} failed",
            created.len(),
            overwritten.len(),
            rows.len() - to_write + raced.len(),
            failed.len()
        );
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes `bytes` to `path`, created (or truncated) with mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        let mut f = opts
            .open(path)
            .map_err(|e| anyhow!("invalid: cannot write {}: {e}", path.display()))?;
        // An existing file keeps its mode on open: narrow it before writing.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let mut f = opts
            .open(path)
            .map_err(|e| anyhow!("invalid: cannot write {}: {e}", path.display()))?;
        f.write_all(bytes)?;
    }
    Ok(())
}

/// `lockbox secret export`.
pub async fn export(g: &Global, c: &Client, scope: Scope, args: ExportArgs) -> Result<ExitCode> {
    let ws = g.workspace.as_str();
    if args.values && !args.yes {
        if args.output.is_none() && std::io::stdout().is_terminal() {
            bail!(
                "invalid: refusing to print secret values to a terminal; pass --yes, or write a file with -o FILE"
            );
        }
        if !std::io::stdin().is_terminal() {
            bail!("invalid: exporting values needs --yes (stdin is not a terminal to confirm on)");
        }
    }
    let secrets = c.list_all_secrets(ws, scope, None).await?;
    if args.values
        && !args.yes
        && !confirm(&format!(
            "export the values of up to {} secret(s) from workspace '{ws}'? Each reveal is audited.",
            secrets.len()
        ))?
    {
        bail!("cancelled: nothing was exported");
    }
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut out = Zeroizing::new(String::new());
    let mut written = 0usize;
    match args.format {
        ExportFormat::Env => {
            out.push_str(&format!(
                "# Lockbox workspace '{ws}'{}: {}\n",
                if scope == Scope::User {
                    " (user scope)"
                } else {
                    ""
                },
                if args.values {
                    "names and values"
                } else {
                    "names only, values left empty"
                }
            ));
        }
        ExportFormat::Json => out.push('['),
    }
    for meta in &secrets {
        if args.format == ExportFormat::Env && !dotenv::is_valid_key(&meta.name) {
            skipped.push((meta.name.clone(), "not a valid .env key".into()));
            continue;
        }
        let value = if args.values {
            if meta.visibility == "restricted" {
                skipped.push((meta.name.clone(), "restricted: never revealed".into()));
                continue;
            }
            match c.reveal(ws, scope, &meta.name, None).await {
                Ok(v) => Some(v),
                Err(e) => {
                    skipped.push((
                        meta.name.clone(),
                        format!("not revealed ({})", e.code_str()),
                    ));
                    continue;
                }
            }
        } else {
            None
        };
        match args.format {
            ExportFormat::Env => {
                if let Some(d) = meta.description.as_deref().filter(|d| !d.is_empty()) {
                    for l in d.lines() {
                        out.push_str("# ");
                        out.push_str(l);
                        out.push('\n');
                    }
                }
                match &value {
                    None => {
                        out.push_str(&meta.name);
                        out.push_str("=\n");
                    }
                    Some(v) => {
                        // EXPOSE: the caller asked for values (--values, confirmed); each was an audited reveal.
                        let bytes = v.expose();
                        let text: Zeroizing<String> = match serde_json::from_slice::<String>(bytes)
                        {
                            Ok(s) => Zeroizing::new(s),
                            // A JSON value goes in as its JSON text.
                            Err(_) => Zeroizing::new(String::from_utf8_lossy(bytes).into_owned()),
                        };
                        out.push_str(&dotenv::render_line(&meta.name, &text));
                    }
                }
            }
            ExportFormat::Json => {
                let m = serde_json::to_string(meta)
                    .map_err(|e| anyhow!("internal: cannot encode metadata: {e}"))?;
                out.push_str(if written == 0 { "\n" } else { ",\n" });
                match &value {
                    None => out.push_str(&m),
                    Some(v) => {
                        out.push_str(m.strip_suffix('}').unwrap_or(&m));
                        out.push_str(",\"value\":");
                        // EXPOSE: the caller asked for values (--values, confirmed); each was an audited reveal.
                        out.push_str(&String::from_utf8_lossy(v.expose()));
                        out.push('}');
                    }
                }
            }
        }
        written += 1;
    }
    if args.format == ExportFormat::Json {
        out.push_str("\n]\n");
    }
    for (name, why) in &skipped {
        eprintln!("skipped {name}: {why}");
    }
    match &args.output {
        Some(path) => {
            write_private(path, out.as_bytes())?;
            eprintln!(
                "exported {written} secret(s){} to {}",
                if args.values { " with values" } else { "" },
                path.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
