//! `lockbox secret history|versions|settings` and `secret set --label`, driving the
//! real binary against a real server process: version states in human and JSON
//! output, soft delete / undelete / destroy, the destroy confirmation rule, labels
//! and per-secret settings, bad input refused with a usage error, and a viewer
//! refused by the server.

mod support;

use serde_json::Value;
use support::{cli, err_text, find_token, text, ServerProcess};

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn version(list: &Value, n: u64) -> &Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == n)
        .unwrap_or_else(|| panic!("version {n} in {list}"))
}

#[test]
fn version_states_and_settings_walkthrough() {
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();
    let url = s.url();
    let run = |args: &[&str], stdin: Option<&str>| {
        let o = cli(&url, &token, args, stdin);
        assert!(o.status.success(), "{args:?}: {}", err_text(&o));
        text(&o)
    };
    let fails = |args: &[&str], stdin: Option<&str>| {
        let o = cli(&url, &token, args, stdin);
        assert!(!o.status.success(), "{args:?} succeeded: {}", text(&o));
        (o.status.code(), err_text(&o))
    };
    let name = "db/password 🔑";
    for v in ["pw-one-111", "pw-two-222", "pw-three-333"] {
        run(
            &["secret", "set", name, "--label", "team=payments"],
            Some(v),
        );
    }
    let meta = json(&run(&["--json", "secret", "get", name], None));
    assert_eq!(meta["labels"], serde_json::json!({"team": "payments"}));
    assert_eq!(meta["current_deleted"], false);

    // Soft-delete the current version and version 1; 9 does not exist.
    let o = cli(
        &url,
        &token,
        &[
            "secret",
            "versions",
            "delete",
            name,
            "--version",
            "3",
            "--version",
            "1",
            "--version",
            "9",
            "--version",
            "3",
        ],
        None,
    );
    assert!(o.status.success(), "{}", err_text(&o));
    assert!(
        text(&o).contains("deleted versions 3, 1 of"),
        "{}",
        text(&o)
    );
    assert!(err_text(&o).contains("no version 9"), "{}", err_text(&o));
    let history = run(&["secret", "history", name], None);
    let line = |n: &str| {
        history
            .lines()
            .find(|l| l.starts_with(n))
            .unwrap_or_else(|| panic!("no line for {n}: {history}"))
            .to_owned()
    };
    assert!(line("3 ").contains("current, deleted at 20"), "{history}");
    assert!(line("2 ").contains("live"), "{history}");
    assert!(line("1 ").contains("deleted at 20"), "{history}");
    assert!(history.contains("STATE"));
    for v in ["pw-one", "pw-two", "pw-three"] {
        assert!(!history.contains(v), "history shows no value");
    }
    let (_, err) = fails(&["secret", "reveal", name], None);
    assert!(
        err.contains("not_found") && !err.contains("pw-three"),
        "{err}"
    );
    assert_eq!(
        json(&run(&["--json", "secret", "get", name], None))["current_deleted"],
        true
    );
    assert!(run(&["secret", "get", name], None).contains("current version deleted"));

    // Undelete brings the value back.
    let out = json(&run(
        &[
            "--json",
            "secret",
            "versions",
            "undelete",
            name,
            "--version",
            "3",
        ],
        None,
    ));
    assert!(version(&out, 3)["deleted_at"].is_null());
    assert!(version(&out, 1)["deleted_at"].is_string());
    assert_eq!(
        run(&["secret", "reveal", name], None).trim_end(),
        "pw-three-333"
    );

    // Destroy: refused without --yes when stdin is not a terminal, nothing changes.
    let (code, err) = fails(
        &["secret", "versions", "destroy", name, "--version", "2"],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(
        run(&["secret", "reveal", name, "--version", "2"], None).trim_end(),
        "pw-two-222"
    );
    // Even a "yes" piped in is not a confirmation.
    fails(
        &["secret", "versions", "destroy", name, "--version", "2"],
        Some("yes\n"),
    );
    let out = json(&run(
        &[
            "--json",
            "secret",
            "versions",
            "destroy",
            name,
            "--version",
            "2",
            "--yes",
        ],
        None,
    ));
    assert_eq!(version(&out, 2)["destroyed"], true);
    assert!(line_of(&run(&["secret", "history", name], None), "2 ").contains("destroyed"));
    let (_, err) = fails(&["secret", "reveal", name, "--version", "2"], None);
    assert!(err.contains("not_found"), "{err}");
    // Undelete leaves a destroyed version destroyed.
    let out = json(&run(
        &[
            "--json",
            "secret",
            "versions",
            "undelete",
            name,
            "--version",
            "2",
        ],
        None,
    ));
    assert_eq!(version(&out, 2)["destroyed"], true);

    // Settings: shown, then changed; labels are replaced, then cleared.
    let shown = run(&["secret", "settings", name], None);
    assert!(shown.contains("team=payments"), "{shown}");
    assert!(shown.contains("workspace setting"), "{shown}");
    let meta = json(&run(
        &[
            "--json",
            "secret",
            "settings",
            name,
            "--label",
            "owner=alice",
            "--label",
            "note=a=b",
            "--max-versions",
            "10",
            "--cas-required",
            "true",
            "--delete-version-after",
            "30m",
            "--description",
            "rotated monthly",
        ],
        None,
    ));
    assert_eq!(
        meta["labels"],
        serde_json::json!({"owner": "alice", "note": "a=b"})
    );
    assert_eq!(meta["description"], "rotated monthly");
    assert_eq!(meta["max_versions"], 10);
    assert_eq!(meta["cas_required"], true);
    assert_eq!(meta["delete_version_after"], 1800);
    assert_eq!(meta["version"], 3, "settings are not a new version");
    let shown = run(&["secret", "settings", name], None);
    assert!(
        shown.contains("30m") && line_of(&shown, "cas_required:").ends_with(" true"),
        "{shown}"
    );

    // cas_required: a blind set is refused by the server; one with --if-match works
    // and its version is scheduled for deletion.
    let (_, err) = fails(&["secret", "set", name], Some("pw-four-444"));
    assert!(err.contains("invalid"), "{err}");
    run(
        &["secret", "set", name, "--if-match", "3"],
        Some("pw-four-444"),
    );
    let h = run(&["secret", "history", name], None);
    assert!(line_of(&h, "4 ").contains("current, deletes at 20"), "{h}");

    let meta = json(&run(
        &[
            "--json",
            "secret",
            "settings",
            name,
            "--clear-labels",
            "--cas-required",
            "false",
            "--delete-version-after",
            "0",
        ],
        None,
    ));
    assert_eq!(meta["labels"], serde_json::json!({}));
    assert_eq!(meta["delete_version_after"], Value::Null);
    assert_eq!(meta["max_versions"], 10, "untouched setting kept");

    // Bad input: usage errors (exit 2) before any request, and server refusals
    // with their stable code.
    for args in [
        &[
            "secret",
            "settings",
            name,
            "--delete-version-after",
            "5 weeks",
        ][..],
        &["secret", "settings", name, "--label", "novalue"],
        &["secret", "settings", name, "--cas-required", "maybe"],
        &["secret", "versions", "delete", name],
        &["secret", "versions", "delete", name, "--version", "-1"],
    ] {
        let (code, _) = fails(args, None);
        assert_eq!(code, Some(2), "{args:?}");
    }
    let (code, err) = fails(
        &[
            "secret", "settings", name, "--label", "a=1", "--label", "a=2",
        ],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid") && err.contains("twice"), "{err}");
    let (_, err) = fails(
        &["secret", "settings", name, "--label", "lockbox.x=1"],
        None,
    );
    assert!(err.contains("invalid"), "{err}");
    let (_, err) = fails(
        &["secret", "versions", "delete", "missing", "--version", "1"],
        None,
    );
    assert!(err.contains("not_found"), "{err}");

    // The workspace-wide defaults: shown, set, and turned off again.
    let shown = run(&["workspace", "settings"], None);
    assert!(
        line_of(&shown, "delete_version_after:").ends_with(" off"),
        "{shown}"
    );
    let ws = json(&run(
        &[
            "--json",
            "workspace",
            "settings",
            "--cas-required",
            "true",
            "--delete-version-after",
            "12h",
        ],
        None,
    ));
    assert_eq!(ws["cas_required"], true);
    assert_eq!(ws["delete_version_after"], 43_200);
    let (_, err) = fails(&["secret", "set", "other"], Some("blind-write"));
    assert!(err.contains("invalid"), "{err}");
    let shown = run(&["workspace", "settings"], None);
    assert!(
        line_of(&shown, "delete_version_after:").ends_with(" 12h"),
        "{shown}"
    );
    let ws = json(&run(
        &[
            "--json",
            "workspace",
            "settings",
            "--cas-required",
            "false",
            "--delete-version-after",
            "0",
        ],
        None,
    ));
    assert_eq!(ws["cas_required"], false);
    assert_eq!(ws["delete_version_after"], Value::Null);
    run(&["secret", "set", "other"], Some("written-now"));

    // A viewer may look but not change states or settings.
    let added = run(&["member", "add", "vera", "--role", "viewer"], None);
    let vera = find_token(&added).expect("viewer token");
    let o = cli(
        &url,
        &vera,
        &["secret", "versions", "delete", name, "--version", "4"],
        None,
    );
    assert!(!o.status.success());
    assert!(err_text(&o).contains("forbidden"), "{}", err_text(&o));
    let o = cli(
        &url,
        &vera,
        &["secret", "settings", name, "--max-versions", "1"],
        None,
    );
    assert!(err_text(&o).contains("forbidden"), "{}", err_text(&o));
    s.stop();
}

fn line_of(table: &str, prefix: &str) -> String {
    table
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line for {prefix}: {table}"))
        .to_owned()
}

/// Runs `lockbox ARGS` on a pseudo-terminal (util-linux `script`, part of every
/// Debian install), typing `typed` into it; returns (success, everything shown).
fn on_terminal(url: &str, token: &str, args: &str, typed: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("script")
        .args(["-qec", &format!("{} {args}", support::BIN), "/dev/null"])
        .env("LOCKBOX_ADDR", url)
        .env("LOCKBOX_TOKEN", token)
        .env_remove("LOCKBOX_WORKSPACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn destroy_asks_on_a_terminal_and_only_yes_destroys() {
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();
    let url = s.url();
    for v in ["tty-one-1", "tty-two-2"] {
        let o = cli(&url, &token, &["secret", "set", "ttysecret"], Some(v));
        assert!(o.status.success(), "{}", err_text(&o));
    }
    let destroyed = |n: u64| {
        let o = cli(
            &url,
            &token,
            &["--json", "secret", "history", "ttysecret"],
            None,
        );
        version(&json(&text(&o)), n)["destroyed"] == true
    };
    let cmd = "secret versions destroy ttysecret --version 1";
    let (ok, shown) = on_terminal(&url, &token, cmd, "no\n");
    assert!(!ok, "{shown}");
    assert!(shown.contains("cannot be undone"), "{shown}");
    assert!(shown.contains("cancelled"), "{shown}");
    assert!(!destroyed(1));
    let (ok, shown) = on_terminal(&url, &token, cmd, "yes\n");
    assert!(ok, "{shown}");
    assert!(
        shown.contains("destroyed version 1 of ttysecret"),
        "{shown}"
    );
    assert!(destroyed(1));
    assert!(!destroyed(2));
    s.stop();
}
