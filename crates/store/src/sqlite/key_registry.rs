//! [`KeyRegistry`] on SQLite (tables `master_key_checks` and `nodes`).

use super::SqliteStore;
use crate::key_registry::{
    versions_of, versions_text, KeyRegistry, MasterKeyCheckRow, NodeRow, NODE_ROW_RETENTION_MS,
};
use crate::StoreResult;
use async_trait::async_trait;
use lockbox_core::Timestamp;
use rusqlite::params;

fn node_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<NodeRow> {
    let versions: String = r.get("key_versions")?;
    Ok(NodeRow {
        id: r.get("id")?,
        host: r.get("host")?,
        pid: r.get("pid")?,
        key_source: r.get("key_source")?,
        key_versions: versions_of(&versions),
        problem: r.get("problem")?,
        started_at: Timestamp(r.get("started_at")?),
        seen_at: Timestamp(r.get("seen_at")?),
        expires_at: Timestamp(r.get("expires_at")?),
    })
}

#[async_trait]
impl KeyRegistry for SqliteStore {
    async fn master_key_checks(&self) -> StoreResult<Vec<MasterKeyCheckRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT version, key_check, created_at FROM master_key_checks ORDER BY version",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok(MasterKeyCheckRow {
                        version: r.get(0)?,
                        check: r.get(1)?,
                        created_at: Timestamp(r.get(2)?),
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn add_master_key_check(&self, check: MasterKeyCheckRow) -> StoreResult<bool> {
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "INSERT INTO master_key_checks (version, key_check, created_at) VALUES (?,?,?) \
                 ON CONFLICT (version) DO NOTHING",
                params![check.version, check.check, check.created_at.millis()],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn put_node(&self, node: NodeRow) -> StoreResult<()> {
        self.write(move |ctx| {
            ctx.conn.execute(
                "INSERT INTO nodes (id, host, pid, key_source, key_versions, problem, started_at, seen_at, expires_at) \
                 VALUES (?,?,?,?,?,?,?,?,?) \
                 ON CONFLICT (id) DO UPDATE SET key_source = excluded.key_source, \
                 key_versions = excluded.key_versions, problem = excluded.problem, \
                 seen_at = excluded.seen_at, expires_at = excluded.expires_at",
                params![
                    node.id,
                    node.host,
                    node.pid,
                    node.key_source,
                    versions_text(&node.key_versions),
                    node.problem,
                    node.started_at.millis(),
                    node.seen_at.millis(),
                    node.expires_at.millis()
                ],
            )?;
            ctx.conn.execute(
                "DELETE FROM nodes WHERE expires_at < ?",
                params![node.seen_at.millis() - NODE_ROW_RETENTION_MS],
            )?;
            Ok(())
        })
        .await
    }

    async fn live_nodes(&self, now: Timestamp) -> StoreResult<Vec<NodeRow>> {
        self.read(move |c| {
            let mut st =
                c.prepare_cached("SELECT * FROM nodes WHERE expires_at > ? ORDER BY id")?;
            let rows = st
                .query_map([now.millis()], node_from)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn remove_node(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |ctx| {
            ctx.conn
                .execute("DELETE FROM nodes WHERE id = ?", params![id])?;
            Ok(())
        })
        .await
    }
}
