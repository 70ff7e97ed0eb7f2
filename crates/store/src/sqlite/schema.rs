//! The SQLite schema and its migrations, tracked in `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    active_key_version INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE workspace_keys (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    master_version INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    PRIMARY KEY (workspace_id, version)
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE memberships (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT REFERENCES users(id),
    workspace_id TEXT REFERENCES workspaces(id) ON DELETE CASCADE,
    role TEXT,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    visibility TEXT NOT NULL,
    description TEXT,
    current_version INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (workspace_id, scope, owner, name)
);
CREATE INDEX secrets_expiry ON secrets (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE secret_versions (
    secret_id TEXT NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    key_version INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (secret_id, version)
);
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    workspace_id TEXT,
    at INTEGER NOT NULL,
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
"#,
    r#"
ALTER TABLE secrets ADD COLUMN allowed_hosts TEXT NOT NULL DEFAULT '[]';
"#,
    r#"
CREATE TABLE flows (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    yaml TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (workspace_id, slug)
);
CREATE TABLE bindings (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    secret TEXT NOT NULL,
    location TEXT NOT NULL,
    PRIMARY KEY (workspace_id, owner, secret, location)
);
CREATE INDEX bindings_by_secret ON bindings (workspace_id, secret);
"#,
    r#"
ALTER TABLE secret_versions ADD COLUMN deleted_at INTEGER;
ALTER TABLE secret_versions ADD COLUMN destroyed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE secrets ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE secrets ADD COLUMN max_versions INTEGER;
ALTER TABLE secrets ADD COLUMN cas_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE secrets ADD COLUMN delete_version_after INTEGER;
"#,
    r#"
ALTER TABLE secret_versions ADD COLUMN policy TEXT;
CREATE INDEX secret_versions_legacy ON secret_versions (secret_id, version) WHERE policy IS NULL;
"#,
    r#"
ALTER TABLE tokens ADD COLUMN run_as_users INTEGER NOT NULL DEFAULT 0;
"#,
    // Master keys every node agrees on (key_registry.rs).
    r#"
CREATE TABLE master_key_checks (
    version INTEGER PRIMARY KEY,
    key_check BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    key_source TEXT NOT NULL,
    key_versions TEXT NOT NULL,
    problem TEXT,
    started_at INTEGER NOT NULL,
    seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
"#,
    // Keyed audit links (issue 16): the master-key version of each row's link
    // (NULL: a legacy SHA-256 link), how many rows predate keyed links, and an
    // index for the account audit view (rows without a workspace, by actor).
    r#"
ALTER TABLE audit_events ADD COLUMN key_version INTEGER;
CREATE TABLE audit_chain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    legacy_rows INTEGER NOT NULL
);
INSERT INTO audit_chain (id, legacy_rows) SELECT 1, COALESCE(MAX(seq), 0) FROM audit_events;
CREATE INDEX audit_without_workspace ON audit_events (actor, seq) WHERE workspace_id IS NULL;
"#,
    // A personal token's default workspace (issue 17: the Vault API without a
    // namespace); a workspace id, NULL = the user's oldest membership.
    r#"
ALTER TABLE tokens ADD COLUMN default_workspace TEXT;
"#,
    // Folder listing (issue 20): every column `list_children` reads, so listing a
    // folder of keys is answered from this index alone (children.rs).
    r#"
CREATE INDEX secrets_children ON secrets (workspace_id, scope, owner, name, expires_at, current_version);
"#,
    // Per-workspace audit chains (issue 20): the chain of each row (a workspace
    // id, '' for the account chain; NULL for the rows before, which start the
    // account chain). The index finds each chain's head when the writer loads them.
    r#"
ALTER TABLE audit_events ADD COLUMN chain TEXT;
CREATE INDEX audit_by_chain ON audit_events (chain, seq);
"#,
];

/// Applies pending migrations in one transaction each.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    migrate_to(conn, MIGRATIONS.len())
}

/// The schema version before keyed audit links (what earlier releases wrote).
pub(crate) fn before_keyed_audit() -> usize {
    MIGRATIONS
        .iter()
        .position(|m| m.contains("CREATE TABLE audit_chain"))
        .expect("the keyed-audit migration")
}

/// Applies pending migrations up to schema version `target`.
pub(crate) fn migrate_to(conn: &mut Connection, target: usize) -> rusqlite::Result<()> {
    let current: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target).skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Pragmas for every connection: WAL, full fsync on commit, foreign keys, a busy
/// timeout for the occasional second process (`lockbox keys rotate`), and
/// secure_delete so deleted rows (a shredded workspace) are zeroed in the file.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database written before version states (schema 3) migrates in place:
    /// its secrets and versions read back with the defaults (versions as legacy
    /// rows, without a policy).
    #[test]
    fn a_schema_3_database_gains_version_states_with_defaults() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO workspaces VALUES ('w', 'default', '{\"allow_rename\":false,\"max_versions\":10}', 1, 1);
             INSERT INTO secrets (id, workspace_id, scope, owner, name, visibility, description,
                 current_version, fingerprint, expires_at, created_at, created_by, updated_at, updated_by)
                 VALUES ('s', 'w', 'workspace', '', 'old', 'masked', NULL, 2, 'fp', NULL, 1, 'c', 2, 'c');
             INSERT INTO secret_versions VALUES ('s', 1, 1, x'0102', 'fp1', 1, 'c');
             INSERT INTO secret_versions VALUES ('s', 2, 1, x'0304', 'fp', 2, 'c');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        let s = conn
            .query_row(
                &format!("SELECT {} FROM secrets", super::super::SECRET_COLS),
                [],
                super::super::secret_from,
            )
            .unwrap();
        assert!(s.labels.is_empty() && !s.cas_required && !s.current_destroyed);
        assert_eq!(
            (s.max_versions, s.delete_version_after, s.current_deleted_at),
            (None, None, None)
        );
        let v = conn
            .query_row(
                "SELECT * FROM secret_versions WHERE version = 1",
                [],
                super::super::version_from,
            )
            .unwrap();
        assert_eq!(
            (v.deleted_at, v.destroyed, v.sealed, v.policy),
            (None, false, vec![1, 2], None)
        );
        let ws: String = conn
            .query_row("SELECT settings FROM workspaces", [], |r| r.get(0))
            .unwrap();
        let settings: crate::WorkspaceSettings = serde_json::from_str(&ws).unwrap();
        assert_eq!(
            (settings.cas_required, settings.delete_version_after),
            (false, None)
        );
    }

    /// A database with audit rows from before keyed links records how many rows
    /// are legacy; a fresh one records none.
    #[test]
    fn the_keyed_audit_migration_counts_legacy_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, before_keyed_audit()).unwrap();
        for seq in 1..=3 {
            conn.execute(
                "INSERT INTO audit_events (seq, at, actor, action, outcome, detail, prev_hash, hash) \
                 VALUES (?, 1, 'system', 'x', 'ok', '{}', 'p', 'h')",
                [seq],
            )
            .unwrap();
        }
        migrate(&mut conn).unwrap();
        let legacy: i64 = conn
            .query_row("SELECT legacy_rows FROM audit_chain", [], |r| r.get(0))
            .unwrap();
        assert_eq!(legacy, 3);
        let keyed: Option<u32> = conn
            .query_row(
                "SELECT key_version FROM audit_events WHERE seq = 3",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(keyed, None);

        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        let legacy: i64 = fresh
            .query_row("SELECT legacy_rows FROM audit_chain", [], |r| r.get(0))
            .unwrap();
        assert_eq!(legacy, 0);
    }
}
