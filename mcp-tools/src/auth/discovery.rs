//! The trusted issuer's OpenID Connect discovery document, fetched once on first use and kept.
//!
//! Token validation needs its `jwks_uri`; the on-behalf-of exchange needs its `token_endpoint`,
//! `authorization_endpoint` (for consent links) and `token_endpoint_auth_methods_supported`. Both read
//! this one cache. A failed fetch is not remembered, so the next caller tries again; concurrent first
//! callers share one fetch.

use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

/// What this server reads from the discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub jwks_uri: Url,
    #[serde(default)]
    pub token_endpoint: Option<Url>,
    #[serde(default)]
    pub authorization_endpoint: Option<Url>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// `{issuer}/.well-known/openid-configuration`, cached after the first successful fetch.
pub struct Discovery {
    issuer: String,
    http: reqwest::Client,
    metadata: OnceCell<Arc<ProviderMetadata>>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    pub fn new(issuer: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            issuer: issuer.into(),
            http,
            metadata: OnceCell::new(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The document, fetching it when no fetch has succeeded yet.
    pub async fn metadata(&self) -> anyhow::Result<Arc<ProviderMetadata>> {
        self.metadata
            .get_or_try_init(|| self.fetch())
            .await
            .cloned()
    }

    async fn fetch(&self) -> anyhow::Result<Arc<ProviderMetadata>> {
        let issuer = &self.issuer;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let metadata: ProviderMetadata = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("fetching OIDC discovery from {url}"))?
            .json()
            .await
            .with_context(|| format!("parsing OIDC discovery from {url}"))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if metadata.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            bail!(
                "discovery at {url} names issuer {:?}, expected {issuer:?}",
                metadata.issuer
            );
        }
        Ok(Arc::new(metadata))
    }
}
