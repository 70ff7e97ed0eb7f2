//! Behaviour of `Redactor` on whole inputs: every encoding of a value is
//! masked (raw, hex, JSON variants, percent-encoding with any set and hex
//! case, HTML entities, base64 alphabets × padding × offsets, URL-encoded,
//! `\/`-escaped and wrapped base64), JSON values (numbers and booleans
//! included), URL values' parts, short values as tokens, `min_len`, overlaps,
//! borrowing and UTF-8 safety.

use std::borrow::Cow;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use lockbox_redact::{Options, PatternSet, Redactor};
use serde_json::json;
use std::sync::Arc;

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
    // Number leaves that are values.
    let card = json!(4111111111111111u64);
    let r = Redactor::with_json(&[("card", &card)], Options::default());
    let mut doc = json!({"card": 4111111111111111u64, "n": 41111111, "ok": true});
    r.redact_json(&mut doc);
    assert_eq!(
        doc,
        json!({"card": "[REDACTED:card]", "n": 41111111, "ok": true})
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

#[test]
fn percent_encoding_in_any_case_and_any_set() {
    // Mixed hex case in one string (the issue's example).
    let r = redactor(&[("pw", "Az/Sec=ret+x~9")]);
    assert_eq!(
        redact(&r, "secret=Az%2fSec%3dret%2Bx~9&y=1"),
        "secret=[REDACTED:pw]&y=1"
    );
    assert_eq!(redact(&r, "s=Az%2FSec%3Dret%2bx%7e9"), "s=[REDACTED:pw]");
    // The WHATWG sets, as the `url` crate (and browsers, Express) write them:
    // `@`, `|`, `:` and more left raw in a path.
    let v = "p@ss word|x:y/é\"<>`{}?#'$;=,[]^%zz";
    let r = redactor(&[("pw", v)]);
    let mut u = url::Url::parse("http://h.example/").unwrap();
    u.set_path(&format!("/bot{v}/sendMessage"));
    let path = u.path().to_owned();
    assert_eq!(
        redact(&r, &format!("Cannot GET {path}")),
        "Cannot GET /bot[REDACTED:pw]/sendMessage",
        "{path}"
    );
    u.set_query(Some(&format!("k={v}")));
    let query = u.query().unwrap().to_owned();
    assert_eq!(redact(&r, &query), "k=[REDACTED:pw]", "{query}");
    u.set_fragment(Some(v));
    let fragment = u.fragment().unwrap().to_owned();
    assert_eq!(redact(&r, &fragment), "[REDACTED:pw]", "{fragment}");
    let mut u = url::Url::parse("http://h.example/").unwrap();
    u.set_password(Some(v)).unwrap();
    let password = u.password().unwrap().to_owned();
    assert_eq!(redact(&r, &password), "[REDACTED:pw]", "{password}");
    let form: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
    assert_eq!(
        redact(&r, &format!("a=1&pw={form}")),
        "a=1&pw=[REDACTED:pw]"
    );
    // A value whose own `%XX` the encoder kept (WHATWG sets keep `%`).
    let r = redactor(&[("pw", "100%41 off/x")]);
    assert_eq!(redact(&r, "/p/100%41%20off/x"), "/p/[REDACTED:pw]");
}

#[test]
fn html_entities_named_decimal_and_hex() {
    let r = redactor(&[("pw", "p<a>ss&w0rd\"x'é")]);
    for e in [
        "p&lt;a&gt;ss&amp;w0rd&quot;x&#39;é",
        "p&lt;a&gt;ss&amp;w0rd&quot;x&#x27;&#233;",
        "p&#60;a&#62;ss&#38;w0rd&#34;x&apos;&#xe9;",
        "p&#x3C;a&#X3e;ss&#x26;w0rd&#x22;x&#039;&#XE9;",
    ] {
        assert_eq!(
            redact(&r, &format!("<p>Invalid: {e}</p>")),
            "<p>Invalid: [REDACTED:pw]</p>",
            "{e}"
        );
    }
    // The issue's example: an error page that escaped its input.
    let r = redactor(&[("pw", "p<a>ss&w0rd\"x")]);
    assert_eq!(redact(&r, "p&lt;a&gt;ss&amp;w0rd&quot;x"), "[REDACTED:pw]");
}

#[test]
fn hex_in_either_case() {
    let r = redactor(&[("k", "s3cr3t-Value")]);
    let lower: String = "s3cr3t-Value".bytes().map(|b| format!("{b:02x}")).collect();
    let upper = lower.to_uppercase();
    let mixed: String = lower
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 3 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    for h in [lower, upper, mixed] {
        assert_eq!(redact(&r, &format!("x={h};")), "x=[REDACTED:k];", "{h}");
    }
}

#[test]
fn nested_base64_forms() {
    let pw = "correct horse/battery+staple?";
    let r = redactor(&[("pw", pw)]);
    for user in ["u", "us", "usr"] {
        let b64 = STANDARD.encode(format!("{user}:{pw}"));
        // Basic credentials in a query: URL-encoded base64.
        let q: String = url::form_urlencoded::byte_serialize(b64.as_bytes()).collect();
        let out = redact(&r, &format!("GET /cb?auth={q}&x=1"));
        assert!(out.contains("[REDACTED:pw]&x=1"), "{q} -> {out}");
        assert!(!out.contains("%3D"), "{out}");
        // JSON-escaped base64 (`\/`).
        let j = b64.replace('/', "\\/");
        let out = redact(&r, &format!("{{\"auth\":\"{j}\"}}"));
        assert!(out.ends_with("[REDACTED:pw]\"}"), "{j} -> {out}");
    }
    // Wrapped at 64 (PEM, LF) and 76 (MIME, CRLF) columns, raw and in JSON,
    // with the line break at every position of the value's encoding.
    let value: Vec<u8> = (0..120u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let r = Redactor::new(&[("cert", &value[..])], Options::default());
    for lead in 0..60 {
        let mut blob = vec![b'.'; lead];
        blob.extend_from_slice(&value);
        let enc = STANDARD.encode(&blob);
        for (cols, br) in [(64, "\n"), (76, "\r\n"), (64, "\\n"), (76, "\\r\\n")] {
            let lines: Vec<&str> = enc
                .as_bytes()
                .chunks(cols)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let text = format!("-----BEGIN X-----{br}{}{br}-----END X-----", lines.join(br));
            let out = redact(&r, &text);
            assert!(out.contains("[REDACTED:cert]"), "{lead} {cols}: {out}");
            assert!(
                out.ends_with(&format!("[REDACTED:cert]{br}-----END X-----")),
                "{lead} {cols}: {out}"
            );
            // Only characters of the leading bytes are left.
            let body = &out[out.find(br).unwrap() + br.len()..out.find("[REDACTED").unwrap()];
            let kept = body.replace(br, "");
            assert!(
                kept.len() <= (lead * 8).div_ceil(6) + 1,
                "{lead} {cols}: {out}"
            );
        }
    }
}

#[test]
fn json_numbers_and_booleans() {
    let card = json!(4111111111111111u64);
    let cred =
        json!({"pin": 482139, "ratio": 0.1234567, "enabled": true, "nested": [{"otp": 90210731}]});
    let r = Redactor::with_json(&[("card", &card), ("cred", &cred)], Options::default());
    assert_eq!(
        redact(
            &r,
            "card 4111111111111111, pin 482139, otp \"90210731\", ratio 0.1234567"
        ),
        "card [REDACTED:card], pin [REDACTED:cred], otp \"[REDACTED:cred]\", ratio [REDACTED:cred]"
    );
    // `true` is too short to mask on its own.
    assert_eq!(r.skipped(), ["cred".to_string()]);
    assert_eq!(redact(&r, "enabled: true"), "enabled: true");
}

#[test]
fn short_values_as_whole_tokens() {
    let mut b = PatternSet::builder(Options::default()).short_values_as_tokens(true);
    b.add("pin", b"4821").add("word", b"a b");
    let r = Redactor::from_sets(&[Arc::new(b.build())]);
    assert!(r.skipped().is_empty());
    for (text, want) in [
        ("pin=4821&x=1", "pin=[REDACTED:pin]&x=1"),
        ("{\"pin\":\"4821\"}", "{\"pin\":\"[REDACTED:pin]\"}"),
        ("4821", "[REDACTED:pin]"),
        (
            "14821 48210 4821a a4821 é4821",
            "14821 48210 4821a a4821 é4821",
        ),
        ("q=a+b;r=a%20b", "q=[REDACTED:word];r=[REDACTED:word]"),
        ("xa by", "xa by"),
    ] {
        assert_eq!(redact(&r, text), want, "{text}");
    }
    // Without the option they are skipped.
    let r = redactor(&[("pin", "4821")]);
    assert_eq!(r.skipped(), ["pin".to_string()]);
    assert_eq!(redact(&r, "pin=4821"), "pin=4821");
}

#[test]
fn url_values_register_their_parts() {
    let hook = "https://hooks.example.com/services/T0AB12/B0CD34/ZxYwVuTs1234";
    let r = redactor(&[("hook", hook)]);
    assert_eq!(
        redact(&r, "POST /services/T0AB12/B0CD34/ZxYwVuTs1234 HTTP/1.1"),
        "POST [REDACTED:hook] HTTP/1.1"
    );
    assert_eq!(redact(&r, &format!("url={hook}")), "url=[REDACTED:hook]");
    let db = "postgres://app:S3cret%2Fpass@db.internal:5432/app?sslkey=abcdef123";
    let r = redactor(&[("db", db)]);
    assert_eq!(
        redact(&r, "password S3cret/pass, key abcdef123, user app"),
        "password [REDACTED:db], key [REDACTED:db], user app"
    );
}

#[test]
fn sets_are_shared_between_redactors() {
    let a = Arc::new(PatternSet::new(
        &[("a", b"first-secret-value")],
        Options::default(),
    ));
    let b = Arc::new(PatternSet::new(
        &[("b", b"second-secret-value")],
        Options::default(),
    ));
    let both = Redactor::from_sets(&[a.clone(), b.clone()]);
    assert_eq!(
        redact(&both, "first-secret-value second-secret-value"),
        "[REDACTED:a] [REDACTED:b]"
    );
    let one = Redactor::from_sets(&[b]);
    assert_eq!(
        redact(&one, "first-secret-value second-secret-value"),
        "first-secret-value [REDACTED:b]"
    );
    assert!(a.heap_bytes() > 18);
}
