//! Decides, when the tests are built, whether PostgreSQL cases run: with
//! `LOCKBOX_TEST_DATABASE_URL` set (or `LOCKBOX_REQUIRE_POSTGRES=1`, which then
//! fails them loudly if the URL is missing) `lockbox_postgres` is set and
//! [`needs_postgres!`] leaves tests as they are; without, it marks them ignored
//! with the reason, so `cargo test` lists each as ignored instead of passed.
//! Only this crate (a dev-dependency) is rebuilt when the variable changes.

fn main() {
    println!("cargo::rerun-if-env-changed=LOCKBOX_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=LOCKBOX_REQUIRE_POSTGRES");
    println!("cargo::rustc-check-cfg=cfg(lockbox_postgres)");
    let url = std::env::var("LOCKBOX_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty());
    let required = std::env::var("LOCKBOX_REQUIRE_POSTGRES").as_deref() == Ok("1");
    if url || required {
        println!("cargo::rustc-cfg=lockbox_postgres");
    }
}
