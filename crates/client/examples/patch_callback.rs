//! Seed 002 "more complicated updates atomically with a callback": the
//! `TokenRateLimit` counter, reset each hour, updated with `patch_with`.
//!
//! The callback may run more than once (it runs again whenever another writer got in
//! first), so it only computes the new value from the one it is given.
//!
//! The counter lives in its own secret, `tokenRateLimit`: `token` is the
//! `typed_get` example's `{value, expiration}`, and one name holding two shapes is
//! what made `typed_get` fail after this example.
//!
//! Run with `LOCKBOX_ADDR` and `LOCKBOX_TOKEN` set:
//! `cargo run -p lockbox-client --example patch_callback`.

use lockbox_client::Client;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Serialize, Deserialize)]
struct TokenRateLimit {
    counter: u64,
    hour: u64,
    token: String,
}

#[tokio::main]
// An SDK user's program reads its own clock; Lockbox's rule (clippy.toml) is for Lockbox.
#[allow(clippy::disallowed_methods)]
pub async fn main() -> lockbox_client::Result<()> {
    let secrets = Client::from_env()?.secrets("default");
    let current_hour = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 3600);
    let api_call_cost = 5;

    let now = secrets
        .patch_with("tokenRateLimit", |value: Option<TokenRateLimit>| {
            let mut value = value.unwrap_or(TokenRateLimit {
                counter: 0,
                hour: current_hour,
                token: "initial-token".into(),
            });
            if value.hour != current_hour {
                value.hour = current_hour;
                value.counter = 0;
            } else {
                value.counter += api_call_cost;
            }
            // return the new value to set based on the previous value
            Some(value)
        })
        .await?;
    println!("hour {}: counter {}", now.hour, now.counter);
    Ok(())
}
