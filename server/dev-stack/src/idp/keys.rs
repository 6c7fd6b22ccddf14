//! Signing keys: RS256 keys persisted in the IdP database, published as a JWKS, rotated on request.
//! The newest key signs; retired keys stay published for a grace period so tokens they signed keep
//! validating until they expire.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use openidconnect::{JsonWebKeyId, core::CoreRsaPrivateSigningKey};
use rsa::{
    RsaPrivateKey,
    pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey},
    traits::PublicKeyParts,
};
use serde::Serialize;
use service_kit::sync::lock;

use super::store::{KeyRow, Store, now};

/// The key that signs, in both forms the IdP needs.
pub struct ActiveKey {
    pub kid: String,
    encoding: EncodingKey,
    /// openidconnect's signer, for ID tokens.
    pub oidc: CoreRsaPrivateSigningKey,
}

/// One public key as published (RFC 7517). openidconnect's `CoreJsonWebKey` cannot carry `alg`, which
/// clients use to pick the key, so the JWK is written here.
#[derive(Debug, Clone, Serialize)]
pub struct Jwk {
    kty: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
    alg: &'static str,
    kid: String,
    n: String,
    e: String,
}

/// The JWKS document.
#[derive(Debug, Clone, Serialize)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

struct Published {
    jwk: Jwk,
    decoding: DecodingKey,
}

struct KeySet {
    active: ActiveKey,
    published: Vec<Published>,
}

/// Keys in memory, backed by the store. The set is swapped whole on rotation; signing works on a
/// snapshot, outside the lock.
pub struct Keys {
    store: Store,
    grace_secs: i64,
    current: Mutex<Arc<KeySet>>,
}

fn generate() -> anyhow::Result<KeyRow> {
    let private =
        RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).context("generating an RSA key")?;
    let pem = private
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .context("encoding the RSA key")?;
    let created_at = now();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    Ok(KeyRow {
        kid: format!("dev-{created_at}-{}", &suffix[..8]),
        private_pem: pem.to_string(),
        created_at,
        retired_at: None,
    })
}

fn load(rows: &[KeyRow], grace_secs: i64) -> anyhow::Result<KeySet> {
    let active_row = rows
        .iter()
        .find(|r| r.retired_at.is_none())
        .context("no active signing key")?;
    let active = ActiveKey {
        kid: active_row.kid.clone(),
        encoding: EncodingKey::from_rsa_pem(active_row.private_pem.as_bytes())
            .context("loading the signing key")?,
        oidc: CoreRsaPrivateSigningKey::from_pem(
            &active_row.private_pem,
            Some(JsonWebKeyId::new(active_row.kid.clone())),
        )
        .map_err(|e| anyhow::anyhow!("loading the signing key: {e}"))?,
    };
    let cutoff = now() - grace_secs;
    let mut published = Vec::new();
    for row in rows
        .iter()
        .filter(|r| r.retired_at.is_none_or(|at| at > cutoff))
    {
        let private = RsaPrivateKey::from_pkcs1_pem(&row.private_pem).context("parsing a key")?;
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        published.push(Published {
            decoding: DecodingKey::from_rsa_components(&n, &e)?,
            jwk: Jwk {
                kty: "RSA",
                use_: "sig",
                alg: "RS256",
                kid: row.kid.clone(),
                n,
                e,
            },
        });
    }
    Ok(KeySet { active, published })
}

impl Keys {
    /// Loads the persisted keys, creating the first one on a fresh data folder.
    pub async fn open(store: Store, grace: Duration) -> anyhow::Result<Self> {
        let mut rows = store.keys().await?;
        if !rows.iter().any(|r| r.retired_at.is_none()) {
            let row = tokio::task::spawn_blocking(generate).await??;
            store.rotate_in(&row).await?;
            rows = store.keys().await?;
        }
        let grace_secs = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        let current = Mutex::new(Arc::new(load(&rows, grace_secs)?));
        Ok(Self {
            store,
            grace_secs,
            current,
        })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        lock(&self.current).clone()
    }

    /// Publishes a new signing key; the previous one stays in the JWKS for the grace period.
    pub async fn rotate(&self) -> anyhow::Result<String> {
        let row = tokio::task::spawn_blocking(generate).await??;
        self.store.rotate_in(&row).await?;
        let set = load(&self.store.keys().await?, self.grace_secs)?;
        *lock(&self.current) = Arc::new(set);
        Ok(row.kid)
    }

    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .snapshot()
                .published
                .iter()
                .map(|p| p.jwk.clone())
                .collect(),
        }
    }

    /// Signs a JWT (access tokens) with the active key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let current = self.snapshot();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(current.active.kid.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &current.active.encoding).context("signing a token")
    }

    /// Runs `f` with the active key (ID tokens are signed through openidconnect).
    pub fn with_active<R>(&self, f: impl FnOnce(&ActiveKey) -> R) -> R {
        f(&self.snapshot().active)
    }

    /// The published verification key named `kid` (for tokens presented back to the IdP).
    pub fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        self.snapshot()
            .published
            .iter()
            .find(|p| p.jwk.kid == kid)
            .map(|p| p.decoding.clone())
    }
}
