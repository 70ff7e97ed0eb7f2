//! The commands that talk to a Lockbox server over HTTP through `lockbox_client`:
//! secrets, tokens, members, workspaces, the audit list and `whoami`.

use crate::args::{
    AuditCmd, Global, MemberCmd, SecretCmd, SecretSub, SetArgs, TokenCmd, VisibilityArg,
    WorkspaceCmd,
};
use crate::input;
use crate::output::{or_dash, print_json, print_table};
use crate::versions;
use anyhow::{anyhow, Result};
use lockbox_client::{
    Client, DescriptionUpdate, PutOptions, Scope, SecretMeta, SettingsPatch, Visibility,
};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

/// Builds the client from the global flags; a missing token is a config error.
pub fn client(g: &Global) -> Result<Client> {
    let token = g
        .token
        .as_ref()
        // EXPOSE: the token goes to the client, which sends it as the bearer.
        .map(|t| t.expose().as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            lockbox_client::Error::Config("no token: set LOCKBOX_TOKEN or pass --token".into())
        })?;
    let mut builder = Client::builder(&g.addr, token);
    if let Some(ca) = &g.ca_cert {
        builder = builder.ca_cert_file(ca);
    }
    Ok(builder.build()?)
}

fn print_meta(meta: &SecretMeta) {
    let rows = [
        ("name", meta.name.clone()),
        ("workspace", meta.workspace.clone()),
        ("scope", meta.scope.clone()),
        ("visibility", meta.visibility.clone()),
        ("version", meta.version.to_string()),
        ("fingerprint", meta.fingerprint.clone()),
        ("description", or_dash(meta.description.as_deref())),
        ("expires_at", or_dash(meta.expires_at.as_deref())),
        (
            "created",
            format!("{} by {}", meta.created_at, meta.created_by),
        ),
        (
            "updated",
            format!("{} by {}", meta.updated_at, meta.updated_by),
        ),
    ];
    for (k, v) in rows.into_iter().chain(versions::settings_rows(meta)) {
        println!("{:<14} {v}", format!("{k}:"));
    }
}

