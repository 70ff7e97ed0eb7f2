//! What a script may do with a value it read from a secret: pass it on, never look
//! at it. Comparisons, arithmetic, truth of a boolean, JSON number and boolean
//! leaves, SetSecret copies, and the limits (which must not depend on a value),
//! over a real Lockbox; and a property test of random scripts over a recording
//! host.

mod common;

use common::Env;
use lockbox_automation::script::{
    run_script, run_script_with, EmbeddedScriptHost, HostSecret, Limits, ScriptHost, ScriptRun,
};
use lockbox_automation::ModuleError;
use lockbox_core::{Scope, SecretName, Visibility};
use lockbox_service::{PutSecret, RequestCtx};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::Mutex;

const PASSWORD: &str = "Pw_Secret_Value_93xQ";
const PIN: u64 = 482139;
const HOLDER: &str = "Ann Example-Holder";
const RESTRICTED: &str = "rv_Restricted_Value_55Lk";

struct T {
    env: Env,
}

impl T {
    async fn new() -> T {
        T {
            env: Env::new().await,
        }
    }

    async fn put_with(
        &self,
        name: &str,
        value: Value,
        visibility: Option<Visibility>,
        allowed_hosts: Option<Vec<&str>>,
    ) {
        self.env
            .svc
            .put_secret(
                &self.env.owner,
                "default",
                Scope::Workspace,
                &SecretName::parse(name).unwrap(),
                PutSecret {
                    value,
                    description: None,
                    visibility,
                    ttl_seconds: None,
                    if_match: None,
                    allowed_hosts: allowed_hosts
                        .map(|h| h.into_iter().map(str::to_owned).collect()),
                    create_only: false,
                    labels: None,
                },
                &RequestCtx::default(),
            )
            .await
            .unwrap();
    }

    /// The fixtures most tests use: a string, a JSON object with a number, a
    /// boolean and a string, and a nested JSON value.
    async fn with_fixtures() -> T {
        let t = T::new().await;
        t.env.put("db/password", json!(PASSWORD)).await;
        t.env
            .put(
                "card",
                json!({"pin": PIN, "active": true, "holder": HOLDER}),
            )
            .await;
        t.env
            .put("deep", json!({"outer": {"code": 771203}, "list": [918273]}))
            .await;
        t.env.put("list", json!(["a1b2c3d4e5", "x9y8z7w6v5"])).await;
        t
    }

