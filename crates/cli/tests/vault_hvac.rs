//! Drives the pytest suite in `tests/vault_hvac/` (hvac, HashiCorp's Python Vault
//! client, unmodified) against the real `lockbox server` binary: a free loopback
//! port, a temporary data directory, the owner token from `--init-token-file`.
//!
//! The virtualenv is made here, under the target directory, when missing
//! (`python3 -m venv`, `pip install -r requirements.txt`, exact pins). Without
//! python3 the test says so in one line and passes, unless
//! `LOCKBOX_REQUIRE_PYTHON=1` (CI sets it), where that is a failure.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::ServerProcess;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vault_hvac")
}

fn python_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The virtualenv for these requirements, made once per target directory (its
/// name carries a hash of requirements.txt, so a changed pin makes a new one).
fn virtualenv() -> PathBuf {
    let reqs = suite_dir().join("requirements.txt");
    let pins = std::fs::read(&reqs).expect("requirements.txt");
    let tag = pins.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vault-hvac-venv-{tag:016x}"));
    let python = venv.join("bin/python");
    let ready = venv.join(".installed");
    if ready.exists() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv runs");
    assert!(
        st.success(),
        "python3 -m venv failed (Debian: apt-get install python3-venv)"
    );
    let st = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&reqs)
        .status()
        .expect("pip runs");
    assert!(st.success(), "pip install -r {} failed", reqs.display());
    std::fs::write(&ready, &pins).unwrap();
    python
}

#[test]
fn hvac_suite_passes_against_a_real_server() {
    if !python_available() {
        if std::env::var("LOCKBOX_REQUIRE_PYTHON").as_deref() == Ok("1") {
            panic!("python3 is required (LOCKBOX_REQUIRE_PYTHON=1) but was not found");
        }
        println!("skipped: python3 not found; the hvac suite needs it (set LOCKBOX_REQUIRE_PYTHON=1 to fail instead)");
        return;
    }
    let python = virtualenv();
    let cwd = tempfile::tempdir().unwrap();
    let token_file = cwd.path().join("owner.token");
    let mut server = ServerProcess::start(
        cwd.path(),
        &[
            "--data-dir",
            "data",
            "--listen",
            "127.0.0.1:0",
            "--init-token-file",
            token_file.to_str().unwrap(),
        ],
        &[],
    );
    for _ in 0..200 {
        // The server links the file into place whole; a newline ends the token.
        if std::fs::read_to_string(&token_file).is_ok_and(|t| t.ends_with('\n')) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let token = std::fs::read_to_string(&token_file)
        .expect("owner token file")
        .trim()
        .to_owned();
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(suite_dir().join("test_hvac.py"))
        .env("VAULT_ADDR", format!("{}/vault", server.url()))
        .env("VAULT_TOKEN", &token)
        .env("LOCKBOX_ADDR", server.url())
        .env("LOCKBOX_TOKEN", &token)
        .env_remove("VAULT_NAMESPACE")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(cwd.path())
        .output()
        .expect("pytest runs");
    let log = server.stop();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "the hvac suite failed:\n{stdout}\n{stderr}\nserver log:\n{log}"
    );
    assert!(!log.contains(&token), "the token never reaches the log");
}
