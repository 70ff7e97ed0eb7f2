//! A pasted `.env` file is untrusted: parsing must never panic, and every entry it
//! returns renders back to a line that parses to the same key and value.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(entries) = lockbox_core::dotenv::parse(s) {
            for e in entries {
                let line = lockbox_core::dotenv::render_line(&e.key, &e.value);
                let back = lockbox_core::dotenv::parse(&line).expect("a rendered line parses");
                assert_eq!(back.len(), 1);
                assert_eq!(back[0].key, e.key);
                assert_eq!(*back[0].value, *e.value);
            }
        }
    }
});
