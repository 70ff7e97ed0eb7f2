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

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// One occurrence of pattern `pid` at `hay[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawMatch {
    pub start: usize,
    pub end: usize,
    pub pid: u32,
}

/// Long tier: 8-byte windows probed every 8 bytes.
const LONG_WINDOW: usize = 8;
const LONG_STRIDE: usize = 8;
/// Mid tier: 4-byte windows probed every 4 bytes (the two halves of each
/// 8-byte word the long tier loads anyway).
const MID_WINDOW: usize = 4;
const MID_STRIDE: usize = 4;
/// Shortest pattern of the long tier: such a pattern always contains a
/// window starting at a multiple of the stride, at an offset below it.
pub(crate) const LONG_MIN: usize = LONG_STRIDE + LONG_WINDOW - 1;
/// Shortest pattern of the mid tier; shorter ones go to aho-corasick.
pub(crate) const MID_MIN: usize = MID_STRIDE + MID_WINDOW - 1;
/// Bloom filter bits per registered window, and bits set per window. The
/// long tier's filter is the big one: two bits in one word keep it small
/// (about 2% false hits). The mid tier is probed twice as often and has few
/// windows: a single bit in a sparser filter is cheaper to test.
const LONG_BLOOM_BITS: usize = 8;
const LONG_TWO_BITS: bool = true;
const MID_BLOOM_BITS: usize = 128;
const MID_TWO_BITS: bool = false;
/// The mid tier's filter grows past this many bits only at 8 bits per window.
const MID_BLOOM_MAX: usize = 1 << 21;

/// Multiplier for the filter hash (64-bit golden ratio, odd).
const K1: u64 = 0x9E37_79B9_7F4A_7C15;
/// Multiplier for the bucket hash (another odd constant).
const K2: u64 = 0xD6E8_FEB8_6659_FD93;

