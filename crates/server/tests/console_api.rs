//! The web console over real HTTP, without a browser: the session cookie's flags,
//! sign-out and expiry ending the session on the server, a revoked parent token
//! ending its sessions, CSRF and Origin refusals, security headers, roles enforced
//! on direct requests, and the `/v1` API never accepting the cookie. (The browser
//! scenarios live in crates/cli/tests/console_browser.rs.)

mod support;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Resp, TestServer};

const COOKIE: &str = "lockbox_session";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Browser<'a> {
    ts: &'a TestServer,
    http: reqwest::Client,
    cookie: String,
}

impl<'a> Browser<'a> {
    /// Signs in with `token`; returns the session plus the raw `Set-Cookie`.
    async fn sign_in(ts: &'a TestServer, token: &str) -> (Browser<'a>, String) {
        let http = client();
        let r = http
            .post(format!("{}/console/sign-in", ts.url))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in");
        let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        let value = set
            .strip_prefix(&format!("{COOKIE}="))
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_owned();
        (
            Browser {
                ts,
                http,
                cookie: value,
            },
            set,
        )
    }

    fn cookie_header(&self) -> String {
        format!("{COOKIE}={}", self.cookie)
    }

    async fn get(&self, path: &str) -> Resp {
        self.ts
            .raw(
                self.http
                    .get(format!("{}{path}", self.ts.url))
                    .header("cookie", self.cookie_header()),
            )
            .await
    }

    async fn csrf(&self) -> String {
        let page = self.get("/console/w/default/secrets").await;
        assert_eq!(page.status, 200, "{}", page.text);
        csrf_of(&page.text)
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)], headers: HeaderMap) -> Resp {
        self.ts
            .raw(
                self.http
                    .post(format!("{}{path}", self.ts.url))
                    .header("cookie", self.cookie_header())
                    .headers(headers)
                    .form(form),
            )
            .await
    }

    async fn reveal(&self, name: &str, csrf: Option<&str>) -> Resp {
        let mut req = self
            .http
            .post(format!("{}/console/w/default/secrets/reveal", self.ts.url))
            .header("cookie", self.cookie_header())
            .header("accept", "application/json")
            .json(&json!({"name": name}));
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        self.ts.raw(req).await
    }
}

fn csrf_of(html: &str) -> String {
    let i = html
        .find("name=\"csrf-token\" content=\"")
        .expect("csrf meta");
    let rest = &html[i + 27..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn redirects_to_sign_in(r: &Resp) -> bool {
    // With `?next=` naming the page to return to after signing in (issue 18).
    r.status == StatusCode::SEE_OTHER
        && r.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l == "/console/sign-in" || l.starts_with("/console/sign-in?next="))
}

/// Post/redirect/get (issue 18, item 7): a failed form answers `303` to its page,
/// which shows the error (once); this follows it.
async fn after_redirect(b: &Browser<'_>, r: &Resp) -> Resp {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let to = r.headers["location"].to_str().unwrap().to_owned();
    b.get(&to).await
}

fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    m
}

fn assert_security_headers(r: &Resp) {
    let get = |k: &str| {
        r.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(get("content-security-policy"), lockbox_server::console::CSP);
    assert!(get("content-security-policy").contains("script-src 'self'"));
    assert!(!get("content-security-policy").contains("unsafe-inline"));
    assert_eq!(get("x-frame-options"), "DENY");
    assert_eq!(get("cache-control"), "no-store");
    assert_eq!(get("referrer-policy"), "same-origin");
    assert_eq!(get("x-content-type-options"), "nosniff");
}

/// No inline script, no inline style, no event-handler attributes.
fn assert_no_inline_code(html: &str) {
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(tag.contains(" src="), "inline script: {tag}");
    }
    assert!(!html.contains(" style="), "inline style attribute");
    assert!(!html.contains("<style"), "inline style element");
    for attr in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(!html.contains(attr), "{attr}");
    }
}

