//! Reading what the user feeds in: a secret value or a patch document, from stdin,
//! a file or a flag, with one trailing newline stripped where the brief says so.
//!
//! Errors here never quote the input: it may be a secret.

use anyhow::{anyhow, Result};
use std::io::{IsTerminal, Read};
use std::path::Path;

/// Strips one trailing `\n` (or `\r\n`), the one a shell `echo` or an editor adds.
pub fn strip_one_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// All of stdin as UTF-8 text. When stdin is a terminal, says so on stderr first.
pub fn read_stdin(what: &str) -> Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("reading {what} from stdin; finish with Ctrl-D (Ctrl-Z then Enter on Windows)");
    }
    let mut bytes = Vec::new();
    stdin
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow!("invalid: cannot read {what} from stdin: {e}"))?;
    String::from_utf8(bytes).map_err(|_| anyhow!("invalid: {what} on stdin is not UTF-8 text"))
}

/// A file's contents as UTF-8 text (`-` reads stdin).
pub fn read_file(path: &Path, what: &str) -> Result<String> {
    if path.as_os_str() == "-" {
        return read_stdin(what);
    }
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow!("invalid: cannot read {what} file {}: {e}", path.display()))?;
    String::from_utf8(bytes)
        .map_err(|_| anyhow!("invalid: {what} file {} is not UTF-8 text", path.display()))
}

/// Parses user-supplied JSON, reporting only where it is malformed.
pub fn parse_json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| {
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
    value: Option<String>,
    value_file: Option<&Path>,
    json: bool,
) -> Result<serde_json::Value> {
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
        parse_json(&text, "the value")
    } else {
        Ok(serde_json::Value::String(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_exactly_one_newline() {
        assert_eq!(strip_one_newline("v\n".into()), "v");
        assert_eq!(strip_one_newline("v\n\n".into()), "v\n");
        assert_eq!(strip_one_newline("v\r\n".into()), "v");
        assert_eq!(strip_one_newline("v".into()), "v");
        assert_eq!(strip_one_newline("\n".into()), "");
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
        assert_eq!(
            secret_value(None, Some(&p), true).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            secret_value(None, Some(&p), false).unwrap(),
            serde_json::json!("{\"a\": 1}")
        );
        assert_eq!(
            secret_value(Some("x\n".into()), None, false).unwrap(),
            serde_json::json!("x\n")
        );
    }
}
