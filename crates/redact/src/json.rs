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

/// Redacts every string and object key inside `v`. If two keys of one object
/// redact to the same text, the later member wins (as with any JSON object
/// holding a duplicate key).
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
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}
