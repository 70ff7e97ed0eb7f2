//! `list_children` on PostgreSQL: the loose index scan as one recursive query,
//! so a folder of 1,000 sub-folders is one round trip of 1,000 index seeks (each
//! `ORDER BY name LIMIT 1` on the unique index over `(workspace_id, scope,
//! owner, name)`), not 1,000 round trips and not a scan of every secret below.
//!
//! Each step starts from the name the previous one found: past that name when it
//! is a key of the folder, past the whole sub-folder (`P + f0`, the successor of
//! `P + f/`) when it lies in one.

use super::{Fail, PostgresStore};
use crate::children::{Children, ChildrenQuery};
use lockbox_core::Timestamp;

/// The filters every step applies, as `list_secrets` does.
const LIVE: &str = "s.workspace_id = $1 AND s.scope = $2 AND s.owner = $3 \
    AND (s.expires_at IS NULL OR s.expires_at > $6) AND ($7::boolean OR s.current_version > 0)";

/// The segment of `w.name` after the folder (`$8`).
const REST: &str = "substr(w.name, length($8::text) + 1)";

impl PostgresStore {
    pub(super) async fn children(&self, q: &ChildrenQuery) -> Result<Children, Fail> {
        let seek = q.first_seek();
        let upper = q.upper();
        // A plain `name < $5` only when there is a bound, so the index scan stops
        // there; the top folder has none.
        let upper_sql = if upper.is_some() {
            "AND s.name < $5::text"
        } else {
            "AND $5::text IS NULL"
        };
        let sql = format!(
            "WITH RECURSIVE walk(name) AS ( \
               (SELECT s.name FROM secrets s WHERE {LIVE} \
                  AND s.name {op} $4::text {upper_sql} \
                ORDER BY s.name LIMIT 1) \
               UNION ALL \
               SELECT (SELECT s.name FROM secrets s WHERE {LIVE} \
                  AND s.name > w.name \
                  AND s.name >= (CASE WHEN strpos({REST}, '/') > 0 \
                      THEN $8::text || left({REST}, strpos({REST}, '/') - 1) || '0' \
                      ELSE w.name END) COLLATE \"C\" \
                  {upper_sql} \
                ORDER BY s.name LIMIT 1) \
               FROM walk w WHERE w.name IS NOT NULL \
             ) \
             SELECT w.name, (SELECT s.expires_at FROM secrets s \
                 WHERE s.workspace_id = $1 AND s.scope = $2 AND s.owner = $3 AND s.name = w.name) \
             FROM walk w WHERE w.name IS NOT NULL LIMIT $9",
            op = if seek.strict { ">" } else { ">=" },
        );
        let rows = self
            .rows(
                &sql,
                &[
                    &q.workspace_id,
                    &q.scope.as_str(),
                    &q.owner,
                    &seek.bound,
                    &upper,
                    &q.now.millis(),
                    &q.entries,
                    &q.folder,
                    &i64::from(q.limit),
                ],
            )
            .await?;
        let mut page = Children {
            children: Vec::with_capacity(rows.len()),
            stable_until: None,
        };
        for row in rows {
            let name: String = row.try_get(0)?;
            if let Some(child) = q.child_of(&name) {
                page.met(row.try_get::<_, Option<i64>>(1)?.map(Timestamp));
                page.children.push(child.to_owned());
            }
        }
        Ok(page)
    }
}
