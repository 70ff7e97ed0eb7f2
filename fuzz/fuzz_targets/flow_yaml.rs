//! Whole flow documents: any text parses into a flow or a located error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(flow) = lockbox_automation::Flow::from_yaml(s) {
            let _ = lockbox_automation::validate(&flow);
            let _ = lockbox_automation::bindings(&flow);
        }
    }
});
