//! Access-token validation: RS256 JWTs from one issuer, for this resource, delegated by a user.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, Validation};
use moka::{Expiry, sync::Cache};
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

/// Most validated tokens remembered; beyond it the least useful are evicted (bounded memory).
const MAX_CACHED_TOKENS: u64 = 10_000;

/// Validates bearer tokens against a [`Policy`] with keys from a [`JwksCache`].
///
/// A token that passed full validation is remembered (by SHA-256 of its bytes) until its `exp`, so a
/// client sending the same token on every call costs a hash, not an RSA verification. Each entry records
/// the key-set generation it was checked against and counts only while that generation is current, so
/// the whole memory is forgotten when the keys are reloaded and a retired key stops working at once.
pub struct TokenValidator {
    policy: Policy,
    validation: Validation,
    keys: Arc<JwksCache>,
    validated: Cache<[u8; 32], Validated>,
}

#[derive(Clone)]
struct Validated {
    /// Shared, not copied: every request of the token's user gets this one record.
    principal: Arc<Principal>,
    /// `exp` plus leeway, in Unix seconds.
    valid_until: u64,
    /// Key-set generation the signature was checked against.
    key_generation: u64,
}

/// Each entry lives until its token's `exp` plus leeway.
struct UntilTokenExpiry;

impl UntilTokenExpiry {
    fn remaining(value: &Validated) -> Option<Duration> {
        let now = jsonwebtoken::get_current_timestamp();
        Some(Duration::from_secs(value.valid_until.saturating_sub(now)))
    }
}

impl Expiry<[u8; 32], Validated> for UntilTokenExpiry {
    fn expire_after_create(&self, _: &[u8; 32], value: &Validated, _: Instant) -> Option<Duration> {
        Self::remaining(value)
    }

    // A re-validated token (new key generation) gets the lifetime of its new entry.
    fn expire_after_update(
        &self,
        _: &[u8; 32],
        value: &Validated,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::remaining(value)
    }
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
            validated: Cache::builder()
                .max_capacity(MAX_CACHED_TOKENS)
                .expire_after(UntilTokenExpiry)
                .build(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn keys(&self) -> &JwksCache {
        &self.keys
    }

    /// Validates `token` and returns the user it speaks for.
    pub async fn validate(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let generation = self.keys.generation();
        let now = jsonwebtoken::get_current_timestamp();
        // Expired entries are not returned by the cache; the `exp` check stays as a guard against clock
        // granularity.
        if let Some(hit) = self.validated.get(&digest)
            && hit.key_generation == generation
            && now <= hit.valid_until
        {
            return Ok(hit.principal);
        }
        let (principal, exp) = self.validate_fully(token).await?;
        let principal = Arc::new(principal);
        self.validated.insert(
            digest,
            Validated {
                principal: principal.clone(),
                valid_until: exp.saturating_add(self.policy.leeway_secs),
                key_generation: generation,
            },
        );
        Ok(principal)
    }

    /// Full validation: signature, registered claims, tenant, scope.
    pub async fn validate_fully(&self, token: &str) -> Result<(Principal, u64), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::InvalidToken);
        }
        // Keys come only from the issuer's JWKS by `kid`; `jwk`, `jku` and `x5u` in the header are ignored.
        let kid = header.kid.ok_or(AuthError::InvalidToken)?;
        let Some(key) = self.keys.key(&kid).await else {
            // With no key at all nothing can be checked: the issuer's keys are unavailable, which no
            // other token would change. With keys, an unknown `kid` is the token's problem.
            return Err(if self.keys.is_empty() {
                AuthError::KeysUnavailable
            } else {
                AuthError::InvalidToken
            });
        };
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
                .or_else(|| claims.preferred_username.clone())
                .unwrap_or_default(),
            preferred_username: claims.preferred_username.filter(|u| !u.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(valid_until: u64) -> Validated {
        Validated {
            principal: Arc::new(Principal {
                issuer: "https://issuer.test".into(),
                tenant_id: "t".into(),
                user_id: "u".into(),
                name: String::new(),
                preferred_username: None,
            }),
            valid_until,
            key_generation: 0,
        }
    }

    #[test]
    fn cached_tokens_are_forgotten_when_they_expire() {
        let cache: Cache<[u8; 32], Validated> =
            Cache::builder().expire_after(UntilTokenExpiry).build();
        let now = jsonwebtoken::get_current_timestamp();
        cache.insert([1; 32], validated(now + 3600));
        cache.insert([2; 32], validated(now - 1));
        assert!(cache.get(&[1; 32]).is_some());
        assert!(cache.get(&[2; 32]).is_none());
        // A later entry for the same token (re-validated) takes the new lifetime.
        cache.insert([1; 32], validated(now - 1));
        assert!(cache.get(&[1; 32]).is_none());
    }
}
