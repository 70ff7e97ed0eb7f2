//! The command line's shape: every flag and subcommand of `lockbox`, as clap derive
//! types. No behaviour lives here; `main.rs` dispatches on these.

use clap::{Args, Parser, Subcommand, ValueEnum};
use lockbox_core::Sensitive;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "lockbox",
    version,
    about = "Lockbox: a secrets service. Run the server, manage secrets, tokens, members and keys."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every client command shares.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Server address.
    #[arg(long, global = true, env = "LOCKBOX_ADDR", default_value = lockbox_client::DEFAULT_ADDR)]
    pub addr: String,
    /// Bearer token (lbx_…). Prefer the environment variable over the flag.
    #[arg(long, global = true, env = "LOCKBOX_TOKEN", hide_env_values = true, value_parser = crate::input::sensitive_arg)]
    pub token: Option<Sensitive<String>>,
    /// Extra CA certificate (PEM) to trust, for a server with a private CA.
    #[arg(long, global = true, env = "LOCKBOX_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Workspace to act in.
    #[arg(
        short = 'w',
        long,
        global = true,
        env = "LOCKBOX_WORKSPACE",
        default_value = "default"
    )]
    pub workspace: String,
    /// Machine-readable JSON output instead of short human text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the Lockbox server.
    Server(ServerArgs),
    /// Master key maintenance (works on the data directory directly).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Secrets in the current workspace (or your user scope with --user-scope).
    Secret(SecretCmd),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Members of the current workspace.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Workspaces you belong to.
    #[command(subcommand)]
    Workspace(WorkspaceCmd),
    /// The audit log: list it over HTTP, or verify its hash chain in the store.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Write a consistent, still-encrypted snapshot of the store to a file.
    Backup(BackupArgs),
    /// Load a backup into an empty store (SQLite or PostgreSQL).
    Restore(RestoreArgs),
    /// Show who the current token is.
    Whoami,
    /// Seed 001's YAML automations.
    #[command(subcommand)]
    Flow(FlowCmd),
    /// Seed 000's scripts.
    #[command(subcommand)]
    Script(ScriptCmd),
    /// Run a program with the workspace's secrets as environment variables, and
    /// mask their values in its output (like `op run`).
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Only secrets whose names start with this; it is removed from the variable names.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Allow a secret to set this variable although it changes how programs start,
    /// load code or route traffic (PATH, LD_PRELOAD, BASH_ENV, NODE_OPTIONS, …).
    /// Repeat for several.
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,
    /// The program and its arguments (after `--`).
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ScriptCmd {
    /// Run a script: on a server (LOCKBOX_ADDR/LOCKBOX_TOKEN), or embedded against
    /// the local store with --data-dir. Prints its log lines and result (redacted);
    /// exits 1 when it fails or is cancelled.
    Run(ScriptRunArgs),
}

#[derive(Args, Debug)]
pub struct ScriptRunArgs {
    /// The script file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A member the run acts as.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// What started the run: manual, webhook, cron, …
    #[arg(long, default_value = "manual")]
    pub trigger: String,
    /// `Data.Request.body`: JSON, or @FILE to read it from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    pub request_body: Option<String>,
    /// Run embedded against this data directory instead of a server.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// With --data-dir: the PostgreSQL store instead of the embedded one.
    #[arg(long, value_name = "URL", requires = "data_dir")]
    pub database: Option<String>,
    /// With --data-dir: let calls reach loopback and private addresses.
    #[arg(long, requires = "data_dir")]
    pub egress_allow_private: bool,
}

#[derive(Subcommand, Debug)]
pub enum FlowCmd {
    /// Run a flow file: against a server (LOCKBOX_ADDR/LOCKBOX_TOKEN), or embedded
    /// against the local store with --data-dir. Prints step results and events as
    /// JSON lines, redacted; exits 1 when the flow fails.
    Run(FlowRunArgs),
}

