//! [`Sensitive<T>`]: plaintext and credentials on their way *in*.
//!
//! [`SecretValue`](crate::SecretValue) types a value once it is checked and sealed;
//! before that, a request body's value, a patch document, a fresh token or a CLI
//! argument is just as secret. `Sensitive<T>` wraps it: `Debug` prints
//! `Sensitive([REDACTED])`, the inner buffer is wiped on drop, it deserializes from
//! the wire like `T` does, and it has no `Serialize`, so putting it into a response,
//! a log line or an error takes a visible call to [`Sensitive::expose`] (with its
//! `// EXPOSE: why` comment) or the explicit [`serialize_exposed`] field attribute.

use std::fmt;
use zeroize::Zeroize;

/// Something whose buffers can be overwritten before they are freed.
pub trait Wipe {
    /// Overwrites every byte of plaintext this value owns.
    fn wipe(&mut self);
}

impl Wipe for String {
    fn wipe(&mut self) {
        self.zeroize();
    }
}

impl Wipe for Vec<u8> {
    fn wipe(&mut self) {
        self.zeroize();
    }
}

impl<T: Wipe> Wipe for Option<T> {
    fn wipe(&mut self) {
        if let Some(inner) = self {
            inner.wipe();
        }
    }
}

impl<T: Wipe> Wipe for Vec<T> {
    fn wipe(&mut self) {
        for item in self.iter_mut() {
            item.wipe();
        }
    }
}

impl Wipe for serde_json::Value {
    fn wipe(&mut self) {
        use serde_json::Value;
        match self {
            Value::String(s) => s.zeroize(),
            Value::Array(items) => items.iter_mut().for_each(Wipe::wipe),
            Value::Object(map) => {
                // Keys are owned `String`s behind the map's API; take them out to
                // wipe them too (a key of a JSON secret can be secret as well).
                for (mut key, mut value) in std::mem::take(map) {
                    key.zeroize();
                    value.wipe();
                }
            }
            // Numbers and booleans have no heap buffer of their own to overwrite;
            // replacing them drops the stack copy.
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
        }
        *self = Value::Null;
    }
}

/// Plaintext or a credential that has not become a [`SecretValue`](crate::SecretValue)
/// (or a token row) yet. See the module documentation.
pub struct Sensitive<T: Wipe>(T);

impl<T: Wipe> Sensitive<T> {
    pub fn new(inner: T) -> Self {
        Sensitive(inner)
    }

    /// The plaintext. Loudly named on purpose: every call carries an
    /// `// EXPOSE: why` comment.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The plaintext, to edit in place (a patch applied to a value).
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// Applies `f` to the plaintext, keeping the result sensitive too.
    pub fn map<U: Wipe>(&self, f: impl FnOnce(&T) -> U) -> Sensitive<U> {
        Sensitive(f(&self.0))
    }
}

impl<T: Wipe + Default> Sensitive<T> {
    /// Moves the plaintext out, leaving an empty `T` behind to be wiped on drop. The
    /// caller takes over the duty of not leaking it (wrap it again, or hand it to a
    /// type that wipes, such as `SecretValue`).
    pub fn into_exposed(mut self) -> T {
        std::mem::take(&mut self.0)
    }
}

impl<T: Wipe> Drop for Sensitive<T> {
    fn drop(&mut self) {
        self.0.wipe();
    }
}

impl<T: Wipe> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive([REDACTED])")
    }
}

impl<T: Wipe + Clone> Clone for Sensitive<T> {
    fn clone(&self) -> Self {
        Sensitive(self.0.clone())
    }
}

impl<T: Wipe> From<T> for Sensitive<T> {
    fn from(inner: T) -> Self {
        Sensitive(inner)
    }
}

impl<T: Wipe + PartialEq> PartialEq for Sensitive<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<'de, T: Wipe + serde::Deserialize<'de>> serde::Deserialize<'de> for Sensitive<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Sensitive)
    }
}

/// `#[serde(serialize_with = "lockbox_core::sensitive::serialize_exposed")]`: the one
/// way a `Sensitive` field goes onto the wire (a token shown once at creation, a
/// value revealed to a caller allowed to see it). Greppable on purpose.
pub fn serialize_exposed<T, S>(value: &Sensitive<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    T: Wipe + serde::Serialize,
    S: serde::Serializer,
{
    // EXPOSE: the field is marked for the wire by its type's author (see above).
    value.expose().serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_plaintext() {
        let s = Sensitive::new("hunter2-very-secret".to_owned());
        let printed = format!("{s:?} {:?}", Some(&s));
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn deserializes_like_its_inner_type() {
        #[derive(serde::Deserialize, Debug)]
        struct Body {
            value: Sensitive<serde_json::Value>,
            token: Option<Sensitive<String>>,
        }
        let body: Body =
            serde_json::from_str(r#"{"value":{"k":"v","n":[1,"x"]},"token":"lbx_1"}"#).unwrap();
        // EXPOSE: the test checks what was parsed.
        assert_eq!(body.value.expose()["k"], "v");
        // EXPOSE: as above.
        assert_eq!(body.token.as_ref().unwrap().expose(), "lbx_1");
        assert!(!format!("{body:?}").contains("lbx_1"));
    }

    #[test]
    fn wiping_a_json_value_clears_strings_keys_and_nesting() {
        let mut v = serde_json::json!({"secret-key": ["deep", {"x": "y"}], "n": 3});
        v.wipe();
        assert_eq!(v, serde_json::Value::Null);
    }

    #[test]
    fn into_exposed_leaves_nothing_behind_to_leak() {
        let s = Sensitive::new("abc".to_owned());
        assert_eq!(s.into_exposed(), "abc");
    }

    #[test]
    fn serializes_only_through_the_explicit_attribute() {
        #[derive(serde::Serialize)]
        struct Created {
            #[serde(serialize_with = "serialize_exposed")]
            token: Sensitive<String>,
        }
        let out = serde_json::to_string(&Created {
            token: Sensitive::new("lbx_shown_once".into()),
        })
        .unwrap();
        assert_eq!(out, r#"{"token":"lbx_shown_once"}"#);
    }
}
