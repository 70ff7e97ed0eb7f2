//! Seed 002 "Updating a secret": `storage.secrets.patch('authToken', {token})` replaces
//! the token and keeps the site id (a JSON merge patch, applied atomically).
//!
//! Run with `LOCKBOX_ADDR` and `LOCKBOX_TOKEN` set: `cargo run -p lockbox-client --example patch`.

use lockbox_client::Client;
use serde::Serialize;

#[derive(Serialize)]
struct TokenOnly {
    token: String,
}

/// Stands in for the connector's real token refresh.
async fn refresh_token(site_id: u64) -> String {
    format!("refreshed-token-for-site-{site_id}")
}

#[tokio::main]
pub async fn main() -> lockbox_client::Result<()> {
    let secrets = Client::from_env()?.secrets("default");
    let site_id = 123;
    let token = refresh_token(site_id).await;
    // update the token without changing the site id
    secrets.patch("authToken", &TokenOnly { token }).await?;
    println!("token refreshed");
    Ok(())
}
