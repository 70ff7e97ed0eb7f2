//! The authorization gate in front of every `/v1` route: which row of the role
//! matrix (or of the account matrix) a route is about, asked with the caller's
//! principal before the handler reads a byte of the body.
//!
//! The table ([`gate_for`]) is transport knowledge, "this route reveals a secret",
//! not a rule: the rule is the matrix in `lockbox_core::policy`, asked by the
//! service ([`lockbox_service::Lockbox::authorize_request`]). The operation asks
//! again with what only the body tells (the target secret and its visibility, the
//! workspace named in `POST /v1/runs` or `POST /v1/tokens`). A `/v1` route missing
//! from the table is refused (fail closed), and `tests/route_matrix.rs` walks every
//! route of the OpenAPI document with every kind of principal, so a new route
//! cannot go out without a decision.

use crate::error::ApiError;
use crate::extract::authenticate_parts;
use crate::AppState;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lockbox_core::{AccountAction, Action, Error, Scope};
use lockbox_service::Requirement;

/// What a route needs before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Not about one workspace (or its workspace is in the body).
    Account(AccountAction),
    /// Workspace administration in `{ws}`: members by role, never a run.
    Workspace(Action),
    /// Secrets in `{ws}` (scope from `?scope=`): members by role, runs by the run
    /// column in their own workspace.
    Secrets(Action),
    /// The run API: run tokens only.
    Run(Action),
}

/// The gate of `method` on the route template `route` (as axum matched it), given
/// its path parameters; `None` for a route with no decision (refused).
pub fn gate_for(
    method: &Method,
    route: &str,
    param: impl Fn(&str) -> Option<String>,
) -> Option<Gate> {
    use AccountAction as Acc;
    use Action as A;
    use Gate::*;
    // axum answers HEAD with the GET handler; it needs what GET needs.
    let m = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    Some(match (m, route) {
        ("GET", "/v1/me") | ("GET", "/v1/workspaces") => Account(Acc::ReadIdentity),
        ("POST", "/v1/workspaces") => Account(Acc::CreateWorkspace),
        ("GET" | "POST", "/v1/tokens") | ("DELETE" | "PATCH", "/v1/tokens/{id}") => {
            Account(Acc::ManageTokens)
        }
        ("POST", "/v1/runs") | ("DELETE", "/v1/runs/{id}") => Account(Acc::ManageRuns),
        ("GET", "/v1/audit") => Account(Acc::ReadAccountAudit),

        ("DELETE", "/v1/workspaces/{ws}") => Workspace(A::DeleteWorkspace),
        ("GET", "/v1/workspaces/{ws}/settings") => Workspace(A::ViewWorkspace),
        ("PATCH", "/v1/workspaces/{ws}/settings") => Workspace(A::ManageSettings),
        ("GET", "/v1/workspaces/{ws}/members") => Workspace(A::ViewWorkspace),
        ("POST", "/v1/workspaces/{ws}/members")
        | ("PUT" | "DELETE", "/v1/workspaces/{ws}/members/{user}") => Workspace(A::ManageMembers),
        ("GET", "/v1/workspaces/{ws}/audit") => Workspace(A::ReadAudit),
        ("PUT", "/v1/workspaces/{ws}/bindings/{owner}") => Workspace(A::ManageFlows),
        ("GET", "/v1/workspaces/{ws}/flows") => Workspace(A::ViewWorkspace),
        ("GET" | "PUT" | "DELETE", "/v1/workspaces/{ws}/flows/{slug}") => Workspace(A::ManageFlows),
        ("POST", "/v1/workspaces/{ws}/flows/{slug}/runs")
        | ("POST", "/v1/workspaces/{ws}/scripts/run") => Workspace(A::OpenRun),

        ("GET", "/v1/workspaces/{ws}/secrets")
        | ("GET", "/v1/workspaces/{ws}/secrets/{name}")
        | ("GET", "/v1/workspaces/{ws}/secrets/{name}/versions") => Secrets(A::ListSecrets),
        ("PUT" | "PATCH", "/v1/workspaces/{ws}/secrets/{name}")
        | ("POST", "/v1/workspaces/{ws}/secrets/{name}/rollback")
        | ("PATCH", "/v1/workspaces/{ws}/secrets/{name}/settings") => Secrets(A::WriteSecret),
        ("DELETE", "/v1/workspaces/{ws}/secrets/{name}") => Secrets(A::DeleteSecret),
        ("POST", "/v1/workspaces/{ws}/secrets/{name}/reveal") => Secrets(A::RevealMasked),
        ("POST", "/v1/workspaces/{ws}/secrets/{name}/rename") => Secrets(A::RenameSecret),
        ("POST", "/v1/workspaces/{ws}/secrets/{name}/versions/{op}") => {
            match param("op").as_deref() {
                Some("undelete") => Secrets(A::WriteSecret),
                // delete, destroy, and anything the handler will refuse.
                _ => Secrets(A::DeleteSecret),
            }
        }

        ("POST", "/v1/run/secrets/set") => Run(A::WriteSecret),
        ("POST", "/v1/run/secrets/delete") => Run(A::DeleteSecret),
        ("POST", "/v1/run/secrets/get" | "/v1/run/fetch" | "/v1/run/redact") => {
            Run(A::UseReferences)
        }
        _ => return None,
    })
}

