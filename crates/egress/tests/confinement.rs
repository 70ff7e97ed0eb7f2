//! Confinement: a run (and every upstream) is untrusted, and must never learn a value
//! through an error message, an audit field or a DNS query, nor make Lockbox call
//! itself or carry a Lockbox credential.
//!
//! Values here hold upper-case letters on purpose: a URL parser lower-cases hosts,
//! and the lower-cased form slips past a redactor that knows only the value, so every
//! leak check looks for both. Each test is named after the failure it prevents.

mod support;

use lockbox_core::ErrorCode;
use lockbox_egress::{EgressPolicy, Executor, FetchRequest};
use serde_json::json;
use support::*;

/// A value that would be recognisable anywhere, in either case.
const VALUE: &str = "Sk_Live_UPPERsecretVALUE9";

fn req(v: serde_json::Value) -> FetchRequest {
    serde_json::from_value(v).unwrap()
}

fn assert_not_in(text: &str, value: &str) {
    assert!(!text.contains(value), "{value:?} in {text:?}");
    assert!(
        !text.contains(&value.to_ascii_lowercase()),
        "lower-cased {value:?} in {text:?}"
    );
}

/// `%XX` decoding only (a path's `+` is a plus).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn form_fields(s: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s.as_bytes())
        .into_owned()
        .collect()
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_reference_in_the_scheme_credentials_host_port_or_fragment_is_refused_unresolved() {
    let up = Upstream::start().await;
    let p = up.port();
    let mut res = MapResolver::new();
    let r = res.add("hostPart", VALUE, &[]);
    // With private destinations allowed, as in the original attack: the value went to
    // the system resolver as `sk_live_…localhost`.
    let authority = "scheme, credentials, host or port";
    let cases = [
        (format!("http://{r}.localhost:{p}/"), authority),
        (format!("http://{r}:{p}/"), authority),
        (format!("http://x{r}y.example/"), authority),
        (format!("http://127.0.0.1:{r}/"), authority),
        (format!("http://127.0.0.1:{p}{r}/"), authority),
        (format!("http{r}://127.0.0.1:{p}/"), authority),
        (format!("http://{r}@127.0.0.1:{p}/"), authority),
        (format!("http://user:{r}@127.0.0.1:{p}/"), authority),
        (format!("http://[{r}]:{p}/"), authority),
        (format!("{r}://127.0.0.1:{p}/"), "only add a path"),
        (format!("{r}.localhost:{p}/"), "only add a path"),
        (format!("http://127.0.0.1:{p}/echo#{r}"), "fragment"),
    ];
    for (url, why) in &cases {
        let (attempt, result) = executor()
            .fetch_audited(req(json!({"url": url})), &res)
            .await;
        let err = result.unwrap_err();
        assert_eq!(err.code, ErrorCode::Invalid, "{url}: {}", err.message);
        assert!(err.message.contains(why), "{url}: {}", err.message);
        assert!(!err.message.contains("$secret"), "{}", err.message);
        assert_not_in(&err.message, VALUE);
        assert_not_in(&attempt.host, VALUE);
        assert!(attempt.used.is_empty(), "{url}");
        assert_eq!(attempt.url_secret, None);
    }
    // Never resolved: the value never existed in the process, so it reached no DNS
    // query, connection, error or audit field.
    assert!(res.calls().is_empty(), "resolved: {:?}", res.calls());
    assert!(up.records().is_empty());
}

