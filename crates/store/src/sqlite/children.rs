//! `list_children` on SQLite: a loose index scan over the covering index
//! `secrets_children` on `(workspace_id, scope, owner, name, expires_at,
//! current_version)` (every column a step reads, so it never visits the table),
//! stepped from Rust. One statement walks
//! the keys of the folder in order; a name inside a sub-folder reports the
//! sub-folder and restarts the statement past it, so a folder of 1,000
//! sub-folders costs 1,000 seeks however many secrets they hold.

use crate::children::{past_child, Children, ChildrenQuery, Seek};
use crate::StoreResult;
use lockbox_core::Timestamp;
use rusqlite::{params, Connection};

pub(super) fn list(c: &Connection, q: &ChildrenQuery) -> StoreResult<Children> {
    let upper = q.upper();
    let mut page = Children::default();
    let mut seek = q.first_seek();
    while page.children.len() < q.limit as usize {
        let sql = step_sql(seek.strict, upper.is_some());
        let mut st = c.prepare_cached(&sql)?;
        let mut rows = st.query(params![
            q.workspace_id,
            q.scope.as_str(),
            q.owner,
            seek.bound,
            upper,
            q.now.millis(),
            q.entries,
        ])?;
        let mut next: Option<Seek> = None;
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            let Some(child) = q.child_of(&name) else {
                break; // (cannot happen inside the bounds)
            };
            page.met(row.get::<_, Option<i64>>(1)?.map(Timestamp));
            page.children.push(child.to_owned());
            if child.ends_with('/') {
                next = Some(past_child(&q.folder, child));
                break;
            }
            if page.children.len() >= q.limit as usize {
                break;
            }
        }
        match next {
            Some(s) => seek = s,
            None => break,
        }
    }
    Ok(page)
}

/// The statement of one scan step. Both bounds are plain comparisons on the
/// indexed column, so the scan starts at one end and stops at the other (no
/// `? IS NULL OR` forms, which SQLite cannot use as index bounds). Every column it
/// reads is in the `secrets_children` index, so a step never visits the table.
fn step_sql(strict: bool, bounded: bool) -> String {
    format!(
        "SELECT name, expires_at FROM secrets WHERE workspace_id = ?1 AND scope = ?2 AND owner = ?3 \
         AND name {} ?4 {} \
         AND (expires_at IS NULL OR expires_at > ?6) AND (?7 OR current_version > 0) \
         ORDER BY name",
        if strict { ">" } else { ">=" },
        if bounded {
            "AND name < ?5"
        } else {
            "AND ?5 IS NULL"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form of the step is answered from an index alone: SQLite's plan
    /// names a covering index and no temporary B-tree for the order, so listing a
    /// folder of keys reads no table rows (the expiry and entry filters are
    /// answered from the index too).
    #[test]
    fn each_scan_step_is_index_only() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        for strict in [false, true] {
            for bounded in [false, true] {
                let sql = format!("EXPLAIN QUERY PLAN {}", step_sql(strict, bounded));
                let mut st = c.prepare(&sql).unwrap();
                let plan: Vec<String> = st
                    .query_map(
                        params!["w", "workspace", "", "a/", "a0", 5_i64, false],
                        |r| r.get::<_, String>(3),
                    )
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let plan = plan.join("\n");
                assert!(
                    plan.contains("USING COVERING INDEX secrets_children"),
                    "strict={strict} bounded={bounded}: {plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            }
        }
    }
}
