//! Redaction of every form an upstream really uses, through `/v1/run/fetch`:
//! for each form, an upstream echoes the value it received in that form, and
//! the run sees `[REDACTED:<name>]` instead. Percent-encoding in mixed hex
//! case and the WHATWG sets (a 404 page quoting the path, a cross-origin
//! redirect carrying the value), HTML entities, hex, base64 unpadded at every
//! alignment, JSON numbers and number leaves, a short value as a whole token,
//! a URL-valued secret's path, a form body (sent encoded, echoed back), and
//! the nestings: JSON-escaped base64, URL-encoded base64 (Basic credentials
//! in a query), base64 wrapped at 64 and 76 columns.

mod support;

use axum::extract::Request;
use axum::response::IntoResponse;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::TestServer;

/// What the upstream received: (method, path and query as sent, body).
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

struct Upstream {
    url: String,
    port: u16,
    seen: Seen,
}

/// The value the request carried: the JSON body's `v`, the form body's
/// `client_secret`, or the query's `v`.
fn value_of(query: Option<&str>, body: &[u8]) -> String {
    if let Ok(j) = serde_json::from_slice::<Value>(body) {
        if let Some(v) = j["v"].as_str() {
            return v.to_owned();
        }
    }
    for (k, v) in url::form_urlencoded::parse(body) {
        if k == "client_secret" {
            return v.into_owned();
        }
    }
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k == "v" {
            return v.into_owned();
        }
    }
    String::new()
}