#[tokio::test]
async fn path_and_query_values_arrive_encoded_for_their_component() {
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let value = "Ab/c?d#e%f&g=h+i j é";
    let r = res.add("odd", value, &[]);
    let out = executor()
        .fetch(
            req(json!({
                "url": up.url(&format!("/p/{r}/end?q={r}&fixed=1")),
                "query": {"m": r}
            })),
            &res,
        )
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    let got = up.only();
    // Path encoding: `/` stays a separator, `?`, `#`, `%`, space and non-ASCII are
    // encoded, so the value stays in the path and decodes back to itself.
    assert_eq!(got.path, "/p/Ab/c%3Fd%23e%25f&g=h+i%20j%20%C3%A9/end");
    assert_eq!(percent_decode(&got.path), format!("/p/{value}/end"));
    // Form encoding in the query: the value is one parameter, intact.
    assert_eq!(
        form_fields(&got.query),
        [
            ("q".to_string(), value.to_string()),
            ("fixed".into(), "1".into()),
            ("m".into(), value.into())
        ]
    );
    assert!(got
        .query
        .starts_with("q=Ab%2Fc%3Fd%23e%25f%26g%3Dh%2Bi+j+%C3%A9&fixed=1&m="));
    // The echo (which quotes the raw path) comes back redacted, path form included.
    let text = outcome_text(&out);
    assert!(
        !text.contains("Ab/c%3Fd"),
        "path-encoded form leaked: {text}"
    );
    assert_no_leak(&text, value);
    assert_eq!(out.host, "127.0.0.1");
}

#[tokio::test]
async fn a_form_body_gets_each_value_form_encoded() {
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let secret = "Az+Sec/ret=&x~9";
    let r = res.add("clientSecret", secret, &[]);
    let out = executor()
        .fetch(
            req(json!({
                "url": up.url("/token"),
                "method": "POST",
                "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                "body": format!("grant_type=client_credentials&client_secret={r}&scope=a+b")
            })),
            &res,
        )
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    let got = up.only();
    let body = String::from_utf8(got.body.clone()).unwrap();
    assert_eq!(
        body,
        "grant_type=client_credentials&client_secret=Az%2BSec%2Fret%3D%26x%7E9&scope=a+b"
    );
    assert_eq!(
        form_fields(&body),
        [
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_secret".into(), secret.into()),
            ("scope".into(), "a b".into())
        ]
    );
    assert_no_leak(&outcome_text(&out), secret);

    // A text body without that content type gets the value as is.
    let up = Upstream::start().await;
    executor()
        .fetch(
            req(json!({"url": up.url("/t"), "method": "POST", "body": format!("s={r}")})),
            &res,
        )
        .await
        .unwrap();
    assert_eq!(up.only().body, format!("s={secret}").as_bytes());
}

