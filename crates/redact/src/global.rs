//! A process-wide redactor for log output: values the process has recently put to
//! use (resolved references, for instance) are registered here for a while, and a
//! log writer passes every line through the current redactor before it reaches
//! stderr, in every form the redactor knows. Defense in depth: no code path is
//! meant to log a value at all.
//!
//! Each value's forms are built once, when it is registered; the current
//! redactor is the union of the live entries' sets (laid out again, never
//! re-encoded).

use crate::{Options, PatternSet, Redactor};
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

struct Entry {
    value: Zeroizing<Vec<u8>>,
    set: Arc<PatternSet>,
    until: Instant,
}

struct Registry {
    entries: Mutex<Vec<Entry>>,
    current: RwLock<Arc<Redactor>>,
}

fn registry() -> &'static Registry {
    static R: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    R.get_or_init(|| Registry {
        entries: Mutex::new(Vec::new()),
        current: RwLock::new(Arc::new(Redactor::new(&[], Options::default()))),
    })
}

/// Adds a value to the log redactor for `ttl` (an existing entry for the same
/// value is extended), and rebuilds it.
pub fn register(name: &str, value: &[u8], ttl: Duration) {
    let reg = registry();
    let mut entries = reg.entries.lock().expect("registry lock");
    let now = Instant::now();
    entries.retain(|e| e.until > now);
    match entries.iter_mut().find(|e| e.value.as_slice() == value) {
        Some(e) => {
            e.until = now + ttl;
            return;
        }
        None => entries.push(Entry {
            value: Zeroizing::new(value.to_vec()),
            set: Arc::new(PatternSet::new(&[(name, value)], Options::default())),
            until: now + ttl,
        }),
    }
    let sets: Vec<Arc<PatternSet>> = entries.iter().map(|e| e.set.clone()).collect();
    let fresh = Arc::new(Redactor::from_sets(&sets));
    *reg.current.write().expect("registry lock") = fresh;
}

/// The redactor over what is registered now.
pub fn current() -> Arc<Redactor> {
    registry().current.read().expect("registry lock").clone()
}

/// A writer for log output (e.g. `tracing_subscriber::fmt().with_writer(...)`):
/// each write is redacted with the current registry before it goes on to `inner`.
#[derive(Clone)]
pub struct RedactingWriter<W> {
    inner: W,
}

impl<W> RedactingWriter<W> {
    pub fn new(inner: W) -> Self {
        RedactingWriter { inner }
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = current();
        if r.is_empty() {
            return self.inner.write(buf);
        }
        self.inner.write_all(&r.redact_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_redacted_from_log_writes() {
        let mut out = Vec::new();
        register("k", b"registered-value-42", Duration::from_secs(60));
        {
            let mut w = RedactingWriter::new(&mut out);
            w.write_all(b"line with registered-value-42 in it\n")
                .unwrap();
        }
        register("k2", b"another value/with=more", Duration::from_secs(60));
        {
            let mut w = RedactingWriter::new(&mut out);
            w.write_all(b"q=another%20value%2Fwith%3Dmore&x=registered-value-42\n")
                .unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "line with [REDACTED:k] in it\nq=[REDACTED:k2]&x=[REDACTED:k]\n"
        );
    }
}
