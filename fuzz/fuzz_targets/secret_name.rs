//! Secret names arrive percent-decoded from URL paths: parsing must never panic,
//! and what it accepts must respect the documented limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(name) = lockbox_core::SecretName::parse(s) {
            assert!(!name.as_str().is_empty() && name.as_str().len() <= 512);
            assert!(!name.as_str().chars().any(char::is_control));
        }
    }
});
