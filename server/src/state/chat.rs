//! The MCP directory and the chat: the agent core over the app database, reaching the MCP servers
//! (configured, or the dev stack's mcp-tools) with tokens from the token cache.

use std::sync::Arc;

use super::StandIns;
use crate::{auth::token_cache::TokenCache, chat::Chat, config::Config, mcp::Servers};

pub(super) async fn chat(
    config: &Config,
    stand_ins: &StandIns,
    app_db: &sqlx::AnyPool,
    tokens: Arc<TokenCache>,
) -> anyhow::Result<(Arc<Chat>, Arc<Servers>)> {
    let servers = match &config.mcp_servers {
        Some(servers) => servers.clone(),
        None => stand_ins.mcp.clone(),
    };
    crate::chat::build(
        app_db.clone(),
        tokens,
        servers,
        &config.model,
        stand_ins.model.as_ref(),
        config.agent.clone(),
        match &config.database() {
            crate::config::Database::Postgres(url) => Some(url),
            crate::config::Database::Sqlite(_) => None,
        },
    )
    .await
}
