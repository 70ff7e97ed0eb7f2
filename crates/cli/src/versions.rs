//! `lockbox secret history|versions|settings`: a secret's versions with their
//! states, soft delete / undelete / destroy, and per-secret labels and settings,
//! over HTTP through `lockbox_client`.
//!
//! Thin: every rule (who may, what a deleted version reads as, label limits) is the
//! server's. This module only shapes requests, asks before a destroy, and prints.
//! It never reads or prints a secret value.

use crate::args::{SecretSettingsArgs, VersionTargets, VersionsCmd};
use crate::output::{print_json, print_table};
use anyhow::{bail, Result};
use lockbox_client::{Client, Scope, SecretMeta, SecretSettingsPatch, VersionInfo};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A version's state for people: `current`, `deleted at …`, `deletes at …`
/// (scheduled by `delete_version_after`), `destroyed`, or `live`.
pub fn state(v: &VersionInfo, now: OffsetDateTime) -> String {
    let what = if v.destroyed {
        "destroyed".to_owned()
    } else if let Some(at) = &v.deleted_at {
        match OffsetDateTime::parse(at, &Rfc3339) {
            Ok(t) if t > now => format!("deletes at {at}"),
            _ => format!("deleted at {at}"),
        }
    } else {
        String::new()
    };
    match (v.current, what.is_empty()) {
        (true, true) => "current".to_owned(),
        (true, false) => format!("current, {what}"),
        (false, true) => "live".to_owned(),
        (false, false) => what,
    }
}

/// Prints versions as a table (newest first, as the server lists them).
pub fn print_versions(versions: &[VersionInfo]) {
    let now = lockbox_core::Clock::now(&lockbox_core::SystemClock).to_offset_date_time();
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                state(v, now),
                v.fingerprint.clone(),
                v.created_at.clone(),
                v.created_by.clone(),
            ]
        })
        .collect();
    print_table(
        &["VERSION", "STATE", "FINGERPRINT", "CREATED", "BY"],
        &rows,
        "no versions",
    );
}

fn numbers(versions: &[u64]) -> String {
    let list: Vec<String> = versions.iter().map(u64::to_string).collect();
    let noun = if versions.len() == 1 {
        "version"
    } else {
        "versions"
    };
    format!("{noun} {}", list.join(", "))
}

/// Asks on the terminal before a destroy; refuses without `--yes` when stdin is
/// not a terminal (a script must say so explicitly).
fn confirm_destroy(name: &str, versions: &[u64]) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "invalid: destroy removes values for good; pass --yes to confirm (stdin is not a terminal)"
        );
    }
    let question = format!(
        "destroy {} of {name} for good? This cannot be undone. Type 'yes' to confirm:",
        numbers(versions)
    );
    if !crate::output::ask_yes(&question)? {
        bail!("cancelled: nothing was destroyed");
    }
    Ok(())
}

/// `secret versions delete|undelete|destroy`.
pub async fn change(
    c: &Client,
    ws: &str,
    scope: Scope,
    json: bool,
    cmd: VersionsCmd,
) -> Result<()> {
    let (verb, targets): (&str, VersionTargets) = match cmd {
        VersionsCmd::Delete(t) => ("deleted", t),
        VersionsCmd::Undelete(t) => ("undeleted", t),
        VersionsCmd::Destroy { targets, yes } => {
            if !yes {
                confirm_destroy(&targets.name, &targets.versions)?;
            }
            ("destroyed", targets)
        }
    };
    let VersionTargets { name, mut versions } = targets;
    // `--version 2 --version 2` is one version; keep the order given.
    let mut seen = std::collections::HashSet::new();
    versions.retain(|n| seen.insert(*n));
    let after = match verb {
        "deleted" => c.delete_versions(ws, scope, &name, &versions).await?,
        "undeleted" => c.undelete_versions(ws, scope, &name, &versions).await?,
        _ => c.destroy_versions(ws, scope, &name, &versions).await?,
    };
    // The server ignores unknown numbers; say which ones those were.
    let unknown: Vec<u64> = versions
        .iter()
        .copied()
        .filter(|n| !after.iter().any(|v| v.version == *n))
        .collect();
    if !unknown.is_empty() {
        eprintln!("warning: {name} has no {} (ignored)", numbers(&unknown));
    }
    if json {
        print_json(&after)?;
    } else {
        let done: Vec<u64> = versions
            .iter()
            .copied()
            .filter(|n| !unknown.contains(n))
            .collect();
        if !done.is_empty() {
            println!("{verb} {} of {name}", numbers(&done));
        }
        print_versions(&after);
    }
    Ok(())
}

