//! Property test: random values inserted at random positions of random text,
//! each under a random encoding, fed to the streaming redactor in random
//! chunks, never survive in any form, and the text around them is unchanged.
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
    'Ж', '\u{2028}',
];
const FILLER_CHARS: &[char] = &['.', ',', ';', ':', '|', '\n', '\t', '¶', '§', '«', '»'];

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VALUE_CHARS), 6..30)
        .prop_map(|cs| cs.into_iter().collect())
}

fn filler(min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FILLER_CHARS), min..40)
        .prop_map(|cs| cs.into_iter().collect())
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

fn url(v: &str, upper: bool, plus: bool) -> String {
    let mut out = String::new();
    for &b in v.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' && plus {
            out.push('+');
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// (piece as inserted, whether it is base64 with neighbouring bytes).
/// Encodings 0..=4 are textual, 5..=7 base64 blobs of `prefix + v + suffix`,
/// 8 HTTP Basic credentials (`user:` + v).
fn encode(v: &str, enc: u8, prefix: &[u8], suffix: &[u8]) -> (String, bool) {
    let blob = |v: &str| {
        let mut b = prefix.to_vec();
        b.extend_from_slice(v.as_bytes());
        b.extend_from_slice(suffix);
        b
    };
    match enc {
        0 => (v.to_string(), false),
        1 => {
            let s = serde_json::to_string(v).unwrap();
            (s[1..s.len() - 1].to_string(), false)
        }
        2 => (json_ascii_upper(v), false),
        3 => (url(v, true, false), false),
        4 => (url(v, false, true), false),
        5 => (STANDARD.encode(blob(v)), true),
        6 => (URL_SAFE_NO_PAD.encode(blob(v)), true),
        7 => (URL_SAFE.encode(blob(v)), true),
        _ => (STANDARD_NO_PAD.encode(format!("user:{v}")), true),
    }
}

/// Every form the output must not contain: the raw value, the forms above,
/// and the stable base64 middle at each byte offset in both alphabets.
fn forbidden(v: &str) -> Vec<String> {
    let mut f = vec![v.to_string()];
    for enc in 1..=4 {
        f.push(encode(v, enc, b"", b"").0);
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

fn is_b64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_')
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn values_never_survive_streaming(
        values in prop::collection::vec(value(), 1..5),
        pieces in prop::collection::vec(
            (filler(1), any::<prop::sample::Index>(), 0u8..9,
             prop::collection::vec(any::<u8>(), 0..3), prop::collection::vec(any::<u8>(), 0..3)),
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
        let mut expect = Vec::new(); // (filler, chars may be left before, after)
        for (fill, idx, enc, prefix, suffix) in &pieces {
            let v = &values[idx.index(values.len())];
            let (piece, b64) = encode(v, *enc, prefix, suffix);
            text.push_str(fill);
            text.push_str(&piece);
            // What may be left of a base64 piece: characters carrying bits
            // of the neighbouring bytes only.
            let (left, right) = match (*enc, b64) {
                (_, false) => (false, false),
                (8, _) => (true, false),
                _ => (!prefix.is_empty(), !suffix.is_empty()),
            };
            expect.push((fill.clone(), left, right));
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
        for (fill, left, right) in &expect {
            prop_assert!(rest.starts_with(fill.as_str()), "filler {:?} in {:?}", fill, rest);
            rest = &rest[fill.len()..];
            if *left {
                rest = rest.trim_start_matches(is_b64);
            }
            prop_assert!(rest.starts_with("[REDACTED:v"), "piece in {:?}", rest);
            let close = rest.find(']').unwrap();
            prop_assert!(names.iter().any(|n| *n == rest[10..close]));
            rest = &rest[close + 1..];
            if *right {
                rest = rest.trim_start_matches(|c| is_b64(c) || c == '=');
            }
        }
        prop_assert_eq!(rest, tail.as_str());
    }
}
