//! `lockbox run`: a child gets the secrets as environment variables, and what it
//! prints (raw, base64 plain and wrapped, hex, percent-encoded, as HTML
//! entities, split across writes, on stdout or stderr) shows only redactions;
//! its exit code comes back.

mod support;

use std::process::Command;
use support::{cli, err_text, text, ServerProcess, BIN};

#[test]
fn child_gets_values_and_its_output_shows_only_redactions() {
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();
    let url = s.url();
    for (name, value) in [
        ("app/api-key", "sk_live_RunChild_987654"),
        ("app/db password", "pg-pass-Zz9Yy8Xx7"),
        ("other", "not-for-app-123"),
    ] {
        assert!(cli(&url, &token, &["secret", "set", name], Some(value))
            .status
            .success());
    }
    // A value below the minimum length is stored, with a warning.
    let o = cli(&url, &token, &["secret", "set", "pin"], Some("4821"));
    assert!(o.status.success());
    assert!(
        err_text(&o).contains("warning: the value is shorter than 6 bytes"),
        "{}",
        err_text(&o)
    );
    assert!(!err_text(&o).contains("4821"));
    let script = r#"
echo "key=$API_KEY"
echo "db=$DB_PASSWORD"
env | grep -c OTHER
printf %s "$API_KEY" | base64
printf %s "$API_KEY" | od -An -tx1 | tr -d ' \n'; echo
printf '%s\n' "$DB_PASSWORD" | sed 's/-/%2d/g'
printf '%s\n' "$DB_PASSWORD" | sed 's/-/\&#45;/g'
printf %s "lead-$API_KEY-$API_KEY-$API_KEY-$API_KEY" | base64
half=$(printf %s "$DB_PASSWORD" | cut -c1-7)
rest=$(printf %s "$DB_PASSWORD" | cut -c8-)
printf %s "$half" >&2
sleep 0.2
printf '%s\n' "$rest" >&2
test "$API_KEY" = "sk_live_RunChild_987654" || exit 9
exit 7
"#;
    let o = Command::new(BIN)
        .args(["run", "--prefix", "app/", "--", "sh", "-c", script])
        .env("LOCKBOX_ADDR", &url)
        .env("LOCKBOX_TOKEN", &token)
        .env_remove("LOCKBOX_WORKSPACE")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(7),
        "exit code passes through: {}{}",
        text(&o),
        err_text(&o)
    );
    let (out, err) = (text(&o), err_text(&o));
    assert!(out.contains("key=[REDACTED:app/api-key]"), "{out}");
    assert!(out.contains("db=[REDACTED:app/db password]"), "{out}");
    assert!(out.contains("\n0\n"), "only the prefix's secrets: {out}");
    for leak in [
        "sk_live_RunChild_987654",
        "c2tfbGl2ZV9SdW5DaGlsZF85ODc2NTQ",
        "pg-pass-Zz9Yy8Xx7",
        "pg-pass",
        "pg%2dpass",
        "pg&#45;pass",
        "736b5f6c6976655f52756e4368696c64",
    ] {
        assert!(
            !out.contains(leak) && !err.contains(leak),
            "leaked {leak}: {out} {err}"
        );
    }
    assert!(err.contains("[REDACTED:app/db password]"), "{err}");
    // key=, base64, hex, and at least one mask per wrapped line.
    assert!(out.matches("[REDACTED:app/api-key]").count() >= 5, "{out}");
    // db=, percent-encoded, HTML entities.
    assert_eq!(
        out.matches("[REDACTED:app/db password]").count(),
        3,
        "{out}"
    );

    // Two names mapping to one variable are refused.
    assert!(cli(
        &url,
        &token,
        &["secret", "set", "app/api_key"],
        Some("collides-1234")
    )
    .status
    .success());
    let o = Command::new(BIN)
        .args(["run", "--prefix", "app/", "--", "true"])
        .env("LOCKBOX_ADDR", &url)
        .env("LOCKBOX_TOKEN", &token)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(err_text(&o).contains("API_KEY"), "{}", err_text(&o));
    s.stop();
}

/// Issue 14, case 9: whoever may write a secret (an admin, a run token) must not
/// get to run code on the machine of the person who uses `lockbox run`.
#[test]
fn run_refuses_secrets_that_would_set_startup_variables() {
    let cwd = tempfile::tempdir().unwrap();
    let s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();
    let url = s.url();
    let marker = cwd.path().join("pwned");
    // bash expands BASH_ENV before sourcing it: a command substitution runs.
    let payload = format!("$(touch {})", marker.display());
    for (name, value) in [
        ("app/api-key", "sk_live_Harmless_123456"),
        ("app/BASH_ENV", payload.as_str()),
    ] {
        assert!(cli(&url, &token, &["secret", "set", name], Some(value))
            .status
            .success());
    }
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--prefix", "app/"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "bash", "-c", "echo ran"]);
        Command::new(BIN)
            .args(&args)
            .env("LOCKBOX_ADDR", &url)
            .env("LOCKBOX_TOKEN", &token)
            .env_remove("LOCKBOX_WORKSPACE")
            .output()
            .unwrap()
    };
    let o = run(&[]);
    assert!(!o.status.success(), "{}{}", text(&o), err_text(&o));
    let err = err_text(&o);
    assert!(
        err.contains("app/BASH_ENV") && err.contains("$BASH_ENV") && err.contains("--allow-env"),
        "the error names the secret, the variable and the way out: {err}"
    );
    assert!(!text(&o).contains("ran"), "the command never started");
    assert!(!marker.exists(), "BASH_ENV ran code");
    // Nothing was revealed (and so audited) for a refused run.
    let audit = cli(&url, &token, &["--json", "audit", "ls"], None);
    let audit = text(&audit);
    assert!(
        !audit.contains("secret.reveal"),
        "a refused run reveals nothing: {audit}"
    );
    // The rest of the class, each behind its own prefix (names map case-blind).
    for (i, var) in [
        "path",
        "LD_PRELOAD",
        "node-options",
        "PYTHONSTARTUP",
        "GIT_SSH_COMMAND",
    ]
    .iter()
    .enumerate()
    {
        let prefix = format!("set{i}/");
        let name = format!("{prefix}{var}");
        assert!(cli(
            &url,
            &token,
            &["secret", "set", &name],
            Some("/tmp/x-123456")
        )
        .status
        .success());
        let o = Command::new(BIN)
            .args(["run", "--prefix", &prefix, "--", "true"])
            .env("LOCKBOX_ADDR", &url)
            .env("LOCKBOX_TOKEN", &token)
            .env_remove("LOCKBOX_WORKSPACE")
            .output()
            .unwrap();
        assert!(!o.status.success(), "{name} was accepted");
        assert!(err_text(&o).contains(&name), "{}", err_text(&o));
    }
    // Named explicitly, it is the user's choice.
    let o = run(&["--allow-env", "BASH_ENV"]);
    assert!(o.status.success(), "{}{}", text(&o), err_text(&o));
    assert!(text(&o).contains("ran"));
    assert!(
        marker.exists(),
        "with --allow-env the variable is passed on"
    );
}
