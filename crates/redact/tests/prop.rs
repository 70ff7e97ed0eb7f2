//! Property test: random values inserted at random positions of random text,
//! each under a random encoding, fed to the streaming redactor in random
//! chunks, never survive in any form, and the text around them is unchanged.
//!
//! Encodings: raw; JSON (serde's, and an ASCII-only encoder with upper-case
//! hex and escaped slashes); percent-encoding with a random set of characters
//! kept and a random hex case for every digit; form encoding (`+` for a
//! space); HTML entities, each character named, decimal or hex at random;
//! hex in a random case; base64 blobs (standard and URL-safe, padded or not,
//! the value at every byte offset); HTTP Basic credentials; and the nestings
//! real systems use: base64 with `\/` escapes (JSON), URL-encoded base64, and
//! base64 wrapped at 64 or 76 columns (LF, CRLF, JSON-escaped `\n`).
//!
//! Filler text is drawn from characters that no value, no encoding and no
//! base64 padding uses, so every byte of filler must come out as it went in,
//! and every inserted piece must come out as `[REDACTED:<name>]` (for base64
//! blobs: with at most the characters of the neighbouring non-secret bytes
//! left around it).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use lockbox_redact::{Options, Redactor};
use proptest::prelude::*;

const VALUE_CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'B', 'Q', 'Z', '0', '1', '7', '9', '/', '+', '&', '<', '>',
    '\'', '"', '\\', '=', '~', '*', '!', '@', '#', '%', '(', '-', '_', ' ', 'é', 'ß', '€', '😀',
    'Ж', '\u{2028}', '|', ':', '`', '{', '?', '$',
];
const FILLER_CHARS: &[char] = &['.', ',', ';', ':', '|', '\n', '\t', '¶', '§', '«', '»'];
/// Encodings (see [`encode`]).
const ENCODINGS: u8 = 17;

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VALUE_CHARS), 6..30)
        .prop_map(|cs| cs.into_iter().collect())
}

/// Filler; never exactly a line break (a base64 piece of exactly 64 or 76
/// characters, a lone line break and another base64 piece would be a wrapped
/// blob, which the redactor rightly reads as one).
fn filler(min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FILLER_CHARS), min..40).prop_map(|cs| {
        let s: String = cs.into_iter().collect();
        if s == "\n" {
            ".\n".to_owned()
        } else {
            s
        }
    })
}

/// splitmix64, for the per-character choices of one piece.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// JSON escaping the way an ASCII-only encoder with upper-case hex and
/// escaped slashes writes it (independent of the crate's implementation).
fn json_ascii_upper(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
        }
    }
    out
}

/// `%XX` with each hex digit in a random case.
fn pct_byte(b: u8, rng: &mut Rng, out: &mut String) {
    out.push('%');
    for d in [b >> 4, b & 15] {
        let c = char::from_digit(u32::from(d), 16).unwrap();
        out.push(if rng.below(2) == 0 {
            c
        } else {
            c.to_ascii_uppercase()
        });
    }
}

/// Percent-encoding: letters, digits and `-._~` as is; a random subset of
/// the other ASCII punctuation kept as is (the sets of RFC 3986, WHATWG,
/// JavaScript and Python differ only there); a space as `+` (form encoding)
/// or `%20`; everything else `%XX` in random case.
fn percent(v: &str, form: bool, rng: &mut Rng) -> String {
    let kept: Vec<u8> = b"!$&'()*+,;=:@/?[]|^`{}%\"<>#\\"
        .iter()
        .copied()
        .filter(|_| !form && rng.below(2) == 0)
        .collect();
    let mut out = String::new();
    for &b in v.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || kept.contains(&b) {
            out.push(b as char);
        } else if b == b' ' && form {
            out.push('+');
        } else {
            pct_byte(b, rng, &mut out);
        }
    }
    out
}

