//! `lockbox-redact`: masks secret values wherever they show up in text, bytes,
//! JSON documents and byte streams. Usable on its own (no dependency on the
//! rest of Lockbox).
//!
//! A [`Redactor`] is built once from a set of `(name, value)` pairs. Every
//! value is registered under all the forms in which it commonly leaks:
//!
//! * raw bytes;
//! * JSON-escaped, as serde_json writes it and as other encoders do (`\/`,
//!   `\uXXXX` for non-ASCII or for the HTML-sensitive `<>&'=` in either hex
//!   case, surrogate pairs);
//! * URL-encoded (RFC 3986 "everything but unreserved", form style with `+`
//!   for space, Python's and JavaScript's variants; upper- and lower-case hex);
//! * base64, standard and URL-safe alphabets, for the value starting at any of
//!   the three byte offsets of a 3-byte group (so a password inside
//!   `Authorization: Basic base64(user:password)` is caught). Only the stable
//!   middle of the encoding is matched; the match is then widened over the
//!   partial characters on both sides and any `=` padding.
//!
//! Every occurrence is replaced by `[REDACTED:<name>]`; overlapping
//! occurrences are masked as their union (one replacement carrying the name of
//! the leftmost, longest one). [`StreamRedactor`] does the same over a stream
//! of chunks, holding back a tail so values split across chunks are caught.
//!
//! Matching (see `matcher.rs`) uses sparse-window filters: one probe per 8
//! bytes of text for patterns of 15 bytes or more, two per 8 bytes for
//! patterns of 7 to 14 bytes, and aho-corasick only for the few shorter ones.
//! Building for 10,000 values (~80,000 patterns) takes ~35 ms and scanning
//! runs at well over 1 GB/s; see `BENCH.md`.
//!
//! ```
//! use lockbox_redact::{Options, Redactor};
//!
//! let r = Redactor::new(&[("db-password", b"correct horse battery")], Options::default());
//! assert_eq!(r.redact_str("pw=correct%20horse%20battery"), "pw=[REDACTED:db-password]");
//!
//! let mut stream = r.stream();
//! let mut out = stream.push(b"log: correct horse");
//! out.extend(stream.push(b" battery\n"));
//! out.extend(stream.finish());
//! assert_eq!(out, b"log: [REDACTED:db-password]\n");
//! ```

mod forms;
pub mod global;
mod json;
mod matcher;
mod stream;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

pub use stream::StreamRedactor;

use forms::{Forms, EXT_LEFT, EXT_RIGHT};
use matcher::{Matcher, RawMatch};

/// How a [`Redactor`] is built.
#[derive(Debug, Clone)]
pub struct Options {
    /// Values shorter than this many bytes are not masked (they would cause
    /// too many false positives); their names are listed in
    /// [`Redactor::skipped`]. Default 6. Encoded forms shorter than this are
    /// dropped too.
    pub min_len: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { min_len: 6 }
    }
}

/// One masked region of a haystack, after widening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub name: u32,
}

/// Masks a fixed set of secret values. Immutable once built: `Send + Sync`,
/// share it through an `Arc`; build a new one when the set changes.
pub struct Redactor {
    /// `[REDACTED:<name>]` for every distinct name.
    replacements: Vec<Vec<u8>>,
    /// Per pattern: index into `replacements`.
    pat_name: Vec<u32>,
    /// Per pattern: `EXT_LEFT | EXT_RIGHT` widening bits.
    pat_ext: Vec<u8>,
    matcher: Matcher,
    skipped: Vec<String>,
}

/// Shows sizes only, never a value.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("names", &self.replacements.len())
            .field("patterns", &self.pat_name.len())
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Collects the forms of every value before the matcher is built.
struct Builder {
    min_len: usize,
    names: HashMap<String, u32>,
    /// Values already added: a repeated value (under any name) adds nothing,
    /// so no window key ever maps to many copies of one pattern.
    values: HashSet<Vec<u8>>,
    replacements: Vec<Vec<u8>>,
    arena: Vec<u8>,
    bounds: Vec<(u32, u32)>,
    pat_name: Vec<u32>,
    pat_ext: Vec<u8>,
    skipped: Vec<String>,
    skipped_set: HashSet<String>,
    scratch: Forms,
}

