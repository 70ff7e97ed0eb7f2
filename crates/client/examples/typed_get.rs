//! Seed 002 "Type Safety": `storage.secrets.get<Token>('token')` and a check that the
//! token does not expire within the next minute.
//!
//! Run with `LOCKBOX_ADDR` and `LOCKBOX_TOKEN` set:
//! `cargo run -p lockbox-client --example typed_get`.

use lockbox_client::Client;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Serialize, Deserialize)]
struct Token {
    value: String,
    /// Milliseconds since the Unix epoch, like JavaScript's `Date.getTime()`.
    expiration: u64,
}

#[tokio::main]
// An SDK user's program reads its own clock; Lockbox's rule (clippy.toml) is for Lockbox.
#[allow(clippy::disallowed_methods)]
pub async fn main() -> lockbox_client::Result<()> {
    let secrets = Client::from_env()?.secrets("default");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    match secrets.get::<Token>("token").await? {
        Some(token) if token.expiration < now_ms + 60_000 => println!("Token is expiring soon!"),
        Some(_) => println!("token is good for more than a minute"),
        None => println!("no token stored"),
    }
    Ok(())
}
