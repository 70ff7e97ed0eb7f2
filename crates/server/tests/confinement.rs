//! Issue 14: no run, flow or token reaches a value or a wider privilege. One
//! regression test per broken promise, each named after what it prevents, over
//! real HTTP against the real server.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{enc, TestServer};

async fn open_run(s: &TestServer, token: &str, body: Value) -> support::Resp {
    s.call(token, Method::POST, "/v1/runs", Some(body)).await
}

async fn run_token(s: &TestServer, token: &str, body: Value) -> String {
    let r = open_run(s, token, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["token"].as_str().unwrap().to_owned()
}

fn run_body(user: Option<&str>, trigger: &str) -> Value {
    let mut b = json!({"workspace": "default", "trigger": trigger});
    if let Some(u) = user {
        b["user"] = json!(u);
    }
    b
}

/// A request a live run may make; 401 once the run has ended.
async fn run_alive(s: &TestServer, run: &str) -> u16 {
    s.call(run, Method::GET, "/v1/workspaces/default/secrets", None)
        .await
        .status
        .as_u16()
}

async fn audit(s: &TestServer) -> String {
    s.get(&s.owner, "/v1/workspaces/default/audit?limit=1000")
        .await
        .text
}

#[tokio::test]
async fn a_run_token_never_becomes_an_owner_token_nor_administers() {
    let s = TestServer::start().await;
    let admin = s.member("ada", "admin").await;
    // An admin may not open a run that acts as the owner…
    open_run(&s, &admin, run_body(Some("owner"), "manual"))
        .await
        .assert_error(403, "forbidden");
    // …nor may an admin service token, unless the owner granted it.
    let engine = s.service_token("engine", "admin").await;
    open_run(&s, &engine, run_body(Some("owner"), "manual"))
        .await
        .assert_error(403, "forbidden");
    let r = s
        .call(
            &admin,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "e2", "workspace": "default", "role": "admin", "run_as_users": true})),
        )
        .await;
    r.assert_error(403, "forbidden");
    let r = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "e3", "workspace": "default", "role": "admin", "run_as_users": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["run_as_users"], true);
    let granted = r.json()["token"].as_str().unwrap().to_owned();
    let run = run_token(&s, &granted, run_body(Some("owner"), "manual")).await;
    // An admin acting as itself is fine.
    let own = run_token(&s, &admin, run_body(Some("ada"), "manual")).await;

    for run in [&run, &own] {
        for (method, path, body) in [
            (Method::POST, "/v1/tokens", Some(json!({"name": "x"}))),
            (Method::GET, "/v1/tokens", None),
            (
                Method::POST,
                "/v1/workspaces",
                Some(json!({"name": "mine"})),
            ),
            (Method::GET, "/v1/me", None),
            (Method::GET, "/v1/workspaces", None),
            (Method::GET, "/v1/workspaces/default/members", None),
            (
                Method::PATCH,
                "/v1/workspaces/default/settings",
                Some(json!({"allow_rename": true})),
            ),
            (Method::GET, "/v1/workspaces/default/audit", None),
            (
                Method::POST,
                "/v1/runs",
                Some(json!({"workspace": "default", "trigger": "manual"})),
            ),
        ] {
            s.call(run, method.clone(), path, body)
                .await
                .assert_error(403, "forbidden");
        }
        // Revoking someone's token: refused before the token is even looked up.
        let ids: Vec<String> = s.get(&s.owner, "/v1/tokens").await.json()["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        for id in &ids {
            s.call(run, Method::DELETE, &format!("/v1/tokens/{id}"), None)
                .await
                .assert_error(403, "forbidden");
        }
    }
    // No token was made by a run, and the refusals are on the workspace's audit page.
    let tokens = s.get(&s.owner, "/v1/tokens").await.text;
    assert!(!tokens.contains("\"x\""), "{tokens}");
    let a = audit(&s).await;
    assert!(a.contains("denied:forbidden"), "{a}");
    assert!(a.contains("run.open"), "{a}");
}

