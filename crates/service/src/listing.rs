//! Listing secrets for people: one page of a scope's secrets, searched over
//! names, descriptions and labels, sorted by name or by last update, with the
//! counts a pager needs. Only metadata is read: no value is decrypted for a list.
//!
//! The store answers in name order by cursor; a search over descriptions and
//! labels, or a sort by time, needs every row of the scope, so this reads the
//! scope's metadata in chunks of [`CHUNK`] (at most [`MAX_ROWS`] rows), filters
//! and sorts in memory and cuts the page. A search that is a name prefix only
//! (`name:pay`) uses the store's prefix scan instead and reads just the matches.

use crate::auth::Principal;
use crate::{store_err, Lockbox, RequestCtx, SecretMeta};
use lockbox_core::{Action, Error, Result, Scope};
use lockbox_store::ListQuery;
use serde::Serialize;

/// Rows read from the store per call.
const CHUNK: u32 = 5_000;
/// Rows a listing reads at most; past this the list says it is cut short.
pub const MAX_ROWS: usize = 200_000;
/// The largest page a caller may ask for.
pub const MAX_PER_PAGE: u32 = 500;
/// The longest search text taken (longer text matches nothing a name could).
const MAX_SEARCH: usize = 512;

/// The column a listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListSort {
    #[default]
    Name,
    Updated,
}

impl ListSort {
    /// `name` or `updated`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "name" => Some(Self::Name),
            "updated" => Some(Self::Updated),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Updated => "updated",
        }
    }
}

/// What to list: a search text, a sort and a 1-based page.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Case-insensitive text looked for in names, descriptions, label keys and
    /// label values. `name:TEXT` looks for names starting with TEXT only.
    pub search: String,
    pub sort: ListSort,
    pub descending: bool,
    /// 1-based; a page past the end answers the last page.
    pub page: u32,
    pub per_page: u32,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            search: String::new(),
            sort: ListSort::Name,
            descending: false,
            page: 1,
            per_page: 50,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct ListingPage {
    pub secrets: Vec<SecretMeta>,
    /// Secrets matching the search (all pages).
    pub matched: usize,
    /// The page shown (1-based, clamped to the last page).
    pub page: u32,
    /// Pages in all (at least 1).
    pub pages: u32,
    pub per_page: u32,
    /// The scope holds more rows than a listing reads (200,000): only the first
    /// ones by name were searched.
    pub truncated: bool,
}

/// True when a secret with these fields matches the lowercased search `q`
/// (names, descriptions, label keys and values).
fn matches_fields(
    name: &str,
    description: Option<&str>,
    labels: &std::collections::BTreeMap<String, String>,
    q: &str,
) -> bool {
    if q.is_empty() {
        return true;
    }
    let has = |s: &str| s.to_lowercase().contains(q);
    has(name) || description.is_some_and(has) || labels.iter().any(|(k, v)| has(k) || has(v))
}

impl Lockbox {
    /// One page of the secrets of `scope` in `ws_name` that `p` may list,
    /// searched, sorted and paged as `opts` says (see the module doc).
    pub async fn browse_secrets(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        opts: &ListOptions,
        ctx: &RequestCtx,
    ) -> Result<ListingPage> {
        if !(1..=MAX_PER_PAGE).contains(&opts.per_page) {
            return Err(Error::invalid(format!(
                "a page holds between 1 and {MAX_PER_PAGE} secrets"
            )));
        }
        let t = self
            .authorized_target(p, ws_name, scope, Action::ListSecrets, None, ctx)
            .await?;
        let raw = opts.search.trim();
        let (prefix, q) = match raw.strip_prefix("name:") {
            Some(rest) => (Some(lockbox_core::names::nfc(rest.trim())), String::new()),
            None => (None, raw.to_lowercase()),
        };
        let nothing = q.len() > MAX_SEARCH
            || prefix
                .as_deref()
                .is_some_and(|p| p.len() > MAX_SEARCH || p.chars().any(char::is_control));
        // Sorted by the stored milliseconds: the RFC 3339 text drops trailing
        // zeros, so it does not sort as text.
        // Rows, not metadata, until the page is cut: a row becomes metadata
        // (time formatting and all) only when it is shown.
        let mut found: Vec<lockbox_store::SecretRow> = Vec::new();
        let mut truncated = false;
        let mut after: Option<String> = None;
        let mut read = 0usize;
        if !nothing {
            loop {
                let rows = self
                    .store
                    .list_secrets(ListQuery {
                        workspace_id: t.ws.id.clone(),
                        scope: t.scope,
                        owner: t.owner.clone(),
                        prefix: prefix.clone(),
                        after: after.take(),
                        limit: CHUNK,
                        now: self.clock.now(),
                        entries: false,
                    })
                    .await
                    .map_err(store_err)?;
                let n = rows.len();
                read += n;
                after = rows.last().map(|r| r.name.clone());
                found.extend(
                    rows.into_iter().filter(|r| {
                        matches_fields(&r.name, r.description.as_deref(), &r.labels, &q)
                    }),
                );
                if n < CHUNK as usize {
                    break;
                }
                if read >= MAX_ROWS {
                    truncated = true;
                    break;
                }
            }
        }
        // The store answers in name order; a time sort breaks ties by name.
        if opts.sort == ListSort::Updated {
            found.sort_by_key(|r| r.updated_at.millis());
        }
        if opts.descending {
            found.reverse();
        }
        let matched = found.len();
        let per = opts.per_page as usize;
        let pages = matched.div_ceil(per).max(1) as u32;
        let page = opts.page.clamp(1, pages);
        let start = (page as usize - 1) * per;
        let secrets: Vec<SecretMeta> = found
            .into_iter()
            .skip(start)
            .take(per)
            .map(|r| self.meta_for(p, &t.ws, &r))
            .collect();
        Ok(ListingPage {
            secrets,
            matched,
            page,
            pages,
            per_page: opts.per_page,
            truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn matches(m: &SecretMeta, q: &str) -> bool {
        matches_fields(&m.name, m.description.as_deref(), &m.labels, q)
    }

    fn meta(name: &str, desc: Option<&str>, labels: &[(&str, &str)]) -> SecretMeta {
        SecretMeta {
            id: String::new(),
            name: name.into(),
            workspace: "w".into(),
            scope: "workspace",
            visibility: "masked",
            description: desc.map(Into::into),
            version: 1,
            fingerprint: String::new(),
            expires_at: None,
            created_at: String::new(),
            created_by: String::new(),
            updated_at: String::new(),
            updated_by: String::new(),
            allowed_hosts: Vec::new(),
            bindings: None,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            max_versions: None,
            cas_required: false,
            delete_version_after: None,
            current_deleted: false,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn search_covers_names_descriptions_and_labels() {
        let m = meta("stripe-key", Some("Payments LIVE"), &[("team", "Billing")]);
        assert!(matches(&m, ""));
        assert!(matches(&m, "ripe"));
        assert!(matches(&m, "live"));
        assert!(matches(&m, "billing"));
        assert!(matches(&m, "team"));
        assert!(!matches(&m, "orders"));
    }

    #[test]
    fn sort_names_round_trip() {
        for s in [ListSort::Name, ListSort::Updated] {
            assert_eq!(ListSort::parse(s.as_str()), Some(s));
        }
        assert_eq!(ListSort::parse("value"), None);
    }
}
