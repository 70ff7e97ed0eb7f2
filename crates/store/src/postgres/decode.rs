//! Rows out of PostgreSQL into the store's row types, the column lists they are
//! read with, and the integer conversions between Rust's unsigned numbers and
//! PostgreSQL's signed INTEGER / BIGINT.

use super::Fail;
use crate::rows::*;
use lockbox_core::{Role, Scope, Timestamp, Visibility};
use tokio_postgres::Row;

pub(super) const WORKSPACE_COLS: &str = "id, name, settings, active_key_version, created_at";
pub(super) const KEY_COLS: &str = "workspace_id, version, master_version, wrapped";
pub(super) const USER_COLS: &str = "id, name, created_at";
pub(super) const TOKEN_COLS: &str = "id, hash, name, kind, user_id, workspace_id, role, \
    created_at, created_by, expires_at, last_used_at, revoked_at, run_as_users";
/// The stored columns of `secrets`, in insert order.
pub(super) const SECRET_INSERT_COLS: &str = "id, workspace_id, scope, owner, name, visibility, \
    description, current_version, fingerprint, expires_at, created_at, created_by, updated_at, \
    updated_by, allowed_hosts, labels, max_versions, cas_required, delete_version_after";
/// What a secret row is read with: its columns plus the state of its current
/// version (`FROM secrets` must not be aliased).
pub(super) const SECRET_COLS: &str = "id, workspace_id, scope, owner, name, visibility, \
    description, current_version, fingerprint, expires_at, created_at, created_by, updated_at, \
    updated_by, allowed_hosts, labels, max_versions, cas_required, delete_version_after, \
    (SELECT cv.deleted_at FROM secret_versions cv WHERE cv.secret_id = secrets.id \
     AND cv.version = secrets.current_version) AS current_deleted_at, \
    COALESCE((SELECT cv.destroyed FROM secret_versions cv WHERE cv.secret_id = secrets.id \
     AND cv.version = secrets.current_version), false) AS current_destroyed";
pub(super) const VERSION_COLS: &str = "secret_id, version, key_version, sealed, fingerprint, \
    created_at, created_by, deleted_at, destroyed, policy";
pub(super) const AUDIT_COLS: &str = "seq, workspace_id, at, actor, action, target, outcome, \
    request_id, detail, prev_hash, hash, key_version, chain";

/// A key version (u32) as PostgreSQL INTEGER.
pub(super) fn int(v: u32) -> Result<i32, Fail> {
    i32::try_from(v).map_err(|_| Fail::Backend(format!("key version {v} is out of range")))
}

/// A PostgreSQL INTEGER read back as a key version or a count.
fn uint(v: i32) -> Result<u32, Fail> {
    u32::try_from(v).map_err(|_| Fail::Backend(format!("negative key version {v} stored")))
}

/// A version number (u64) as PostgreSQL BIGINT, as SQLite stores it.
pub(super) fn big(v: u64) -> i64 {
    v as i64
}

fn ts(v: i64) -> Timestamp {
    Timestamp(v)
}

fn role_of(s: &str) -> Result<Role, Fail> {
    Role::parse(s).map_err(|_| Fail::Backend("stored role is not a role".into()))
}

pub(super) fn role(r: &Row, col: &str) -> Result<Role, Fail> {
    role_of(&r.try_get::<_, String>(col)?)
}

pub(super) fn workspace(r: &Row) -> Result<WorkspaceRow, Fail> {
    let settings: String = r.try_get("settings")?;
    Ok(WorkspaceRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        settings: serde_json::from_str(&settings).unwrap_or_default(),
        active_key_version: uint(r.try_get("active_key_version")?)?,
        created_at: ts(r.try_get("created_at")?),
    })
}

pub(super) fn key(r: &Row) -> Result<WorkspaceKeyRow, Fail> {
    Ok(WorkspaceKeyRow {
        workspace_id: r.try_get("workspace_id")?,
        version: uint(r.try_get("version")?)?,
        master_version: uint(r.try_get("master_version")?)?,
        wrapped: r.try_get("wrapped")?,
    })
}

pub(super) fn user(r: &Row) -> Result<UserRow, Fail> {
    Ok(UserRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: ts(r.try_get("created_at")?),
    })
}

pub(super) fn membership(r: &Row) -> Result<MembershipRow, Fail> {
    Ok(MembershipRow {
        workspace_id: r.try_get("workspace_id")?,
        user_id: r.try_get("user_id")?,
        role: role(r, "role")?,
        created_at: ts(r.try_get("created_at")?),
    })
}

