//! Encoded forms of one secret value: every byte string under which the value
//! may show up in text, as registered patterns. Each form is a [`Kind`] applied
//! to the value by an [`Encoder`], which can produce the form in pieces: a long
//! value's forms are generated once to pick the matcher's windows and then
//! regenerated piece by piece to verify a candidate, never kept whole.
//!
//! Registered forms: raw; JSON-escaped in the styles common encoders use
//! (`\/`, the HTML-safe `\u` escapes of `<>&'=`, every non-ASCII character as
//! `\u` units); spaces as `+` (form encoding, once the text's `%XX` escapes
//! are decoded); hex; and base64 in both alphabets, for the value starting at
//! each of the three byte offsets of a 3-byte group. Percent-encoding, HTML
//! entities, `\/` and base64 wrapped over lines are not registered as forms:
//! the text is decoded for them instead (`views.rs`), so every encode set, hex
//! case and entity style is covered without enumerating them.

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use zeroize::Zeroize;

/// The match of a base64 middle part may be widened by one character on the
/// left (the character mixing the value's first bits with the previous byte).
pub(crate) const EXT_LEFT: u8 = 1;
/// ... and by one character on the right (mixing the value's last bits with the
/// next byte, or the final character of a standalone encoding), followed by at
/// most two `=` padding characters.
pub(crate) const EXT_RIGHT: u8 = 2;
/// The form counts only where it stands as a whole token: the bytes around it
/// are not ASCII letters or digits, nor part of a non-ASCII character.
pub(crate) const EXT_TOKEN: u8 = 4;

/// The form counts only in the percent-decoded view, over at least one
/// decoded `%XX` (a value's own escapes decoded may be shorter than the
/// minimum length: matched anywhere, it would mask ordinary text).
pub(crate) const EXT_PCT_ONLY: u8 = 8;

/// How a form is compared with text: byte for byte.
pub(crate) const MODE_EXACT: u8 = 0;
/// ... byte for byte, except the hex digits of `\uXXXX` escapes, in either case.
pub(crate) const MODE_ESC: u8 = 1;
/// ... ASCII letters in either case (hex).
pub(crate) const MODE_ANYCASE: u8 = 2;

/// JSON style bits: `/` written as `\/` (PHP, some Java encoders).
const JSON_SLASH: u8 = 1;
/// HTML-safe level in bits 1..3: 0 none, 1 `<>&` and U+2028/U+2029 (Go),
/// 2 `<>&'` (PHP's JSON_HEX_*), 3 `<>&'=` (Gson).
const JSON_HTML_SHIFT: u8 = 1;
/// Every non-ASCII character as `\uXXXX` UTF-16 units (Python's default).
const JSON_NON_ASCII: u8 = 8;

/// The most bytes a form of a value of `len` bytes takes: a JSON `\u00XX` escape
/// is six bytes for one; no other form expands more (hex: 2, base64: 4/3).
pub(crate) fn max_form_len(len: usize) -> usize {
    6 * len + 8
}

/// What a form is, given its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Raw,
    /// JSON string contents, with style bits (see `JSON_*`).
    Json(u8),
    /// Spaces as `+`, everything else as is.
    Plus,
    /// Lower-case hex (compared in either case).
    Hex,
    /// The value with its own `%XX` sequences decoded: what the text's
    /// percent-decoded view shows when an encoder that keeps `%` as is (the
    /// WHATWG path, query, fragment and userinfo sets) wrote the value.
    PctDecoded,
    /// The stable middle of the base64 encoding of the value at byte `offset`
    /// (0, 1 or 2) of a 3-byte group, in the standard or URL-safe alphabet.
    B64 {
        offset: u8,
        url: bool,
    },
}

