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