#[tokio::test]
async fn a_url_valued_secret_works_and_its_host_is_never_reported() {
    let up = Upstream::start().await;
    let p = up.port();
    let mut res = MapResolver::new();
    let hook_url = format!("http://127.0.0.1:{p}/services/T0/B0/XyZ");
    let hook = res.add("slackHook", &hook_url, &["127.0.0.1"]);
    let extra = res.add("extra", "V a/l", &[]);

    // The whole URL.
    let (attempt, result) = executor()
        .fetch_audited(
            req(json!({"url": hook, "method": "POST", "body": {"text": "hi"}})),
            &res,
        )
        .await;
    let out = result.unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(up.records()[0].path, "/services/T0/B0/XyZ");
    assert_eq!(out.host, "");
    assert_eq!(out.url_secret.as_deref(), Some("slackHook"));
    assert_eq!(attempt.host, "");
    assert_eq!(attempt.url_secret.as_deref(), Some("slackHook"));
    // The upstream echoes its request line: the URL's secret path comes back masked.
    let text = outcome_text(&out);
    assert_no_leak(&text, &hook_url);
    assert!(!text.contains("/services/T0/B0/XyZ"), "{text}");
    assert!(text.contains("[REDACTED:slackHook]"), "{text}");

    // As the base, with more path and query (values encoded for where they land).
    let out = executor()
        .fetch(
            req(json!({"url": format!("{hook}/more/{extra}?x={extra}"), "query": {"y": "1"}})),
            &res,
        )
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    let got = &up.records()[1];
    assert_eq!(got.path, "/services/T0/B0/XyZ/more/V%20a/l");
    assert_eq!(got.query, "x=V+a%2Fl&y=1");

    // Refusals and failures name the secret, never the host or any part of the URL.
    let check = |msg: &str| {
        assert!(msg.contains("\"slackHook\""), "{msg}");
        for part in ["127.0.0.1", "services", "XyZ", &p.to_string()] {
            assert!(!msg.contains(part), "{part} in {msg}");
        }
    };
    // allowed_hosts of another secret in the request.
    let mut res2 = MapResolver::new();
    let hook2 = res2.add("slackHook", &hook_url, &[]);
    let pinned = res2.add("pinned", "pinned-value-123456", &["api.example.com"]);
    let err = executor()
        .fetch(
            req(json!({"url": hook2, "headers": {"X-K": pinned}})),
            &res2,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied);
    assert!(err.message.contains("\"pinned\""), "{}", err.message);
    check(&err.message);
    // The SSRF guard (private destinations refused).
    let (attempt, result) = Executor::new(EgressPolicy::default())
        .fetch_audited(req(json!({"url": hook2})), &res2)
        .await;
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied);
    check(&err.message);
    assert_eq!(attempt.host, "");
    assert_eq!(attempt.url_secret.as_deref(), Some("slackHook"));
    // A name the guard refuses before DNS.
    let mut res3 = MapResolver::new();
    let named = res3.add(
        "slackHook",
        &format!("http://Hooks.LocalHost:{p}/services/XyZ"),
        &[],
    );
    let err = Executor::new(EgressPolicy::default())
        .fetch(req(json!({"url": named})), &res3)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied);
    check(&err.message);
    assert!(
        !err.message.to_ascii_lowercase().contains("hooks"),
        "{}",
        err.message
    );
    // A connection failure.
    let closed = closed_port();
    let mut res4 = MapResolver::new();
    let dead = res4.add(
        "slackHook",
        &format!("http://127.0.0.1:{closed}/services/XyZ"),
        &[],
    );
    let err = executor()
        .fetch(req(json!({"url": dead})), &res4)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UpstreamFailed);
    check(&err.message);
    assert!(
        !err.message.contains(&closed.to_string()),
        "{}",
        err.message
    );
    // A value that is not a usable URL.
    for bad in [
        "not a url".to_string(),
        "ftp://127.0.0.1/services/XyZ".to_string(),
        format!("http://user:XyZpw@127.0.0.1:{p}/services"),
    ] {
        let mut r = MapResolver::new();
        let h = r.add("slackHook", &bad, &[]);
        let err = executor()
            .fetch(req(json!({"url": h})), &r)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Invalid, "{}", err.message);
        check(&err.message);
    }
    assert_eq!(up.records().len(), 2);
}

#[tokio::test]
async fn a_redirect_to_a_host_spelling_a_value_is_refused_without_the_host() {
    let a = Upstream::start().await;
    let b = Upstream::start_with("127.0.0.2", None).await;
    let mut res = MapResolver::new();
    let r = res.add("reflected", VALUE, &[]);
    // A benign upstream with an open redirect reflects the value into its Location's
    // host: `http://sk_live_uppersecretvalue9.localhost:…/` once parsed.
    let reflect = req(json!({
        "url": a.url("/redirect"),
        "query": {"status": "302", "to": format!("http://{r}.localhost:{}/", b.port())}
    }));
    for exec in [
        executor(),
        Executor::new(EgressPolicy {
            dangerous_allow_ips: vec!["127.0.0.1".parse().unwrap()],
            ..EgressPolicy::default()
        }),
    ] {
        let (attempt, result) = exec.fetch_audited(reflect.clone(), &res).await;
        let err = result.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied, "{}", err.message);
        assert!(err.message.contains("redirect hop 1"), "{}", err.message);
        assert_not_in(&err.message, VALUE);
        assert!(!err.message.contains("localhost"), "{}", err.message);
        assert_eq!(attempt.host, "127.0.0.1");
    }

    // Redirects to a private address and to Lockbox itself: refused, by hop number.
    let guarded = Executor::new(EgressPolicy {
        dangerous_allow_ips: vec!["127.0.0.1".parse().unwrap()],
        ..EgressPolicy::default()
    });
    let to_b = format!(
        "{}?status=302&to={}",
        a.url("/redirect"),
        urlencode(&b.url("/x"))
    );
    let err = guarded.fetch(request(&to_b), &res).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied);
    assert_eq!(
        err.message,
        "the host of redirect hop 1 is refused: not a public address"
    );
    let self_is_b = Executor::new(EgressPolicy {
        self_endpoints: vec![b.addr],
        ..loopback_policy()
    });
    let err = self_is_b.fetch(request(&to_b), &res).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied);
    assert_eq!(
        err.message,
        "the host of redirect hop 1 is refused: Lockbox's own address"
    );
    // A hop that cannot be reached names the hop, not its address.
    let closed = closed_port();
    let to_closed = format!(
        "{}?status=302&to={}",
        a.url("/redirect"),
        urlencode(&format!("http://127.0.0.3:{closed}/x"))
    );
    let err = executor()
        .fetch(request(&to_closed), &res)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "could not connect to the host of redirect hop 1"
    );
    assert!(b.records().is_empty());
}

