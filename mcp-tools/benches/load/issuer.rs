//! The token issuer every server under test trusts: an RSA key generated here, OIDC discovery and the
//! JWKS over HTTP, and tokens for as many distinct users as the generator needs.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{Json, Router, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::{RsaPrivateKey, pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
use serde_json::json;
use tokio::net::TcpListener;

pub const AUDIENCE: &str = "api://portcullis-mcp";
pub const TENANT: &str = "bench-tenant";

pub struct Issuer {
    /// The `iss` of its tokens (discovery lives under it).
    pub url: String,
    /// Where its keys are served.
    pub jwks_uri: String,
    key: EncodingKey,
}

impl Issuer {
    pub async fn start() -> Self {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "bench",
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}/{TENANT}/v2.0");
        let issuer = url.clone();
        let app = Router::new()
            .route(
                &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
                get(move || {
                    let issuer = issuer.clone();
                    async move {
                        Json(json!({ "issuer": issuer, "jwks_uri": format!("http://{addr}/keys") }))
                    }
                }),
            )
            .route(
                "/keys",
                get(move || {
                    let jwk = jwk.clone();
                    async move { Json(json!({ "keys": [jwk] })) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let der = private.to_pkcs1_der().unwrap();
        Self {
            url,
            jwks_uri: format!("http://{addr}/keys"),
            key: EncodingKey::from_rsa_der(der.as_bytes()),
        }
    }

    pub fn token(&self, user: &str, nonce: u64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("bench".into());
        let claims = json!({
            "iss": self.url, "aud": AUDIENCE, "tid": TENANT, "oid": user, "sub": user,
            "scp": "mcp:tools", "name": user, "iat": now, "nbf": now, "exp": now + 3600, "jti": nonce,
        });
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}
