//! The `lockbox` binary as a user runs it: zero-configuration start, the owner
//! token hand-over, the TLS rule, logs that never hold a value, key rotation with
//! the server up, and audit-chain verification that catches tampering.

mod support;

use std::process::Command;
use support::{cli, err_text, find_token, text, ServerProcess, BIN};

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

#[test]
fn zero_config_start_creates_everything_and_a_second_start_reuses_it() {
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(cwd.path(), &["--listen", "127.0.0.1:0"], &[]);
    let token = s.token();
    let first = s.output();
    assert!(first.contains("workspace 'default'"), "{first}");
    let data = cwd.path().join("lockbox-data");
    assert!(data.join("lockbox.db").exists());
    assert!(data.join("master.key").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mode: String = {
        let db = rusqlite::Connection::open(data.join("lockbox.db")).unwrap();
        db.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(mode, "wal");
    let r = http()
        .put(format!("{}/v1/workspaces/default/secrets/first", s.url()))
        .bearer_auth(&token)
        .json(&serde_json::json!({"value": "survives-restart-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    s.stop();

    let mut again = ServerProcess::start(cwd.path(), &["--listen", "127.0.0.1:0"], &[]);
    assert!(
        find_token(&again.output()).is_none(),
        "second start prints no token"
    );
    let r = http()
        .post(format!(
            "{}/v1/workspaces/default/secrets/first/reveal",
            again.url()
        ))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().unwrap()["value"],
        "survives-restart-1"
    );
    again.stop();
}

#[test]
fn init_token_file_is_private_and_the_token_is_not_printed() {
    let cwd = tempfile::tempdir().unwrap();
    let file = cwd.path().join("owner.token");
    let mut s = ServerProcess::start(
        cwd.path(),
        &[
            "--data-dir",
            "d",
            "--listen",
            "127.0.0.1:0",
            "--init-token-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    for _ in 0..50 {
        if file.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(token.starts_with("lbx_"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let out = s.stop();
    assert!(!out.contains(&token));
}

#[test]
fn plain_http_on_a_public_address_is_refused_unless_insecure_http() {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["server", "--data-dir", "d", "--listen", "0.0.0.0:0"])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = err_text(&out);
    assert!(
        e.contains("refusing to serve plain HTTP") && e.contains("--insecure-http"),
        "{e}"
    );
    let mut s = ServerProcess::start(
        cwd.path(),
        &[
            "--data-dir",
            "d",
            "--listen",
            "0.0.0.0:0",
            "--insecure-http",
        ],
        &[],
    );
    s.stop();
}

#[test]
fn serves_tls_with_the_given_certificate() {
    let cwd = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cp, kp) = (cwd.path().join("cert.pem"), cwd.path().join("key.pem"));
    std::fs::write(&cp, cert.cert.pem()).unwrap();
    std::fs::write(&kp, cert.signing_key.serialize_pem()).unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &[
            "--data-dir",
            "d",
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            cp.to_str().unwrap(),
            "--tls-key",
            kp.to_str().unwrap(),
        ],
        &[],
    );
    let port = s.addr.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets nothing useful.
    assert!(http()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .map(|r| r.status() != 200)
        .unwrap_or(true));
    s.stop();
    let bad = Command::new(BIN)
        .args([
            "server",
            "--data-dir",
            "d2",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cp.to_str().unwrap(),
        ])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn debug_logs_never_contain_a_value() {
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[("RUST_LOG", "trace")],
    );
    let token = s.token();
    let values = [
        "LOGCANARY-put-4c1e9a",
        "LOGCANARY-json-7b2d10",
        "LOGCANARY-patch-93aa07",
        "LOGCANARY-bad-55e0",
    ];
    let base = format!("{}/v1/workspaces/default/secrets", s.url());
    let c = http();
    c.put(format!("{base}/a"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"value": values[0]}))
        .send()
        .unwrap();
    c.put(format!("{base}/b"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"value": {"k": values[1]}}))
        .send()
        .unwrap();
    c.patch(format!("{base}/b"))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(serde_json::json!({"p": values[2]}).to_string())
        .send()
        .unwrap();
    for name in ["a", "b"] {
        let r = c
            .post(format!("{base}/{name}/reveal"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Failing requests carrying values.
    c.put(format!("{base}/c"))
        .bearer_auth(&token)
        .body(format!("{{\"value\": \"{}\", \"ttl\": \"x\"}}", values[3]))
        .send()
        .unwrap();
    c.put(format!("{base}/c"))
        .bearer_auth("lbx_wrong")
        .json(&serde_json::json!({"value": values[3]}))
        .send()
        .unwrap();
    c.delete(format!("{base}/a"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    let log = s.stop();
    assert!(
        log.lines().count() > 5,
        "the server did log at debug level:\n{log}"
    );
    for v in values {
        assert!(!log.contains(v), "log holds a value: {v}\n{log}");
    }
    assert_eq!(
        log.matches(&token[4..]).count(),
        1,
        "the owner token appears once, in the first-start notice"
    );
}

#[test]
fn keys_rotate_with_the_server_up_keeps_data_readable() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("d");
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();
    let url = s.url();
    let put = cli(
        &url,
        &token,
        &["secret", "set", "before-rotation"],
        Some("value-before-rotation\n"),
    );
    assert!(put.status.success(), "{}", err_text(&put));

    let rot = Command::new(BIN)
        .args(["keys", "rotate", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(rot.status.success(), "{}", err_text(&rot));
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("master.key")).unwrap()).unwrap();
    assert_eq!(key["active"], 2);
    assert_eq!(key["keys"].as_array().unwrap().len(), 2);

    // The running server still reads old data, and writes new data.
    let rev = cli(&url, &token, &["secret", "reveal", "before-rotation"], None);
    assert_eq!(text(&rev).trim(), "value-before-rotation");
    let put = cli(
        &url,
        &token,
        &["secret", "set", "after-rotation"],
        Some("value-after-rotation"),
    );
    assert!(put.status.success());
    let ws = cli(
        &url,
        &token,
        &["workspace", "create", "post-rotation"],
        None,
    );
    assert!(ws.status.success(), "{}", err_text(&ws));
    s.stop();

    // A fresh process unwraps everything under the rotated key file.
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let url = s.url();
    for (name, want) in [
        ("before-rotation", "value-before-rotation"),
        ("after-rotation", "value-after-rotation"),
    ] {
        let rev = cli(&url, &token, &["secret", "reveal", name], None);
        assert_eq!(text(&rev).trim(), want, "{}", err_text(&rev));
    }
    s.stop();
    let verify = Command::new(BIN)
        .args(["audit", "verify", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "rotation keeps the audit chain whole: {}",
        text(&verify)
    );
}

#[test]
fn audit_verify_passes_then_fails_after_a_row_is_edited() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("d");
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();
    for i in 0..5 {
        let o = cli(
            &s.url(),
            &token,
            &["secret", "set", &format!("s{i}")],
            Some("some-value-here"),
        );
        assert!(o.status.success());
    }
    cli(&s.url(), &token, &["secret", "reveal", "s1"], None);
    s.stop();
    let verify = || {
        Command::new(BIN)
            .args(["audit", "verify", "--data-dir", data.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(ok.status.success(), "{} {}", text(&ok), err_text(&ok));

    let db = rusqlite::Connection::open(data.join("lockbox.db")).unwrap();
    db.execute(
        "UPDATE audit_events SET actor = 'user:nobody' WHERE action = 'secret.reveal'",
        [],
    )
    .unwrap();
    drop(db);
    let bad = verify();
    assert!(!bad.status.success());
    assert!(
        (text(&bad) + &err_text(&bad))
            .to_lowercase()
            .contains("broken")
            || !bad.status.success()
    );

    // Deleting a row in the middle breaks the chain too.
    let db = rusqlite::Connection::open(data.join("lockbox.db")).unwrap();
    db.execute(
        "UPDATE audit_events SET actor = 'user:owner' WHERE action = 'secret.reveal'",
        [],
    )
    .unwrap();
    assert!(
        verify().status.success(),
        "restoring the row restores the chain"
    );
    // (The first row of the workspace's chain: rows of that chain follow it. A
    // chain's newest row can be cut unnoticed by the links alone; a saved
    // checkpoint catches that, see `audit_anchor.rs`.)
    let removed = db
        .execute(
            "DELETE FROM audit_events WHERE seq = (SELECT MIN(seq) FROM audit_events \
             WHERE chain = (SELECT chain FROM audit_events WHERE action = 'secret.reveal'))",
            [],
        )
        .unwrap();
    assert_eq!(removed, 1);
    drop(db);
    assert!(!verify().status.success());
}

#[test]
fn cli_walkthrough_against_a_real_server() {
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
    run(
        &[
            "secret",
            "set",
            "stripe/api key",
            "--description",
            "Stripe live key",
        ],
        Some("sk_live_walkthrough\n"),
    );
    let meta: serde_json::Value =
        serde_json::from_str(&run(&["--json", "secret", "get", "stripe/api key"], None)).unwrap();
    assert_eq!(meta["description"], "Stripe live key");
    assert_eq!(meta["version"], 1);
    assert!(run(&["secret", "ls"], None).contains("stripe/api key"));
    assert_eq!(
        run(&["secret", "reveal", "stripe/api key"], None).trim_end(),
        "sk_live_walkthrough"
    );
    run(
        &["secret", "set", "auth", "--json-value"],
        Some(r#"{"token": "t1", "siteId": 7}"#),
    );
    run(&["secret", "patch", "auth"], Some(r#"{"token": "t2"}"#));
    let v: serde_json::Value =
        serde_json::from_str(&run(&["secret", "reveal", "auth"], None)).unwrap();
    assert_eq!(v, serde_json::json!({"token": "t2", "siteId": 7}));
    assert!(run(&["secret", "history", "auth"], None).contains('2'));
    run(&["secret", "rollback", "auth", "--version", "1"], None);
    let v: serde_json::Value =
        serde_json::from_str(&run(&["secret", "reveal", "auth"], None)).unwrap();
    assert_eq!(v["token"], "t1");
    let added = run(&["member", "add", "alice", "--role", "editor"], None);
    let alice = find_token(&added).expect("new member's token is shown");
    let tok = run(
        &["--json", "token", "create", "ci", "--role", "viewer"],
        None,
    );
    let ci: serde_json::Value = serde_json::from_str(&tok).unwrap();
    assert!(ci["token"].as_str().unwrap().starts_with("lbx_"));
    // Alice (editor) may reveal but not write.
    let o = cli(&url, &alice, &["secret", "set", "x"], Some("nope-value"));
    assert!(!o.status.success());
    assert!(err_text(&o).contains("forbidden"), "{}", err_text(&o));
    run(&["secret", "rm", "stripe/api key"], None);
    let o = cli(&url, &token, &["secret", "get", "stripe/api key"], None);
    assert!(!o.status.success());
    assert!(err_text(&o).contains("not_found"));
    // A value on the command line works, with a warning.
    let o = cli(
        &url,
        &token,
        &["secret", "set", "inline", "--value", "inline-value"],
        None,
    );
    assert!(o.status.success());
    assert!(err_text(&o).to_lowercase().contains("history"));
    s.stop();
}

// ---------------------------------------------------------------------------
// Tried as a new user would (issue 16, items 12 and 13)

/// `lockbox server` run to its end (it fails before serving), with its stderr.
fn server_fails(cwd: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.arg("server")
        .args(args)
        .current_dir(cwd)
        .env_remove("LOCKBOX_MASTER_KEY")
        .env_remove("LOCKBOX_MASTER_KEYS")
        .env_remove("LOCKBOX_DATABASE_URL")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "the server was expected to refuse");
    err_text(&out)
}

#[test]
fn a_first_start_that_cannot_listen_creates_nothing_and_the_next_start_prints_the_token() {
    let cwd = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = server_fails(cwd.path(), &["--data-dir", "d", "--listen", &addr], &[]);
    assert!(err.contains("cannot listen"), "{err}");
    assert!(
        !cwd.path().join("d").exists(),
        "a start that cannot listen touches no store"
    );
    drop(taken);
    // The next start is the first real one: it creates the owner and shows the token.
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();
    let who = cli(&s.url(), &token, &["whoami"], None);
    assert!(who.status.success(), "{}", err_text(&who));
    s.stop();
}

#[test]
#[cfg(unix)]
fn secret_ls_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(cwd.path(), &["--listen", "127.0.0.1:0"], &[]);
    let token = s.token();
    for name in ["a", "b", "c"] {
        let o = cli(&s.url(), &token, &["secret", "set", name], Some("v"));
        assert!(o.status.success(), "{}", err_text(&o));
    }
    // `lockbox secret ls | head -0`: the reader is gone before the first line.
    let mut child = Command::new(BIN)
        .args(["secret", "ls"])
        .env("LOCKBOX_ADDR", s.url())
        .env("LOCKBOX_TOKEN", &token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = err_text(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(
        out.status.success() || out.status.signal() == Some(libc_sigpipe()),
        "ends like other Unix tools (SIGPIPE): {:?} {err}",
        out.status
    );
    s.stop();
}

fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn an_exported_database_url_does_not_silently_win_over_data_dir() {
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    s.token();
    s.stop();
    let unreachable = "postgres://lockbox:hunter2@127.0.0.1:1/lockbox";
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(cwd.path())
            .env_remove("LOCKBOX_DATABASE_URL")
            .env_remove("LOCKBOX_MASTER_KEY")
            .env_remove("LOCKBOX_MASTER_KEYS");
        if let Some(url) = env {
            cmd.env("LOCKBOX_DATABASE_URL", url);
        }
        cmd.output().unwrap()
    };
    // Explicit --data-dir holding an embedded store, and the variable exported.
    for args in [
        &["backup", "--data-dir", "d", "--out", "b.jsonl"][..],
        &["audit", "verify", "--data-dir", "d"][..],
        &["server", "--data-dir", "d", "--listen", "127.0.0.1:0"][..],
    ] {
        let o = run(args, Some(unreachable));
        let err = err_text(&o);
        assert!(!o.status.success(), "{args:?}: {err}");
        assert!(err.contains("ambiguous store"), "{args:?}: {err}");
        assert!(err.contains("LOCKBOX_DATABASE_URL"), "{err}");
        assert!(!err.contains("hunter2"), "never the password: {err}");
    }
    assert!(!cwd.path().join("b.jsonl").exists());
    // Without the variable the command says which store it opened.
    let o = run(&["backup", "--data-dir", "d", "--out", "b.jsonl"], None);
    assert!(o.status.success(), "{}", err_text(&o));
    let err = err_text(&o);
    assert!(
        err.contains("lockbox: store: embedded SQLite d/lockbox.db"),
        "{err}"
    );
    // An explicit --database is a choice: it says PostgreSQL, and where from.
    let o = run(
        &[
            "backup",
            "--data-dir",
            "d",
            "--database",
            unreachable,
            "--out",
            "c.jsonl",
        ],
        None,
    );
    let err = err_text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains(
            "lockbox: store: PostgreSQL postgres://lockbox:***@127.0.0.1:1/lockbox (--database)"
        ),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "names the cause: {err}");
}

#[test]
#[cfg(unix)]
fn start_up_errors_name_the_path_the_operation_and_the_cause() {
    use std::os::unix::fs::PermissionsExt;
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    s.token();
    s.stop();
    let d = cwd.path().join("d");

    // A read-only data directory (immutable for root, who ignores mode bits).
    let _writable_again = ReadOnly::make(&d);
    let err = server_fails(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert!(
        err.contains("d/.lockbox-write-check"),
        "names the path: {err}"
    );
    assert!(err.contains("write"), "names the operation: {err}");
    assert!(err.contains("os error"), "names the OS error: {err}");
    drop(_writable_again);

    // A key file others may read.
    let key = d.join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = server_fails(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert!(
        err.contains("d/master.key") && err.contains("0644"),
        "{err}"
    );
    assert!(!err.contains("internal"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A data directory that cannot be created.
    let err = server_fails(
        cwd.path(),
        &["--data-dir", "d/master.key/sub", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert!(
        err.contains("cannot create") && err.contains("d/master.key/sub"),
        "{err}"
    );
    assert!(err.contains("Not a directory"), "{err}");

    // Bad database URLs: the part that is wrong, never the password.
    let err = server_fails(
        cwd.path(),
        &[
            "--data-dir",
            "p",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "postgres://u:hunter2@db:port/x",
        ],
        &[],
    );
    assert!(err.contains("invalid port number"), "{err}");
    assert!(
        err.contains("postgres://u:***@db:port/x") && !err.contains("hunter2"),
        "{err}"
    );
    let err = server_fails(
        cwd.path(),
        &[
            "--data-dir",
            "p",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "mysql://u:hunter2@db/x",
        ],
        &[],
    );
    assert!(
        err.contains("postgres://") && !err.contains("hunter2"),
        "{err}"
    );
    let err = server_fails(
        cwd.path(),
        &["--data-dir", "p", "--listen", "127.0.0.1:0"],
        &[("LOCKBOX_DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/x")],
    );
    assert!(
        err.contains("Connection refused") && !err.contains("hunter2"),
        "{err}"
    );
}

/// Makes a directory unwritable while it lives: `chattr +i` as root (who ignores
/// mode bits), mode 0555 otherwise. Checked: a test that could not make it
/// read-only fails instead of passing without testing anything.
struct ReadOnly(std::path::PathBuf, bool);

impl ReadOnly {
    fn make(dir: &std::path::Path) -> ReadOnly {
        use std::os::unix::fs::PermissionsExt;
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| text(&o).trim() == "0")
            .unwrap_or(false);
        if root {
            let ok = Command::new("chattr")
                .args(["+i", dir.to_str().unwrap()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                ok,
                "chattr +i failed: cannot make a read-only directory as root"
            );
        } else {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        assert!(
            std::fs::write(dir.join("probe"), b"").is_err(),
            "the directory is still writable"
        );
        ReadOnly(dir.to_path_buf(), root)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.1 {
            let _ = Command::new("chattr")
                .args(["-i", self.0.to_str().unwrap()])
                .status();
        } else {
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
        }
    }
}
