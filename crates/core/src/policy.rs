//! The role matrix (docs/api.md, "Roles") as one pure function.
//!
//! Every permission check in Lockbox ends here: the service layer asks
//! [`allowed`] (what a role or a run may do in a workspace) or [`account_allowed`]
//! (what a kind of credential may do outside any one workspace: its identity, its
//! own tokens, new workspaces, opening runs) and never compares roles itself.
//! Scope-specific rules (a user's own private scope) are decided in the service,
//! which then asks this function with the actor it has settled on.
//!
//! A run is its own column everywhere: it lists, writes, deletes and references
//! its workspace's secrets and nothing else; no account action is open to it.

use crate::error::{Error, Result};
use std::fmt;

/// A member's role in one workspace, most powerful first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Owner,
    Admin,
    Editor,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid("role must be one of owner, admin, editor, viewer")
                    .with_field("role")
            })
    }

    /// Higher rank = more power. Used only to compare roles for delegation.
    fn rank(self) -> u8 {
        match self {
            Role::Owner => 4,
            Role::Admin => 3,
            Role::Editor => 2,
            Role::Viewer => 1,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is acting, as far as the matrix cares: a member with a role, or an
/// automation run (the right-most column of the matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Member(Role),
    Run,
}

/// Everything the matrix has a row for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ListSecrets,
    /// Members, workspace settings and the names of stored flows: what a member
    /// sees of the workspace itself. Not a run's business.
    ViewWorkspace,
    WriteSecret,
    RenameSecret,
    DeleteSecret,
    RevealMasked,
    RevealRestricted,
    UseReferences,
    OpenRun,
    ManageFlows,
    ManageMembers,
    ManageTokens,
    ManageSettings,
    DeleteWorkspace,
    ReadAudit,
}

impl Action {
    pub const ALL: [Action; 15] = [
        Action::ListSecrets,
        Action::ViewWorkspace,
        Action::WriteSecret,
        Action::RenameSecret,
        Action::DeleteSecret,
        Action::RevealMasked,
        Action::RevealRestricted,
        Action::UseReferences,
        Action::OpenRun,
        Action::ManageFlows,
        Action::ManageMembers,
        Action::ManageTokens,
        Action::ManageSettings,
        Action::DeleteWorkspace,
        Action::ReadAudit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::ListSecrets => "list secrets",
            Action::ViewWorkspace => "view the workspace's members, settings and flows",
            Action::WriteSecret => "create or update secrets",
            Action::RenameSecret => "rename secrets",
            Action::DeleteSecret => "delete secrets",
            Action::RevealMasked => "reveal masked secrets",
            Action::RevealRestricted => "reveal restricted secrets",
            Action::UseReferences => "use secret references",
            Action::OpenRun => "open automation runs",
            Action::ManageFlows => "store flows and declare bindings",
            Action::ManageMembers => "manage members",
            Action::ManageTokens => "manage tokens",
            Action::ManageSettings => "change workspace settings",
            Action::DeleteWorkspace => "delete the workspace",
            Action::ReadAudit => "read the audit log",
        }
    }
}

/// The role matrix. `true` when `actor` may perform `action`.
///
/// Admins may manage members and tokens only below owner; that finer rule is
/// [`can_assign_role`].
pub fn allowed(actor: Actor, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match actor {
        Actor::Member(role) => match action {
            ListSecrets | ViewWorkspace => true,
            WriteSecret | RenameSecret | DeleteSecret => matches!(role, Owner | Admin),
            RevealMasked => matches!(role, Owner | Admin | Editor),
            RevealRestricted | UseReferences => false,
            ManageMembers | ManageTokens | OpenRun | ManageFlows => matches!(role, Owner | Admin),
            ManageSettings | DeleteWorkspace => role == Owner,
            ReadAudit => matches!(role, Owner | Admin),
        },
        Actor::Run => matches!(
            action,
            ListSecrets | WriteSecret | DeleteSecret | UseReferences
        ),
    }
}

/// What kind of credential is calling, for rules that are not about one workspace.
/// A console session is the kind of the token it was signed in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerKind {
    /// A personal token (or its console session): acts as its user.
    Person,
    /// A service token (or its console session): one workspace, one fixed role.
    ServiceToken,
    /// An automation run (`lbr_…`).
    Run,
}

impl CallerKind {
    pub const ALL: [CallerKind; 3] = [
        CallerKind::Person,
        CallerKind::ServiceToken,
        CallerKind::Run,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallerKind::Person => "a personal token",
            CallerKind::ServiceToken => "a service token",
            CallerKind::Run => "a run token",
        }
    }
}

/// Actions outside any one workspace's role matrix (or whose workspace is only
/// known after reading the request body; the workspace rule is then asked too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountAction {
    /// Who am I, which workspaces do I belong to.
    ReadIdentity,
    /// Create a workspace (and become its owner).
    CreateWorkspace,
    /// Create a personal token for oneself.
    CreatePersonalToken,
    /// List, create or revoke tokens (own personal tokens; service tokens where the
    /// workspace role allows [`Action::ManageTokens`]).
    ManageTokens,
    /// Open or end runs (where the workspace role allows [`Action::OpenRun`]).
    ManageRuns,
    /// Read the audit rows that belong to no workspace (`GET /v1/audit`): one's
    /// own account's, and for workspace owners the deployment's own.
    ReadAccountAudit,
}