    async fn host(&self) -> EmbeddedScriptHost {
        let run = self
            .env
            .svc
            .open_run(
                &self.env.owner,
                "default",
                None,
                "manual",
                None,
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        EmbeddedScriptHost::new(
            self.env.svc.clone(),
            run.token.expose(),
            self.env.egress.clone(),
        )
        .await
        .unwrap()
    }

    async fn run(&self, src: &str) -> ScriptRun {
        let src = src.replace("UPSTREAM", &self.env.base);
        let host = self.host().await;
        run_script(&src, json!({}), &host).await
    }

    async fn run_with(&self, src: &str, request: Value, limits: Limits) -> ScriptRun {
        let host = self.host().await;
        run_script_with(src, request, &host, limits).await
    }

    async fn meta(&self, name: &str) -> lockbox_service::SecretMeta {
        self.env
            .svc
            .secret_metadata(
                &self.env.owner,
                "default",
                Scope::Workspace,
                &SecretName::parse(name).unwrap(),
                &RequestCtx::default(),
            )
            .await
            .unwrap()
    }

    /// The stored value as a run resolves it (restricted secrets cannot be revealed).
    async fn stored(&self, name: &str) -> Value {
        let run = self
            .env
            .svc
            .open_run(
                &self.env.owner,
                "default",
                None,
                "manual",
                None,
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        let p = self.env.svc.authenticate(run.token.expose()).await.unwrap();
        let r = self
            .env
            .svc
            .run_get_secret(
                &p,
                &SecretName::parse(name).unwrap(),
                Scope::Workspace,
                None,
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        let resolved = self.env.svc.resolve_reference(&p, &r).await.unwrap();
        // EXPOSE: the test checks what SetSecret stored.
        let bytes = resolved.value.expose();
        if resolved.non_string {
            serde_json::from_slice(bytes).unwrap()
        } else {
            Value::String(String::from_utf8(bytes.to_vec()).unwrap())
        }
    }
}

fn text_of(run: &ScriptRun) -> String {
    serde_json::to_string(run).unwrap()
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn base64(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A value's common encodings: raw, lower and upper case, JSON-escaped,
/// percent-encoded, base64 (standard and URL-safe, unpadded prefix).
fn encodings(v: &str) -> Vec<String> {
    let json = serde_json::to_string(v).unwrap();
    let mut out = vec![
        v.to_owned(),
        v.to_lowercase(),
        v.to_uppercase(),
        json[1..json.len() - 1].to_owned(),
        percent(v),
        base64(v.as_bytes(), B64, false),
        base64(v.as_bytes(), B64URL, false),
    ];
    out.sort();
    out.dedup();
    out
}

fn assert_clean(text: &str, values: &[&str]) {
    for v in values {
        for form in encodings(v) {
            assert!(!text.contains(&form), "leaked {form:?} of {v:?} in {text}");
        }
    }
}

fn assert_tainted(r: &ScriptRun, secret: &str, line: u32, column: u32, src: &str) {
    assert_eq!(r.status, "failed", "{src}\n{r:?}");
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.code, "tainted_value", "{src}\n{r:?}");
    assert_eq!((e.line, e.column), (line, column), "{src}\n{r:?}");
    assert!(
        e.message.contains(&format!("secret '{secret}'")),
        "{src}\n{r:?}"
    );
}

const PIN_TEXT: &str = "482139";

// ---- comparisons -----------------------------------------------------------------

#[tokio::test]
async fn comparing_a_tainted_value_is_a_located_error_not_an_oracle() {
    let t = T::with_fixtures().await;
    // (the tainted value, what it is read from, a guess of the same type)
    let cases = [
        (
            "GetSecret(\"db/password\")",
            "db/password",
            "\"Pw_Secret_Value_93xQ\"",
        ),
        ("GetSecret(\"card\").pin", "card", "482139"),
        ("GetSecret(\"card\").active", "card", "true"),
        ("GetSecret(\"card\").holder", "card", "\"Ann\""),
    ];
    for (read, secret, guess) in cases {
        for op in ["==", "!=", "<", ">", "<=", ">="] {
            for (lhs, rhs) in [("v", guess), (guess, "v"), ("v", "v"), ("v", "\"\"")] {
                let line2 = format!("var r = {lhs} {op} {rhs}");
                let src = format!(
                    "var v = {read}\n{line2}\nLog(\"Information\", \"r=\" + r)\nCancelAction(\"r=\" + r)"
                );
                let r = t.run(&src).await;
                let column = ("var r = ".len() + lhs.len() + 2) as u32;
                assert_tainted(&r, secret, 2, column, &src);
                assert!(r.logs.is_empty(), "{src}\n{r:?}");
                assert_clean(&text_of(&r), &[PASSWORD, PIN_TEXT, HOLDER]);
            }
        }
    }
    // Deep equality of containers holding a tainted leaf is a comparison too.
    for src in [
        "var r = { \"p\": GetSecret(\"card\").pin } == { \"p\": 482139 }",
        "var r = [GetSecret(\"db/password\")] != [\"x\"]",
        "var r = GetSecret(\"card\") == { \"pin\": 482139, \"active\": true, \"holder\": \"Ann\" }",
    ] {
        let r = t.run(src).await;
        assert_eq!(
            r.error.as_ref().map(|e| e.code.as_str()),
            Some("tainted_value"),
            "{src}\n{r:?}"
        );
        assert_clean(&text_of(&r), &[PASSWORD, PIN_TEXT, HOLDER]);
    }
}

#[tokio::test]
async fn arithmetic_indexing_length_and_names_from_tainted_values_are_errors() {
    let t = T::with_fixtures().await;
    // (source, the secret named, line, column)
    let cases = [
        (
            "var c = GetSecret(\"card\")\nvar x = c.pin + 1",
            "card",
            2,
            15,
        ),
        (
            "var c = GetSecret(\"card\")\nvar x = 1 + c.pin",
            "card",
            2,
            11,
        ),
        (
            "var c = GetSecret(\"card\")\nvar x = c.pin + c.pin",
            "card",
            2,
            15,
        ),
        (
            "var c = GetSecret(\"card\")\nvar x = c.pin - 0",
            "card",
            2,
            15,
        ),
        (
            "var c = GetSecret(\"card\")\nvar x = 0 - c.pin",
            "card",
            2,
            11,
        ),
        ("var c = GetSecret(\"card\")\nvar x = -c.pin", "card", 2, 9),
        (
            "var c = GetSecret(\"card\")\nvar x = c.active + 1",
            "card",
            2,
            18,
        ),
        (
            "var c = GetSecret(\"card\")\nvar x = { \"k\": 1 }[c.holder]",
            "card",
            2,
            19,
        ),
        (
            "var c = GetSecret(\"card\")\nvar x = [1, 2, 3][c.pin]",
            "card",
            2,
            18,
        ),
        ("var x = GetSecret(\"list\").length", "list", 1, 26),
        ("var x = GetSecret(\"list\").Count", "list", 1, 26),
        (
            "var x = [GetSecret(\"db/password\")].length",
            "db/password",
            1,
            35,
        ),
        (
            "var x = GetSecret(\"db/password\").length",
            "db/password",
            1,
            33,
        ),
        (
            "var x = GetSecret(\"db/password\")[0]",
            "db/password",
            1,
            33,
        ),
        ("var x = GetSecret(\"card\").pin.x", "card", 1, 30),
        (
            "Log(GetSecret(\"db/password\"), \"x\")",
            "db/password",
            1,
            1,
        ),
        ("Log(GetSecret(\"card\").holder, \"x\")", "card", 1, 1),
        (
            "var x = GetSecret(GetSecret(\"db/password\"))",
            "db/password",
            1,
            9,
        ),
        (
            "var x = SetSecret(GetSecret(\"db/password\"), \"v\")",
            "db/password",
            1,
            9,
        ),
        (
            "var x = InvokeRestMethod(\"UPSTREAM/data\", GetSecret(\"db/password\"), null, null)",
            "db/password",
            1,
            9,
        ),
        (
            "var x = InvokeRestMethod(GetSecret(\"card\").pin, \"GET\", null, null)",
            "card",
            1,
            9,
        ),
    ];
    for (src, secret, line, column) in cases {
        let r = t.run(src).await;
        assert_tainted(&r, secret, line, column, src);
        assert_clean(&text_of(&r), &[PASSWORD, PIN_TEXT, HOLDER, "a1b2c3d4e5"]);
    }
    // Nothing was sent.
    assert!(t.env.received().is_empty());
}

// ---- number and boolean leaves -------------------------------------------------------

#[tokio::test]
async fn json_number_and_boolean_leaves_are_redacted_in_log_cancel_and_errors() {
    let t = T::with_fixtures().await;
    let r = t
        .run(
            r#"var c = GetSecret("card")
Log("Information", c.pin)
Log("Information", "pin " + c.pin + ", active " + c.active)
Log("Information", c)
Log("Information", "" + [c.pin, c.active])
Log("Information", GetSecret("deep"))"#,
        )
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(r.logs[0].message, "[REDACTED:card]");
    assert_eq!(
        r.logs[1].message,
        "pin [REDACTED:card], active [REDACTED:card]"
    );
    assert_eq!(
        r.logs[2].message,
        r#"{"active":[REDACTED:card],"holder":[REDACTED:card],"pin":[REDACTED:card]}"#
    );
    assert_eq!(r.logs[3].message, "[[REDACTED:card],[REDACTED:card]]");
    assert_eq!(
        r.logs[4].message,
        r#"{"list":[[REDACTED:deep]],"outer":{"code":[REDACTED:deep]}}"#
    );
    assert_clean(&text_of(&r), &[PIN_TEXT, HOLDER, "771203", "918273"]);

    let r = t
        .run("var c = GetSecret(\"card\")\nCancelAction(\"pin: \" + c.pin)")
        .await;
    assert_eq!(r.status, "cancelled", "{r:?}");
    assert_eq!(r.message.as_deref(), Some("pin: [REDACTED:card]"));
    let r = t.run("CancelAction(GetSecret(\"card\").active)").await;
    assert_eq!(r.message.as_deref(), Some("[REDACTED:card]"));

    // An error message about a URL that holds the PIN in its host: the executor
    // refuses a reference in a host before resolving it (`invalid`), and nothing in
    // the message holds the value.
    t.put_with(
        "pinned-card",
        json!({"pin": PIN}),
        None,
        Some(vec!["api.example.com"]),
    )
    .await;
    let r = t
        .run("var r = InvokeRestMethod(\"http://h\" + GetSecret(\"pinned-card\").pin + \".example.net/x\", \"GET\", null, null)")
        .await;
    assert_eq!(r.status, "failed", "{r:?}");
    assert_eq!(r.error.as_ref().unwrap().code, "invalid", "{r:?}");
    assert_clean(&text_of(&r), &[PIN_TEXT]);

    // A tainted number leaves only as a reference, and arrives as its value.
    let r = t
        .run(
            "var c = GetSecret(\"card\")\nvar r = InvokeRestMethod(\"UPSTREAM/data\", \"GET\", { \"Authorization\": c.pin }, null)\nLog(\"Information\", r.content)",
        )
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    let got = t.env.received();
    assert_eq!(got[0].authorization.as_deref(), Some(PIN_TEXT));
    assert_clean(&text_of(&r), &[PIN_TEXT]);
}

// ---- SetSecret -----------------------------------------------------------------------

#[tokio::test]
async fn set_secret_cannot_launder_a_restricted_value_into_a_masked_secret() {
    let t = T::with_fixtures().await;
    t.put_with(
        "restricted-one",
        json!(RESTRICTED),
        Some(Visibility::Restricted),
        Some(vec!["a.example.com", "b.example.com"]),
    )
    .await;

    let r = t
        .run(
            r#"var ok = SetSecret("copy", GetSecret("restricted-one"), "a copy")
Log("Information", "ok=" + ok)"#,
        )
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(r.logs[0].message, "ok=true");
    let m = t.meta("copy").await;
    assert_eq!(m.visibility, "restricted");
    assert_eq!(m.allowed_hosts, ["a.example.com", "b.example.com"]);
    assert_eq!(t.stored("copy").await, json!(RESTRICTED));
    // No one can reveal the copy.
    assert!(t
        .env
        .svc
        .reveal_secret(
            &t.env.owner,
            "default",
            Scope::Workspace,
            &SecretName::parse("copy").unwrap(),
            None,
            &RequestCtx::default(),
        )
        .await
        .is_err());
    assert_clean(&text_of(&r), &[RESTRICTED]);

    // Derived values keep the guard too.
    let r = t
        .run(r#"SetSecret("derived", "Bearer " + GetSecret("restricted-one"))"#)
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(t.meta("derived").await.visibility, "restricted");
    assert_eq!(
        t.stored("derived").await,
        json!(format!("Bearer {RESTRICTED}"))
    );

    // An existing masked target refuses it, and keeps its value.
    t.env.put("masked-target", json!("old-masked-value")).await;
    let r = t
        .run(
            r#"var ok = SetSecret("masked-target", GetSecret("restricted-one"))
Log("Information", "after")"#,
        )
        .await;
    assert_eq!(r.status, "failed", "{r:?}");
    let e = r.error.as_ref().unwrap();
    assert_eq!((e.code.as_str(), e.line), ("forbidden", 1), "{r:?}");
    assert!(r.logs.is_empty(), "{r:?}");
    assert_eq!(t.meta("masked-target").await.visibility, "masked");
    assert_eq!(t.stored("masked-target").await, json!("old-masked-value"));
    assert_clean(&text_of(&r), &[RESTRICTED]);
}

#[tokio::test]
async fn set_secret_copies_intersect_allowed_hosts_and_keep_json_leaves() {
    let t = T::with_fixtures().await;
    t.put_with(
        "key-a",
        json!("va_Value_A_118"),
        None,
        Some(vec!["a.example.com", "b.example.com"]),
    )
    .await;
    t.put_with(
        "key-b",
        json!("vb_Value_B_229"),
        None,
        Some(vec!["b.example.com", "c.example.com"]),
    )
    .await;
    let r = t
        .run(
            r#"SetSecret("combined", GetSecret("key-a") + ":" + GetSecret("key-b"))
SetSecret("pin-copy", GetSecret("card").pin)
SetSecret("card-copy", GetSecret("card"))
SetSecret("wrapped", { "user": "svc", "pin": GetSecret("card").pin, "on": GetSecret("card").active })
Log("Information", "done")"#,
        )
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    let m = t.meta("combined").await;
    assert_eq!(m.visibility, "masked");
    assert_eq!(m.allowed_hosts, ["b.example.com"]);
    assert_eq!(
        t.stored("combined").await,
        json!("va_Value_A_118:vb_Value_B_229")
    );
    assert_eq!(t.stored("pin-copy").await, json!(PIN));
    assert_eq!(
        t.stored("card-copy").await,
        json!({"pin": PIN, "active": true, "holder": HOLDER})
    );
    assert_eq!(
        t.stored("wrapped").await,
        json!({"user": "svc", "pin": PIN, "on": true})
    );

    // An existing target's allowed_hosts narrow the copy further.
    t.put_with(
        "narrow",
        json!("old-narrow-value"),
        None,
        Some(vec!["b.example.com", "z.example.com"]),
    )
    .await;
    let r = t.run(r#"SetSecret("narrow", GetSecret("key-a"))"#).await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(t.meta("narrow").await.allowed_hosts, ["b.example.com"]);

    // A leaf deeper than one field cannot be stored (as it cannot be sent).
    let r = t.run(r#"SetSecret("deep-copy", GetSecret("deep"))"#).await;
    assert_eq!(
        r.error.as_ref().map(|e| e.code.as_str()),
        Some("secret_placement"),
        "{r:?}"
    );
    assert_clean(&text_of(&r), &["771203", "918273"]);
}

// ---- null and truth --------------------------------------------------------------------

#[tokio::test]
async fn null_and_truth_tests_still_work_on_tainted_values() {
    let t = T::with_fixtures().await;
    let check = |read: &str| {
        format!(
            r#"var t = {read}
if t == null then
Log("Information", "missing")
else
Log("Information", "got " + t)
end
if t != null then Log("Information", "ne") end
if null == t then Log("Information", "eq") end
if t then Log("Information", "truthy") end
if not t then Log("Information", "falsy") end
if t and true then Log("Information", "and") end
if false or t then Log("Information", "or") end"#
        )
    };
    let present = |redacted: &str| {
        vec![
            format!("got {redacted}"),
            "ne".to_owned(),
            "truthy".to_owned(),
            "and".to_owned(),
            "or".to_owned(),
        ]
    };
    for (read, expect) in [
        (
            "GetSecret(\"db/password\")",
            present("[REDACTED:db/password]"),
        ),
        (
            "GetSecret(\"card\")",
            present(r#"{"active":[REDACTED:card],"holder":[REDACTED:card],"pin":[REDACTED:card]}"#),
        ),
        ("GetSecret(\"card\").pin", present("[REDACTED:card]")),
        ("GetSecret(\"card\").holder", present("[REDACTED:card]")),
        (
            "GetSecret(\"list\")",
            present("[[REDACTED:list],[REDACTED:list]]"),
        ),
        (
            "GetSecret(\"nope\")",
            vec!["missing".to_owned(), "eq".to_owned(), "falsy".to_owned()],
        ),
        (
            "GetSecret(\"card\").missing",
            vec!["missing".to_owned(), "eq".to_owned(), "falsy".to_owned()],
        ),
    ] {
        let src = check(read);
        let r = t.run(&src).await;
        assert_eq!(r.status, "completed", "{src}\n{r:?}");
        let msgs: Vec<_> = r.logs.iter().map(|l| l.message.clone()).collect();
        assert_eq!(msgs, expect, "{src}");
        assert_clean(&text_of(&r), &[PASSWORD, PIN_TEXT, HOLDER]);
    }
}

#[tokio::test]
async fn deciding_on_a_tainted_boolean_is_an_error() {
    let t = T::with_fixtures().await;
    for (expr, column) in [
        ("if c.active then\nLog(\"Information\", \"yes\")\nend", 1),
        ("var x = not c.active", 9),
        ("var x = c.active and true", 18),
        ("var x = true and c.active", 14),
        ("var x = c.active or false", 18),
        ("var x = false or c.active", 15),
        (
            "if c.active == null or c.active then\nLog(\"Information\", \"yes\")\nend",
            21,
        ),
    ] {
        let src = format!("var c = GetSecret(\"card\")\n{expr}");
        let r = t.run(&src).await;
        assert_tainted(&r, "card", 2, column, &src);
        assert!(r.logs.is_empty(), "{src}\n{r:?}");
    }
    // What stays allowed on it: null tests, concatenation, sending.
    let r = t
        .run(
            r#"var c = GetSecret("card")
if c.active != null then Log("Information", "set " + c.active) end
var x = false and c.active"#,
        )
        .await;
    assert_eq!(r.status, "completed", "{r:?}");
    assert_eq!(r.logs[0].message, "set [REDACTED:card]");
}

// ---- limits ------------------------------------------------------------------------------

/// Runs `src` with the secret `s` set to `value`, as the only thing that differs.
async fn run_with_secret(t: &T, value: &str, src: &str, request: Value) -> ScriptRun {
    t.env.put("s", json!(value)).await;
    t.run_with(src, request, Limits::default()).await
}

#[tokio::test]
async fn string_and_log_limits_do_not_reveal_a_secret_length() {
    let t = T::new().await;
    let short = "Ab3dE6gH9j".to_owned();
    assert_eq!(short.len(), 10);
    let long: String = (0..60_000)
        .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
        .collect();
    let cap = Limits::default().max_string_bytes;
    let pad = "p".repeat(cap - 100);
    let half = "h".repeat(600_000);
    let request = json!({"body": {"pad": pad, "half": half}});
    let scripts = [
        // A pad just under the cap plus the secret fits, whatever its length...
        "var x = Data.Request.body.pad + GetSecret(\"s\")\nLog(\"Information\", \"fits\")",
        // ...and 101 more plain bytes do not, whatever its length.
        &format!(
            "var x = Data.Request.body.pad + GetSecret(\"s\")\nx = x + \"{}\"\nLog(\"Information\", \"fits\")",
            "q".repeat(101)
        ),
        // 512 spans: past the cap on secret spans at the 9th doubling.
        &format!(
            "var x = GetSecret(\"s\")\n{}Log(\"Information\", \"fits\")",
            "x = x + x\n".repeat(9)
        ),
        // Two 600,000-byte log lines pass the cap on log bytes.
        "var x = Data.Request.body.half + GetSecret(\"s\")\nLog(\"Debug\", x)\nLog(\"Debug\", x)\nLog(\"Information\", \"after\")",
        // Stringifying an object counts its plain text only.
        "var x = \"\" + { \"a\": Data.Request.body.pad, \"b\": GetSecret(\"s\") }\nLog(\"Information\", \"fits\")",
    ];
    let mut outcomes = Vec::new();
    for src in scripts {
        let a = run_with_secret(&t, &short, src, request.clone()).await;
        let b = run_with_secret(&t, &long, src, request.clone()).await;
        let (ta, tb) = (text_of(&a), text_of(&b));
        assert_eq!(ta, tb, "the outcome depends on the secret's length:\n{src}");
        assert!(!ta.contains(&short) && !ta.contains(&long[..64]));
        outcomes.push((
            a.status.clone(),
            a.error.as_ref().map(|e| (e.code.clone(), e.line)),
        ));
    }
    assert_eq!(
        outcomes,
        [
            ("completed".to_owned(), None),
            ("failed".to_owned(), Some(("limit_string".to_owned(), 2))),
            (
                "failed".to_owned(),
                Some(("limit_secret_spans".to_owned(), 10))
            ),
            ("failed".to_owned(), Some(("limit_logs".to_owned(), 3))),
            ("completed".to_owned(), None),
        ]
    );
}

// ---- random scripts ----------------------------------------------------------------------

/// A host that records what the interpreter hands it and masks nothing itself.
struct Recorder {
    value: Value,
    calls: Mutex<Vec<Value>>,
}

#[async_trait::async_trait]
impl ScriptHost for Recorder {
    async fn get_secret(&self, name: &str) -> Result<Option<HostSecret>, ModuleError> {
        self.calls.lock().unwrap().push(json!({"get": name}));
        Ok((name == "sec").then(|| HostSecret {
            value: self.value.clone(),
            reference: "$secret:WHOLEsec".to_owned(),
        }))
    }

    async fn reference(&self, name: &str, field: Option<&str>) -> Result<String, ModuleError> {
        Ok(format!("$secret:REF{name}{}", field.unwrap_or("")))
    }

    async fn set_secret(
        &self,
        name: &str,
        value: Value,
        description: Option<&str>,
    ) -> Result<(), ModuleError> {
        self.calls
            .lock()
            .unwrap()
            .push(json!({"set": name, "value": value, "description": description}));
        Ok(())
    }

    async fn fetch(&self, request: Value) -> Result<Value, ModuleError> {
        self.calls.lock().unwrap().push(json!({"fetch": request}));
        Ok(json!({"status": 200, "headers": {"x-seen": "yes"}, "body": {"ok": true, "n": 3}}))
    }

    async fn redact(&self, text: &str) -> String {
        text.to_owned()
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Num,
    Bool,
    Obj,
}

/// Two values of one kind, as the host stores them, and how the script reads
/// them; the needles are every leaf long enough to be recognised.
fn values(kind: Kind) -> ([Value; 2], &'static str, [Vec<String>; 2]) {
    let long_str: String = "rT5 p@ss/w+Rd=Qz\"9~".repeat(16);
    match kind {
        Kind::Str => (
            [json!("Zq8xK2mPw4Lt"), json!(long_str.clone())],
            "GetSecret(\"sec\")",
            [vec!["Zq8xK2mPw4Lt".into()], vec![long_str]],
        ),
        Kind::Num => (
            [json!({"n": 482139}), json!({"n": 9051.25})],
            "GetSecret(\"sec\").n",
            [vec!["482139".into()], vec!["9051.25".into()]],
        ),
        Kind::Bool => (
            [json!({"b": true}), json!({"b": false})],
            "GetSecret(\"sec\").b",
            [vec![], vec![]],
        ),
        Kind::Obj => (
            [
                json!({"pin": 736204, "user": "Usr_Vq93kXp", "flag": false, "deep": {"code": "Dc_71xQzLm"}, "items": ["It_0aZ9"]}),
                json!({"pin": 15, "user": "zz top secret user", "flag": true, "deep": {"code": "Other_Deep_Code_5"}, "items": ["It_Q7"]}),
            ],
            "GetSecret(\"sec\")",
            [
                vec![
                    "736204".into(),
                    "Usr_Vq93kXp".into(),
                    "Dc_71xQzLm".into(),
                    "It_0aZ9".into(),
                ],
                vec!["zz top secret user".into(), "Other_Deep_Code_5".into()],
            ],
        ),
    }
}

const LITERALS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "1",
    "200",
    "3.5",
    "\"\"",
    "\"abc\"",
    "\"m\"",
    "\"Bearer \"",
    "\"Information\"",
    "\"GET\"",
    "\"pin\"",
    "\"user\"",
    "\"sec\"",
    "\"http://api.test/p?k=\"",
    "Data.Request",
];

const OPS: &[&str] = &["==", "!=", "<", ">", "<=", ">=", "+", "-", "and", "or"];

const MEMBERS: &[&str] = &[
    "pin",
    "user",
    "flag",
    "deep",
    "code",
    "items",
    "n",
    "b",
    "length",
    "Count",
    "statusCode",
    "content",
];

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => Just("v".to_owned()),
        2 => Just("w".to_owned()),
        5 => prop::sample::select(LITERALS).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            4 => (inner.clone(), prop::sample::select(OPS), inner.clone())
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            1 => inner.clone().prop_map(|a| format!("(not {a})")),
            1 => inner.clone().prop_map(|a| format!("(-{a})")),
            2 => (inner.clone(), prop::sample::select(MEMBERS))
                .prop_map(|(a, m)| format!("({a}).{m}")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, i)| format!("({a})[{i}]")),
            1 => (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("{{ \"k\": {a}, \"n\": {b} }}")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
            1 => inner.clone().prop_map(|a| format!("GetSecret({a})")),
            1 => (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("SetSecret(\"out\", {a}, {b})")),
            1 => (inner.clone(), inner.clone(), inner.clone(), inner.clone()).prop_map(
                |(u, m, h, b)| format!(
                    "InvokeRestMethod(\"http://api.test/p?q=\" + {u}, {m}, {{ \"X-K\": {h} }}, {b})"
                )
            ),
        ]
    })
}

const STRINGS: &[&str] = &[
    "\"\"",
    "\"abc\"",
    "\"Bearer \"",
    "\"Information\"",
    "\"/x?y=\"",
    "\": \"",
    "1",
    "null",
];

/// Expressions a script may build from a tainted value without an error (mostly):
/// concatenation, objects, arrays, null tests.
fn allowed() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => Just("v".to_owned()),
        2 => Just("w".to_owned()),
        3 => prop::sample::select(STRINGS).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(\"\" + {a} + {b})")),
            1 => (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("{{ \"k\": {a}, \"n\": {b} }}")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
            1 => (inner.clone(), prop::sample::select(&["==", "!="][..]))
                .prop_map(|(a, op)| format!("({a} {op} null)")),
            1 => inner.clone().prop_map(|a| format!("(not ({a} == null))")),
        ]
    })
}

