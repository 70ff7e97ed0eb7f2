//! Encoded forms of one secret value: every byte string under which the value
//! may show up in text (raw, JSON-escaped in the styles common encoders use,
//! URL-encoded in the common percent/form styles, base64 in both alphabets at
//! all three byte offsets). Each form becomes one pattern of the matcher.

use base64::engine::general_purpose::STANDARD_NO_PAD;
#[cfg(test)]
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The match of a base64 middle part may be widened by one character on the
/// left (the character mixing the value's first bits with the previous byte).
pub(crate) const EXT_LEFT: u8 = 1;
/// ... and by one character on the right (mixing the value's last bits with the
/// next byte, or the final character of a standalone encoding), followed by at
/// most two `=` padding characters.
pub(crate) const EXT_RIGHT: u8 = 2;

/// The distinct forms of one value, stored flat so building them allocates
/// nothing once the buffers have grown (reused across values).
#[derive(Debug, Default)]
pub(crate) struct Forms {
    bytes: Vec<u8>,
    /// `(start, end, ext)` of each form in `bytes`; `ext` holds
    /// `EXT_LEFT | EXT_RIGHT` bits: how a match may be widened (base64 only).
    items: Vec<(usize, usize, u8)>,
    tmp: Vec<u8>,
}

impl Forms {
    /// Every form: bytes and widening bits.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u8)> + '_ {
        self.items
            .iter()
            .map(|&(s, e, ext)| (&self.bytes[s..e], ext))
    }

    /// Adds `form` unless it is empty or already there.
    fn push(&mut self, form: &[u8], ext: u8) {
        if form.is_empty() {
            return;
        }
        for it in self.items.iter_mut() {
            if &self.bytes[it.0..it.1] == form {
                it.2 |= ext;
                return;
            }
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(form);
        self.items.push((start, self.bytes.len(), ext));
    }

    /// Adds the scratch buffer as a form.
    fn push_tmp(&mut self, ext: u8) {
        let tmp = std::mem::take(&mut self.tmp);
        self.push(&tmp, ext);
        self.tmp = tmp;
    }
}

/// Replaces the contents of `out` with every distinct form of `value`.
pub(crate) fn forms(value: &[u8], out: &mut Forms) {
    out.bytes.clear();
    out.items.clear();
    out.push(value, 0);
    json_forms(value, out);
    url_forms(value, out);
    base64_forms(value, out);
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Which characters an encoder escapes beyond what JSON requires.
#[derive(Clone, Copy)]
struct JsonStyle {
    /// `/` written as `\/` (PHP, some Java encoders).
    slash: bool,
    /// HTML-safe set: 0 none, 1 `<>&` and U+2028/U+2029 (Go), 2 `<>&'`
    /// (PHP's JSON_HEX_*), 3 `<>&'=` (Gson).
    html: u8,
    /// Every non-ASCII character as `\uXXXX` (UTF-16 units; Python's default).
    non_ascii: bool,
    /// Hex digits of `\u` escapes in upper case.
    upper: bool,
    /// ... of the HTML-safe escapes (PHP writes `\u003C` but `\u00e9`).
    html_upper: bool,
}

fn needs_json_variants(value: &[u8]) -> bool {
    value.iter().any(|&b| {
        !(0x20..0x80).contains(&b)
            || matches!(b, b'"' | b'\\' | b'/' | b'<' | b'>' | b'&' | b'\'' | b'=')
    })
}

fn json_escape(value: &[u8], st: JsonStyle, out: &mut Vec<u8>) {
    let hex = |upper: bool| if upper { HEX_UPPER } else { HEX_LOWER };
    let (hex, html_hex) = (hex(st.upper), hex(st.html_upper));
    let esc = |out: &mut Vec<u8>, unit: u16, hex: &[u8; 16]| {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(hex[((unit >> shift) & 0xf) as usize]);
        }
    };
    let u = |out: &mut Vec<u8>, unit: u16| esc(out, unit, hex);
    let h = |out: &mut Vec<u8>, unit: u16| esc(out, unit, html_hex);
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                c if (c as u32) < 0x20 => u(out, c as u16),
                '/' if st.slash => out.extend_from_slice(b"\\/"),
                '<' | '>' | '&' if st.html >= 1 => h(out, c as u16),
                '\u{2028}' | '\u{2029}' if st.html == 1 => h(out, c as u16),
                '\'' if st.html >= 2 => h(out, c as u16),
                '=' if st.html >= 3 => h(out, c as u16),
                c if !c.is_ascii() && st.non_ascii => {
                    let mut units = [0u16; 2];
                    for &unit in c.encode_utf16(&mut units).iter() {
                        u(out, unit);
                    }
                }
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        // Bytes that are not UTF-8 cannot be written by a JSON encoder; keep
        // them raw so the rest of the value still lines up.
        out.extend_from_slice(chunk.invalid());
    }
}

