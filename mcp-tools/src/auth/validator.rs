//! Access-token validation: RS256 JWTs from one issuer, for this resource, delegated by a user.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AuthError, Principal, jwks::JwksCache};

/// What a token must satisfy, fixed at start-up.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Exact `iss`.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Required `tid`, when set.
    pub tenant_id: Option<String>,
    /// Delegated scope that `scp` must contain as a whole word.
    pub scope: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

/// Most validated tokens remembered; beyond it the cache is emptied (bounded memory, no eviction scan).
const MAX_CACHED_TOKENS: usize = 10_000;

/// Validates bearer tokens against a [`Policy`] with keys from a [`JwksCache`].
///
/// A token that passed full validation is remembered (by SHA-256 of its bytes) until its `exp`, so a
/// client sending the same token on every call costs a hash, not an RSA verification. The memory is
/// forgotten whenever the key set changes, so a retired key stops working at once.
pub struct TokenValidator {
    policy: Policy,
    validation: Validation,
    keys: Arc<JwksCache>,
    validated: RwLock<HashMap<[u8; 32], Validated>>,
}

#[derive(Clone)]
struct Validated {
    principal: Principal,
    /// `exp` plus leeway, in Unix seconds.
    valid_until: u64,
    /// Key-set generation the signature was checked against.
    key_generation: u64,
}

/// The claims this server reads. Entra v2 access-token names.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    exp: u64,
    sub: Option<String>,
    oid: Option<String>,
    tid: Option<String>,
    /// Delegated scopes, space-separated. Absent in app-only tokens.
    scp: Option<String>,
    name: Option<String>,
    preferred_username: Option<String>,
}

impl TokenValidator {
    pub fn new(policy: Policy, keys: Arc<JwksCache>) -> Self {
        // Allowlist one algorithm; jsonwebtoken refuses any other `alg` before touching the key.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&policy.issuer]);
        validation.set_audience(&policy.audiences);
        // jsonwebtoken checks iss/aud only when present unless they are required, and skips nbf by default.
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = policy.leeway_secs;
        Self {
            policy,
            validation,
            keys,
            validated: RwLock::new(HashMap::new()),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Validates `token` and returns the user it speaks for.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let generation = self.keys.generation();
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(hit) = self.read_cache().get(&digest)
            && hit.key_generation == generation
            && now <= hit.valid_until
        {
            return Ok(hit.principal.clone());
        }
        let (principal, exp) = self.validate_fully(token).await?;
        let mut cache = self.validated.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_TOKENS {
            cache.clear();
        }
        cache.insert(
            digest,
            Validated {
                principal: principal.clone(),
                valid_until: exp.saturating_add(self.policy.leeway_secs),
                key_generation: generation,
            },
        );
        Ok(principal)
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, HashMap<[u8; 32], Validated>> {
        self.validated.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Full validation: signature, registered claims, tenant, scope.
    pub async fn validate_fully(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::InvalidToken);
        }
        // Keys come only from the issuer's JWKS by `kid`; `jwk`, `jku` and `x5u` in the header are ignored.
        let kid = header.kid.ok_or(AuthError::InvalidToken)?;
        let key = self.keys.key(&kid).await.ok_or(AuthError::InvalidToken)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|_| AuthError::InvalidToken)?
            .claims;
        let exp = claims.exp;
        Ok((self.principal(claims)?, exp))
    }

    fn principal(&self, claims: Claims) -> Result<Principal, AuthError> {
        if let Some(required) = &self.policy.tenant_id
            && claims.tid.as_deref() != Some(required.as_str())
        {
            return Err(AuthError::InvalidToken);
        }
        // App-only tokens carry `roles` and no `scp`: they act for no user, so they never pass.
        let scopes: HashSet<&str> = claims
            .scp
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if !scopes.contains(self.policy.scope.as_str()) {
            return Err(AuthError::InsufficientScope);
        }
        // Entra identifies a user by tenant + object id; `sub` is pairwise per app. Fall back to `sub`
        // for issuers without `oid`.
        let user_id = claims
            .oid
            .or(claims.sub)
            .filter(|id| !id.is_empty())
            .ok_or(AuthError::InvalidToken)?;
        Ok(Principal {
            issuer: claims.iss,
            tenant_id: claims.tid.unwrap_or_default(),
            user_id,
            name: claims
                .name
                .or(claims.preferred_username)
                .unwrap_or_default(),
        })
    }
}
