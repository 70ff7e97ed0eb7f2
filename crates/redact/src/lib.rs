//! `lockbox-redact`: masks secret values wherever they show up in text, bytes,
//! JSON documents and byte streams. Usable on its own (no dependency on the
//! rest of Lockbox).
//!
//! A [`Redactor`] is built from a set of `(name, value)` pairs, or from
//! [`PatternSet`]s built earlier (one per secret version, say, shared by every
//! redactor that needs it). Every value is found in all the forms in which it
//! commonly leaks:
//!
//! * raw bytes, and as hex (either case);
//! * JSON-escaped, as serde_json writes it and as other encoders do (`\/`,
//!   `\uXXXX` for non-ASCII or for the HTML-sensitive `<>&'=`, hex digits in
//!   either case, surrogate pairs);
//! * percent-encoded with any encode set (RFC 3986, the WHATWG path, query,
//!   fragment, userinfo and form sets, JavaScript's and Python's) and hex
//!   digits in either case at any position, `+` for a space included;
//! * HTML entities: named, decimal and hex;
//! * base64, standard and URL-safe alphabets, padded or not, for the value
//!   starting at any of the three byte offsets of a 3-byte group (so a password
//!   inside `Authorization: Basic base64(user:password)` is caught), also
//!   URL-encoded, with `\/` escapes, and wrapped at 64 or 76 columns (PEM,
//!   MIME). Only the stable middle of the encoding is matched; the match is
//!   then widened over the partial characters on both sides and any padding.
//!
//! JSON values ([`Redactor::with_json`]) register their compact text and every
//! string, number and boolean leaf; a URL value (`scheme://…`) also its user
//! name, password, path and query values. Values shorter than
//! [`Options::min_len`] (default [`MIN_LEN`], 6 bytes) are skipped
//! ([`Redactor::skipped`]), unless the set is built with
//! [`SetBuilder::short_values_as_tokens`]: then they are masked where they
//! stand as a whole token.
//!
//! Every occurrence is replaced by `[REDACTED:<name>]`; overlapping
//! occurrences are masked as their union (one replacement carrying the name of
//! the leftmost, longest one). [`StreamRedactor`] does the same over a stream
//! of chunks, holding back a tail so values split across chunks are caught.
//!
//! Matching (see `matcher.rs`) uses sparse-window filters: one probe per 8
//! bytes of text for patterns of 15 bytes or more, two per 8 bytes for
//! patterns of 7 to 14 bytes, and aho-corasick only for the few shorter ones.
//! Percent-encoding, entities, `\/` and line wrapping are undone around each
//! escape in the text (`views.rs`) rather than enumerated as forms. See
//! `BENCH.md` for speed.
//!
//! ```
//! use lockbox_redact::{Options, Redactor};
//!
//! let r = Redactor::new(&[("db-password", b"correct horse battery")], Options::default());
//! assert_eq!(r.redact_str("pw=correct%20horse%20battery"), "pw=[REDACTED:db-password]");
//! assert_eq!(r.redact_str("pw=correct+horse+battery"), "pw=[REDACTED:db-password]");
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
mod set;
mod stream;
mod views;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

pub use json::short_leaves;
pub use set::{PatternSet, SetBuilder};
pub use stream::StreamRedactor;

use forms::{EXT_LEFT, EXT_PCT_ONLY, EXT_RIGHT, EXT_TOKEN};
use matcher::{Matcher, RawMatch};
use views::{Sites, View};

/// The default minimum length, in bytes, of a value masked everywhere.
pub const MIN_LEN: usize = 6;

/// How a [`Redactor`] or [`PatternSet`] is built.
#[derive(Debug, Clone)]
pub struct Options {
    /// Values shorter than this many bytes are not masked (they would cause
    /// too many false positives); their names are listed in
    /// [`Redactor::skipped`]. Default [`MIN_LEN`] (6). Encoded forms shorter
    /// than this are dropped too.
    pub min_len: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { min_len: MIN_LEN }
    }
}

/// One masked region of a haystack, after widening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub name: u32,
}

/// Working memory of one redaction (reused by a stream).
#[derive(Default)]
pub(crate) struct Scratch {
    raw: Vec<RawMatch>,
    sites: Sites,
    view: View,
}