#[derive(Args, Debug)]
pub struct FlowRunArgs {
    /// The flow's YAML file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A member the run acts as (enables the user scope).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// What started the run: manual, webhook, cron, …
    #[arg(long, default_value = "manual")]
    pub trigger: String,
    /// A `{{config.KEY}}` value (repeatable); the value is JSON when it parses as JSON.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// A JSON object of config values (the --config flags override it).
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Run embedded against this data directory instead of a server.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// With --data-dir: the PostgreSQL store instead of the embedded one.
    #[arg(long, value_name = "URL", requires = "data_dir")]
    pub database: Option<String>,
    /// With --data-dir: let fetches reach loopback and private addresses.
    #[arg(long, requires = "data_dir")]
    pub egress_allow_private: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where a deployment's data is: the data directory (master key file, and the
/// embedded database) and, for many nodes, a PostgreSQL URL. Resolved by
/// [`StoreArgs::location`], which refuses an ambiguous pair (see there).
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory holding the master key file (and the embedded database)
    /// [default: ./lockbox-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…) instead of the embedded SQLite store. Read from
    /// LOCKBOX_DATABASE_URL when not given; an explicit --data-dir that holds an
    /// embedded store together with that variable (and no --database) is an error.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

pub const DATABASE_URL_ENV: &str = "LOCKBOX_DATABASE_URL";
pub const DEFAULT_DATA_DIR: &str = "./lockbox-data";

impl StoreArgs {
    /// The store these flags and the environment name. An exported
    /// `LOCKBOX_DATABASE_URL` does not silently win over an explicit `--data-dir`:
    /// when that directory holds an embedded store and `--database` was not given,
    /// this is an error that says how to choose.
    pub fn location(&self) -> anyhow::Result<lockbox_service::admin::Location> {
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let from_env = std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let database = self.database.clone().or(from_env.clone());
        if self.database.is_none() && self.data_dir.is_some() {
            if let Some(url) = &from_env {
                let db = data_dir.join(lockbox_service::EMBEDDED_DB_FILE);
                if db.exists() {
                    anyhow::bail!(
                        "ambiguous store: --data-dir {} holds an embedded store ({}), and {DATABASE_URL_ENV} \
                         names a PostgreSQL store ({}). Pass --database \"${DATABASE_URL_ENV}\" to use \
                         PostgreSQL (the data directory then only holds the master key), or unset \
                         {DATABASE_URL_ENV} to use the embedded store",
                        data_dir.display(),
                        db.display(),
                        lockbox_service::describe_database_url(url)
                    );
                }
            }
        }
        Ok(lockbox_service::admin::Location { data_dir, database })
    }

    /// One line naming the store a command opens, and where its choice came from.
    pub fn describe(&self, loc: &lockbox_service::admin::Location) -> String {
        match &loc.database {
            Some(url) => format!(
                "PostgreSQL {} ({}); master key from {}",
                lockbox_service::describe_database_url(url),
                if self.database.is_some() {
                    "--database"
                } else {
                    DATABASE_URL_ENV
                },
                lockbox_service::key_source_for(&loc.data_dir)
            ),
            None => format!(
                "embedded SQLite {}; master key from {}",
                loc.data_dir
                    .join(lockbox_service::EMBEDDED_DB_FILE)
                    .display(),
                lockbox_service::key_source_for(&loc.data_dir)
            ),
        }
    }

