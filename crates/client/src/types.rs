//! The SDK's own option types (how a call is shaped: [`PutOptions`],
//! [`DescriptionUpdate`], [`PutOutcome`]). Every request and response body is a
//! type of the wire crate (`lockbox-wire`), the same ones the server uses,
//! re-exported from the crate root.

use lockbox_core::Visibility;
use lockbox_wire::SecretMeta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The answer to a `PUT /secrets/{name}`: `created` is true on `201`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutOutcome {
    pub created: bool,
    pub meta: SecretMeta,
}

/// What a `PUT` does to the description. `docs/api.md`: omitted keeps the old one,
/// `""` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DescriptionUpdate {
    /// Leave the description as it is (the field is omitted).
    #[default]
    Keep,
    /// Set it to this text.
    Set(String),
    /// Remove it (sends `""`).
    Clear,
}

/// Optional parts of a `PUT /secrets/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutOptions {
    pub description: DescriptionUpdate,
    /// Fixed at creation; a different one on update is `invalid`.
    pub visibility: Option<Visibility>,
    /// Seconds from now until the secret expires.
    pub ttl: Option<u64>,
    /// Only write when the current version is this one (`If-Match: "<n>"`).
    pub if_match: Option<u64>,
    /// Only create: refused with `version_mismatch` when the secret exists
    /// (`If-None-Match: *`).
    pub create_only: bool,
    /// Replaces the labels (`Some(empty)` clears them); `None` keeps them.
    pub labels: Option<BTreeMap<String, String>>,
    /// Hosts the egress executor may send the value to (`api.example.com`,
    /// `*.example.org`); `Some(empty)` allows any host, `None` keeps the list.
    /// Widening or clearing it is the owner's alone.
    pub allowed_hosts: Option<Vec<String>>,
}

impl PutOptions {
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = DescriptionUpdate::Set(text.into());
        self
    }
    pub fn clear_description(mut self) -> Self {
        self.description = DescriptionUpdate::Clear;
        self
    }
    pub fn visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = Some(visibility);
        self
    }
    pub fn ttl(mut self, seconds: u64) -> Self {
        self.ttl = Some(seconds);
        self
    }
    pub fn if_match(mut self, version: u64) -> Self {
        self.if_match = Some(version);
        self
    }
    pub fn create_only(mut self) -> Self {
        self.create_only = true;
        self
    }
    /// Adds one host to the list that replaces the secret's `allowed_hosts`.
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts
            .get_or_insert_with(Vec::new)
            .push(host.into());
        self
    }
    /// Adds one label to the set that replaces the secret's labels.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }
}