/// Masks a fixed set of secret values. Immutable once built: `Send + Sync`,
/// share it through an `Arc`; build a new one when the set changes.
pub struct Redactor {
    /// `[REDACTED:<name>]` for every distinct name.
    replacements: Vec<Vec<u8>>,
    /// Per pattern: index into `replacements`.
    pat_name: Vec<u32>,
    /// Per pattern: `EXT_*` bits.
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

/// A byte that continues a word: an ASCII letter or digit, or part of a
/// non-ASCII character.
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

impl Redactor {
    /// `secrets`: (display name, plaintext value bytes). Values shorter than
    /// `min_len` are NOT masked; they are listed in [`skipped`](Self::skipped).
    pub fn new(secrets: &[(&str, &[u8])], opts: Options) -> Redactor {
        Redactor::from_sets(&[Arc::new(PatternSet::new(secrets, opts))])
    }

    /// JSON values: each one's compact JSON text (a string: its text) and every
    /// string, number and boolean leaf at any depth, under the same name.
    /// Object keys are not registered.
    pub fn with_json(secrets: &[(&str, &serde_json::Value)], opts: Options) -> Redactor {
        Redactor::from_sets(&[Arc::new(PatternSet::with_json(secrets, opts))])
    }

    /// The union of sets built earlier: lays out the matcher's tables over
    /// their forms (it copies no value and encodes nothing).
    pub fn from_sets(sets: &[Arc<PatternSet>]) -> Redactor {
        let mut names: HashMap<&str, u32> = HashMap::new();
        let mut replacements = Vec::new();
        let mut pat_name = Vec::new();
        let mut pat_ext = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        for set in sets {
            // One set's names are distinct already.
            let ids: Vec<u32> = if sets.len() == 1 {
                replacements.extend(
                    set.names
                        .iter()
                        .map(|n| format!("[REDACTED:{n}]").into_bytes()),
                );
                (0..set.names.len() as u32).collect()
            } else {
                set.names
                    .iter()
                    .map(|n| {
                        *names.entry(n.as_str()).or_insert_with(|| {
                            replacements.push(format!("[REDACTED:{n}]").into_bytes());
                            replacements.len() as u32 - 1
                        })
                    })
                    .collect()
            };
            for f in &set.forms {
                pat_name.push(ids[f.name as usize]);
                pat_ext.push(f.ext);
            }
            for s in &set.skipped {
                if !skipped.contains(s) {
                    skipped.push(s.clone());
                }
            }
        }
        Redactor {
            replacements,
            pat_name,
            pat_ext,
            matcher: Matcher::new(sets.to_vec()),
            skipped,
        }
    }

    /// The sets this redactor was built over.
    pub fn sets(&self) -> &[Arc<PatternSet>] {
        self.matcher.sets()
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
    pub fn patterns(&self) -> Vec<zeroize::Zeroizing<Vec<u8>>> {
        (0..self.matcher.len() as u32)
            .map(|pid| self.matcher.pattern(pid))
            .collect()
    }

    /// Masks `text`; borrows it when nothing matched. The output is always
    /// valid UTF-8: a match that would split a character is widened to whole
    /// characters.
    pub fn redact_str<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut sc = Scratch::default();
        let mut spans = Vec::new();
        self.spans(text.as_bytes(), true, &mut sc, &mut spans);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        self.emit(text.as_bytes(), 0, text.len(), 0, &spans, &mut out);
        match String::from_utf8(out) {
            Ok(s) => Cow::Owned(s),
            // Unreachable: spans are widened to char boundaries and the
            // replacements are UTF-8. Stay safe anyway.
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }

    /// Masks `data`.
    pub fn redact_bytes(&self, data: &[u8]) -> Vec<u8> {
        let mut sc = Scratch::default();
        let mut spans = Vec::new();
        self.spans(data, false, &mut sc, &mut spans);
        let mut out = Vec::with_capacity(data.len());
        self.emit(data, 0, data.len(), 0, &spans, &mut out);
        out
    }

    /// Masks every string and object key inside `v`, in place; a number or
    /// boolean leaf that matches becomes the masked text (a string).
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        json::redact_value(self, v);
    }

    /// A streaming redactor: feed chunks, get back the bytes that are final.
    pub fn stream(&self) -> StreamRedactor<'_> {
        StreamRedactor::new(self)
    }

