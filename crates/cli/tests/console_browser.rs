//! The web console in a real browser: starts the real `lockbox server` binary on a
//! free port with a temp data dir, seeds an editor, a viewer and a secret bound to
//! a flow through the HTTP API, then runs every `tests/browser/*.test.mjs`
//! (npm's `playwright-core` driving Debian's `/usr/bin/chromium`) and fails when it
//! does. Without node or chromium this test prints one line and passes, unless
//! `LOCKBOX_REQUIRE_BROWSER=1` (CI), where it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{ServerProcess, BIN};

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The cargo target directory (the binary lives in `<target>/<profile>/`).
fn target_dir() -> PathBuf {
    Path::new(BIN)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn api(
    http: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = http
        .request(method, &url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    let status = r.status();
    let v: serde_json::Value = r.json().unwrap_or_default();
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

#[test]
fn console_in_a_real_browser() {
    let required = std::env::var("LOCKBOX_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let missing: Vec<&str> = [
        (!have("node")).then_some("node"),
        (!chromium().exists()).then_some("chromium"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        assert!(
            !required,
            "LOCKBOX_REQUIRE_BROWSER=1 but {} missing",
            missing.join(" and ")
        );
        println!(
            "skipping the console browser test: {} not installed",
            missing.join(" and ")
        );
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(st.success(), "npm ci failed in {}", dir.display());
    }

    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("owner.token");
    // LOCKBOX_BROWSER_SERVER_BIN runs another build of the server (the release
    // build, for the console list figures in docs/benchmarks.md).
    let server_bin = std::env::var("LOCKBOX_BROWSER_SERVER_BIN").unwrap_or_else(|_| BIN.to_owned());
    let mut cmd = Command::new(&server_bin);
    cmd.arg("server").args([
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        tmp.path().join("data").to_str().unwrap(),
        "--init-token-file",
        token_file.to_str().unwrap(),
    ]);
    let server = ServerProcess::start_command(cmd, tmp.path(), &[]);
    // The token file is written just after the server starts listening.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let owner = loop {
        match std::fs::read_to_string(&token_file) {
            Ok(t) if t.ends_with('\n') => break t.trim().to_owned(),
            _ if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => panic!("no owner token file: {r:?}\n{}", server.output()),
        }
    };
    let url = server.url();
    let http = reqwest::blocking::Client::new();
    let ws = format!("{url}/v1/workspaces/default");
    use reqwest::Method;
    let editor = api(
        &http,
        Method::POST,
        format!("{ws}/members"),
        &owner,
        serde_json::json!({"user": "erin", "role": "editor"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let viewer = api(
        &http,
        Method::POST,
        format!("{ws}/members"),
        &owner,
        serde_json::json!({"user": "victor", "role": "viewer"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, desc, vis) in [
        ("orders-api-key", "Orders service API key", "masked"),
        (
            "db/primary-password",
            "PostgreSQL primary, app user",
            "restricted",
        ),
        ("slack-webhook", "Alerts channel webhook", "masked"),
    ] {
        api(
            &http,
            Method::PUT,
            format!("{ws}/secrets/{}", name.replace('/', "%2F")),
            &owner,
            serde_json::json!({"value": format!("seed-value-of-{name}"), "description": desc, "visibility": vis}),
        );
    }
    api(
        &http,
        Method::PUT,
        format!("{ws}/bindings/orders-sync"),
        &owner,
        serde_json::json!({"bindings": [{"secret": "orders-api-key", "location": "node call-api, header Authorization"}]}),
    );

    // A second workspace, so the owner gets the workspace switcher.
    api(
        &http,
        Method::POST,
        format!("{url}/v1/workspaces"),
        &owner,
        serde_json::json!({"name": "staging"}),
    );
    api(
        &http,
        Method::PUT,
        format!("{url}/v1/workspaces/staging/secrets/staging-only"),
        &owner,
        serde_json::json!({"value": "seed-value-of-staging", "description": "Only in staging"}),
    );

    let shot = target_dir().join("console-secrets.png");
    // Every `*.test.mjs` file in tests/browser runs against this one server, in name
    // order, each in its own node process (one Chromium each). A file seeds what
    // else it needs through the API with OWNER_TOKEN; SHOTS is where screenshots go.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".test.mjs"))
        // BROWSER_TESTS=lists,forms runs only the files whose names hold one of those.
        .filter(|n| {
            std::env::var("BROWSER_TESTS")
                .map_or(true, |f| f.split(',').any(|p| n.contains(p.trim())))
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no browser test files in {}",
        dir.display()
    );
    for file in &files {
        let out = Command::new("node")
            .arg(file)
            .current_dir(&dir)
            .env("LOCKBOX_URL", &url)
            .env("OWNER_TOKEN", &owner)
            .env("EDITOR_TOKEN", &editor)
            .env("VIEWER_TOKEN", &viewer)
            .env("BOUND_SECRET", "orders-api-key")
            .env("BOUND_FLOW", "orders-sync")
            .env("SCREENSHOT", &shot)
            .env("SHOTS", target_dir())
            .env("CHROMIUM", chromium())
            .output()
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{file}:\n{stdout}");
        assert!(
            out.status.success(),
            "browser scenarios in {file} failed:\n{stdout}\n{stderr}\nserver log:\n{}",
            server.output()
        );
    }
    if files.iter().any(|f| f == "console.test.mjs") {
        assert!(shot.exists(), "screenshot at {}", shot.display());
    }
    // The server's log never holds a value or a token.
    let log = server.output();
    assert!(!log.contains("seed-value-of-"), "{log}");
    assert!(!log.contains(&editor), "{log}");
}

/// Under TLS the session cookie is `Secure` and `__Host-` prefixed, and only that
/// cookie name is read back. (No browser needed.)
#[test]
fn session_cookie_is_secure_and_host_prefixed_under_tls() {
    let cwd = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cp, kp) = (cwd.path().join("cert.pem"), cwd.path().join("key.pem"));
    std::fs::write(&cp, cert.cert.pem()).unwrap();
    std::fs::write(&kp, cert.signing_key.serialize_pem()).unwrap();
    let token_file = cwd.path().join("owner.token");
    let s = ServerProcess::start(
        cwd.path(),
        &[
            "--data-dir",
            "d",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cp.to_str().unwrap(),
            "--tls-key",
            kp.to_str().unwrap(),
            "--init-token-file",
            token_file.to_str().unwrap(),
        ],
        &[],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let owner = loop {
        match std::fs::read_to_string(&token_file) {
            Ok(t) if t.ends_with('\n') => break t.trim().to_owned(),
            _ if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => panic!("no owner token file: {r:?}\n{}", s.output()),
        }
    };
    let port = s.addr.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let r = client
        .post(format!("{base}/console/sign-in"))
        .form(&[("token", owner.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-lockbox_session=lbs_"), "{set}");
    for flag in [
        "; Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Domain="), "{set}");
    let secret = set
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap();
    let page = |cookie: String| {
        client
            .get(format!("{base}/console/w/default/secrets"))
            .header("cookie", cookie)
            .send()
            .unwrap()
    };
    assert_eq!(
        page(format!("__Host-lockbox_session={secret}")).status(),
        200
    );
    // The unprefixed name (which a sibling site could plant) is not read under TLS.
    assert_eq!(page(format!("lockbox_session={secret}")).status(), 303);
}
