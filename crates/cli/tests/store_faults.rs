//! The binary on a store that cannot write: with the data directory's files held
//! under a file-size limit (what a full disk looks like to SQLite: writes past it
//! fail), writes answer `503 unavailable` with `Retry-After` and a message that
//! says the disk, `/readyz` fails, reads still work, and the log line of every
//! 5xx carries the request id the client was given.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{ServerProcess, BIN};

/// `lockbox server` under bash with `ulimit -f` (KiB) and SIGXFSZ ignored, so a
/// write past the limit fails with EFBIG instead of killing the process.
fn start_with_file_limit(cwd: &std::path::Path, kib: u64) -> ServerProcess {
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        &format!(
            "trap '' XFSZ; ulimit -f {kib}; exec \"$0\" server --data-dir d --listen 127.0.0.1:0 \
             --readyz-timeout 2s"
        ),
        BIN,
    ]);
    ServerProcess::start_command(cmd, cwd, &[])
}

#[test]
fn a_full_disk_answers_503_readyz_fails_and_the_log_line_has_the_request_id() {
    if Command::new("bash").arg("-c").arg("true").status().is_err() {
        panic!("bash is needed to set the file-size limit");
    }
    let cwd = tempfile::tempdir().unwrap();
    let mut s = start_with_file_limit(cwd.path(), 3 * 1024);
    let token = s.token();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    assert_eq!(
        http.get(format!("{}/readyz", s.url()))
            .send()
            .unwrap()
            .status(),
        200
    );
    let put = |name: &str, value: String| {
        http.put(format!("{}/v1/workspaces/default/secrets/{name}", s.url()))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "value": value }))
            .send()
            .unwrap()
    };
    assert_eq!(put("first", "kept".into()).status(), 201);
    // 60 KB values until the write-ahead log cannot grow: well within 200 writes.
    let mut refused = None;
    for i in 0..200 {
        let value: String = (0..60_000)
            .map(|j| char::from(b'a' + ((i * 7 + j * 13) % 26) as u8))
            .collect();
        let r = put(&format!("big-{i}"), value);
        if r.status() != 201 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("a write failed once the file limit was reached");
    assert_eq!(r.status(), 503);
    let retry = r.headers().get("retry-after").cloned();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("disk"), "{msg}");
    assert!(retry.is_some());

    let t = Instant::now();
    let ready = http.get(format!("{}/readyz", s.url())).send().unwrap();
    assert_eq!(ready.status(), 503);
    assert!(t.elapsed() < Duration::from_secs(5));
    let ready: serde_json::Value = ready.json().unwrap();
    assert!(
        ready["reason"].as_str().unwrap().contains("disk"),
        "{ready}"
    );

    // Reads go on.
    let r = http
        .post(format!(
            "{}/v1/workspaces/default/secrets/first/reveal",
            s.url()
        ))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);

    let log = s.stop();
    let line = log
        .lines()
        .find(|l| l.contains("request failed") && l.contains(&id))
        .unwrap_or_else(|| panic!("no 5xx line with request id {id}:\n{log}"));
    assert!(
        line.contains("status=503") && line.contains("disk"),
        "{line}"
    );
    assert!(!log.contains("request_id=None"), "{log}");
}
