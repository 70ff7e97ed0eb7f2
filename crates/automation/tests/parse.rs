//! The parser and the static checks, without a Lockbox: malformed input is an
//! `invalid` error with a line and column (never a panic), bindings list every
//! secret a flow names, and `validate` refuses outputs that depend on a secret.

use lockbox_automation::{bindings, validate, Binding, Flow, FlowError};

fn err(yaml: &str) -> FlowError {
    Flow::from_yaml(yaml).expect_err("must be refused")
}

fn at(e: &FlowError) -> (u32, u32) {
    (e.line.expect("line"), e.column.expect("column"))
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let e = err("do:\n  - run:\n      module: [secrets\n");
    assert_eq!(e.code, "invalid");
    assert!(e.message.starts_with("malformed YAML"), "{e}");
    assert!(e.line.unwrap() >= 3, "{e:?}");
    assert!(e.column.is_some());

    let e = err("do:\n  - fetch: {url: \"x\"\n  bad: : :\n");
    assert_eq!(e.code, "invalid");
    assert!(e.line.is_some());
}

#[test]
fn unknown_instruction_module_function_and_fields() {
    let e = err("do:\n  - fetch:\n      url: https://x.example\n  - exec:\n      cmd: ls\n");
    assert_eq!(e.code, "invalid");
    assert_eq!(e.path, "do[1].exec");
    assert_eq!(at(&e), (4, 5));
    assert!(e.message.contains("unknown instruction 'exec'"), "{e}");

    let e = err("- run:\n    module: shell\n    function: get\n    parameters: {name: a, scope: workspace}\n");
    assert_eq!(e.path, "do[0].run.module");
    assert_eq!(at(&e), (2, 13));
    assert!(e.message.contains("unknown module 'shell'"));

    let e = err("- run:\n    module: secrets\n    function: list\n    parameters: {name: a, scope: workspace}\n");
    assert_eq!(e.path, "do[0].run.function");
    assert_eq!(at(&e), (3, 15));

    let e = err("- run:\n    module: secrets\n    function: get\n    parameters:\n      name: a\n");
    assert!(e.message.contains("needs parameter 'scope'"), "{e}");
    assert_eq!(e.path, "do[0].run.parameters.scope");
    assert_eq!(e.line, Some(5));

    let e = err("- run:\n    module: secrets\n    function: get\n    parameters: {name: a, scope: galaxy}\n");
    assert!(e.message.contains("scope"), "{e}");

    let e = err("- fetch:\n    method: GET\n");
    assert_eq!(e.path, "do[0].fetch.url");
    assert!(e.message.contains("missing required field 'url'"));

    let e = err("- fetch:\n    url: https://x.example\n    retries: 3\n");
    assert_eq!(e.path, "do[0].fetch.retries");
    assert_eq!(at(&e), (3, 5));

    let e = err("- emit:\n    payload: {}\n");
    assert!(e.message.contains("'event'"));

    let e = err("- run:\n    module: secrets\n    function: get\n    parameters: {name: a, scope: workspace}\n    output: config\n");
    assert!(e.message.contains("reserved"));

    let e = err("- run:\n    module: secrets\n    function: get\n    parameters: {name: a, scope: workspace}\n    onError: retry\n");
    assert_eq!(e.path, "do[0].run.onError");

    let e = err("slug: x\nsteps: []\n");
    assert!(e.message.contains("unknown field 'steps'"));
    let e = err("slug: x\n");
    assert!(e.message.contains("'do:'"));
    let e = err("");
    assert_eq!(e.code, "invalid");
    let e = err("42");
    assert_eq!(e.code, "invalid");
}

#[test]
fn bad_templates_report_where() {
    let e = err("- fetch:\n    url: https://x.example/{{ a b }}\n");
    assert_eq!(e.path, "do[0].fetch.url");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("bad template"), "{e}");
    // The column points into the string, past the start of the value.
    assert!(e.column.unwrap() > 10, "{e:?}");

    let e = err("- conditions:\n    '{{result.error':\n      - emit: {event: x}\n");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("unterminated"), "{e}");
}

#[test]
fn errors_never_quote_a_value_from_the_document() {
    let e = err("- run:\n    module: secrets\n    function: set\n    parameters:\n      name: k\n      value: \"sk-live-abc123\"\n      scope: workspace\n      value2: \"sk-live-abc123\"\n");
    assert!(!e.to_string().contains("sk-live-abc123"), "{e}");
    let e = err("- run:\n    module: secrets\n    value: [\"sk-live-abc123\"\n");
    assert!(!e.to_string().contains("sk-live-abc123"), "{e}");
}

const OAUTH: &str = r#"
slug: call-with-oauth
do:
  - fetch:
      url: https://auth.example.com/oauth/token
      method: POST
      body:
        client_id: "{{config.clientId}}"
        client_secret: "{{secret.clientSecret}}"
      output: authResponse
  - run:
      module: secrets
      function: set
      parameters:
        name: oauthToken
        value: "{{authResponse.access_token}}"
        scope: workspace
        ttl: 3600
      output: tokenRef
  - conditions:
      '{{secret.flag}}':
        - run:
            module: secrets
            function: delete
            parameters: {name: oldToken, scope: workspace}
      default:
        - run:
            module: secrets
            function: get
            parameters: {name: "{{config.dynamic}}", scope: workspace}