    /// How many trailing bytes a stream must hold back: a match starting
    /// before `len - keep` is complete, widening and the bytes around it
    /// included, also when found in a decoded view (where one byte may stand
    /// for up to `MAX_EXPANSION` bytes of text).
    pub(crate) fn keep(&self) -> usize {
        views::MAX_EXPANSION * self.matcher.max_len() + 64
    }

    /// Widens a match of `pid` at `hay[s..e]` (base64 partial characters and
    /// padding); `None` when a token's neighbours are part of a word.
    #[inline]
    fn widen(&self, hay: &[u8], s: usize, e: usize, pid: u32) -> Option<(usize, usize)> {
        let ext = self.pat_ext[pid as usize];
        let len = hay.len();
        let (mut s, mut e) = (s, e);
        if ext & EXT_TOKEN != 0 && ((s > 0 && is_word(hay[s - 1])) || (e < len && is_word(hay[e])))
        {
            return None;
        }
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
        Some((s, e))
    }

    /// Every masked region of `hay`, widened (base64 partial characters and
    /// padding; whole UTF-8 characters when `utf8`), sorted by start, then
    /// longest first. Matches in the text itself, and in decoded views of the
    /// stretches around each escape, mapped back to the text.
    pub(crate) fn spans(&self, hay: &[u8], utf8: bool, sc: &mut Scratch, out: &mut Vec<Span>) {
        out.clear();
        if self.is_empty() {
            return;
        }
        let Scratch { raw, sites, view } = sc;
        let len = hay.len();
        let push = |out: &mut Vec<Span>, mut s: usize, mut e: usize, pid: u32| {
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
                name: self.pat_name[pid as usize],
            });
        };
        raw.clear();
        self.matcher.find_all(hay, raw);
        for m in raw.iter() {
            if self.pat_ext[m.pid as usize] & EXT_PCT_ONLY != 0 {
                continue;
            }
            if let Some((s, e)) = self.widen(hay, m.start, m.end, m.pid) {
                push(out, s, e, m.pid);
            }
        }
        sites.find(hay);
        let max_len = self.matcher.max_len();
        for (k, list) in sites.kinds.iter().enumerate() {
            // Text this far from a site can hold no match the site changes.
            let reach = views::EXPANSION[k] * max_len + 16;
            let mut i = 0;
            while i < list.len() {
                let a = list[i].start.saturating_sub(reach);
                let mut j = i;
                let mut b = (list[i].end + reach).min(len);
                while j + 1 < list.len() && list[j + 1].start.saturating_sub(reach) < b {
                    j += 1;
                    b = (list[j].end + reach).min(len);
                }
                view.build(hay, a, b, &list[i..=j]);
                // Search only around the decoded sites: a match they change
                // overlaps one, so lies within the longest pattern of it.
                let mut ranges: Vec<(usize, usize)> = Vec::new();
                for (s, e) in view.site_ranges() {
                    let (s, e) = (
                        s.saturating_sub(max_len),
                        (e + max_len).min(view.bytes.len()),
                    );
                    match ranges.last_mut() {
                        Some(last) if s <= last.1 => last.1 = last.1.max(e),
                        _ => ranges.push((s, e)),
                    }
                }
                for (rs, re) in ranges {
                    raw.clear();
                    self.matcher.find_all(&view.bytes[rs..re], raw);
                    for m in raw.iter() {
                        let (ms, me) = (rs + m.start, rs + m.end);
                        if self.pat_ext[m.pid as usize] & EXT_PCT_ONLY != 0
                            && (k != views::PCT || !view.decodes(ms, me))
                        {
                            continue;
                        }
                        if let Some((vs, ve)) = self.widen(&view.bytes, ms, me, m.pid) {
                            push(out, view.start_of(vs), view.end_of(ve - 1), m.pid);
                        }
                    }
                }
                i = j + 1;
            }
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
    /// sorted by start; only those starting in `handled..cut` are used (they
    /// must be complete; those before `handled` were dealt with already).
    /// Overlapping spans are masked as one. A span group that begins before
    /// `start` continues a mask already written (by a previous stream round):
    /// its bytes are dropped without a second replacement. Returns where the
    /// next round starts (`>= cut`).
    pub(crate) fn emit(
        &self,
        buf: &[u8],
        start: usize,
        cut: usize,
        handled: usize,
        spans: &[Span],
        out: &mut Vec<u8>,
    ) -> usize {
        let mut pos = start;
        let mut i = spans.partition_point(|s| s.start < handled);
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