#[tokio::test]
async fn sign_in_sets_a_strict_cookie_and_every_page_has_the_security_headers() {
    let ts = TestServer::start().await;
    ts.put(
        &ts.owner,
        "api-key",
        json!({"value": "value-never-in-a-page-1"}),
    )
    .await;
    let root = ts.raw(client().get(format!("{}/", ts.url))).await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.headers["location"], "/console/");
    let page = ts
        .raw(client().get(format!("{}/console/sign-in", ts.url)))
        .await;
    assert_eq!(page.status, 200);
    assert_security_headers(&page);
    assert_no_inline_code(&page.text);
    assert!(page.text.contains("<label for=\"token\">Token</label>"));

    let (b, set) = Browser::sign_in(&ts, &ts.owner).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    assert!(b.cookie.starts_with("lbs_") && !set.contains(&ts.owner));

    for path in [
        "/console/w/default/secrets",
        "/console/w/default/members",
        "/console/w/default/tokens",
        "/console/w/default/audit",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_security_headers(&r);
        assert_no_inline_code(&r.text);
        assert!(!r.text.contains("value-never-in-a-page-1"), "{path}");
    }
    let js = b.get("/console/").await;
    assert_eq!(js.headers["location"], "/console/w/default/secrets");
    let nf = b.get("/console/no/such/page").await;
    assert_eq!(nf.status, 404);
    assert!(nf.text.contains("not_found"));
    assert_security_headers(&nf);

    // A wrong token is refused with the stable code, and no cookie is set.
    let bad = ts
        .raw(
            client()
                .post(format!("{}/console/sign-in", ts.url))
                .form(&[("token", "lbx_not-a-real-token")]),
        )
        .await;
    // Post/redirect/get (issue 18, item 7): back to the sign-in page, which words it.
    assert_eq!(bad.status, StatusCode::SEE_OTHER);
    let to = bad.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/console/sign-in?failed=unauthenticated");
    assert!(bad.headers.get("set-cookie").is_none());
    let page = ts.raw(client().get(format!("{}{to}", ts.url))).await;
    assert!(page.text.contains("unauthenticated"));
    assert!(page.text.contains("was not accepted"));
    let run = ts
        .raw(
            client()
                .post(format!("{}/console/sign-in", ts.url))
                .form(&[("token", "lbr_anything")]),
        )
        .await;
    assert_eq!(
        run.headers["location"].to_str().unwrap(),
        "/console/sign-in?failed=unauthenticated"
    );
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token_and_our_origin() {
    let ts = TestServer::start().await;
    ts.put(&ts.owner, "victim", json!({"value": "v-1"})).await;
    let (b, _) = Browser::sign_in(&ts, &ts.owner).await;
    let csrf = b.csrf().await;
    let del = "/console/w/default/secrets/delete";
    let origin = ts.url.clone();
    for (what, form, headers) in [
        ("no token", vec![("name", "victim")], h(&[])),
        (
            "wrong token",
            vec![("name", "victim"), ("csrf", "0000")],
            h(&[]),
        ),
        (
            "other session's shape",
            vec![("name", "victim"), ("csrf", &"a".repeat(64))],
            h(&[]),
        ),
        (
            "wrong header",
            vec![("name", "victim")],
            h(&[("x-csrf-token", "nope")]),
        ),
        (
            "foreign origin",
            vec![("name", "victim"), ("csrf", &csrf)],
            h(&[("origin", "http://evil.example")]),
        ),
        (
            "null origin",
            vec![("name", "victim"), ("csrf", &csrf)],
            h(&[("origin", "null")]),
        ),
        (
            "cross-site fetch",
            vec![("name", "victim"), ("csrf", &csrf)],
            h(&[("sec-fetch-site", "cross-site")]),
        ),
    ] {
        let r = b.post_form(del, &form, headers).await;
        assert_eq!(r.status, 403, "{what}: {}", r.text);
        assert!(r.text.contains("forbidden"), "{what}");
    }
    ts.get(&ts.owner, "/v1/workspaces/default/secrets/victim")
        .await;
    let still = ts
        .get(&ts.owner, "/v1/workspaces/default/secrets/victim")
        .await;
    assert_eq!(still.status, 200, "forged requests deleted nothing");

    // The reveal endpoint takes the token only as a header.
    b.reveal("victim", None)
        .await
        .assert_error(403, "forbidden");
    b.reveal("victim", Some("wrong"))
        .await
        .assert_error(403, "forbidden");
    let ok = b.reveal("victim", Some(&csrf)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["value"], "v-1");
    assert_eq!(ok.headers["cache-control"], "no-store");

    // With the token and our own Origin, the delete goes through.
    let r = b
        .post_form(
            del,
            &[("name", "victim"), ("csrf", &csrf)],
            h(&[("origin", &origin), ("sec-fetch-site", "same-origin")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    ts.get(&ts.owner, "/v1/workspaces/default/secrets/victim")
        .await
        .assert_error(404, "not_found");

    // Another session's CSRF token does not work with this cookie.
    let (other, _) = Browser::sign_in(&ts, &ts.owner).await;
    let other_csrf = other.csrf().await;
    assert_ne!(other_csrf, csrf);
    b.reveal("victim", Some(&other_csrf))
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server_and_is_audited() {
    let ts = TestServer::start().await;
    ts.put(&ts.owner, "k", json!({"value": "v-2"})).await;
    let svc = ts.service_token("console-bot", "admin").await;
    let (b, _) = Browser::sign_in(&ts, &svc).await;
    let csrf = b.csrf().await;
    let r = b
        .post_form("/console/sign-out", &[("csrf", &csrf)], h(&[]))
        .await;
    assert!(redirects_to_sign_in(&r), "{}", r.text);
    let cleared = r.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie no longer works, for pages or actions.
    assert!(redirects_to_sign_in(
        &b.get("/console/w/default/secrets").await
    ));
    b.reveal("k", Some(&csrf))
        .await
        .assert_error(401, "unauthenticated");
    // Sign-in and sign-out are audited as the token that signed in.
    let audit = ts.get(&ts.owner, "/v1/workspaces/default/audit").await;
    let events = audit.json()["events"].as_array().unwrap().clone();
    for action in ["session.start", "session.end"] {
        assert!(
            events
                .iter()
                .any(|e| e["action"] == action && e["actor"] == "token:console-bot"),
            "{action} in {events:?}"
        );
    }
}

#[tokio::test]
async fn sessions_end_with_their_parent_token_and_at_expiry() {
    let ts = TestServer::start().await;
    // A personal token that expires in an hour: its session expires with it.
    let made = ts
        .call(
            &ts.owner,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "laptop", "ttl": 3600})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let (token, id) = (
        made.json()["token"].as_str().unwrap().to_owned(),
        made.json()["id"].as_str().unwrap().to_owned(),
    );
    let (short, set) = Browser::sign_in(&ts, &token).await;
    assert!(set.contains("Max-Age=3600"), "{set}");
    let (revoked, _) = Browser::sign_in(&ts, &token).await;
    let (long, _) = Browser::sign_in(&ts, &ts.owner).await;
    assert_eq!(short.get("/console/w/default/secrets").await.status, 200);

    // Revoking the parent ends every session made from it.
    let r = ts
        .call(&ts.owner, Method::DELETE, &format!("/v1/tokens/{id}"), None)
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert!(redirects_to_sign_in(
        &revoked.get("/console/w/default/secrets").await
    ));
    assert!(redirects_to_sign_in(
        &short.get("/console/w/default/secrets").await
    ));

    // The owner's session lasts 12 hours, not a second more.
    ts.clock.advance_seconds(12 * 3600 - 5);
    assert_eq!(long.get("/console/w/default/secrets").await.status, 200);
    ts.clock.advance_seconds(10);
    assert!(redirects_to_sign_in(
        &long.get("/console/w/default/secrets").await
    ));
}

#[tokio::test]
async fn roles_are_enforced_on_direct_console_requests() {
    let ts = TestServer::start().await;
    ts.put(&ts.owner, "masked", json!({"value": "m-1"})).await;
    ts.put(
        &ts.owner,
        "restricted",
        json!({"value": "r-1", "visibility": "restricted"}),
    )
    .await;
    let editor = ts.member("erin", "editor").await;
    let viewer = ts.member("victor", "viewer").await;

    let (e, _) = Browser::sign_in(&ts, &editor).await;
    let csrf = e.csrf().await;
    let page = e.get("/console/w/default/secrets").await.text;
    // No workspace "New secret" (issue 18: a "New personal secret" for My secrets).
    assert!(!page.contains("class=\"btn primary\" data-open=\"panel-new\""));
    assert!(page.contains("New personal secret"));
    assert!(!page.contains("aria-label=\"Edit "));
    assert!(!page.contains("aria-label=\"Delete "));
    assert!(page.contains("aria-label=\"Reveal masked\""));
    assert!(!page.contains("aria-label=\"Reveal restricted\""));
    for (path, form) in [
        (
            "/console/w/default/secrets",
            vec![("name", "new"), ("value", "x"), ("visibility", "masked")],
        ),
        (
            "/console/w/default/secrets/edit",
            vec![("name", "masked"), ("value", "x")],
        ),
        (
            "/console/w/default/secrets/delete",
            vec![("name", "masked")],
        ),
        (
            "/console/w/default/members/add",
            vec![("user", "mallory"), ("role", "owner")],
        ),
        (
            "/console/w/default/tokens/create",
            vec![("name", "t"), ("role", "viewer")],
        ),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let r = e.post_form(path, &form, h(&[])).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        assert!(r.text.contains("forbidden"), "{path}");
    }
    assert_eq!(e.get("/console/w/default/members").await.status, 403);
    assert_eq!(e.get("/console/w/default/audit").await.status, 403);
    let ok = e.reveal("masked", Some(&csrf)).await;
    assert_eq!(ok.json()["value"], "m-1");
    e.reveal("restricted", Some(&csrf))
        .await
        .assert_error(403, "forbidden");
    let secrets = ts.get(&ts.owner, "/v1/workspaces/default/secrets").await;
    assert_eq!(secrets.json()["secrets"].as_array().unwrap().len(), 2);

    let (v, _) = Browser::sign_in(&ts, &viewer).await;
    let csrf = v.csrf().await;
    assert!(!v
        .get("/console/w/default/secrets")
        .await
        .text
        .contains("aria-label=\"Reveal "));
    v.reveal("masked", Some(&csrf))
        .await
        .assert_error(403, "forbidden");

    // Another tenant's workspace does not exist for this session.
    assert_eq!(e.get("/console/w/other/secrets").await.status, 404);
}

#[tokio::test]
async fn the_api_never_accepts_the_session_cookie() {
    let ts = TestServer::start().await;
    let (b, _) = Browser::sign_in(&ts, &ts.owner).await;
    let with_cookie = ts
        .raw(
            client()
                .get(format!("{}/v1/workspaces/default/secrets", ts.url))
                .header("cookie", b.cookie_header()),
        )
        .await;
    with_cookie.assert_error(401, "unauthenticated");
    ts.get(&b.cookie, "/v1/workspaces/default/secrets")
        .await
        .assert_error(401, "unauthenticated");
    // A personal token named like a session, linking to the owner's token, is
    // still just that user's API token: it never works as a session cookie.
    let erin = ts.member("erin", "viewer").await;
    let owner_id = ts.get(&ts.owner, "/v1/me").await.json()["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = ts
        .call(
            &erin,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": format!("console-session:{owner_id}")})),
        )
        .await;
    assert_eq!(forged.status, 201, "{}", forged.text);
    let forged = forged.json()["token"].as_str().unwrap().to_owned();
    for value in [forged.clone(), format!("lbs_{}", &forged[4..])] {
        let r = ts
            .raw(
                client()
                    .get(format!("{}/console/w/default/secrets", ts.url))
                    .header("cookie", format!("{COOKIE}={value}")),
            )
            .await;
        assert!(redirects_to_sign_in(&r), "{}", r.text);
    }
    // And the console does not take a bearer token.
    let bearer = ts
        .raw(
            client()
                .get(format!("{}/console/w/default/secrets", ts.url))
                .bearer_auth(&ts.owner),
        )
        .await;
    assert!(redirects_to_sign_in(&bearer));
}

#[tokio::test]
async fn form_errors_never_echo_the_value() {
    let ts = TestServer::start().await;
    let (b, _) = Browser::sign_in(&ts, &ts.owner).await;
    let csrf = b.csrf().await;
    let r = b
        .post_form(
            "/console/w/default/secrets",
            &[
                ("name", "bad\u{1}name"),
                ("value", "typed-value-never-echoed"),
                ("visibility", "masked"),
                ("description", "<script>alert(1)</script>"),
                ("csrf", &csrf),
            ],
            h(&[]),
        )
        .await;
    let r = after_redirect(&b, &r).await;
    assert!(r.text.contains("id=\"new-name-error\""));
    assert!(!r.text.contains("typed-value-never-echoed"));
    assert!(!r.text.contains("<script>alert(1)"));
    assert!(r.text.contains("&lt;script&gt;alert(1)"));
    // A name that exists is an error next to the Name field, not an overwrite.
    ts.put(&ts.owner, "taken", json!({"value": "original"}))
        .await;
    let r = b
        .post_form(
            "/console/w/default/secrets",
            &[
                ("name", "taken"),
                ("value", "replacement"),
                ("visibility", "masked"),
                ("csrf", &csrf),
            ],
            h(&[]),
        )
        .await;
    let r = after_redirect(&b, &r).await;
    assert!(r.text.contains("already exists"));
    let v = ts.reveal(&ts.owner, "taken").await;
    assert_eq!(v.json()["value"], "original");
}

lockbox_testkit::needs_postgres! {
/// Two nodes over one PostgreSQL database: a session made on one node works on the
/// other, and signing out on the other ends it on the first at once (sessions are
/// read from the store on every request). Needs `LOCKBOX_TEST_DATABASE_URL`.
#[tokio::test]
async fn sessions_work_across_nodes_and_sign_out_holds_everywhere() {
    let Some(db) = lockbox_testkit::fresh_database().await else {
        return;
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let start = |dir: std::path::PathBuf| {
        let db = db.clone();
        async move {
            lockbox_server::start(lockbox_server::ServerConfig {
                data_dir: dir,
                database: Some(db),
                listen: "127.0.0.1:0".into(),
                ..lockbox_server::ServerConfig::default()
            })
            .await
            .expect("node starts")
        }
    };
    let a = start(d1.path().join("data")).await;
    std::fs::create_dir_all(d2.path().join("data")).unwrap();
    std::fs::copy(
        d1.path().join("data/master.key"),
        d2.path().join("data/master.key"),
    )
    .unwrap();
    let b = start(d2.path().join("data")).await;
    let owner = a.init_token.clone().expect("first node bootstraps").into_exposed();
    let http = client();
    let r = http
        .post(format!("{}/console/sign-in", a.url()))
        .form(&[("token", owner.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = |url: String| {
        let http = http.clone();
        let cookie = cookie.clone();
        async move {
            http.get(format!("{url}/console/w/default/secrets"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let on_b = page(b.url()).await;
    assert_eq!(on_b.status(), 200);
    let html = on_b.text().await.unwrap();
    let csrf = csrf_of(&html);

    // Create token: the form comes from node A, the post goes to node B, and the
    // page after the redirect is served by node A again. The nonce and the fresh
    // token are sealed for the session, so no node's memory is needed: the token is
    // shown once, and a replay of the same form on node B makes no second token.
    let tokens_page = |url: String, extra: Option<String>| {
        let http = http.clone();
        let cookie = match extra {
            Some(e) => format!("{cookie}; {e}"),
            None => cookie.clone(),
        };
        async move {
            http.get(format!("{url}/console/w/default/tokens"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let form_html = tokens_page(a.url(), None).await.text().await.unwrap();
    let nonce = {
        let field = "name=\"nonce\" value=\"";
        let i = form_html.find(field).expect("nonce field") + field.len();
        form_html[i..i + form_html[i..].find('"').unwrap()].to_owned()
    };
    let create = || {
        http.post(format!("{}/console/w/default/tokens/create", b.url()))
            .header("cookie", cookie.clone())
            .form(&[
                ("csrf", csrf.as_str()),
                ("nonce", nonce.as_str()),
                ("name", "cross-node"),
                ("role", "viewer"),
                ("days", ""),
            ])
            .send()
    };
    let created = create().await.unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let note = created
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("lockbox_note="))
        .expect("the fresh token travels in a sealed cookie");
    assert!(note.contains("HttpOnly") && note.contains("SameSite=Strict"), "{note}");
    assert!(!note.contains("lbx_"), "the cookie is sealed: {note}");
    let note = note.split(';').next().unwrap().to_owned();
    let shown = tokens_page(a.url(), Some(note.clone())).await;
    let clears = shown
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("lockbox_note=;"));
    assert!(clears, "the page that shows the token clears the cookie");
    let shown = shown.text().await.unwrap();
    assert!(shown.contains("cross-node") && shown.contains("lbx_"), "{shown}");
    let again = tokens_page(a.url(), None).await.text().await.unwrap();
    assert!(!again.contains("lbx_"), "shown once");
    // The sealed note is this session's only: another session's page ignores it.
    let (other, _) = {
        let r = http
            .post(format!("{}/console/sign-in", a.url()))
            .form(&[("token", owner.as_str())])
            .send()
            .await
            .unwrap();
        let c = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        (c, ())
    };
    let foreign = http
        .get(format!("{}/console/w/default/tokens", a.url()))
        .header("cookie", format!("{other}; {note}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!foreign.contains("lbx_"), "another session cannot open the note");
    let replay = create().await.unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    let listed = http
        .get(format!("{}/v1/tokens", a.url()))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(listed.matches("\"cross-node\"").count(), 1, "{listed}");
    let out = http
        .post(format!("{}/console/sign-out", b.url()))
        .header("cookie", cookie.clone())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let on_a = page(a.url()).await;
    assert_eq!(
        on_a.status(),
        StatusCode::SEE_OTHER,
        "signed out on node A too"
    );
    a.stop().await;
    b.stop().await;
}
}

/// Edit keeps the name unless the workspace allows renames; the audit page filters
/// by secret, actor, action and day.
#[tokio::test]
async fn edit_renames_only_when_allowed_and_audit_filters_work() {
    let ts = TestServer::start().await;
    ts.put(
        &ts.owner,
        "old-name",
        json!({"value": "v1", "description": "first"}),
    )
    .await;
    let (b, _) = Browser::sign_in(&ts, &ts.owner).await;
    let csrf = b.csrf().await;
    let page = b.get("/console/w/default/secrets").await.text;
    assert!(page.contains("id=\"edit-name\" name=\"new_name\""));
    assert!(page.contains(" readonly"), "names are fixed by default");
    let edit = |new_name: &'static str, value: &'static str| {
        let csrf = csrf.clone();
        let b = &b;
        async move {
            b.post_form(
                "/console/w/default/secrets/edit",
                &[
                    ("name", "old-name"),
                    ("new_name", new_name),
                    ("value", value),
                    ("description", "second"),
                    ("csrf", &csrf),
                ],
                h(&[]),
            )
            .await
        }
    };
    // Renames are off: the rename is refused next to the Name field, nothing changes.
    let r = edit("new-name", "v2").await;
    let r = after_redirect(&b, &r).await;
    assert!(r.text.contains("forbidden"));
    let meta = ts
        .get(&ts.owner, "/v1/workspaces/default/secrets/old-name")
        .await;
    assert_eq!(meta.json()["version"], 1);
    // Same name: value and description change.
    let r = edit("old-name", "v2").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let meta = ts
        .get(&ts.owner, "/v1/workspaces/default/secrets/old-name")
        .await;
    assert_eq!(meta.json()["version"], 2);
    assert_eq!(meta.json()["description"], "second");
    assert_eq!(ts.reveal(&ts.owner, "old-name").await.json()["value"], "v2");
    // Renames on: the field is editable and the rename goes through.
    let r = ts
        .call(
            &ts.owner,
            Method::PATCH,
            "/v1/workspaces/default/settings",
            Some(json!({"allow_rename": true})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let page = b.get("/console/w/default/secrets").await.text;
    let field = &page[page.find("id=\"edit-name\"").unwrap()..];
    assert!(!field[..field.find('>').unwrap()].contains("readonly"));
    let r = edit("new-name", "v3").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(ts.reveal(&ts.owner, "new-name").await.json()["value"], "v3");
    ts.get(&ts.owner, "/v1/workspaces/default/secrets/old-name")
        .await
        .assert_error(404, "not_found");

    // Audit filters: the manual clock stands at 2027-01-15.
    let rows = |html: &str| html.matches("<td data-label=\"Action\">").count();
    let all = b.get("/console/w/default/audit").await.text;
    assert!(rows(&all) >= 5, "{all}");
    let reveals = b
        .get("/console/w/default/audit?action=secret.reveal&actor=user%3Aowner")
        .await
        .text;
    assert_eq!(rows(&reveals), 2, "{reveals}");
    let renamed = b.get("/console/w/default/audit?secret=new-name").await.text;
    assert!(rows(&renamed) >= 2 && !renamed.contains("<code>secret.patch</code>"));
    let today = b
        .get("/console/w/default/audit?from=2027-01-15&to=2027-01-15")
        .await
        .text;
    assert_eq!(rows(&today), rows(&all));
    let later = b.get("/console/w/default/audit?from=2027-01-16").await.text;
    assert_eq!(rows(&later), 0);
    let bad = b.get("/console/w/default/audit?from=yesterday").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("invalid"));
}

#[tokio::test]
async fn edit_with_a_blank_value_changes_only_the_description() {
    let ts = TestServer::start().await;
    // A restricted value: no one can reveal it, so no one could type it again.
    ts.put(
        &ts.owner,
        "webhook-signing",
        json!({"value": "whsec-original-1", "description": "first", "visibility": "restricted"}),
    )
    .await;
    let (b, _) = Browser::sign_in(&ts, &ts.owner).await;
    let csrf = b.csrf().await;
    let r = b
        .post_form(
            "/console/w/default/secrets/edit",
            &[
                ("name", "webhook-signing"),
                ("value", ""),
                ("description", "rotated by the payments team"),
                ("csrf", &csrf),
            ],
            h(&[]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let meta = ts
        .get(&ts.owner, "/v1/workspaces/default/secrets/webhook-signing")
        .await
        .json();
    assert_eq!(meta["description"], "rotated by the payments team");
    assert_eq!(meta["version"], 1, "a description is not a new version");
    assert_eq!(meta["visibility"], "restricted");
    // The value is untouched: its fingerprint did not move.
    let versions = ts
        .get(
            &ts.owner,
            "/v1/workspaces/default/secrets/webhook-signing/versions",
        )
        .await
        .json();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 1);
    assert_eq!(versions["versions"][0]["fingerprint"], meta["fingerprint"]);
    // A control character in the description is refused next to the field.
    let r = b
        .post_form(
            "/console/w/default/secrets/edit",
            &[
                ("name", "webhook-signing"),
                ("value", ""),
                ("description", "bad\u{0}text"),
                ("csrf", &csrf),
            ],
            h(&[]),
        )
        .await;
    let r = after_redirect(&b, &r).await;
    assert!(r.text.contains("control characters"), "{}", r.text);
    // Next to the field the service's error names (`field`), not at the top.
    assert!(
        r.text.contains("id=\"edit-description-error\""),
        "{}",
        r.text
    );
}

// ---- issue 18: values kept intact, stale edits, the secret page

#[tokio::test]
async fn edits_keep_line_breaks_and_json_and_refuse_a_stale_version() {
    let ts = TestServer::start().await;
    ts.put(&ts.owner, "tls-key", json!({"value": "one-line-value"}))
        .await;
    ts.put(
        &ts.owner,
        "db-config",
        json!({"value": {"host": "db", "port": 5432}}),
    )
    .await;
    let (b, _) = Browser::sign_in(&ts, &ts.owner).await;
    let csrf = b.csrf().await;
    let edit =
        |name: &'static str, version: &'static str, value: &'static str, kind: &'static str| {
            let csrf = csrf.clone();
            let b = &b;
            async move {
                b.post_form(
                    "/console/w/default/secrets/edit",
                    &[
                        ("name", name),
                        ("version", version),
                        ("value", value),
                        ("kind", kind),
                        ("description", "kept"),
                        ("csrf", &csrf),
                    ],
                    h(&[]),
                )
                .await
            }
        };
    // A multi-line value (the browser sends CRLF) is stored with its line breaks.
    let r = edit(
        "tls-key",
        "1",
        "-----BEGIN-----\r\nAAAA\r\nBBBB\r\n-----END-----",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        ts.reveal(&ts.owner, "tls-key").await.json()["value"],
        "-----BEGIN-----\nAAAA\nBBBB\n-----END-----"
    );
    // A JSON value stays JSON when the type is left as it is...
    let r = edit(
        "db-config",
        "1",
        "{\n  \"host\": \"db2\",\n  \"port\": 5433\n}",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        ts.reveal(&ts.owner, "db-config").await.json()["value"],
        json!({"host": "db2", "port": 5433})
    );
    // ...and text that is not JSON is refused next to the field, in words, not echoed.
    let r = edit("db-config", "2", "typed-not-json-value {", "").await;
    let r = after_redirect(&b, &r).await;
    assert!(r.text.contains("id=\"edit-value-error\""), "{}", r.text);
    assert!(
        r.text.contains("not valid JSON (line 1, column"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("typed-not-json-value"));
    // The JSON type chosen explicitly for a text secret makes it JSON.
    let r = edit("tls-key", "2", "[1, 2, 3]", "json").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        ts.reveal(&ts.owner, "tls-key").await.json()["value"],
        json!([1, 2, 3])
    );
    // A form opened on version 2 after someone saved version 3: refused, who and when.
    ts.put(&ts.owner, "db-config", json!({"value": "someone-else-1"}))
        .await;
    let r = edit("db-config", "2", "{\"host\": \"mine\"}", "").await;
    let r = after_redirect(&b, &r).await;
    assert!(
        r.text.contains("was changed by user:owner at "),
        "{}",
        r.text
    );
    assert!(r.text.contains("since you opened it"), "{}", r.text);
    assert!(r.text.contains("Review the current version"), "{}", r.text);
    assert!(
        r.text.contains("secret?name=db-config&amp;scope=workspace"),
        "{}",
        r.text
    );
    assert_eq!(
        ts.reveal(&ts.owner, "db-config").await.json()["value"],
        "someone-else-1",
        "never an overwrite"
    );
    // A value over the limit: refused next to the field, the other fields kept.
    let big = format!("big-typed-value-{}", "x".repeat(70 * 1024));
    let r = b
        .post_form(
            "/console/w/default/secrets",
            &[
                ("name", "too-big"),
                ("value", &big),
                ("visibility", "masked"),
                ("description", "kept description"),
                ("csrf", &csrf),
            ],
            h(&[]),
        )
        .await;
    let r = after_redirect(&b, &r).await;
    assert!(r.text.contains("id=\"new-value-error\""), "{}", r.text);
    assert!(r.text.contains("larger than the limit of 65536 bytes"));
    assert!(r.text.contains("value=\"too-big\""));
    assert!(r.text.contains("kept description"));
    assert!(!r.text.contains("big-typed-value-"));
    assert!(
        r.text.contains("data-max-bytes=\"65536\""),
        "the limit is in the form"
    );
}

#[tokio::test]
async fn the_secret_page_shows_versions_and_rolls_back_with_a_redirect() {
    let ts = TestServer::start().await;
    for v in ["history-one-1", "history-two-2", "history-three-3"] {
        ts.put(
            &ts.owner,
            "team/api-key",
            json!({"value": v, "allowed_hosts": ["api.example.com"]}),
        )
        .await;
    }
    let viewer = ts.member("vic", "viewer").await;
    let (b, _) = Browser::sign_in(&ts, &ts.owner).await;
    let page = "/console/w/default/secret?name=team%2Fapi-key&scope=workspace";
    let r = b.get(page).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_security_headers(&r);
    assert_no_inline_code(&r.text);
    assert_eq!(r.text.matches("<tr data-version=").count(), 3);
    assert!(r.text.contains("api.example.com"));
    assert!(r.text.contains("data-reveal=\"team&#x2f;api-key\""));
    assert!(r.text.contains("aria-label=\"Roll back to version 1\""));
    assert!(
        r.text.contains("name=\"version\" value=\"3\""),
        "the edit form carries the version"
    );
    for v in ["history-one-1", "history-two-2", "history-three-3"] {
        assert!(!r.text.contains(v));
    }
    let csrf = csrf_of(&r.text);
    let r = b
        .post_form(
            "/console/w/default/secret/rollback",
            &[
                ("name", "team/api-key"),
                ("scope", "workspace"),
                ("version", "1"),
                ("csrf", &csrf),
            ],
            h(&[]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let to = r.headers["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with("/console/w/default/secret?name=team%2Fapi-key"),
        "{to}"
    );
    assert!(to.contains("done=rolled-back"), "{to}");
    assert_eq!(
        ts.reveal(&ts.owner, "team/api-key").await.json()["value"],
        "history-one-1"
    );
    let r = b.get(&to).await;
    assert!(r
        .text
        .contains("version 4 is now current, with the value of version 1"));
    // A viewer sees the page, without reveal, edit or rollback; a direct rollback is refused.
    let (v, _) = Browser::sign_in(&ts, &viewer).await;
    let r = v.get(page).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("data-reveal="));
    assert!(!r.text.contains("data-rollback="));
    assert!(!r.text.contains("/secrets/edit"));
    let csrf = csrf_of(&r.text);
    let r = v
        .post_form(
            "/console/w/default/secret/rollback",
            &[("name", "team/api-key"), ("version", "2"), ("csrf", &csrf)],
            h(&[]),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // An unknown secret is a 404 page.
    assert_eq!(
        b.get("/console/w/default/secret?name=nope").await.status,
        404
    );
}

// ---- issue 19: an internal error's cause is private

/// Stops the server, runs `sql` on its SQLite file, and starts it again on the
/// same data directory and clock (as policy_binding.rs does).
async fn edit_database(s: &mut TestServer, sql: &str) {
    s.stop().await;
    {
        let db = rusqlite::Connection::open(s.data_dir().join("lockbox.db")).unwrap();
        db.execute_batch(sql).unwrap();
    }
    let server = lockbox_server::start_with_clock(
        lockbox_server::ServerConfig {
            data_dir: s.data_dir(),
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        },
        std::sync::Arc::new(s.clock.clone()),
    )
    .await
    .unwrap();
    s.url = server.url();
    s.server = Some(server);
}

/// A real internal fault (a secret row edited in the database, so its version
/// fails the integrity check when opened) shown through the console's form, its
/// JSON reveal and a script run: each says "internal error" (the console with the
/// request id to quote), never the cause.
#[tokio::test]
async fn an_internal_error_shows_the_request_id_and_never_its_cause() {
    const CAUSE: &str = "integrity";
    let mut ts = TestServer::start().await;
    let r = ts
        .put(
            &ts.owner,
            "payments/signing",
            json!({"value": "whsec-internal-7731", "visibility": "restricted"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    edit_database(
        &mut ts,
        "UPDATE secrets SET visibility = 'masked' WHERE name = 'payments/signing'",
    )
    .await;
    let (b, _) = Browser::sign_in(&ts, &ts.owner).await;
    let csrf = b.csrf().await;

    // The edit form: a new value opens the current version, which fails.
    let r = b
        .post_form(
            "/console/w/default/secrets/edit",
            &[
                ("name", "payments/signing"),
                ("value", "whsec-internal-7732"),
                ("description", ""),
                ("csrf", &csrf),
            ],
            h(&[]),
        )
        .await;
    let id = r.headers["x-request-id"].to_str().unwrap().to_owned();
    let page = after_redirect(&b, &r).await;
    assert!(page.text.contains("internal error"), "{}", page.text);
    assert!(
        page.text.contains(&id),
        "the request id {id}: {}",
        page.text
    );
    assert!(!page.text.contains(CAUSE), "{}", page.text);
    assert!(!page.text.contains("whsec-internal"));

    // The console's JSON reveal.
    let r = b.reveal("payments/signing", Some(&csrf)).await;
    r.assert_error(500, "internal");
    assert!(!r.text.contains(CAUSE), "{}", r.text);
    assert!(!r.text.contains("whsec-internal"));
    assert_eq!(
        r.json()["request_id"].as_str(),
        r.headers["x-request-id"].to_str().ok()
    );

    // A script that writes it (a write opens the current version first); the
    // refusal is the script's warning. (A read would fail the run's redactor too,
    // which then masks every line whole.)
    let r = ts
        .call(
            &ts.owner,
            Method::POST,
            "/v1/workspaces/default/scripts/run",
            Some(json!({"source": "SetSecret(\"payments/signing\", \"rotated-by-script-4242\")\nLog(\"Information\", \"done\")"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let logs = r.json()["logs"].to_string();
    assert!(
        logs.contains("SetSecret('payments/signing') failed: internal: internal error"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(CAUSE), "{}", r.text);
    assert!(r.headers.contains_key("x-request-id"));
}