"#;

#[test]
fn bindings_list_every_literal_secret_name() {
    let flow = Flow::from_yaml(OAUTH).unwrap();
    let b = bindings(&flow);
    let want = |secret: &str, path: &str| Binding {
        secret: secret.into(),
        path: path.into(),
    };
    assert_eq!(
        b,
        vec![
            want("clientSecret", "do[0].fetch.body.client_secret"),
            want("oauthToken", "do[1].run.parameters.name"),
            want("flag", "do[2].conditions"),
            want(
                "oldToken",
                "do[2].conditions[\"{{secret.flag}}\"][0].run.parameters.name"
            ),
        ]
    );
    assert!(validate(&flow).is_ok());
}

fn refused(yaml: &str) -> FlowError {
    let flow = Flow::from_yaml(yaml).unwrap();
    let e = validate(&flow).expect_err("output must be refused");
    assert_eq!(e.code, "invalid");
    assert!(e.path.starts_with("output"), "{e:?}");
    assert!(e.line.is_some() && e.column.is_some());
    e
}

#[test]
fn output_bound_to_a_secret_is_refused() {
    // Directly.
    let e = refused("do: []\noutput: \"{{secret.clientSecret}}\"\n");
    assert!(e.message.contains("secret 'clientSecret'"), "{e}");
    assert_eq!(e.line, Some(2));

    // Through a variable holding a secrets.get reference.
    let e = refused(
        "do:\n  - run:\n      module: secrets\n      function: get\n      parameters: {name: k, scope: workspace}\n      output: ref\noutput:\n  token: \"Bearer {{ref}}\"\n",
    );
    assert!(e.message.contains("variable 'ref'"), "{e}");
    assert_eq!(e.path, "output.token");

    // Through a fetch response whose request used a reference (taint follows
    // variables: ref -> r1 -> r2).
    let e = refused(
        r#"do:
  - run:
      module: secrets
      function: get
      parameters: {name: k, scope: workspace}
      output: ref
  - fetch:
      url: https://api.example.com/a
      headers: {Authorization: "Bearer {{ref}}"}
      output: r1
  - fetch:
      url: "https://api.example.com/b?id={{r1.id}}"
      output: r2
output: "{{r2.data}}"
"#,
    );
    assert!(e.message.contains("variable 'r2'"), "{e}");

    // Through a fetch that used secret.<name> directly, inside a branch.
    refused(
        r#"do:
  - conditions:
      default:
        - fetch:
            url: https://api.example.com/a
            auth: {bearer: {token: "{{secret.k}}"}}
            output: r
output: "{{r}}"
"#,
    );

    // A literal reference.
    refused("do: []\noutput: \"$secret:abc\"\n");
}

#[test]
fn output_without_secrets_is_accepted() {
    let flow = Flow::from_yaml(
        r#"do:
  - fetch:
      url: https://api.example.com/public
      output: r
  - run:
      module: secrets
      function: delete
      parameters: {name: k, scope: workspace}
      output: d
output:
  data: "{{r.data}}"
  deleted: "{{d.deleted}}"
  client: "{{config.clientId}}"
"#,
    )
    .unwrap();
    validate(&flow).unwrap();
}

proptest::proptest! {
    #[test]
    fn flow_parser_never_panics(s in ".{0,200}") {
        let _ = Flow::from_yaml(&s);
    }

    #[test]
    fn flow_parser_never_panics_on_yamlish_input(
        s in "(- |  |do:|run:|fetch:|emit:|conditions:|\\{\\{|\\}\\}|module: secrets|\n|[a-z:'\"\\[\\]{},.])*"
    ) {
        let _ = Flow::from_yaml(&s);
    }
}

#[test]
fn a_run_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let flow = Flow::from_yaml("do: []").unwrap();
    struct Nothing;
    #[async_trait::async_trait]
    impl lockbox_automation::SecretsModule for Nothing {
        async fn set(
            &self,
            _: &str,
            _: serde_json::Value,
            _: &str,
            _: Option<u64>,
        ) -> Result<String, lockbox_automation::ModuleError> {
            unreachable!()
        }
        async fn get(
            &self,
            _: &str,
            _: &str,
            _: Option<&str>,
        ) -> Result<String, lockbox_automation::ModuleError> {
            unreachable!()
        }
        async fn delete(&self, _: &str, _: &str) -> Result<(), lockbox_automation::ModuleError> {
            unreachable!()
        }
        async fn fetch(
            &self,
            _: serde_json::Value,
        ) -> Result<serde_json::Value, lockbox_automation::ModuleError> {
            unreachable!()
        }
        async fn redact(&self, v: serde_json::Value) -> serde_json::Value {
            v
        }
    }
    let mut lines = Vec::new();
    let mut sink = |l| lines.push(l);
    let fut = lockbox_automation::run_flow(&flow, &Nothing, Default::default(), &mut sink);
    assert_send(&fut);
    drop(fut);
}
