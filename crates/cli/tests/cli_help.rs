//! Runs the built `lockbox` binary for its help texts and usage errors: no server
//! needed. End-to-end runs against a real server live in the server crate's tests.

use std::process::Command;

fn lockbox(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .args(args)
        .env_remove("LOCKBOX_TOKEN")
        .env_remove("LOCKBOX_ADDR")
        .env_remove("LOCKBOX_WORKSPACE")
        .output()
        .expect("run lockbox")
}

#[test]
fn top_level_help_lists_every_subcommand() {
    let out = lockbox(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "server",
        "keys",
        "secret",
        "token",
        "member",
        "workspace",
        "audit",
    ] {
        assert!(text.contains(sub), "--help lacks {sub}:\n{text}");
    }
    for flag in ["--addr", "--token", "--workspace", "--json"] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
}

#[test]
fn secret_help_lists_its_subcommands() {
    let out = lockbox(&["secret", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "set", "get", "ls", "rm", "reveal", "patch", "history", "rollback", "rename", "versions",
        "settings",
    ] {
        assert!(text.contains(sub), "secret --help lacks {sub}:\n{text}");
    }
}

#[test]
fn secret_set_help_lists_its_flags() {
    let out = lockbox(&["secret", "set", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--value-file",
        "--value",
        "--json-value",
        "--description",
        "--visibility",
        "--ttl",
        "--user-scope",
    ] {
        assert!(
            text.contains(flag),
            "secret set --help lacks {flag}:\n{text}"
        );
    }
}

#[test]
fn server_help_lists_its_flags() {
    let out = lockbox(&["server", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--data-dir",
        "--listen",
        "--init-token-file",
        "--tls-cert",
        "--tls-key",
        "--insecure-http",
        "--max-value-bytes",
        "--log-format",
        "--egress-allow-private",
        "--dangerous-egress-allow-metadata",
        "--public-url",
    ] {
        assert!(text.contains(flag), "server --help lacks {flag}:\n{text}");
    }
    // The help says what each egress switch leaves refused or exposes.
    assert!(text.contains("metadata"), "{text}");
    assert!(text.contains("LOCKBOX_PUBLIC_URL"), "{text}");
}

#[test]
fn a_public_url_that_is_not_an_absolute_http_url_is_refused_at_start() {
    for bad in [
        "lockbox.example.com",
        "ftp://lockbox.example.com",
        "https://u:p@lockbox.example.com",
    ] {
        let out = lockbox(&[
            "server",
            "--public-url",
            bad,
            "--data-dir",
            "/nonexistent/lockbox-never",
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("--public-url must be an absolute http(s) URL"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn token_value_from_env_is_not_shown_in_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_lockbox"))
        .arg("--help")
        .env("LOCKBOX_TOKEN", "lbx_should_not_appear")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("lbx_should_not_appear"));
}

#[test]
fn usage_errors_exit_2() {
    let out = lockbox(&["secret", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_token_is_a_config_error_with_exit_1() {
    let out = lockbox(&["secret", "get", "k"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: config: "), "{err}");
}

#[test]
fn unreachable_server_is_a_transport_error() {
    // Port 1 on loopback: nothing listens there.
    let out = lockbox(&[
        "--addr",
        "http://127.0.0.1:1",
        "--token",
        "lbx_x",
        "secret",
        "get",
        "k",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: transport: "), "{err}");
}
