//! The multi-pattern matcher: finds every (possibly overlapping) occurrence of
//! every registered pattern in a haystack.
//!
//! Secret patterns are long and high-entropy, which a sparse-window filter
//! exploits far better than an automaton:
//!
//! * **Long patterns** (length ≥ 15): the haystack is probed only at
//!   positions that are multiples of 8, reading the 8-byte window there as a
//!   `u64`. An occurrence of a pattern starting at `s` puts an aligned
//!   position at every pattern offset `o ≡ -s (mod 8)`, `o ≤ len - 8`; so for
//!   each residue `r` in `0..8` one window at an offset `o ≡ r` is registered
//!   (key → pattern, offset) and every occurrence is found exactly once. Of
//!   the possible offsets of a residue class the build picks the window
//!   shared least with other patterns (counted in a small sketch), so common
//!   prefixes (`sk_live_`, `ghp_`, a JWT header) don't make one key map to
//!   thousands of patterns.
//!
//!   A probe first tests a blocked Bloom filter (one `u64` word, two bits),
//!   and only on a hit looks the key up in a bucketed table (CSR layout:
//!   bucket offsets + packed entries with a 16-bit fingerprint) and verifies
//!   the candidate with a slice compare at `pos - offset`.
//! * **Mid-length patterns** (7..=14 bytes) get the same treatment with
//!   4-byte windows probed every 4 bytes: the two halves of the word the long
//!   tier loads anyway, so one pass over the haystack serves both tiers. Its
//!   filter is sparser, one bit per window (it is tested twice as often).
//! * **Short patterns** (< 7 bytes: only values that short, raw) go to an
//!   aho-corasick automaton.
//!
//! Windows are read case-folded (every byte with bit 5 set), so a form whose
//! hex digits may come in either case (hex, JSON `\u` escapes) is found by
//! one window; the candidate is then verified under the form's own rule. The
//! windows of each form are picked when its [`PatternSet`] is built; a
//! matcher over several sets only lays out the filters and tables.

use std::sync::Arc;

use zeroize::Zeroizing;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::forms::{eq_mode, Encoder, MODE_EXACT};
use crate::set::{Form, PatternSet};

/// One occurrence of pattern `pid` at `hay[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawMatch {
    pub start: usize,
    pub end: usize,
    pub pid: u32,
}

/// Long tier: 8-byte windows probed every 8 bytes.
pub(crate) const LONG_WINDOW: usize = 8;
pub(crate) const LONG_STRIDE: usize = 8;
/// Mid tier: 4-byte windows probed every 4 bytes (the two halves of each
/// 8-byte word the long tier loads anyway).
pub(crate) const MID_WINDOW: usize = 4;
pub(crate) const MID_STRIDE: usize = 4;
/// Shortest pattern of the long tier: such a pattern always contains a
/// window starting at a multiple of the stride, at an offset below it.
pub(crate) const LONG_MIN: usize = LONG_STRIDE + LONG_WINDOW - 1;
/// Shortest pattern of the mid tier; shorter ones go to aho-corasick.
pub(crate) const MID_MIN: usize = MID_STRIDE + MID_WINDOW - 1;
/// Bloom filter bits per registered window, and bits set per window. The
/// long tier's filter is the big one: two bits in one word keep it small
/// (about 2% false hits). The mid tier is probed twice as often and has few
/// windows: a single bit in a sparser filter is cheaper to test.
const LONG_BLOOM_BITS: usize = 12;
const LONG_TWO_BITS: bool = true;
const MID_BLOOM_BITS: usize = 128;
const MID_TWO_BITS: bool = false;
/// The mid tier's filter grows past this many bits only at 8 bits per window.
const MID_BLOOM_MAX: usize = 1 << 21;

/// Multiplier for the filter hash (64-bit golden ratio, odd).
const K1: u64 = 0x9E37_79B9_7F4A_7C15;
/// Multiplier for the bucket hash (another odd constant).
const K2: u64 = 0xD6E8_FEB8_6659_FD93;