#[tokio::test]
async fn a_run_ends_with_its_opener_its_user_and_on_request() {
    let s = TestServer::start().await;
    // Revoking the service token that opened a run ends the run.
    let engine = s.service_token("engine", "admin").await;
    let run = run_token(
        &s,
        &engine,
        json!({"workspace": "default", "trigger": "webhook", "ttl": 3600}),
    )
    .await;
    assert_eq!(run_alive(&s, &run).await, 200);
    let id = s.get(&s.owner, "/v1/tokens").await.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "engine")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .call(&s.owner, Method::DELETE, &format!("/v1/tokens/{id}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(run_alive(&s, &run).await, 401);

    // An admin who opened a run and is then removed: the run ends.
    let admin = s.member("ada", "admin").await;
    let run = run_token(&s, &admin, run_body(None, "manual")).await;
    assert_eq!(run_alive(&s, &run).await, 200);
    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            "/v1/workspaces/default/members/ada",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(run_alive(&s, &run).await, 401);

    // A run acting as a member ends when that member leaves.
    s.member("bob", "viewer").await;
    let run = run_token(&s, &s.owner, run_body(Some("bob"), "manual")).await;
    assert_eq!(run_alive(&s, &run).await, 200);
    s.call(
        &s.owner,
        Method::DELETE,
        "/v1/workspaces/default/members/bob",
        None,
    )
    .await;
    assert_eq!(run_alive(&s, &run).await, 401);

    // DELETE /v1/runs/{id} ends one, with its references.
    s.put(&s.owner, "k", json!({"value": "value-for-k-123456"}))
        .await;
    let r = open_run(&s, &s.owner, run_body(None, "manual")).await;
    let (run, run_id) = (
        r.json()["token"].as_str().unwrap().to_owned(),
        r.json()["run_id"].as_str().unwrap().to_owned(),
    );
    let get = s
        .call(
            &run,
            Method::POST,
            "/v1/run/secrets/get",
            Some(json!({"name": "k", "scope": "workspace"})),
        )
        .await;
    assert_eq!(get.status, 200, "{}", get.text);
    let viewer = s.member("vera", "viewer").await;
    s.call(&viewer, Method::DELETE, &format!("/v1/runs/{run_id}"), None)
        .await
        .assert_error(403, "forbidden");
    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            &format!("/v1/runs/{run_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(run_alive(&s, &run).await, 401);
    s.call(
        &s.owner,
        Method::DELETE,
        &format!("/v1/runs/{run_id}"),
        None,
    )
    .await
    .assert_error(404, "not_found");
    assert!(audit(&s).await.contains("run.end"));

    // The longest run is configurable, 1 hour by default, and never outlives its opener.
    open_run(
        &s,
        &s.owner,
        json!({"workspace": "default", "trigger": "manual", "ttl": 3601}),
    )
    .await
    .assert_error(400, "invalid");
    let short = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "short", "workspace": "default", "role": "admin", "ttl": 60})),
        )
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = run_token(
        &s,
        &short,
        json!({"workspace": "default", "trigger": "manual", "ttl": 3600}),
    )
    .await;
    s.clock.advance_seconds(61);
    assert_eq!(run_alive(&s, &run).await, 401);
}

