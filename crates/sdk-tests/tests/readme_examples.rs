//! The README's SDK examples (crates/client/examples), run in the README's order
//! against one real server, as a newcomer would run them one after another: each
//! must succeed on what the ones before it left behind. Then the answer a wrong
//! token gets, which must carry the server's own error code and message.

use lockbox_client::{Client, ErrorCode};

#[path = "../../client/examples/delete.rs"]
mod delete;
#[path = "../../client/examples/exists.rs"]
mod exists;
#[path = "../../client/examples/patch.rs"]
mod patch;
#[path = "../../client/examples/patch_callback.rs"]
mod patch_callback;
#[path = "../../client/examples/put_get.rs"]
mod put_get;
#[path = "../../client/examples/typed_get.rs"]
mod typed_get;

#[test]
fn readme_examples_pass_in_readme_order_and_a_wrong_token_reads_the_servers_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let server = rt
        .block_on(lockbox_server::start(lockbox_server::ServerConfig {
            data_dir: tmp.path().join("data"),
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        }))
        .expect("server starts");
    let token = server
        .init_token
        .clone()
        .expect("first start makes a token")
        .into_exposed();
    // The examples read the environment, as the README runs them. This is the
    // only test in this binary, so nothing else reads it concurrently.
    std::env::set_var("LOCKBOX_ADDR", server.url());
    std::env::set_var("LOCKBOX_TOKEN", &token);

    // README: put_get, then exists, patch, patch_callback, delete, typed_get.
    put_get::main().expect("put_get");
    exists::main().expect("exists");
    patch::main().expect("patch");
    patch_callback::main().expect("patch_callback");
    patch_callback::main().expect("patch_callback, run again");
    delete::main().expect("delete");
    typed_get::main().expect("typed_get after patch_callback");

    // A wrong token: the server's code and message, not a bare status, also
    // through `exists` (a HEAD, whose answer has no body).
    std::env::set_var("LOCKBOX_TOKEN", "lbx_not_a_real_token");
    let err = exists::main().expect_err("a wrong token is refused");
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated), "{err}");
    assert_eq!(err.status(), Some(401));
    assert!(
        !err.message().contains("without a Lockbox error body"),
        "{err}"
    );
    assert!(err.request_id().is_some(), "{err:?}");
    let client = Client::new(&server.url(), "lbx_not_a_real_token").unwrap();
    let err = rt.block_on(client.me()).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated), "{err}");
    assert!(!err.message().contains("without a Lockbox error body"));

    // A value of another shape under a name names the type and the field.
    let owner = Client::new(&server.url(), &token).unwrap();
    rt.block_on(owner.secrets("default").put(
        "token",
        &serde_json::json!({"counter": 1, "hour": 2, "token": "t"}),
    ))
    .unwrap();
    std::env::set_var("LOCKBOX_TOKEN", &token);
    let err = typed_get::main().expect_err("another shape does not decode");
    let text = err.to_string();
    assert!(text.contains("secret 'token'"), "{text}");
    assert!(text.contains("Token"), "{text}");
    assert!(text.contains("missing field `value`"), "{text}");
    drop(server);
}
