//! What a Vault request says before any handler runs: the decoded path after
//! `/v1/`, the method (with Vault's `LIST`), the token (`X-Vault-Token` or
//! `Authorization: Bearer`), the namespace, and the secret names a Vault path can
//! express.
//!
//! It turns untrusted input into typed values and clear `400`/`403` answers; it
//! never decides whether the caller may do something (the service does) and never
//! echoes a token back in an error.

use crate::error::VaultError;
use crate::AppState;
use axum::http::{HeaderMap, Method};
use lockbox_core::SecretName;
use lockbox_service::{Principal, RequestCtx};

/// The operation a request asks for, as Vault sees methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Read,
    /// `LIST`, or `GET …?list=true`.
    List,
    /// `PUT` and `POST` mean the same to Vault.
    Write,
    Patch,
    Delete,
    Other,
}

impl Verb {
    pub fn of(method: &Method, list_query: bool) -> Verb {
        match method.as_str() {
            "GET" if list_query => Verb::List,
            "GET" => Verb::Read,
            "LIST" => Verb::List,
            "PUT" | "POST" => Verb::Write,
            "PATCH" => Verb::Patch,
            "DELETE" => Verb::Delete,
            _ => Verb::Other,
        }
    }
}

/// The part of the URL path after the API version, percent-decoded. The two
/// spellings clients produce: `/vault/v1/<path>` (hvac, the Go client, curl) and
/// `/v1/vault/<path>` (vaultrs puts its `/v1` before the address's own path).
pub fn api_path(raw: &str) -> Result<String, VaultError> {
    let rest = raw
        .strip_prefix("/vault/v1/")
        .or_else(|| raw.strip_prefix("/v1/vault/"))
        .ok_or_else(VaultError::not_found)?;
    // Some clients join `/v1/` and a path that starts with `/` (vaultrs's
    // `/auth/token/lookup-self`); Vault reads that as the same path.
    percent_decode(rest.trim_start_matches('/'))
}

fn percent_decode(s: &str) -> Result<String, VaultError> {
    let bad = || VaultError::invalid("invalid: path is not valid percent-encoded UTF-8");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// A secret name as a Vault path names it. Names Vault paths cannot express (a
/// trailing `/`, `//`, `.` or `..` segments, non-printable characters) are not
/// addressable through this API; the native API still reaches them.
pub fn secret_name(path: &str) -> Result<SecretName, VaultError> {
    if !vault_addressable(path) {
        return Err(VaultError::invalid(
            "invalid: this path cannot name a secret through the Vault API (empty, a trailing '/', \
             '//', '.' or '..' segments, or non-printable characters); use the native API",
        ));
    }
    Ok(SecretName::parse(path)?)
}

/// True when `name` can be written as a Vault path and read back as the same name.
pub fn vault_addressable(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(|c| c.is_control())
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// The token: `X-Vault-Token` wins over `Authorization: Bearer`.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    if let Some(t) = headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Some(t);
    }
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// `X-Vault-Namespace`: absent, empty or `root` mean nothing; any other value must
/// name the token's workspace.
pub fn namespace(headers: &HeaderMap) -> Result<Option<String>, VaultError> {
    let Some(v) = headers.get("x-vault-namespace") else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| VaultError::invalid("invalid: X-Vault-Namespace is not text"))?
        .trim()
        .trim_matches('/');
    Ok((!v.is_empty() && v != "root").then(|| v.to_owned()))
}

/// An authenticated Vault caller and the workspace its token addresses.
pub struct VaultCaller {
    pub principal: Principal,
    pub ctx: RequestCtx,
    pub workspace: String,
    /// The presented token (`lookup-self` answers it as `data.id`, as Vault does).
    pub token: String,
}

impl VaultCaller {
    pub async fn authenticate(
        st: &AppState,
        headers: &HeaderMap,
        client: Option<std::net::IpAddr>,
        request_id: &str,
    ) -> Result<VaultCaller, VaultError> {
        let token = token(headers).ok_or_else(VaultError::permission_denied)?;
        let principal = st.svc.authenticate(token).await.map_err(|e| {
            if e.code != lockbox_core::ErrorCode::Unauthenticated {
                // The store is unavailable: say so (503), not "permission denied".
                return VaultError::from(e);
            }
            match st.auth_limiter.failed(client, Some(token)) {
                Some(wait) => VaultError::rate_limited(wait),
                None => VaultError::permission_denied(),
            }
        })?;
        let ctx = RequestCtx {
            request_id: Some(request_id.to_owned()),
        };
        let ns = namespace(headers)?;
        let workspace = token_workspace(st, &principal, ns.as_deref()).await?;
        Ok(VaultCaller {
            principal,
            ctx,
            workspace,
            token: token.to_owned(),
        })
    }
}