pub(super) fn token(r: &Row) -> Result<TokenRow, Fail> {
    let kind: String = r.try_get("kind")?;
    let role: Option<String> = r.try_get("role")?;
    Ok(TokenRow {
        id: r.try_get("id")?,
        hash: r.try_get("hash")?,
        name: r.try_get("name")?,
        kind: TokenKind::parse(&kind).unwrap_or(TokenKind::Service),
        user_id: r.try_get("user_id")?,
        workspace_id: r.try_get("workspace_id")?,
        role: role.as_deref().map(role_of).transpose()?,
        created_at: ts(r.try_get("created_at")?),
        created_by: r.try_get("created_by")?,
        expires_at: r.try_get::<_, Option<i64>>("expires_at")?.map(ts),
        last_used_at: r.try_get::<_, Option<i64>>("last_used_at")?.map(ts),
        revoked_at: r.try_get::<_, Option<i64>>("revoked_at")?.map(ts),
        run_as_users: r.try_get("run_as_users")?,
    })
}

pub(super) fn secret(r: &Row) -> Result<SecretRow, Fail> {
    let scope: String = r.try_get("scope")?;
    let vis: String = r.try_get("visibility")?;
    Ok(SecretRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        scope: Scope::parse(&scope).unwrap_or(Scope::Workspace),
        owner: r.try_get("owner")?,
        name: r.try_get("name")?,
        visibility: Visibility::parse(&vis).unwrap_or(Visibility::Restricted),
        description: r.try_get("description")?,
        current_version: r.try_get::<_, i64>("current_version")? as u64,
        fingerprint: r.try_get("fingerprint")?,
        expires_at: r.try_get::<_, Option<i64>>("expires_at")?.map(ts),
        created_at: ts(r.try_get("created_at")?),
        created_by: r.try_get("created_by")?,
        updated_at: ts(r.try_get("updated_at")?),
        updated_by: r.try_get("updated_by")?,
        allowed_hosts: serde_json::from_str(&r.try_get::<_, String>("allowed_hosts")?)
            .unwrap_or_default(),
        labels: serde_json::from_str(&r.try_get::<_, String>("labels")?).unwrap_or_default(),
        max_versions: r
            .try_get::<_, Option<i32>>("max_versions")?
            .map(uint)
            .transpose()?,
        cas_required: r.try_get("cas_required")?,
        delete_version_after: r
            .try_get::<_, Option<i64>>("delete_version_after")?
            .map(|d| d as u64),
        current_deleted_at: r.try_get::<_, Option<i64>>("current_deleted_at")?.map(ts),
        current_destroyed: r.try_get("current_destroyed")?,
    })
}

pub(super) fn version(r: &Row) -> Result<VersionRow, Fail> {
    Ok(VersionRow {
        secret_id: r.try_get("secret_id")?,
        version: r.try_get::<_, i64>("version")? as u64,
        key_version: uint(r.try_get("key_version")?)?,
        sealed: r.try_get("sealed")?,
        fingerprint: r.try_get("fingerprint")?,
        created_at: ts(r.try_get("created_at")?),
        created_by: r.try_get("created_by")?,
        deleted_at: r.try_get::<_, Option<i64>>("deleted_at")?.map(ts),
        destroyed: r.try_get("destroyed")?,
        policy: VersionPolicy::from_column(r.try_get::<_, Option<String>>("policy")?.as_deref()),
    })
}

pub(super) fn audit(r: &Row) -> Result<AuditRow, Fail> {
    let detail: String = r.try_get("detail")?;
    Ok(AuditRow {
        seq: r.try_get("seq")?,
        record: AuditRecord {
            workspace_id: r.try_get("workspace_id")?,
            at: ts(r.try_get("at")?),
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            target: r.try_get("target")?,
            outcome: r.try_get("outcome")?,
            request_id: r.try_get("request_id")?,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        },
        prev_hash: r.try_get("prev_hash")?,
        key_version: r
            .try_get::<_, Option<i32>>("key_version")?
            .map(uint)
            .transpose()?,
        hash: r.try_get("hash")?,
        chain: r.try_get("chain")?,
    })
}

/// Decodes every row with `f`.
pub(super) fn all<T>(rows: &[Row], f: fn(&Row) -> Result<T, Fail>) -> Result<Vec<T>, Fail> {
    rows.iter().map(f).collect()
}