/// Mostly allowed uses, sometimes anything (every operator and builtin).
fn mixed() -> impl Strategy<Value = String> {
    prop_oneof![5 => allowed(), 1 => expr()]
}

fn stmt() -> impl Strategy<Value = String> {
    let level = prop_oneof![
        6 => Just("\"Information\"".to_owned()),
        1 => mixed(),
    ];
    let simple = prop_oneof![
        3 => mixed().prop_map(|e| format!("w = {e}")),
        4 => (level, mixed()).prop_map(|(l, m)| format!("Log({l}, {m})")),
        1 => mixed().prop_map(|e| format!("CancelAction({e})")),
        2 => (mixed(), mixed()).prop_map(|(a, b)| format!("r = SetSecret(\"out\", {a}, {b})")),
        2 => (mixed(), mixed(), mixed()).prop_map(|(u, h, b)| format!(
            "r = InvokeRestMethod(\"http://api.test/p?q=\" + {u}, \"POST\", {{ \"Authorization\": \"Bearer \" + {h} }}, {b})"
        )),
        1 => prop_oneof![3 => Just("\"sec\"".to_owned()), 1 => Just("\"nope\"".to_owned()), 1 => mixed()]
            .prop_map(|e| format!("w = GetSecret({e})")),
        1 => Just("Log(\"Information\", r)".to_owned()),
    ];
    simple.prop_recursive(2, 10, 3, |inner| {
        (
            mixed(),
            prop::collection::vec(inner.clone(), 1..3),
            prop::collection::vec(inner, 0..2),
        )
            .prop_map(|(c, then, els)| {
                format!(
                    "if {c} then\n{}\nelse\n{}\nend",
                    then.join("\n"),
                    els.join("\n")
                )
            })
    })
}