/// HTML escaping: `<>&"'` each as a named, decimal or hex entity at random;
/// a non-ASCII character as is or as a decimal or hex entity.
fn html(v: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    for c in v.chars() {
        let named = match c {
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            '&' => Some("&amp;"),
            '"' => Some("&quot;"),
            '\'' => Some("&apos;"),
            _ => None,
        };
        let choice = rng.below(3);
        match (named, c.is_ascii()) {
            (Some(n), _) if choice == 0 => out.push_str(n),
            (None, true) => out.push(c),
            (None, false) if choice == 0 => out.push(c),
            _ if choice == 1 => out.push_str(&format!("&#{};", c as u32)),
            _ if rng.below(2) == 0 => out.push_str(&format!("&#x{:x};", c as u32)),
            _ => out.push_str(&format!("&#X{:X};", c as u32)),
        }
    }
    out
}

fn hex(v: &str, upper: bool) -> String {
    v.bytes()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

/// Wraps `s` every `cols` characters with `br`.
fn wrap(s: &str, cols: usize, br: &str) -> String {
    let lines: Vec<&str> = s
        .as_bytes()
        .chunks(cols)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    lines.join(br)
}

/// How a piece may be left around its mask: nothing, or characters that
/// carry bits of the neighbouring non-secret bytes of a base64 blob (on the
/// left, the right, or both).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Left {
    Nothing,
    Base64 { left: bool, right: bool },
}