/// Case folding of a window: bit 5 of every byte.
const FOLD: u64 = 0x2020_2020_2020_2020;

/// Window offsets are stored in 16 bits.
const MAX_OFFSET: usize = u16::MAX as usize;
/// Candidate offsets examined per residue class (first, last, evenly in
/// between), so long patterns don't make the build slow.
const MAX_CANDIDATES: usize = 4;
/// Counters of the window-sharing sketch (u16, saturating): small enough to
/// stay in cache while building.
const SKETCH_BITS: u32 = 16;

/// One window of a form: its (folded) key and its offset in the form.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Win {
    pub key: u64,
    pub off: u16,
}

#[inline(always)]
fn bloom_hash(key: u64) -> u64 {
    key.wrapping_mul(K1)
}

/// The bit(s) of a filter word: taken from bits 20..32 of the product,
/// which depend on the key's first 4 bytes (all of a mid-tier key; the word
/// index, from the top bits, depends on all 8 bytes of a long-tier key).
/// Fixed shifts keep the scan loop short.
#[inline(always)]
fn bloom_mask<const TWO_BITS: bool>(h: u64) -> u64 {
    if TWO_BITS {
        (1u64 << ((h >> 20) & 63)) | (1u64 << ((h >> 26) & 63))
    } else {
        1u64 << ((h >> 20) & 63)
    }
}

/// The bucket (top bits) and 16-bit fingerprint (middle bits) of a key.
#[inline(always)]
fn bucket_fp(key: u64, bucket_shift: u32) -> (usize, u64) {
    let h = key.wrapping_mul(K2);
    ((h >> bucket_shift) as usize, (h >> 16) & 0xFFFF)
}

/// The first `window` (≤ 8) bytes of `w`, little-endian, case-folded.
#[inline(always)]
fn load_key(w: &[u8], window: usize) -> u64 {
    let mut b = [0u8; 8];
    b[..window].copy_from_slice(&w[..window]);
    u64::from_le_bytes(b) | (FOLD >> (64 - 8 * window))
}

#[inline(always)]
fn load_u64(w: &[u8]) -> u64 {
    u64::from_le_bytes(w[..8].try_into().expect("8 bytes")) | FOLD
}

/// The candidate window offsets `≡ r (mod STRIDE)` of a pattern of `len`
/// bytes: all of them, or `MAX_CANDIDATES` (4) spread from first to last.
#[inline(always)]
fn candidates<const WINDOW: usize, const STRIDE: usize>(
    len: usize,
    r: usize,
) -> impl Iterator<Item = usize> {
    let last = (len - WINDOW).min(MAX_OFFSET);
    let jmax = (last - r) / STRIDE;
    let spread = [0, jmax / 3, 2 * jmax / 3, jmax];
    let n = (jmax + 1).min(MAX_CANDIDATES);
    (0..n).map(move |i| {
        let j = if jmax < MAX_CANDIDATES { i } else { spread[i] };
        r + j * STRIDE
    })
}

/// How often each candidate window occurs among a set's forms
/// (approximately): the build picks the least shared one, so common
/// prefixes (`sk_live_`, a JWT header) don't make one key map to thousands
/// of patterns.
pub(crate) struct Sketch(Vec<u16>);

impl Sketch {
    pub fn new() -> Sketch {
        Sketch(vec![0u16; 1 << SKETCH_BITS])
    }

    #[inline(always)]
    fn slot(key: u64) -> usize {
        (key.wrapping_mul(K2) >> (64 - SKETCH_BITS)) as usize
    }

    pub fn count<const WINDOW: usize, const STRIDE: usize>(&mut self, bytes: &[u8]) {
        for r in 0..STRIDE {
            for o in candidates::<WINDOW, STRIDE>(bytes.len(), r) {
                let c = &mut self.0[Self::slot(load_key(&bytes[o..], WINDOW))];
                *c = c.saturating_add(1);
            }
        }
    }
}