    /// [`StoreArgs::location`], announced on stderr (`lockbox: store: …`).
    pub fn open_announced(&self) -> anyhow::Result<lockbox_service::admin::Location> {
        let loc = self.location()?;
        eprintln!("lockbox: store: {}", self.describe(&loc));
        Ok(loc)
    }
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file to write (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file to load.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(Args, Debug)]
pub struct ServerArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8270")]
    pub listen: String,
    /// On first start, write the owner's bootstrap token to this file.
    #[arg(long, value_name = "PATH")]
    pub init_token_file: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (tokens travel in clear text).
    #[arg(long)]
    pub insecure_http: bool,
    /// Let automations' outbound calls reach loopback and private addresses (tests,
    /// internal APIs). Off by default: the SSRF guard refuses them. Cloud-metadata and
    /// link-local addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, …) and
    /// Lockbox's own address stay refused.
    #[arg(long)]
    pub egress_allow_private: bool,
    /// DANGEROUS: let automations' outbound calls reach cloud-metadata and link-local
    /// addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200, …). Those services
    /// hand out this machine's cloud credentials to anyone who asks; an automation
    /// could read them. Only for a deployment that must call such an address.
    #[arg(long)]
    pub dangerous_egress_allow_metadata: bool,
    /// The URL clients reach this server at, when a proxy or load balancer sits in
    /// front (`https://lockbox.example.com`). Automations' outbound calls may not go to
    /// it, nor to the listen address.
    #[arg(
        long,
        value_name = "URL",
        env = "LOCKBOX_PUBLIC_URL",
        value_parser = public_url
    )]
    pub public_url: Option<String>,
    /// Largest secret value, in bytes of its JSON encoding.
    #[arg(long, value_name = "N", default_value_t = 65536)]
    pub max_value_bytes: usize,
    /// The longest a run (`POST /v1/runs`) may be opened for, in seconds. A run
    /// also ends when the token that opened it is revoked or expires.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub max_run_ttl: u64,
    /// Log line format (filter with RUST_LOG, default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub limits: crate::limit_args::LimitArgs,
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Switch to a new master key version and re-wrap every workspace key with it.
    /// Uses the version `keys add` (or LOCKBOX_MASTER_KEYS) put in the keyring, or
    /// adds one to the key file; refuses while a live node lacks it.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
        /// Also give every workspace a new data key and re-seal every secret version
        /// under it, in batches, while servers keep serving.
        #[arg(long)]
        reencrypt: bool,
        /// How long to wait for every live node to report the new version before
        /// refusing, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 10)]
        wait: u64,
    },
    /// Add a new master key version to the key file without using it (step one of
    /// a rotation on many nodes: then copy the key file to every node).
    Add {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show the master key version in use, this keyring, and the live nodes with
    /// the versions they hold.
    Status {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print a fresh random master key (base64), for LOCKBOX_MASTER_KEYS.
    Generate,
    /// Finish (or run) re-sealing every secret version under a new workspace key;
    /// after an interrupted `rotate --reencrypt`, this resumes where it stopped.
    Reencrypt {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// List audit events of the current workspace, newest first.
    Ls {
        /// How many events to show.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Check the audit log's chain in the store (keyed links with the master key);
    /// exits 1 when it is broken or does not continue the expected head.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// A head saved earlier (`SEQ:HASH`, from `audit head` or the server's
        /// log): the chain must still hold that row with that link, so removed
        /// rows at the end and rewritten rows before it are caught.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
    },
    /// Print the audit chain's head (`SEQ:HASH`) to keep outside Lockbox, for
    /// `audit verify --expect-head` later.
    Head {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Args, Debug)]
pub struct SecretCmd {
    /// Act on your own user scope instead of the workspace's shared one.
    #[arg(long, global = true)]
    pub user_scope: bool,
    #[command(subcommand)]
    pub command: SecretSub,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibilityArg {
    /// People with the right role may reveal it.
    Masked,
    /// No person sees it again; only automations use it.
    Restricted,
}

#[derive(Subcommand, Debug)]
pub enum SecretSub {
    /// Create a secret or write a new version. The value is read from stdin unless
    /// --value-file or --value is given. Values shorter than 6 bytes are masked in
    /// outputs only where they stand as a whole token in the answer to an outbound
    /// call that sent them (a warning says so).
    Set(SetArgs),
    /// Show a secret's metadata (never the value).
    Get {
        /// Secret name.
        name: String,
    },
    /// List secrets (follows pages until done).
    #[command(alias = "list")]
    Ls {
        /// Only names starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Stop after N secrets (default: all).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Delete a secret. A secret that stored flows use is refused (secret_in_use,
    /// naming them) unless --force.
    #[command(alias = "delete")]
    Rm {
        /// Secret name.
        name: String,
        /// Delete even though flows use it (audited as forced, naming them).
        #[arg(long)]
        force: bool,
    },
    /// Print a secret's value (a string raw, anything else as JSON). Audited.
    Reveal {
        /// Secret name.
        name: String,
        /// An older version instead of the current one.
        #[arg(long, value_name = "N")]
        version: Option<u64>,
    },
    /// Change a JSON value with a merge patch (RFC 7396) from stdin or --patch.
    Patch {
        /// Secret name.
        name: String,
        /// The patch document, instead of reading stdin.
        #[arg(long, value_name = "JSON", value_parser = crate::input::sensitive_arg)]
        patch: Option<Sensitive<String>>,
        /// The patch is a JSON Patch (RFC 6902) array of operations.
        #[arg(long)]
        json_patch: bool,
        /// Only apply when the secret is at this version.
        #[arg(long, value_name = "N")]
        if_match: Option<u64>,
    },
    /// List a secret's versions, newest first, with each one's state (current,
    /// deleted at …, destroyed).
    History {
        /// Secret name.
        name: String,
    },
    /// Write a new version equal to an older one.
    Rollback {
        /// Secret name.
        name: String,
        /// The version to copy.
        #[arg(long, value_name = "N")]
        version: u64,
    },
    /// Rename a secret (when the workspace allows renames). A secret that stored
    /// flows use is refused (secret_in_use, naming them) unless --force.
    Rename {
        /// Current name.
        name: String,
        /// New name.
        new_name: String,
        /// Rename even though flows use it: their bindings move with the name
        /// (audited as forced, naming them).
        #[arg(long)]
        force: bool,
    },
    /// Import secrets from a `.env` file (`-` reads stdin): shows a preview (name,
    /// new or exists, visibility; values masked), skips names that exist unless
    /// --overwrite, asks before writing on a terminal unless --yes, then writes one
    /// secret per request (each one audited change).
    Import(ImportArgs),
    /// Export names and metadata (`--format env`: a `.env.example` with empty
    /// values and descriptions as comments; `--format json`: the metadata list).
    /// `--values` adds the values of the secrets you may reveal (each an audited
    /// reveal), after a confirmation.
    Export(ExportArgs),
    /// Soft-delete, undelete or destroy versions of a secret.
    #[command(subcommand)]
    Versions(VersionsCmd),
    /// Show a secret's labels and settings, or change them (not a new version).
    Settings(SecretSettingsArgs),
}

/// The version numbers a `secret versions …` command acts on.
#[derive(Args, Debug)]
pub struct VersionTargets {
    /// Secret name.
    pub name: String,
    /// A version number (repeatable).
    #[arg(long = "version", value_name = "N", required = true)]
    pub versions: Vec<u64>,
}

#[derive(Subcommand, Debug)]
pub enum VersionsCmd {
    /// Soft-delete versions: their value no longer reads until undeleted.
    Delete(VersionTargets),
    /// Make soft-deleted versions readable again (destroyed ones stay destroyed).
    Undelete(VersionTargets),
    /// Remove versions' values for good (metadata stays). Asks first on a
    /// terminal; needs --yes when stdin is not a terminal.
    Destroy {
        #[command(flatten)]
        targets: VersionTargets,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Args, Debug)]
pub struct SecretSettingsArgs {
    /// Secret name.
    pub name: String,
    /// A new description ("" clears it); the value and its version stay as they are.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// A label (repeatable). The labels given replace all the current ones.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Remove every label.
    #[arg(long, conflicts_with = "labels")]
    pub clear_labels: bool,
    /// Versions to keep for this secret (0: the workspace's setting).
    #[arg(long, value_name = "N")]
    pub max_versions: Option<u32>,
    /// Refuse writes that do not name the version they expect (--if-match).
    #[arg(long, value_name = "BOOL")]
    pub cas_required: Option<bool>,
    /// New versions read as deleted after this long: seconds, or a number with
    /// s, m, h or d (30m, 12h, 7d). 0: the workspace's setting.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub delete_version_after: Option<u64>,
}

impl SecretSettingsArgs {
    /// True when the command only shows the settings.
    pub fn is_show(&self) -> bool {
        self.labels.is_empty()
            && self.description.is_none()
            && !self.clear_labels
            && self.max_versions.is_none()
            && self.cas_required.is_none()
            && self.delete_version_after.is_none()
    }
}

/// `KEY=VALUE` (split at the first `=`; the key must not be empty).
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("a label is KEY=VALUE with a non-empty key".to_owned()),
    }
}

/// Seconds, or a whole number with one of the suffixes s, m, h, d.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    const HELP: &str = "takes seconds or a number with s, m, h or d (3600, 30m, 12h, 7d)";
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_lowercase()),
        _ => (s, 's'),
    };
    let factor: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(HELP.to_owned()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HELP.to_owned());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| "the duration is too long".to_owned())
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The `.env` file (`-` reads stdin).
    pub file: PathBuf,
    /// Replace the values of secrets that exist (a new version each); without it
    /// they are listed as conflicts and skipped.
    #[arg(long)]
    pub overwrite: bool,
    /// Show the preview and stop; nothing is written.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Visibility of the secrets created (existing ones keep theirs).
    #[arg(long, value_enum, default_value = "masked")]
    pub visibility: VisibilityArg,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `NAME=value` lines (`.env`); names that are not valid keys are skipped.
    Env,
    /// A JSON array of secrets' metadata (and `value` with --values).
    Json,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "env")]
    pub format: ExportFormat,
    /// Include values: each one an audited reveal; restricted secrets and those
    /// you may not reveal are skipped (listed on stderr).
    #[arg(long)]
    pub values: bool,
    /// Do not ask for confirmation (required to print values to a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Write to this file (created with mode 0600) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// Secret name (any text: `/`, spaces and emoji are fine).
    pub name: String,
    /// Read the value from this file (one trailing newline is stripped; `-` is stdin).
    #[arg(long, value_name = "PATH", conflicts_with = "value")]
    pub value_file: Option<PathBuf>,
    /// The value on the command line (lands in shell history: prefer stdin).
    #[arg(long, value_name = "VALUE", value_parser = crate::input::sensitive_arg)]
    pub value: Option<Sensitive<String>>,
    /// Parse the input as JSON instead of storing it as a string.
    #[arg(long)]
    pub json_value: bool,
    /// Description (`""` clears it; omitted keeps the old one).
    #[arg(long)]
    pub description: Option<String>,
    /// Who may see the value again; fixed at creation (default masked).
    #[arg(long, value_enum)]
    pub visibility: Option<VisibilityArg>,
    /// Expire the secret this many seconds from now.
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
    /// Only write when the secret is at this version.
    #[arg(long, value_name = "N")]
    pub if_match: Option<u64>,
    /// A label (repeatable); the labels given replace the current ones. Omitted:
    /// labels are kept.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleArg {
    Owner,
    Admin,
    Editor,
    Viewer,
}

