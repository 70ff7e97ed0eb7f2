//! hvac, HashiCorp's Python Vault client, against the real `lockbox server` binary
//! (a free loopback port, a temporary data directory, the owner token from
//! `--init-token-file`), two ways:
//!
//! - our pytest suite in `tests/vault_hvac/test_hvac.py` (hvac unmodified, every
//!   case cross-checked through the native API);
//! - hvac's own KV v2 integration suite, `test_kv_v2.py` from hvac's pinned source
//!   distribution, unmodified, through the conftest in `tests/vault_hvac/kv_v2/`
//!   (which stands in for its Vault start-up and maps its `kvv2` mount to
//!   `secret`): every one of its 84 cases must pass.
//!
//! The virtualenv and the source distribution are fetched here, under the target
//! directory, when missing (`python3 -m venv`, `pip install -r requirements.txt`,
//! exact pins; `pip download` of the sdist, checked against its SHA-256). Without
//! python3 each test says so in one line and passes, unless
//! `LOCKBOX_REQUIRE_PYTHON=1` (CI sets it), where that is a failure.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use support::ServerProcess;

/// hvac's source distribution: the version pinned in requirements.txt, and the
/// SHA-256 of its `.tar.gz` on PyPI.
const HVAC_VERSION: &str = "2.4.0";
const HVAC_SDIST_SHA256: &str = "e0056ad9064e7923e874e6769015b032580b639e29246f5ab1044f7959c1c7e0";
/// The cases in hvac 2.4.0's `test_kv_v2.py`.
const HVAC_KV_V2_CASES: usize = 84;

/// The two tests share the virtualenv and run in parallel: one makes it.
static FETCH: Mutex<()> = Mutex::new(());

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vault_hvac")
}

/// False (and says so in one line) when python3 is missing and not required.
fn python_available() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("LOCKBOX_REQUIRE_PYTHON").as_deref() == Ok("1") {
            panic!("python3 is required (LOCKBOX_REQUIRE_PYTHON=1) but was not found");
        }
        println!("skipped: python3 not found; the hvac suites need it (set LOCKBOX_REQUIRE_PYTHON=1 to fail instead)");
    }
    found
}

/// A short hash of some bytes, for cache directory names.
fn tag(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

/// The virtualenv for these requirements, made once per target directory (its
/// name carries a hash of requirements.txt, so a changed pin makes a new one).
fn virtualenv() -> PathBuf {
    let _one = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let reqs = suite_dir().join("requirements.txt");
    let pins = std::fs::read(&reqs).expect("requirements.txt");
    let venv =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vault-hvac-venv-{}", tag(&pins)));
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

/// hvac's source distribution, unpacked once per target directory: the directory
/// holding its `tests/` package.
fn hvac_sdist(python: &Path) -> PathBuf {
    let _one = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let cache =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vault-hvac-sdist-{HVAC_VERSION}"));
    let tree = cache.join(format!("hvac-{HVAC_VERSION}"));
    let ready = cache.join(".unpacked");
    if ready.exists() {
        return tree;
    }
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::create_dir_all(&cache).unwrap();
    let st = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-binary",
            ":all:",
            "--no-deps",
            "-d",
        ])
        .arg(&cache)
        .arg(format!("hvac=={HVAC_VERSION}"))
        .status()
        .expect("pip runs");
    assert!(
        st.success(),
        "pip download of hvac=={HVAC_VERSION}'s sdist failed"
    );
    let archive = cache.join(format!("hvac-{HVAC_VERSION}.tar.gz"));
    let sum = Command::new(python)
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
        ])
        .arg(&archive)
        .output()
        .expect("python runs");
    assert_eq!(
        String::from_utf8_lossy(&sum.stdout).trim(),
        HVAC_SDIST_SHA256,
        "{} is not hvac {HVAC_VERSION}'s published source distribution",
        archive.display()
    );
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&cache)
        .status()
        .expect("tar runs");
    assert!(st.success(), "could not unpack {}", archive.display());
    assert!(tree
        .join("tests/integration_tests/api/secrets_engines/test_kv_v2.py")
        .exists());
    std::fs::write(&ready, HVAC_SDIST_SHA256).unwrap();
    tree
}

/// A server with a fresh data directory in `cwd`, and its owner token.
fn start_server(cwd: &Path) -> (ServerProcess, String) {
    let token_file = cwd.join("owner.token");
    let server = ServerProcess::start(
        cwd,
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
    (server, token)
}

/// pytest under the virtualenv's python, with the server's address and token.
fn pytest(python: &Path, server: &ServerProcess, token: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .env("VAULT_ADDR", format!("{}/vault", server.url()))
        .env("VAULT_TOKEN", token)
        .env("LOCKBOX_ADDR", server.url())
        .env("LOCKBOX_TOKEN", token)
        .env_remove("VAULT_NAMESPACE")
        .env_remove("PYTEST_ADDOPTS")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(cwd);
    cmd
}

fn report(out: &Output, mut server: ServerProcess, token: &str, what: &str) -> String {
    let log = server.stop();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{stderr}\nserver log:\n{log}"
    );
    assert!(!log.contains(token), "the token never reaches the log");
    stdout
}

#[test]
fn hvac_suite_passes_against_a_real_server() {
    if !python_available() {
        return;
    }
    let python = virtualenv();
    let cwd = tempfile::tempdir().unwrap();
    let (server, token) = start_server(cwd.path());
    let out = pytest(&python, &server, &token, cwd.path())
        .arg(suite_dir().join("test_hvac.py"))
        .output()
        .expect("pytest runs");
    report(&out, server, &token, "the hvac suite");
}

#[test]
fn hvacs_own_kv_v2_suite_passes_unmodified() {
    if !python_available() {
        return;
    }
    let python = virtualenv();
    let sdist = hvac_sdist(&python);
    let harness = suite_dir().join("kv_v2");
    let cwd = tempfile::tempdir().unwrap();
    let (server, token) = start_server(cwd.path());
    // Our pytest.ini (hvac's own settings need pytest-xdist), the sdist as the
    // root, our conftest as the one initial conftest, and hvac's test file.
    let out = pytest(&python, &server, &token, cwd.path())
        .arg("-c")
        .arg(harness.join("pytest.ini"))
        .arg("--rootdir")
        .arg(&sdist)
        .arg(&harness)
        .arg(sdist.join("tests/integration_tests/api/secrets_engines/test_kv_v2.py"))
        .env("HVAC_SDIST", &sdist)
        .output()
        .expect("pytest runs");
    let stdout = report(&out, server, &token, "hvac's own test_kv_v2.py");
    // The summary line says how many ran: all of them, none skipped or failed
    // (hvac's own deprecation warnings may follow).
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or_default();
    let counts: Vec<&str> = summary
        .split(" in ")
        .next()
        .unwrap_or_default()
        .split(", ")
        .filter(|c| !c.ends_with(" warnings") && !c.ends_with(" warning"))
        .collect();
    assert_eq!(
        counts,
        [format!("{HVAC_KV_V2_CASES} passed")],
        "expected {HVAC_KV_V2_CASES} passed and nothing else: {summary}"
    );
}