/// Pattern bytes are stored in one arena.
#[derive(Debug, Clone, Copy)]
struct Pat {
    off: u32,
    len: u32,
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

/// Window offsets are stored in 16 bits.
const MAX_OFFSET: usize = u16::MAX as usize;
/// Candidate offsets examined per residue class (first, last, evenly in
/// between), so long patterns don't make the build slow.
const MAX_CANDIDATES: usize = 4;
/// Counters of the window-sharing sketch (u16, saturating): small enough to
/// stay in cache while building.
const SKETCH_BITS: u32 = 16;

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

/// The first `window` (≤ 8) bytes of `w`, little-endian.
#[inline(always)]
fn load_key(w: &[u8], window: usize) -> u64 {
    let mut b = [0u8; 8];
    b[..window].copy_from_slice(&w[..window]);
    u64::from_le_bytes(b)
}

#[inline(always)]
fn load_u64(w: &[u8]) -> u64 {
    u64::from_le_bytes(w[..8].try_into().expect("8 bytes"))
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

impl Tier {
    fn build<const WINDOW: usize, const STRIDE: usize, const TWO_BITS: bool>(
        arena: &[u8],
        pats: &[Pat],
        ids: &[u32],
        bloom_bits: usize,
        bloom_max: usize,
    ) -> Tier {
        let n = ids.len() * STRIDE;
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
        let bytes_of = |pid: u32| {
            let p = pats[pid as usize];
            &arena[p.off as usize..(p.off + p.len) as usize]
        };
        let sketch_slot = |key: u64| (key.wrapping_mul(K2) >> (64 - SKETCH_BITS)) as usize;

        // How often each candidate window occurs (approximately).
        let mut sketch = vec![0u16; 1 << SKETCH_BITS];
        for &pid in ids {
            let bytes = bytes_of(pid);
            for r in 0..STRIDE {
                for o in candidates::<WINDOW, STRIDE>(bytes.len(), r) {
                    let c = &mut sketch[sketch_slot(load_key(&bytes[o..], WINDOW))];
                    *c = c.saturating_add(1);
                }
            }
        }

        // Pick the least shared window of each residue class (the later one
        // on ties: shared parts of secrets tend to be prefixes).
        let mut bloom = vec![0u64; words];
        let mut starts = vec![0u32; buckets + 1];
        let mut chosen = Vec::with_capacity(n);
        for &pid in ids {
            let bytes = bytes_of(pid);
            for r in 0..STRIDE {
                let (mut best, mut best_count, mut best_key) = (0, u16::MAX, 0);
                for o in candidates::<WINDOW, STRIDE>(bytes.len(), r) {
                    let key = load_key(&bytes[o..], WINDOW);
                    let count = sketch[sketch_slot(key)];
                    if count <= best_count {
                        (best, best_count, best_key) = (o, count, key);
                    }
                }
                let h = bloom_hash(best_key);
                bloom[(h >> word_shift) as usize] |= bloom_mask::<TWO_BITS>(h);
                starts[bucket_fp(best_key, bucket_shift).0 + 1] += 1;
                chosen.push((best_key, best as u64));
            }
        }
        for b in 0..buckets {
            starts[b + 1] += starts[b];
        }
        let mut fill = starts.clone();
        let mut entries = vec![0u64; n];
        for (i, &(key, off)) in chosen.iter().enumerate() {
            let pid = u64::from(ids[i / STRIDE]);
            let (b, fp) = bucket_fp(key, bucket_shift);
            let slot = &mut fill[b];
            entries[*slot as usize] = (fp << 48) | (off << 32) | pid;
            *slot += 1;
        }
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
            let pat = m.pattern(pid);
            let end = start + pat.len();
            if end <= hay.len() && &hay[start..end] == pat {
                out.push(RawMatch { start, end, pid });
            }
        }
    }
}

pub(crate) struct Matcher {
    arena: Vec<u8>,
    pats: Vec<Pat>,
    long: Option<Tier>,
    mid: Option<Tier>,
    /// Automaton over the shortest patterns; `short_ids[i]` is the pid of its
    /// pattern `i`.
    short: Option<AhoCorasick>,
    short_ids: Vec<u32>,
    max_len: usize,
}

impl Matcher {
    /// `bounds[i] = (offset, len)` of pattern `i` inside `arena`; patterns
    /// must not be empty.
    pub fn new(arena: Vec<u8>, bounds: Vec<(u32, u32)>) -> Matcher {
        let pats: Vec<Pat> = bounds.iter().map(|&(off, len)| Pat { off, len }).collect();
        let max_len = pats.iter().map(|p| p.len as usize).max().unwrap_or(0);
        let (mut long, mut mid, mut short_ids) = (Vec::new(), Vec::new(), Vec::new());
        for (i, p) in pats.iter().enumerate() {
            let len = p.len as usize;
            if len >= LONG_MIN {
                long.push(i as u32);
            } else if len >= MID_MIN {
                mid.push(i as u32);
            } else {
                short_ids.push(i as u32);
            }
        }
        let long = (!long.is_empty()).then(|| {
            Tier::build::<LONG_WINDOW, LONG_STRIDE, LONG_TWO_BITS>(
                &arena,
                &pats,
                &long,
                LONG_BLOOM_BITS,
                usize::MAX,
            )
        });
        let mid = (!mid.is_empty()).then(|| {
            Tier::build::<MID_WINDOW, MID_STRIDE, MID_TWO_BITS>(
                &arena,
                &pats,
                &mid,
                MID_BLOOM_BITS,
                MID_BLOOM_MAX,
            )
        });
        let short = (!short_ids.is_empty()).then(|| {
            let slices = short_ids.iter().map(|&i| {
                let p = pats[i as usize];
                &arena[p.off as usize..(p.off + p.len) as usize]
            });
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(slices)
                .expect("aho-corasick build")
        });
        Matcher {
            arena,
            pats,
            long,
            mid,
            short,
            short_ids,
            max_len,
        }
    }

    /// Length of the longest pattern.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The bytes of pattern `pid`.
    #[inline]
    pub fn pattern(&self, pid: u32) -> &[u8] {
        let p = self.pats[pid as usize];
        &self.arena[p.off as usize..(p.off + p.len) as usize]
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
                out.push(RawMatch {
                    start: m.start(),
                    end: m.end(),
                    pid: self.short_ids[m.pattern().as_usize()],
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

    fn matcher(pats: &[&[u8]]) -> Matcher {
        let mut arena = Vec::new();
        let mut bounds = Vec::new();
        for p in pats {
            bounds.push((arena.len() as u32, p.len() as u32));
            arena.extend_from_slice(p);
        }
        Matcher::new(arena, bounds)
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
            .chain([40, 63, 64, 65, 100, 201])
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
