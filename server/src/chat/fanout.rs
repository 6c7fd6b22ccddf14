//! Live updates across web instances that share a PostgreSQL database. Every stored change to a
//! conversation is announced on a `LISTEN/NOTIFY` channel with ids only (the announcing instance's and
//! the conversation's); the other instances bump their own hub's version for it, so their watchers read
//! the database again. Streamed text stays with the instance whose loop streams it: elsewhere the answer
//! appears when it is stored. With SQLite (one instance) there is nothing to announce.

use std::{
    collections::HashSet,
    sync::{Arc, Weak},
    time::Duration,
};

use agent::{
    domain::ConversationId,
    ports::{Change, Notifier},
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

use super::Hub;

/// The channel every instance listens on.
const CHANNEL: &str = "portcullis_conversations";

/// The agent's notifier when instances share PostgreSQL: this process's hub, then the others.
pub struct Fanout {
    hub: Arc<Hub>,
    out: mpsc::UnboundedSender<ConversationId>,
}

impl Notifier for Fanout {
    fn notify(&self, id: &ConversationId, change: Change) {
        let stored = matches!(change, Change::Stored | Change::Settled);
        self.hub.notify(id, change);
        if stored {
            // The announcer is gone only when the process is stopping.
            let _ = self.out.send(id.clone());
        }
    }
}

/// Starts announcing this process's changes and listening for the others'. The connections are made
/// lazily and remade after a loss; nothing here fails the start.
pub fn start(hub: Arc<Hub>, url: &SecretString) -> anyhow::Result<Arc<Fanout>> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy(url.expose_secret())?;
    let (out, changes) = mpsc::unbounded_channel();
    let instance = hub.epoch().to_owned();
    tokio::spawn(announce(pool.clone(), instance.clone(), changes));
    tokio::spawn(listen(pool, instance, Arc::downgrade(&hub)));
    Ok(Arc::new(Fanout { hub, out }))
}

/// Sends each changed conversation's id, coalescing a burst (a streamed answer's many writes) into one
/// notification per conversation.
async fn announce(
    pool: PgPool,
    instance: String,
    mut changes: mpsc::UnboundedReceiver<ConversationId>,
) {
    while let Some(first) = changes.recv().await {
        let mut ids = HashSet::from([first]);
        while let Ok(id) = changes.try_recv() {
            ids.insert(id);
        }
        for id in ids {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(format!("{instance} {id}"))
                .execute(&pool)
                .await;
            if let Err(error) = sent {
                // The other instances' watchers see this change at their next one, or on reconnect.
                tracing::warn!(conversation = %id, %error, "announcing a change to other instances failed");
            }
        }
    }
}

/// Hears the other instances' changes until the hub is dropped. After a connection is lost (and made
/// again), what was announced meanwhile is unknown: every watched conversation is read again.
async fn listen(pool: PgPool, instance: String, hub: Weak<Hub>) {
    let mut first = true;
    while let Some(mut listener) = subscribe(&pool, &hub).await {
        if !std::mem::take(&mut first)
            && let Some(hub) = hub.upgrade()
        {
            hub.touch_all();
        }
        loop {
            let heard = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await;
            let Some(hub) = hub.upgrade() else { return };
            match heard {
                // Quiet: look again whether the hub is still there.
                Err(_) => {}
                Ok(Ok(Some(notification))) => {
                    if let Some((from, id)) = notification.payload().split_once(' ')
                        && from != instance
                    {
                        hub.touch(&ConversationId::from(id));
                    }
                }
                // Lost and already made again (the listener reconnects by itself).
                Ok(Ok(None)) => hub.touch_all(),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "hearing other instances' changes failed");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A listener on [`CHANNEL`], tried every second until it works; `None` once the hub is gone.
async fn subscribe(pool: &PgPool, hub: &Weak<Hub>) -> Option<PgListener> {
    loop {
        if hub.strong_count() == 0 {
            return None;
        }
        match PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => return Some(listener),
                Err(error) => {
                    tracing::warn!(%error, "listening for other instances' changes failed")
                }
            },
            Err(error) => {
                tracing::warn!(%error, "connecting to hear other instances' changes failed")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
