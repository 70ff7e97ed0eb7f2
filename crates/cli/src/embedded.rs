//! Running automations embedded (`--data-dir`): open the local store, authenticate
//! the caller's token there, and open a run as them (through `lockbox-runs`, the
//! one place runs are opened in process), with an egress executor for the run's
//! outbound calls. Shared by `flow run` and `script run`.

use crate::args::Global;
use anyhow::{Context, Result};
use lockbox_runs::{EmbeddedModule, RunSpec, Runs};
use lockbox_service::Lockbox;
use std::path::Path;
use std::sync::Arc;

/// Opens a run of the global workspace as the caller's token and answers its
/// secrets module (a script wraps it in `EmbeddedScriptHost`).
pub async fn open_run(
    g: &Global,
    data_dir: &Path,
    database: Option<&str>,
    user: Option<&str>,
    trigger: &str,
    allow_private: bool,
) -> Result<EmbeddedModule> {
    let svc = Arc::new(
        Lockbox::open(
            data_dir,
            database,
            lockbox_service::ServiceConfig::default(),
        )
        .await?,
    );
    let token = g
        .token
        .as_ref()
        // EXPOSE: authenticated in this process, never printed.
        .map(|t| t.expose().as_str())
        .filter(|t| !t.is_empty())
        .context("no token: set LOCKBOX_TOKEN or pass --token")?;
    let caller = svc.authenticate(token).await?;
    let user = user.map(lockbox_core::UserName::parse).transpose()?;
    let egress = Arc::new(lockbox_egress::Executor::new(
        lockbox_egress::EgressPolicy {
            allow_private,
            ..Default::default()
        },
    ));
    let spec = RunSpec {
        workspace: &g.workspace,
        flow: None,
        user: user.as_ref(),
        trigger,
        ttl: None,
    };
    Ok(Runs::new(svc, egress)
        .open(&caller, &spec, &Default::default())
        .await?)
}
