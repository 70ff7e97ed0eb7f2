//! Running automations embedded (`--data-dir`): open the local store, authenticate
//! the caller's token there, and open a run as them, with an egress executor for
//! the run's outbound calls. Shared by `flow run` and `script run`.

use crate::args::Global;
use anyhow::{Context, Result};
use lockbox_service::Lockbox;
use std::path::Path;
use std::sync::Arc;

pub struct EmbeddedRun {
    pub svc: Arc<Lockbox>,
    /// The run token (`lbr_…`) the runtimes act as.
    pub token: String,
    pub egress: Arc<lockbox_egress::Executor>,
}

pub async fn open_run(
    g: &Global,
    data_dir: &Path,
    database: Option<&str>,
    user: Option<&str>,
    trigger: &str,
    allow_private: bool,
) -> Result<EmbeddedRun> {
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
    let run = svc
        .open_run(
            &caller,
            &g.workspace,
            user.as_ref(),
            trigger,
            None,
            &Default::default(),
        )
        .await?;
    let egress = Arc::new(lockbox_egress::Executor::new(
        lockbox_egress::EgressPolicy {
            allow_private,
            ..Default::default()
        },
    ));
    Ok(EmbeddedRun {
        svc,
        // The run's own token, for the module or script host that acts as the run.
        token: run.token.into_exposed(),
        egress,
    })
}
