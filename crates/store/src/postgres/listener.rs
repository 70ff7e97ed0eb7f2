//! The change feed between processes sharing one PostgreSQL database.
//!
//! Writers call `pg_notify('lockbox_changes', payload)` inside their transaction
//! (delivered on commit, dropped on rollback). One background task per store owns
//! a dedicated connection that `LISTEN`s on the channel, drives it with
//! `poll_message`, drops notifications from its own node, and forwards the rest
//! as [`Change`] values on a broadcast channel. When the connection drops it
//! reconnects with backoff and, once listening again, sends [`Change::Everything`]
//! since notifications may have been missed in between.
//!
//! Payload: `<node_id>|<kind>|<id>[|<id2>]` with kind `workspace`, `membership`
//! (two ids: workspace, user), `token`, `secret` or `everything` (no id). Ids only,
//! never values.

use crate::Change;
use std::future::poll_fn;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio_postgres::{AsyncMessage, Config, NoTls};

/// The channel stores notify on and listen to (suffixed `_<schema>` for a store
/// in its own schema, since notifications are database-wide).
pub(super) const CHANNEL: &str = "lockbox_changes";

/// How many changes a slow subscriber may lag behind before it sees `Lagged`.
pub(super) const CAPACITY: usize = 1024;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The notification payload for `change` written by `node_id`.
pub(super) fn encode(node_id: &str, change: &Change) -> String {
    match change {
        Change::Workspace(id) => format!("{node_id}|workspace|{id}"),
        Change::Membership(ws, user) => format!("{node_id}|membership|{ws}|{user}"),
        Change::Token(id) => format!("{node_id}|token|{id}"),
        Change::Secret(id) => format!("{node_id}|secret|{id}"),
        Change::Everything => format!("{node_id}|everything"),
    }
}

/// Parses a payload into its node id and change; `None` if malformed.
pub(super) fn decode(payload: &str) -> Option<(&str, Change)> {
    let mut parts = payload.splitn(3, '|');
    let node = parts.next()?;
    let kind = parts.next()?;
    let rest = parts.next();
    let change = match (kind, rest) {
        ("workspace", Some(id)) => Change::Workspace(id.to_owned()),
        ("token", Some(id)) => Change::Token(id.to_owned()),
        ("secret", Some(id)) => Change::Secret(id.to_owned()),
        ("membership", Some(ids)) => {
            let (ws, user) = ids.split_once('|')?;
            Change::Membership(ws.to_owned(), user.to_owned())
        }
        ("everything", None) => Change::Everything,
        _ => return None,
    };
    Some((node, change))
}

/// Aborts the listener task when the store goes away.
pub(super) struct ListenerHandle(tokio::task::JoinHandle<()>);

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the listener task and waits until it is listening for the first time.
pub(super) async fn start(
    config: Config,
    channel: String,
    node_id: String,
    tx: broadcast::Sender<Change>,
) -> Result<ListenerHandle, super::Fail> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let handle = tokio::spawn(run(config, channel, node_id, tx, ready_tx));
    match ready_rx.await {
        Ok(Ok(())) => Ok(ListenerHandle(handle)),
        Ok(Err(e)) => {
            handle.abort();
            Err(e)
        }
        Err(_) => Err(super::Fail::Backend("change listener stopped".into())),
    }
}

async fn run(
    config: Config,
    channel: String,
    node_id: String,
    tx: broadcast::Sender<Change>,
    ready: oneshot::Sender<Result<(), super::Fail>>,
) {
    let mut ready = Some(ready);
    let mut backoff = BACKOFF_START;
    loop {
        match listen_once(&config, &channel, &node_id, &tx, &mut ready).await {
            // Was listening, then lost the connection: start the backoff afresh.
            Ok(()) => backoff = BACKOFF_START,
            Err(e) => {
                if let Some(ready) = ready.take() {
                    // The first attempt failed: the constructor reports it.
                    let _ = ready.send(Err(e));
                    return;
                }
                tracing::warn!(error = %e, "change listener cannot connect; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Connects, listens and forwards notifications until the connection ends.
/// `Err` if it never got to listen; `Ok` once it did and then lost the connection.
async fn listen_once(
    config: &Config,
    channel: &str,
    node_id: &str,
    tx: &broadcast::Sender<Change>,
    ready: &mut Option<oneshot::Sender<Result<(), super::Fail>>>,
) -> Result<(), super::Fail> {
    let (client, mut conn) = config.connect(NoTls).await?;
    {
        // Drive the connection while LISTEN runs; nothing can arrive before it.
        let sql = format!("LISTEN {channel}");
        let listen = client.batch_execute(&sql);
        tokio::pin!(listen);
        loop {
            tokio::select! {
                biased;
                r = &mut listen => {
                    r?;
                    break;
                }
                m = poll_fn(|cx| conn.poll_message(cx)) => match m {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(super::Fail::Backend("listener connection closed".into())),
                },
            }
        }
    }
    match ready.take() {
        Some(ready) => {
            let _ = ready.send(Ok(()));
        }
        None => {
            tracing::info!("change listener reconnected; caches start afresh");
            let _ = tx.send(Change::Everything);
        }
    }
    loop {
        match poll_fn(|cx| conn.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(n))) => match decode(n.payload()) {
                Some((node, _)) if node == node_id => {}
                Some((_, change)) => {
                    // No subscriber is not an error.
                    let _ = tx.send(change);
                }
                None => tracing::warn!("ignoring a malformed change notification"),
            },
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %super::Fail::from(e), "change listener lost its connection");
                break;
            }
            None => {
                tracing::warn!("change listener connection closed");
                break;
            }
        }
    }
    drop(client);
    Ok(())
}

/// The listener's connection settings: the store's, plus TCP keepalives so a
/// silently dead peer is noticed, and a recognisable application name.
pub(super) fn config_for(base: &Config, node_id: &str) -> Config {
    let mut config = base.clone();
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .application_name(format!("lockbox-listener-{node_id}"));
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        for c in [
            Change::Workspace("w1".into()),
            Change::Membership("w1".into(), "u1".into()),
            Change::Token("t1".into()),
            Change::Secret("s1".into()),
            Change::Everything,
        ] {
            let p = encode("node", &c);
            assert_eq!(decode(&p), Some(("node", c)));
        }
        assert_eq!(decode("node|bogus|x"), None);
        assert_eq!(decode("node|membership|only-one"), None);
        assert_eq!(decode("node"), None);
    }
}