/// Which of the optional escapes can change the output for `value`:
/// bit 0 `/`, bit 1 `<>&`, bit 2 `'`, bit 3 `=`, bit 4 U+2028/U+2029,
/// bit 5 other non-ASCII, bit 6 ASCII control characters.
fn json_features(value: &[u8]) -> u8 {
    let mut f = 0;
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            f |= match c {
                '/' => 1,
                '<' | '>' | '&' => 2,
                '\'' => 4,
                '=' => 8,
                '\u{2028}' | '\u{2029}' => 16 | 32,
                c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t' | '\u{8}' | '\u{c}') => {
                    64
                }
                c if !c.is_ascii() => 32,
                _ => 0,
            };
        }
    }
    f
}

fn json_forms(value: &[u8], out: &mut Forms) {
    if !needs_json_variants(value) {
        return;
    }
    let feat = json_features(value);
    // Styles that would produce the same text are generated once: a style is
    // reduced to the escapes that matter for this value.
    let mut seen: Vec<(bool, u8, bool, bool, bool)> = Vec::new();
    for slash in [false, true] {
        for html in 0..4u8 {
            for non_ascii in [false, true] {
                for (upper, html_upper) in [(false, false), (true, true), (false, true)] {
                    let html_set = match html {
                        0 => 0,
                        1 => 2 | 16,
                        2 => 2 | 4,
                        _ => 2 | 4 | 8,
                    } & feat;
                    let na = non_ascii && feat & 32 != 0;
                    let any_u = na || feat & 64 != 0;
                    let sig = (
                        slash && feat & 1 != 0,
                        html_set,
                        na,
                        upper && any_u,
                        html_upper && html_set != 0,
                    );
                    if seen.contains(&sig) {
                        continue;
                    }
                    seen.push(sig);
                    out.tmp.clear();
                    json_escape(
                        value,
                        JsonStyle {
                            slash,
                            html,
                            non_ascii,
                            upper,
                            html_upper,
                        },
                        &mut out.tmp,
                    );
                    out.push_tmp(0);
                }
            }
        }
    }
}

/// Percent-encoding styles: the bytes kept as they are (besides ASCII
/// letters and digits) and whether a space becomes `+`.
const URL_STYLES: &[(&[u8], bool)] = &[
    (b"-._~", false),      // RFC 3986: encode everything not unreserved
    (b"-._*", true),       // application/x-www-form-urlencoded (WHATWG, Java)
    (b"-._~", true),       // Python quote_plus
    (b"-._~/", false),     // Python quote (safe='/')
    (b"-_.!~*'()", false), // JavaScript encodeURIComponent
];

fn url_forms(value: &[u8], out: &mut Forms) {
    if value
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return;
    }
    // Styles differ only on the bytes some keep and others encode, and on
    // the space: skip a style that matches an earlier one for this value.
    let mut seen: Vec<(u16, bool)> = Vec::new();
    let optional = b"~*/!'() ";
    for &(keep, plus) in URL_STYLES {
        let mut sig = 0u16;
        for (i, c) in optional.iter().enumerate() {
            if value.contains(c) && keep.contains(c) {
                sig |= 1 << i;
            }
        }
        let sig = (sig, plus && value.contains(&b' '));
        if seen.contains(&sig) {
            continue;
        }
        seen.push(sig);
        for hex in [HEX_UPPER, HEX_LOWER] {
            out.tmp.clear();
            for &b in value {
                if b.is_ascii_alphanumeric() || keep.contains(&b) {
                    out.tmp.push(b);
                } else if b == b' ' && plus {
                    out.tmp.push(b'+');
                } else {
                    out.tmp.extend_from_slice(&[
                        b'%',
                        hex[(b >> 4) as usize],
                        hex[(b & 15) as usize],
                    ]);
                }
            }
            out.push_tmp(0);
        }
    }
}

