//! Seed 002 "Deleting a secret": `storage.secrets.delete('authToken')`.
//!
//! Run with `LOCKBOX_ADDR` and `LOCKBOX_TOKEN` set: `cargo run -p lockbox-client --example delete`.

use lockbox_client::Client;

#[tokio::main]
pub async fn main() -> lockbox_client::Result<()> {
    let secrets = Client::from_env()?.secrets("default");
    if secrets.delete("authToken").await? {
        println!("deleted");
    } else {
        println!("there was nothing to delete");
    }
    Ok(())
}
