//! Issue 18 in the CLI, driving the real binary against a real server process:
//! `secret rm --force` and `secret rename --force` for a secret a stored flow
//! binds (audited as forced).

mod support;

use serde_json::Value;
use support::{cli, err_text, text, ServerProcess};

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn http(
    url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<(&str, String)>,
) -> (u16, String) {
    let c = reqwest::blocking::Client::new();
    let mut req = c.request(method, format!("{url}{path}")).bearer_auth(token);
    if let Some((ct, b)) = body {
        req = req.header("content-type", ct).body(b);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.text().unwrap_or_default())
}

const FLOW: &str = r#"slug: uses-key
name: Reads boundKey
do:
  - run:
      module: secrets
      function: get
      parameters:
        name: boundKey
        scope: workspace
      output: ref
"#;

#[test]
fn rm_and_rename_force_a_bound_secret() {
    let cwd = tempfile::tempdir().unwrap();
    let s = ServerProcess::start(
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
    run(&["secret", "set", "boundKey"], Some("bound-value-12345"));
    let (st, body) = http(
        &url,
        &token,
        reqwest::Method::PUT,
        "/v1/workspaces/default/flows/uses-key",
        Some(("application/yaml", FLOW.to_owned())),
    );
    assert_eq!(st, 200, "{body}");
    let (st, body) = http(
        &url,
        &token,
        reqwest::Method::PATCH,
        "/v1/workspaces/default/settings",
        Some(("application/json", r#"{"allow_rename": true}"#.to_owned())),
    );
    assert_eq!(st, 200, "{body}");

    // Refused without --force, naming the flow; the value is never printed.
    for args in [
        &["secret", "rm", "boundKey"][..],
        &["secret", "rename", "boundKey", "boundKey2"][..],
    ] {
        let o = cli(&url, &token, args, None);
        assert!(!o.status.success(), "{args:?}");
        let err = err_text(&o);
        assert!(
            err.contains("secret_in_use") && err.contains("flow:uses-key"),
            "{err}"
        );
        assert!(!err.contains("bound-value-12345") && !text(&o).contains("bound-value-12345"));
    }

    // Forced rename moves the binding; forced rm deletes, both audited as forced.
    let out = run(
        &["secret", "rename", "boundKey", "boundKey2", "--force"],
        None,
    );
    assert!(out.contains("renamed boundKey to boundKey2"), "{out}");
    let o = cli(&url, &token, &["secret", "rm", "boundKey2"], None);
    assert!(err_text(&o).contains("secret_in_use"), "{}", err_text(&o));
    let out = run(&["--json", "secret", "rm", "boundKey2", "--force"], None);
    assert_eq!(json(&out)["deleted"], true);
    let (_, log) = http(
        &url,
        &token,
        reqwest::Method::GET,
        "/v1/workspaces/default/audit",
        None,
    );
    let log = json(&log);
    let events = log["events"].as_array().unwrap();
    let ok = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action && e["outcome"] == "ok")
            .unwrap_or_else(|| panic!("{action} in {log}"))
            .clone()
    };
    let rename = ok("secret.rename");
    assert_eq!(rename["detail"]["forced"], true);
    assert_eq!(rename["detail"]["bindings"][0], "flow:uses-key");
    let delete = ok("secret.delete");
    assert_eq!(delete["target"], "boundKey2");
    assert_eq!(delete["detail"]["forced"], true);
    assert_eq!(delete["detail"]["bindings"][0], "flow:uses-key");
}

/// What `secret export --format env --values` writes for these pairs (sorted by
/// name, as the list is): the file to import, so the round trip is byte-identical.
fn canonical_env(pairs: &[(&str, &str)]) -> String {
    let mut sorted = pairs.to_vec();
    sorted.sort();
    let mut out = String::from("# Lockbox workspace 'default': names and values\n");
    for (k, v) in sorted {
        out.push_str(&lockbox_core::dotenv::render_line(k, v));
    }
    out
}

fn audit_events(url: &str, token: &str) -> Vec<Value> {
    let (_, log) = http(
        url,
        token,
        reqwest::Method::GET,
        "/v1/workspaces/default/audit?limit=1000",
        None,
    );
    json(&log)["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn import_and_export_env_files() {
    let cwd = tempfile::tempdir().unwrap();
    let s = ServerProcess::start(
        cwd.path(),
        &["--data-dir", "d", "--listen", "127.0.0.1:0"],
        &[],
    );
    let token = s.token();
    let url = s.url();
    let dir = cwd.path();
    let mut all_stderr = String::new();
    let mut run_as = |tok: &str, args: &[&str], stdin: Option<&str>| {
        let o = cli(&url, tok, args, stdin);
        all_stderr.push_str(&err_text(&o));
        o
    };
    let pairs: [(&str, &str); 6] = [
        ("API_KEY", "sk-import-Alpha-111"),
        ("DB_URL", "postgres://u:p@db:5432/app?sslmode=require"),
        ("GREETING", "hello world # not a comment"),
        (
            "PEM",
            "-----BEGIN KEY-----\nAAAA-import-pem\n-----END KEY-----",
        ),
        ("QUOTED", "it's \"quoted\" and $HOME stays"),
        ("db/password", "pw-import-Zeta-999"),
    ];
    let values: Vec<&str> = pairs.iter().map(|(_, v)| *v).collect();
    let input = canonical_env(&pairs);
    let env_file = dir.join("in.env");
    std::fs::write(&env_file, &input).unwrap();

    // A dry run previews (values masked) and writes nothing.
    let o = run_as(
        &token,
        &["secret", "import", env_file.to_str().unwrap(), "--dry-run"],
        None,
    );
    assert!(o.status.success(), "{}", err_text(&o));
    let preview = text(&o);
    assert!(preview.contains("API_KEY") && preview.contains("new") && preview.contains("masked"));
    assert!(preview.contains("nothing was"), "{preview}");
    for v in &values {
        assert!(!preview.contains(v), "the preview shows no value");
    }
    let o = run_as(&token, &["--json", "secret", "ls"], None);
    assert_eq!(json(&text(&o)).as_array().unwrap().len(), 0);

    // Import, one audited write each.
    let o = run_as(
        &token,
        &[
            "--json",
            "secret",
            "import",
            env_file.to_str().unwrap(),
            "--yes",
        ],
        None,
    );
    assert!(o.status.success(), "{}", err_text(&o));
    let r = json(&text(&o));
    assert_eq!(r["created"].as_array().unwrap().len(), 6, "{r}");
    assert!(!text(&o).contains("sk-import-Alpha-111"));
    let puts = audit_events(&url, &token)
        .into_iter()
        .filter(|e| e["action"] == "secret.put" && e["outcome"] == "ok")
        .count();
    assert_eq!(puts, 6);

    // Export with values: byte-identical to what was imported, file mode 0600.
    let out_file = dir.join("out.env");
    let o = run_as(
        &token,
        &[
            "secret",
            "export",
            "--format",
            "env",
            "--values",
            "--yes",
            "-o",
            out_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", err_text(&o));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), input);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let reveals = audit_events(&url, &token)
        .into_iter()
        .filter(|e| e["action"] == "secret.reveal" && e["outcome"] == "ok")
        .count();
    assert_eq!(reveals, 6, "each exported value is an audited reveal");
    // Values need --yes when there is no terminal to confirm on.
    let o = run_as(&token, &["secret", "export", "--values"], None);
    assert!(!o.status.success());
    assert!(err_text(&o).contains("--yes"), "{}", err_text(&o));
    assert!(text(&o).is_empty());

    // Conflicts are listed and skipped; --overwrite replaces them.
    let second = dir.join("second.env");
    std::fs::write(
        &second,
        "export API_KEY=\"sk-import-Changed-222\"\nNEW_ONE='fresh-import-333'\n",
    )
    .unwrap();
    let o = run_as(
        &token,
        &["secret", "import", second.to_str().unwrap(), "--yes"],
        None,
    );
    assert!(o.status.success(), "{}", err_text(&o));
    let out = text(&o);
    assert!(
        out.contains("conflicts") && out.contains("API_KEY") && out.contains("exists (skip)"),
        "{out}"
    );
    assert!(out.contains("1 created, 0 overwritten, 1 skipped"), "{out}");
    let o = run_as(&token, &["secret", "reveal", "API_KEY"], None);
    assert_eq!(text(&o).trim(), "sk-import-Alpha-111");
    let o = run_as(
        &token,
        &[
            "--json",
            "secret",
            "import",
            second.to_str().unwrap(),
            "--yes",
            "--overwrite",
        ],
        None,
    );
    let r = json(&text(&o));
    assert_eq!(r["overwritten"].as_array().unwrap().len(), 2, "{r}");
    let o = run_as(&token, &["secret", "reveal", "API_KEY"], None);
    assert_eq!(text(&o).trim(), "sk-import-Changed-222");

    // Restricted import; names that are not .env keys are reported and skipped.
    let third = dir.join("third.env");
    std::fs::write(&third, "LOCKED=locked-import-444\n").unwrap();
    let o = run_as(
        &token,
        &[
            "secret",
            "import",
            third.to_str().unwrap(),
            "--yes",
            "--visibility",
            "restricted",
        ],
        None,
    );
    assert!(o.status.success(), "{}", err_text(&o));
    let o = run_as(
        &token,
        &["secret", "set", "has space", "--description", "Spaced out"],
        Some("space-value-555"),
    );
    assert!(o.status.success(), "{}", err_text(&o));
    let o = run_as(&token, &["secret", "export", "--values", "--yes"], None);
    assert!(o.status.success(), "{}", err_text(&o));
    let env = text(&o);
    assert!(env.contains("API_KEY=sk-import-Changed-222"), "{env}");
    assert!(
        !env.contains("LOCKED") && !env.contains("locked-import-444"),
        "{env}"
    );
    let err = err_text(&o);
    assert!(err.contains("skipped LOCKED: restricted"), "{err}");
    assert!(
        err.contains("skipped has space: not a valid .env key"),
        "{err}"
    );

    // Metadata only: a .env.example with descriptions as comments, and JSON.
    let o = run_as(&token, &["secret", "export"], None);
    let example = text(&o);
    assert!(
        example.contains("API_KEY=\n") && example.contains("LOCKED=\n"),
        "{example}"
    );
    for v in &values {
        assert!(!example.contains(v));
    }
    let o = run_as(&token, &["secret", "export", "--format", "json"], None);
    let list = json(&text(&o));
    let spaced = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "has space")
        .unwrap();
    assert_eq!(spaced["description"], "Spaced out");
    assert!(spaced.get("value").is_none());

    // A viewer: metadata works; values are skipped, each listed on stderr.
    let o = run_as(&token, &["member", "add", "vera", "--role", "viewer"], None);
    let vera = support::find_token(&text(&o)).expect("viewer token");
    let o = run_as(&vera, &["secret", "export", "--format", "json"], None);
    assert!(o.status.success(), "{}", err_text(&o));
    assert_eq!(json(&text(&o)).as_array().unwrap().len(), 9);
    let o = run_as(
        &vera,
        &["secret", "export", "--format", "json", "--values", "--yes"],
        None,
    );
    assert!(o.status.success(), "{}", err_text(&o));
    let got = json(&text(&o));
    assert!(got.as_array().unwrap().is_empty(), "{got}");
    let err = err_text(&o);
    assert!(
        err.contains("skipped API_KEY: not revealed (forbidden)"),
        "{err}"
    );
    assert!(err.contains("skipped LOCKED: restricted"), "{err}");

    // A malformed file names the line, never the value.
    let bad = dir.join("bad.env");
    std::fs::write(&bad, "OK=fine\nBROKEN=\"unterminated-secret-666\n").unwrap();
    let o = run_as(
        &token,
        &["secret", "import", bad.to_str().unwrap(), "--yes"],
        None,
    );
    assert!(!o.status.success());
    assert!(err_text(&o).contains("line 2"), "{}", err_text(&o));

    // From stdin too.
    let o = run_as(
        &token,
        &["--json", "secret", "import", "-", "--yes"],
        Some("STDIN_KEY=from-stdin-777\n"),
    );
    assert!(o.status.success(), "{}", err_text(&o));
    assert_eq!(json(&text(&o))["created"][0], "STDIN_KEY");

    for v in values.iter().chain(&[
        "sk-import-Changed-222",
        "locked-import-444",
        "unterminated-secret-666",
        "from-stdin-777",
        "fresh-import-333",
    ]) {
        assert!(!all_stderr.contains(v), "a value reached stderr");
    }
}
