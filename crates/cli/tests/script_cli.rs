//! `lockbox script run` as README.md shows it: seed 000's caching pattern
//! (examples/seed000-caching.script) against a local echo upstream, first without a
//! cached token (login, cache, call), then with it; credentials never printed.

mod support;

use std::io::{Read, Write};
use std::process::Command;
use support::{cli, err_text, text, ServerProcess, BIN};

/// A tiny HTTP echo upstream on a thread: answers every request with a login-style
/// JSON body and records what it received.
fn echo_upstream() -> (String, std::sync::Arc<std::sync::Mutex<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            // Read headers (and a small body) until the client pauses.
            s.set_read_timeout(Some(std::time::Duration::from_millis(200)))
                .unwrap();
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            log.lock().unwrap().push_str(&String::from_utf8_lossy(&got));
            let body = r#"{"token": "echo-jwt-3f9a1c7e5b2d", "ok": true}"#;
            let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    (format!("http://{addr}"), seen)
}

#[test]
fn seed000_caching_pattern_runs_as_the_readme_shows() {
    let cwd = tempfile::tempdir().unwrap();
    let mut s = ServerProcess::start(
        cwd.path(),
        &[
            "--data-dir",
            "d",
            "--listen",
            "127.0.0.1:0",
            "--egress-allow-private",
        ],
        &[],
    );
    let token = s.token();
    let url = s.url();
    let (echo, seen) = echo_upstream();
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed000-caching.script"
    ))
    .unwrap()
    .replace("http://127.0.0.1:8280", &echo);
    let file = cwd.path().join("caching.script");
    std::fs::write(&file, source).unwrap();
    assert!(cli(
        &url,
        &token,
        &["secret", "set", "ExternalApiUsername"],
        Some("demo-user")
    )
    .status
    .success());
    assert!(cli(
        &url,
        &token,
        &["secret", "set", "ExternalApiPassword"],
        Some("demo-password-123")
    )
    .status
    .success());

    let run = || {
        Command::new(BIN)
            .args(["script", "run", file.to_str().unwrap()])
            .env("LOCKBOX_ADDR", &url)
            .env("LOCKBOX_TOKEN", &token)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}{}",
        text(&first),
        err_text(&first)
    );
    let out = text(&first);
    assert!(
        out.contains("obtaining new token")
            && out.contains("cached successfully")
            && out.contains("Successfully retrieved"),
        "{out}"
    );
    let second = run();
    assert!(
        text(&second).contains("Using cached authentication token"),
        "{}",
        text(&second)
    );
    let received = seen.lock().unwrap().clone();
    assert!(
        received.contains("demo-password-123"),
        "the login got the real password"
    );
    assert!(
        received.contains("Bearer echo-jwt-3f9a1c7e5b2d"),
        "the API call got the cached token"
    );
    for o in [&first, &second] {
        let all = text(o) + &err_text(o);
        assert!(
            !all.contains("demo-password-123") && !all.contains("echo-jwt-3f9a1c7e5b2d"),
            "{all}"
        );
    }
    // Missing credentials: cancelled, exit 1, the message shown.
    assert!(
        cli(&url, &token, &["secret", "rm", "ExternalApiPassword"], None)
            .status
            .success()
    );
    assert!(cli(&url, &token, &["secret", "rm", "ExternalApiJWT"], None)
        .status
        .success());
    let third = run();
    assert!(!third.status.success());
    assert!(
        text(&third).contains("cancelled: External API credentials not configured"),
        "{}",
        text(&third)
    );
    s.stop();
}
