//! Runs the real `lockbox` binary as a separate process: a server on an ephemeral
//! port with a temporary data directory, and CLI commands against it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_lockbox");

pub struct ServerProcess {
    child: Option<Child>,
    pub addr: String,
    pub stderr: Arc<Mutex<String>>,
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl ServerProcess {
    /// Starts `lockbox server <args>` in `cwd` and waits until it listens.
    pub fn start(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut cmd = Command::new(BIN);
        cmd.arg("server").args(args);
        Self::start_command(cmd, cwd, env)
    }

    /// As [`ServerProcess::start`], for a command that runs the server some other
    /// way (under a shell that sets limits first, say).
    pub fn start_command(mut cmd: Command, cwd: &Path, env: &[(&str, &str)]) -> ServerProcess {
        cmd.current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd.env_remove("LOCKBOX_MASTER_KEY")
            .env_remove("LOCKBOX_MASTER_KEYS")
            .env_remove("LOCKBOX_DATABASE_URL");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("lockbox binary starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let buf = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let clean = strip_ansi(&line);
                if let Some(i) = clean.find("addr=") {
                    let addr: String = clean[i + 5..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    let _ = tx.send(addr);
                }
                let mut b = buf.lock().unwrap();
                b.push_str(&clean);
                b.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("server did not start:\n{}", stderr.lock().unwrap())
            });
        ServerProcess {
            child: Some(child),
            addr,
            stderr,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then wait; returns everything the server wrote to stderr.
    pub fn stop(&mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stderr.lock().unwrap().clone()
    }

    /// The owner token a first start prints (waits briefly for it).
    pub fn token(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(t) = find_token(&self.output()) {
                if t.len() >= 47 {
                    return t;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no token printed:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flush; what the disk has is what survives.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn output(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Finds the `lbx_…` token in text (skipping shorter `lbx_` words, such as the
/// test databases' names `lbx_test_…` in the "store opened" log line).
pub fn find_token(text: &str) -> Option<String> {
    text.match_indices("lbx_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect::<String>()
        })
        .find(|t| t.len() >= 40 && !t.starts_with("lbx_test_"))
}

/// Runs a CLI command against `addr` with `token`, feeding `stdin`.
pub fn cli(addr: &str, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("LOCKBOX_ADDR", addr)
        .env("LOCKBOX_TOKEN", token)
        .env_remove("LOCKBOX_WORKSPACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            si.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}
