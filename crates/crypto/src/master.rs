//! The deployment's master keys, by version. They only wrap and unwrap workspace data
//! keys; no secret value is ever sealed under a master key directly, so rotating the
//! master key rewraps a handful of workspace keys, not every secret.
//!
//! Sources, in order: the `LOCKBOX_MASTER_KEY` environment variable (base64 or hex of
//! 32 bytes; one version, rotated outside Lockbox), else the key file `master.key` in
//! the data directory, created on first start with mode 0600.

use crate::workspace_key::DataKey;
use crate::{hazmat, CryptoError};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use zeroize::Zeroizing;

pub const MASTER_KEY_ENV: &str = "LOCKBOX_MASTER_KEY";
pub const KEY_FILE_NAME: &str = "master.key";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
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
    key: String,
}

struct Versions {
    active: u32,
    keys: BTreeMap<u32, Zeroizing<[u8; 32]>>,
}

pub struct MasterKeyring {
    source: KeySource,
    versions: RwLock<Versions>,
}

fn decode_key(text: &str) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let text = text.trim();
    // 64 hex digits are also valid base64, so hex is tried first for that shape.
    let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .ok()
    };
    let bytes =
        Zeroizing::new(decoded.ok_or_else(|| CryptoError::MasterKey("not base64 or hex".into()))?);
    if bytes.len() != 32 {
        return Err(CryptoError::MasterKey(format!(
            "must decode to 32 bytes, got {}",
            bytes.len()
        )));
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&bytes);
    Ok(out)
}

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
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            let key = decode_key(&text)
                .map_err(|e| CryptoError::MasterKey(format!("{MASTER_KEY_ENV}: {e}")))?;
            return Ok(MasterKeyring {
                source: KeySource::Env,
                versions: RwLock::new(Versions {
                    active: 1,
                    keys: BTreeMap::from([(1, key)]),
                }),
            });
        }
        let path = data_dir.join(KEY_FILE_NAME);
        if !path.exists() {
            let file = KeyFile {
                format: 1,
                active: 1,
                keys: vec![KeyFileEntry {
                    version: 1,
                    state: "active".into(),
                    key: base64::engine::general_purpose::STANDARD
                        .encode(hazmat::random_bytes::<32>()),
                }],
            };
            write_key_file(&path, &file)?;
        }
        let versions = read_key_file(&path)?;
        Ok(MasterKeyring {
            source: KeySource::File(path),
            versions: RwLock::new(versions),
        })
    }

    /// Loads an existing master key (environment or key file) and never creates
    /// one: for offline tools, where a fresh key would silently open nothing.
    pub fn load_existing(data_dir: &Path) -> Result<MasterKeyring, CryptoError> {
        if std::env::var_os(MASTER_KEY_ENV).is_none() && !data_dir.join(KEY_FILE_NAME).exists() {
            return Err(CryptoError::MasterKey(format!(
                "no master key: set {MASTER_KEY_ENV} or put the deployment's {KEY_FILE_NAME} in {}",
                data_dir.display()
            )));
        }
        MasterKeyring::load_or_create(data_dir)
    }

    /// A keyring from one explicit key (tests, tools).
    pub fn from_key_bytes(key: [u8; 32]) -> MasterKeyring {
        MasterKeyring {
            source: KeySource::Env,
            versions: RwLock::new(Versions {
                active: 1,
                keys: BTreeMap::from([(1, Zeroizing::new(key))]),
            }),
        }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    pub fn active_version(&self) -> u32 {
        self.versions.read().expect("keyring lock").active
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

    /// Re-reads the key file (no-op for the environment source).
    pub fn reload(&self) -> Result<(), CryptoError> {
        if let KeySource::File(path) = &self.source {
            let fresh = read_key_file(path)?;
            *self.versions.write().expect("keyring lock") = fresh;
        }
        Ok(())
    }

    /// Adds a new master-key version and makes it active; older versions stay for
    /// decryption. Only for the key-file source: a key from the environment is rotated
    /// by whoever sets the environment.
    pub fn rotate(&self) -> Result<u32, CryptoError> {
        let KeySource::File(path) = &self.source else {
            return Err(CryptoError::MasterKey(format!(
                "the master key comes from {MASTER_KEY_ENV}; rotate it where it is set"
            )));
        };
        self.reload()?;
        let mut v = self.versions.write().expect("keyring lock");
        let next = v.keys.keys().max().copied().unwrap_or(0) + 1;
        v.keys.insert(next, Zeroizing::new(hazmat::random_bytes()));
        v.active = next;
        let file = KeyFile {
            format: 1,
            active: next,
            keys: v
                .keys
                .iter()
                .map(|(ver, key)| KeyFileEntry {
                    version: *ver,
                    state: if *ver == next {
                        "active"
                    } else {
                        "decrypt_only"
                    }
                    .into(),
                    key: base64::engine::general_purpose::STANDARD.encode(key.as_slice()),
                })
                .collect(),
        };
        write_key_file(path, &file)?;
        Ok(next)
    }
}

fn file_err(path: &Path, why: impl ToString) -> CryptoError {
    CryptoError::KeyFile {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

fn read_key_file(path: &Path) -> Result<Versions, CryptoError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| file_err(path, e))?);
    let file: KeyFile =
        serde_json::from_str(&text).map_err(|_| file_err(path, "not a Lockbox key file"))?;
    if file.format != 1 {
        return Err(file_err(path, format!("unknown format {}", file.format)));
    }
    let mut keys = BTreeMap::new();
    for e in &file.keys {
        keys.insert(
            e.version,
            decode_key(&e.key).map_err(|e| file_err(path, e))?,
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
    let text = Zeroizing::new(serde_json::to_vec_pretty(file).expect("key file serializes"));
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{KEY_FILE_NAME}.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(|e| file_err(&tmp, e))?;
    f.write_all(&text).map_err(|e| file_err(&tmp, e))?;
    f.sync_all().map_err(|e| file_err(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e))?;
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
    fn bad_key_text_is_a_clear_error() {
        assert!(decode_key("not a key").is_err());
        assert!(decode_key(&hex::encode([1u8; 16])).is_err());
        assert!(decode_key(&hex::encode([1u8; 32])).is_ok());
    }
}
