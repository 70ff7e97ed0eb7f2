//! The deployment's master keys, by version. They only wrap and unwrap workspace data
//! keys; no secret value is ever sealed under a master key directly, so rotating the
//! master key rewraps a handful of workspace keys, not every secret.
//!
//! Sources, in order: the `LOCKBOX_MASTER_KEYS` environment variable (a list of
//! versions, `1:<key>,2:<key>`), or `LOCKBOX_MASTER_KEY` (one key, version 1), each
//! key base64 or hex of 32 bytes; else the key file `master.key` in the data
//! directory, created on first start with mode 0600 (and refused when group or
//! others may read it).
//!
//! Which version wraps new keys is the deployment's choice, not the key file's: the
//! service pins it to the newest version the database holds a key check for (see
//! [`MasterKeyring::key_check`]), so every node wraps under the same version.

use crate::workspace_key::DataKey;
use crate::{hazmat, CryptoError};
use base64::Engine;
use lockbox_core::Sensitive;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use zeroize::Zeroizing;

pub const MASTER_KEY_ENV: &str = "LOCKBOX_MASTER_KEY";
/// Several versions: `1:<key>,2:<key>` (commas, spaces or newlines between entries).
pub const MASTER_KEYS_ENV: &str = "LOCKBOX_MASTER_KEYS";
pub const KEY_FILE_NAME: &str = "master.key";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `LOCKBOX_MASTER_KEY` (or a key given to [`MasterKeyring::from_key_bytes`]).
    Env,
    /// `LOCKBOX_MASTER_KEYS`.
    EnvList,
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    /// Names the source for messages: `the key file /x/master.key`, `LOCKBOX_MASTER_KEYS`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env => write!(f, "{MASTER_KEY_ENV}"),
            KeySource::EnvList => write!(f, "{MASTER_KEYS_ENV}"),
            KeySource::File(p) => write!(f, "the key file {}", p.display()),
        }
    }
}

/// What a key check says about this keyring (see [`MasterKeyring::key_check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// This keyring holds the version, and it is the key the check was made with.
    Opens,
    /// This keyring has no such version.
    Missing,
    /// This keyring holds a key under that version number, but another one.
    WrongKey,
}

/// A workspace data key wrapped (AES-256-GCM) by one master-key version.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    pub master_version: u32,
    pub blob: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: u32,
    active: u32,
    keys: Vec<KeyFileEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileEntry {
    version: u32,
    /// `active` or `decrypt_only`.
    state: String,
    /// The key as base64: wiped when the entry is dropped.
    #[serde(serialize_with = "lockbox_core::sensitive::serialize_exposed")]
    key: Sensitive<String>,
}

struct Versions {
    active: u32,
    keys: BTreeMap<u32, Zeroizing<[u8; 32]>>,
}

pub struct MasterKeyring {
    source: KeySource,
    versions: RwLock<Versions>,
    /// The version pinned by [`MasterKeyring::pin_active`] (0: none); survives reloads.
    pinned: std::sync::atomic::AtomicU32,
}

