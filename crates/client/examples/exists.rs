//! Seed 002 "Checking if a secret exists": `if (await storage.secrets.exists('authToken'))`.
//!
//! Run with `LOCKBOX_ADDR` and `LOCKBOX_TOKEN` set: `cargo run -p lockbox-client --example exists`.

use lockbox_client::Client;

#[tokio::main]
pub async fn main() -> lockbox_client::Result<()> {
    let secrets = Client::from_env()?.secrets("default");
    if secrets.exists("authToken").await? {
        println!("we already authenticated");
    } else {
        println!("not authenticated yet");
    }
    Ok(())
}
