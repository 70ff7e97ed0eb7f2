//! Seed 000 scripts come from users: parsing any text must give a program or a
//! located error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = lockbox_automation::script::parse(s);
    }
});
