//! MCP servers as the agent reaches them: their configuration, the user's tool catalog, calls made with
//! the user's delegated token (from a [`TokenSource`], the port a front-end implements).

mod catalog;
mod directory;
mod spec;

use async_trait::async_trait;
use secrecy::SecretString;

pub use catalog::{Catalog, CatalogTool, Withheld, WithheldReason, result_text, slug};
pub use directory::{Described, McpDirectory, McpError};
pub use spec::{Protocol, ServerSpec, SpecError};

use crate::domain::UserKey;

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The user's grant is gone; they must sign in again.
    #[error("sign-in required")]
    SignInRequired,
    /// The user has not granted this server's scope (not consented yet, or disconnected); their
    /// sign-in is fine and other servers work.
    #[error("not connected")]
    NotConnected,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Delegated access tokens for MCP servers, per user and scope (the web's encrypted token cache; a
/// console's keyring-backed cache).
#[async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// A token for `scope` that is valid now (refreshed when needed).
    async fn access_token(&self, user: &UserKey, scope: &str) -> Result<SecretString, TokenError>;
    /// Drops the cached token for `scope`, so the next request gets a fresh one (after a 401).
    async fn forget(&self, user: &UserKey, scope: &str) -> anyhow::Result<()>;
}
