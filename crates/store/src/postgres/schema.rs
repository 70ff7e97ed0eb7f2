//! The PostgreSQL schema and its migrations, tracked in `lockbox_schema_version`
//! and applied under an advisory lock so several processes may start at once.
//!
//! The tables mirror the SQLite ones column for column (TEXT, BIGINT for
//! timestamps and counters, INTEGER for key versions, BYTEA for sealed and wrapped
//! bytes, settings and audit detail as TEXT JSON), plus `audit_heads`, one row per
//! audit chain (a workspace, or the account), which an append locks so that chain
//! stays linear across processes, `audit_seq`, the sequence audit `seq`s come
//! from, and `audit_head`, which keeps how many rows predate keyed links.
//!
//! Portability: the tables, indexes and queries are meant to run unchanged on
//! CockroachDB and YugabyteDB (no PL/pgSQL, no triggers; one sequence, which both
//! support). What is PostgreSQL-only:
//! - `pg_advisory_lock` / `pg_advisory_unlock`, taken around migrations here;
//! - `LISTEN` / `pg_notify`, the change feed (see `listener.rs`);
//! - `COLLATE "C"` on ids and names, so ordering and cursor comparisons are
//!   bytewise like SQLite's whatever the database's collation (YugabyteDB takes
//!   it; CockroachDB compares strings bytewise already and may reject the clause).

use super::Fail;
use crate::audit_chain::GENESIS;
use tokio_postgres::Client;

/// Key of the advisory lock that serializes migrations between processes
/// ("lockbox" in ASCII).
pub(super) const MIGRATION_LOCK: i64 = 0x006c_6f63_6b62_6f78;

/// Migration `i` (0-based) brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE workspaces (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    active_key_version INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE workspace_keys (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    master_version INTEGER NOT NULL,
    wrapped BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, version)
);
CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE memberships (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE TABLE tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    hash TEXT COLLATE "C" NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT COLLATE "C" REFERENCES users(id),
    workspace_id TEXT COLLATE "C" REFERENCES workspaces(id) ON DELETE CASCADE,
    role TEXT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE TABLE secrets (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    scope TEXT COLLATE "C" NOT NULL,
    owner TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    visibility TEXT NOT NULL,
    description TEXT,
    current_version BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (workspace_id, scope, owner, name)
);
CREATE INDEX secrets_expiry ON secrets (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE secret_versions (
    secret_id TEXT COLLATE "C" NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    key_version INTEGER NOT NULL,
    sealed BYTEA NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (secret_id, version)
);
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    workspace_id TEXT COLLATE "C",
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    request_id TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_by_workspace ON audit_events (workspace_id, seq);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}');
"#,
    r#"
ALTER TABLE secrets ADD COLUMN allowed_hosts TEXT NOT NULL DEFAULT '[]';
"#,
    r#"
CREATE TABLE flows (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    slug TEXT COLLATE "C" NOT NULL,
    yaml TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (workspace_id, slug)
);
CREATE TABLE bindings (
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    owner TEXT COLLATE "C" NOT NULL,
    secret TEXT COLLATE "C" NOT NULL,
    location TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace_id, owner, secret, location)
);
CREATE INDEX bindings_by_secret ON bindings (workspace_id, secret);
"#,
    r#"
ALTER TABLE secret_versions ADD COLUMN deleted_at BIGINT;
ALTER TABLE secret_versions ADD COLUMN destroyed BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE secrets ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE secrets ADD COLUMN max_versions INTEGER;
ALTER TABLE secrets ADD COLUMN cas_required BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE secrets ADD COLUMN delete_version_after BIGINT;
"#,
    r#"
ALTER TABLE secret_versions ADD COLUMN policy TEXT;
CREATE INDEX secret_versions_legacy ON secret_versions (secret_id, version) WHERE policy IS NULL;
"#,
    r#"
ALTER TABLE tokens ADD COLUMN run_as_users BOOLEAN NOT NULL DEFAULT false;
"#,
    // Master keys every node agrees on (key_registry.rs).
    r#"
CREATE TABLE master_key_checks (
    version INTEGER PRIMARY KEY,
    key_check BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE nodes (
    id TEXT COLLATE "C" PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    key_source TEXT NOT NULL,
    key_versions TEXT NOT NULL,
    problem TEXT,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
"#,
    // Keyed audit links (issue 16): the master-key version of each row's link
    // (NULL: a legacy SHA-256 link), how many rows predate keyed links, and an
    // index for the account audit view (rows without a workspace, by actor).
    r#"
ALTER TABLE audit_events ADD COLUMN key_version INTEGER;
ALTER TABLE audit_head ADD COLUMN legacy_rows BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET legacy_rows = seq WHERE id = 1;
CREATE INDEX audit_without_workspace ON audit_events (actor, seq) WHERE workspace_id IS NULL;
"#,
    // A personal token's default workspace (issue 17: the Vault API without a
    // namespace); a workspace id, NULL = the user's oldest membership.
    r#"
ALTER TABLE tokens ADD COLUMN default_workspace TEXT COLLATE "C";
"#,
    // Folder listing (issue 20): the name index plus what `list_children`
    // filters on, so each step of its walk is an index-only scan (children.rs;
    // trailing key columns rather than INCLUDE, which not every port takes).
    r#"
CREATE INDEX secrets_children ON secrets (workspace_id, scope, owner, name, expires_at, current_version);
"#,
    // Per-workspace audit chains (issue 20): the chain of each row (a workspace
    // id, '' for the account chain; NULL for the rows before, which start the
    // account chain), one head row per chain (locked by appends to that chain
    // only; the account chain continues the single chain's head), and `seq` from
    // a sequence. `audit_head` keeps only `legacy_rows` from here on.
    r#"
ALTER TABLE audit_events ADD COLUMN chain TEXT COLLATE "C";
CREATE TABLE audit_heads (
    chain TEXT COLLATE "C" PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_heads (chain, seq, hash) SELECT '', seq, hash FROM audit_head WHERE id = 1 AND seq > 0;
CREATE SEQUENCE audit_seq;
SELECT setval('audit_seq', (SELECT seq FROM audit_head WHERE id = 1) + 1, false);
"#,
];

/// Creates `schema` if given, then applies pending migrations, each in its own
/// transaction, while holding the migration advisory lock on `client` (a
/// dedicated connection, closed by the caller afterwards).
pub(super) async fn migrate(client: &mut Client, schema: Option<&str>) -> Result<(), Fail> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = migrate_locked(client, schema).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result?;
    unlocked?;
    Ok(())
}

async fn migrate_locked(client: &mut Client, schema: Option<&str>) -> Result<(), Fail> {
    if let Some(schema) = schema {
        // `schema` is validated by the caller: lowercase letters, digits, `_`.
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
            ))
            .await?;
    }
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS lockbox_schema_version (\
                 version INTEGER PRIMARY KEY, \
                 applied_at BIGINT NOT NULL)",
        )
        .await?;
    let current: i32 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM lockbox_schema_version",
            &[],
        )
        .await?
        .try_get(0)?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(Fail::Backend(format!(
            "database schema version {current} is newer than this build knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = i32::try_from(i + 1).expect("few migrations");
        let now = lockbox_core::Clock::now(&lockbox_core::SystemClock).millis();
        let tx = client.transaction().await?;
        tx.batch_execute(&sql.replace("{GENESIS}", GENESIS)).await?;
        tx.execute(
            "INSERT INTO lockbox_schema_version (version, applied_at) VALUES ($1, $2)",
            &[&version, &now],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    Ok(())
}
