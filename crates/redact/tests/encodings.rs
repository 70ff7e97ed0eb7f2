//! Behaviour of `Redactor` on whole inputs: every encoding of a value is
//! masked (raw, JSON variants, URL variants, base64 alphabets × padding ×
//! offsets), JSON helpers, `min_len`, overlaps, borrowing and UTF-8 safety.

use std::borrow::Cow;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use lockbox_redact::{Options, Redactor};
use serde_json::json;

fn redactor(secrets: &[(&str, &str)]) -> Redactor {
    let s: Vec<(&str, &[u8])> = secrets.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    Redactor::new(&s, Options::default())
}

fn redact(r: &Redactor, text: &str) -> String {
    r.redact_str(text).into_owned()
}

#[test]
fn raw_value() {
    let r = redactor(&[("db", "hunter2-hunter2")]);
    assert_eq!(
        redact(&r, "password=hunter2-hunter2; ok"),
        "password=[REDACTED:db]; ok"
    );
    assert_eq!(
        r.redact_bytes(b"xhunter2-hunter2hunter2-hunter2"),
        b"x[REDACTED:db][REDACTED:db]"
    );
}

#[test]
fn json_serde_escaping() {
    let v = "p\"a\\ss/wörd<&>\n\t'x=";
    let r = redactor(&[("pw", v)]);
    let doc = serde_json::to_string(&json!({ "password": v })).unwrap();
    assert_eq!(redact(&r, &doc), r#"{"password":"[REDACTED:pw]"}"#);
}

#[test]
fn json_other_encoders() {
    let v = "a/b&c<d>e'f=gé😀h";
    let r = redactor(&[("pw", v)]);
    let encodings = [
        // slash escaped (PHP)
        r#"a\/b&c<d>e'f=gé😀h"#,
        // Go HTML-safe
        r#"a/b\u0026c\u003cd\u003ee'f=gé😀h"#,
        // Go HTML-safe, upper-case hex
        r#"a/b\u0026c\u003Cd\u003Ee'f=gé😀h"#,
        // ASCII-only (Python default), lower and upper case
        r#"a/b&c<d>e'f=g\u00e9\ud83d\ude00h"#,
        r#"a/b&c<d>e'f=g\u00E9\uD83D\uDE00h"#,
        // PHP with JSON_HEX_TAG|AMP|APOS and ASCII-only
        r#"a\/b\u0026c\u003Cd\u003Ee\u0027f=g\u00e9\ud83d\ude00h"#,
        // Gson (escapes '=' too)
        r#"a/b\u0026c\u003cd\u003ee\u0027f\u003dgé😀h"#,
    ];
    for e in encodings {
        let text = format!("{{\"k\":\"{e}\"}}");
        assert_eq!(redact(&r, &text), r#"{"k":"[REDACTED:pw]"}"#, "{e}");
    }
}

#[test]
fn url_encodings() {
    let v = "p@ss word/x~y*z!é";
    let r = redactor(&[("pw", v)]);
    for e in [
        "p%40ss%20word%2Fx~y%2Az%21%C3%A9",
        "p%40ss%20word%2fx~y%2az%21%c3%a9",
        "p%40ss+word%2Fx%7Ey*z%21%C3%A9",
        "p%40ss+word%2fx%7ey*z%21%c3%a9",
        "p%40ss+word%2Fx~y%2Az%21%C3%A9",
        "p%40ss%20word/x~y%2Az%21%C3%A9",
        "p%40ss%20word%2Fx~y*z!%C3%A9",
    ] {
        assert_eq!(
            redact(&r, &format!("https://h/?q={e}&b=1")),
            "https://h/?q=[REDACTED:pw]&b=1",
            "{e}"
        );
    }
}

#[test]
fn base64_alphabets_padding_and_offsets() {
    // Values whose encodings contain '+' and '/' (or '-' and '_').
    let values: [&[u8]; 4] = [
        b"\xfb\xff\xbe secret-value>>>???",
        b"s3cr3t-passw0rd!",
        b"s3cr3t-passw0rd!x",
        b"s3cr3t-passw0rd!xy",
    ];
    for value in values {
        let r = Redactor::new(&[("v", value)], Options::default());
        for prefix_len in 0..6 {
            for suffix_len in [0usize, 1, 2, 3, 4] {
                let mut blob = b"abcdef"[..prefix_len].to_vec();
                blob.extend_from_slice(value);
                blob.extend_from_slice(&b"uvwxyz"[..suffix_len]);
                for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                    let enc = engine.encode(&blob);
                    let text = format!("before {enc} after");
                    let out = redact(&r, &text);
                    assert!(out.contains("[REDACTED:v]"), "{text} -> {out}");
                    // Standalone encoding (no prefix, no suffix): nothing of it
                    // is left, padding included.
                    if prefix_len == 0 && suffix_len == 0 {
                        assert_eq!(out, "before [REDACTED:v] after", "{text}");
                    }
                    // Every character that carries bits of the value is gone:
                    // what is left of the encoding is at most the prefix's and
                    // suffix's own characters.
                    let kept = out.len() - "before  after".len() - "[REDACTED:v]".len();
                    assert!(kept <= (prefix_len * 8) / 6 + (suffix_len * 8).div_ceil(6) + 2);
                }
            }
        }
    }
}

#[test]
fn basic_auth_password() {
    let pw = "correct horse battery staple";
    let r = redactor(&[("pw", pw)]);
    for user in ["u", "us", "usr", "admin", "alice@example.com"] {
        let header = format!(
            "Authorization: Basic {}\r\n",
            STANDARD.encode(format!("{user}:{pw}"))
        );
        let out = redact(&r, &header);
        assert!(out.contains("[REDACTED:pw]"), "{header} -> {out}");
        // The password is at the end: nothing after the mask but the line end.
        assert!(out.ends_with("[REDACTED:pw]\r\n"), "{out}");
    }
}

#[test]
fn json_leaves_and_text() {
    let cred =
        json!({"user": "svc-account", "token": "tok_9f8e7d6c5b4a", "port": 5432, "pin": "1234"});
    let r = Redactor::with_json(&[("cred", &cred)], Options::default());
    assert_eq!(r.skipped(), ["cred".to_string()]); // "1234" is too short
    let text = format!(
        "leaf tok_9f8e7d6c5b4a, user svc-account, whole {}",
        serde_json::to_string(&cred).unwrap()
    );
    assert_eq!(
        redact(&r, &text),
        "leaf [REDACTED:cred], user [REDACTED:cred], whole [REDACTED:cred]"
    );
    // A string value: the leaf itself.
    let s = json!("just-a-string-secret");
    let r = Redactor::with_json(&[("s", &s)], Options::default());
    assert_eq!(redact(&r, "x just-a-string-secret y"), "x [REDACTED:s] y");
}

#[test]
fn redact_json_in_place() {
    let r = redactor(&[("k", "sk_live_abcdef123456")]);
    let mut doc = json!({
        "a": ["sk_live_abcdef123456", 1, {"sk_live_abcdef123456": "v"}],
        "b": "Bearer sk_live_abcdef123456",
        "c": null
    });
    r.redact_json(&mut doc);
    assert_eq!(
        doc,
        json!({
            "a": ["[REDACTED:k]", 1, {"[REDACTED:k]": "v"}],
            "b": "Bearer [REDACTED:k]",
            "c": null
        })
    );
}

#[test]
fn min_len_skips_short_values() {
    let r = Redactor::new(
        &[("short", &b"abc"[..]), ("empty", b""), ("ok", b"abcdef")],
        Options::default(),
    );
    assert_eq!(r.skipped(), ["short".to_string(), "empty".to_string()]);
    assert_eq!(redact(&r, "abc abcdef"), "abc [REDACTED:ok]");
    let r = Redactor::new(&[("short", &b"abc"[..])], Options { min_len: 3 });
    assert!(r.skipped().is_empty());
    assert_eq!(redact(&r, "xabcx"), "x[REDACTED:short]x");
    let r = Redactor::new(&[("short", &b"abc"[..])], Options::default());
    assert!(r.is_empty());
    assert!(!redactor(&[("a", "abcdefgh")]).is_empty());
}

#[test]
fn overlapping_matches_are_masked_as_union() {
    let r = redactor(&[("a", "AAAA-BBBB"), ("b", "BBBB-CCCC")]);
    assert_eq!(redact(&r, "x AAAA-BBBB-CCCC y"), "x [REDACTED:a] y");
    // Nested: the longer one wins the name, nothing leaks.
    let r = redactor(&[("inner", "secret-123"), ("outer", "my-secret-1234")]);
    assert_eq!(redact(&r, "[my-secret-1234]"), "[[REDACTED:outer]]");
    // Long overlapping patterns (window filter path).
    let r = redactor(&[
        ("a", "0123456789abcdefghij"),
        ("b", "fghijklmnopqrstuvwxyz"),
    ]);
    assert_eq!(
        redact(&r, "..0123456789abcdefghijklmnopqrstuvwxyz.."),
        "..[REDACTED:a].."
    );
    // Adjacent occurrences stay separate.
    assert_eq!(
        redact(&r, "0123456789abcdefghijfghijklmnopqrstuvwxyz"),
        "[REDACTED:a][REDACTED:b]"
    );
}

#[test]
fn borrows_when_clean() {
    let r = redactor(&[("a", "topsecretvalue")]);
    assert!(matches!(r.redact_str("nothing to see"), Cow::Borrowed(_)));
    assert!(matches!(r.redact_str("a topsecretvalue"), Cow::Owned(_)));
    let empty = Redactor::new(&[], Options::default());
    assert!(matches!(
        empty.redact_str("topsecretvalue"),
        Cow::Borrowed(_)
    ));
    assert_eq!(empty.redact_bytes(b"abc"), b"abc");
}

#[test]
fn utf8_safety() {
    // A byte value starting inside a character of the text: the mask is
    // widened to whole characters.
    let value: &[u8] = b"\xA9secret-tail";
    let r = Redactor::new(&[("v", value)], Options::default());
    let out = r.redact_str("cafésecret-tail! ©secret-tail");
    assert_eq!(out, "caf[REDACTED:v]! [REDACTED:v]");
    // A value ending inside a character.
    let value: &[u8] = b"head-secret\xC3";
    let r = Redactor::new(&[("v", value)], Options::default());
    assert_eq!(r.redact_str("xhead-secretéx"), "x[REDACTED:v]x");
    // Multi-byte values in multi-byte text.
    let r = redactor(&[("u", "пароль-секрет")]);
    assert_eq!(
        redact(&r, "ключ=пароль-секрет; 😀"),
        "ключ=[REDACTED:u]; 😀"
    );
}

#[test]
fn duplicate_names_and_values() {
    let r = redactor(&[
        ("a", "same-value-123"),
        ("b", "same-value-123"),
        ("a", "other-value-456"),
    ]);
    assert_eq!(
        redact(&r, "same-value-123 other-value-456"),
        "[REDACTED:a] [REDACTED:a]"
    );
}

#[test]
fn redactor_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Redactor>();
    check::<lockbox_redact::StreamRedactor<'static>>();
}