impl AccountAction {
    pub const ALL: [AccountAction; 6] = [
        AccountAction::ReadIdentity,
        AccountAction::CreateWorkspace,
        AccountAction::CreatePersonalToken,
        AccountAction::ManageTokens,
        AccountAction::ManageRuns,
        AccountAction::ReadAccountAudit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountAction::ReadIdentity => "read its identity and workspaces",
            AccountAction::CreateWorkspace => "create workspaces",
            AccountAction::CreatePersonalToken => "create personal tokens",
            AccountAction::ManageTokens => "list, create or revoke tokens",
            AccountAction::ManageRuns => "open or end runs",
            AccountAction::ReadAccountAudit => "read an account's audit log",
        }
    }
}

/// The account matrix: `true` when a caller of `kind` may attempt `action`.
/// Runs may do none of these: a run token never mints, lists or revokes tokens,
/// never creates workspaces and never opens runs.
pub fn account_allowed(kind: CallerKind, action: AccountAction) -> bool {
    use AccountAction::*;
    match kind {
        CallerKind::Person => true,
        CallerKind::ServiceToken => matches!(action, ReadIdentity | ManageTokens | ManageRuns),
        CallerKind::Run => false,
    }
}

/// May `actor_role` give someone `new_role`, where that someone now holds
/// `current` (None for a newcomer)? Owners may do anything; admins only below owner:
/// they can neither grant owner nor touch an existing owner.
pub fn can_assign_role(actor_role: Role, current: Option<Role>, new_role: Option<Role>) -> bool {
    match actor_role {
        Role::Owner => true,
        Role::Admin => {
            current.is_none_or(|c| c.rank() < Role::Owner.rank())
                && new_role.is_none_or(|n| n.rank() < Role::Owner.rank())
        }
        Role::Editor | Role::Viewer => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix as docs/api.md ("Roles") prints it: (action, owner, admin,
    /// editor, viewer, run), read from the document so the two cannot drift.
    fn documented_matrix() -> Vec<(String, [bool; 5])> {
        let doc = include_str!("../../../docs/api.md");
        let section = doc
            .split("\n## Roles\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/api.md has a Roles section");
        section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|line| {
                let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
                let action = cells[0].split('`').nth(1).expect("action in backticks");
                let mut marks = [false; 5];
                for (mark, cell) in marks.iter_mut().zip(&cells[1..]) {
                    *mark = match *cell {
                        "✓" => true,
                        "–" => false,
                        other => panic!("unexpected cell {other:?} in row {action}"),
                    };
                }
                (action.to_owned(), marks)
            })
            .collect()
    }

    #[test]
    fn every_role_and_action_matches_the_documented_matrix() {
        let matrix = documented_matrix();
        assert_eq!(matrix.len(), Action::ALL.len(), "one row per action");
        for action in Action::ALL {
            let (_, marks) = matrix
                .iter()
                .find(|(name, _)| *name == format!("{action:?}"))
                .unwrap_or_else(|| panic!("docs/api.md has no row for {action:?}"));
            for (role, want) in Role::ALL.into_iter().zip(&marks[..4]) {
                assert_eq!(
                    allowed(Actor::Member(role), action),
                    *want,
                    "{role} {action:?}"
                );
            }
            assert_eq!(allowed(Actor::Run, action), marks[4], "run {action:?}");
        }
    }

    #[test]
    fn account_matrix_refuses_runs_everything() {
        for action in AccountAction::ALL {
            assert!(!account_allowed(CallerKind::Run, action), "{action:?}");
            assert!(account_allowed(CallerKind::Person, action), "{action:?}");
        }
        assert!(!account_allowed(
            CallerKind::ServiceToken,
            AccountAction::CreateWorkspace
        ));
        assert!(!account_allowed(
            CallerKind::ServiceToken,
            AccountAction::CreatePersonalToken
        ));
        assert!(account_allowed(
            CallerKind::ServiceToken,
            AccountAction::ManageTokens
        ));
    }

    #[test]
    fn nobody_reveals_restricted() {
        for role in Role::ALL {
            assert!(!allowed(Actor::Member(role), Action::RevealRestricted));
        }
        assert!(!allowed(Actor::Run, Action::RevealRestricted));
    }

    #[test]
    fn admins_manage_only_below_owner() {
        assert!(can_assign_role(Role::Admin, None, Some(Role::Editor)));
        assert!(can_assign_role(
            Role::Admin,
            Some(Role::Viewer),
            Some(Role::Admin)
        ));
        assert!(!can_assign_role(Role::Admin, None, Some(Role::Owner)));
        assert!(!can_assign_role(
            Role::Admin,
            Some(Role::Owner),
            Some(Role::Viewer)
        ));
        assert!(!can_assign_role(Role::Admin, Some(Role::Owner), None));
        assert!(can_assign_role(
            Role::Owner,
            Some(Role::Owner),
            Some(Role::Viewer)
        ));
        assert!(!can_assign_role(Role::Editor, None, Some(Role::Viewer)));
    }

    #[test]
    fn roles_parse() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
    }
}
