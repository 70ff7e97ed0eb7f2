//! The Lockbox Rust SDK: every route of the native API (the server's OpenAPI
//! document, `GET /openapi.json`) as one typed async call on [`Client`].
//!
//! This file owns the crate's public surface (module layout and re-exports). The
//! transport lives in `client.rs`, the error type in `error.rs`, the path encoder in
//! `encode.rs`, the SDK's own option types in `types.rs`, and the endpoint methods
//! in `secrets.rs` (secrets), `admin.rs` (workspaces, members, tokens, audit,
//! caller) and `automation.rs` (runs, the run API, flows, bindings, scripts).
//! `store.rs` adds [`Secrets`] (from [`Client::secrets`]): one workspace and scope as
//! a typed key-value store with `put`/`get`/`exists`/`patch`/`patch_with`/`delete`.
//!
//! Request and response bodies are the wire crate's types (`lockbox-wire`, the ones
//! the server itself parses and answers with), re-exported here; they cannot drift
//! from the server's. Outside the OpenAPI document, [`Client::healthz`] and
//! [`Client::readyz`] are covered; `/metrics` (Prometheus text), the web console
//! and the Vault-compatible API (use a Vault client) are not.
//!
//! Secret values come back as [`lockbox_core::SecretValue`], which prints
//! `[REDACTED]`: getting the plaintext takes an explicit `expose()`. Fresh tokens
//! (`CreatedToken::token`, `AddedMember::token`, `OpenedRun::token`) are
//! [`lockbox_core::Sensitive`] for the same reason.
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
mod automation;
mod client;
mod encode;
mod error;
mod secrets;
mod store;
mod types;

pub use client::{Client, ClientBuilder, DEFAULT_ADDR, DEFAULT_TIMEOUT};
pub use encode::encode_path_segment;
pub use error::{ApiCode, Error, Result};
pub use store::Secrets;
pub use types::{DescriptionUpdate, PutOptions, PutOutcome};

/// The wire crate itself, for the bodies not re-exported by name below.
pub use lockbox_wire as wire;
pub use lockbox_wire::{
    AddedMember, AuditEvent, AuditPage, BindingInfo, BindingUse, Bindings, CreatedToken, Deleted,
    Ended, ErrorBody, FlowInfo, FlowRun, LogLine, Me, MeToken, MeWorkspace, Member, OpenedRun,
    RedactBody, Redacted, RunFlowBody, RunScriptBody, ScriptRun, SecretMeta, SecretPage, SecretRef,
    SecretSettingsPatch, Settings, SettingsPatch, StoredFlow, TokenDefaults, TokenInfo,
    VersionInfo, WorkspaceInfo,
};

/// One page of `GET …/secrets` (the wire crate's [`SecretPage`]).
pub type SecretList = SecretPage;

pub use lockbox_core::{ErrorCode, Role, Scope, SecretValue, Sensitive, Visibility};
