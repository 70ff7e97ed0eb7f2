//! Seed 002 "Writing a secret" and "Getting a secret":
//! `storage.secrets.put('authToken', {token, siteId})`, then `.get('authToken').token`.
//!
//! Run with `LOCKBOX_ADDR` and `LOCKBOX_TOKEN` set: `cargo run -p lockbox-client --example put_get`.

use lockbox_client::Client;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthToken {
    token: String,
    site_id: u64,
}

/// Stands in for the connector's real log-in.
async fn authenticate(site_id: u64) -> String {
    format!("token-for-site-{site_id}")
}

#[tokio::main]
pub async fn main() -> lockbox_client::Result<()> {
    let secrets = Client::from_env()?.secrets("default");

    let site_id = 123;
    let token = authenticate(site_id).await;
    secrets
        .put("authToken", &AuthToken { token, site_id })
        .await?;

    let authentication_token = secrets
        .get::<AuthToken>("authToken")
        .await?
        .map(|auth| auth.token);
    println!(
        "stored a token of {} characters",
        authentication_token.map_or(0, |t| t.len())
    );
    Ok(())
}