impl Kind {
    pub fn mode(self) -> u8 {
        match self {
            Kind::Json(_) => MODE_ESC,
            Kind::Hex => MODE_ANYCASE,
            _ => MODE_EXACT,
        }
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Bounds `(first, last, ext)` of the stable part of the base64 encoding of a
/// value of `len` bytes starting at byte offset `offset` (0, 1 or 2) of a
/// 3-byte group, inside the encoding of `offset` filler bytes + the value: the
/// characters whose 6 bits all come from the value, and which partial
/// characters surround them.
pub(crate) fn base64_bounds(len: usize, offset: usize) -> (usize, usize, u8) {
    let begin_bits = 8 * offset;
    let end_bits = 8 * (offset + len);
    let first = begin_bits.div_ceil(6);
    let last = end_bits / 6; // exclusive
    let mut ext = 0;
    if !begin_bits.is_multiple_of(6) {
        ext |= EXT_LEFT;
    }
    if !end_bits.is_multiple_of(6) {
        ext |= EXT_RIGHT;
    }
    (first, last.max(first), ext)
}

/// The next character of `v` at `i`: `(Some(c), width)` for valid UTF-8, or
/// `(None, 1)` for a byte that is not (encoders pass such bytes through raw,
/// so handling them one at a time gives the same output as any grouping).
#[inline]
fn next_char(v: &[u8], i: usize) -> (Option<char>, usize) {
    let b = v[i];
    if b < 0x80 {
        return (Some(b as char), 1);
    }
    let w = match b {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (None, 1),
    };
    if i + w > v.len() {
        return (None, 1);
    }
    match std::str::from_utf8(&v[i..i + w]) {
        Ok(s) => (s.chars().next(), w),
        Err(_) => (None, 1),
    }
}

#[inline]
fn push_u_escape(out: &mut Vec<u8>, unit: u16) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX_UPPER[((unit >> shift) & 0xf) as usize]);
    }
}

/// The ASCII bytes `style` escapes, as a bit set.
#[inline]
fn json_escaped_ascii(style: u8) -> u128 {
    let html = (style >> JSON_HTML_SHIFT) & 3;
    let mut m: u128 = (1 << 0x20) - 1; // control characters
    m |= 1 << b'"' | 1 << b'\\';
    if style & JSON_SLASH != 0 {
        m |= 1 << b'/';
    }
    if html >= 1 {
        m |= 1 << b'<' | 1 << b'>' | 1 << b'&';
    }
    if html >= 2 {
        m |= 1 << b'\'';
    }
    if html >= 3 {
        m |= 1 << b'=';
    }
    m
}

/// Appends `c` JSON-escaped in `style`.
#[inline]
fn json_char(c: char, style: u8, out: &mut Vec<u8>) {
    let html = (style >> JSON_HTML_SHIFT) & 3;
    match c {
        '"' => out.extend_from_slice(b"\\\""),
        '\\' => out.extend_from_slice(b"\\\\"),
        '\n' => out.extend_from_slice(b"\\n"),
        '\r' => out.extend_from_slice(b"\\r"),
        '\t' => out.extend_from_slice(b"\\t"),
        '\u{8}' => out.extend_from_slice(b"\\b"),
        '\u{c}' => out.extend_from_slice(b"\\f"),
        c if (c as u32) < 0x20 => push_u_escape(out, c as u16),
        '/' if style & JSON_SLASH != 0 => out.extend_from_slice(b"\\/"),
        '<' | '>' | '&' if html >= 1 => push_u_escape(out, c as u16),
        '\u{2028}' | '\u{2029}' if html == 1 => push_u_escape(out, c as u16),
        '\'' if html >= 2 => push_u_escape(out, c as u16),
        '=' if html >= 3 => push_u_escape(out, c as u16),
        c if !c.is_ascii() && style & JSON_NON_ASCII != 0 => {
            let mut units = [0u16; 2];
            for &unit in c.encode_utf16(&mut units).iter() {
                push_u_escape(out, unit);
            }
        }
        c => {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
    }
}

/// Produces one form of one value, piece by piece.
pub(crate) struct Encoder<'v> {
    value: &'v [u8],
    kind: Kind,
    /// Next input byte (or, for base64, next output character).
    pos: usize,
    /// Base64: one past the last output character.
    last: usize,
}

