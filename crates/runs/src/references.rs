//! The references one run has held (answers of `secrets.set`/`get`, and those it
//! sent in fetches): its redactor masks exactly the values behind them, never other
//! secrets of the workspace, so a run's output is no oracle for guesses. Kept by
//! both module implementations, in process and remote.

use lockbox_core::find_references;
use serde_json::Value;
use std::sync::Mutex;

/// The most references one run's redactor is built from (the service's limit).
const MAX_REMEMBERED_REFERENCES: usize = 1024;

#[derive(Default)]
pub(crate) struct References(Mutex<Vec<String>>);

impl References {
    pub(crate) fn remember(&self, reference: &str) {
        let mut held = self.0.lock().expect("references lock");
        if held.len() < MAX_REMEMBERED_REFERENCES && !held.iter().any(|r| r == reference) {
            held.push(reference.to_owned());
        }
    }

    /// Every reference in the strings of `v` (a value the run stores, a fetch
    /// request it sends). A malformed one is left for the service or the executor
    /// to refuse; there is nothing behind it to mask.
    pub(crate) fn remember_in(&self, v: &Value) {
        match v {
            Value::String(s) => {
                for r in find_references(s).unwrap_or_default() {
                    self.remember(&s[r]);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| self.remember_in(x)),
            Value::Object(o) => o.values().for_each(|x| self.remember_in(x)),
            _ => {}
        }
    }

    pub(crate) fn all(&self) -> Vec<String> {
        self.0.lock().expect("references lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remembers_each_reference_once_from_nested_strings() {
        let r = References::default();
        r.remember_in(&json!({
            "url": "https://x.example/$secret:aaa?k=$secret:bbb",
            "headers": {"a": "Bearer $secret:aaa"},
            "body": ["$secret:ccc", 3, null],
        }));
        r.remember("$secret:bbb");
        let mut all = r.all();
        all.sort();
        assert_eq!(all, ["$secret:aaa", "$secret:bbb", "$secret:ccc"]);
    }
}
