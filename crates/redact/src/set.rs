//! [`PatternSet`]: the encoded forms of some values, built once and shared.
//!
//! A set holds each value once, a descriptor per form (which value, which
//! [`Kind`], how long, how it is compared and widened), the bytes of the short
//! forms, and the windows the matcher will probe for each form (chosen here,
//! while the form's bytes are at hand). Forms longer than [`STORE_MAX`] are not
//! kept: the matcher regenerates them piece by piece to verify a candidate, so
//! a set costs about the size of its values whatever their forms.
//!
//! A [`Redactor`](crate::Redactor) is built over one or more sets
//! ([`Redactor::from_sets`](crate::Redactor::from_sets)); building it from
//! sets that already exist only lays out the matcher's tables.
//!
//! Every buffer here that holds a value, a form or a piece of one (values, kept
//! forms, the window keys of forms not kept, the builder's scratch, URL parts)
//! is wiped when dropped, and is sized before it is written so it does not
//! grow (a grown buffer leaves its old copy behind, unwiped). The one copy
//! out of reach is inside the `aho-corasick` automaton over the short forms.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use zeroize::Zeroizing;

use crate::forms::{self, Encoder, Kind, EXT_PCT_ONLY, EXT_TOKEN};
use crate::matcher;
use crate::Options;

/// `Form::stored` of a form whose bytes are not kept.
pub(crate) const NOT_STORED: u32 = u32::MAX;
/// Forms up to this many bytes are kept whole.
pub(crate) const STORE_MAX: usize = 512;
/// Sets with fewer pending windows than this pick them without the sharing
/// sketch (it costs more than it saves).
const SKETCH_MIN_FORMS: usize = 256;

/// One registered form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Form {
    /// The value it encodes: `values[val_off..val_off + val_len]`.
    pub val_off: u32,
    pub val_len: u32,
    pub kind: Kind,
    pub len: u32,
    /// Index into the set's names.
    pub name: u32,
    /// Offset of its bytes in the arena, or [`NOT_STORED`] (a raw form reads
    /// its value; a long form is regenerated).
    pub stored: u32,
    /// First of its window offsets in `long_off` (8) or `mid_off` (4).
    pub win: u32,
    /// When its bytes are not at hand: first of its window keys in
    /// `big_keys`.
    pub keys: u32,
    /// 0 short (aho-corasick), 1 mid, 2 long.
    pub tier: u8,
    /// `EXT_*` bits.
    pub ext: u8,
    /// `MODE_*`.
    pub mode: u8,
}

/// The encoded forms of some values. Immutable once built; share it through
/// an `Arc`. Holds the values themselves (zeroed when dropped).
pub struct PatternSet {
    pub(crate) names: Vec<String>,
    pub(crate) values: Zeroizing<Vec<u8>>,
    pub(crate) forms: Vec<Form>,
    pub(crate) arena: Zeroizing<Vec<u8>>,
    /// Offsets of each long form's 8 windows, each mid form's 4 (the keys
    /// are read from the form's bytes, or `big_keys` when not kept).
    pub(crate) long_off: Vec<u16>,
    pub(crate) mid_off: Vec<u16>,
    /// Eight bytes of a form each: wiped like the values.
    pub(crate) big_keys: Zeroizing<Vec<u64>>,
    pub(crate) max_len: usize,
    pub(crate) skipped: Vec<String>,
}

