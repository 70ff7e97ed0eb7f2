//! `lockbox flow run` as a user runs it: seed 001's secrets snippets and its
//! onError/conditions/emit snippet, against a server and embedded; a cron run
//! touching the user scope fails with user_required and the step's path.

mod support;

use std::process::Command;
use support::{err_text, text, ServerProcess, BIN};

const SECRETS_FLOW: &str = r#"slug: secrets-demo
name: Seed 001 secrets module
do:
  - run:
      module: secrets
      function: set
      parameters:
        name: myApiKey
        value: "sk-live-abc123"
        scope: workspace
      output: secretRef
  - run:
      module: secrets
      function: get
      parameters:
        name: myApiKey
        scope: workspace
      output: secretRef
  - run:
      module: secrets
      function: get
      parameters:
        name: missingKey
        scope: workspace
      onError: continue
      output: result
  - conditions:
      '{{result.error}}':
        - emit:
            event: secret-missing
            payload:
              message: "Secret missingKey not found"
  - run:
      module: secrets
      function: delete
      parameters:
        name: myApiKey
        scope: workspace
      output: result
"#;

const USER_SCOPE_FLOW: &str = r#"slug: private
do:
  - run:
      module: secrets
      function: get
      parameters:
        name: mine
        scope: user
      output: ref
"#;

fn flow(addr: &str, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["flow", "run"])
        .args(args)
        .env("LOCKBOX_ADDR", addr)
        .env("LOCKBOX_TOKEN", token)
        .env_remove("LOCKBOX_WORKSPACE")
        .output()
        .unwrap()
}

#[test]
fn seed_snippets_run_remote_and_embedded() {
    let cwd = tempfile::tempdir().unwrap();
    let file = cwd.path().join("secrets.yaml");
    std::fs::write(&file, SECRETS_FLOW).unwrap();
    let cron = cwd.path().join("private.yaml");
    std::fs::write(&cron, USER_SCOPE_FLOW).unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();

    let o = flow(&s.url(), &token, &[file.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", text(&o), err_text(&o));
    let out = text(&o);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "event" && l["event"] == "secret-missing"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["result"] == serde_json::json!({"error": "not_found"})),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["result"] == serde_json::json!({"deleted": true})),
        "{out}"
    );
    assert!(
        out.contains("$secret:") || out.contains("[REDACTED"),
        "set/get answer references: {out}"
    );
    assert!(!out.contains("sk-live-abc123"), "{out}");

    let o = flow(
        &s.url(),
        &token,
        &[cron.to_str().unwrap(), "--trigger", "cron"],
    );
    assert!(!o.status.success());
    let e = err_text(&o);
    assert!(e.contains("user_required") && e.contains("do[0]"), "{e}");
    s.stop();

    // Embedded: no server, the same store.
    let d = cwd.path().join("d");
    let o = flow(
        "http://127.0.0.1:1",
        &token,
        &[file.to_str().unwrap(), "--data-dir", d.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}{}", text(&o), err_text(&o));
    assert!(text(&o).contains("secret-missing"));
    assert!(!text(&o).contains("sk-live-abc123"));

    // A broken file is an error with its location.
    let bad = cwd.path().join("bad.yaml");
    std::fs::write(&bad, "slug: bad\ndo:\n  - nope: {}\n").unwrap();
    let o = flow(
        "http://127.0.0.1:1",
        &token,
        &[bad.to_str().unwrap(), "--data-dir", d.to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(err_text(&o).contains("3:"), "{}", err_text(&o));
}