impl<'v> Encoder<'v> {
    pub fn new(value: &'v [u8], kind: Kind) -> Encoder<'v> {
        let (pos, last) = match kind {
            Kind::B64 { offset, .. } => {
                let (first, last, _) = base64_bounds(value.len(), offset as usize);
                (first, last)
            }
            _ => (0, 0),
        };
        Encoder {
            value,
            kind,
            pos,
            last,
        }
    }

    /// Appends the next piece of the form to `out`, until `out` holds at least
    /// `want` bytes or the form ends. False when nothing was left to append.
    pub fn fill(&mut self, out: &mut Vec<u8>, want: usize) -> bool {
        let v = self.value;
        let start_len = out.len();
        match self.kind {
            Kind::Raw => {
                let n = want
                    .saturating_sub(out.len())
                    .max(1)
                    .min(v.len() - self.pos);
                out.extend_from_slice(&v[self.pos..self.pos + n]);
                self.pos += n;
            }
            Kind::Plus => {
                while self.pos < v.len() && out.len() < want {
                    // Runs without a space are copied whole.
                    let room = (want - out.len()).max(1);
                    let end = v.len().min(self.pos.saturating_add(room));
                    let stop =
                        memchr::memchr(b' ', &v[self.pos..end]).map_or(end, |i| self.pos + i);
                    out.extend_from_slice(&v[self.pos..stop]);
                    self.pos = stop;
                    if self.pos < end {
                        out.push(b'+');
                        self.pos += 1;
                    }
                }
            }
            Kind::Hex => {
                let n = v.len().min(
                    self.pos
                        .saturating_add((want.saturating_sub(out.len()) / 2).max(1)),
                );
                out.reserve(2 * (n - self.pos));
                for &b in &v[self.pos..n] {
                    out.extend_from_slice(&[
                        HEX_LOWER[(b >> 4) as usize],
                        HEX_LOWER[(b & 15) as usize],
                    ]);
                }
                self.pos = n;
            }
            Kind::PctDecoded => {
                while self.pos < v.len() && out.len() < want {
                    match pct_at(v, self.pos) {
                        Some(b) => {
                            out.push(b);
                            self.pos += 3;
                        }
                        None => {
                            let room = (want - out.len()).max(1);
                            let end = v.len().min(self.pos.saturating_add(room));
                            let stop =
                                memchr::memchr(b'%', &v[self.pos + 1..end.max(self.pos + 1)])
                                    .map_or(end, |i| self.pos + 1 + i);
                            out.extend_from_slice(&v[self.pos..stop.max(self.pos + 1)]);
                            self.pos = stop.max(self.pos + 1);
                        }
                    }
                }
            }
            Kind::Json(style) => {
                let escaped = json_escaped_ascii(style);
                // Non-ASCII text is copied as is unless the style escapes it.
                let plain_high = style & JSON_NON_ASCII == 0 && (style >> JSON_HTML_SHIFT) & 3 != 1;
                while self.pos < v.len() && out.len() < want {
                    let start = self.pos;
                    let end = v
                        .len()
                        .min(self.pos.saturating_add((want - out.len()).max(1)));
                    while self.pos < end {
                        let b = v[self.pos];
                        let plain = if b < 0x80 {
                            escaped >> b & 1 == 0
                        } else {
                            plain_high
                        };
                        if !plain {
                            break;
                        }
                        self.pos += 1;
                    }
                    out.extend_from_slice(&v[start..self.pos]);
                    if self.pos >= end {
                        continue;
                    }
                    let (c, w) = next_char(v, self.pos);
                    match c {
                        Some(c) => json_char(c, style, out),
                        None => out.push(v[self.pos]),
                    }
                    self.pos += w;
                }
            }
            Kind::B64 { offset, url } => {
                let alphabet = if url { B64_URL } else { B64_STD };
                let off = offset as usize;
                let byte = |i: usize| -> u32 {
                    if i < off || i - off >= v.len() {
                        0
                    } else {
                        u32::from(v[i - off])
                    }
                };
                while self.pos < self.last && out.len() < want {
                    let g = self.pos / 4;
                    let n = (byte(3 * g) << 16) | (byte(3 * g + 1) << 8) | byte(3 * g + 2);
                    for k in self.pos % 4..4 {
                        if self.pos >= self.last {
                            break;
                        }
                        out.push(alphabet[((n >> (18 - 6 * k)) & 63) as usize]);
                        self.pos += 1;
                    }
                }
            }
        }
        out.len() > start_len
    }

    /// The whole (rest of the) form.
    pub fn all(mut self, out: &mut Vec<u8>) {
        if let Kind::B64 { offset, url } = self.kind {
            // The same characters as `fill` gives, from the base64 crate's
            // (faster) encoder over `offset` zero bytes and the value.
            let off = offset as usize;
            let mut input = Vec::with_capacity(off + self.value.len());
            input.resize(off, 0);
            input.extend_from_slice(self.value);
            let at = out.len();
            out.resize(at + input.len().div_ceil(3) * 4, 0);
            let engine = if url {
                &URL_SAFE_NO_PAD
            } else {
                &STANDARD_NO_PAD
            };
            let n = engine
                .encode_slice(&input, &mut out[at..])
                .expect("buffer sized for the encoding");
            input.zeroize();
            out.truncate(at + n.min(self.last));
            out.drain(at..at + self.pos.min(n));
            return;
        }
        while self.fill(out, usize::MAX) {}
    }
}

/// The byte a `%XX` at `v[i]` stands for.
#[inline]
fn pct_at(v: &[u8], i: usize) -> Option<u8> {
    if v[i] != b'%' || i + 3 > v.len() {
        return None;
    }
    let h = (v[i + 1] as char).to_digit(16)?;
    let l = (v[i + 2] as char).to_digit(16)?;
    Some((h << 4 | l) as u8)
}

/// Which of the optional JSON escapes can change the output for `value`:
/// bit 0 `/`, bit 1 `<>&`, bit 2 `'`, bit 3 `=`, bit 4 U+2028/U+2029,
/// bit 5 other non-ASCII; and whether the value needs escaping at all
/// (`"`, `\`, control characters).
fn json_features(value: &[u8]) -> (u8, bool) {
    let mut f = 0;
    let mut mandatory = false;
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if b < 0x80 {
            // ASCII without a decoder.
            i += 1;
            f |= match b {
                b'/' => 1,
                b'<' | b'>' | b'&' => 2,
                b'\'' => 4,
                b'=' => 8,
                b'"' | b'\\' | 0..=0x1f => {
                    mandatory = true;
                    0
                }
                _ => 0,
            };
            continue;
        }
        let (c, w) = next_char(value, i);
        i += w;
        let Some(c) = c else { continue };
        f |= match c {
            '/' => 1,
            '<' | '>' | '&' => 2,
            '\'' => 4,
            '=' => 8,
            '\u{2028}' | '\u{2029}' => 16 | 32,
            '"' | '\\' => {
                mandatory = true;
                0
            }
            c if (c as u32) < 0x20 => {
                mandatory = true;
                0
            }
            c if !c.is_ascii() => 32,
            _ => 0,
        };
    }
    (f, mandatory)
}

