//! The `lockbox` binary: parses the command line (`args.rs`), dispatches to the
//! HTTP commands (`remote.rs`) or the local ones (`local.rs`), and owns the process
//! edge: the async runtime, how errors are printed (`error: <code>: <message>` on
//! stderr) and the exit code (0 ok, 1 error, 2 usage error from clap).

mod args;
mod embedded;
mod flow;
mod input;
mod limit_args;
mod local;
mod output;
mod remote;
mod run;
mod script;
mod transfer;
mod versions;

use args::{Cli, Command, KeysCmd};
use clap::Parser;
use std::process::ExitCode;

/// Most threads tokio starts for blocking work (SQLite reads, file I/O, name
/// lookups); past it such work queues. Tokio's default is 512, and each thread
/// costs a stack and, under glibc, can get a malloc arena of its own: at 32
/// clients the server grew a thread per waiting read. Two cores do not run more
/// than a few at once; 32 leaves room for slow lookups beside the reads.
const MAX_BLOCKING_THREADS: usize = 32;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async_main())
}

async fn async_main() -> ExitCode {
    let cli = Cli::parse();
    // `lockbox secret ls | head`: a closed stdout ends the command quietly, as it
    // does other Unix tools (SIGPIPE), instead of a panic in println!. Not for the
    // commands that serve or run child processes, which handle their own pipes.
    if !matches!(
        cli.command,
        Command::Server(_) | Command::Run(_) | Command::Flow(_) | Command::Script(_)
    ) {
        restore_sigpipe();
    }
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", describe(&err));
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Server(args) => local::server(args).await,
        Command::Keys(KeysCmd::Rotate {
            store,
            reencrypt,
            wait,
        }) => local::keys_rotate(g, &store, reencrypt, wait).await,
        Command::Keys(KeysCmd::Add { store }) => local::keys_add(g, &store).await,
        Command::Keys(KeysCmd::Status { store }) => local::keys_status(g, &store).await,
        Command::Keys(KeysCmd::Generate) => local::keys_generate(),
        Command::Keys(KeysCmd::Reencrypt { store }) => local::keys_reencrypt(g, &store).await,
        Command::Backup(args) => local::backup(g, &args).await,
        Command::Restore(args) => local::restore(g, &args).await,
        Command::Secret(cmd) => remote::secret(g, cmd).await,
        Command::Token(cmd) => remote::token(g, cmd).await,
        Command::Member(cmd) => remote::member(g, cmd).await,
        Command::Workspace(cmd) => remote::workspace(g, cmd).await,
        Command::Audit(cmd) => remote::audit(g, cmd).await,
        Command::Whoami => remote::whoami(g).await,
        Command::Flow(args::FlowCmd::Run(args)) => flow::run(g, args).await,
        Command::Run(args) => run::run(g, args).await,
        Command::Script(args::ScriptCmd::Run(args)) => script::run(g, args).await,
    }
}

#[cfg(unix)]
fn restore_sigpipe() {
    // SAFETY: resetting a signal's disposition to its default before any other
    // thread writes to a pipe; no handler is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_sigpipe() {}

/// `<code>: <message>` for the errors that carry a code (the SDK's and core's);
/// anything else already reads `<kind>: <message>` or is shown with its causes.
fn describe(err: &anyhow::Error) -> String {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<lockbox_client::Error>() {
            return format!("{}: {}", e.code_str(), e.message());
        }
        if let Some(e) = cause.downcast_ref::<lockbox_core::Error>() {
            // An offline command's stderr is the operator's own log: its cause too.
            return match e.cause() {
                Some(why) => format!("{}: {} ({why})", e.code, e.message),
                None => format!("{}: {}", e.code, e.message),
            };
        }
    }
    format!("{err:#}")
}
