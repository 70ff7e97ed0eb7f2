//! Vault API input: a raw request path and a duration, as clients send them.
//! Parsing must never panic; an accepted secret name must be one a Vault path can
//! express; a parsed duration must print and parse back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lockbox_server::vault::{parse, vault_addressable};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(path) = parse::api_path(&format!("/vault/v1/secret/data/{s}")) {
            let name = path.strip_prefix("secret/data/").unwrap_or(&path);
            if let Ok(n) = parse::secret_name(name) {
                assert!(vault_addressable(n.as_str()));
                assert!(!n
                    .as_str()
                    .split('/')
                    .any(|seg| seg.is_empty() || seg == "." || seg == ".."));
            }
        }
        let v = serde_json::Value::String(s.to_owned());
        if let Ok(secs) = parse::parse_duration("d", &v) {
            let printed = serde_json::Value::String(parse::go_duration(secs));
            assert_eq!(parse::parse_duration("d", &printed).ok(), Some(secs));
        }
    }
});
