//! Backup files are read back from disk, possibly edited or corrupt: each line must
//! decode into a row or fail cleanly.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = lockbox_service::admin::decode_backup_line(&v);
    }
});
