//! Issue 16, item 5: with few file descriptors (`ulimit -n 64`) and hundreds of
//! connections, nobody is left waiting: every connection is answered (or closed)
//! at once, the log says why, and the server keeps serving once the storm ends.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{ServerProcess, BIN};

fn start_with_open_files(cwd: &std::path::Path, n: u32) -> ServerProcess {
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        &format!("ulimit -n {n}; exec \"$0\" server --data-dir d --listen 127.0.0.1:0"),
        BIN,
    ]);
    ServerProcess::start_command(cmd, cwd, &[])
}

/// Sends a request on `s` and reads until the answer's status line, the peer
/// closing, or `limit`; returns the status code (0 when closed without one) and
/// whether the limit ran out.
fn answer(mut s: TcpStream, limit: Duration) -> (u16, bool) {
    let _ = s.set_read_timeout(Some(limit));
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(2).any(|w| w == b"\r\n") {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (0, true)
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, false)
}

#[test]
fn few_file_descriptors_and_many_connections_leave_nobody_waiting() {
    let cwd = tempfile::tempdir().unwrap();
    let s = start_with_open_files(cwd.path(), 64);
    let token = s.token();
    let addr = s.url().trim_start_matches("http://").to_owned();
    // Hold 300 connections open at once, then ask on each.
    let mut held = Vec::new();
    for _ in 0..300 {
        match TcpStream::connect(&addr) {
            Ok(c) => held.push(c),
            Err(_) => break,
        }
    }
    assert!(
        held.len() >= 200,
        "the test opened only {} connections",
        held.len()
    );
    let started = Instant::now();
    let answers: Vec<(u16, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = held
            .drain(..)
            .map(|c| scope.spawn(move || answer(c, Duration::from_secs(20))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let waited = answers.iter().filter(|(_, timed_out)| *timed_out).count();
    let ok = answers.iter().filter(|(c, _)| *c == 200).count();
    let refused = answers.iter().filter(|(c, _)| *c == 503).count();
    assert_eq!(
        waited, 0,
        "{waited} connections got nothing for 20 s ({ok} answered 200, {refused} answered 503)"
    );
    assert!(ok > 0, "some connections were served");
    assert!(
        refused > 0,
        "past the limit a connection is told so, not left hanging"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // The log says why connections were turned away.
    let log = s.output();
    assert!(
        log.contains("connection") && (log.contains("limit") || log.contains("accept")),
        "the log names the connection limit or the accept failure:\n{log}"
    );
    // Once the storm is over the node serves as before.
    let http = reqwest::blocking::Client::new();
    let r = http
        .get(format!("{}/v1/workspaces/default/secrets", s.url()))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}
