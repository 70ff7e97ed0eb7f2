//! Every route of the OpenAPI document × every kind of principal: each route has a
//! decision in the role matrix (its gate), and the server answers what the matrix
//! says: a refusal (403) where the matrix refuses, never 401/403 where it allows.
//! A route added without a gate fails here before it can ship.

mod support;

use lockbox_core::{account_allowed, allowed, Action, Actor, CallerKind, Role};
use lockbox_server::routes::gate::{gate_for, Gate};
use reqwest::Method;
use serde_json::{json, Value};
use support::TestServer;

#[derive(Debug, Clone)]
struct Principal {
    label: String,
    token: Option<String>,
    /// A console session cookie instead of a bearer token.
    cookie: Option<String>,
    kind: CallerKind,
    role: Option<Role>,
}

fn expected(gate: Gate, p: &Principal) -> bool {
    match gate {
        Gate::Account(a) => account_allowed(p.kind, a),
        Gate::Workspace(a) => match (p.kind, p.role) {
            (CallerKind::Run, _) => false,
            (_, Some(r)) => allowed(Actor::Member(r), a),
            _ => false,
        },
        Gate::Secrets(a) => match (p.kind, p.role) {
            (CallerKind::Run, _) => allowed(Actor::Run, a),
            (_, Some(r)) => allowed(Actor::Member(r), a),
            _ => false,
        },
        Gate::Run(a) => p.kind == CallerKind::Run && allowed(Actor::Run, a),
    }
}

/// A concrete path for a route template, with fixtures that exist where it matters.
fn concrete(template: &str) -> String {
    template
        .replace("{ws}", "default")
        .replace("{name}", "probe")
        .replace("{slug}", "probe-flow")
        .replace("{user}", "nobody")
        .replace("{owner}", "platform")
        .replace("{op}", "undelete")
        .replace("{id}", "no-such-id")
}

async fn sign_in(s: &TestServer, token: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/console/sign-in", s.url))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn every_route_has_a_matrix_decision_for_every_principal() {
    let s = TestServer::start_with(|c| c.egress_allow_private = true).await;
    let mut principals = vec![Principal {
        label: "owner".into(),
        token: Some(s.owner.clone()),
        cookie: None,
        kind: CallerKind::Person,
        role: Some(Role::Owner),
    }];
    for (user, role) in [
        ("ada", Role::Admin),
        ("eddie", Role::Editor),
        ("vera", Role::Viewer),
    ] {
        principals.push(Principal {
            label: format!("person {role}"),
            token: Some(s.member(user, role.as_str()).await),
            cookie: None,
            kind: CallerKind::Person,
            role: Some(role),
        });
    }
    for role in Role::ALL {
        principals.push(Principal {
            label: format!("service token {role}"),
            token: Some(s.service_token(&format!("svc-{role}"), role.as_str()).await),
            cookie: None,
            kind: CallerKind::ServiceToken,
            role: Some(role),
        });
    }
    for user in [None, Some("owner")] {
        let mut body = json!({"workspace": "default", "trigger": "manual", "ttl": 3600});
        if let Some(u) = user {
            body["user"] = json!(u);
        }
        let r = s.call(&s.owner, Method::POST, "/v1/runs", Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        principals.push(Principal {
            label: format!("run (user {user:?})"),
            token: Some(r.json()["token"].as_str().unwrap().to_owned()),
            cookie: None,
            kind: CallerKind::Run,
            role: None,
        });
    }
    // A console session is a cookie; the /v1 API never takes it.
    let cookie = sign_in(&s, &s.owner).await;
    principals.push(Principal {
        label: "console session".into(),
        token: None,
        cookie: Some(cookie),
        kind: CallerKind::Person,
        role: Some(Role::Owner),
    });

    let doc: Value = s
        .http
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes: Vec<(Method, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            routes.push((m, path.clone()));
        }
    }
    assert!(
        routes.len() >= 35,
        "the OpenAPI document lists every route: {}",
        routes.len()
    );
    // Deleting the workspace goes last: afterwards nothing else can be checked.
    routes.sort_by_key(|(m, p)| {
        (
            *m == Method::DELETE && p == "/v1/workspaces/{ws}",
            p.clone(),
        )
    });

    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (method, template) in &routes {
        let op = if template.ends_with("/versions/{op}") {
            Some("undelete".to_owned())
        } else {
            None
        };
        let Some(gate) = gate_for(
            method,
            template,
            |k| if k == "op" { op.clone() } else { None },
        ) else {
            missing.push(format!("{method} {template}"));
            continue;
        };
        // Recreate what earlier calls may have removed.
        s.put(&s.owner, "probe", json!({"value": "probe-value-123456"}))
            .await;
        let path = concrete(template);
        // Refused principals first, so an allowed destructive call cannot hide them.
        let mut order = principals.clone();
        // Among the allowed, people last: a service token dies with a deleted workspace.
        order.sort_by_key(|p| (expected(gate, p), p.kind == CallerKind::Person));
        for p in &order {
            let mut req = s.http.request(method.clone(), format!("{}{path}", s.url));
            if let Some(t) = &p.token {
                req = req.bearer_auth(t);
            }
            if let Some(c) = &p.cookie {
                req = req.header("cookie", c);
            }
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                req = req.json(&json!({}));
            }
            let r = s.raw(req).await;
            let status = r.status.as_u16();
            let ok = if p.cookie.is_some() {
                status == 401
            } else if expected(gate, p) {
                status != 401 && status != 403
            } else {
                status == 403
            };
            if !ok {
                wrong.push(format!(
                    "{method} {template} as {}: gate {gate:?} expects {}, got {status} {}",
                    p.label,
                    if expected(gate, p) {
                        "allowed"
                    } else {
                        "refused"
                    },
                    r.text
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a matrix decision: {missing:#?}"
    );
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn a_route_outside_the_gate_table_is_refused() {
    // The table is the only source of decisions: an unknown /v1 route has none.
    assert_eq!(gate_for(&Method::GET, "/v1/secret-admin", |_| None), None);
    assert_eq!(
        gate_for(
            &Method::GET,
            "/v1/workspaces/{ws}/secrets/{name}/reveal",
            |_| None
        ),
        None,
        "reveal is a POST; a GET has no decision"
    );
    assert_eq!(
        gate_for(
            &Method::POST,
            "/v1/workspaces/{ws}/secrets/{name}/reveal",
            |_| None
        ),
        Some(Gate::Secrets(Action::RevealMasked))
    );
}