/// Decodes a key into buffers that are wiped when dropped, on success and on
/// every failure (a failed decode may hold a prefix of the key).
fn decode_key(text: &str) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let text = text.trim();
    let mut out = Zeroizing::new([0u8; 32]);
    // 64 hex digits are also valid base64, so hex is tried first for that shape.
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode_to_slice(text, out.as_mut())
            .map_err(|_| CryptoError::MasterKey("not base64 or hex".into()))?;
        return Ok(out);
    }
    // Room for any text of a plausible length, so decoding never reallocates
    // (and leaves a copy behind); the length is checked afterwards.
    let mut bytes = Zeroizing::new(Vec::with_capacity(text.len()));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode_vec(text, &mut bytes)
        .or_else(|_| {
            bytes.clear();
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_vec(text, &mut bytes)
        });
    if decoded.is_err() {
        return Err(CryptoError::MasterKey("not base64 or hex".into()));
    }
    // Never how long it was: that is a fact about the key.
    if bytes.len() != 32 {
        return Err(CryptoError::MasterKey(
            "must decode to 32 bytes (base64 of 44 characters, or 64 hex digits)".into(),
        ));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Parses `LOCKBOX_MASTER_KEYS`: `VERSION:KEY` entries separated by commas, spaces
/// or newlines. The highest version is active until the service pins another.
fn parse_key_list(text: &str) -> Result<Versions, CryptoError> {
    let bad = |why: String| CryptoError::MasterKey(format!("{MASTER_KEYS_ENV}: {why}"));
    let mut keys = BTreeMap::new();
    for entry in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
    {
        let (version, key) = entry
            .split_once(':')
            .ok_or_else(|| bad("each entry is VERSION:KEY, e.g. 1:<base64>,2:<base64>".into()))?;
        let version: u32 = version
            .parse()
            .ok()
            .filter(|v| *v > 0)
            .ok_or_else(|| bad(format!("'{version}' is not a version number (1, 2, …)")))?;
        let key = decode_key(key).map_err(|e| bad(format!("version {version}: {e}")))?;
        if keys.insert(version, key).is_some() {
            return Err(bad(format!("version {version} is listed twice")));
        }
    }
    let active = *keys
        .keys()
        .max()
        .ok_or_else(|| bad("lists no key".into()))?;
    Ok(Versions { active, keys })
}

fn check_aad(version: u32) -> Vec<u8> {
    let mut aad = b"lockbox.master-key-check.v1".to_vec();
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

const CHECK_PLAINTEXT: &[u8] = b"lockbox master key check";

fn wrap_aad(workspace_id: &str, key_version: u32, master_version: u32) -> Vec<u8> {
    let mut aad = b"lockbox.workspace-key.v1".to_vec();
    aad.extend_from_slice(&(workspace_id.len() as u32).to_be_bytes());
    aad.extend_from_slice(workspace_id.as_bytes());
    aad.extend_from_slice(&key_version.to_be_bytes());
    aad.extend_from_slice(&master_version.to_be_bytes());
    aad
}

impl MasterKeyring {
    /// Loads the master key from the environment or the data directory's key file,
    /// creating the file (mode 0600) when neither exists.
    pub fn load_or_create(data_dir: &Path) -> Result<MasterKeyring, CryptoError> {
        // The variables' text is key material: held where it is wiped on drop.
        let list = std::env::var(MASTER_KEYS_ENV).ok().map(Zeroizing::new);
        let single = std::env::var(MASTER_KEY_ENV).ok().map(Zeroizing::new);
        if list.is_some() && single.is_some() {
            return Err(CryptoError::MasterKey(format!(
                "both {MASTER_KEY_ENV} and {MASTER_KEYS_ENV} are set; set only one \
                 ({MASTER_KEYS_ENV}=1:<key> is the same as {MASTER_KEY_ENV}=<key>)"
            )));
        }
        if let Some(text) = list {
            return Ok(MasterKeyring::new(
                KeySource::EnvList,
                parse_key_list(&text)?,
            ));
        }
        if let Some(text) = single {
            let key = decode_key(&text)
                .map_err(|e| CryptoError::MasterKey(format!("{MASTER_KEY_ENV}: {e}")))?;
            return Ok(MasterKeyring::new(
                KeySource::Env,
                Versions {
                    active: 1,
                    keys: BTreeMap::from([(1, key)]),
                },
            ));
        }
        let path = data_dir.join(KEY_FILE_NAME);
        if !path.exists() {
            let key = Zeroizing::new(hazmat::random_bytes::<32>());
            let file = KeyFile {
                format: 1,
                active: 1,
                keys: vec![KeyFileEntry {
                    version: 1,
                    state: "active".into(),
                    key: Sensitive::new(
                        base64::engine::general_purpose::STANDARD.encode(key.as_slice()),
                    ),
                }],
            };
            write_key_file(&path, &file)?;
        }
        let versions = read_key_file(&path)?;
        Ok(MasterKeyring::new(KeySource::File(path), versions))
    }

    fn new(source: KeySource, versions: Versions) -> MasterKeyring {
        MasterKeyring {
            source,
            versions: RwLock::new(versions),
            pinned: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// True when a master key is configured for `data_dir` (an environment variable
    /// is set, or the key file exists): [`MasterKeyring::load_or_create`] would not
    /// create one.
    pub fn configured(data_dir: &Path) -> bool {
        std::env::var_os(MASTER_KEY_ENV).is_some()
            || std::env::var_os(MASTER_KEYS_ENV).is_some()
            || data_dir.join(KEY_FILE_NAME).exists()
    }

    /// Where [`MasterKeyring::load_or_create`] would look for `data_dir`, for messages.
    pub fn source_for(data_dir: &Path) -> KeySource {
        if std::env::var_os(MASTER_KEYS_ENV).is_some() {
            KeySource::EnvList
        } else if std::env::var_os(MASTER_KEY_ENV).is_some() {
            KeySource::Env
        } else {
            KeySource::File(data_dir.join(KEY_FILE_NAME))
        }
    }

    /// Loads an existing master key (environment or key file) and never creates
    /// one: for offline tools, where a fresh key would silently open nothing.
    pub fn load_existing(data_dir: &Path) -> Result<MasterKeyring, CryptoError> {
        if !MasterKeyring::configured(data_dir) {
            return Err(CryptoError::MasterKey(format!(
                "no master key: set {MASTER_KEYS_ENV} (or {MASTER_KEY_ENV}) or put the deployment's {KEY_FILE_NAME} in {}",
                data_dir.display()
            )));
        }
        MasterKeyring::load_or_create(data_dir)
    }

    /// A keyring from one explicit key (tests, tools).
    pub fn from_key_bytes(key: [u8; 32]) -> MasterKeyring {
        MasterKeyring::new(
            KeySource::Env,
            Versions {
                active: 1,
                keys: BTreeMap::from([(1, Zeroizing::new(key))]),
            },
        )
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    pub fn active_version(&self) -> u32 {
        self.versions.read().expect("keyring lock").active
    }

    /// The versions this keyring holds, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.versions
            .read()
            .expect("keyring lock")
            .keys
            .keys()
            .copied()
            .collect()
    }

    pub fn has_version(&self, version: u32) -> bool {
        self.versions
            .read()
            .expect("keyring lock")
            .keys
            .contains_key(&version)
    }

    /// Makes `version` the one new keys are wrapped under, in this process only, and
    /// keeps it so across reloads of the key file (the deployment's choice, from the
    /// database, outranks the file's `active`).
    pub fn pin_active(&self, version: u32) -> Result<(), CryptoError> {
        let mut v = self.versions.write().expect("keyring lock");
        if !v.keys.contains_key(&version) {
            return Err(CryptoError::UnknownMasterVersion(version));
        }
        v.active = version;
        self.pinned
            .store(version, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// A key check for `version`: a value that only that key opens (an AEAD seal of
    /// a fixed text under a key derived from it). It reveals nothing of the key; the
    /// database keeps one per version so every node can tell whether it holds the
    /// same key under the same number.
    pub fn key_check(&self, version: u32) -> Result<Vec<u8>, CryptoError> {
        let v = self.versions.read().expect("keyring lock");
        let key = v
            .keys
            .get(&version)
            .ok_or(CryptoError::UnknownMasterVersion(version))?;
        let sub = hazmat::derive(key, b"lockbox.master-key-check.v1");
        Ok(hazmat::seal(&sub, &check_aad(version), CHECK_PLAINTEXT))
    }

    /// Whether this keyring opens a key check made by [`MasterKeyring::key_check`].
    pub fn open_check(&self, version: u32, check: &[u8]) -> CheckOutcome {
        let v = self.versions.read().expect("keyring lock");
        let Some(key) = v.keys.get(&version) else {
            return CheckOutcome::Missing;
        };
        let sub = hazmat::derive(key, b"lockbox.master-key-check.v1");
        match hazmat::open(&sub, &check_aad(version), check) {
            Ok(text) if text.as_slice() == CHECK_PLAINTEXT => CheckOutcome::Opens,
            _ => CheckOutcome::WrongKey,
        }
    }

    pub fn wrap(&self, workspace_id: &str, key_version: u32, key: &DataKey) -> WrappedDataKey {
        let v = self.versions.read().expect("keyring lock");
        let master = &v.keys[&v.active];
        WrappedDataKey {
            master_version: v.active,
            blob: hazmat::seal(
                master,
                &wrap_aad(workspace_id, key_version, v.active),
                key.raw(),
            ),
        }
    }

    pub fn unwrap(
        &self,
        workspace_id: &str,
        key_version: u32,
        wrapped: &WrappedDataKey,
    ) -> Result<DataKey, CryptoError> {
        let mv = wrapped.master_version;
        if !self
            .versions
            .read()
            .expect("keyring lock")
            .keys
            .contains_key(&mv)
        {
            // Another process (`lockbox keys rotate`) may have added a version.
            self.reload()?;
        }
        let v = self.versions.read().expect("keyring lock");
        let master = v
            .keys
            .get(&mv)
            .ok_or(CryptoError::UnknownMasterVersion(mv))?;
        let raw = hazmat::open(
            master,
            &wrap_aad(workspace_id, key_version, mv),
            &wrapped.blob,
        )?;
        let mut out = [0u8; 32];
        if raw.len() != 32 {
            return Err(CryptoError::Decrypt);
        }
        out.copy_from_slice(&raw);
        let key = DataKey::from_raw(out);
        out.iter_mut().for_each(|b| *b = 0);
        Ok(key)
    }

    /// A subkey of the active master key for `label`, with the version it came from.
    pub(crate) fn derive_active(&self, label: &[u8]) -> (u32, Zeroizing<[u8; 32]>) {
        let v = self.versions.read().expect("keyring lock");
        (v.active, hazmat::derive(&v.keys[&v.active], label))
    }

    /// A subkey of master-key `version` for `label` (reloading the key file once if
    /// the version is unknown).
    pub(crate) fn derive_version(
        &self,
        version: u32,
        label: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        if !self
            .versions
            .read()
            .expect("keyring lock")
            .keys
            .contains_key(&version)
        {
            self.reload()?;
        }
        let v = self.versions.read().expect("keyring lock");
        let key = v
            .keys
            .get(&version)
            .ok_or(CryptoError::UnknownMasterVersion(version))?;
        Ok(hazmat::derive(key, label))
    }

    /// Re-reads the key file (no-op for the environment sources). A pinned active
    /// version stays active while the file still holds it.
    pub fn reload(&self) -> Result<(), CryptoError> {
        if let KeySource::File(path) = &self.source {
            let mut fresh = read_key_file(path)?;
            let pinned = self.pinned.load(std::sync::atomic::Ordering::SeqCst);
            if pinned != 0 && fresh.keys.contains_key(&pinned) {
                fresh.active = pinned;
            }
            *self.versions.write().expect("keyring lock") = fresh;
        }
        Ok(())
    }

    fn file_source(&self, what: &str) -> Result<&Path, CryptoError> {
        match &self.source {
            KeySource::File(path) => Ok(path),
            other => Err(CryptoError::MasterKey(format!(
                "the master keys come from {other}; {what} where it is set \
                 ({MASTER_KEYS_ENV} lists versions: 1:<key>,2:<key>)"
            ))),
        }
    }

    /// Adds a new master-key version to the key file without using it: the first
    /// step of a rotation (the key file is then copied to every node, and
    /// `lockbox keys rotate` switches once every node holds it). Only for the key
    /// file: environment keys are added where they are set.
    pub fn add_version(&self) -> Result<u32, CryptoError> {
        let path = self.file_source("add a version")?.to_path_buf();
        self.reload()?;
        let mut v = self.versions.write().expect("keyring lock");
        let next = v.keys.keys().max().copied().unwrap_or(0) + 1;
        v.keys.insert(next, Zeroizing::new(hazmat::random_bytes()));
        write_key_file(&path, &file_of(&v))?;
        Ok(next)
    }

    /// Makes `version` (already held) the active one, in the key file too when the
    /// keys come from one: the second step of a rotation.
    pub fn activate(&self, version: u32) -> Result<(), CryptoError> {
        self.reload()?;
        self.pin_active(version)?;
        if let KeySource::File(path) = &self.source {
            let v = self.versions.read().expect("keyring lock");
            write_key_file(path, &file_of(&v))?;
        }
        Ok(())
    }

    /// Adds a new master-key version and makes it active at once; older versions
    /// stay for decryption. Only for the key-file source.
    pub fn rotate(&self) -> Result<u32, CryptoError> {
        let next = self.add_version()?;
        self.activate(next)?;
        Ok(next)
    }
}

/// A fresh random master key as text (base64), for `LOCKBOX_MASTER_KEYS`.
pub fn generate_key_text() -> Zeroizing<String> {
    let key = Zeroizing::new(hazmat::random_bytes::<32>());
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.as_slice()))
}

fn file_of(v: &Versions) -> KeyFile {
    KeyFile {
        format: 1,
        active: v.active,
        keys: v
            .keys
            .iter()
            .map(|(ver, key)| KeyFileEntry {
                version: *ver,
                state: if *ver == v.active {
                    "active"
                } else if *ver > v.active {
                    "pending"
                } else {
                    "decrypt_only"
                }
                .into(),
                key: Sensitive::new(
                    base64::engine::general_purpose::STANDARD.encode(key.as_slice()),
                ),
            })
            .collect(),
    }
}

fn file_err(path: &Path, why: impl ToString) -> CryptoError {
    CryptoError::KeyFile {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

fn read_key_file(path: &Path) -> Result<Versions, CryptoError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| file_err(path, format!("stat: {e}")))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(file_err(
                path,
                format!(
                    "has mode {mode:04o}: group or others may read the master key; \
                     it must be readable by its owner only (chmod 600 {})",
                    path.display()
                ),
            ));
        }
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| file_err(path, format!("read: {e}")))?,
    );
    let file: KeyFile =
        serde_json::from_str(&text).map_err(|_| file_err(path, "not a Lockbox key file"))?;
    if file.format != 1 {
        return Err(file_err(path, format!("unknown format {}", file.format)));
    }
    let mut keys = BTreeMap::new();
    for e in &file.keys {
        keys.insert(
            e.version,
            // EXPOSE: decoded into the keyring, whose keys are wiped on drop.
            decode_key(e.key.expose()).map_err(|e| file_err(path, e))?,
        );
    }
    if !keys.contains_key(&file.active) {
        return Err(file_err(path, "active version has no key"));
    }
    Ok(Versions {
        active: file.active,
        keys,
    })
}

/// Writes atomically (temp file, fsync, rename, fsync directory) with mode 0600.
fn write_key_file(path: &Path, file: &KeyFile) -> Result<(), CryptoError> {
    // Sized up front (a key entry is well under 200 bytes) so the buffer holding
    // the keys never grows and leaves a copy behind.
    let mut text = Zeroizing::new(Vec::with_capacity(256 + 200 * file.keys.len()));
    serde_json::to_writer_pretty(&mut *text, file).expect("key file serializes");
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{KEY_FILE_NAME}.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(|e| file_err(&tmp, format!("create: {e}")))?;
    f.write_all(&text)
        .map_err(|e| file_err(&tmp, format!("write: {e}")))?;
    f.sync_all()
        .map_err(|e| file_err(&tmp, format!("fsync: {e}")))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, format!("rename into place: {e}")))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn creates_key_file_0600_and_reuses_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKeyring::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dk = DataKey::generate();
        let wrapped = a.wrap("ws", 1, &dk);
        let b = MasterKeyring::load_or_create(dir.path()).unwrap();
        assert!(b.unwrap("ws", 1, &wrapped).is_ok());
        assert!(b.unwrap("other-ws", 1, &wrapped).is_err());
        assert!(b.unwrap("ws", 2, &wrapped).is_err());
    }

    #[test]
    fn rotation_keeps_old_versions_readable_and_other_processes_follow() {
        let dir = tempfile::tempdir().unwrap();
        let server = MasterKeyring::load_or_create(dir.path()).unwrap();
        let old = server.wrap("ws", 1, &DataKey::generate());
        let tool = MasterKeyring::load_or_create(dir.path()).unwrap();
        assert_eq!(tool.rotate().unwrap(), 2);
        let new = tool.wrap("ws", 1, &DataKey::generate());
        assert_eq!(new.master_version, 2);
        // The running "server" has never seen version 2; it reloads the file.
        assert!(server.unwrap("ws", 1, &new).is_ok());
        assert!(server.unwrap("ws", 1, &old).is_ok());
        assert_eq!(server.active_version(), 2);
    }

    #[test]
    fn a_key_check_opens_only_under_the_same_key_and_version() {
        let a = MasterKeyring::from_key_bytes([7u8; 32]);
        let b = MasterKeyring::from_key_bytes([8u8; 32]);
        let check = a.key_check(1).unwrap();
        assert!(!check.windows(32).any(|w| w == [7u8; 32]), "never the key");
        assert_eq!(a.open_check(1, &check), CheckOutcome::Opens);
        assert_eq!(b.open_check(1, &check), CheckOutcome::WrongKey);
        assert_eq!(a.open_check(2, &check), CheckOutcome::Missing);
        assert!(matches!(
            a.key_check(2),
            Err(CryptoError::UnknownMasterVersion(2))
        ));
    }

    #[test]
    fn adding_a_version_does_not_use_it_until_activated_and_a_pin_survives_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let ring = MasterKeyring::load_or_create(dir.path()).unwrap();
        assert_eq!(ring.add_version().unwrap(), 2);
        assert_eq!(ring.versions(), vec![1, 2]);
        assert_eq!(ring.active_version(), 1, "added, not switched");
        assert_eq!(ring.wrap("ws", 1, &DataKey::generate()).master_version, 1);
        // Another process reads the same file: it holds version 2 too.
        let other = MasterKeyring::load_or_create(dir.path()).unwrap();
        assert!(other.has_version(2));
        assert_eq!(other.active_version(), 1);
        other.pin_active(2).unwrap();
        other.reload().unwrap();
        assert_eq!(other.active_version(), 2, "the pin outlives a reload");
        assert!(other.pin_active(3).is_err());
        ring.activate(2).unwrap();
        assert_eq!(
            MasterKeyring::load_or_create(dir.path())
                .unwrap()
                .active_version(),
            2
        );
    }

    #[test]
    fn a_key_list_names_its_versions_and_refuses_nonsense() {
        let k1 = hex::encode([1u8; 32]);
        let k2 = base64::engine::general_purpose::STANDARD.encode([2u8; 32]);
        let v = parse_key_list(&format!("1:{k1}, 2:{k2}\n")).unwrap();
        assert_eq!(v.keys.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(v.active, 2);
        for bad in [
            String::new(),
            k1.clone(),
            format!("0:{k1}"),
            format!("x:{k1}"),
            format!("1:{k1},1:{k2}"),
            "1:short".to_owned(),
        ] {
            let e = parse_key_list(&bad).err().expect(&bad).to_string();
            assert!(e.contains(MASTER_KEYS_ENV), "{e}");
            assert!(
                !e.contains(&k1) && !e.contains(&k2),
                "never echoes a key: {e}"
            );
        }
    }

    #[test]
    #[cfg(unix)]
    fn a_key_file_others_may_read_is_refused_with_its_path_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        drop(MasterKeyring::load_or_create(dir.path()).unwrap());
        let path = dir.path().join(KEY_FILE_NAME);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = MasterKeyring::load_or_create(dir.path())
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("0644") && e.contains("chmod 600"), "{e}");
    }

    #[test]
    fn bad_key_text_is_a_clear_error() {
        assert!(decode_key("not a key").is_err());
        assert!(decode_key(&hex::encode([1u8; 16])).is_err());
        assert_eq!(*decode_key(&hex::encode([1u8; 32])).unwrap(), [1u8; 32]);
        let b64 = base64::engine::general_purpose::STANDARD.encode([2u8; 32]);
        assert_eq!(*decode_key(&b64).unwrap(), [2u8; 32]);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfbu8; 32]);
        assert_eq!(*decode_key(&url).unwrap(), [0xfbu8; 32]);
        let short = base64::engine::general_purpose::STANDARD.encode([3u8; 31]);
        let e = decode_key(&short).expect_err("31 bytes").to_string();
        assert!(!e.contains("31"), "never the key's size: {e}");
    }
}