/// The JSON styles that give distinct texts for `value` (other than the raw
/// value itself): a style is reduced to the escapes that matter for it.
fn json_styles(value: &[u8], out: &mut Vec<Kind>) {
    let (feat, mandatory) = json_features(value);
    if feat == 0 && !mandatory {
        return;
    }
    let mut seen: Vec<(bool, u8, bool)> = Vec::new();
    for slash in [false, true] {
        for html in 0..4u8 {
            for non_ascii in [false, true] {
                let html_set = match html {
                    0 => 0,
                    1 => 2 | 16,
                    2 => 2 | 4,
                    _ => 2 | 4 | 8,
                } & feat;
                let sig = (
                    slash && feat & 1 != 0,
                    html_set,
                    non_ascii && feat & 32 != 0,
                );
                if seen.contains(&sig) || (sig == (false, 0, false) && !mandatory) {
                    continue;
                }
                seen.push(sig);
                let mut style = html << JSON_HTML_SHIFT;
                if slash {
                    style |= JSON_SLASH;
                }
                if non_ascii {
                    style |= JSON_NON_ASCII;
                }
                out.push(Kind::Json(style));
            }
        }
    }
}

/// Every form kind registered for `value`. A token (a value below the
/// minimum length, masked only as a whole token) gets its textual forms only.
pub(crate) fn kinds(value: &[u8], token: bool, out: &mut Vec<Kind>) {
    out.clear();
    out.push(Kind::Raw);
    json_styles(value, out);
    if value.contains(&b' ') {
        out.push(Kind::Plus);
    }
    if memchr::memchr_iter(b'%', value).any(|i| pct_at(value, i).is_some()) {
        out.push(Kind::PctDecoded);
    }
    if token {
        return;
    }
    out.push(Kind::Hex);
    for offset in 0..3u8 {
        out.push(Kind::B64 { offset, url: false });
        out.push(Kind::B64 { offset, url: true });
    }
}

