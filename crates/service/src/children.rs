//! Folder listings: one page of the children of a folder (the keys directly
//! under it and its sub-folders), as Vault's `LIST` shows them. The store
//! answers from its name index (`Store::list_children`), so a page costs its own
//! size, not the number of secrets below the folder; nothing is decrypted and no
//! row becomes metadata.
//!
//! Pages are cached for the metadata cache's time (0.4 s) and until the earliest
//! expiry among the secrets the scan met ([`Children::stable_until`]); any
//! secret write drops them all (`evict.rs`), here or, through the change feed,
//! on another node. So a folder listed over and over costs one scan per window,
//! and a listing never shows what a write here removed or misses what it added.
//!
//! The cursor is opaque to callers: the last child of the page, tagged and
//! base64-encoded (the tag keeps a child that is the empty text, a secret named
//! exactly like its folder, from reading as "no cursor").

use crate::auth::Principal;
use crate::{store_err, Lockbox, RequestCtx};
use base64::Engine;
use lockbox_core::{Action, Error, Result, Scope, Timestamp};
use lockbox_store::{Children, ChildrenQuery};
use serde::Serialize;
use std::sync::Arc;

/// The largest page a caller may ask for, and the one given when none is asked.
pub const MAX_CHILDREN_PER_PAGE: u32 = 1000;
const DEFAULT_CHILDREN_PER_PAGE: u32 = 100;
/// The longest folder (or cursor) taken: longer text matches no name.
const MAX_FOLDER: usize = 1024;
const CURSOR_TAG: char = 'c';

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ChildrenRequest {
    /// `""` for the top; a folder usually ends in `/`.
    pub folder: String,
    /// 1 to [`MAX_CHILDREN_PER_PAGE`]; `None` is 100.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Also secrets without a version yet (Vault metadata written first): what
    /// Vault's metadata list shows.
    pub entries: bool,
}

/// One page of a folder: keys, and sub-folders with a trailing `/`, in name order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChildrenPage {
    pub children: Vec<String>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(child: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_TAG}{child}"))
}

fn decode_cursor(cursor: &str) -> Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|c| c.strip_prefix(CURSOR_TAG).map(str::to_owned))
        .filter(|c| c.len() <= MAX_FOLDER && !c.chars().any(char::is_control))
        .ok_or_else(|| Error::invalid("cursor is not one this server issued"))
}

/// What a cached page answers: the store's query with its `now` left at zero
/// (a page holds until [`Children::stable_until`], whenever it was read).
pub(crate) type ChildrenKey = ChildrenQuery;

impl Lockbox {
    /// One page of the children of `req.folder` in the scope, for anyone who may
    /// list its secrets (the role check and its audit are those of a list).
    pub async fn list_children(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        req: &ChildrenRequest,
        ctx: &RequestCtx,
    ) -> Result<ChildrenPage> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::ListSecrets, None, ctx)
            .await?;
        let limit = req.limit.unwrap_or(DEFAULT_CHILDREN_PER_PAGE);
        if !(1..=MAX_CHILDREN_PER_PAGE).contains(&limit) {
            return Err(Error::invalid(format!(
                "limit must be between 1 and {MAX_CHILDREN_PER_PAGE}"
            )));
        }
        let after = match req.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        // No name holds a control character, so such a folder holds nothing (and
        // PostgreSQL could not even take it as a parameter).
        if req.folder.len() > MAX_FOLDER || req.folder.chars().any(char::is_control) {
            return Ok(ChildrenPage {
                children: Vec::new(),
                next_cursor: None,
            });
        }
        let key = ChildrenQuery {
            workspace_id: t.ws.id.clone(),
            scope: t.scope,
            owner: t.owner.clone(),
            // Names are stored in NFC; so is the folder they are compared with.
            folder: lockbox_core::names::nfc(&req.folder),
            after,
            limit: limit + 1,
            now: Timestamp(0),
            entries: req.entries,
        };
        let page = self.children_page(key).await?;
        let more = page.children.len() > limit as usize;
        let children: Vec<String> = page.children.iter().take(limit as usize).cloned().collect();
        let next_cursor = more.then(|| encode_cursor(children.last().map_or("", String::as_str)));
        Ok(ChildrenPage {
            children,
            next_cursor,
        })
    }
}

impl Lockbox {
    /// The page `key` asks for: cached while it holds, else from the store.
    async fn children_page(&self, key: ChildrenKey) -> Result<Arc<Children>> {
        let now = self.clock.now();
        if let Some(page) = self.children.get(&key) {
            if page.stable_until.is_none_or(|until| until > now) {
                return Ok(page);
            }
        }
        // Captured before the read: a write that lands during it drops this page.
        let generation = self.children.generation();
        let page = Arc::new(
            self.store
                .list_children(ChildrenQuery { now, ..key.clone() })
                .await
                .map_err(store_err)?,
        );
        self.children
            .put_fresh(key, page.clone(), generation, |_, _| false);
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_even_the_empty_child_and_refuse_others() {
        for child in ["", "a", "sub/", "é/x"] {
            let c = encode_cursor(child);
            assert!(!c.is_empty());
            assert_eq!(decode_cursor(&c).unwrap(), child);
        }
        let plain = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a");
        assert!(decode_cursor(&plain).is_err());
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&encode_cursor("a\u{7}")).is_err());
    }
}