pub async fn secret(g: &Global, cmd: SecretCmd) -> Result<ExitCode> {
    let c = client(g)?;
    let ws = g.workspace.as_str();
    let scope = if cmd.user_scope {
        Scope::User
    } else {
        Scope::Workspace
    };
    match cmd.command {
        SecretSub::Set(args) => secret_set(g, &c, scope, args).await?,
        SecretSub::Import(args) => return crate::transfer::import(g, &c, scope, args).await,
        SecretSub::Export(args) => return crate::transfer::export(g, &c, scope, args).await,
        SecretSub::Get { name } => {
            let meta = c.get_secret(ws, scope, &name).await?;
            if g.json {
                print_json(&meta)?;
            } else {
                print_meta(&meta);
            }
        }
        SecretSub::Ls { prefix, limit } => {
            let mut all: Vec<SecretMeta> = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let want = match limit {
                    Some(n) => n.saturating_sub(all.len() as u32).min(1000),
                    None => 1000,
                };
                if want == 0 {
                    break;
                }
                let page = c
                    .list_secrets(ws, scope, prefix.as_deref(), Some(want), cursor.as_deref())
                    .await?;
                all.extend(page.secrets);
                match page.next_cursor {
                    Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                    _ => break,
                }
            }
            if let Some(n) = limit {
                all.truncate(n as usize);
            }
            if g.json {
                print_json(&all)?;
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|m| {
                        vec![
                            m.name.clone(),
                            m.version.to_string(),
                            m.visibility.clone(),
                            m.updated_at.clone(),
                            m.updated_by.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &["NAME", "VERSION", "VISIBILITY", "UPDATED", "BY"],
                    &rows,
                    "no secrets",
                );
            }
        }
        SecretSub::Rm { name, force } => {
            c.delete_secret_with_force(ws, scope, &name, force).await?;
            if g.json {
                print_json(&json!({"deleted": true, "name": name}))?;
            } else {
                println!("deleted {name}");
            }
        }
        SecretSub::Reveal { name, version } => {
            let (value, version) = c.reveal_with_version(ws, scope, &name, version).await?;
            // EXPOSE: printing to the user's terminal on explicit request
            let bytes = value.expose();
            let mut out = Vec::with_capacity(bytes.len() + 32);
            if g.json {
                // `bytes` is canonical JSON already; frame it without re-parsing.
                out.extend_from_slice(b"{\"value\":");
                out.extend_from_slice(bytes);
                out.extend_from_slice(format!(",\"version\":{version}}}").as_bytes());
            } else if bytes.first() == Some(&b'"') {
                let text: String = serde_json::from_slice(bytes)
                    .map_err(|_| anyhow!("decode: revealed value is not valid JSON"))?;
                out.extend_from_slice(text.as_bytes());
            } else {
                out.extend_from_slice(bytes);
            }
            out.push(b'\n');
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&out)?;
            stdout.flush()?;
        }
        SecretSub::Patch {
            name,
            patch,
            json_patch,
            if_match,
        } => {
            let text = match patch {
                Some(p) => p,
                None => input::read_stdin("the patch")?,
            };
            // EXPOSE: parsed into a document that is Sensitive in turn.
            let doc = input::parse_json(text.expose(), "the patch")?;
            drop(text);
            // EXPOSE: sent as the request body, the one place it goes.
            let doc_ref = doc.expose();
            let meta = if json_patch {
                c.patch_json(ws, scope, &name, doc_ref, if_match).await?
            } else {
                c.patch_merge(ws, scope, &name, doc_ref, if_match).await?
            };
            if g.json {
                print_json(&meta)?;
            } else {
                println!("patched {} (version {})", meta.name, meta.version);
            }
        }
        SecretSub::History { name } => {
            let versions = c.versions(ws, scope, &name).await?;
            if g.json {
                print_json(&versions)?;
            } else {
                versions::print_versions(&versions);
            }
        }
        SecretSub::Versions(cmd) => versions::change(&c, ws, scope, g.json, cmd).await?,
        SecretSub::Settings(args) => versions::settings(&c, ws, scope, g.json, args).await?,
        SecretSub::Rollback { name, version } => {
            let meta = c.rollback(ws, scope, &name, version).await?;
            if g.json {
                print_json(&meta)?;
            } else {
                println!(
                    "rolled {} back to version {version} (now version {})",
                    meta.name, meta.version
                );
            }
        }
        SecretSub::Rename {
            name,
            new_name,
            force,
        } => {
            let meta = c
                .rename_with_force(ws, scope, &name, &new_name, force)
                .await?;
            if g.json {
                print_json(&meta)?;
            } else {
                println!("renamed {name} to {}", meta.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn secret_set(g: &Global, c: &Client, scope: Scope, args: SetArgs) -> Result<()> {
    let value = input::secret_value(args.value, args.value_file.as_deref(), args.json_value)?;
    let opts = PutOptions {
        description: match args.description {
            None => DescriptionUpdate::Keep,
            Some(d) if d.is_empty() => DescriptionUpdate::Clear,
            Some(d) => DescriptionUpdate::Set(d),
        },
        visibility: args.visibility.map(|v| match v {
            VisibilityArg::Masked => Visibility::Masked,
            VisibilityArg::Restricted => Visibility::Restricted,
        }),
        ttl: args.ttl,
        if_match: args.if_match,
        create_only: false,
        allowed_hosts: None,
        labels: if args.labels.is_empty() {
            None
        } else {
            Some(versions::label_map(args.labels)?)
        },
    };
    // EXPOSE: sent as the request body, the one place it goes.
    let sent = value.expose();
    let out = c
        .put_secret(&g.workspace, scope, &args.name, sent, &opts)
        .await?;
    drop(value);
    for w in &out.meta.warnings {
        eprintln!("warning: {w}");
    }
    if g.json {
        print_json(&json!({"created": out.created, "secret": out.meta}))?;
    } else {
        let verb = if out.created { "created" } else { "updated" };
        println!("{verb} {} (version {})", out.meta.name, out.meta.version);
    }
    Ok(())
}

pub async fn token(g: &Global, cmd: TokenCmd) -> Result<ExitCode> {
    let c = client(g)?;
    match cmd {
        TokenCmd::Create {
            name,
            role,
            ttl,
            run_as_users,
        } => {
            let created = match role {
                Some(role) => {
                    c.create_service_token_with(&name, &g.workspace, role.into(), ttl, run_as_users)
                        .await?
                }
                None => c.create_personal_token(&name, ttl).await?,
            };
            if g.json {
                print_json(&created)?;
            } else {
                // EXPOSE: a new token is printed once, on stdout, for its holder.
                println!("{}", created.token.expose());
                let place = match (&created.workspace, &created.role) {
                    (Some(ws), Some(role)) => format!(" as {role} in workspace {ws}"),
                    _ => String::new(),
                };
                eprintln!(
                    "created {} token {} (id {}){place}; it is shown only once, store it now",
                    created.kind, created.name, created.id
                );
            }
        }
        TokenCmd::Ls { all } => {
            let ws = if all {
                None
            } else {
                Some(g.workspace.as_str())
            };
            let tokens = c.list_tokens(ws).await?;
            if g.json {
                print_json(&tokens)?;
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        let status = if t.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        vec![
                            t.id.clone(),
                            t.name.clone(),
                            t.kind.clone(),
                            or_dash(t.workspace.as_deref()),
                            or_dash(t.role.as_deref()),
                            or_dash(t.user.as_deref()),
                            or_dash(t.expires_at.as_deref()),
                            or_dash(t.last_used_at.as_deref()),
                            status.to_owned(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "ID",
                        "NAME",
                        "KIND",
                        "WORKSPACE",
                        "ROLE",
                        "USER",
                        "EXPIRES",
                        "LAST USED",
                        "STATUS",
                    ],
                    &rows,
                    "no tokens",
                );
            }
        }
        TokenCmd::Revoke { id } => {
            c.revoke_token(&id).await?;
            if g.json {
                print_json(&json!({"revoked": true, "id": id}))?;
            } else {
                println!("revoked {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn member(g: &Global, cmd: MemberCmd) -> Result<ExitCode> {
    let c = client(g)?;
    let ws = g.workspace.as_str();
    match cmd {
        MemberCmd::Ls => {
            let members = c.list_members(ws).await?;
            if g.json {
                print_json(&members)?;
            } else {
                let rows: Vec<Vec<String>> = members
                    .iter()
                    .map(|m| vec![m.user.clone(), m.role.clone(), m.since.clone()])
                    .collect();
                print_table(&["USER", "ROLE", "SINCE"], &rows, "no members");
            }
        }
        MemberCmd::Add { user, role } => {
            let added = c.add_member(ws, &user, role.into()).await?;
            if g.json {
                print_json(&added)?;
            } else {
                eprintln!("added {} to {ws} as {}", added.user, added.role);
                if let Some(token) = &added.token {
                    // EXPOSE: a new user's token is printed once, for its holder.
                    println!("{}", token.expose());
                    eprintln!(
                        "{} is a new user: above is their token; it is shown only once, hand it over now",
                        added.user
                    );
                }
            }
        }
        MemberCmd::Set { user, role } => {
            let set = c.set_member_role(ws, &user, role.into()).await?;
            if g.json {
                print_json(&set)?;
            } else {
                println!("{} is now {} in {ws}", set.user, set.role);
            }
        }
        MemberCmd::Rm { user } => {
            c.remove_member(ws, &user).await?;
            if g.json {
                print_json(&json!({"deleted": true, "user": user}))?;
            } else {
                println!("removed {user} from {ws}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn workspace(g: &Global, cmd: WorkspaceCmd) -> Result<ExitCode> {
    let c = client(g)?;
    match cmd {
        WorkspaceCmd::Ls => {
            let list = c.list_workspaces().await?;
            if g.json {
                print_json(&list)?;
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|w| vec![w.name.clone(), w.role.clone(), w.created_at.clone()])
                    .collect();
                print_table(&["NAME", "ROLE", "CREATED"], &rows, "no workspaces");
            }
        }
        WorkspaceCmd::Create { name } => {
            let created = c.create_workspace(&name).await?;
            if g.json {
                print_json(&created)?;
            } else {
                println!(
                    "created workspace {} (you are {})",
                    created.name, created.role
                );
            }
        }
        WorkspaceCmd::Rm { name } => {
            c.delete_workspace(&name).await?;
            if g.json {
                print_json(&json!({"deleted": true, "name": name}))?;
            } else {
                println!("deleted workspace {name}");
            }
        }
        WorkspaceCmd::Settings {
            allow_rename,
            max_versions,
            cas_required,
            delete_version_after,
        } => {
            let patch = SettingsPatch {
                allow_rename,
                max_versions,
                cas_required,
                delete_version_after,
            };
            let settings = if patch == SettingsPatch::default() {
                c.get_settings(&g.workspace).await?
            } else {
                c.patch_settings(&g.workspace, &patch).await?
            };
            if g.json {
                print_json(&settings)?;
            } else {
                println!("allow_rename:         {}", settings.allow_rename);
                println!("max_versions:         {}", settings.max_versions);
                println!("cas_required:         {}", settings.cas_required);
                println!(
                    "delete_version_after: {}",
                    settings
                        .delete_version_after
                        .map_or_else(|| "off".to_owned(), versions::duration)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn audit_ls(g: &Global, limit: Option<u32>) -> Result<ExitCode> {
    let c = client(g)?;
    let page = c.audit(&g.workspace, limit, None).await?;
    if g.json {
        print_json(&page.events)?;
    } else {
        let rows: Vec<Vec<String>> = page
            .events
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    e.at.clone(),
                    e.actor.clone(),
                    e.action.clone(),
                    or_dash(e.target.as_deref()),
                    e.outcome.clone(),
                ]
            })
            .collect();
        print_table(
            &["SEQ", "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME"],
            &rows,
            "no audit events",
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn whoami(g: &Global) -> Result<ExitCode> {
    let me = client(g)?.me().await?;
    if g.json {
        print_json(&me)?;
    } else {
        println!("kind:       {}", me.kind);
        println!("user:       {}", or_dash(me.user.as_deref()));
        println!("token:      {} (id {})", me.token.name, me.token.id);
        let ws: Vec<String> = me
            .workspaces
            .iter()
            .map(|w| format!("{} ({})", w.name, w.role))
            .collect();
        println!(
            "workspaces: {}",
            if ws.is_empty() {
                "-".to_owned()
            } else {
                ws.join(", ")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `audit` splits between HTTP (`ls`) and the data directory (`verify`, `head`).
pub async fn audit(g: &Global, cmd: AuditCmd) -> Result<ExitCode> {
    match cmd {
        AuditCmd::Ls { limit } => audit_ls(g, limit).await,
        AuditCmd::Verify { store, expect_head } => {
            crate::local::audit_verify(g, &store, expect_head.as_deref()).await
        }
        AuditCmd::Head { store } => crate::local::audit_head(g, &store).await,
    }
}
