//! JSON helpers: walking the leaves of a secret's JSON value (for
//! [`Redactor::with_json`](crate::Redactor::with_json)) and redacting every
//! string and object key of a document in place.

use std::borrow::Cow;

use serde_json::Value;

use crate::Redactor;

/// Calls `f` on every leaf (array element or object member value,
/// recursively, or the value itself) as text: a string's own text, a number's
/// or a boolean's JSON text. `null` is no value.
pub(crate) fn for_each_leaf(v: &Value, f: &mut dyn FnMut(&[u8])) {
    match v {
        Value::String(s) => f(s.as_bytes()),
        Value::Number(n) => f(zeroize::Zeroizing::new(n.to_string()).as_bytes()),
        Value::Bool(b) => f(if *b { b"true" } else { b"false" }),
        Value::Array(items) => items.iter().for_each(|x| for_each_leaf(x, f)),
        Value::Object(map) => map.values().for_each(|x| for_each_leaf(x, f)),
        Value::Null => {}
    }
}

/// Where `v` holds a value shorter than `min_len` bytes that a redactor
/// would not mask on its own: `""` for `v` itself (a string or number), or
/// the JSON Pointer of each such string or number leaf, at most `max` of
/// them. Empty strings and booleans are not counted.
pub fn short_leaves(v: &Value, min_len: usize, max: usize) -> Vec<String> {
    fn walk(v: &Value, path: &mut String, min_len: usize, max: usize, out: &mut Vec<String>) {
        if out.len() >= max {
            return;
        }
        let short = |len: usize| len > 0 && len < min_len;
        match v {
            Value::String(s) if short(s.len()) => out.push(path.clone()),
            Value::Number(n) if short(n.to_string().len()) => out.push(path.clone()),
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    walk(x, path, min_len, max, out);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, x) in map {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(x, path, min_len, max, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut String::new(), min_len, max, &mut out);
    out
}

/// Redacts every string, number, boolean and object key inside `v`. If two
/// keys of one object redact to the same text, the later member wins (as
/// with any JSON object holding a duplicate key).
pub(crate) fn redact_value(r: &Redactor, v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(new) = r.redact_str(s) {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| redact_value(r, x)),
        Value::Object(map) => {
            let keys_change = map.keys().any(|k| matches!(r.redact_str(k), Cow::Owned(_)));
            if keys_change {
                let old = std::mem::take(map);
                for (k, mut val) in old {
                    redact_value(r, &mut val);
                    map.insert(r.redact_str(&k).into_owned(), val);
                }
            } else {
                map.values_mut().for_each(|x| redact_value(r, x));
            }
        }
        // A number or boolean that is a value (or holds one) becomes the
        // masked text: the leaf's type changes, the value does not show.
        Value::Number(n) => {
            let text = n.to_string();
            if let Cow::Owned(new) = r.redact_str(&text) {
                *v = Value::String(new);
            }
        }
        Value::Bool(b) => {
            if let Cow::Owned(new) = r.redact_str(if *b { "true" } else { "false" }) {
                *v = Value::String(new);
            }
        }
        Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_leaves_are_named_by_pointer() {
        assert_eq!(short_leaves(&json!("4821"), 6, 10), [""]);
        assert!(short_leaves(&json!("482139"), 6, 10).is_empty());
        assert_eq!(
            short_leaves(
                &json!({"pin": 4821, "a/b": ["ok", "long-enough"], "on": true, "e": ""}),
                6,
                10
            ),
            ["/a~1b/0", "/pin"]
        );
        assert_eq!(short_leaves(&json!(["a", "b", "c"]), 6, 2).len(), 2);
    }
}
