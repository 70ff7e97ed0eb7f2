//! "The children of a folder": what a store answers for [`Store::list_children`]
//! (the query, and the bounds both backends seek with), so a folder listing costs
//! the size of its answer plus one index seek per child, never a walk over
//! everything below the folder.
//!
//! Names are flat; `/` makes folders only by convention. The children of folder
//! `P` are the keys directly under it (names `P + k`, `k` without `/`) and its
//! sub-folders (`f/` for every name `P + f/…`), in name order. A scan over the
//! index on `(workspace, scope, owner, name)` bounded by `P` and
//! [`prefix_upper_bound`]`(P)` meets every key in turn; on meeting a name inside a
//! sub-folder it reports the sub-folder and seeks past all of it (to
//! `prefix_upper_bound(P + f/)`, i.e. `P + f0`), a loose index scan.
//!
//! [`Store::list_children`]: crate::Store::list_children

use crate::rows::prefix_upper_bound;
use lockbox_core::{Scope, Timestamp};

/// Which folder to list, and which page of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChildrenQuery {
    pub workspace_id: String,
    pub scope: Scope,
    pub owner: String,
    /// The folder: `""` for the top, else usually ending in `/` (any text works:
    /// children are what follows it up to the next `/`).
    pub folder: String,
    /// Resume after this child, as a previous page returned it (`key` or `sub/`).
    pub after: Option<String>,
    pub limit: u32,
    /// Secrets expiring at or before this instant are left out (as `list_secrets`).
    pub now: Timestamp,
    /// Also secrets without a version yet (as `ListQuery::entries`).
    pub entries: bool,
}

/// One page of children, and how long it stays the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Children {
    /// Keys and sub-folders (with their trailing `/`), in name order.
    pub children: Vec<String>,
    /// The earliest expiry among the secrets the scan met (`None`: none of them
    /// expires). Until then, and until a secret of the scope is written, the
    /// same query gives the same page: expiry only removes, and it can remove a
    /// child only by expiring a secret the scan met (a key, the first live
    /// secret of a sub-folder, or the one past the page).
    pub stable_until: Option<Timestamp>,
}

impl Children {
    /// Notes a met secret's expiry.
    pub(crate) fn met(&mut self, expires_at: Option<Timestamp>) {
        if let Some(e) = expires_at {
            self.stable_until = Some(self.stable_until.map_or(e, |s| s.min(e)));
        }
    }
}

/// Where a seek starts: names `>= bound`, or `> bound` when `strict`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seek {
    pub bound: String,
    pub strict: bool,
}

impl ChildrenQuery {
    /// The first seek: the folder itself, or just past the cursor's child (past
    /// the whole sub-folder when it is one).
    pub(crate) fn first_seek(&self) -> Seek {
        match &self.after {
            None => Seek {
                bound: self.folder.clone(),
                strict: false,
            },
            Some(child) => past_child(&self.folder, child),
        }
    }

    /// Every name in the folder is below this (`None`: the top folder, no bound).
    pub(crate) fn upper(&self) -> Option<String> {
        prefix_upper_bound(&self.folder)
    }

    /// The child `name` (a name inside the folder) belongs to: `key` or `sub/`.
    pub(crate) fn child_of<'n>(&self, name: &'n str) -> Option<&'n str> {
        let rest = name.strip_prefix(self.folder.as_str())?;
        Some(match rest.find('/') {
            Some(i) => &rest[..=i],
            None => rest,
        })
    }
}

/// The seek that starts just after `child` of `folder`.
pub(crate) fn past_child(folder: &str, child: &str) -> Seek {
    let full = format!("{folder}{child}");
    if child.ends_with('/') {
        // `P + f/` always has a successor (`/` + 1 is `0`).
        Seek {
            bound: prefix_upper_bound(&full).unwrap_or(full),
            strict: false,
        }
    } else {
        Seek {
            bound: full,
            strict: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(folder: &str, after: Option<&str>) -> ChildrenQuery {
        ChildrenQuery {
            workspace_id: "ws".into(),
            scope: Scope::Workspace,
            owner: String::new(),
            folder: folder.into(),
            after: after.map(Into::into),
            limit: 10,
            now: Timestamp(0),
            entries: false,
        }
    }

    #[test]
    fn seeks_skip_a_whole_sub_folder_and_a_key_exactly() {
        assert_eq!(
            q("a/", None).first_seek(),
            Seek {
                bound: "a/".into(),
                strict: false
            }
        );
        assert_eq!(
            q("a/", Some("b/")).first_seek(),
            Seek {
                bound: "a/b0".into(),
                strict: false
            }
        );
        assert_eq!(
            q("a/", Some("b")).first_seek(),
            Seek {
                bound: "a/b".into(),
                strict: true
            }
        );
        assert_eq!(q("", None).upper(), None);
        assert_eq!(q("a/", None).upper().as_deref(), Some("a0"));
    }

    #[test]
    fn a_name_belongs_to_its_next_segment() {
        let query = q("a/", None);
        assert_eq!(query.child_of("a/b"), Some("b"));
        assert_eq!(query.child_of("a/b/c/d"), Some("b/"));
        assert_eq!(query.child_of("a//c"), Some("/"));
        assert_eq!(query.child_of("b/c"), None);
        assert_eq!(q("", None).child_of("x/y"), Some("x/"));
    }
}