impl From<RoleArg> for lockbox_core::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Owner => lockbox_core::Role::Owner,
            RoleArg::Admin => lockbox_core::Role::Admin,
            RoleArg::Editor => lockbox_core::Role::Editor,
            RoleArg::Viewer => lockbox_core::Role::Viewer,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a token: a service token in the current workspace with --role, else a
    /// personal one. The token is printed once.
    Create {
        name: String,
        /// Role of a service token in the current workspace.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Expire the token this many seconds from now.
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
        /// Let this service token open runs that act as any member (a platform's
        /// engine). Only the owner may grant it.
        #[arg(long, requires = "role")]
        run_as_users: bool,
    },
    /// List tokens of the current workspace (or all you can see with --all).
    #[command(alias = "list")]
    Ls {
        /// Do not filter by workspace.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
pub enum MemberCmd {
    /// List members.
    #[command(alias = "list")]
    Ls,
    /// Add a user (created if new; their token is printed once).
    Add {
        user: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Change a member's role.
    Set {
        user: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Remove a member.
    Rm { user: String },
}

#[derive(Subcommand, Debug)]
pub enum WorkspaceCmd {
    /// List workspaces you belong to.
    #[command(alias = "list")]
    Ls,
    /// Create a workspace (you become its owner).
    Create { name: String },
    /// Delete a workspace and destroy its key (owner).
    Rm { name: String },
    /// Show the current workspace's settings, or change them.
    Settings {
        /// Allow or forbid renaming secrets.
        #[arg(long, value_name = "BOOL")]
        allow_rename: Option<bool>,
        /// How many versions to keep per secret.
        #[arg(long, value_name = "N")]
        max_versions: Option<u32>,
        /// Refuse writes that do not name the version they expect, in every secret.
        #[arg(long, value_name = "BOOL")]
        cas_required: Option<bool>,
        /// New versions read as deleted after this long (seconds, or 30m, 12h, 7d);
        /// 0 turns it off.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        delete_version_after: Option<u64>,
    },
}

/// `--public-url`: an absolute http(s) URL, checked when the command line is read.
fn public_url(text: &str) -> Result<String, String> {
    lockbox_server::parse_public_url(text)
        .map(|_| text.trim().to_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn value_sources_conflict() {
        let r = Cli::try_parse_from([
            "lockbox",
            "secret",
            "set",
            "k",
            "--value",
            "v",
            "--value-file",
            "f",
        ]);
        assert!(r.is_err());
    }

    #[test]
    fn user_scope_goes_anywhere_after_secret() {
        let cli = Cli::try_parse_from([
            "lockbox",
            "secret",
            "get",
            "k",
            "--user-scope",
            "-w",
            "team",
        ])
        .unwrap();
        match cli.command {
            Command::Secret(s) => assert!(s.user_scope),
            _ => panic!("not a secret command"),
        }
        assert_eq!(cli.global.workspace, "team");
    }

    #[test]
    fn durations_take_seconds_or_a_unit() {
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("12H"), Ok(43_200));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("0"), Ok(0));
        for bad in ["", "m", "-5", "1.5h", "3w", "ten", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_split_at_the_first_equals() {
        assert_eq!(parse_label("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_label("a="), Ok(("a".into(), String::new())));
        assert!(parse_label("=b").is_err());
        assert!(parse_label("ab").is_err());
    }

    #[test]
    fn versions_need_a_version_and_labels_conflict_with_clearing() {
        assert!(Cli::try_parse_from(["lockbox", "secret", "versions", "delete", "k"]).is_err());
        let cli = Cli::try_parse_from([
            "lockbox",
            "secret",
            "versions",
            "destroy",
            "k",
            "--version",
            "1",
            "--version",
            "3",
            "--yes",
        ])
        .unwrap();
        match cli.command {
            Command::Secret(SecretCmd {
                command: SecretSub::Versions(VersionsCmd::Destroy { targets, yes }),
                ..
            }) => assert_eq!((targets.versions, yes), (vec![1, 3], true)),
            _ => panic!("not destroy"),
        }
        assert!(Cli::try_parse_from([
            "lockbox",
            "secret",
            "settings",
            "k",
            "--label",
            "a=b",
            "--clear-labels"
        ])
        .is_err());
    }

    #[test]
    fn reveal_takes_a_version() {
        let cli =
            Cli::try_parse_from(["lockbox", "secret", "reveal", "k", "--version", "3"]).unwrap();
        match cli.command {
            Command::Secret(SecretCmd {
                command: SecretSub::Reveal { version, .. },
                ..
            }) => {
                assert_eq!(version, Some(3))
            }
            _ => panic!("not reveal"),
        }
    }
}
