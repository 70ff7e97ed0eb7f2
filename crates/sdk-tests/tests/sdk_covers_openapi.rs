//! Every operation of the server's OpenAPI document has an SDK method. The table
//! maps each documented method and path to the `Client` method(s) that call it;
//! naming a method that does not exist does not compile, a route added to the
//! document without an SDK call fails the test, and so does a table row whose
//! route the document no longer has.

use lockbox_client::Client;
use std::collections::BTreeSet;
use utoipa::OpenApi;

/// The method's name, checked to exist on `Client`.
macro_rules! sdk {
    ($($method:ident),+) => {{
        $(let _ = Client::$method;)+
        [$(stringify!($method)),+].join(", ")
    }};
}

fn table() -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "get",
            "/v1/workspaces/{ws}/secrets",
            sdk!(list_secrets, list_all_secrets),
        ),
        (
            "put",
            "/v1/workspaces/{ws}/secrets/{name}",
            sdk!(put_secret),
        ),
        (
            "get",
            "/v1/workspaces/{ws}/secrets/{name}",
            sdk!(get_secret),
        ),
        (
            "delete",
            "/v1/workspaces/{ws}/secrets/{name}",
            sdk!(delete_secret, delete_secret_with_force),
        ),
        (
            "patch",
            "/v1/workspaces/{ws}/secrets/{name}",
            sdk!(patch_merge, patch_json),
        ),
        (
            "post",
            "/v1/workspaces/{ws}/secrets/{name}/reveal",
            sdk!(reveal, reveal_with_version),
        ),
        (
            "get",
            "/v1/workspaces/{ws}/secrets/{name}/versions",
            sdk!(versions),
        ),
        (
            "post",
            "/v1/workspaces/{ws}/secrets/{name}/rollback",
            sdk!(rollback),
        ),
        (
            "post",
            "/v1/workspaces/{ws}/secrets/{name}/rename",
            sdk!(rename, rename_with_force),
        ),
        (
            "post",
            "/v1/workspaces/{ws}/secrets/{name}/versions/{op}",
            sdk!(delete_versions, undelete_versions, destroy_versions),
        ),
        (
            "patch",
            "/v1/workspaces/{ws}/secrets/{name}/settings",
            sdk!(update_secret_settings),
        ),
        ("get", "/v1/me", sdk!(me)),
        ("get", "/v1/workspaces", sdk!(list_workspaces)),
        ("post", "/v1/workspaces", sdk!(create_workspace)),
        ("delete", "/v1/workspaces/{ws}", sdk!(delete_workspace)),
        ("get", "/v1/workspaces/{ws}/settings", sdk!(get_settings)),
        (
            "patch",
            "/v1/workspaces/{ws}/settings",
            sdk!(patch_settings),
        ),
        ("get", "/v1/workspaces/{ws}/members", sdk!(list_members)),
        ("post", "/v1/workspaces/{ws}/members", sdk!(add_member)),
        (
            "put",
            "/v1/workspaces/{ws}/members/{user}",
            sdk!(set_member_role),
        ),
        (
            "delete",
            "/v1/workspaces/{ws}/members/{user}",
            sdk!(remove_member),
        ),
        ("get", "/v1/workspaces/{ws}/audit", sdk!(audit)),
        ("get", "/v1/audit", sdk!(account_audit)),
        (
            "post",
            "/v1/tokens",
            sdk!(
                create_service_token,
                create_service_token_with,
                create_personal_token
            ),
        ),
        ("get", "/v1/tokens", sdk!(list_tokens)),
        ("delete", "/v1/tokens/{id}", sdk!(revoke_token)),
        (
            "patch",
            "/v1/tokens/{id}",
            sdk!(set_token_default_workspace),
        ),
        (
            "put",
            "/v1/workspaces/{ws}/bindings/{owner}",
            sdk!(put_bindings),
        ),
        ("get", "/v1/workspaces/{ws}/flows", sdk!(list_flows)),
        ("put", "/v1/workspaces/{ws}/flows/{slug}", sdk!(put_flow)),
        ("get", "/v1/workspaces/{ws}/flows/{slug}", sdk!(get_flow)),
        (
            "delete",
            "/v1/workspaces/{ws}/flows/{slug}",
            sdk!(delete_flow),
        ),
        (
            "post",
            "/v1/workspaces/{ws}/flows/{slug}/runs",
            sdk!(run_flow),
        ),
        (
            "post",
            "/v1/workspaces/{ws}/scripts/run",
            sdk!(run_script_typed, run_script),
        ),
        ("post", "/v1/runs", sdk!(open_run)),
        ("delete", "/v1/runs/{id}", sdk!(end_run)),
        ("post", "/v1/run/secrets/set", sdk!(run_set_secret)),
        ("post", "/v1/run/secrets/get", sdk!(run_get_secret)),
        ("post", "/v1/run/secrets/delete", sdk!(run_delete_secret)),
        ("post", "/v1/run/fetch", sdk!(run_fetch)),
        ("post", "/v1/run/redact", sdk!(run_redact)),
    ]
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(lockbox_server::routes::ops::ApiDoc::openapi()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_documented_operation_has_an_sdk_method() {
    let documented = documented();
    assert!(documented.len() > 30, "{documented:?}");
    let covered: BTreeSet<(String, String)> = table()
        .into_iter()
        .map(|(m, p, _)| (m.to_owned(), p.to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "operations without an SDK method: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "table rows the document does not have: {stale:?}"
    );
}

#[test]
fn the_document_describes_bodies_with_the_wire_types() {
    let doc = serde_json::to_value(lockbox_server::routes::ops::ApiDoc::openapi()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "SecretMeta",
        "SecretPage",
        "VersionList",
        "Revealed",
        "PutBody",
        "CreatedToken",
        "AddedMember",
        "OpenedRun",
        "RunSetBody",
        "ErrorBody",
        "Me",
        "AuditPage",
        "Bindings",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    let put = &doc["paths"]["/v1/workspaces/{ws}/secrets/{name}"]["put"];
    assert_eq!(
        put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SecretMeta"
    );
    assert_eq!(
        put["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PutBody"
    );
    let meta = &schemas["SecretMeta"]["properties"];
    assert!(meta.get("allowed_hosts").is_some() && meta.get("bindings").is_some());
    // The automation routes answer with wire types too.
    for (path, method, status, schema) in [
        ("/v1/runs", "post", "201", "OpenedRun"),
        ("/v1/runs/{id}", "delete", "200", "Ended"),
        ("/v1/run/secrets/set", "post", "200", "SecretRef"),
        ("/v1/run/secrets/get", "post", "200", "SecretRef"),
        ("/v1/run/secrets/delete", "post", "200", "Deleted"),
        ("/v1/run/redact", "post", "200", "Redacted"),
        ("/v1/workspaces/{ws}/flows", "get", "200", "FlowList"),
        (
            "/v1/workspaces/{ws}/flows/{slug}",
            "put",
            "200",
            "StoredFlow",
        ),
        (
            "/v1/workspaces/{ws}/flows/{slug}",
            "delete",
            "200",
            "Deleted",
        ),
        (
            "/v1/workspaces/{ws}/flows/{slug}/runs",
            "post",
            "200",
            "FlowRun",
        ),
        (
            "/v1/workspaces/{ws}/scripts/run",
            "post",
            "200",
            "ScriptRun",
        ),
    ] {
        assert_eq!(
            doc["paths"][path][method]["responses"][status]["content"]["application/json"]
                ["schema"]["$ref"],
            format!("#/components/schemas/{schema}"),
            "{method} {path}"
        );
    }
}