/// Shows sizes only, never a value.
impl std::fmt::Debug for PatternSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatternSet")
            .field("names", &self.names.len())
            .field("forms", &self.forms.len())
            .field("bytes", &self.heap_bytes())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl PatternSet {
    /// Every value in all its forms; values shorter than `opts.min_len` are
    /// skipped (see [`skipped`](Self::skipped)).
    pub fn new(secrets: &[(&str, &[u8])], opts: Options) -> PatternSet {
        let bytes = secrets.iter().map(|(_, v)| v.len()).sum();
        let mut b = PatternSet::builder(opts);
        b.reserve(secrets.len(), bytes);
        for (name, value) in secrets {
            b.add(name, value);
        }
        b.build()
    }

    /// Every JSON value (see [`SetBuilder::add_json`]).
    pub fn with_json(secrets: &[(&str, &serde_json::Value)], opts: Options) -> PatternSet {
        let mut b = PatternSet::builder(opts);
        for (name, value) in secrets {
            b.add_json(name, value);
        }
        b.build()
    }

    pub fn builder(opts: Options) -> SetBuilder {
        SetBuilder {
            min_len: opts.min_len.max(1),
            tokens: false,
            set: PatternSet {
                names: Vec::new(),
                values: Zeroizing::new(Vec::new()),
                forms: Vec::new(),
                arena: Zeroizing::new(Vec::new()),
                long_off: Vec::new(),
                mid_off: Vec::new(),
                big_keys: Zeroizing::new(Vec::new()),
                max_len: 0,
                skipped: Vec::new(),
            },
            names: HashMap::new(),
            seen: HashMap::default(),
            chain: Vec::new(),
            skipped_set: HashSet::new(),
            kinds: Vec::new(),
            scratch: Zeroizing::new(Vec::new()),
            pending: Vec::new(),
        }
    }

    /// Names of values too short to mask (each listed once).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// True when the set masks nothing.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Number of registered forms.
    pub fn pattern_count(&self) -> usize {
        self.forms.len()
    }

    /// Memory held by the set, in bytes (for caches bounded by size).
    pub fn heap_bytes(&self) -> usize {
        self.values.capacity()
            + self.arena.capacity()
            + self.forms.capacity() * std::mem::size_of::<Form>()
            + (self.long_off.capacity() + self.mid_off.capacity()) * 2
            + self.big_keys.capacity() * 8
            + self.names.iter().map(|n| n.len() + 24).sum::<usize>()
            + self.skipped.iter().map(|n| n.len() + 24).sum::<usize>()
    }

    /// The value a form encodes.
    #[inline]
    pub(crate) fn value(&self, f: &Form) -> &[u8] {
        &self.values[f.val_off as usize..(f.val_off + f.val_len) as usize]
    }

    /// A form's bytes, when they are at hand (raw forms, kept forms).
    #[inline]
    pub(crate) fn form_bytes(&self, f: &Form) -> Option<&[u8]> {
        if f.kind == Kind::Raw {
            Some(self.value(f))
        } else if f.stored != NOT_STORED {
            Some(&self.arena[f.stored as usize..f.stored as usize + f.len as usize])
        } else {
            None
        }
    }
}

/// Builds a [`PatternSet`]: add values, then [`build`](SetBuilder::build).
pub struct SetBuilder {
    min_len: usize,
    tokens: bool,
    set: PatternSet,
    names: HashMap<String, u32>,
    /// Values already added (by hash, then compared): a repeated value (under
    /// any name) adds nothing. Hash → first entry of its chain in `chain`:
    /// `(value offset, length, next entry or u32::MAX)`.
    seen: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    chain: Vec<(u32, u32, u32)>,
    skipped_set: HashSet<String>,
    kinds: Vec<Kind>,
    scratch: Zeroizing<Vec<u8>>,
    /// Forms whose windows are picked in `build` (their bytes are kept).
    pending: Vec<u32>,
}

impl SetBuilder {
    /// Values shorter than the minimum are masked where they stand as a whole
    /// token (the bytes around them are not letters or digits), in their raw
    /// and textual escaped forms, instead of being skipped. For a response to a
    /// request that carried the value: elsewhere a short value would mask
    /// ordinary words and numbers.
    pub fn short_values_as_tokens(mut self, yes: bool) -> SetBuilder {
        self.tokens = yes;
        self
    }

    /// Adds `value` under `name` in all its forms. A URL (`scheme://…`) also
    /// adds its user name, password, path and query values that are at least
    /// the minimum length, so an echo of only that part is masked too.
    pub fn add(&mut self, name: &str, value: &[u8]) -> &mut SetBuilder {
        self.add_value(name, value);
        if value.len() >= self.min_len {
            for part in url_parts(value) {
                if part.len() >= self.min_len {
                    self.add_value(name, &part);
                }
            }
        }
        self
    }

