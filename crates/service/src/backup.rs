//! The backup file format: JSON lines. The first line is a header naming the format
//! and counting rows; each following line is one row tagged with its table. Values
//! stay sealed and keys wrapped (base64), so a backup is useless without the master
//! key, which is kept out of it on purpose.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use lockbox_core::{Error, Result, Role, Scope, Timestamp, Visibility};
use lockbox_store::*;
use serde_json::{json, Value};

pub const FORMAT: &str = "lockbox-backup";
pub const VERSION: u64 = 1;

fn bad(what: &str) -> Error {
    Error::invalid(format!("backup file: malformed {what} row"))
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)?.as_str().map(str::to_owned)
}
fn os(v: &Value, k: &str) -> Option<Option<String>> {
    match v.get(k)? {
        Value::Null => Some(None),
        Value::String(x) => Some(Some(x.clone())),
        _ => None,
    }
}
fn i(v: &Value, k: &str) -> Option<i64> {
    v.get(k)?.as_i64()
}
fn oi(v: &Value, k: &str) -> Option<Option<i64>> {
    match v.get(k)? {
        Value::Null => Some(None),
        x => x.as_i64().map(Some),
    }
}
/// A text field added after format 1 was first written: absent reads as null.
fn later_os(v: &Value, k: &str) -> Option<Option<String>> {
    match v.get(k) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(x)) => Some(Some(x.clone())),
        Some(_) => None,
    }
}
/// A field added after format 1 was first written: absent reads as null.
fn later_oi(v: &Value, k: &str) -> Option<Option<i64>> {
    match v.get(k) {
        None | Some(Value::Null) => Some(None),
        Some(x) => x.as_i64().map(Some),
    }
}
/// A version's policy, added after format 1 was first written: absent or null
/// reads as none (a legacy version); anything else must be a policy.
fn later_policy(v: &Value, k: &str) -> Option<Option<VersionPolicy>> {
    match v.get(k) {
        None | Some(Value::Null) => Some(None),
        Some(p) => serde_json::from_value(p.clone()).ok().map(Some),
    }
}
/// A flag added after format 1 was first written: absent reads as false.
fn later_bool(v: &Value, k: &str) -> Option<bool> {
    match v.get(k) {
        None => Some(false),
        Some(x) => x.as_bool(),
    }
}
fn b(v: &Value, k: &str) -> Option<Vec<u8>> {
    B64.decode(v.get(k)?.as_str()?).ok()
}
fn ts(v: &Value, k: &str) -> Option<Timestamp> {
    i(v, k).map(Timestamp)
}
fn ots(v: &Value, k: &str) -> Option<Option<Timestamp>> {
    oi(v, k).map(|o| o.map(Timestamp))
}

