//! `list_children` on SQLite: a loose index scan over the unique index on
//! `(workspace_id, scope, owner, name)`, stepped from Rust. One statement walks
//! the keys of the folder in order; a name inside a sub-folder reports the
//! sub-folder and restarts the statement past it, so a folder of 1,000
//! sub-folders costs 1,000 seeks however many secrets they hold.

use crate::children::{past_child, ChildrenQuery, Seek};
use crate::StoreResult;
use rusqlite::{params, Connection};

pub(super) fn list(c: &Connection, q: &ChildrenQuery) -> StoreResult<Vec<String>> {
    let upper = q.upper();
    let mut out: Vec<String> = Vec::new();
    let mut seek = q.first_seek();
    while out.len() < q.limit as usize {
        // Both bounds are plain comparisons on the indexed column, so the scan
        // starts at one end and stops at the other (no `? IS NULL OR` forms,
        // which SQLite cannot use as index bounds).
        let sql = format!(
            "SELECT name FROM secrets WHERE workspace_id = ?1 AND scope = ?2 AND owner = ?3 \
             AND name {} ?4 {} \
             AND (expires_at IS NULL OR expires_at > ?6) AND (?7 OR current_version > 0) \
             ORDER BY name",
            if seek.strict { ">" } else { ">=" },
            if upper.is_some() {
                "AND name < ?5"
            } else {
                "AND ?5 IS NULL"
            },
        );
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
            out.push(child.to_owned());
            if child.ends_with('/') {
                next = Some(past_child(&q.folder, child));
                break;
            }
            if out.len() >= q.limit as usize {
                break;
            }
        }
        match next {
            Some(s) => seek = s,
            None => break,
        }
    }
    Ok(out)
}