/// The piece as inserted and what of it may be left. Encodings 0..=8 are
/// textual, 9..=11 base64 blobs of `prefix + v + suffix`, 12 HTTP Basic
/// credentials (`user:` + v), 13..=16 nested base64 (see the module doc).
fn encode(v: &str, enc: u8, prefix: &[u8], suffix: &[u8], seed: u64) -> (String, Left) {
    let mut rng = Rng(seed);
    let blob = |v: &str| {
        let mut b = prefix.to_vec();
        b.extend_from_slice(v.as_bytes());
        b.extend_from_slice(suffix);
        b
    };
    let around = Left::Base64 {
        left: !prefix.is_empty(),
        right: !suffix.is_empty(),
    };
    match enc {
        0 => (v.to_string(), Left::Nothing),
        1 => {
            let s = serde_json::to_string(v).unwrap();
            (s[1..s.len() - 1].to_string(), Left::Nothing)
        }
        2 => (json_ascii_upper(v), Left::Nothing),
        3 => (percent(v, false, &mut rng), Left::Nothing),
        4 => (percent(v, true, &mut rng), Left::Nothing),
        5 => (html(v, &mut rng), Left::Nothing),
        6 => (hex(v, false), Left::Nothing),
        7 => (hex(v, true), Left::Nothing),
        8 => {
            // Hex of mixed case.
            let h: String = hex(v, false)
                .chars()
                .map(|c| {
                    if rng.below(2) == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            (h, Left::Nothing)
        }
        9 => (STANDARD.encode(blob(v)), around),
        10 => (URL_SAFE_NO_PAD.encode(blob(v)), around),
        11 => (URL_SAFE.encode(blob(v)), around),
        12 => (
            STANDARD_NO_PAD.encode(format!("user:{v}")),
            Left::Base64 {
                left: true,
                right: false,
            },
        ),
        // JSON-escaped base64: every `/` as `\/`.
        13 => (STANDARD.encode(blob(v)).replace('/', "\\/"), around),
        // URL-encoded base64 (`+`, `/`, `=` as `%XX`, random case).
        14 => {
            let mut out = String::new();
            for b in STANDARD.encode(blob(v)).bytes() {
                if b.is_ascii_alphanumeric() {
                    out.push(b as char);
                } else {
                    pct_byte(b, &mut rng, &mut out);
                }
            }
            (out, around)
        }
        // Wrapped base64: a long prefix puts the line break anywhere in the
        // value's encoding; the value ends the blob.
        _ => {
            let long: Vec<u8> = (0..rng.below(120)).map(|i| b'A' + (i % 26) as u8).collect();
            let mut b = long.clone();
            b.extend_from_slice(v.as_bytes());
            let (cols, br) = match (enc, rng.below(2)) {
                (15, 0) => (64, "\n"),
                (15, _) => (76, "\r\n"),
                (_, 0) => (64, "\\n"),
                _ => (76, "\\r\\n"),
            };
            let engine = if rng.below(2) == 0 {
                &STANDARD
            } else {
                &STANDARD_NO_PAD
            };
            (
                wrap(&engine.encode(&b), cols, br),
                Left::Base64 {
                    left: !long.is_empty(),
                    right: false,
                },
            )
        }
    }
}

/// Forms the output must never contain: the raw value, its fixed textual
/// encodings, and the stable base64 middle at each byte offset in both
/// alphabets.
fn forbidden(v: &str) -> Vec<String> {
    let mut f = vec![v.to_string()];
    for enc in [1, 2, 6, 7] {
        f.push(encode(v, enc, b"", b"", 0).0);
    }
    for off in 0..3usize {
        let mut b = vec![0u8; off];
        b.extend_from_slice(v.as_bytes());
        let first = (8 * off).div_ceil(6);
        let last = 8 * (off + v.len()) / 6;
        for e in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            f.push(e.encode(&b)[first..last].to_string());
        }
    }
    f
}

/// What a base64 piece may leave: its characters and their escaped forms,
/// line breaks, padding.
fn leftover(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '\\' | '%' | '\r' | '\n')
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn values_never_survive_streaming(
        values in prop::collection::vec(value(), 1..5),
        pieces in prop::collection::vec(
            (filler(1), any::<prop::sample::Index>(), 0u8..ENCODINGS,
             prop::collection::vec(any::<u8>(), 0..3), prop::collection::vec(any::<u8>(), 0..3),
             any::<u64>()),
            0..8),
        tail in filler(0),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let names: Vec<String> = (0..values.len()).map(|i| format!("v{i}")).collect();
        let secrets: Vec<(&str, &[u8])> =
            names.iter().zip(&values).map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
        let r = Redactor::new(&secrets, Options::default());
        prop_assert!(r.skipped().is_empty());

        let mut text = String::new();
        let mut expect = Vec::new(); // (filler, what may be left of the piece)
        for (fill, idx, enc, prefix, suffix, seed) in &pieces {
            let v = &values[idx.index(values.len())];
            let (piece, left) = encode(v, *enc, prefix, suffix, *seed);
            text.push_str(fill);
            text.push_str(&piece);
            expect.push((fill.clone(), left));
        }
        text.push_str(&tail);

        // Random chunking.
        let bytes = text.as_bytes();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort();
        let mut s = r.stream();
        let mut out = Vec::new();
        let mut prev = 0;
        for p in points {
            out.extend(s.push(&bytes[prev..p]));
            prev = p;
        }
        out.extend(s.push(&bytes[prev..]));
        out.extend(s.finish());
        prop_assert_eq!(&out, &r.redact_bytes(bytes));
        let out = String::from_utf8(out).expect("valid UTF-8");

        for v in &values {
            for f in forbidden(v) {
                prop_assert!(!out.contains(&f), "{:?} survives in {:?}", f, out);
            }
        }

        // Structure: filler, then one masked piece, ..., then the tail.
        let mut rest = out.as_str();
        for (fill, left) in &expect {
            prop_assert!(rest.starts_with(fill.as_str()), "filler {:?} in {:?}", fill, rest);
            rest = &rest[fill.len()..];
            let (l, rt) = match left {
                Left::Nothing => (false, false),
                Left::Base64 { left, right } => (*left, *right),
            };
            if l {
                rest = rest.trim_start_matches(leftover);
            }
            prop_assert!(rest.starts_with("[REDACTED:v"), "piece in {:?}", rest);
            let close = rest.find(']').unwrap();
            prop_assert!(names.iter().any(|n| *n == rest[10..close]));
            rest = &rest[close + 1..];
            if rt {
                // A suffix's characters and padding (never a line break:
                // wrapped pieces end with the value).
                rest = rest.trim_start_matches(|c| {
                    leftover(c) && c != '\n' && c != '\r' || c == '='
                });
            }
        }
        prop_assert_eq!(rest, tail.as_str());
    }
}
