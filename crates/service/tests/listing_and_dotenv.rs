//! The console's list and `.env` transfer, at the service (issue 18): paging
//! reaches every secret, sorts by name and by update, search covers names,
//! descriptions and labels (and `name:` prefixes), and no answer carries a value;
//! import previews without values, imports one audited put per chosen key and
//! overwrites only on request; export gives values only to roles that may reveal.

use lockbox_core::{Role, Scope, SecretName, UserName};
use lockbox_service::{
    ExportFormat, ListOptions, ListSort, Lockbox, Principal, PutSecret, RequestCtx, ServiceConfig,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

async fn env() -> (tempfile::TempDir, Lockbox, Principal) {
    let dir = tempfile::tempdir().unwrap();
    let svc = Lockbox::open(dir.path(), None, ServiceConfig::default())
        .await
        .unwrap();
    let token = svc
        .bootstrap()
        .await
        .unwrap()
        .expect("first start")
        .into_exposed();
    let owner = svc.authenticate(&token).await.unwrap();
    (dir, svc, owner)
}

fn put(value: &str, description: &str, labels: Option<BTreeMap<String, String>>) -> PutSecret {
    PutSecret {
        value: json!(value).into(),
        description: Some(description.to_owned()),
        visibility: None,
        ttl_seconds: None,
        if_match: None,
        allowed_hosts: None,
        create_only: false,
        labels,
    }
}

fn opts(search: &str, sort: ListSort, descending: bool, page: u32, per_page: u32) -> ListOptions {
    ListOptions {
        search: search.into(),
        sort,
        descending,
        page,
        per_page,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_sorting_and_search_over_names_descriptions_and_labels() {
    let (_dir, svc, owner) = env().await;
    let ctx = RequestCtx::default();
    for i in 0..120 {
        let labels = (i == 42).then(|| BTreeMap::from([("team".into(), "Billing".into())]));
        svc.put_secret(
            &owner,
            "default",
            Scope::Workspace,
            &SecretName::parse(&format!("svc-{i:03}")).unwrap(),
            put(
                &format!("value-{i:03}-xxxxxxxx"),
                &format!("Service {i:03} key"),
                labels,
            ),
            &ctx,
        )
        .await
        .unwrap();
    }
    // svc-007 is written last, in a later millisecond: the newest.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    svc.put_secret(
        &owner,
        "default",
        Scope::Workspace,
        &SecretName::parse("svc-007").unwrap(),
        put("value-007-again-xxxx", "Service 007 key", None),
        &ctx,
    )
    .await
    .unwrap();

    // Every secret, once, in name order, over the pages.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let p = svc
            .browse_secrets(
                &owner,
                "default",
                Scope::Workspace,
                &opts("", ListSort::Name, false, page, 50),
                &ctx,
            )
            .await
            .unwrap();
        assert_eq!((p.matched, p.pages, p.page), (120, 3, page));
        seen.extend(p.secrets.into_iter().map(|m| m.name));
    }
    let want: Vec<String> = (0..120).map(|i| format!("svc-{i:03}")).collect();
    assert_eq!(seen, want);
    // A page past the end is the last page.
    let last = svc
        .browse_secrets(
            &owner,
            "default",
            Scope::Workspace,
            &opts("", ListSort::Name, false, 99, 50),
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!((last.page, last.secrets.len()), (3, 20));
    // Name descending; update descending (newest first).
    let desc = svc
        .browse_secrets(
            &owner,
            "default",
            Scope::Workspace,
            &opts("", ListSort::Name, true, 1, 5),
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(desc.secrets[0].name, "svc-119");
    let newest = svc
        .browse_secrets(
            &owner,
            "default",
            Scope::Workspace,
            &opts("", ListSort::Updated, true, 1, 5),
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(newest.secrets[0].name, "svc-007");
    // Search: a description, a label value (any case), a name prefix, nothing.
    let names =
        |p: lockbox_service::ListingPage| p.secrets.into_iter().map(|m| m.name).collect::<Vec<_>>();
    let by = |q: &'static str| {
        let svc = &svc;
        let owner = &owner;
        let ctx = &ctx;
        async move {
            svc.browse_secrets(
                owner,
                "default",
                Scope::Workspace,
                &opts(q, ListSort::Name, false, 1, 50),
                ctx,
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(names(by("service 099").await), ["svc-099"]);
    assert_eq!(names(by("billing").await), ["svc-042"]);
    assert_eq!(by("name:svc-1").await.matched, 20);
    assert_eq!(by("no-such").await.matched, 0);
    // Metadata only: no answer holds a value.
    let all = serde_json::to_string(&by("").await).unwrap();
    assert!(!all.contains("value-0"), "{all}");
    // Bad page sizes are refused in words.
    let e = svc
        .browse_secrets(
            &owner,
            "default",
            Scope::Workspace,
            &opts("", ListSort::Name, false, 1, 0),
            &ctx,
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("between 1 and"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_previews_without_values_overwrites_on_request_and_export_needs_reveal() {
    let (_dir, svc, owner) = env().await;
    let ctx = RequestCtx::default();
    let name = |n: &str| SecretName::parse(n).unwrap();
    svc.put_secret(
        &owner,
        "default",
        Scope::Workspace,
        &name("EXISTS"),
        put("old-value-123456", "kept", None),
        &ctx,
    )
    .await
    .unwrap();
    let text = "A=alpha-value-123456\nEXISTS=new-value-654321\nB=\"two\\nlines\"\n";
    let rows = svc
        .import_preview(&owner, "default", Scope::Workspace, text, &ctx)
        .await
        .unwrap();
    let shown = serde_json::to_string(&rows).unwrap();
    assert!(
        !shown.contains("alpha") && !shown.contains("654321"),
        "{shown}"
    );
    assert_eq!(
        rows.iter()
            .map(|r| (r.key.as_str(), r.line, r.exists))
            .collect::<Vec<_>>(),
        [("A", 1, false), ("EXISTS", 2, true), ("B", 3, false)]
    );
    // All keys chosen, no overwrite: EXISTS is left alone.
    let all: BTreeSet<String> = ["A", "EXISTS", "B"].map(String::from).into();
    let out = svc
        .import_dotenv(
            &owner,
            "default",
            Scope::Workspace,
            text,
            Some(&all),
            false,
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(
        (out.created.len(), out.updated.len(), out.skipped.clone()),
        (2, 0, vec!["EXISTS".to_owned()])
    );
    let reveal = |n: &'static str| {
        let (svc, owner, ctx) = (&svc, &owner, &ctx);
        async move {
            let (v, _) = svc
                .reveal_secret(
                    owner,
                    "default",
                    Scope::Workspace,
                    &SecretName::parse(n).unwrap(),
                    None,
                    ctx,
                )
                .await
                .unwrap();
            // EXPOSE: the test compares the stored value with what was imported.
            String::from_utf8(v.expose().to_vec()).unwrap()
        }
    };
    assert_eq!(reveal("B").await, "\"two\\nlines\"");
    assert_eq!(reveal("EXISTS").await, "\"old-value-123456\"");
    let out = svc
        .import_dotenv(
            &owner,
            "default",
            Scope::Workspace,
            text,
            Some(&["EXISTS".to_owned()].into()),
            true,
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(out.updated, ["EXISTS"]);
    assert_eq!(reveal("EXISTS").await, "\"new-value-654321\"");

    // Export: names for a viewer; values refused to the viewer, given to the owner.
    let added = svc
        .add_member(
            &owner,
            "default",
            &UserName::parse("vic").unwrap(),
            Role::Viewer,
            &ctx,
        )
        .await
        .unwrap();
    let viewer = svc
        // EXPOSE: the test signs in with the token the new member was given.
        .authenticate(added.token.unwrap().expose())
        .await
        .unwrap();
    let names_only = svc
        .export_secrets(
            &viewer,
            "default",
            Scope::Workspace,
            ExportFormat::Env,
            false,
            &ctx,
        )
        .await
        .unwrap();
    assert!(
        names_only.contains("\n# kept\nEXISTS=\n"),
        "{}",
        names_only.as_str()
    );
    assert!(!names_only.contains("654321"));
    let e = svc
        .export_secrets(
            &viewer,
            "default",
            Scope::Workspace,
            ExportFormat::Env,
            true,
            &ctx,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "forbidden");
    let with = svc
        .export_secrets(
            &owner,
            "default",
            Scope::Workspace,
            ExportFormat::Json,
            true,
            &ctx,
        )
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&with).unwrap();
    let b = doc["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "B")
        .unwrap();
    assert_eq!(b["value"], "two\nlines");
}