    /// Adds a JSON value: a string as its text; anything else as its compact
    /// JSON text plus every leaf at any depth (strings as their text, numbers
    /// and booleans as their JSON text). Object keys are not registered.
    pub fn add_json(&mut self, name: &str, value: &serde_json::Value) -> &mut SetBuilder {
        if let serde_json::Value::String(s) = value {
            self.set.values.reserve(s.len());
            return self.add(name, s.as_bytes());
        }
        let text = Zeroizing::new(serde_json::to_string(value).unwrap_or_default());
        // The text and its leaves, about twice its size: reserved up front so
        // the values buffer does not move (and leave a copy behind).
        self.set.values.reserve(2 * text.len());
        self.add(name, text.as_bytes());
        crate::json::for_each_leaf(value, &mut |leaf| {
            self.add(name, leaf);
        });
        self
    }

    /// Sizing hint: `values` more values of `bytes` bytes in all.
    pub fn reserve(&mut self, values: usize, bytes: usize) -> &mut SetBuilder {
        // About eight forms a value, the short ones kept, a few windows each.
        let set = &mut self.set;
        set.values.reserve(bytes);
        set.forms.reserve(values * 9);
        // Only forms up to STORE_MAX bytes are kept.
        set.arena.reserve((bytes * 8).min(values * 8 * STORE_MAX));
        set.long_off.reserve(values * 8 * matcher::LONG_STRIDE);
        set.mid_off.reserve(values * matcher::MID_STRIDE);
        self.seen.reserve(values);
        self.chain.reserve(values);
        self.pending.reserve(values * 9);
        self
    }