/// Everything the run produced or handed the host, as text.
async fn observe(src: &str, value: &Value) -> String {
    let host = Recorder {
        value: value.clone(),
        calls: Mutex::new(Vec::new()),
    };
    let run = run_script(src, json!({"body": {"x": 1}}), &host).await;
    let calls = host.calls.lock().unwrap().clone();
    serde_json::to_string(&json!({"run": run, "host": calls})).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random scripts over one tainted value never show it, in any common encoding,
    /// in logs, message, error or what the host is handed (references only); and
    /// what they show does not depend on it (same output for two values).
    #[test]
    fn random_scripts_never_reveal_a_tainted_value(
        body in prop::collection::vec(stmt(), 1..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for kind in [Kind::Str, Kind::Num, Kind::Bool, Kind::Obj] {
            let (vals, read, needles) = values(kind);
            let src = format!("var v = {read}\nvar w = v\nvar r = null\n{}", body.join("\n"));
            let a = rt.block_on(observe(&src, &vals[0]));
            let b = rt.block_on(observe(&src, &vals[1]));
            for (text, needles) in [(&a, &needles[0]), (&b, &needles[1])] {
                for n in needles {
                    for form in encodings(n) {
                        prop_assert!(
                            !text.contains(&form),
                            "{:?}: leaked {:?}\n{}\n{}", kind, form, src, text
                        );
                    }
                }
            }
            prop_assert_eq!(&a, &b, "{:?}: the output depends on the value\n{}", kind, src);
        }
    }
}
