//! Request bodies become secret values: any JSON must give a value or a clean
//! error, and an error must never quote the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        match lockbox_core::SecretValue::from_json(&v, 4096) {
            Ok(value) => assert_eq!(value.to_json().unwrap(), v),
            Err(e) => assert!(e.message.len() < 200),
        }
    }
});