/// Appends one window per residue class of a form's bytes: the least shared
/// candidate by `sketch` (the later one on ties: shared parts of secrets tend
/// to be prefixes), or the last candidate without one.
pub(crate) fn pick_windows<const WINDOW: usize, const STRIDE: usize>(
    bytes: &[u8],
    sketch: Option<&Sketch>,
    out: &mut Vec<Win>,
) {
    for r in 0..STRIDE {
        let (mut best, mut best_count, mut best_key) = (0, u16::MAX, 0);
        for o in candidates::<WINDOW, STRIDE>(bytes.len(), r) {
            let key = load_key(&bytes[o..], WINDOW);
            let count = sketch.map_or(0, |s| s.0[Sketch::slot(key)]);
            if count <= best_count {
                (best, best_count, best_key) = (o, count, key);
            }
        }
        out.push(Win {
            key: best_key,
            off: best as u16,
        });
    }
}

/// One sparse-window filter tier: for every pattern and every residue
/// `r` in `0..stride`, one window of `window` bytes at an offset `≡ r`, as a
/// `u64` key.
struct Tier {
    /// Blocked Bloom filter: word `h >> word_shift`, two bits [`bloom_mask`].
    bloom: Vec<u64>,
    word_shift: u32,
    /// Bucket `b` holds entries `starts[b]..starts[b + 1]`.
    starts: Vec<u32>,
    bucket_shift: u32,
    /// `fingerprint << 48 | offset << 32 | pid`: the key's 16-bit
    /// fingerprint (see [`bucket_fp`]; a collision only costs a
    /// verification) and the window's offset inside pattern `pid`.
    entries: Vec<u64>,
}

impl Tier {
    /// Calls `f(key, offset, pid)` for every window of the forms of `tier` in
    /// `sets` (pids numbered across the sets, form by form).
    #[inline(always)]
    fn each_window<const WINDOW: usize, const STRIDE: usize>(
        sets: &[Arc<PatternSet>],
        tier: u8,
        mut f: impl FnMut(u64, u16, u32),
    ) {
        let mut pid = 0u32;
        for set in sets {
            let offs = if tier == 2 {
                &set.long_off
            } else {
                &set.mid_off
            };
            for form in &set.forms {
                if form.tier == tier {
                    let w = form.win as usize;
                    let offs = &offs[w..w + STRIDE];
                    match set.form_bytes(form) {
                        Some(bytes) => {
                            for &off in offs {
                                f(load_key(&bytes[off as usize..], WINDOW), off, pid);
                            }
                        }
                        None => {
                            let k = form.keys as usize;
                            for (r, &off) in offs.iter().enumerate() {
                                f(set.big_keys[k + r], off, pid);
                            }
                        }
                    }
                }
                pid += 1;
            }
        }
    }

    /// The tier over the windows of the forms of `tier` (`n` windows).
    fn build<const WINDOW: usize, const STRIDE: usize, const TWO_BITS: bool>(
        sets: &[Arc<PatternSet>],
        tier: u8,
        n: usize,
        bloom_bits: usize,
        bloom_max: usize,
    ) -> Tier {
        // Powers of two, at least 64 words / 64 buckets, so shifts stay in
        // range. About four entries per bucket: the table is only read after
        // a Bloom hit, a smaller one builds faster.
        let words = (n * bloom_bits / 64)
            .next_power_of_two()
            .min(bloom_max / 64)
            .max((n * 8 / 64).next_power_of_two())
            .max(64);
        let word_shift = 64 - words.trailing_zeros();
        let buckets = (n / 4).next_power_of_two().max(64);
        let bucket_shift = 64 - buckets.trailing_zeros();
        let mut bloom = vec![0u64; words];
        let mut starts = vec![0u32; buckets + 1];
        Self::each_window::<WINDOW, STRIDE>(sets, tier, |key, _, _| {
            let h = bloom_hash(key);
            bloom[(h >> word_shift) as usize] |= bloom_mask::<TWO_BITS>(h);
            starts[bucket_fp(key, bucket_shift).0 + 1] += 1;
        });
        for b in 0..buckets {
            starts[b + 1] += starts[b];
        }
        let mut fill = starts.clone();
        let mut entries = vec![0u64; n];
        Self::each_window::<WINDOW, STRIDE>(sets, tier, |key, off, pid| {
            let (b, fp) = bucket_fp(key, bucket_shift);
            let slot = &mut fill[b];
            entries[*slot as usize] = (fp << 48) | (u64::from(off) << 32) | u64::from(pid);
            *slot += 1;
        });
        Tier {
            bloom,
            word_shift,
            starts,
            bucket_shift,
            entries,
        }
    }