    fn name_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.names.get(name) {
            return id;
        }
        let id = self.set.names.len() as u32;
        self.set.names.push(name.to_owned());
        self.names.insert(name.to_owned(), id);
        id
    }

    fn add_value(&mut self, name: &str, value: &[u8]) {
        let token = value.len() < self.min_len;
        if value.is_empty() || (token && !self.tokens) {
            if self.skipped_set.insert(name.to_owned()) {
                self.set.skipped.push(name.to_owned());
            }
            return;
        }
        let hash = hash_bytes(value);
        let head = self.seen.get(&hash).copied().unwrap_or(u32::MAX);
        let mut at = head;
        while at != u32::MAX {
            let (o, l, next) = self.chain[at as usize];
            if &self.set.values[o as usize..(o + l) as usize] == value {
                return;
            }
            at = next;
        }
        let val_off = self.set.values.len() as u32;
        let val_len = value.len() as u32;
        self.seen.insert(hash, self.chain.len() as u32);
        self.chain.push((val_off, val_len, head));
        self.set.values.extend_from_slice(value);
        let name = self.name_id(name);
        let mut kinds = std::mem::take(&mut self.kinds);
        forms::kinds(value, token, &mut kinds);
        let mut scratch = std::mem::take(&mut self.scratch);
        // Room for the longest form up front: growing while it holds a form would
        // leave that form behind in the old allocation.
        let room = forms::max_form_len(value.len());
        if scratch.capacity() < room {
            scratch = Zeroizing::new(Vec::with_capacity(room.max(2 * scratch.capacity())));
        }
        for &kind in &kinds {
            scratch.clear();
            if kind != Kind::Raw {
                Encoder::new(value, kind).all(&mut scratch);
            }
            // The URL-safe alphabet differs only where the standard one has
            // `+` or `/`: the same middle otherwise.
            if matches!(kind, Kind::B64 { url: true, .. })
                && !scratch.iter().any(|&b| b == b'-' || b == b'_')
            {
                continue;
            }
            let bytes: &[u8] = if kind == Kind::Raw { value } else { &scratch };
            self.add_form(val_off, val_len, kind, bytes, name, token);
        }
        self.scratch = scratch;
        self.kinds = kinds;
    }

    fn add_form(
        &mut self,
        val_off: u32,
        val_len: u32,
        kind: Kind,
        bytes: &[u8],
        name: u32,
        token: bool,
    ) {
        let len = bytes.len();
        let pct_only = kind == Kind::PctDecoded && !token && len < self.min_len;
        if len == 0 || (!token && !pct_only && len < self.min_len) {
            return;
        }
        let set = &mut self.set;
        let mut ext = if token { EXT_TOKEN } else { 0 };
        if pct_only {
            ext |= EXT_PCT_ONLY;
        }
        if let Kind::B64 { offset, .. } = kind {
            ext |= forms::base64_bounds(val_len as usize, offset as usize).2;
        }
        let tier = if len >= matcher::LONG_MIN {
            2
        } else if len >= matcher::MID_MIN {
            1
        } else {
            0
        };
        let keep = tier == 0 || len <= STORE_MAX || kind == Kind::Raw;
        let stored = if kind == Kind::Raw || !keep {
            NOT_STORED
        } else {
            let off = set.arena.len() as u32;
            set.arena.extend_from_slice(bytes);
            off
        };
        let idx = set.forms.len() as u32;
        let mut keys = NOT_STORED;
        let win = match tier {
            2 => {
                let w = set.long_off.len() as u32;
                set.long_off.extend([0u16; matcher::LONG_STRIDE]);
                if keep {
                    self.pending.push(idx);
                } else {
                    let mut out = Vec::with_capacity(matcher::LONG_STRIDE);
                    matcher::pick_windows::<{ matcher::LONG_WINDOW }, { matcher::LONG_STRIDE }>(
                        bytes, None, &mut out,
                    );
                    keys = set.big_keys.len() as u32;
                    for (r, win) in out.iter().enumerate() {
                        set.long_off[w as usize + r] = win.off;
                        set.big_keys.push(win.key);
                    }
                }
                w
            }
            1 => {
                let w = set.mid_off.len() as u32;
                set.mid_off.extend([0u16; matcher::MID_STRIDE]);
                self.pending.push(idx);
                w
            }
            _ => 0,
        };
        set.forms.push(Form {
            val_off,
            val_len,
            kind,
            len: len as u32,
            name,
            stored,
            win,
            keys,
            tier,
            ext,
            mode: kind.mode(),
        });
        set.max_len = set.max_len.max(len);
    }

    /// Adds `value`'s raw form alone (matcher tests).
    #[cfg(test)]
    pub(crate) fn add_raw_for_test(&mut self, name: &str, value: &[u8]) {
        let val_off = self.set.values.len() as u32;
        self.set.values.extend_from_slice(value);
        let name = self.name_id(name);
        self.add_form(val_off, value.len() as u32, Kind::Raw, value, name, false);
    }

    /// Picks the remaining windows and hands out the set.
    pub fn build(self) -> PatternSet {
        let mut set = self.set;
        // Give back what the sizing hint over-reserved (a set may be cached
        // for long, and caches count its capacity). Not the buffers that hold
        // values and forms: moving them would leave copies behind, unzeroed.
        fn fit<T>(v: &mut Vec<T>) {
            if v.capacity() > 2 * v.len() + 64 {
                v.shrink_to_fit();
            }
        }
        fit(&mut set.forms);
        fit(&mut set.long_off);
        fit(&mut set.mid_off);
        let use_sketch = self.pending.len() >= SKETCH_MIN_FORMS;
        let mut long_sketch = use_sketch.then(matcher::Sketch::new);
        let mut mid_sketch = use_sketch.then(matcher::Sketch::new);
        if use_sketch {
            for &i in &self.pending {
                let f = set.forms[i as usize];
                let bytes = set.form_bytes(&f).expect("pending forms are kept");
                match f.tier {
                    2 => long_sketch
                        .as_mut()
                        .expect("sketch")
                        .count::<{ matcher::LONG_WINDOW }, { matcher::LONG_STRIDE }>(bytes),
                    _ => mid_sketch
                        .as_mut()
                        .expect("sketch")
                        .count::<{ matcher::MID_WINDOW }, { matcher::MID_STRIDE }>(bytes),
                }
            }
        }
        let mut out = Vec::with_capacity(matcher::LONG_STRIDE);
        for &i in &self.pending {
            let f = set.forms[i as usize];
            let bytes = set.form_bytes(&f).expect("pending forms are kept");
            out.clear();
            let w = f.win as usize;
            match f.tier {
                2 => {
                    matcher::pick_windows::<{ matcher::LONG_WINDOW }, { matcher::LONG_STRIDE }>(
                        bytes,
                        long_sketch.as_ref(),
                        &mut out,
                    );
                    for (r, win) in out.iter().enumerate() {
                        set.long_off[w + r] = win.off;
                    }
                }
                _ => {
                    matcher::pick_windows::<{ matcher::MID_WINDOW }, { matcher::MID_STRIDE }>(
                        bytes,
                        mid_sketch.as_ref(),
                        &mut out,
                    );
                    for (r, win) in out.iter().enumerate() {
                        set.mid_off[w + r] = win.off;
                    }
                }
            }
        }
        set
    }
}