/// `?scope=` of a query string (the handler validates it; here an unknown value
/// reads as the workspace scope, which the handler then refuses).
fn scope_of(query: Option<&str>) -> Scope {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "scope")
        .and_then(|(_, v)| Scope::parse(v).ok())
        .unwrap_or(Scope::Workspace)
}

/// The middleware: authenticate, find the route's gate, ask the service; the
/// authenticated caller is handed to the handler's [`crate::extract::Caller`]
/// extractor.
pub async fn authorize(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Some(route) = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    if !route.starts_with("/v1/") {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let params =
        match <RawPathParams as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &st,
        )
        .await
        {
            Ok(p) => p,
            Err(_) => {
                return ApiError::from(Error::invalid("a path parameter is not valid UTF-8"))
                    .into_response()
            }
        };
    let param = |k: &str| {
        params
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_owned())
    };
    let Some(gate) = gate_for(&parts.method, &route, param) else {
        tracing::error!(route = %route, method = %parts.method, "a /v1 route has no authorization gate; refused");
        return ApiError::from(Error::forbidden("this route has no authorization rule"))
            .into_response();
    };
    let caller = match authenticate_parts(&parts, &st).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let ws = param("ws").unwrap_or_default();
    let requirement = match gate {
        Gate::Account(a) => Requirement::Account(a),
        Gate::Workspace(action) => Requirement::Workspace {
            workspace: &ws,
            action,
        },
        Gate::Secrets(action) => Requirement::Secrets {
            workspace: &ws,
            scope: scope_of(parts.uri.query()),
            action,
        },
        Gate::Run(action) => Requirement::Run(action),
    };
    if let Err(e) = st
        .svc
        .authorize_request(&caller.principal, requirement, &caller.ctx)
        .await
    {
        return ApiError::from(e).into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_routes_have_no_gate_and_versions_ops_differ() {
        let none = |_: &str| None;
        assert_eq!(gate_for(&Method::GET, "/v1/nope", none), None);
        assert_eq!(
            gate_for(
                &Method::POST,
                "/v1/workspaces/{ws}/secrets/{name}/versions/{op}",
                |_| { Some("undelete".into()) }
            ),
            Some(Gate::Secrets(Action::WriteSecret))
        );
        assert_eq!(
            gate_for(
                &Method::POST,
                "/v1/workspaces/{ws}/secrets/{name}/versions/{op}",
                |_| { Some("destroy".into()) }
            ),
            Some(Gate::Secrets(Action::DeleteSecret))
        );
    }

    #[test]
    fn scope_comes_from_the_query() {
        assert_eq!(scope_of(Some("scope=user&x=1")), Scope::User);
        assert_eq!(scope_of(Some("prefix=a")), Scope::Workspace);
        assert_eq!(scope_of(None), Scope::Workspace);
    }
}