/// Whether `b` is a base64 character of either alphabet.
#[inline]
pub(crate) fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// Compares a form (`pat`) with text of the same length under `mode`. `esc`
/// carries the state of `MODE_ESC` across pieces of one form (start at 0).
#[inline]
pub(crate) fn eq_mode(pat: &[u8], text: &[u8], mode: u8, esc: &mut u8) -> bool {
    match mode {
        MODE_EXACT => pat == text,
        MODE_ANYCASE => pat.eq_ignore_ascii_case(text),
        _ => {
            // esc: 0 plain, 1 after a backslash, 2..=5 hex digits left + 1.
            for (&p, &t) in pat.iter().zip(text) {
                if *esc >= 2 {
                    if !p.eq_ignore_ascii_case(&t) {
                        return false;
                    }
                    *esc = if *esc == 2 { 0 } else { *esc - 1 };
                    continue;
                }
                if p != t {
                    return false;
                }
                *esc = match (*esc, p) {
                    (0, b'\\') => 1,
                    (1, b'u') => 5,
                    _ => 0,
                };
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(value: &[u8], kind: Kind) -> Vec<u8> {
        let mut out = Vec::new();
        Encoder::new(value, kind).all(&mut out);
        out
    }

    fn all(value: &[u8]) -> Vec<Vec<u8>> {
        let mut ks = Vec::new();
        kinds(value, false, &mut ks);
        ks.into_iter().map(|k| form(value, k)).collect()
    }

    #[test]
    fn no_form_is_longer_than_max_form_len() {
        // The builder sizes its scratch buffer by this bound, so a form never
        // makes it grow (and leave a copy behind): control bytes, HTML-unsafe
        // and non-ASCII characters, the worst cases of every style.
        let mut worst: Vec<u8> = (0u8..0x20).collect();
        worst.extend_from_slice("<>&'=/\\\"é\u{2028}😀 +%41".as_bytes());
        let values: [&[u8]; 4] = [&worst, b"\x01", "😀".as_bytes(), b"a b"];
        for value in values {
            for token in [false, true] {
                let mut ks = Vec::new();
                kinds(value, token, &mut ks);
                for k in ks {
                    let f = form(value, k);
                    assert!(
                        f.len() <= max_form_len(value.len()),
                        "{k:?}: {} > bound",
                        f.len()
                    );
                }
            }
        }
    }

    #[test]
    fn plain_value_has_raw_hex_and_base64_only() {
        let f = all(b"abcdefABCDEF123456");
        assert_eq!(f[0], b"abcdefABCDEF123456");
        assert_eq!(f[1], b"616263646566414243444546313233343536");
        assert_eq!(f.len(), 8);
    }

    #[test]
    fn json_variants() {
        let f = all("a/b<c>&d'e=é\"\\\n\u{1}".as_bytes());
        let has = |s: &str| f.iter().any(|x| x == s.as_bytes());
        assert!(has("a/b<c>&d'e=é\\\"\\\\\\n\\u0001"));
        assert!(has("a\\/b<c>&d'e=é\\\"\\\\\\n\\u0001"));
        assert!(has("a/b\\u003Cc\\u003E\\u0026d'e=é\\\"\\\\\\n\\u0001"));
        assert!(has(
            "a/b\\u003Cc\\u003E\\u0026d\\u0027e\\u003D\\u00E9\\\"\\\\\\n\\u0001"
        ));
        assert!(has("a\\/b<c>&d'e=\\u00E9\\\"\\\\\\n\\u0001"));
        // Nothing to escape: no JSON form besides the raw one.
        assert_eq!(all(b"plain-value").len(), 8);
    }

    #[test]
    fn own_escapes_decoded() {
        assert_eq!(form(b"a%41b%zz%4", Kind::PctDecoded), b"aAb%zz%4");
        let f = all(b"100%2F-off");
        assert!(f.iter().any(|x| x == b"100/-off"));
    }

    #[test]
    fn json_surrogate_pairs() {
        let f = all("xx😀yy".as_bytes());
        assert!(f.iter().any(|x| x == b"xx\\uD83D\\uDE00yy"));
    }

    #[test]
    fn escapes_compare_in_either_case() {
        let pat = b"a\\u00E9\\\\u00AB";
        let mut esc = 0;
        assert!(eq_mode(pat, b"a\\u00e9\\\\u00AB", MODE_ESC, &mut esc));
        // After an escaped backslash, `u00AB` is literal text: exact.
        let mut esc = 0;
        assert!(!eq_mode(pat, b"a\\u00e9\\\\u00ab", MODE_ESC, &mut esc));
        // State carries across pieces.
        let mut esc = 0;
        assert!(eq_mode(b"a\\u0", b"a\\u0", MODE_ESC, &mut esc));
        assert!(eq_mode(b"0E9", b"0e9", MODE_ESC, &mut esc));
        assert!(eq_mode(b"DEAD", b"dEaD", MODE_ANYCASE, &mut 0));
        assert!(!eq_mode(b"DEAD", b"dEaD", MODE_EXACT, &mut 0));
    }

    #[test]
    fn base64_middles_match_the_real_encoding() {
        let value = b"s3cr3t-passw0rd!\xff\xfe";
        for prefix in ["", "a", "ab", "abc", "user:", "u:"] {
            let mut blob = prefix.as_bytes().to_vec();
            blob.extend_from_slice(value);
            blob.extend_from_slice(b"tail");
            for url in [false, true] {
                let enc = if url {
                    URL_SAFE_NO_PAD.encode(&blob)
                } else {
                    STANDARD_NO_PAD.encode(&blob)
                };
                let offset = (prefix.len() % 3) as u8;
                let mid = form(value, Kind::B64 { offset, url });
                assert!(!mid.is_empty());
                assert!(
                    enc.as_bytes().windows(mid.len()).any(|w| w == mid),
                    "{prefix:?} {url}"
                );
            }
        }
    }

    #[test]
    fn pieces_add_up_to_the_whole_form() {
        let value = &["a/b<é>😀 \"x\"\u{1}\u{2028}".as_bytes(), b"\xff"].concat()[..];
        let mut ks = Vec::new();
        kinds(value, false, &mut ks);
        for k in ks {
            let whole = form(value, k);
            for want in [1, 2, 3, 7] {
                let mut e = Encoder::new(value, k);
                let mut got = Vec::new();
                let mut piece = Vec::new();
                loop {
                    piece.clear();
                    if !e.fill(&mut piece, want) {
                        break;
                    }
                    got.extend_from_slice(&piece);
                }
                assert_eq!(got, whole, "{k:?} {want}");
            }
        }
    }
}
