//! Reading what the user feeds in: a secret value or a patch document, from stdin,
//! a file or a flag, with one trailing newline stripped where the brief says so.
//! What is read stays [`Sensitive`] (wiped on drop, redacted in `Debug`) until it is
//! sent.
//!
//! Errors here never quote the input: it may be a secret.

use anyhow::{anyhow, Result};
use lockbox_core::Sensitive;
use std::io::{IsTerminal, Read};
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

/// clap's parser for flags and environment variables that carry a secret or a
/// token: the text is held as [`Sensitive`] from the start.
pub fn sensitive_arg(s: &str) -> Result<Sensitive<String>, std::convert::Infallible> {
    Ok(Sensitive::new(s.to_owned()))
}

/// Strips one trailing `\n` (or `\r\n`), the one a shell `echo` or an editor adds
/// (in place: the buffer is not copied).
pub fn strip_one_newline(mut s: Sensitive<String>) -> Sensitive<String> {
    let text = s.expose_mut();
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    s
}

/// Bytes read from the user as text, wiping them when they are not.
fn utf8(
    bytes: Zeroizing<Vec<u8>>,
    not_text: impl FnOnce() -> anyhow::Error,
) -> Result<Sensitive<String>> {
    let mut bytes = bytes;
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Sensitive::new(text)),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(not_text())
        }
    }
}

/// All of stdin as UTF-8 text. When stdin is a terminal, says so on stderr first.
pub fn read_stdin(what: &str) -> Result<Sensitive<String>> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("reading {what} from stdin; finish with Ctrl-D (Ctrl-Z then Enter on Windows)");
    }
    let mut bytes = Zeroizing::new(Vec::new());
    stdin
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow!("invalid: cannot read {what} from stdin: {e}"))?;
    utf8(bytes, || {
        anyhow!("invalid: {what} on stdin is not UTF-8 text")
    })
}

/// A file's contents as UTF-8 text (`-` reads stdin).
pub fn read_file(path: &Path, what: &str) -> Result<Sensitive<String>> {
    if path.as_os_str() == "-" {
        return read_stdin(what);
    }
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| anyhow!("invalid: cannot read {what} file {}: {e}", path.display()))?,
    );
    utf8(bytes, || {
        anyhow!("invalid: {what} file {} is not UTF-8 text", path.display())
    })
}

/// Parses user-supplied JSON, reporting only where it is malformed.
pub fn parse_json(text: &str, what: &str) -> Result<Sensitive<serde_json::Value>> {
    serde_json::from_str(text).map(Sensitive::new).map_err(|e| {
        anyhow!(
            "invalid: {what} is not valid JSON (line {} column {})",
            e.line(),
            e.column()
        )
    })
}

/// The secret value for `secret set`: from `--value`, `--value-file` or stdin, as a
/// JSON string unless `json` asks to parse it.
pub fn secret_value(
    value: Option<Sensitive<String>>,
    value_file: Option<&Path>,
    json: bool,
) -> Result<Sensitive<serde_json::Value>> {
    let text = match (value, value_file) {
        (Some(v), _) => {
            eprintln!(
                "warning: --value puts the secret in your shell history and the process list; \
                 prefer stdin or --value-file"
            );
            v
        }
        (None, Some(path)) => strip_one_newline(read_file(path, "value")?),
        (None, None) => strip_one_newline(read_stdin("the value")?),
    };
    if json {
        // EXPOSE: parsed into a document that is Sensitive in turn.
        parse_json(text.expose(), "the value")
    } else {
        Ok(Sensitive::new(serde_json::Value::String(
            text.into_exposed(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(s: &str) -> String {
        strip_one_newline(Sensitive::new(s.to_owned())).into_exposed()
    }

    #[test]
    fn strips_exactly_one_newline() {
        assert_eq!(stripped("v\n"), "v");
        assert_eq!(stripped("v\n\n"), "v\n");
        assert_eq!(stripped("v\r\n"), "v");
        assert_eq!(stripped("v"), "v");
        assert_eq!(stripped("\n"), "");
    }

    #[test]
    fn what_is_read_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v");
        std::fs::write(&p, "hunter2-very-secret\n").unwrap();
        let value = secret_value(None, Some(&p), false).unwrap();
        assert!(!format!("{value:?}").contains("hunter2"));
        let flag = sensitive_arg("lbx_from_a_flag").unwrap();
        assert!(!format!("{flag:?}").contains("lbx_"));
    }

    #[test]
    fn json_errors_do_not_quote_the_input() {
        let err = parse_json("{\"k\": hunter2}", "the value").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().starts_with("invalid: "));
    }

    #[test]
    fn value_file_is_read_and_stripped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v");
        std::fs::write(&p, "{\"a\": 1}\n").unwrap();
        let read = |v: Option<&str>, file, json| {
            secret_value(v.map(|v| Sensitive::new(v.to_owned())), file, json)
                .unwrap()
                .into_exposed()
        };
        assert_eq!(read(None, Some(&p), true), serde_json::json!({"a": 1}));
        assert_eq!(read(None, Some(&p), false), serde_json::json!("{\"a\": 1}"));
        assert_eq!(read(Some("x\n"), None, false), serde_json::json!("x\n"));
    }
}
