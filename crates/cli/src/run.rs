//! `lockbox run -- COMMAND…`: starts a program with the workspace's secrets as
//! environment variables and masks every one of their values (raw and encoded
//! forms, via the redaction engine) in its stdout and stderr as they stream. The
//! exit code passes through (128 + signal when the child is killed by one).
//!
//! Names become variable names this way: the `--prefix` is removed, letters are
//! upper-cased, every character outside `A-Z0-9_` becomes `_`, and a leading digit
//! gets a `_` in front (`stripe/api-key` → `STRIPE_API_KEY`). Two secrets that map
//! to the same variable are an error, naming both. A string value is passed as its
//! text, any other JSON value as JSON. Restricted secrets are skipped (no person,
//! and so no program started by one, may read them).
//!
//! Whoever may write a secret (an admin, a run) must not get to run code on the
//! machine of whoever uses `lockbox run`: a secret that would set a variable that
//! changes how programs start, load code or route traffic (`BASH_ENV`, `PATH`,
//! `LD_PRELOAD`, `NODE_OPTIONS`, `PYTHONSTARTUP`, `GIT_SSH_COMMAND`, `HTTPS_PROXY`,
//! …) is refused before anything is revealed, unless the user names that variable
//! with `--allow-env`.

use crate::args::{Global, RunArgs};
use anyhow::{bail, Context, Result};
use lockbox_core::Scope;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;

/// The environment variable a secret name maps to.
pub fn var_name(name: &str, prefix: &str) -> String {
    let rest = name.strip_prefix(prefix).unwrap_or(name);
    let mut out: String = rest
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Variables that decide which code a program runs or loads, or where its
/// traffic goes. Exact names; [`DANGEROUS_PREFIXES`] and proxies are matched too.
const DANGEROUS_VARS: &[&str] = &[
    "BASH_ENV",
    "ENV",
    "PATH",
    "IFS",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "CDPATH",
    "GLOBIGNORE",
    "HOME",
    "ZDOTDIR",
    "SHELL",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "LESSOPEN",
    "LESSCLOSE",
    "BROWSER",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    "RUBYOPT",
    "RUBYLIB",
    "PERLLIB",
    "CLASSPATH",
    "GCONV_PATH",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "RES_OPTIONS",
    "TCLLIBPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "ELECTRON_RUN_AS_NODE",
    "GOFLAGS",
    "CC",
    "CXX",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "MAKEFLAGS",
    "TERMINFO",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
];
const DANGEROUS_PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "PYTHON",
    "PERL5",
    "PERL_",
    "GIT_",
    "NODE_",
    "NPM_CONFIG_",
    "PIP_",
    "CARGO_",
    "RUSTC",
    "GEM_",
    "BUNDLE_",
    "JAVA_",
    "_JAVA_",
    "JDK_JAVA_",
    "DOTNET_",
    "CORECLR_",
    "COR_",
    "LUA_",
    "R_PROFILE",
    "R_ENVIRON",
    "XDG_",
    "SSL_",
    "OPENSSL_",
    "BASH_FUNC_",
];

/// Whether a variable changes how programs start, load code or route traffic.
pub fn dangerous_var(var: &str) -> bool {
    DANGEROUS_VARS.contains(&var)
        || DANGEROUS_PREFIXES.iter().any(|p| var.starts_with(p))
        || var.ends_with("_PROXY")
}

