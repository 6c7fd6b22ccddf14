//! The agent's token-source port over the web's encrypted token cache.

use std::sync::Arc;

use agent::{
    domain::UserKey,
    mcp::{TokenError, TokenSource},
};
use async_trait::async_trait;
use secrecy::SecretString;

use crate::auth::token_cache::{self, TokenCache};

pub struct CachedTokens(pub Arc<TokenCache>);

#[async_trait]
impl TokenSource for CachedTokens {
    async fn access_token(&self, user: &UserKey, scope: &str) -> Result<SecretString, TokenError> {
        match self.0.access_token(user.as_str(), scope).await {
            Ok(token) => Ok(token),
            Err(token_cache::TokenError::SignInRequired) => Err(TokenError::SignInRequired),
            Err(token_cache::TokenError::NotConnected) => Err(TokenError::NotConnected),
            Err(token_cache::TokenError::Other(error)) => Err(TokenError::Other(error)),
        }
    }

    async fn forget(&self, user: &UserKey, scope: &str) -> anyhow::Result<()> {
        self.0.forget(user.as_str(), scope).await
    }
}