#[tokio::test]
async fn the_longest_run_follows_the_servers_setting() {
    let s = TestServer::start_with(|c| c.max_run_ttl_seconds = 120).await;
    open_run(
        &s,
        &s.owner,
        json!({"workspace": "default", "trigger": "manual", "ttl": 121}),
    )
    .await
    .assert_error(400, "invalid");
    let r = open_run(&s, &s.owner, run_body(None, "manual")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let run = r.json()["token"].as_str().unwrap().to_owned();
    s.clock.advance_seconds(121);
    assert_eq!(
        run_alive(&s, &run).await,
        401,
        "the default is capped by the maximum"
    );
}

#[tokio::test]
async fn a_run_cannot_launder_a_restricted_value_into_a_revealable_secret() {
    let s = TestServer::start().await;
    s.put(
        &s.owner,
        "db/password",
        json!({"value": "Restricted-Pa55-word", "visibility": "restricted", "allowed_hosts": ["db.example.com", "*.example.org"]}),
    )
    .await;
    s.put(
        &s.owner,
        "other",
        json!({"value": "other-value-777", "allowed_hosts": ["api.example.org"]}),
    )
    .await;
    s.put(
        &s.owner,
        "masked-target",
        json!({"value": "placeholder-123"}),
    )
    .await;
    let run = run_token(&s, &s.owner, run_body(None, "manual")).await;
    let get = |name: &'static str| {
        let (s, run) = (&s, &run);
        async move {
            s.call(
                run,
                Method::POST,
                "/v1/run/secrets/get",
                Some(json!({"name": name, "scope": "workspace"})),
            )
            .await
            .json()["ref"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let db = get("db/password").await;
    // Stored through a reference, the copy is as restricted as its source.
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/secrets/set",
            Some(json!({"name": "copy-of-db", "value": db, "scope": "workspace"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let meta = s
        .get(&s.owner, &TestServer::secret_path("copy-of-db"))
        .await
        .json();
    assert_eq!(meta["visibility"], "restricted", "{meta}");
    let mut hosts: Vec<String> = serde_json::from_value(meta["allowed_hosts"].clone()).unwrap();
    hosts.sort();
    assert_eq!(hosts, ["*.example.org", "db.example.com"]);
    let editor = s.member("eddie", "editor").await;
    let r = s.reveal(&editor, "copy-of-db").await;
    r.assert_error(403, "forbidden");
    assert!(!r.text.contains("Restricted-Pa55"));
    // Mixed into a larger value, with another secret: the strictest of both.
    let other = get("other").await;
    let db = get("db/password").await;
    let r = s
        .call(&run, Method::POST, "/v1/run/secrets/set", Some(json!({"name": "mix", "value": {"dsn": format!("pg://u:{db}@h"), "o": other}, "scope": "workspace"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let meta = s
        .get(&s.owner, &TestServer::secret_path("mix"))
        .await
        .json();
    assert_eq!(meta["visibility"], "restricted");
    assert_eq!(meta["allowed_hosts"], json!(["api.example.org"]));
    // A restricted value never goes into an existing masked secret.
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/secrets/set",
            Some(json!({"name": "masked-target", "value": db, "scope": "workspace"})),
        )
        .await;
    r.assert_error(403, "forbidden");
    let r = s.reveal(&s.owner, "masked-target").await;
    assert!(r.text.contains("placeholder-123"), "{}", r.text);
}

#[tokio::test]
async fn the_redact_endpoint_is_no_oracle_on_values_the_run_never_used() {
    let s = TestServer::start().await;
    s.put(
        &s.owner,
        "stripe",
        json!({"value": "sk_live_51AbCdEfGhIjKl"}),
    )
    .await;
    let run = run_token(&s, &s.owner, run_body(None, "manual")).await;
    // Guesses at a value the run holds no reference to are answered unchanged:
    // nothing tells a right guess from a wrong one.
    let guesses: Vec<String> = [
        "sk_live_51abcdefghijkl",
        "sk_live_51AbCdEfGhIjKl",
        "sk_live_51ABCDEFGHIJKL",
    ]
    .iter()
    .map(|g| g.to_string())
    .collect();
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/redact",
            Some(json!({"lines": guesses})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["lines"], json!(guesses));
    // Another run's references do not count either.
    let other = run_token(&s, &s.owner, run_body(None, "manual")).await;
    let foreign = s
        .call(
            &other,
            Method::POST,
            "/v1/run/secrets/get",
            Some(json!({"name": "stripe", "scope": "workspace"})),
        )
        .await
        .json()["ref"]
        .clone();
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/redact",
            Some(json!({"refs": [foreign], "lines": guesses})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["lines"], json!(guesses));
    // Rate limited per run, and every call audited with counts only.
    let mut limited = false;
    for _ in 0..130 {
        let r = s
            .call(
                &run,
                Method::POST,
                "/v1/run/redact",
                Some(json!({"lines": ["x"]})),
            )
            .await;
        if r.status == 429 {
            r.assert_error(429, "rate_limited");
            limited = true;
            break;
        }
    }
    assert!(limited, "a run cannot redact without limit");
    let a = audit(&s).await;
    assert!(
        a.contains("run.redact") && a.contains("denied:rate_limited"),
        "{a}"
    );
    assert!(!a.contains("sk_live_51"), "no line is audited");
}

#[tokio::test]
async fn widening_allowed_hosts_is_the_owners_and_rollback_keeps_the_current_list() {
    let s = TestServer::start().await;
    let admin = s.member("ada", "admin").await;
    let r = s
        .put(
            &s.owner,
            "stripe",
            json!({"value": "sk_live_real_value_1", "allowed_hosts": ["api.stripe.com"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Clearing the list, or adding a host, is refused to an admin…
    for hosts in [
        json!([]),
        json!(["api.stripe.com", "evil.example"]),
        json!(["*.stripe.com"]),
    ] {
        s.put(
            &admin,
            "stripe",
            json!({"value": "dummy-value-123", "allowed_hosts": hosts}),
        )
        .await
        .assert_error(403, "forbidden");
    }
    // …so writing a dummy without a list and rolling back keeps the list.
    let r = s
        .put(&admin, "stripe", json!({"value": "dummy-value-123"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .call(
            &admin,
            Method::POST,
            &format!("{}/rollback", TestServer::secret_path("stripe")),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["allowed_hosts"], json!(["api.stripe.com"]));
    // Narrowing is open to whoever may write; widening to the owner, audited with both lists.
    let r = s
        .put(&s.owner, "stripe", json!({"value": "sk_live_real_value_1", "allowed_hosts": ["api.stripe.com", "files.stripe.com"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let a = audit(&s).await;
    assert!(
        a.contains("secret.allowed_hosts"),
        "denials are audited: {a}"
    );
    assert!(a.contains("files.stripe.com"), "old and new lists: {a}");
    // A run cannot widen either.
    let run = run_token(&s, &s.owner, run_body(None, "manual")).await;
    s.put(
        &run,
        "stripe",
        json!({"value": "x-123456789", "allowed_hosts": []}),
    )
    .await
    .assert_error(403, "forbidden");
}

#[tokio::test]
async fn json_patch_test_and_size_errors_say_nothing_about_a_restricted_value() {
    let s = TestServer::start().await;
    s.put(
        &s.owner,
        "card",
        json!({"value": {"pin": "4821", "holder": "A. Person"}, "visibility": "restricted"}),
    )
    .await;
    let patch = |doc: Value, ct: &'static str| {
        let s = &s;
        async move {
            s.raw(
                s.http
                    .patch(format!("{}{}", s.url, TestServer::secret_path("card")))
                    .bearer_auth(&s.owner)
                    .header("content-type", ct)
                    .body(doc.to_string()),
            )
            .await
        }
    };
    // A right and a wrong guess get the same refusal, before anything is compared.
    let wrong = patch(
        json!([{"op": "test", "path": "/pin", "value": "0000"}]),
        "application/json-patch+json",
    )
    .await;
    let right = patch(
        json!([{"op": "test", "path": "/pin", "value": "4821"}]),
        "application/json-patch+json",
    )
    .await;
    wrong.assert_error(403, "forbidden");
    right.assert_error(403, "forbidden");
    assert_eq!(wrong.json()["message"], right.json()["message"]);
    let a = audit(&s).await;
    assert!(
        a.contains("secret.reveal") && a.contains("denied:forbidden"),
        "{a}"
    );
    // A patch that makes the value too large does not say how large it was.
    let big = "x".repeat(65_500);
    let r = patch(json!({"pad": big}), "application/merge-patch+json").await;
    r.assert_error(413, "too_large");
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(
        !message.chars().any(|c| c.is_ascii_digit()) || message.contains("65536"),
        "{message}"
    );
    for n in 65_537..65_600 {
        assert!(
            !message.contains(&n.to_string()),
            "the value's size leaked: {message}"
        );
    }
    // Editors may test masked values they could reveal anyway.
    s.put(&s.owner, "m", json!({"value": {"a": "b-123456"}}))
        .await;
    let r = s
        .raw(
            s.http
                .patch(format!("{}{}", s.url, TestServer::secret_path("m")))
                .bearer_auth(&s.owner)
                .header("content-type", "application/json-patch+json")
                .body(json!([{"op": "test", "path": "/a", "value": "b-123456"}, {"op": "add", "path": "/c", "value": 1}]).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn cron_runs_have_no_user_scope_even_when_opened_with_a_user() {
    let s = TestServer::start().await;
    let run = run_token(&s, &s.owner, run_body(Some("owner"), "cron")).await;
    for (path, body) in [
        (
            "/v1/run/secrets/set",
            json!({"name": "u", "value": "user-value-123", "scope": "user"}),
        ),
        ("/v1/run/secrets/get", json!({"name": "u", "scope": "user"})),
        (
            "/v1/run/secrets/delete",
            json!({"name": "u", "scope": "user"}),
        ),
    ] {
        s.call(&run, Method::POST, path, Some(body))
            .await
            .assert_error(400, "user_required");
    }
    // The same run may still use the workspace scope, and a manual run the user scope.
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/secrets/set",
            Some(json!({"name": "w", "value": "ws-value-123", "scope": "workspace"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let manual = run_token(&s, &s.owner, run_body(Some("owner"), "manual")).await;
    let r = s
        .call(
            &manual,
            Method::POST,
            "/v1/run/secrets/set",
            Some(json!({"name": "u", "value": "user-value-123", "scope": "user"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn viewers_cannot_read_flow_source_and_flow_writes_are_authorized_before_parsing() {
    let s = TestServer::start().await;
    let flow = "do:\n  - run:\n      module: secrets\n      function: set\n      parameters:\n        name: cached\n        value: literal-value-in-flow-123\n        scope: workspace\n";
    let put = |token: String, body: &'static str| {
        let s = &s;
        async move {
            s.raw(
                s.http
                    .put(format!("{}/v1/workspaces/default/flows/f", s.url))
                    .bearer_auth(token)
                    .header("content-type", "application/yaml")
                    .body(body),
            )
            .await
        }
    };
    let r = put(s.owner.clone(), flow).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for role in ["viewer", "editor"] {
        let t = s.member(&format!("m-{role}"), role).await;
        let r = s.get(&t, "/v1/workspaces/default/flows/f").await;
        r.assert_error(403, "forbidden");
        assert!(!r.text.contains("literal-value-in-flow"));
        // Refused as such, not as a YAML error: the body is never parsed.
        put(t.clone(), "::: not yaml {{")
            .await
            .assert_error(403, "forbidden");
        // Listing names stays open to members.
        assert_eq!(s.get(&t, "/v1/workspaces/default/flows").await.status, 200);
    }
}

#[tokio::test]
async fn names_that_only_look_alike_are_refused_or_merged() {
    let s = TestServer::start().await;
    for bad in [
        "stripe\u{202E}yek",
        "api\u{200B}key",
        " key",
        "key ",
        "ke\u{00AD}y",
    ] {
        let r = s.put(&s.owner, bad, json!({"value": "v-123456789"})).await;
        r.assert_error(400, "invalid");
    }
    // NFC: two spellings of "café" are one secret.
    let r = s
        .put(&s.owner, "caf\u{e9}", json!({"value": "v-123456789"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s
        .get(
            &s.owner,
            &format!("/v1/workspaces/default/secrets/{}", enc("cafe\u{301}")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"], "caf\u{e9}");
    let r = s
        .put(&s.owner, "cafe\u{301}", json!({"value": "v-2-123456"}))
        .await;
    assert_eq!(r.status, 200, "an update, not a second secret: {}", r.text);
}

#[tokio::test]
async fn runs_see_no_fingerprints_to_compare_guesses_with() {
    let s = TestServer::start().await;
    s.put(&s.owner, "k", json!({"value": "value-for-k-123456"}))
        .await;
    let run = run_token(&s, &s.owner, run_body(None, "manual")).await;
    let m = s.get(&run, &TestServer::secret_path("k")).await.json();
    assert_eq!(m["fingerprint"], "", "{m}");
    let list = s.get(&run, "/v1/workspaces/default/secrets").await.json();
    assert!(list["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["fingerprint"] == ""));
    let v = s
        .get(&run, &format!("{}/versions", TestServer::secret_path("k")))
        .await
        .json();
    assert!(v.to_string().contains("\"fingerprint\":\"\""), "{v}");
    // People still see them.
    let m = s.get(&s.owner, &TestServer::secret_path("k")).await.json();
    assert_ne!(m["fingerprint"], "");
}