pub async fn run(g: &Global, args: RunArgs) -> Result<ExitCode> {
    let client = crate::remote::client(g)?;
    let prefix = args.prefix.clone().unwrap_or_default();
    let metas = client
        .list_all_secrets(&g.workspace, Scope::Workspace, args.prefix.as_deref())
        .await?;
    // Refuse before revealing anything: a refused run reveals (and audits) nothing.
    let allowed: Vec<String> = args
        .allow_env
        .iter()
        .map(|v| v.trim().to_ascii_uppercase())
        .collect();
    for meta in metas.iter().filter(|m| m.visibility != "restricted") {
        let var = var_name(&meta.name, &prefix);
        if dangerous_var(&var) && !allowed.contains(&var) {
            bail!(
                "secret '{}' would set ${var}, which changes how programs start, load code or \
                 route traffic; refused (if you mean it, pass --allow-env {var})",
                meta.name
            );
        }
    }
    let mut env: BTreeMap<String, (String, zeroize::Zeroizing<String>)> = BTreeMap::new();
    let mut named: Vec<(String, lockbox_core::Sensitive<serde_json::Value>)> = Vec::new();
    for meta in metas {
        if meta.visibility == "restricted" {
            eprintln!("lockbox run: skipping restricted secret '{}'", meta.name);
            continue;
        }
        let value = client
            .reveal(&g.workspace, Scope::Workspace, &meta.name, None)
            .await?;
        let json = value.to_json()?;
        // EXPOSE: becomes the child's environment variable, the one place it goes.
        let text = zeroize::Zeroizing::new(match json.expose() {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if text.contains('\0') {
            bail!(
                "secret '{}' holds a NUL character and cannot be an environment variable",
                meta.name
            );
        }
        let var = var_name(&meta.name, &prefix);
        if let Some((other, _)) = env.get(&var) {
            bail!(
                "secrets '{other}' and '{}' both map to ${var}; rename one or use --prefix",
                meta.name
            );
        }
        named.push((meta.name.clone(), json));
        env.insert(var, (meta.name, text));
    }
    let refs: Vec<(&str, &serde_json::Value)> =
        // EXPOSE: handed to the output redactor, which only ever masks them.
        named.iter().map(|(n, v)| (n.as_str(), v.expose())).collect();
    let redactor = Arc::new(lockbox_redact::Redactor::with_json(
        &refs,
        lockbox_redact::Options::default(),
    ));
    for name in redactor.skipped() {
        eprintln!("lockbox run: '{name}' is too short to mask in the output");
    }
    drop(named);

    let (program, rest) = args.command.split_first().context("no command given")?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (var, (_, text)) in &env {
        // EXPOSE: the child process is given the value; that is what `run` is for.
        cmd.env(var, text.as_str());
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start '{program}'"))?;
    drop(env);
    let pumps: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    .filter_map(|(i, src)| src.map(|s| (i, s)))
    .map(|(i, mut src)| {
        let redactor = redactor.clone();
        std::thread::spawn(move || {
            let mut stream = redactor.stream();
            let mut buf = vec![0u8; 8192];
            let mut out: Box<dyn Write> = if i == 0 {
                Box::new(std::io::stdout())
            } else {
                Box::new(std::io::stderr())
            };
            loop {
                match src.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let clean = stream.push(&buf[..n]);
                        let _ = out.write_all(&clean);
                        let _ = out.flush();
                    }
                }
            }
            let _ = out.write_all(&stream.finish());
            let _ = out.flush();
        })
    })
    .collect();
    let status = child.wait()?;
    for p in pumps {
        let _ = p.join();
    }
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                ExitCode::from(128u8.saturating_add(status.signal().unwrap_or(0) as u8))
            }
            #[cfg(not(unix))]
            ExitCode::from(1)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{dangerous_var, var_name};

    #[test]
    fn variables_that_load_code_are_dangerous() {
        for v in [
            "BASH_ENV",
            "ENV",
            "PATH",
            "IFS",
            "SHELLOPTS",
            "PS4",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "DYLD_INSERT_LIBRARIES",
            "NODE_OPTIONS",
            "PYTHONSTARTUP",
            "PYTHONPATH",
            "PERL5OPT",
            "RUBYOPT",
            "GIT_SSH_COMMAND",
            "JAVA_TOOL_OPTIONS",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ] {
            assert!(dangerous_var(v), "{v}");
        }
        for v in [
            "DB_PASSWORD",
            "STRIPE_API_KEY",
            "API_TOKEN",
            "DATABASE_URL",
            "PATH_PREFIX_X",
        ] {
            assert!(!dangerous_var(v), "{v}");
        }
    }

    #[test]
    fn names_map_to_variables() {
        assert_eq!(var_name("stripe/api-key", ""), "STRIPE_API_KEY");
        assert_eq!(var_name("app/db password", "app/"), "DB_PASSWORD");
        assert_eq!(var_name("1st", ""), "_1ST");
        assert_eq!(var_name("ключ", ""), "____");
        assert_eq!(var_name("p/", "p/"), "_");
    }
}