/// Every row of a snapshot as tagged JSON lines, header first.
pub fn encode(snap: &Snapshot, created_at: Timestamp) -> Vec<Value> {
    let mut out = vec![json!({
        "format": FORMAT,
        "version": VERSION,
        "created_at": created_at.to_rfc3339(),
        "counts": {
            "workspaces": snap.workspaces.len(), "workspace_keys": snap.workspace_keys.len(),
            "users": snap.users.len(), "memberships": snap.memberships.len(), "tokens": snap.tokens.len(),
            "secrets": snap.secrets.len(), "versions": snap.versions.len(), "audit": snap.audit.len(),
            "flows": snap.flows.len(), "bindings": snap.bindings.len(),
        },
    })];
    for w in &snap.workspaces {
        out.push(json!({"t": "workspace", "id": w.id, "name": w.name, "settings": serde_json::to_value(&w.settings).unwrap_or(Value::Null),
            "active_key_version": w.active_key_version, "created_at": w.created_at.millis()}));
    }
    for k in &snap.workspace_keys {
        out.push(
            json!({"t": "workspace_key", "workspace_id": k.workspace_id, "version": k.version,
            "master_version": k.master_version, "wrapped": B64.encode(&k.wrapped)}),
        );
    }
    for u in &snap.users {
        out.push(
            json!({"t": "user", "id": u.id, "name": u.name, "created_at": u.created_at.millis()}),
        );
    }
    for m in &snap.memberships {
        out.push(
            json!({"t": "membership", "workspace_id": m.workspace_id, "user_id": m.user_id,
            "role": m.role.as_str(), "created_at": m.created_at.millis()}),
        );
    }
    for t in &snap.tokens {
        out.push(json!({"t": "token", "id": t.id, "hash": t.hash, "name": t.name, "kind": t.kind.as_str(),
            "user_id": t.user_id, "workspace_id": t.workspace_id, "role": t.role.map(Role::as_str),
            "created_at": t.created_at.millis(), "created_by": t.created_by,
            "expires_at": t.expires_at.map(Timestamp::millis), "last_used_at": t.last_used_at.map(Timestamp::millis),
            "revoked_at": t.revoked_at.map(Timestamp::millis), "run_as_users": t.run_as_users}));
    }
    for x in &snap.secrets {
        out.push(json!({"t": "secret", "id": x.id, "workspace_id": x.workspace_id, "scope": x.scope.as_str(),
            "owner": x.owner, "name": x.name, "visibility": x.visibility.as_str(), "description": x.description,
            "current_version": x.current_version, "fingerprint": x.fingerprint,
            "expires_at": x.expires_at.map(Timestamp::millis), "created_at": x.created_at.millis(),
            "created_by": x.created_by, "updated_at": x.updated_at.millis(), "updated_by": x.updated_by,
            "allowed_hosts": x.allowed_hosts, "labels": x.labels, "max_versions": x.max_versions,
            "cas_required": x.cas_required, "delete_version_after": x.delete_version_after,
            "current_deleted_at": x.current_deleted_at.map(Timestamp::millis),
            "current_destroyed": x.current_destroyed}));
    }
    for v in &snap.versions {
        out.push(json!({"t": "version", "secret_id": v.secret_id, "version": v.version, "key_version": v.key_version,
            "sealed": B64.encode(&v.sealed), "fingerprint": v.fingerprint, "created_at": v.created_at.millis(),
            "created_by": v.created_by, "deleted_at": v.deleted_at.map(Timestamp::millis),
            "destroyed": v.destroyed, "policy": v.policy}));
    }
    for f in &snap.flows {
        out.push(
            json!({"t": "flow", "workspace_id": f.workspace_id, "slug": f.slug, "yaml": f.yaml,
            "updated_at": f.updated_at.millis(), "updated_by": f.updated_by}),
        );
    }
    for b in &snap.bindings {
        out.push(json!({"t": "binding", "workspace_id": b.workspace_id, "owner": b.owner, "secret": b.secret,
            "location": b.location}));
    }
    for a in &snap.audit {
        out.push(json!({"t": "audit", "seq": a.seq, "workspace_id": a.record.workspace_id, "at": a.record.at.millis(),
            "actor": a.record.actor, "action": a.record.action, "target": a.record.target, "outcome": a.record.outcome,
            "request_id": a.record.request_id, "detail": a.record.detail, "prev_hash": a.prev_hash, "hash": a.hash,
            "key_version": a.key_version, "chain": a.chain}));
    }
    out
}

/// Checks the header line; returns the total number of rows it announces.
pub fn check_header(v: &Value) -> Result<u64> {
    if v.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(Error::invalid("not a Lockbox backup file"));
    }
    if v.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return Err(Error::invalid(
            "backup file format version is not supported by this Lockbox",
        ));
    }
    Ok(v.get("counts")
        .and_then(Value::as_object)
        .map(|c| c.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0))
}

