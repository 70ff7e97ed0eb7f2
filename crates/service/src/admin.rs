//! Offline administration on a deployment's store, for the CLI: master-key
//! rotation, re-encryption of every secret version under new workspace keys,
//! audit-chain verification, backup and restore. All of it works while servers
//! run on the same store (SQLite WAL admits a second writer; PostgreSQL is shared
//! by design; servers reload the key file when they meet an unknown key version
//! and follow changes through notifications or their cache bound).
//!
//! Long work reports through [`Progress`], so the CLI can draw a bar while this
//! crate stays free of presentation.

use crate::{backup, keycheck, open_store, policy_seal, store_err};
use lockbox_core::{Clock, Error, Result, SystemClock, Timestamp};
use lockbox_crypto::{DataKey, MasterKeyring, WrappedDataKey};
use lockbox_store::{AuditRecord, MasterKeyCheckRow, NodeRow, Snapshot, Store, WorkspaceKeyRow};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a deployment keeps its data: the data directory (key file, and the
/// embedded database unless `database` names PostgreSQL).
#[derive(Debug, Clone)]
pub struct Location {
    pub data_dir: PathBuf,
    pub database: Option<String>,
}

/// Progress of long work: a phase with a known total, advanced step by step.
pub trait Progress: Send + Sync {
    fn start(&self, phase: &str, total: u64);
    fn advance(&self, n: u64);
    fn finish(&self);
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RotateReport {
    pub new_master_version: u32,
    /// True when this run made the new version (no version newer than the one in
    /// use was in the keyring yet).
    pub added_version: bool,
    pub rewrapped: usize,
    /// Live nodes that hold the new version (every live node, or there was no switch).
    pub live_nodes: usize,
    /// Present with `--reencrypt`.
    pub reencrypted: Option<ReencryptReport>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AddKeyReport {
    pub version: u32,
    /// False when a version newer than the one in use was already waiting.
    pub added: bool,
    pub key_source: String,
}

/// What `lockbox keys status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyStatus {
    /// The master-key version in use (the newest with a key check in the store).
    pub in_use: u32,
    /// Every version with a key check, ascending.
    pub recorded: Vec<u32>,
    /// This keyring: where it comes from and what it holds.
    pub key_source: String,
    pub key_versions: Vec<u32>,
    pub nodes: Vec<NodeStatus>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeStatus {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub key_source: String,
    pub key_versions: Vec<u32>,
    pub problem: Option<String>,
    /// Milliseconds since its last heartbeat.
    pub seen_ms_ago: i64,
}

impl From<NodeRow> for NodeStatus {
    fn from(n: NodeRow) -> Self {
        NodeStatus {
            seen_ms_ago: (now().millis() - n.seen_at.millis()).max(0),
            id: n.id,
            host: n.host,
            pid: n.pid,
            key_source: n.key_source,
            key_versions: n.key_versions,
            problem: n.problem,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReencryptReport {
    pub workspaces: usize,
    /// Workspaces that had unfinished work from an interrupted run and were resumed.
    pub resumed: usize,
    pub versions_resealed: usize,
}

/// What `lockbox audit verify` found (see [`crate::audit::ChainCheck`]).
pub type AuditVerify = crate::audit::ChainCheck;

#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    pub file: String,
    pub rows: u64,
    pub workspaces: usize,
    pub secrets: usize,
    pub versions: usize,
    pub audit_rows: usize,
}

/// The deployment's keyring and store; the store is given the audit chain keys,
/// so rows these tools append are keyed like the server's.
async fn open(loc: &Location) -> Result<(Arc<MasterKeyring>, Arc<dyn Store>)> {
    if loc.database.is_none()
        && !loc
            .data_dir
            .join(lockbox_store::sqlite::DB_FILE_NAME)
            .exists()
    {
        return Err(Error::not_found(format!(
            "no Lockbox data in {}",
            loc.data_dir.display()
        )));
    }
    let store = open_store(&loc.data_dir, loc.database.as_deref()).await?;
    let keyring = Arc::new(MasterKeyring::load_existing(&loc.data_dir).map_err(keycheck::key_err)?);
    keycheck::verify_at_start(store.as_ref(), &keyring).await?;
    crate::audit::install_chain_keys(store.as_ref(), keyring.clone());
    Ok((keyring, store))
}

/// A file the operator named could not be written: their path is the usual cause
/// (`invalid`), a full disk or exhausted descriptors are not (`unavailable`).
fn io_error(what: &str, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        // ENOSPC, EDQUOT; EIO
        Some(28 | 122) => Error::unavailable(format!("cannot {what}: the disk is full ({e})")),
        Some(5) => Error::unavailable(format!("cannot {what}: disk I/O error ({e})")),
        // ENFILE, EMFILE
        Some(23 | 24) => {
            Error::unavailable(format!("cannot {what}: out of file descriptors ({e})"))
        }
        _ => Error::invalid(format!("cannot {what}: {e}")),
    }
}

fn system_audit(action: &str, detail: serde_json::Value) -> AuditRecord {
    AuditRecord {
        workspace_id: None,
        at: SystemClock.now(),
        actor: "system".into(),
        action: action.into(),
        target: None,
        outcome: "ok".into(),
        request_id: None,
        detail,
    }
}

fn newest(checks: &[MasterKeyCheckRow]) -> u32 {
    checks.iter().map(|c| c.version).max().unwrap_or(0)
}

/// The first step of a rotation on the key file: adds a master-key version that is
/// not used yet (or names the one already waiting). Copy the key file to every node
/// (they re-read it within [`crate::KEY_CHECK_EVERY`]), then [`rotate_master_key`].
pub async fn add_master_key(loc: &Location) -> Result<AddKeyReport> {
    let (keyring, store) = open(loc).await?;
    let in_use = newest(&store.master_key_checks().await.map_err(store_err)?);
    let waiting = keyring.versions().into_iter().filter(|v| *v > in_use).max();
    let (version, added) = match waiting {
        Some(v) => (v, false),
        None => (keyring.add_version()?, true),
    };
    Ok(AddKeyReport {
        version,
        added,
        key_source: keyring.source().to_string(),
    })
}

/// The version in use, this keyring, and the live nodes with the versions they hold.
pub async fn key_status(loc: &Location) -> Result<KeyStatus> {
    let (keyring, store) = open(loc).await?;
    let checks = store.master_key_checks().await.map_err(store_err)?;
    let nodes = store.live_nodes(now()).await.map_err(store_err)?;
    Ok(KeyStatus {
        in_use: newest(&checks),
        recorded: checks.iter().map(|c| c.version).collect(),
        key_source: keyring.source().to_string(),
        key_versions: keyring.versions(),
        nodes: nodes.into_iter().map(NodeStatus::from).collect(),
    })
}

/// The second step: switches the deployment to a master-key version newer than the
/// one in use, and rewraps every workspace key under it; with `reencrypt`, also gives
/// every workspace a new data-key version and re-seals every secret version under it
/// (see [`reencrypt`]).
///
/// The version is the newest one this keyring holds beyond the one in use; when
/// there is none and the keys come from a key file, one is added first (so on a
/// single node, or with nodes sharing this key file, rotation is one command). The
/// switch waits up to `wait` for every live node (heartbeat rows in the store) to
/// report the version, and is refused, naming the nodes that lack it, if one does
/// not: a switch never takes a node down. Then the version's key check is recorded
/// (nodes follow it within [`crate::KEY_CHECK_EVERY`]) and every key is rewrapped.
/// An interrupted run is finished by running it again (keys still wrapped under an
/// older version are rewrapped to the one in use, without adding another).
pub async fn rotate_master_key(
    loc: &Location,
    reencrypt: bool,
    wait: std::time::Duration,
    progress: &dyn Progress,
) -> Result<RotateReport> {
    let (keyring, store) = open(loc).await?;
    let in_use = newest(&store.master_key_checks().await.map_err(store_err)?);
    let keys = store.all_workspace_keys().await.map_err(store_err)?;
    let behind = keys.iter().any(|k| k.master_version != in_use);
    let waiting = keyring.versions().into_iter().filter(|v| *v > in_use).max();
    let (target, added) = match waiting {
        Some(v) => (v, false),
        // A switch that did not finish: finish it first.
        None if behind => (in_use, false),
        None => (keyring.add_version()?, true),
    };
    let live = wait_for_nodes(store.as_ref(), target, wait, added, &keyring).await?;
    if target != in_use {
        store
            .add_master_key_check(MasterKeyCheckRow {
                version: target,
                check: keyring.key_check(target)?,
                created_at: now(),
            })
            .await
            .map_err(store_err)?;
    }
    keyring.activate(target)?;
    let mut rewrapped = rewrap_all(&keyring, store.as_ref(), target).await?;
    if !live.is_empty() {
        // A node may have wrapped a new workspace key under the old version before it
        // noticed the switch (within one check interval): sweep once more after it.
        tokio::time::sleep(crate::KEY_CHECK_EVERY + std::time::Duration::from_millis(500)).await;
        rewrapped += rewrap_all(&keyring, store.as_ref(), target).await?;
    }
    let reencrypted = if reencrypt {
        Some(reseal_all(&keyring, store.as_ref(), progress).await?)
    } else {
        None
    };
    Ok(RotateReport {
        new_master_version: target,
        added_version: added,
        rewrapped,
        live_nodes: live.len(),
        reencrypted,
    })
}

/// Waits until every live node holds `target`; the live nodes, or a refusal naming
/// those that lack it.
async fn wait_for_nodes(
    store: &dyn Store,
    target: u32,
    wait: std::time::Duration,
    added: bool,
    keyring: &MasterKeyring,
) -> Result<Vec<NodeRow>> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let live = store.live_nodes(now()).await.map_err(store_err)?;
        let lacking: Vec<&NodeRow> = live
            .iter()
            .filter(|n| !n.key_versions.contains(&target))
            .collect();
        if lacking.is_empty() {
            return Ok(live);
        }
        if std::time::Instant::now() >= deadline {
            let names = lacking
                .iter()
                .map(|n| {
                    format!(
                        "node {} on {} (pid {}, keys from {}, holds version(s) {:?})",
                        n.id, n.host, n.pid, n.key_source, n.key_versions
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let how = match keyring.source() {
                lockbox_crypto::KeySource::File(p) => format!(
                    "copy {} (it holds version {target}) over their key files (they re-read it within {} s), \
                     or add version {target} to their LOCKBOX_MASTER_KEYS and restart them",
                    p.display(),
                    crate::KEY_CHECK_EVERY.as_secs()
                ),
                other => format!(
                    "add version {target} (the key in {other}) to their keyrings and restart them"
                ),
            };
            return Err(Error::conflict(format!(
                "not switching to master key version {target}: {} live node(s) do not hold it yet: {names}. \
                 {}Add it to every node's keyring: {how}; then run `lockbox keys rotate` again. \
                 A node that is gone stops counting when its heartbeat expires ({} s). See {}.",
                lacking.len(),
                if added {
                    format!("Version {target} was added to this keyring and waits there, unused. ")
                } else {
                    String::new()
                },
                crate::NODE_TTL.as_secs(),
                keycheck::KEYS_DOC
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Rewraps every workspace key not yet under `target`; how many it rewrapped.
async fn rewrap_all(keyring: &MasterKeyring, store: &dyn Store, target: u32) -> Result<usize> {
    let keys = store.all_workspace_keys().await.map_err(store_err)?;
    // Unwrap everything first: a key that does not open stops before anything changes.
    let mut opened = Vec::new();
    for k in keys.iter().filter(|k| k.master_version != target) {
        let wrapped = WrappedDataKey {
            master_version: k.master_version,
            blob: k.wrapped.clone(),
        };
        opened.push((k, keyring.unwrap(&k.workspace_id, k.version, &wrapped)?));
    }
    if opened.is_empty() {
        return Ok(0);
    }
    let rewrapped: Vec<WorkspaceKeyRow> = opened
        .iter()
        .map(|(k, dk)| {
            let w = keyring.wrap(&k.workspace_id, k.version, dk);
            WorkspaceKeyRow {
                workspace_id: k.workspace_id.clone(),
                version: k.version,
                master_version: w.master_version,
                wrapped: w.blob,
            }
        })
        .collect();
    let n = rewrapped.len();
    store
        .rewrap_workspace_keys(
            rewrapped,
            system_audit(
                "keys.rotate",
                serde_json::json!({"master_version": target, "rewrapped": n}),
            ),
        )
        .await
        .map_err(store_err)?;
    Ok(n)
}

/// Re-seals every secret version under a new workspace-key version, in batches,
/// while servers keep serving. Resumable: a workspace that still has versions under
/// an older key (an interrupted run) is finished without making another key.
pub async fn reencrypt(loc: &Location, progress: &dyn Progress) -> Result<ReencryptReport> {
    let (keyring, store) = open(loc).await?;
    reseal_all(&keyring, store.as_ref(), progress).await
}

const RESEAL_BATCH: u32 = 200;

async fn reseal_all(
    keyring: &MasterKeyring,
    store: &dyn Store,
    progress: &dyn Progress,
) -> Result<ReencryptReport> {
    let snapshot_counts = store.export().await.map_err(store_err)?;
    let workspaces = snapshot_counts.workspaces.clone();
    let total = snapshot_counts.versions.len() as u64;
    drop(snapshot_counts);
    progress.start("re-sealing secret versions", total);
    let mut report = ReencryptReport {
        workspaces: workspaces.len(),
        resumed: 0,
        versions_resealed: 0,
    };
    for ws in &workspaces {
        let keys = store.workspace_keys(&ws.id).await.map_err(store_err)?;
        let unwrap = |version: u32| -> Result<DataKey> {
            let row = keys.iter().find(|k| k.version == version).ok_or_else(|| {
                Error::internal(format!("workspace key version {version} is missing"))
            })?;
            Ok(keyring.unwrap(
                &ws.id,
                version,
                &WrappedDataKey {
                    master_version: row.master_version,
                    blob: row.wrapped.clone(),
                },
            )?)
        };
        let pending = store
            .versions_to_reseal(&ws.id, ws.active_key_version, 1)
            .await
            .map_err(store_err)?;
        let active = if pending.is_empty() {
            let next = keys.iter().map(|k| k.version).max().unwrap_or(0) + 1;
            let key = DataKey::generate();
            let wrapped = keyring.wrap(&ws.id, next, &key);
            let mut audit = system_audit(
                "keys.workspace_rotate",
                serde_json::json!({"key_version": next}),
            );
            audit.workspace_id = Some(ws.id.clone());
            store
                .add_workspace_key(
                    WorkspaceKeyRow {
                        workspace_id: ws.id.clone(),
                        version: next,
                        master_version: wrapped.master_version,
                        wrapped: wrapped.blob,
                    },
                    audit,
                )
                .await
                .map_err(store_err)?;
            next
        } else {
            report.resumed += 1;
            ws.active_key_version
        };
        let new_key = {
            let rows = store.workspace_keys(&ws.id).await.map_err(store_err)?;
            let row = rows
                .iter()
                .find(|k| k.version == active)
                .ok_or_else(|| Error::internal("new workspace key missing"))?;
            keyring.unwrap(
                &ws.id,
                active,
                &WrappedDataKey {
                    master_version: row.master_version,
                    blob: row.wrapped.clone(),
                },
            )?
        };
        let mut old_keys: std::collections::HashMap<u32, DataKey> =
            std::collections::HashMap::new();
        // Servers may still write under the old key until they notice the new one
        // (within their cache bound), so a second sweep follows a short pause.
        for sweep in 0..2 {
            if sweep == 1 {
                tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
            }
            loop {
                let batch = store
                    .versions_to_reseal(&ws.id, active, RESEAL_BATCH)
                    .await
                    .map_err(store_err)?;
                if batch.is_empty() {
                    break;
                }
                let mut updates = Vec::with_capacity(batch.len());
                for (secret, version) in batch {
                    if let std::collections::hash_map::Entry::Vacant(e) =
                        old_keys.entry(version.key_version)
                    {
                        e.insert(unwrap(version.key_version)?);
                    }
                    let old_key = &old_keys[&version.key_version];
                    // Always v2: a legacy version is sealed with the policy it has now.
                    let update = policy_seal::reseal(
                        &ws.id, &secret, &version, old_key, &new_key, active,
                    )
                    .ok_or_else(|| {
                        Error::internal(format!(
                            "version {} of secret {} does not decrypt (or its stored policy does not match its ciphertext); stopping",
                            version.version, secret.id
                        ))
                    })?;
                    updates.push(update);
                }
                let n = store.reseal_versions(updates).await.map_err(store_err)?;
                report.versions_resealed += n;
                progress.advance(n as u64);
            }
        }
    }
    let detail = serde_json::json!({"versions_resealed": report.versions_resealed, "resumed": report.resumed});
    store
        .append_audit(vec![system_audit("keys.reencrypt", detail)])
        .await
        .map_err(store_err)?;
    progress.finish();
    Ok(report)
}

/// Walks the audit chain from the first row, checking keyed links with the
/// deployment's master key; `broken_at` names the first bad row. With
/// `expect_head` (`SEQ:HASH`, from `audit head` or the server's log), also checks
/// that the chain still continues that head: not cut short, not rewritten.
pub async fn verify_audit(loc: &Location, expect_head: Option<&str>) -> Result<AuditVerify> {
    let expect = expect_head.map(crate::audit::parse_head).transpose()?;
    let (_, store) = open(loc).await?;
    crate::audit::check_chain(store.as_ref(), expect.as_ref()).await
}

/// A checkpoint of the audit chains (appended unless the newest one is still
/// current), whose head is for anchoring outside Lockbox.
pub async fn audit_head(loc: &Location) -> Result<crate::audit::AuditHead> {
    let (_, store) = open(loc).await?;
    crate::audit::checkpoint(store.as_ref(), SystemClock.now()).await
}

/// Writes a consistent snapshot to `out` (JSON lines, mode 0600, written to a
/// temporary file and renamed so a failed backup never looks complete).
pub async fn backup(loc: &Location, out: &Path, progress: &dyn Progress) -> Result<BackupReport> {
    let (_, store) = open(loc).await?;
    store
        .append_audit(vec![system_audit("store.backup", serde_json::json!({}))])
        .await
        .map_err(store_err)?;
    let snap = store.export().await.map_err(store_err)?;
    let lines = backup::encode(&snap, SystemClock.now());
    progress.start("writing backup", lines.len() as u64);
    let io = |e: std::io::Error| io_error(&format!("write {}", out.display()), e);
    let tmp = out.with_extension("partial");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = std::io::BufWriter::new(opts.open(&tmp).map_err(io)?);
        for (i, line) in lines.iter().enumerate() {
            serde_json::to_writer(&mut f, line).map_err(|e| Error::internal(e.to_string()))?;
            f.write_all(b"\n").map_err(io)?;
            if i % 256 == 0 {
                progress.advance(256.min(lines.len() as u64));
            }
        }
        let f = f.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, out).map_err(io)?;
    progress.finish();
    Ok(BackupReport {
        file: out.display().to_string(),
        rows: lines.len() as u64 - 1,
        workspaces: snap.workspaces.len(),
        secrets: snap.secrets.len(),
        versions: snap.versions.len(),
        audit_rows: snap.audit.len(),
    })
}

/// Loads a backup into an empty store of either kind (also the way from SQLite
/// to PostgreSQL). The master key must be the one the backup was made under: every
/// workspace key is unwrapped before anything is written.
pub async fn restore(
    loc: &Location,
    input: &Path,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    let file = std::fs::File::open(input)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", input.display())))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let header_text = lines
        .next()
        .ok_or_else(|| Error::invalid("backup file is empty"))?
        .map_err(|e| Error::invalid(format!("read {}: {e}", input.display())))?;
    let header: serde_json::Value = serde_json::from_str(&header_text)
        .map_err(|_| Error::invalid("not a Lockbox backup file"))?;
    let total = backup::check_header(&header)?;
    progress.start("reading backup", total);
    let mut snap = Snapshot::default();
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| Error::invalid(format!("read {}: {e}", input.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|_| Error::invalid(format!("backup file: line {} is not JSON", n + 2)))?;
        backup::decode_row(&v, &mut snap)?;
        progress.advance(1);
    }
    progress.finish();
    if loc.database.is_none() {
        crate::prepare_data_dir(&loc.data_dir, true)?;
    }
    let keyring = Arc::new(MasterKeyring::load_existing(&loc.data_dir)?);
    // Keyed links check with the master key; a legacy prefix (a backup from before
    // keyed links) verifies as before and stays legacy in the restored store.
    let scratch = lockbox_store::audit_chain::ChainKeySlot::default();
    crate::audit::install_chain_keys_in(&scratch, keyring.clone());
    let report = lockbox_store::audit_chain::verify_with(
        &snap.audit,
        lockbox_store::audit_chain::Rules {
            keys: scratch.get().as_deref(),
            legacy_rows: Some(lockbox_store::audit_chain::legacy_prefix(&snap.audit)),
        },
    );
    if let Some((seq, why)) = report.broken_at {
        return Err(Error::invalid(format!(
            "the backup's audit chain does not verify at seq {seq} ({why}); refusing to restore it"
        )));
    }
    for k in &snap.workspace_keys {
        keyring
            .unwrap(&k.workspace_id, k.version, &WrappedDataKey { master_version: k.master_version, blob: k.wrapped.clone() })
            .map_err(|_| {
                Error::invalid(
                    "this master key does not open the backup's workspace keys: use the deployment's master.key or LOCKBOX_MASTER_KEY",
                )
            })?;
    }
    let store = open_store(&loc.data_dir, loc.database.as_deref()).await?;
    crate::audit::install_chain_keys(store.as_ref(), keyring.clone());
    let report = BackupReport {
        file: input.display().to_string(),
        rows: total,
        workspaces: snap.workspaces.len(),
        secrets: snap.secrets.len(),
        versions: snap.versions.len(),
        audit_rows: snap.audit.len(),
    };
    match store.import(snap).await {
        Ok(()) => {}
        Err(lockbox_store::StoreError::Conflict) => {
            return Err(Error::conflict(
                "the target store is not empty; restore needs an empty one",
            ))
        }
        Err(e) => return Err(store_err(e)),
    }
    store
        .append_audit(vec![system_audit(
            "store.restore",
            serde_json::json!({"rows": total}),
        )])
        .await
        .map_err(store_err)?;
    Ok(report)
}

/// Decodes one row line of a backup file into an otherwise empty snapshot (for the
/// fuzz target; `restore` does the same line by line).
pub fn decode_backup_line(line: &serde_json::Value) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    backup::decode_row(line, &mut snap)?;
    Ok(snap)
}

/// Now, for reports.
pub fn now() -> Timestamp {
    SystemClock.now()
}
