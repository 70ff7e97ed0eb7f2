//! [`Secrets`]: a small key-value view of one workspace and scope, in the shape of
//! a connector SDK's secrets store (`put`, `get`, `exists`, `patch`, `delete`),
//! with typed values through serde, plus the version states (`versions`,
//! `delete_versions`, `undelete_versions`, `destroy_versions`) and per-secret
//! settings (`update_settings`).
//!
//! Every method is one or a few calls of the low-level [`Client`]; nothing is cached.
//! Values travel as JSON; a Rust value that serializes to an empty document (`""`,
//! `{}`, `[]`, `null`) is refused by the server as `invalid`.

use crate::client::Client;
use crate::error::{decode_json, Error, Result};
use crate::types::PutOptions;
use lockbox_core::{ErrorCode, Scope, SecretValue};
use lockbox_wire::{SecretMeta, SecretSettingsPatch, VersionInfo};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many read-modify-write rounds [`Secrets::patch_with`] makes before giving up.
const PATCH_WITH_TRIES: u32 = 16;
/// The first back-off of [`Secrets::patch_with`]; it doubles each round, jittered.
const PATCH_WITH_BASE_BACKOFF: Duration = Duration::from_millis(5);
/// The longest single back-off of [`Secrets::patch_with`].
const PATCH_WITH_MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The secrets of one workspace, in its workspace scope or in the caller's user
/// scope, as a typed key-value store.
///
/// Made by [`Client::secrets`]; cheap to clone (clones share the connection pool).
///
/// ```no_run
/// # async fn demo() -> lockbox_client::Result<()> {
/// use lockbox_client::Client;
///
/// let secrets = Client::from_env()?.secrets("default");
/// secrets.put("authToken", &serde_json::json!({"token": "t0k", "siteId": 123})).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Secrets {
    client: Client,
    workspace: String,
    scope: Scope,
}

impl Client {
    /// The secrets of `workspace`, in its workspace scope. See [`Secrets`].
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// let present = secrets.exists("authToken").await?;
    /// # Ok(()) }
    /// ```
    pub fn secrets(&self, workspace: &str) -> Secrets {
        Secrets {
            client: self.clone(),
            workspace: workspace.to_owned(),
            scope: Scope::Workspace,
        }
    }
}

impl Secrets {
    /// The same workspace, but the caller's own user scope (`?scope=user`): names
    /// there are separate from the workspace scope's.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let mine = lockbox_client::Client::from_env()?.secrets("default").user_scope();
    /// mine.put("github", "ghp_personal").await?;
    /// # Ok(()) }
    /// ```
    pub fn user_scope(self) -> Secrets {
        Secrets {
            scope: Scope::User,
            ..self
        }
    }

