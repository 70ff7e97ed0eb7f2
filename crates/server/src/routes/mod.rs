//! Route tables, one module per area, and the conversion of the service's views
//! into the wire types (`lockbox-wire`) the routes answer with: the service owns
//! what a view holds, the wire crate owns how it is spelled on the wire.

pub mod admin;
pub mod flows;
pub mod gate;
pub mod ops;
pub mod runs;
pub mod scripts;
pub mod secrets;

use lockbox_wire as wire;

pub(crate) fn wire_binding(b: lockbox_service::BindingInfo) -> wire::BindingInfo {
    wire::BindingInfo {
        owner: b.owner,
        location: b.location,
    }
}

pub(crate) fn wire_meta(m: lockbox_service::SecretMeta) -> wire::SecretMeta {
    wire::SecretMeta {
        id: m.id,
        name: m.name,
        workspace: m.workspace,
        scope: m.scope.to_owned(),
        visibility: m.visibility.to_owned(),
        description: m.description,
        version: m.version,
        fingerprint: m.fingerprint,
        expires_at: m.expires_at,
        created_at: m.created_at,
        created_by: m.created_by,
        updated_at: m.updated_at,
        updated_by: m.updated_by,
        allowed_hosts: m.allowed_hosts,
        bindings: m
            .bindings
            .map(|list| list.into_iter().map(wire_binding).collect()),
        labels: m.labels,
        max_versions: m.max_versions,
        cas_required: m.cas_required,
        delete_version_after: m.delete_version_after,
        current_deleted: m.current_deleted,
        warnings: m.warnings,
    }
}

pub(crate) fn wire_versions(list: Vec<lockbox_service::VersionInfo>) -> wire::VersionList {
    wire::VersionList {
        versions: list
            .into_iter()
            .map(|v| wire::VersionInfo {
                version: v.version,
                fingerprint: v.fingerprint,
                created_at: v.created_at,
                created_by: v.created_by,
                current: v.current,
                deleted_at: v.deleted_at,
                destroyed: v.destroyed,
            })
            .collect(),
    }
}

pub(crate) fn wire_settings(s: lockbox_service::WorkspaceSettings) -> wire::Settings {
    wire::Settings {
        allow_rename: s.allow_rename,
        max_versions: s.max_versions,
        cas_required: s.cas_required,
        delete_version_after: s.delete_version_after,
    }
}

pub(crate) fn wire_member(m: lockbox_service::MemberInfo) -> wire::Member {
    wire::Member {
        user: m.user,
        role: m.role.to_owned(),
        since: m.since,
    }
}

pub(crate) fn wire_workspace(w: lockbox_service::WorkspaceInfo) -> wire::WorkspaceInfo {
    wire::WorkspaceInfo {
        name: w.name,
        role: w.role.to_owned(),
        created_at: w.created_at,
    }
}

pub(crate) fn wire_created_token(t: lockbox_service::CreatedToken) -> wire::CreatedToken {
    wire::CreatedToken {
        id: t.id,
        name: t.name,
        kind: t.kind.to_owned(),
        workspace: t.workspace,
        role: t.role.map(str::to_owned),
        token: t.token,
        expires_at: t.expires_at,
        run_as_users: t.run_as_users,
    }
}

pub(crate) fn wire_token(t: lockbox_service::TokenInfo) -> wire::TokenInfo {
    wire::TokenInfo {
        id: t.id,
        name: t.name,
        kind: t.kind.to_owned(),
        workspace: t.workspace,
        role: t.role.map(str::to_owned),
        user: t.user,
        created_at: t.created_at,
        created_by: Some(t.created_by),
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        run_as_users: t.run_as_users,
    }
}

pub(crate) fn wire_audit(page: lockbox_service::AuditPage) -> wire::AuditPage {
    wire::AuditPage {
        events: page
            .events
            .into_iter()
            .map(|e| wire::AuditEvent {
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                action: e.action,
                target: e.target,
                outcome: e.outcome,
                request_id: e.request_id,
                detail: e.detail,
            })
            .collect(),
        next_before: page.next_before,
    }
}

pub(crate) fn wire_me(me: lockbox_service::WhoAmI) -> wire::Me {
    wire::Me {
        kind: me.kind.to_owned(),
        user: me.user,
        token: wire::MeToken {
            id: me.token.id,
            name: me.token.name,
        },
        workspaces: me
            .workspaces
            .into_iter()
            .map(|w| wire::MeWorkspace {
                name: w.name,
                role: w.role.to_owned(),
            })
            .collect(),
    }
}

pub(crate) fn wire_opened_run(r: lockbox_service::runs::OpenedRun) -> wire::OpenedRun {
    wire::OpenedRun {
        run_id: r.run_id,
        token: r.token,
        workspace: r.workspace,
        user: r.user,
        trigger: r.trigger,
        expires_at: r.expires_at,
    }
}

pub(crate) fn wire_flow(f: lockbox_service::FlowInfo) -> wire::FlowInfo {
    wire::FlowInfo {
        slug: f.slug,
        updated_at: f.updated_at,
        updated_by: f.updated_by,
    }
}

pub(crate) fn wire_script_run(r: lockbox_automation::script::ScriptRun) -> wire::ScriptRun {
    wire::ScriptRun {
        status: r.status,
        logs: r
            .logs
            .into_iter()
            .map(|l| wire::LogLine {
                level: l.level,
                message: l.message,
            })
            .collect(),
        message: r.message,
        error: r.error.map(|e| serde_json::to_value(e).unwrap_or_default()),
    }
}