fn pct_mixed(v: &str) -> String {
    let mut out = String::new();
    for (i, b) in v.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if i % 2 == 0 {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn html_escape(v: &str, style: usize) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match (c, style) {
            ('<', 0) => out.push_str("&lt;"),
            ('>', 0) => out.push_str("&gt;"),
            ('&', 0) => out.push_str("&amp;"),
            ('"', 0) => out.push_str("&quot;"),
            ('\'', 0) => out.push_str("&#x27;"),
            ('<' | '>' | '&' | '"' | '\'', 1) => out.push_str(&format!("&#{};", c as u32)),
            ('<' | '>' | '&' | '"' | '\'', _) => out.push_str(&format!("&#x{:X};", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

fn wrap(s: &str, cols: usize, br: &str) -> String {
    s.as_bytes()
        .chunks(cols)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(br)
}

/// The echo for `/echo/<form>`: the value in that form, as text (or JSON
/// where said), also in an `x-echo` header when it is header-safe.
fn echo(form: &str, v: &str, path: &str, port: u16) -> axum::response::Response {
    let text = |body: String| {
        let mut r = ([("content-type", "text/html; charset=utf-8")], body.clone()).into_response();
        if let Ok(h) = axum::http::HeaderValue::from_str(&body) {
            r.headers_mut().insert("x-echo", h);
        }
        r
    };
    match form {
        "pct" => text(format!("secret={}&next=1", pct_mixed(v))),
        "html" => text(format!(
            "<p>Invalid: {}</p><p>{}</p><p>{}</p>",
            html_escape(v, 0),
            html_escape(v, 1),
            html_escape(v, 2)
        )),
        "hex" => {
            let lower: String = v.bytes().map(|b| format!("{b:02x}")).collect();
            text(format!("{lower} {}", lower.to_uppercase()))
        }
        "base64" => {
            let mut out = String::new();
            for prefix in ["", "a", "ab", "user:"] {
                let blob = format!("{prefix}{v}");
                out.push_str(&format!(
                    "{} {} {}\n",
                    STANDARD_NO_PAD.encode(&blob),
                    STANDARD.encode(&blob),
                    URL_SAFE_NO_PAD.encode(&blob)
                ));
            }
            text(out)
        }
        "json-base64" => text(format!(
            "{{\"token\":\"{}\"}}",
            STANDARD.encode(format!("u:{v}")).replace('/', "\\/")
        )),
        "query-base64" => {
            let b = STANDARD.encode(format!("user:{v}"));
            let q: String = url::form_urlencoded::byte_serialize(b.as_bytes()).collect();
            text(format!("GET /callback?auth={q}&state=1"))
        }
        "pem" => {
            let b = STANDARD.encode(format!("-lead-{v}-trail-"));
            text(format!(
                "-----BEGIN X-----\n{}\n-----END X-----\n{}\r\n",
                wrap(&b, 64, "\n"),
                wrap(&b, 76, "\r\n")
            ))
        }
        "numbers" => {
            axum::Json(json!({"card": 4111111111111111u64, "pin": 482139, "note": "pin 482139 ok"}))
                .into_response()
        }
        "short" => axum::Json(
            json!({"pin": v, "other": format!("1{v} {v}0 a{v}"), "text": format!("pin={v}&x")}),
        )
        .into_response(),
        "form" => axum::Json(json!({"client_secret": v})).into_response(),
        "redirect" => {
            let mut u = url::Url::parse(&format!("http://localhost:{port}/next")).unwrap();
            u.set_query(Some(&format!("t={v}")));
            (
                axum::http::StatusCode::FOUND,
                [("location", u.as_str().to_owned())],
            )
                .into_response()
        }
        _ => {
            // Express's 404 page, quoting the path as it came in and as the
            // WHATWG URL parser writes it.
            let decoded: String = url::form_urlencoded::parse(format!("p={path}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let mut u = url::Url::parse("http://h/").unwrap();
            u.set_path(&decoded.replace('+', " "));
            (
                axum::http::StatusCode::NOT_FOUND,
                format!("Cannot GET {path}\nCannot GET {}\n", u.path()),
            )
                .into_response()
        }
    }
}

async fn upstream() -> Upstream {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let path = parts.uri.path().to_owned();
            let pq = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            log.lock().unwrap().push((
                parts.method.to_string(),
                pq,
                String::from_utf8_lossy(&body).into_owned(),
            ));
            let v = value_of(parts.uri.query(), &body);
            let form = path.strip_prefix("/echo/").unwrap_or("path");
            echo(form, &v, &path, port)
        }
    });
    tokio::spawn(async move { axum::serve(l, app).await });
    Upstream {
        url: format!("http://127.0.0.1:{port}"),
        port,
        seen,
    }
}

struct Env {
    s: TestServer,
    up: Upstream,
    run: String,
}

async fn env(secrets: &[(&str, Value)]) -> Env {
    let s = TestServer::start_with(|c| c.egress_allow_private = true).await;
    for (name, value) in secrets {
        let r = s.put(&s.owner, name, json!({ "value": value })).await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let r = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/runs",
            Some(json!({"workspace": "default", "trigger": "manual"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let run = r.json()["token"].as_str().unwrap().to_owned();
    Env {
        s,
        up: upstream().await,
        run,
    }
}

impl Env {
    async fn reference(&self, name: &str, field: Option<&str>) -> String {
        let mut body = json!({"name": name, "scope": "workspace"});
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        let r = self
            .s
            .call(&self.run, Method::POST, "/v1/run/secrets/get", Some(body))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["ref"].as_str().unwrap().to_owned()
    }

    async fn fetch(&self, req: Value) -> support::Resp {
        self.s
            .call(&self.run, Method::POST, "/v1/run/fetch", Some(req))
            .await
    }

    /// POSTs the value of `name` as JSON to `/echo/<form>` and answers the
    /// run's view of the response (asserting it succeeded).
    async fn echo(&self, name: &str, form: &str) -> String {
        let r = self.reference(name, None).await;
        let resp = self
            .fetch(json!({
                "url": format!("{}/echo/{form}", self.up.url),
                "method": "POST",
                "body": {"v": r},
            }))
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        resp.text
    }
}

/// `out` has the mask and none of `leaks`.
fn masked(out: &str, name: &str, leaks: &[String]) {
    assert!(out.contains(&format!("[REDACTED:{name}]")), "{out}");
    for l in leaks {
        assert!(!out.contains(l.as_str()), "leaks {l:?}: {out}");
    }
}

#[tokio::test]
async fn percent_encoding_in_mixed_hex_case_body_and_header() {
    let v = "Az/Sec=ret+x~9 é&";
    let e = env(&[("pw", json!(v))]).await;
    let out = e.echo("pw", "pct").await;
    masked(&out, "pw", &[v.to_owned(), pct_mixed(v), "Sec%3".into()]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["headers"]["x-echo"], "secret=[REDACTED:pw]&next=1",
        "{out}"
    );
}

#[tokio::test]
async fn whatwg_path_in_a_404_page() {
    let token = "123456:ABC-def|ghi@jkl";
    let e = env(&[("bot", json!(token))]).await;
    let r = e.reference("bot", None).await;
    let resp = e
        .fetch(json!({"url": format!("{}/bot{r}/sendMessage", e.up.url)}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json()["status"], 404);
    let body = resp.json()["body"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        "Cannot GET /bot[REDACTED:bot]/sendMessage\nCannot GET /bot[REDACTED:bot]/sendMessage\n",
        "{}",
        resp.text
    );
    // The upstream got the value, path-encoded.
    let seen = e.up.seen.lock().unwrap()[0].1.clone();
    assert_eq!(seen, "/bot123456:ABC-def%7Cghi@jkl/sendMessage");
}

#[tokio::test]
async fn a_cross_origin_redirect_carrying_the_value_is_refused() {
    let v = "tok|en:with@raw chars";
    let e = env(&[("tok", json!(v))]).await;
    let r = e.reference("tok", None).await;
    let resp = e
        .fetch(json!({"url": format!("{}/echo/redirect", e.up.url), "method": "POST", "body": {"v": r}}))
        .await;
    resp.assert_error(403, "egress_denied");
    assert!(resp.text.contains("would carry a secret"), "{}", resp.text);
    assert!(!resp.text.contains("raw chars") && !resp.text.contains("tok|en"));
    let _ = e.up.port;
}

#[tokio::test]
async fn html_entities_named_decimal_and_hex() {
    let v = "p<a>ss&w0rd\"x'9";
    let e = env(&[("pw", json!(v))]).await;
    let out = e.echo("pw", "html").await;
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["body"], "<p>Invalid: [REDACTED:pw]</p><p>[REDACTED:pw]</p><p>[REDACTED:pw]</p>",
        "{out}"
    );
    masked(&out, "pw", &[html_escape(v, 0), "w0rd".into()]);
}

#[tokio::test]
async fn hex_in_both_cases() {
    let v = "sk_live_Hex4Me_0099";
    let e = env(&[("key", json!(v))]).await;
    let out = e.echo("key", "hex").await;
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["body"], "[REDACTED:key] [REDACTED:key]", "{out}");
    assert_eq!(j["headers"]["x-echo"], "[REDACTED:key] [REDACTED:key]");
}

#[tokio::test]
async fn base64_padded_or_not_at_every_alignment() {
    let v = "s3cr3t?passw0rd>>~";
    let e = env(&[("pw", json!(v))]).await;
    let out = e.echo("pw", "base64").await;
    let mut leaks = Vec::new();
    for off in 0..3 {
        let mut b = vec![0u8; off];
        b.extend_from_slice(v.as_bytes());
        let first = (8 * off).div_ceil(6);
        let last = 8 * (off + v.len()) / 6;
        leaks.push(STANDARD_NO_PAD.encode(&b)[first..last].to_owned());
        leaks.push(URL_SAFE_NO_PAD.encode(&b)[first..last].to_owned());
    }
    masked(&out, "pw", &leaks);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["body"].as_str().unwrap().matches("[REDACTED:pw]").count(),
        12,
        "{out}"
    );
}

#[tokio::test]
async fn nested_base64_json_escaped_url_encoded_and_wrapped() {
    let v = "correct horse/battery+staple?? with a long tail of words";
    let e = env(&[("pw", json!(v))]).await;
    let mut leaks = vec![v.to_owned()];
    for off in 0..3 {
        let mut b = vec![0u8; off];
        b.extend_from_slice(v.as_bytes());
        let enc = STANDARD_NO_PAD.encode(&b);
        leaks.push(enc[8..24].to_owned());
        leaks.push(enc[enc.len() - 20..enc.len() - 4].to_owned());
    }
    for form in ["json-base64", "query-base64", "pem"] {
        let out = e.echo("pw", form).await;
        masked(&out, "pw", &leaks);
        let body = serde_json::from_str::<Value>(&out).unwrap()["body"]
            .as_str()
            .unwrap()
            .to_owned();
        match form {
            "json-base64" => assert!(body.ends_with("[REDACTED:pw]\"}"), "{body}"),
            "query-base64" => assert!(body.ends_with("[REDACTED:pw]&state=1"), "{body}"),
            _ => assert_eq!(body.matches("[REDACTED:pw]").count(), 2, "{body}"),
        }
    }
}

#[tokio::test]
async fn json_numbers_and_number_leaves() {
    let e = env(&[
        ("card", json!(4111111111111111u64)),
        ("cred", json!({"pin": 482139, "user": "svc-user-01"})),
    ])
    .await;
    let card = e.reference("card", None).await;
    let cred = e.reference("cred", None).await;
    let resp = e
        .fetch(json!({
            "url": format!("{}/echo/numbers", e.up.url),
            "method": "POST",
            "body": {"card": card, "cred": cred},
        }))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let body = &resp.json()["body"];
    assert_eq!(body["card"], "[REDACTED:card]", "{}", resp.text);
    assert_eq!(body["note"], "pin [REDACTED:cred] ok", "{}", resp.text);
    assert!(!resp.text.contains("482139") && !resp.text.contains("4111111111111111"));
    assert!(!resp.text.contains("svc-user-01"));
    // A number leaf that is a value becomes the mask.
    assert_eq!(body["pin"], "[REDACTED:cred]", "{}", resp.text);
    // The run's own redactor (log lines, events) masks number leaves too.
    let r =
        e.s.call(
            &e.run,
            Method::POST,
            "/v1/run/redact",
            Some(json!({"refs": [card, cred], "lines": ["pin 482139 card 4111111111111111"]})),
        )
        .await;
    assert_eq!(
        r.json()["lines"][0],
        "pin [REDACTED:cred] card [REDACTED:card]",
        "{}",
        r.text
    );
}

#[tokio::test]
async fn a_short_value_the_request_carried_is_masked_as_a_token() {
    let e = env(&[("pin", json!("4821"))]).await;
    let r = e.reference("pin", None).await;
    let resp = e
        .fetch(json!({"url": format!("{}/echo/short", e.up.url), "query": {"v": r}}))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let body = &resp.json()["body"];
    assert_eq!(body["pin"], "[REDACTED:pin]", "{}", resp.text);
    assert_eq!(body["text"], "pin=[REDACTED:pin]&x", "{}", resp.text);
    // Only where it stands as a whole token.
    assert_eq!(body["other"], "14821 48210 a4821", "{}", resp.text);
    assert_eq!(e.up.seen.lock().unwrap()[0].1, "/echo/short?v=4821");
}

#[tokio::test]
async fn a_url_valued_secret_s_path_echoed_alone() {
    let e = env(&[]).await;
    let hook = format!("{}/services/T0AB12/B0CD34/ZxYwVuTs9876", e.up.url);
    let r = e.s.put(&e.s.owner, "hook", json!({"value": hook})).await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = e.reference("hook", None).await;
    let resp = e.fetch(json!({"url": r, "method": "POST"})).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let body = resp.json()["body"].as_str().unwrap().to_owned();
    assert_eq!(
        body, "Cannot GET [REDACTED:hook]\nCannot GET [REDACTED:hook]\n",
        "{}",
        resp.text
    );
    assert!(!resp.text.contains("ZxYwVuTs9876"));
}

#[tokio::test]
async fn a_form_body_is_sent_form_encoded_and_its_echo_masked() {
    let v = "Az+Sec/ret=&x~9";
    let e = env(&[("cs", json!(v))]).await;
    let r = e.reference("cs", None).await;
    let resp = e
        .fetch(json!({
            "url": format!("{}/echo/form", e.up.url),
            "method": "POST",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
            "body": format!("grant_type=client_credentials&client_secret={r}"),
        }))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    // The upstream got the value intact (`+`, `/`, `=`, `&` encoded).
    let sent = e.up.seen.lock().unwrap()[0].2.clone();
    assert_eq!(
        sent,
        "grant_type=client_credentials&client_secret=Az%2BSec%2Fret%3D%26x%7E9"
    );
    assert_eq!(resp.json()["body"]["client_secret"], "[REDACTED:cs]");
}