/// Bounds `(first, last, ext)` of the stable part of the base64 encoding of a
/// value of `len` bytes starting at byte offset `offset` (0, 1 or 2) of a
/// 3-byte group, inside the encoding of `offset` filler bytes + the value: the
/// characters whose 6 bits all come from the value, and which partial
/// characters surround them.
fn base64_bounds(len: usize, offset: usize) -> (usize, usize, u8) {
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

/// The stable middle of the base64 encoding of `value` at byte `offset`
/// (see [`base64_bounds`]) and its widening bits.
#[cfg(test)]
pub(crate) fn base64_middle(value: &[u8], offset: usize, url: bool) -> (Vec<u8>, u8) {
    let mut buf = vec![0u8; offset];
    buf.extend_from_slice(value);
    let enc = if url {
        URL_SAFE_NO_PAD.encode(&buf)
    } else {
        STANDARD_NO_PAD.encode(&buf)
    };
    let (first, last, ext) = base64_bounds(value.len(), offset);
    (enc.as_bytes()[first..last].to_vec(), ext)
}

fn base64_forms(value: &[u8], out: &mut Forms) {
    let mut input = Vec::with_capacity(value.len() + 2);
    for offset in 0..3 {
        input.clear();
        input.resize(offset, 0);
        input.extend_from_slice(value);
        out.tmp.clear();
        out.tmp.resize(input.len().div_ceil(3) * 4, 0);
        let n = STANDARD_NO_PAD
            .encode_slice(&input, &mut out.tmp)
            .expect("buffer sized for the encoding");
        out.tmp.truncate(n);
        let (first, last, ext) = base64_bounds(value.len(), offset);
        out.tmp.truncate(last);
        out.tmp.drain(..first);
        out.push_tmp(ext);
        // The URL-safe alphabet differs only in these two characters.
        if out.tmp.iter().any(|&b| b == b'+' || b == b'/') {
            for b in out.tmp.iter_mut() {
                *b = match *b {
                    b'+' => b'-',
                    b'/' => b'_',
                    b => b,
                };
            }
            out.push_tmp(ext);
        }
    }
}

/// Whether `b` is a base64 character of either alphabet.
#[inline]
pub(crate) fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(value: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Forms::default();
        forms(value, &mut out);
        out.iter().map(|(f, _)| f.to_vec()).collect()
    }

    #[test]
    fn plain_value_has_raw_and_base64_only() {
        let f = all(b"abcdefABCDEF123456");
        assert_eq!(f[0], b"abcdefABCDEF123456");
        // raw + 3 base64 offsets (both alphabets agree here or not: at most 6)
        assert!(f.len() <= 7);
    }

    #[test]
    fn json_variants() {
        let f = all("a/b<c>&d'e=é\"\\\n\u{1}".as_bytes());
        let has = |s: &str| f.iter().any(|x| x == s.as_bytes());
        assert!(has("a/b<c>&d'e=é\\\"\\\\\\n\\u0001"));
        assert!(has("a\\/b<c>&d'e=é\\\"\\\\\\n\\u0001"));
        assert!(has("a/b\\u003cc\\u003e\\u0026d'e=é\\\"\\\\\\n\\u0001"));
        assert!(has(
            "a/b\\u003Cc\\u003E\\u0026d\\u0027e\\u003D\\u00E9\\\"\\\\\\n\\u0001"
        ));
        assert!(has("a\\/b<c>&d'e=\\u00e9\\\"\\\\\\n\\u0001"));
    }

    #[test]
    fn json_surrogate_pairs() {
        let f = all("xx😀yy".as_bytes());
        assert!(f.iter().any(|x| x == b"xx\\ud83d\\ude00yy"));
        assert!(f.iter().any(|x| x == b"xx\\uD83D\\uDE00yy"));
    }

    #[test]
    fn url_variants() {
        let f = all(b"a b/c~d*e");
        let has = |s: &str| f.iter().any(|x| x == s.as_bytes());
        assert!(has("a%20b%2Fc~d%2Ae"));
        assert!(has("a%20b%2fc~d%2ae"));
        assert!(has("a+b%2Fc%7Ed*e"));
        assert!(has("a+b%2fc%7ed*e"));
        assert!(has("a+b%2Fc~d%2Ae"));
        assert!(has("a%20b/c~d%2Ae"));
        assert!(has("a%20b%2Fc~d*e"));
    }

    #[test]
    fn base64_middles() {
        // "user:pass" style: value at offset 5 ≡ 2.
        let value = b"s3cr3t-passw0rd!";
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
                let (mid, _) = base64_middle(value, prefix.len() % 3, url);
                assert!(
                    enc.as_bytes().windows(mid.len()).any(|w| w == mid),
                    "{prefix:?} {url}"
                );
            }
        }
    }
}