    /// Whether `key` may be a registered window.
    #[inline(always)]
    fn hit<const TWO_BITS: bool>(&self, key: u64) -> bool {
        let h = bloom_hash(key);
        let mask = bloom_mask::<TWO_BITS>(h);
        self.bloom[(h >> self.word_shift) as usize] & mask == mask
    }

    /// Verifies every pattern registered under `key`, found at `hay[pos..]`.
    #[cold]
    #[inline(never)]
    fn probe(&self, m: &Matcher, hay: &[u8], pos: usize, key: u64, out: &mut Vec<RawMatch>) {
        let (b, fp) = bucket_fp(key, self.bucket_shift);
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        for &e in &self.entries[lo..hi] {
            if e >> 48 != fp {
                continue;
            }
            let (pid, off) = (e as u32, ((e >> 32) & 0xFFFF) as usize);
            if pos < off {
                continue;
            }
            let start = pos - off;
            if let Some(end) = m.verify(pid, hay, start) {
                out.push(RawMatch { start, end, pid });
            }
        }
    }
}

pub(crate) struct Matcher {
    sets: Vec<Arc<PatternSet>>,
    /// Pattern id → (set, form).
    pats: Vec<(u32, u32)>,
    long: Option<Tier>,
    mid: Option<Tier>,
    /// Automaton over the shortest patterns; `short_ids[i]` is the pid of its
    /// pattern `i`. Case-insensitive (and every match verified) when one of
    /// them is compared so.
    short: Option<AhoCorasick>,
    short_ids: Vec<u32>,
    short_verify: bool,
    max_len: usize,
}

impl Matcher {
    pub fn new(sets: Vec<Arc<PatternSet>>) -> Matcher {
        let mut pats = Vec::new();
        let (mut n_long, mut n_mid) = (0, 0);
        let mut short_ids = Vec::new();
        let mut short_verify = false;
        let mut max_len = 0;
        for (si, set) in sets.iter().enumerate() {
            for (fi, f) in set.forms.iter().enumerate() {
                let pid = pats.len() as u32;
                pats.push((si as u32, fi as u32));
                match f.tier {
                    2 => n_long += LONG_STRIDE,
                    1 => n_mid += MID_STRIDE,
                    _ => {
                        short_ids.push(pid);
                        short_verify |= f.mode != MODE_EXACT;
                    }
                }
            }
            max_len = max_len.max(set.max_len);
        }
        let long = (n_long > 0).then(|| {
            Tier::build::<LONG_WINDOW, LONG_STRIDE, LONG_TWO_BITS>(
                &sets,
                2,
                n_long,
                LONG_BLOOM_BITS,
                usize::MAX,
            )
        });
        let mid = (n_mid > 0).then(|| {
            Tier::build::<MID_WINDOW, MID_STRIDE, MID_TWO_BITS>(
                &sets,
                1,
                n_mid,
                MID_BLOOM_BITS,
                MID_BLOOM_MAX,
            )
        });
        let short = (!short_ids.is_empty()).then(|| {
            let slices = short_ids.iter().map(|&pid| {
                let (si, fi) = pats[pid as usize];
                let set = &sets[si as usize];
                set.form_bytes(&set.forms[fi as usize])
                    .expect("short forms are kept")
            });
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(short_verify)
                .build(slices)
                .expect("aho-corasick build")
        });
        Matcher {
            sets,
            pats,
            long,
            mid,
            short,
            short_ids,
            short_verify,
            max_len,
        }
    }

