//! `StreamRedactor`: values split across chunk boundaries at every position,
//! values spanning lines fed line by line, and agreement with
//! `Redactor::redact_bytes` on the concatenated input.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lockbox_redact::{Options, Redactor};

fn stream_chunks(r: &Redactor, chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = r.stream();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(s.push(c));
    }
    out.extend(s.finish());
    out
}

fn secrets() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("short", b"pin-9876".to_vec()),
        ("long", b"sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_vec()),
        ("multi", b"line-one\nline-two\nline-three".to_vec()),
        ("uni", "pässwörd-ünïcode-😀".as_bytes().to_vec()),
    ]
}

fn redactor() -> Redactor {
    let s = secrets();
    let refs: Vec<(&str, &[u8])> = s.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    Redactor::new(&refs, Options::default())
}

fn sample_text() -> Vec<u8> {
    let mut t = b"start pin-9876 then sk_live_4eC39HqLyjWDarjtT1zdp7dc and\n".to_vec();
    t.extend_from_slice(b"cfg: line-one\nline-two\nline-three end\n");
    t.extend_from_slice("uni pässwörd-ünïcode-😀 json \"p\\u00e4ssw\\u00f6rd-\\u00fcn\\u00efcode-\\ud83d\\ude00\"\n".as_bytes());
    t.extend_from_slice(b"Authorization: Basic ");
    t.extend_from_slice(
        STANDARD
            .encode(b"user:sk_live_4eC39HqLyjWDarjtT1zdp7dc")
            .as_bytes(),
    );
    t.extend_from_slice(b"\nurl ?k=p%C3%A4ssw%C3%B6rd-%C3%BCn%C3%AFcode-%F0%9F%98%80 tail");
    t
}

#[test]
fn whole_text_is_masked() {
    let r = redactor();
    let out = String::from_utf8(r.redact_bytes(&sample_text())).unwrap();
    for (_, v) in secrets() {
        assert!(!out.contains(std::str::from_utf8(&v).unwrap()), "{out}");
    }
    assert_eq!(out.matches("[REDACTED:long]").count(), 2, "{out}");
    assert_eq!(out.matches("[REDACTED:uni]").count(), 3, "{out}");
    assert_eq!(out.matches("[REDACTED:multi]").count(), 1, "{out}");
    assert_eq!(out.matches("[REDACTED:short]").count(), 1, "{out}");
}

#[test]
fn split_at_every_position() {
    let r = redactor();
    let text = sample_text();
    let expected = r.redact_bytes(&text);
    for i in 0..=text.len() {
        let got = stream_chunks(&r, &[&text[..i], &text[i..]]);
        assert_eq!(got, expected, "split at {i}");
    }
}

#[test]
fn split_at_every_pair_of_positions_around_a_value() {
    let r = redactor();
    let text = b"xx sk_live_4eC39HqLyjWDarjtT1zdp7dc yy".to_vec();
    let expected = b"xx [REDACTED:long] yy".to_vec();
    for i in 0..=text.len() {
        for j in i..=text.len() {
            let got = stream_chunks(&r, &[&text[..i], &text[i..j], &text[j..]]);
            assert_eq!(got, expected, "split at {i}, {j}");
        }
    }
}

#[test]
fn byte_by_byte_and_fixed_sizes() {
    let r = redactor();
    let text = sample_text();
    let expected = r.redact_bytes(&text);
    for size in [1, 2, 3, 5, 7, 8, 13, 64, 1000] {
        let chunks: Vec<&[u8]> = text.chunks(size).collect();
        assert_eq!(stream_chunks(&r, &chunks), expected, "chunk size {size}");
    }
}

#[test]
fn value_spanning_lines_fed_line_by_line() {
    let r = redactor();
    let text = b"a\ncfg: line-one\nline-two\nline-three\nb\n";
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(stream_chunks(&r, &lines), b"a\ncfg: [REDACTED:multi]\nb\n");
}

#[test]
fn output_is_released_early() {
    // The stream holds back only a bounded tail: a few times the longest
    // form (a value in a decoded view may be spread over more text).
    let empty = Redactor::new(&[], Options::default());
    assert_eq!(empty.stream().push(b"prompt: "), b"prompt: ");
    let r = redactor();
    let mut s = r.stream();
    let mut released = 0;
    for _ in 0..100 {
        released += s.push(&[b'x'; 100]).len();
    }
    assert!(released >= 10_000 - 1_000, "released {released}");
    assert_eq!(released + s.finish().len(), 10_000);
}

#[test]
fn overlapping_values_across_chunks() {
    let r = Redactor::new(
        &[
            ("a", &b"0123456789abcdefghij"[..]),
            ("b", b"fghijklmnopqrstuvwxyz"),
            ("c", b"uvwxyz-ABCDEFG"),
        ],
        Options::default(),
    );
    let text = b"..0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFG..";
    let expected = b"..[REDACTED:a]..".to_vec();
    assert_eq!(r.redact_bytes(text), expected);
    for i in 0..=text.len() {
        for j in i..=text.len() {
            let got = stream_chunks(&r, &[&text[..i], &text[i..j], &text[j..]]);
            assert_eq!(got, expected, "split at {i}, {j}");
        }
    }
}

#[test]
fn base64_widening_across_chunks() {
    // Only alphanumeric: the longest pattern is a base64 middle, whose
    // widening (partial character + padding) reaches 3 bytes past it.
    for value in [&b"Zx9Qw3Lm7R"[..], b"Zx9Qw3Lm7Rk", b"Zx9Qw3Lm7Rkp"] {
        let r = Redactor::new(&[("v", value)], Options::default());
        for prefix in [&b""[..], b"a", b"ab", b"user:"] {
            let mut blob = prefix.to_vec();
            blob.extend_from_slice(value);
            let text = format!("x {} y", STANDARD.encode(&blob)).into_bytes();
            let expected = r.redact_bytes(&text);
            assert!(expected.ends_with(b"[REDACTED:v] y"), "{text:?}");
            if prefix.is_empty() {
                assert_eq!(expected, b"x [REDACTED:v] y");
            }
            for i in 0..=text.len() {
                for j in i..=text.len() {
                    let got = stream_chunks(&r, &[&text[..i], &text[i..j], &text[j..]]);
                    assert_eq!(got, expected, "split at {i}, {j}");
                }
            }
        }
    }
}

#[test]
fn empty_redactor_streams_through() {
    let r = Redactor::new(&[], Options::default());
    assert_eq!(stream_chunks(&r, &[b"abc", b"", b"def"]), b"abcdef");
}
