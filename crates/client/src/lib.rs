//! The Lockbox Rust SDK: every endpoint of `docs/api.md` as one typed async call on
//! [`Client`].
//!
//! This file owns the crate's public surface (module layout and re-exports). The
//! transport lives in `client.rs`, the error type in `error.rs`, the path encoder in
//! `encode.rs`, the wire types in `types.rs`, and the endpoint methods in
//! `secrets.rs` (secrets) and `admin.rs` (workspaces, members, tokens, audit, caller).
//! `store.rs` adds [`Secrets`] (from [`Client::secrets`]): one workspace and scope as a
//! typed key-value store with `put`/`get`/`exists`/`patch`/`patch_with`/`delete`.
//!
//! Secret values come back as [`lockbox_core::SecretValue`], which prints
//! `[REDACTED]`: getting the plaintext takes an explicit `expose()`.
//!
//! ```no_run
//! # async fn demo() -> lockbox_client::Result<()> {
//! use lockbox_client::{Client, PutOptions};
//! use lockbox_core::Scope;
//!
//! let client = Client::from_env()?;
//! let value = serde_json::json!("hunter2");
//! client
//!     .put_secret("default", Scope::Workspace, "stripe/api key", &value, &PutOptions::default())
//!     .await?;
//! let meta = client.get_secret("default", Scope::Workspace, "stripe/api key").await?;
//! assert_eq!(meta.version, 1);
//! # Ok(()) }
//! ```

mod admin;
mod client;
mod encode;
mod error;
mod secrets;
mod store;
mod types;

pub use client::{Client, ClientBuilder, DEFAULT_ADDR, DEFAULT_TIMEOUT};
pub use encode::encode_path_segment;
pub use error::{Error, Result};
pub use store::Secrets;
pub use types::{
    AddedMember, AuditEvent, AuditPage, CreatedToken, DescriptionUpdate, Me, MeToken, MeWorkspace,
    Member, MemberRole, OpenedRun, PutOptions, PutOutcome, SecretList, SecretMeta,
    SecretSettingsPatch, Settings, SettingsPatch, TokenInfo, VersionInfo, WorkspaceInfo,
};

pub use lockbox_core::{ErrorCode, Role, Scope, SecretValue, Visibility};
