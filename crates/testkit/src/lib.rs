//! Test support shared by the crates' integration tests.
//!
//! PostgreSQL: `LOCKBOX_TEST_DATABASE_URL` names a server; each caller gets a fresh
//! database on it, so tests run in parallel. Without the variable the caller skips
//! (one visible line per test binary), unless `LOCKBOX_REQUIRE_POSTGRES=1`, where a
//! missing variable is a failure: CI sets both so a skip can never pass silently.

/// A URL to a new, empty database, or None when PostgreSQL tests are skipped.
pub async fn fresh_database() -> Option<String> {
    let Ok(base) = std::env::var("LOCKBOX_TEST_DATABASE_URL") else {
        if std::env::var("LOCKBOX_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("LOCKBOX_REQUIRE_POSTGRES=1 but LOCKBOX_TEST_DATABASE_URL is not set");
        }
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            eprintln!("skipping PostgreSQL cases: LOCKBOX_TEST_DATABASE_URL is not set")
        });
        return None;
    };
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("connect to LOCKBOX_TEST_DATABASE_URL");
    let driver = tokio::spawn(conn);
    let name = format!("lbx_test_{:016x}", random_u64());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    drop(client);
    let _ = driver.await;
    let (head, tail) = base.rsplit_once('/').expect("the URL names a database");
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    Some(format!("{head}/{name}{query}"))
}

/// As [`fresh_database`], for synchronous tests.
pub fn fresh_database_blocking() -> Option<String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(fresh_database())
}

/// A random number without a random-number crate: std's per-process random hash
/// keys, mixed with the time.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
