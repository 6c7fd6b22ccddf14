//! Signing keys of the trusted issuer, fetched from its JWKS and cached.
//!
//! Keys are fetched once and kept. A token naming an unknown `kid` triggers at most one refetch per
//! cooldown (single flight: concurrent misses wait for the same fetch). When the JWKS endpoint is down,
//! the cached keys keep working. No request ever causes more than that one fetch.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use service_kit::sync::{read, write};
use tokio::sync::Mutex;
use url::Url;

use super::discovery::Discovery;

/// Where the keys come from: a fixed JWKS URI, or OIDC discovery under the issuer.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `MCP_AUTH__JWKS_URI`.
    Jwks(Url),
    /// `{issuer}/.well-known/openid-configuration` → `jwks_uri` (the document is shared with the
    /// token exchange).
    Discovery(Arc<Discovery>),
}

/// A cache of RS256 verification keys by `kid`.
pub struct JwksCache {
    source: KeySource,
    http: reqwest::Client,
    cooldown: Duration,
    keys: RwLock<Arc<HashMap<String, Arc<DecodingKey>>>>,
    /// Held while fetching; remembers when the last fetch started, for the cooldown.
    last_fetch: Mutex<Option<Instant>>,
    /// Bumped on every refresh, so results derived from older keys can be dropped.
    generation: AtomicU64,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl JwksCache {
    pub fn new(source: KeySource, http: reqwest::Client, cooldown: Duration) -> Self {
        Self {
            source,
            http,
            cooldown,
            keys: RwLock::new(Arc::new(HashMap::new())),
            last_fetch: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Changes whenever the keys were (re)loaded.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The key for `kid`, refetching the JWKS at most once per cooldown when it is unknown.
    pub async fn key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another task may have fetched while this one waited for the lock.
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < self.cooldown) {
            return None;
        }
        *last_fetch = Some(Instant::now());
        if let Err(error) = self.refresh().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "JWKS refresh failed; keeping cached keys"
            );
        }
        self.cached(kid)
    }

    /// No key at all: the JWKS has never been fetched successfully (a cold start while it is down).
    pub fn is_empty(&self) -> bool {
        read(&self.keys).is_empty()
    }

    /// The least time between fetches.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        read(&self.keys).get(kid).cloned()
    }

    async fn refresh(&self) -> anyhow::Result<usize> {
        let uri = match &self.source {
            KeySource::Jwks(uri) => uri.clone(),
            KeySource::Discovery(discovery) => discovery.metadata().await?.jwks_uri.clone(),
        };
        let set: JwkSet = self
            .http
            .get(uri.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("fetching JWKS from {uri}"))?
            .json()
            .await
            .with_context(|| format!("parsing JWKS from {uri}"))?;
        let keys = parse_keys(set);
        if keys.is_empty() {
            bail!("JWKS at {uri} holds no usable RS256 signing key");
        }
        let count = keys.len();
        *write(&self.keys) = Arc::new(keys);
        // Any refresh may have replaced or retired a key (even under the same kid).
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(count)
    }
}

/// Keeps RSA signature keys with a `kid`; skips encryption keys and other algorithms.
fn parse_keys(set: JwkSet) -> HashMap<String, Arc<DecodingKey>> {
    set.keys
        .into_iter()
        .filter(|jwk| jwk.kty == "RSA")
        .filter(|jwk| jwk.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter(|jwk| jwk.alg.as_deref().is_none_or(|a| a == "RS256"))
        .filter_map(|jwk| {
            let key =
                DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()?;
            Some((jwk.kid?, Arc::new(key)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keys_keeps_only_rsa_signing_keys_with_kid() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "a", "use": "sig", "alg": "RS256", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "b", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "ps", "alg": "PS256", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "n": "sXch", "e": "AQAB" },
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA" }
        ]}))
        .unwrap();
        let mut kids: Vec<_> = parse_keys(set).into_keys().collect();
        kids.sort();
        assert_eq!(kids, ["a", "b"]);
    }
}