/// Human form of a duration in seconds: the largest whole unit.
pub fn duration(seconds: u64) -> String {
    match seconds {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The labels as `k=v, k=v`, or `-`.
pub fn labels_line(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "-".to_owned();
    }
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

/// The settings rows `secret get` and `secret settings` print.
pub fn settings_rows(meta: &SecretMeta) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("labels", labels_line(&meta.labels)),
        (
            "max_versions",
            meta.max_versions
                .map_or_else(|| "workspace setting".to_owned(), |n| n.to_string()),
        ),
        ("cas_required", meta.cas_required.to_string()),
        (
            "delete_after",
            meta.delete_version_after
                .map_or_else(|| "workspace setting".to_owned(), duration),
        ),
    ];
    if meta.current_deleted {
        rows.push((
            "state",
            "current version deleted (undelete to read it)".to_owned(),
        ));
    }
    rows
}

/// `secret settings NAME [...]`: shows them, or patches the ones given.
pub async fn settings(
    c: &Client,
    ws: &str,
    scope: Scope,
    json: bool,
    args: SecretSettingsArgs,
) -> Result<()> {
    let meta = if args.is_show() {
        c.get_secret(ws, scope, &args.name).await?
    } else {
        let labels = if args.clear_labels {
            Some(BTreeMap::new())
        } else if args.labels.is_empty() {
            None
        } else {
            Some(label_map(args.labels)?)
        };
        let patch = SecretSettingsPatch {
            description: args.description,
            labels,
            max_versions: args.max_versions,
            cas_required: args.cas_required,
            delete_version_after: args.delete_version_after,
        };
        c.update_secret_settings(ws, scope, &args.name, &patch)
            .await?
    };
    if json {
        print_json(&meta)?;
    } else {
        println!("{:<14} {}", "name:", meta.name);
        for (k, v) in settings_rows(&meta) {
            println!("{:<14} {v}", format!("{k}:"));
        }
    }
    Ok(())
}

/// `--label` pairs as a map; a key given twice is refused rather than guessed at.
pub fn label_map(pairs: Vec<(String, String)>) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        if map.contains_key(&k) {
            bail!("invalid: label {k:?} is given twice");
        }
        map.insert(k, v);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(current: bool, deleted_at: Option<&str>, destroyed: bool) -> VersionInfo {
        VersionInfo {
            version: 1,
            fingerprint: "f".into(),
            created_at: "c".into(),
            created_by: "b".into(),
            current,
            deleted_at: deleted_at.map(str::to_owned),
            destroyed,
        }
    }

    #[test]
    fn states_read_as_the_brief_says() {
        let now = OffsetDateTime::parse("2026-06-01T00:00:00Z", &Rfc3339).unwrap();
        assert_eq!(state(&v(true, None, false), now), "current");
        assert_eq!(state(&v(false, None, false), now), "live");
        assert_eq!(
            state(&v(false, Some("2026-05-01T00:00:00Z"), false), now),
            "deleted at 2026-05-01T00:00:00Z"
        );
        assert_eq!(
            state(&v(true, Some("2026-07-01T00:00:00Z"), false), now),
            "current, deletes at 2026-07-01T00:00:00Z"
        );
        assert_eq!(
            state(&v(false, Some("2026-05-01T00:00:00Z"), true), now),
            "destroyed"
        );
    }

    #[test]
    fn durations_print_in_their_largest_whole_unit() {
        assert_eq!(duration(3600), "1h");
        assert_eq!(duration(1800), "30m");
        assert_eq!(duration(90), "90s");
        assert_eq!(duration(7 * 86_400), "7d");
    }

    #[test]
    fn a_label_key_given_twice_is_refused() {
        let pairs = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        assert!(label_map(pairs).is_err());
    }
}