    /// Length of the longest pattern.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn len(&self) -> usize {
        self.pats.len()
    }

    pub fn sets(&self) -> &[Arc<PatternSet>] {
        &self.sets
    }

    /// The set and form of pattern `pid`.
    #[inline]
    pub fn form(&self, pid: u32) -> (&PatternSet, &Form) {
        let (si, fi) = self.pats[pid as usize];
        let set = &self.sets[si as usize];
        (set, &set.forms[fi as usize])
    }

    /// The bytes of pattern `pid` (diagnostics: a value or its encoding), wiped
    /// when dropped.
    pub fn pattern(&self, pid: u32) -> Zeroizing<Vec<u8>> {
        let (set, f) = self.form(pid);
        match set.form_bytes(f) {
            Some(b) => Zeroizing::new(b.to_vec()),
            None => {
                let mut out = Zeroizing::new(Vec::with_capacity(f.len as usize));
                Encoder::new(set.value(f), f.kind).all(&mut out);
                out
            }
        }
    }

    /// Where pattern `pid` ends if it occurs at `hay[start..]`.
    #[inline]
    pub fn verify(&self, pid: u32, hay: &[u8], start: usize) -> Option<usize> {
        let (set, f) = self.form(pid);
        let end = start + f.len as usize;
        if end > hay.len() {
            return None;
        }
        let text = &hay[start..end];
        let mut esc = 0;
        let ok = match set.form_bytes(f) {
            Some(p) => eq_mode(p, text, f.mode, &mut esc),
            None => {
                let mut enc = Encoder::new(set.value(f), f.kind);
                // A piece of the form: wiped after use.
                let mut piece = Zeroizing::new(Vec::with_capacity(512));
                let mut at = 0;
                loop {
                    piece.clear();
                    if !enc.fill(&mut piece, 256) {
                        break at == text.len();
                    }
                    let next = at + piece.len();
                    if next > text.len() || !eq_mode(&piece, &text[at..next], f.mode, &mut esc) {
                        break false;
                    }
                    at = next;
                }
            }
        };
        ok.then_some(end)
    }

    /// Appends every occurrence in `hay` to `out` (unordered; an occurrence
    /// of a long pattern may be reported more than once).
    pub fn find_all(&self, hay: &[u8], out: &mut Vec<RawMatch>) {
        match (&self.long, &self.mid) {
            (Some(long), Some(mid)) => self.scan::<true, true>(long, mid, hay, out),
            (Some(long), None) => self.scan::<true, false>(long, long, hay, out),
            (None, Some(mid)) => self.scan::<false, true>(mid, mid, hay, out),
            (None, None) => {}
        }
        if let Some(ac) = &self.short {
            for m in ac.find_overlapping_iter(hay) {
                let pid = self.short_ids[m.pattern().as_usize()];
                if self.short_verify && self.verify(pid, hay, m.start()).is_none() {
                    continue;
                }
                out.push(RawMatch {
                    start: m.start(),
                    end: m.end(),
                    pid,
                });
            }
        }
    }

    /// One pass over `hay` in 8-byte words: the long tier probes each word,
    /// the mid tier each of its two halves (and a last half word).
    #[inline(always)]
    fn scan<const LONG: bool, const MID: bool>(
        &self,
        long: &Tier,
        mid: &Tier,
        hay: &[u8],
        out: &mut Vec<RawMatch>,
    ) {
        let words = hay.chunks_exact(LONG_STRIDE);
        let rest = words.remainder().len();
        for (i, w) in words.enumerate() {
            let key = load_u64(w);
            let pos = i * LONG_STRIDE;
            if LONG && long.hit::<LONG_TWO_BITS>(key) {
                long.probe(self, hay, pos, key, out);
            }
            if MID {
                let lo = key & 0xFFFF_FFFF;
                if mid.hit::<MID_TWO_BITS>(lo) {
                    mid.probe(self, hay, pos, lo, out);
                }
                let hi = key >> 32;
                if mid.hit::<MID_TWO_BITS>(hi) {
                    mid.probe(self, hay, pos + MID_STRIDE, hi, out);
                }
            }
        }
        if MID && rest >= MID_WINDOW {
            let pos = hay.len() - rest;
            let key = load_key(&hay[pos..], MID_WINDOW);
            if mid.hit::<MID_TWO_BITS>(key) {
                mid.probe(self, hay, pos, key, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;

    fn matcher(pats: &[&[u8]]) -> Matcher {
        // Raw values only: one form each, in order (no encodings).
        let mut b = PatternSet::builder(Options { min_len: 1 });
        for (i, p) in pats.iter().enumerate() {
            b.add_raw_for_test(&format!("p{i}"), p);
        }
        Matcher::new(vec![Arc::new(b.build())])
    }

    fn found(m: &Matcher, hay: &[u8]) -> Vec<(usize, usize, u32)> {
        let mut out = Vec::new();
        m.find_all(hay, &mut out);
        let mut v: Vec<_> = out.iter().map(|r| (r.start, r.end, r.pid)).collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn long_patterns_at_every_alignment() {
        let pats: Vec<Vec<u8>> = (MID_MIN..LONG_MIN + 20)
            .chain([40, 63, 64, 65, 100, 201, 600, 5000])
            .map(|len| {
                (0..len)
                    .map(|i| b'a' + ((i * 7 + len) % 26) as u8)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = pats.iter().map(|p| p.as_slice()).collect();
        let m = matcher(&refs);
        for (pid, p) in pats.iter().enumerate() {
            for shift in 0..20 {
                let mut hay = vec![b'.'; shift];
                hay.extend_from_slice(p);
                hay.extend_from_slice(b"....");
                let f = found(&m, &hay);
                assert!(
                    f.contains(&(shift, shift + p.len(), pid as u32)),
                    "pid {pid} shift {shift}: {f:?}"
                );
            }
        }
    }

    #[test]
    fn shared_prefixes_pick_distinct_windows() {
        // 2,000 keys sharing a 16-byte prefix: every one is still found, and
        // no bucket holds more than a handful of entries.
        let pats: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!("sk_live_prefix__{:016x}", (i as u64).wrapping_mul(K1)).into_bytes())
            .collect();
        let refs: Vec<&[u8]> = pats.iter().map(|p| p.as_slice()).collect();
        let m = matcher(&refs);
        let tier = m.long.as_ref().unwrap();
        let biggest = tier.starts.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(biggest < 16, "biggest bucket {biggest}");
        for (pid, p) in pats.iter().enumerate().step_by(97) {
            for shift in 0..8 {
                let mut hay = vec![b' '; shift];
                hay.extend_from_slice(p);
                assert_eq!(found(&m, &hay), vec![(shift, shift + p.len(), pid as u32)]);
            }
        }
    }

    #[test]
    fn short_and_overlapping() {
        let m = matcher(&[
            b"abcdef",
            b"cdefgh",
            b"0123456789abcdefXYZ",
            b"9abcdefXYZ!!!!!!!",
        ]);
        let f = found(&m, b"__0123456789abcdefXYZ!!!!!!!__");
        assert!(f.contains(&(2, 21, 2)));
        assert!(f.contains(&(11, 28, 3)));
        assert!(f.contains(&(12, 18, 0)));
    }
}