/// Adds one row line to a snapshot being rebuilt.
pub fn decode_row(v: &Value, snap: &mut Snapshot) -> Result<()> {
    let t = v
        .get("t")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("untagged"))?;
    match t {
        "workspace" => snap.workspaces.push(
            (|| {
                Some(WorkspaceRow {
                    id: s(v, "id")?,
                    name: s(v, "name")?,
                    settings: serde_json::from_value(v.get("settings")?.clone()).ok()?,
                    active_key_version: u32::try_from(i(v, "active_key_version")?).ok()?,
                    created_at: ts(v, "created_at")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "workspace_key" => snap.workspace_keys.push(
            (|| {
                Some(WorkspaceKeyRow {
                    workspace_id: s(v, "workspace_id")?,
                    version: u32::try_from(i(v, "version")?).ok()?,
                    master_version: u32::try_from(i(v, "master_version")?).ok()?,
                    wrapped: b(v, "wrapped")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "user" => snap.users.push(
            (|| {
                Some(UserRow {
                    id: s(v, "id")?,
                    name: s(v, "name")?,
                    created_at: ts(v, "created_at")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "membership" => snap.memberships.push(
            (|| {
                Some(MembershipRow {
                    workspace_id: s(v, "workspace_id")?,
                    user_id: s(v, "user_id")?,
                    role: Role::parse(&s(v, "role")?).ok()?,
                    created_at: ts(v, "created_at")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "token" => snap.tokens.push(
            (|| {
                Some(TokenRow {
                    id: s(v, "id")?,
                    hash: s(v, "hash")?,
                    name: s(v, "name")?,
                    kind: TokenKind::parse(&s(v, "kind")?)?,
                    user_id: os(v, "user_id")?,
                    workspace_id: os(v, "workspace_id")?,
                    role: match os(v, "role")? {
                        Some(r) => Some(Role::parse(&r).ok()?),
                        None => None,
                    },
                    created_at: ts(v, "created_at")?,
                    created_by: s(v, "created_by")?,
                    expires_at: ots(v, "expires_at")?,
                    last_used_at: ots(v, "last_used_at")?,
                    revoked_at: ots(v, "revoked_at")?,
                    // Absent in backups made before the grant existed.
                    run_as_users: v
                        .get("run_as_users")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "secret" => snap.secrets.push(
            (|| {
                Some(SecretRow {
                    id: s(v, "id")?,
                    workspace_id: s(v, "workspace_id")?,
                    scope: Scope::parse(&s(v, "scope")?).ok()?,
                    owner: s(v, "owner")?,
                    name: s(v, "name")?,
                    visibility: Visibility::parse(&s(v, "visibility")?).ok()?,
                    description: os(v, "description")?,
                    current_version: u64::try_from(i(v, "current_version")?).ok()?,
                    fingerprint: s(v, "fingerprint")?,
                    expires_at: ots(v, "expires_at")?,
                    created_at: ts(v, "created_at")?,
                    created_by: s(v, "created_by")?,
                    updated_at: ts(v, "updated_at")?,
                    updated_by: s(v, "updated_by")?,
                    allowed_hosts: match v.get("allowed_hosts") {
                        None => Vec::new(),
                        Some(h) => serde_json::from_value(h.clone()).ok()?,
                    },
                    labels: match v.get("labels") {
                        None => Default::default(),
                        Some(l) => serde_json::from_value(l.clone()).ok()?,
                    },
                    max_versions: later_oi(v, "max_versions")?
                        .map(u32::try_from)
                        .transpose()
                        .ok()?,
                    cas_required: later_bool(v, "cas_required")?,
                    delete_version_after: later_oi(v, "delete_version_after")?
                        .map(u64::try_from)
                        .transpose()
                        .ok()?,
                    current_deleted_at: later_oi(v, "current_deleted_at")?.map(Timestamp),
                    current_destroyed: later_bool(v, "current_destroyed")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "version" => snap.versions.push(
            (|| {
                Some(VersionRow {
                    secret_id: s(v, "secret_id")?,
                    version: u64::try_from(i(v, "version")?).ok()?,
                    key_version: u32::try_from(i(v, "key_version")?).ok()?,
                    sealed: b(v, "sealed")?,
                    fingerprint: s(v, "fingerprint")?,
                    created_at: ts(v, "created_at")?,
                    created_by: s(v, "created_by")?,
                    deleted_at: later_oi(v, "deleted_at")?.map(Timestamp),
                    destroyed: later_bool(v, "destroyed")?,
                    policy: later_policy(v, "policy")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "audit" => snap.audit.push(
            (|| {
                Some(AuditRow {
                    seq: i(v, "seq")?,
                    record: AuditRecord {
                        workspace_id: os(v, "workspace_id")?,
                        at: ts(v, "at")?,
                        actor: s(v, "actor")?,
                        action: s(v, "action")?,
                        target: os(v, "target")?,
                        outcome: s(v, "outcome")?,
                        request_id: os(v, "request_id")?,
                        detail: v.get("detail")?.clone(),
                    },
                    prev_hash: s(v, "prev_hash")?,
                    key_version: match later_oi(v, "key_version")? {
                        None => None,
                        Some(k) => Some(u32::try_from(k).ok()?),
                    },
                    hash: s(v, "hash")?,
                    chain: later_os(v, "chain")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "flow" => snap.flows.push(
            (|| {
                Some(FlowRow {
                    workspace_id: s(v, "workspace_id")?,
                    slug: s(v, "slug")?,
                    yaml: s(v, "yaml")?,
                    updated_at: ts(v, "updated_at")?,
                    updated_by: s(v, "updated_by")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        "binding" => snap.bindings.push(
            (|| {
                Some(BindingRow {
                    workspace_id: s(v, "workspace_id")?,
                    owner: s(v, "owner")?,
                    secret: s(v, "secret")?,
                    location: s(v, "location")?,
                })
            })()
            .ok_or_else(|| bad(t))?,
        ),
        _ => return Err(bad("unknown")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_lines() {
        let snap = Snapshot {
            workspaces: vec![WorkspaceRow {
                id: "w".into(),
                name: "default".into(),
                settings: WorkspaceSettings::default(),
                active_key_version: 2,
                created_at: Timestamp(5),
            }],
            workspace_keys: vec![WorkspaceKeyRow {
                workspace_id: "w".into(),
                version: 2,
                master_version: 1,
                wrapped: vec![0, 1, 255],
            }],
            users: vec![UserRow {
                id: "u".into(),
                name: "owner".into(),
                created_at: Timestamp(1),
            }],
            memberships: vec![MembershipRow {
                workspace_id: "w".into(),
                user_id: "u".into(),
                role: Role::Owner,
                created_at: Timestamp(2),
            }],
            tokens: vec![TokenRow {
                id: "t".into(),
                hash: "h".into(),
                name: "n".into(),
                kind: TokenKind::Service,
                user_id: None,
                workspace_id: Some("w".into()),
                role: Some(Role::Viewer),
                created_at: Timestamp(3),
                created_by: "x".into(),
                expires_at: Some(Timestamp(9)),
                last_used_at: None,
                revoked_at: None,
                run_as_users: true,
            }],
            secrets: vec![SecretRow {
                id: "s".into(),
                workspace_id: "w".into(),
                scope: Scope::User,
                owner: "u".into(),
                name: "a/b 🔑".into(),
                visibility: Visibility::Restricted,
                description: Some("d".into()),
                current_version: 3,
                fingerprint: "f".into(),
                expires_at: None,
                created_at: Timestamp(1),
                created_by: "c".into(),
                updated_at: Timestamp(2),
                updated_by: "u".into(),
                allowed_hosts: vec!["*.example.org".into()],
                labels: [("team".to_owned(), "payments".to_owned())].into(),
                max_versions: Some(4),
                cas_required: true,
                delete_version_after: Some(3600),
                current_deleted_at: Some(Timestamp(5)),
                current_destroyed: false,
            }],
            versions: vec![VersionRow {
                secret_id: "s".into(),
                version: 3,
                key_version: 2,
                sealed: vec![1; 40],
                fingerprint: "f".into(),
                created_at: Timestamp(4),
                created_by: "c".into(),
                deleted_at: Some(Timestamp(5)),
                destroyed: false,
                policy: Some(VersionPolicy::v2(vec!["*.example.org".into()])),
            }],
            audit: vec![AuditRow {
                seq: 1,
                record: AuditRecord {
                    workspace_id: None,
                    at: Timestamp(1),
                    actor: "a".into(),
                    action: "x".into(),
                    target: None,
                    outcome: "ok".into(),
                    request_id: Some("r".into()),
                    detail: json!({"k": 1}),
                },
                prev_hash: "p".into(),
                key_version: Some(3),
                hash: "h".into(),
                chain: Some("w".into()),
            }],
            flows: vec![FlowRow {
                workspace_id: "w".into(),
                slug: "call-with-oauth".into(),
                yaml: "slug: x\ndo: []\n".into(),
                updated_at: Timestamp(6),
                updated_by: "user:owner".into(),
            }],
            bindings: vec![BindingRow {
                workspace_id: "w".into(),
                owner: "flow:call-with-oauth".into(),
                secret: "clientSecret".into(),
                location: "do[0].fetch".into(),
            }],
        };
        let lines = encode(&snap, Timestamp(0));
        assert_eq!(check_header(&lines[0]).unwrap(), 10);
        let mut back = Snapshot::default();
        for l in &lines[1..] {
            let text = l.to_string();
            decode_row(&serde_json::from_str(&text).unwrap(), &mut back).unwrap();
        }
        assert_eq!(back, snap);
        assert!(decode_row(&json!({"t": "secret", "id": 1}), &mut back).is_err());
        assert!(check_header(&json!({"format": "other"})).is_err());
    }

    #[test]
    fn rows_written_before_version_states_still_decode() {
        let mut back = Snapshot::default();
        decode_row(
            &json!({"t": "secret", "id": "s", "workspace_id": "w", "scope": "workspace", "owner": "",
                "name": "db", "visibility": "masked", "description": null, "current_version": 2,
                "fingerprint": "f", "expires_at": null, "created_at": 1, "created_by": "c",
                "updated_at": 2, "updated_by": "c", "allowed_hosts": []}),
            &mut back,
        )
        .unwrap();
        decode_row(
            &json!({"t": "version", "secret_id": "s", "version": 2, "key_version": 1,
                "sealed": "AAAA", "fingerprint": "f", "created_at": 2, "created_by": "c"}),
            &mut back,
        )
        .unwrap();
        let s = &back.secrets[0];
        assert!(s.labels.is_empty() && !s.cas_required && !s.current_destroyed);
        assert_eq!((s.max_versions, s.delete_version_after), (None, None));
        let v = &back.versions[0];
        assert_eq!(
            (v.deleted_at, v.destroyed, v.policy.clone()),
            (None, false, None)
        );
        // A bad new field is still an error, not a silent default.
        assert!(decode_row(
            &json!({"t": "version", "secret_id": "s", "version": 2, "key_version": 1,
                "sealed": "AAAA", "fingerprint": "f", "created_at": 2, "created_by": "c",
                "policy": {"aad": 2, "allowed_hosts": "anywhere"}}),
            &mut back,
        )
        .is_err());
        assert!(decode_row(
            &json!({"t": "version", "secret_id": "s", "version": 2, "key_version": 1,
                "sealed": "AAAA", "fingerprint": "f", "created_at": 2, "created_by": "c",
                "destroyed": "yes"}),
            &mut back,
        )
        .is_err());
    }
}
