//! [`KeyRegistry`] on PostgreSQL (tables `master_key_checks` and `nodes`). Single
//! statements on a pooled connection: no audit rows, no notifications.

use super::decode::int;
use super::{tx, Fail, PostgresStore};
use crate::key_registry::{
    versions_of, versions_text, KeyRegistry, MasterKeyCheckRow, NodeRow, NODE_ROW_RETENTION_MS,
};
use crate::StoreResult;
use async_trait::async_trait;
use lockbox_core::Timestamp;
use tokio_postgres::Row;

fn node(r: &Row) -> Result<NodeRow, Fail> {
    let versions: String = r.try_get("key_versions")?;
    let pid: i64 = r.try_get("pid")?;
    Ok(NodeRow {
        id: r.try_get("id")?,
        host: r.try_get("host")?,
        pid: u32::try_from(pid).unwrap_or(0),
        key_source: r.try_get("key_source")?,
        key_versions: versions_of(&versions),
        problem: r.try_get("problem")?,
        started_at: Timestamp(r.try_get("started_at")?),
        seen_at: Timestamp(r.try_get("seen_at")?),
        expires_at: Timestamp(r.try_get("expires_at")?),
    })
}

#[async_trait]
impl KeyRegistry for PostgresStore {
    async fn master_key_checks(&self) -> StoreResult<Vec<MasterKeyCheckRow>> {
        let rows = self
            .rows(
                "SELECT version, key_check, created_at FROM master_key_checks ORDER BY version",
                &[],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let version: i32 = r.try_get(0).map_err(Fail::from)?;
            out.push(MasterKeyCheckRow {
                version: u32::try_from(version)
                    .map_err(|_| Fail::Backend(format!("negative key version {version}")))?,
                check: r.try_get(1).map_err(Fail::from)?,
                created_at: Timestamp(r.try_get(2).map_err(Fail::from)?),
            });
        }
        Ok(out)
    }

    async fn add_master_key_check(&self, check: MasterKeyCheckRow) -> StoreResult<bool> {
        let c = self.client().await?;
        let n = tx::exec(
            &c,
            "INSERT INTO master_key_checks (version, key_check, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (version) DO NOTHING",
            &[
                &int(check.version)?,
                &check.check,
                &check.created_at.millis(),
            ],
        )
        .await?;
        Ok(n > 0)
    }

    async fn put_node(&self, n: NodeRow) -> StoreResult<()> {
        let c = self.client().await?;
        tx::exec(
            &c,
            "INSERT INTO nodes (id, host, pid, key_source, key_versions, problem, started_at, seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET key_source = excluded.key_source, \
             key_versions = excluded.key_versions, problem = excluded.problem, \
             seen_at = excluded.seen_at, expires_at = excluded.expires_at",
            &[
                &n.id,
                &n.host,
                &i64::from(n.pid),
                &n.key_source,
                &versions_text(&n.key_versions),
                &n.problem,
                &n.started_at.millis(),
                &n.seen_at.millis(),
                &n.expires_at.millis(),
            ],
        )
        .await?;
        tx::exec(
            &c,
            "DELETE FROM nodes WHERE expires_at < $1",
            &[&(n.seen_at.millis() - NODE_ROW_RETENTION_MS)],
        )
        .await?;
        Ok(())
    }

    async fn live_nodes(&self, now: Timestamp) -> StoreResult<Vec<NodeRow>> {
        let rows = self
            .rows(
                "SELECT * FROM nodes WHERE expires_at > $1 ORDER BY id",
                &[&now.millis()],
            )
            .await?;
        Ok(rows.iter().map(node).collect::<Result<_, Fail>>()?)
    }

    async fn remove_node(&self, id: &str) -> StoreResult<()> {
        let c = self.client().await?;
        tx::exec(&c, "DELETE FROM nodes WHERE id = $1", &[&id]).await?;
        Ok(())
    }
}