impl Builder {
    /// `values` and `bytes`: how many values of how many bytes in all will be
    /// added (a sizing hint).
    fn new(opts: Options, values: usize, bytes: usize) -> Builder {
        // Most values have a handful of forms, a few bytes longer than the
        // value; reserving avoids regrowing (and re-faulting) big buffers.
        let pats = values * 8;
        Builder {
            min_len: opts.min_len.max(1),
            names: HashMap::with_capacity(values),
            values: HashSet::with_capacity(values),
            replacements: Vec::with_capacity(values),
            arena: Vec::with_capacity(bytes * 10),
            bounds: Vec::with_capacity(pats),
            pat_name: Vec::with_capacity(pats),
            pat_ext: Vec::with_capacity(pats),
            skipped: Vec::new(),
            skipped_set: HashSet::new(),
            scratch: Forms::default(),
        }
    }

    fn add(&mut self, name: &str, value: &[u8]) {
        if value.len() < self.min_len {
            if self.skipped_set.insert(name.to_owned()) {
                self.skipped.push(name.to_owned());
            }
            return;
        }
        if !self.values.insert(value.to_vec()) {
            return;
        }
        let next = self.replacements.len() as u32;
        let name_id = *self.names.entry(name.to_owned()).or_insert(next);
        if name_id == next {
            self.replacements
                .push(format!("[REDACTED:{name}]").into_bytes());
        }
        forms::forms(value, &mut self.scratch);
        for (form, ext) in self.scratch.iter() {
            if form.len() < self.min_len {
                continue;
            }
            self.bounds
                .push((self.arena.len() as u32, form.len() as u32));
            self.arena.extend_from_slice(form);
            self.pat_name.push(name_id);
            self.pat_ext.push(ext);
        }
    }

    fn build(self) -> Redactor {
        Redactor {
            replacements: self.replacements,
            pat_name: self.pat_name,
            pat_ext: self.pat_ext,
            matcher: Matcher::new(self.arena, self.bounds),
            skipped: self.skipped,
        }
    }
}

impl Redactor {
    /// `secrets`: (display name, plaintext value bytes). Values shorter than
    /// `min_len` are NOT masked; they are listed in [`skipped`](Self::skipped).
    pub fn new(secrets: &[(&str, &[u8])], opts: Options) -> Redactor {
        let bytes = secrets.iter().map(|(_, v)| v.len()).sum();
        let mut b = Builder::new(opts, secrets.len(), bytes);
        for (name, value) in secrets {
            b.add(name, value);
        }
        b.build()
    }

    /// Adds every string leaf of a JSON value under the same name as well as
    /// the value's compact JSON text. (Numbers, booleans and object keys are
    /// not registered on their own.)
    pub fn with_json(secrets: &[(&str, &serde_json::Value)], opts: Options) -> Redactor {
        let mut b = Builder::new(opts, secrets.len() * 4, secrets.len() * 256);
        for (name, value) in secrets {
            let text = serde_json::to_string(value).unwrap_or_default();
            b.add(name, text.as_bytes());
            json::for_each_string_leaf(value, &mut |s| b.add(name, s.as_bytes()));
        }
        b.build()
    }

    /// Names of values too short to mask (each listed once).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// True when nothing would ever be masked.
    pub fn is_empty(&self) -> bool {
        self.pat_name.is_empty()
    }

    /// Number of registered patterns (all forms of all values).
    pub fn pattern_count(&self) -> usize {
        self.pat_name.len()
    }

