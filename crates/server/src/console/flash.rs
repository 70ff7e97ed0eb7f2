//! Per-session, in-memory state for post/redirect/get: the one-time notice an
//! action leaves for the page it redirects to (a new token is shown exactly once,
//! after the redirect, and a reload shows it no more), the non-secret fields of
//! a form that failed (so the page can show them again), and one-time form
//! nonces (a replayed or double-submitted "Create token" is refused).
//!
//! What must survive a redirect to another node is not kept here: a fresh token
//! travels in a cookie sealed for the session (`session::note_cookie`), and a
//! form nonce is itself sealed for the session, so any node checks it; only the
//! record of spent nonces is per node (a replay that lands on another node within
//! the nonce's lifetime is not caught; the page's script also disables a sent
//! form). The rest (an error notice, a failed form's fields) is kept in this
//! process: on another node it is lost, which costs the message, not data. Also
//! holds forms kept across an ended session ([`keep_form`]), which never hold a
//! secret value.

use super::pages::{Notice, Panel};
use lockbox_service::{Lockbox, Session, SessionSeal};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A flash or nonce older than this is gone.
const TTL: Duration = Duration::from_secs(30 * 60);
/// Sessions (and kept forms) held at most; the oldest are dropped past this.
const MAX_ENTRIES: usize = 10_000;

/// What an action leaves for the next page of the same session.
#[derive(Default)]
pub struct Flash {
    pub notice: Notice,
    /// Non-secret fields of a form that failed, by name.
    pub form: BTreeMap<String, String>,
    /// The secrets page's panel or dialog to open again (a failed secret form),
    /// and the page's one-line message.
    pub panel: Option<Panel>,
    pub text: Option<String>,
}

#[derive(Default)]
struct Entry {
    flash: Option<(Flash, Instant)>,
    /// A form nonce's entry: it was used (kept until the entry ages out).
    spent: bool,
    touched: Option<Instant>,
}

fn state() -> &'static Mutex<HashMap<String, Entry>> {
    static S: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

fn with<R>(key: &str, f: impl FnOnce(&mut Entry) -> R) -> R {
    let mut m = state().lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    if m.len() >= MAX_ENTRIES {
        m.retain(|_, e| e.touched.is_some_and(|t| now.duration_since(t) < TTL));
        if m.len() >= MAX_ENTRIES {
            if let Some(oldest) = m
                .iter()
                .min_by_key(|(_, e)| e.touched)
                .map(|(k, _)| k.clone())
            {
                m.remove(&oldest);
            }
        }
    }
    let e = m.entry(key.to_owned()).or_default();
    e.touched = Some(now);
    f(e)
}

/// Leaves `flash` for the next page that session `sid` loads.
pub fn put(sid: &str, flash: Flash) {
    with(sid, |e| e.flash = Some((flash, Instant::now())));
}

/// Takes (and so removes) the flash of session `sid`.
pub fn take(sid: &str) -> Option<Flash> {
    with(sid, |e| {
        e.flash
            .take()
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(f, _)| f)
    })
}

/// A new one-time nonce for a form of `session`: sealed for that session, so
/// every node can check it.
pub fn issue_nonce(svc: &Lockbox, session: &Session) -> String {
    let n = lockbox_crypto::random_id();
    svc.seal_for_session(session, SessionSeal::FormNonce, n.as_bytes(), TTL.as_secs())
}

/// True once for a nonce issued to `session` (and not yet spent on this node).
pub fn use_nonce(svc: &Lockbox, session: &Session, nonce: &str) -> bool {
    if svc
        .open_for_session(session, SessionSeal::FormNonce, nonce)
        .is_none()
    {
        return false;
    }
    let key = format!("nonce:{}", lockbox_crypto::hash_token(nonce));
    with(&key, |e| !std::mem::replace(&mut e.spent, true))
}

/// Keeps the non-secret fields of a form whose session ended, under a new random
/// id, for the page the user returns to after signing in ([`take_form`]).
pub fn keep_form(fields: BTreeMap<String, String>) -> String {
    let id = lockbox_crypto::random_id();
    with(&format!("form:{id}"), |e| {
        e.flash = Some((
            Flash {
                form: fields,
                ..Flash::default()
            },
            Instant::now(),
        ))
    });
    id
}

/// The fields kept by [`keep_form`] (once).
pub fn take_form(id: &str) -> Option<BTreeMap<String, String>> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let key = format!("form:{id}");
    let f = with(&key, |e| e.flash.take());
    state()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
    f.filter(|(_, at)| at.elapsed() < TTL).map(|(f, _)| f.form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_is_taken_once() {
        put(
            "s3",
            Flash {
                notice: Notice {
                    text: Some("hi".into()),
                    ..Notice::default()
                },
                ..Flash::default()
            },
        );
        assert_eq!(take("s3").and_then(|f| f.notice.text), Some("hi".into()));
        assert!(take("s3").is_none());
    }

    #[test]
    fn kept_forms_are_taken_once() {
        let id = keep_form(BTreeMap::from([("name".to_owned(), "x".to_owned())]));
        assert_eq!(take_form(&id).unwrap()["name"], "x");
        assert!(take_form(&id).is_none());
        assert!(take_form("../etc").is_none());
    }
}