    /// The workspace this store is bound to.
    ///
    /// ```no_run
    /// # fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// assert_eq!(secrets.workspace(), "default");
    /// # Ok(()) }
    /// ```
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// The scope this store is bound to.
    ///
    /// ```no_run
    /// # fn demo() -> lockbox_client::Result<()> {
    /// use lockbox_client::Scope;
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default").user_scope();
    /// assert_eq!(secrets.scope(), Scope::User);
    /// # Ok(()) }
    /// ```
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Writes `value` (serialized to JSON) as the new version of `name`, creating
    /// the secret when it does not exist. Last writer wins; for read-modify-write
    /// use [`Secrets::patch`] or [`Secrets::patch_with`]. A secret whose settings
    /// have `cas_required` refuses this blind write (`invalid`);
    /// [`Secrets::patch_with`] names the version it read and goes through.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// use serde::Serialize;
    ///
    /// #[derive(Serialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct AuthToken { token: String, site_id: u64 }
    ///
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// secrets.put("authToken", &AuthToken { token: "t0k".into(), site_id: 123 }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn put<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<()> {
        let value = to_json("value", value)?;
        self.client
            .put_secret(
                &self.workspace,
                self.scope,
                name,
                &value,
                &PutOptions::default(),
            )
            .await
            .map(drop)
    }

    /// Reveals `name` and deserializes it as `T`; `Ok(None)` when it does not exist
    /// (or has expired). Each call is an audited reveal on the server.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// let auth: Option<serde_json::Value> = secrets.get("authToken").await?;
    /// let token = auth.as_ref().and_then(|a| a["token"].as_str());
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        match self.reveal(name).await? {
            Some((value, _)) => decode(name, &value).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`Secrets::get`], but hands back the value as a
    /// [`SecretValue`]: it prints `[REDACTED]`, zeroizes its buffer when dropped,
    /// and gives the JSON bytes only through `expose()`.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// if let Some(value) = secrets.get_secret("authToken").await? {
    ///     println!("{value:?}"); // [REDACTED]
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_secret(&self, name: &str) -> Result<Option<SecretValue>> {
        Ok(self.reveal(name).await?.map(|(value, _)| value))
    }

    /// Whether `name` exists (a `HEAD`, no reveal, no value on the wire).
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// if secrets.exists("authToken").await? {
    ///     // we already authenticated
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn exists(&self, name: &str) -> Result<bool> {
        self.client
            .secret_exists(&self.workspace, self.scope, name)
            .await
    }

    /// Deletes `name`; `Ok(false)` when it did not exist.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// let was_there = secrets.delete("authToken").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, name: &str) -> Result<bool> {
        match self
            .client
            .delete_secret(&self.workspace, self.scope, name)
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.code() == Some(ErrorCode::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every version of `name`, newest first, with its state (`deleted_at`,
    /// `destroyed`).
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// let live = secrets.versions("authToken").await?.iter().filter(|v| !v.destroyed).count();
    /// # Ok(()) }
    /// ```
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>> {
        self.client
            .versions(&self.workspace, self.scope, name)
            .await
    }

    /// Soft-deletes `versions` of `name` (`&[]`: the current one); see
    /// [`Client::delete_versions`].
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// secrets.delete_versions("authToken", &[]).await?;
    /// assert_eq!(secrets.get_secret("authToken").await?.map(|_| ()), None);
    /// # Ok(()) }
    /// ```
    pub async fn delete_versions(&self, name: &str, versions: &[u64]) -> Result<Vec<VersionInfo>> {
        self.client
            .delete_versions(&self.workspace, self.scope, name, versions)
            .await
    }

    /// Makes soft-deleted `versions` of `name` readable again; see
    /// [`Client::undelete_versions`].
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// secrets.undelete_versions("authToken", &[3]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn undelete_versions(
        &self,
        name: &str,
        versions: &[u64],
    ) -> Result<Vec<VersionInfo>> {
        self.client
            .undelete_versions(&self.workspace, self.scope, name, versions)
            .await
    }

    /// Removes the ciphertext of `versions` of `name` for good; see
    /// [`Client::destroy_versions`].
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// secrets.destroy_versions("authToken", &[1, 2]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn destroy_versions(&self, name: &str, versions: &[u64]) -> Result<Vec<VersionInfo>> {
        self.client
            .destroy_versions(&self.workspace, self.scope, name, versions)
            .await
    }

    /// Changes the per-secret settings of `name` (labels, `max_versions`,
    /// `cas_required`, `delete_version_after`); see
    /// [`Client::update_secret_settings`].
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// use lockbox_client::SecretSettingsPatch;
    ///
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// let meta = secrets
    ///     .update_settings("authToken", &SecretSettingsPatch::default().max_versions(3))
    ///     .await?;
    /// assert_eq!(meta.max_versions, Some(3));
    /// # Ok(()) }
    /// ```
    pub async fn update_settings(
        &self,
        name: &str,
        patch: &SecretSettingsPatch,
    ) -> Result<SecretMeta> {
        self.client
            .update_secret_settings(&self.workspace, self.scope, name, patch)
            .await
    }

    /// Applies `patch` (serialized to JSON) as a JSON merge patch (RFC 7396): its
    /// fields replace the stored ones, fields it leaves out are kept, a `null`
    /// field removes one. The server applies it atomically (read, merge and
    /// compare-and-set write in one request), so concurrent patches never lose each
    /// other. A missing secret is a `not_found` error: create it with
    /// [`Secrets::put`] first.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// // update the token without changing the site id
    /// secrets.patch("authToken", &serde_json::json!({"token": "fresh"})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn patch<T: Serialize + ?Sized>(&self, name: &str, patch: &T) -> Result<()> {
        let patch = to_json("patch", patch)?;
        self.client
            .patch_merge(&self.workspace, self.scope, name, &patch, None)
            .await
            .map(drop)
    }

    /// Atomic read-modify-write with a callback: reads the current value (`None`
    /// when `name` does not exist), calls `f` with it, and writes what `f` returns
    /// only if nobody wrote in between (`If-Match` on the version that was read).
    /// Returns the value now stored.
    ///
    /// **`f` may run more than once.** When another writer gets in first the server
    /// answers `412 version_mismatch`; the value is then read again and `f` runs
    /// again on the fresh value, up to 16 rounds with a jittered exponential back-off
    /// (5 ms doubling, at most 0.5 s), after which the last error is returned. So `f`
    /// must compute its answer from its argument only, without side effects that must
    /// not repeat (no sending mail, no incrementing an outside counter).
    ///
    /// `f` returning `None` means "leave it as it is": nothing is written and the
    /// current value is returned (or, when the secret does not exist, a `not_found`
    /// error, since there is no value to return).
    ///
    /// **Creating.** When `name` does not exist and `f(None)` gives a value, it is
    /// written create-only (`If-None-Match: *`): if another writer created it in the
    /// meantime, the write is refused and the round starts over, so `f` runs on their
    /// value.
    ///
    /// Versions restart at 1 when a secret is deleted and created again, so a
    /// concurrent delete-and-recreate between the read and the write can go unseen.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct TokenRateLimit { counter: u64, hour: u64, token: String }
    ///
    /// let (current_hour, api_call_cost) = (17, 3);
    /// let secrets = lockbox_client::Client::from_env()?.secrets("default");
    /// let now = secrets
    ///     .patch_with("token", |value: Option<TokenRateLimit>| {
    ///         let mut value = value?; // nothing stored yet: leave it
    ///         if value.hour != current_hour {
    ///             value.hour = current_hour;
    ///             value.counter = 0;
    ///         } else {
    ///             value.counter += api_call_cost;
    ///         }
    ///         Some(value)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn patch_with<T, F>(&self, name: &str, mut f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Option<T>,
    {
        let mut round = 0;
        loop {
            let lost = match self.patch_with_once(name, &mut f).await? {
                Round::Done(value) => return Ok(value),
                Round::Lost(e) => e,
            };
            round += 1;
            if round >= PATCH_WITH_TRIES {
                return Err(lost);
            }
            tokio::time::sleep(backoff(round)).await;
        }
    }

    /// One round of [`Secrets::patch_with`]: read, call `f`, conditional write.
    /// [`Round::Lost`] means nothing of this round is left in the store and the
    /// round may be run again; any `Err` is final.
    async fn patch_with_once<T, F>(&self, name: &str, f: &mut F) -> Result<Round<T>>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Option<T>,
    {
        let stored = self.reveal(name).await?;
        let current = match &stored {
            Some((value, _)) => Some(decode::<T>(name, value)?),
            None => None,
        };
        let version = stored.as_ref().map(|(_, version)| *version);
        let Some(next) = f(current) else {
            // Leave it unchanged and hand back what is stored (decoded afresh, since
            // `f` consumed its argument).
            return match &stored {
                Some((value, _)) => decode(name, value).map(Round::Done),
                None => Err(not_found(name)),
            };
        };
        drop(stored);
        let json = to_json("value", &next)?;
        // An existing value is replaced only if it is still the one `f` saw; a
        // missing one is only created, never written over one that appeared since.
        let opts = PutOptions {
            if_match: version,
            create_only: version.is_none(),
            ..PutOptions::default()
        };
        match self
            .client
            .put_secret(&self.workspace, self.scope, name, &json, &opts)
            .await
        {
            Ok(_) => Ok(Round::Done(next)),
            // Refused as a whole: nothing was written.
            Err(e) if is_lost_race(&e) => Ok(Round::Lost(e)),
            Err(e) => Err(e),
        }
    }

    /// Reveals the current version: `None` on `not_found`.
    async fn reveal(&self, name: &str) -> Result<Option<(SecretValue, u64)>> {
        match self
            .client
            .reveal_with_version(&self.workspace, self.scope, name, None)
            .await
        {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.code() == Some(ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// How one round of [`Secrets::patch_with`] ended.
enum Round<T> {
    /// Written (or deliberately left alone): the value now stored.
    Done(T),
    /// Another writer got in first and nothing of this round remains: run again.
    Lost(Error),
}

/// A `not_found` error made on the client side.
fn not_found(name: &str) -> Error {
    Error::Api {
        code: ErrorCode::NotFound.into(),
        message: format!("secret '{name}' does not exist"),
        status: 404,
        request_id: None,
    }
}

/// Whether [`Secrets::patch_with`] should read again and retry after `e`.
fn is_lost_race(e: &Error) -> bool {
    // Conflict: the server's own compare-and-set loop ran out ("changing too fast").
    matches!(
        e.code(),
        Some(ErrorCode::VersionMismatch | ErrorCode::Conflict)
    )
}

fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<serde_json::Value> {
    // serde_json's message names the type problem, never the data.
    serde_json::to_value(value).map_err(|e| Error::Config(format!("cannot encode {what}: {e}")))
}

/// Reads the value of secret `name` as `T`. A value of another shape (a secret
/// written by other code under the same name) fails naming the secret, the type
/// and the field, never the text.
fn decode<T: DeserializeOwned>(name: &str, value: &SecretValue) -> Result<T> {
    // EXPOSE: deserialized straight into the caller's type; the error keeps the
    // field path and the kind of JSON found, never the text.
    decode_json(&format!("secret '{name}'"), value.expose())
}

/// The back-off before round `round` (1-based): `base * 2^(round-1)`, capped,
/// then a random point in its upper half.
fn backoff(round: u32) -> Duration {
    let full = PATCH_WITH_BASE_BACKOFF
        .saturating_mul(1 << (round - 1).min(16))
        .min(PATCH_WITH_MAX_BACKOFF);
    let nanos = full.as_nanos() as u64;
    let half = nanos / 2;
    Duration::from_nanos(half + jitter() % (half + 1))
}

/// A pseudo-random number from std's per-process random hash keys and a counter
/// (splitmix64): only for spreading retries apart, never for anything secret.
fn jitter() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = std::hash::BuildHasher::hash_one(
        &std::collections::hash_map::RandomState::new(),
        COUNTER.load(Ordering::Relaxed),
    );
    let mut z = seed
        ^ COUNTER
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        for round in 1..=PATCH_WITH_TRIES {
            let full = PATCH_WITH_BASE_BACKOFF
                .saturating_mul(1 << (round - 1))
                .min(PATCH_WITH_MAX_BACKOFF);
            let b = backoff(round);
            assert!(
                b >= full / 2 && b <= full,
                "round {round}: {b:?} vs {full:?}"
            );
        }
        let samples: std::collections::HashSet<_> = (0..32).map(|_| backoff(8)).collect();
        assert!(samples.len() > 1, "no jitter");
    }

    #[test]
    fn lost_races_are_retried_other_errors_are_not() {
        let api = |code: ErrorCode, status, request_id: Option<&str>| Error::Api {
            code: code.into(),
            message: "m".into(),
            status,
            request_id: request_id.map(str::to_owned),
        };
        assert!(is_lost_race(&api(ErrorCode::VersionMismatch, 412, None)));
        assert!(is_lost_race(&api(ErrorCode::Conflict, 409, Some("r"))));
        assert!(!is_lost_race(&api(ErrorCode::NotFound, 404, Some("r"))));
        assert!(!is_lost_race(&api(ErrorCode::Forbidden, 403, Some("r"))));
        assert!(!is_lost_race(&Error::Transport("t".into())));
    }

    #[test]
    fn decode_errors_do_not_quote_the_value() {
        let v = SecretValue::from_json_bytes(br#""hunter2""#.to_vec());
        let e = decode::<u64>("token", &v).unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
        assert!(e.to_string().starts_with("decode: secret 'token': "), "{e}");
    }
}
