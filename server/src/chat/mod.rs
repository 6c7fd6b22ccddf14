//! The web front-end of the agent core: the live-update hub, the UI's server functions, and the
//! projections from the agent's records to the UI's display data, over the SQL conversation store. The
//! loop, approval policy and elicitation live in the `agent` crate; the store (conversations, messages,
//! tool calls, elicitation requests and the audit log in SQL, the agent's `ConversationStore`) in the
//! `chat_store` crate, which the console client shares; the Server-Sent Events endpoint is in the web
//! layer (`web::live`).
//!
//! Rooms:
//! - [`hub`]: per-conversation live state (the agent's `Notifier`).
//! - `fanout`: the same changes to and from other instances (PostgreSQL `LISTEN/NOTIFY`).
//! - `backend`: the UI's `ChatBackend`: ownership checks, then the agent.
//! - `project`: domain records → display data.
//! - `tokens`: the agent's `TokenSource` over the encrypted token cache.
//!
//! Only the user can approve: decisions come from the signed-in user's own requests (bound to the call
//! id and the arguments' hash), or from the mode the user chose. Nothing the model or a tool says is
//! ever read as a decision.

mod backend;
mod fanout;
pub mod hub;
mod limits;
mod project;
mod tokens;

use std::sync::Arc;

use agent::{
    Agent, Journal, domain::ConversationId, elicitation::Deferred, mcp::McpDirectory,
    model::ChatModel, settings::AgentSettings, transcripts::Transcripts,
};
use app::chat::ChatError;
pub use chat_store::SqlStore;

pub use self::{hub::Hub, tokens::CachedTokens};

/// The chat service: one per process.
pub struct Chat {
    agent: Arc<Agent>,
    deferred: Arc<Deferred>,
    store: SqlStore,
    hub: Arc<Hub>,
    /// The live updates' reads: kept per conversation and brought up to date from the last message on,
    /// with the HTML of each assistant message and structured result kept (stored ones never change),
    /// so a change costs the same at the hundredth turn as at the first.
    transcripts: Transcripts,
    html: moka::sync::Cache<project::Rendered, Arc<str>>,
    /// Messages per user per minute, across instances.
    messages: limits::MessageLimit,
    /// Other instances share the database: a loop may run in one of them.
    shared: bool,
}

/// Rendered answers and structured results kept, in bytes of HTML.
const KEEP_HTML_BYTES: u64 = 32 * 1024 * 1024;

/// Logs a failure once, here at the boundary, and answers without details.
fn internal(error: anyhow::Error) -> ChatError {
    tracing::error!(error = format!("{error:#}"), "chat request failed");
    ChatError::Unavailable
}

impl Chat {
    /// Opens the chat on `store`; conversations that no live process drives resume (see the agent's
    /// loop leases). `shared`: the PostgreSQL URL of a database several instances share, whose live
    /// updates reach each other.
    pub async fn new(
        store: SqlStore,
        model: Arc<dyn ChatModel>,
        directory: Arc<McpDirectory>,
        settings: AgentSettings,
        messages: limits::MessageLimit,
        shared: Option<&secrecy::SecretString>,
    ) -> anyhow::Result<Arc<Self>> {
        let hub = Arc::new(Hub::default());
        let notifier: Arc<dyn agent::ports::Notifier> = match shared {
            Some(url) => fanout::start(hub.clone(), url)?,
            None => hub.clone(),
        };
        let journal = Journal::new(Arc::new(store.clone()), notifier);
        let deferred = Arc::new(Deferred::new(journal.clone(), settings.elicitation_timeout));
        let agent = Agent::new(
            journal,
            model,
            directory,
            deferred.clone(),
            settings,
            "portcullis-web",
        );
        // Also at once: conversations a crashed process left (their leases ran out) resume here.
        agent.spawn_sweeper();
        Ok(Arc::new(Self {
            agent,
            deferred,
            store,
            hub,
            transcripts: Transcripts::default(),
            html: moka::sync::Cache::builder()
                .max_capacity(KEEP_HTML_BYTES)
                // Plus the entry's own share, so an empty result's entry weighs something too.
                .weigher(|_, html: &Arc<str>| {
                    u32::try_from(html.len().saturating_add(64)).unwrap_or(u32::MAX)
                })
                .build(),
            messages,
            shared: shared.is_some(),
        }))
    }

    pub fn is_running(&self, id: &ConversationId) -> bool {
        self.agent.is_running(id)
    }

    /// Whether a loop works on the conversation: here, or (when instances share the database) in
    /// another instance, whose lease says so.
    pub async fn busy(&self, id: &ConversationId) -> bool {
        use agent::ports::ConversationReads;
        if self.agent.is_running(id) {
            return true;
        }
        self.shared
            && self.store.loop_held(id).await.unwrap_or_else(|error| {
                tracing::warn!(conversation = %id, error = format!("{error:#}"), "reading a loop lease failed");
                false
            })
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }
}

/// Assembles the chat and the Tools page's directory: the MCP servers reached with tokens from the
/// token cache, the model (`fallback_model` is the development model's URL when none is configured).
pub async fn build(
    pool: sqlx::AnyPool,
    tokens: Arc<crate::auth::token_cache::TokenCache>,
    servers: Vec<agent::mcp::ServerSpec>,
    model: &agent::settings::ModelSettings,
    fallback_model: Option<&url::Url>,
    settings: AgentSettings,
    shared: Option<&secrecy::SecretString>,
) -> anyhow::Result<(Arc<Chat>, Arc<crate::mcp::Servers>)> {
    let directory = Arc::new(McpDirectory::new(
        servers,
        Arc::new(CachedTokens(tokens.clone())),
    ));
    directory.spawn_sweeper();
    let model = agent::model::OpenAiModel::new(model, fallback_model).map_err(|missing| {
        anyhow::anyhow!(
            "APP_MODEL__{} is required with APP_MODEL__PROVIDER={}",
            missing.setting.to_uppercase(),
            missing.provider
        )
    })?;
    let messages = limits::MessageLimit::new(pool.clone(), settings.messages_per_minute);
    let chat = Chat::new(
        SqlStore::new(pool),
        Arc::new(model),
        directory.clone(),
        settings,
        messages,
        shared,
    )
    .await?;
    Ok((chat, Arc::new(crate::mcp::Servers::new(directory, tokens))))
}