#[tokio::test]
async fn lockbox_itself_is_refused_even_with_allow_private() {
    let up = Upstream::start().await;
    let p = up.port();
    let res = MapResolver::new();
    // Its exact listen address.
    let exact = Executor::new(EgressPolicy {
        self_endpoints: vec![up.addr],
        dangerous_allow_ips: vec!["127.0.0.1".parse().unwrap()],
        dangerous_allow_metadata: true,
        ..loopback_policy()
    });
    // A listen on every address: any loopback or local address on that port.
    let any = Executor::new(EgressPolicy {
        self_endpoints: vec![format!("0.0.0.0:{p}").parse().unwrap()],
        ..loopback_policy()
    });
    // Its public URL, by name (no DNS needed).
    let named = Executor::new(EgressPolicy {
        self_urls: vec![url::Url::parse(&format!("http://lockbox.test:{p}/")).unwrap()],
        ..loopback_policy()
    });
    for (exec, url) in [
        (&exact, up.url("/echo")),
        (&exact, format!("http://[::ffff:127.0.0.1]:{p}/echo")),
        (&exact, format!("http://0.0.0.0:{p}/echo")),
        (&exact, format!("http://localhost:{p}/echo")),
        (&any, up.url("/echo")),
        (&any, format!("http://127.0.0.7:{p}/echo")),
        (&any, format!("http://localhost:{p}/echo")),
        (&named, format!("http://LOCKBOX.test.:{p}/echo")),
    ] {
        let err = exec.fetch(request(&url), &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied, "{url}: {}", err.message);
        assert!(
            err.message.contains("Lockbox's own"),
            "{url}: {}",
            err.message
        );
    }
    assert!(
        up.records().is_empty(),
        "Lockbox's own address was contacted"
    );
    // The same address on another port is another service.
    let other = Upstream::start().await;
    assert_eq!(
        exact
            .fetch(request(&other.url("/echo")), &res)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        exact
            .fetch(
                request(&format!("http://localhost:{}/echo", other.port())),
                &res
            )
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn lockbox_tokens_and_sessions_are_refused_wherever_they_ride() {
    let up = Upstream::start().await;
    let token = "lbr_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj";
    let tail = &token[4..];
    let mut res = MapResolver::new();
    let plain = res.add("plain", "plain-value-123456", &[]);
    let u = up.url("/echo");
    let written = [
        (
            json!({"url": u, "headers": {"Authorization": format!("Bearer {token}")}}),
            "header \"authorization\"",
        ),
        (
            json!({"url": u, "headers": {"X-Vault-Token": token}}),
            "header \"x-vault-token\"",
        ),
        (
            json!({"url": u, "headers": {"X-Other": plain, "X-Token": format!("{plain}:{token}")}}),
            "header \"x-token\"",
        ),
        (
            json!({"url": u, "query": {"t": token}}),
            "query parameter \"t\"",
        ),
        (json!({"url": format!("{u}?t={token}")}), "the URL"),
        (json!({"url": format!("{u}/lbr%5F{tail}")}), "the URL"),
        (json!({"url": format!("{u}/%6Cbr%5f{tail}")}), "the URL"),
        (
            json!({"url": u, "method": "POST", "body": {"nested": [{"t": token}]}}),
            "the body",
        ),
        (
            json!({"url": u, "method": "POST", "body": format!("t={token}")}),
            "the body",
        ),
        (
            json!({"url": u, "method": "POST", "body": format!("{{\"t\": \"lbr\\u005f{tail}\"}}")}),
            "the body",
        ),
        (
            json!({"url": u, "auth": {"bearer": {"token": token}}}),
            "auth.bearer",
        ),
        (
            json!({"url": u, "auth": {"basic": {"username": "u", "password": token}}}),
            "auth.basic",
        ),
        (
            json!({"url": u, "auth": {"awsv4": {"access_key": "AKID", "secret_key": "s", "session_token": token, "region": "r", "service": "s"}}}),
            "auth.awsv4",
        ),
    ];
    for (r, part) in written {
        let err = executor().fetch(req(r.clone()), &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied, "{r}: {}", err.message);
        assert_eq!(
            err.message,
            format!("{part} carries a Lockbox token"),
            "{r}"
        );
    }
    for cookie in ["lockbox_session=abc", "a=1; __Host-lockbox_session=abc"] {
        let r = req(json!({"url": u, "headers": {"Cookie": cookie}}));
        let err = executor().fetch(r, &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied);
        assert_eq!(
            err.message,
            "header \"cookie\" carries Lockbox's session cookie"
        );
    }
    // Refused as written: nothing was resolved.
    assert!(res.calls().is_empty());

    // A secret whose value is a Lockbox token (an API token stored as a secret).
    let mut res = MapResolver::new();
    let api = "lbx_ZZZZYYYYXXXXWWWWVVVVUUUUTTTTSSSSRRRRQQQQPPP";
    let t = res.add("adminToken", api, &[]);
    let sess = res.add("sessionCookie", "lockbox_session=lbs_whatever", &[]);
    let mut hook = MapResolver::new();
    let h = hook.add("hook", &format!("{u}?key={api}"), &[]);
    let substituted = [
        (
            json!({"url": u, "headers": {"X-Key": t}}),
            "header \"x-key\" carries a Lockbox token",
        ),
        (
            json!({"url": u, "headers": {"Cookie": sess}}),
            "header \"cookie\" carries Lockbox's session cookie",
        ),
        (
            json!({"url": u, "query": {"k": t}}),
            "query parameter \"k\" carries a Lockbox token",
        ),
        (
            json!({"url": format!("{u}/{t}")}),
            "the URL carries a Lockbox token",
        ),
        (
            json!({"url": format!("{u}?k={t}")}),
            "the URL carries a Lockbox token",
        ),
        (
            json!({"url": u, "method": "POST", "body": {"k": t}}),
            "the body carries a Lockbox token",
        ),
        (
            json!({"url": u, "method": "POST", "body": format!("k=x{t}"), "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
            "the body carries a Lockbox token",
        ),
        (
            json!({"url": u, "auth": {"bearer": {"token": t}}}),
            "auth.bearer carries a Lockbox token",
        ),
        (
            json!({"url": u, "auth": {"basic": {"username": t, "password": "p"}}}),
            "auth.basic carries a Lockbox token",
        ),
    ];
    for (r, msg) in substituted {
        let err = executor().fetch(req(r.clone()), &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied, "{r}: {}", err.message);
        assert_eq!(err.message, msg, "{r}");
    }
    let err = executor()
        .fetch(req(json!({"url": h})), &hook)
        .await
        .unwrap_err();
    assert_eq!(err.message, "the URL carries a Lockbox token");
    assert!(up.records().is_empty(), "a Lockbox credential was sent");
}

#[tokio::test]
async fn allow_private_does_not_open_cloud_metadata() {
    // Refused before any connection is attempted (so no test ever reaches a real
    // metadata service); the guard's unit tests cover the dangerous switch.
    let res = MapResolver::new();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://169.254.170.23/v1/credentials",
        "http://100.100.100.200/latest/meta-data/",
        "http://192.0.0.192/",
        "http://0xa9fea9fe/",
        "http://[fd00:ec2::254]/",
        "http://[fd00:ec2::23]/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::]/",
    ] {
        let err = executor().fetch(request(url), &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied, "{url}: {}", err.message);
    }
}