    /// Every registered pattern (for benchmarks and diagnostics: these are
    /// the secret values and their encodings).
    #[doc(hidden)]
    pub fn patterns(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.pat_name.len() as u32).map(|pid| self.matcher.pattern(pid))
    }

    /// Masks `text`; borrows it when nothing matched. The output is always
    /// valid UTF-8: a match that would split a character is widened to whole
    /// characters.
    pub fn redact_str<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut raw = Vec::new();
        let mut spans = Vec::new();
        self.spans(text.as_bytes(), true, &mut raw, &mut spans);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        self.emit(text.as_bytes(), 0, text.len(), &spans, &mut out);
        match String::from_utf8(out) {
            Ok(s) => Cow::Owned(s),
            // Unreachable: spans are widened to char boundaries and the
            // replacements are UTF-8. Stay safe anyway.
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }

    /// Masks `data`.
    pub fn redact_bytes(&self, data: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        let mut spans = Vec::new();
        self.spans(data, false, &mut raw, &mut spans);
        let mut out = Vec::with_capacity(data.len());
        self.emit(data, 0, data.len(), &spans, &mut out);
        out
    }

    /// Masks every string and object key inside `v`, in place.
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        json::redact_value(self, v);
    }

    /// A streaming redactor: feed chunks, get back the bytes that are final.
    pub fn stream(&self) -> StreamRedactor<'_> {
        StreamRedactor::new(self)
    }

    /// How many trailing bytes a stream must hold back: a match starting
    /// before `len - keep` is complete, widening included.
    pub(crate) fn keep(&self) -> usize {
        self.matcher.max_len() + 3
    }

    /// Every masked region of `hay`, widened (base64 partial characters and
    /// padding; whole UTF-8 characters when `utf8`), sorted by start, then
    /// longest first.
    pub(crate) fn spans(
        &self,
        hay: &[u8],
        utf8: bool,
        raw: &mut Vec<RawMatch>,
        out: &mut Vec<Span>,
    ) {
        raw.clear();
        out.clear();
        self.matcher.find_all(hay, raw);
        let len = hay.len();
        for m in raw.iter() {
            let ext = self.pat_ext[m.pid as usize];
            let (mut s, mut e) = (m.start, m.end);
            if ext & EXT_LEFT != 0 && s > 0 && forms::is_base64_char(hay[s - 1]) {
                s -= 1;
            }
            if ext & EXT_RIGHT != 0 && e < len && forms::is_base64_char(hay[e]) {
                e += 1;
                for _ in 0..2 {
                    if e < len && hay[e] == b'=' {
                        e += 1;
                    } else {
                        break;
                    }
                }
            }
            if utf8 {
                while s > 0 && is_utf8_continuation(hay[s]) {
                    s -= 1;
                }
                while e < len && is_utf8_continuation(hay[e]) {
                    e += 1;
                }
            }
            out.push(Span {
                start: s,
                end: e,
                name: self.pat_name[m.pid as usize],
            });
        }
        out.sort_unstable_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.name.cmp(&b.name))
        });
        out.dedup_by(|b, a| a.start == b.start && a.end >= b.end);
    }

    /// Writes `buf[start..cut]` to `out` with every span masked. Spans are
    /// sorted by start; only those starting before `cut` are used (they must
    /// be complete). Overlapping spans are masked as one. A span group that
    /// begins before `start` continues a mask already written (by a previous
    /// stream round): its bytes are dropped without a second replacement.
    /// Returns where the next round starts (`>= cut`).
    pub(crate) fn emit(
        &self,
        buf: &[u8],
        start: usize,
        cut: usize,
        spans: &[Span],
        out: &mut Vec<u8>,
    ) -> usize {
        let mut pos = start;
        let mut i = 0;
        while i < spans.len() && spans[i].start < cut {
            let first = spans[i];
            let mut end = first.end;
            i += 1;
            while i < spans.len() && spans[i].start < end && spans[i].start < cut {
                end = end.max(spans[i].end);
                i += 1;
            }
            if end <= pos {
                continue;
            }
            if first.start >= pos {
                out.extend_from_slice(&buf[pos..first.start]);
                out.extend_from_slice(&self.replacements[first.name as usize]);
            }
            pos = end;
        }
        if pos < cut {
            out.extend_from_slice(&buf[pos..cut]);
            pos = cut;
        }
        pos
    }
}

#[inline]
fn is_utf8_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}