/// A fast 64-bit hash of a value (for finding repeated values; equal hashes
/// are compared).
fn hash_bytes(v: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (v.len() as u64).wrapping_mul(K);
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ x).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// Hashes a `u64` that is a hash already.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Percent-decodes `s` (`+` as a space too when `plus`); never longer than `s`,
/// so the buffer does not grow.
fn pct_decode(s: &[u8], plus: bool) -> Zeroizing<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The parts of a URL value (`scheme://…`, no whitespace) that are secrets of
/// their own: user name and password, the path, each query value; as written
/// and decoded.
pub(crate) fn url_parts(v: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out = Vec::new();
    let Some(sep) = v.windows(3).position(|w| w == b"://") else {
        return out;
    };
    let scheme = &v[..sep];
    if scheme.is_empty()
        || !scheme[0].is_ascii_alphabetic()
        || !scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        || v.iter()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return out;
    }
    let rest = &v[sep + 3..];
    let auth_end = rest
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let mut push = |raw: &[u8], plus: bool| {
        let dec = pct_decode(raw, plus);
        if dec.as_slice() != raw {
            out.push(dec);
        }
        out.push(Zeroizing::new(raw.to_vec()));
    };
    if let Some(at) = authority.iter().rposition(|&b| b == b'@') {
        let userinfo = &authority[..at];
        match userinfo.iter().position(|&b| b == b':') {
            Some(c) => {
                push(&userinfo[..c], false);
                push(&userinfo[c + 1..], false);
            }
            None => push(userinfo, false),
        }
    }
    let tail = &rest[auth_end..];
    let tail = &tail[..tail.iter().position(|&b| b == b'#').unwrap_or(tail.len())];
    let q = tail.iter().position(|&b| b == b'?').unwrap_or(tail.len());
    if q > 1 {
        push(&tail[..q], false);
    }
    if q < tail.len() {
        for pair in tail[q + 1..].split(|&b| b == b'&' || b == b';') {
            if let Some(eq) = pair.iter().position(|&b| b == b'=') {
                push(&pair[eq + 1..], true);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: &str) -> Vec<String> {
        url_parts(v.as_bytes())
            .into_iter()
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn url_values_give_their_parts() {
        assert_eq!(
            parts("https://hooks.example.com/services/T0AB12/B0CD34/ZxYw?x=1#frag"),
            ["/services/T0AB12/B0CD34/ZxYw", "1"]
        );
        assert_eq!(
            parts("postgres://app:p%40ss%2Bw0rd@db:5432/app?sslmode=require&k=a+b"),
            [
                "app",
                "p@ss+w0rd",
                "p%40ss%2Bw0rd",
                "/app",
                "require",
                "a b",
                "a+b"
            ]
        );
        assert!(parts("not a url").is_empty());
        assert!(parts("https://h/x y").is_empty());
        assert!(parts("1https://h/x").is_empty());
    }

    #[test]
    fn repeated_values_are_added_once_and_short_ones_skipped() {
        let mut b = PatternSet::builder(Options::default());
        b.add("a", b"same-value-123")
            .add("b", b"same-value-123")
            .add("c", b"abc");
        let s = b.build();
        assert_eq!(s.names, ["a"]);
        assert_eq!(s.skipped(), ["c"]);
        let mut b = PatternSet::builder(Options::default()).short_values_as_tokens(true);
        b.add("c", b"abc");
        let s = b.build();
        assert!(s.skipped().is_empty());
        assert!(s.forms.iter().all(|f| f.ext & EXT_TOKEN != 0));
    }
}