/// The token's workspace. A service or run token has exactly one; a personal token
/// has its user's memberships: the one `X-Vault-Namespace` names, else the token's
/// default workspace (set on the token, else the user's oldest membership), so an
/// unmodified client keeps working when its user joins another workspace.
async fn token_workspace(
    st: &AppState,
    p: &Principal,
    ns: Option<&str>,
) -> Result<String, VaultError> {
    let (names, default) = match &p.run {
        Some(run) => (vec![run.workspace.clone()], Some(run.workspace.clone())),
        None => match workspaces_cache::get(&p.token_id, st.svc.now()) {
            Some(known) => known,
            None => {
                let names: Vec<String> = st
                    .svc
                    .whoami(p)
                    .await?
                    .workspaces
                    .into_iter()
                    .map(|w| w.name)
                    .collect();
                let default = match names.as_slice() {
                    [one] => Some(one.clone()),
                    [] => None,
                    _ => st.svc.default_workspace(p).await?,
                };
                workspaces_cache::put(&p.token_id, st.svc.now(), (names.clone(), default.clone()));
                (names, default)
            }
        },
    };
    let ns_refused = || {
        VaultError::new(
            axum::http::StatusCode::FORBIDDEN,
            "permission denied: X-Vault-Namespace must name this token's workspace",
        )
    };
    match ns {
        Some(ns) => names
            .iter()
            .find(|n| n.as_str() == ns)
            .cloned()
            .ok_or_else(ns_refused),
        None => default.ok_or_else(VaultError::permission_denied),
    }
}

/// Which workspace names a token id belongs to and which is its default, for one
/// second (the service's `whoami` is a store read per call). Only routing uses it: every operation is
/// still authorized by the service against the principal, so a stale entry can at
/// worst name a workspace the service then refuses.
mod workspaces_cache {
    use lockbox_core::Timestamp;
    use std::collections::HashMap;
    use std::sync::Mutex;

    const TTL_MS: i64 = 1000;
    const MAX_ENTRIES: usize = 10_000;

    /// The workspace names, and the default one.
    pub type Known = (Vec<String>, Option<String>);
    type Entries = HashMap<String, (Timestamp, Known)>;
    static CACHE: Mutex<Option<Entries>> = Mutex::new(None);

    pub fn get(token_id: &str, now: Timestamp) -> Option<Known> {
        let guard = CACHE.lock().ok()?;
        let (at, known) = guard.as_ref()?.get(token_id)?;
        (now.millis() - at.millis() < TTL_MS && now >= *at).then(|| known.clone())
    }

    pub fn put(token_id: &str, now: Timestamp, names: Known) {
        if let Ok(mut guard) = CACHE.lock() {
            let map = guard.get_or_insert_with(HashMap::new);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(token_id.to_owned(), (now, names));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn both_prefixes_decode() {
        assert_eq!(
            api_path("/vault/v1/secret/data/a%20b").unwrap(),
            "secret/data/a b"
        );
        assert_eq!(
            api_path("/v1/vault/secret/data/a%2Fb").unwrap(),
            "secret/data/a/b"
        );
        assert_eq!(
            api_path("/v1/vault//auth/token/lookup-self").unwrap(),
            "auth/token/lookup-self"
        );
        assert!(api_path("/vault/v2/secret").is_err());
        assert!(api_path("/vault/v1/secret/data/%zz").is_err());
        assert!(api_path("/vault/v1/secret/data/%ff").is_err());
    }

    #[test]
    fn names_vault_cannot_express_are_refused() {
        for ok in ["a", "a/b", "with space", "🔑/x", "a.b", "..a"] {
            assert!(secret_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a/", "/a", "a//b", "a/./b", "a/../b", ".", "..", "a\u{7}b",
        ] {
            assert!(secret_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn vault_token_wins_over_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(token(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer lbx_b"));
        assert_eq!(token(&h), Some("lbx_b"));
        h.insert("x-vault-token", HeaderValue::from_static("lbx_v"));
        assert_eq!(token(&h), Some("lbx_v"));
        h.insert("x-vault-token", HeaderValue::from_static(""));
        assert_eq!(token(&h), Some("lbx_b"));
    }

    #[test]
    fn root_and_empty_namespaces_are_ignored() {
        let mut h = HeaderMap::new();
        assert_eq!(namespace(&h).unwrap(), None);
        for v in ["", "root", "/root/", " "] {
            h.insert("x-vault-namespace", HeaderValue::from_str(v).unwrap());
            assert_eq!(namespace(&h).unwrap(), None, "{v:?}");
        }
        h.insert("x-vault-namespace", HeaderValue::from_static("team-a/"));
        assert_eq!(namespace(&h).unwrap().as_deref(), Some("team-a"));
    }
}
