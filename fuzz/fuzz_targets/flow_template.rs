//! `{{…}}` templates come from flow files people upload: parsing must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = lockbox_automation::template::Template::parse(s);
    }
});
