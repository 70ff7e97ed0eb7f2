//! Test support shared by the crates' integration tests.
//!
//! PostgreSQL: `LOCKBOX_TEST_DATABASE_URL` names a server; each caller gets a fresh
//! database on it, so tests run in parallel. A test that needs it is wrapped in
//! [`needs_postgres!`]: without the variable `cargo test` reports it as
//! `ignored, needs LOCKBOX_TEST_DATABASE_URL` (never as passed); with
//! `LOCKBOX_REQUIRE_POSTGRES=1` and no URL it runs and fails. CI sets both.

/// Wraps test functions that need PostgreSQL: unchanged when the tests were built
/// with `LOCKBOX_TEST_DATABASE_URL` (or `LOCKBOX_REQUIRE_POSTGRES=1`), else each
/// is marked `#[ignore]` with the reason (see `build.rs`).
///
/// ```ignore
/// lockbox_testkit::needs_postgres! {
///     #[tokio::test]
///     async fn works_on_postgres() { /* … */ }
/// }
/// ```
#[cfg(lockbox_postgres)]
#[macro_export]
macro_rules! needs_postgres {
    ($($item:item)*) => { $($item)* };
}

/// See the other definition (this one marks the tests ignored).
#[cfg(not(lockbox_postgres))]
#[macro_export]
macro_rules! needs_postgres {
    (@each) => {};
    (@each $(#[$m:meta])* $v:vis async fn $name:ident () $body:block $($rest:tt)*) => {
        $(#[$m])*
        #[ignore = "needs LOCKBOX_TEST_DATABASE_URL (a PostgreSQL server; see README)"]
        $v async fn $name() $body
        $crate::needs_postgres!(@each $($rest)*);
    };
    (@each $(#[$m:meta])* $v:vis fn $name:ident () $body:block $($rest:tt)*) => {
        $(#[$m])*
        #[ignore = "needs LOCKBOX_TEST_DATABASE_URL (a PostgreSQL server; see README)"]
        $v fn $name() $body
        $crate::needs_postgres!(@each $($rest)*);
    };
    ($($t:tt)*) => { $crate::needs_postgres!(@each $($t)*); };
}

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

/// A random number without a random-number crate: std's random hash keys (new
/// for every `RandomState`), over a per-process counter.
pub fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::collections::hash_map::RandomState::new()
        .hash_one(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
