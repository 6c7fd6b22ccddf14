//! Test harness: a real issuer (RSA keys generated here, JWKS and discovery served over HTTP, and a
//! token endpoint for on-behalf-of exchanges: `obo`), a Graph stand-in (`obo`), a real mcp-tools server
//! on `127.0.0.1:0`, rmcp clients in every protocol generation (`client`) and raw HTTP requests
//! (`raw`).
#![allow(dead_code)]

pub mod client;
pub mod obo;
pub mod raw;

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::{RsaPrivateKey, pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub const AUDIENCE: &str = "api://portcullis-mcp";
pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
pub const SCOPE: &str = "mcp:tools";

/// The tools a server without on-behalf-of configuration lists, sorted by name.
pub const TOOL_NAMES: [&str; 6] = [
    "add_note",
    "delete_note",
    "get_current_date",
    "get_random_number",
    "get_weather",
    "list_notes",
];

/// An RSA signing key with its JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
        let der = private.to_pkcs1_der().expect("DER");
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        });
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk,
        }
    }
}

/// Keys are slow to generate; each test binary makes three and shares them.
pub fn keys() -> &'static [SigningKey; 3] {
    static KEYS: OnceLock<[SigningKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            SigningKey::generate("key-1"),
            SigningKey::generate("key-2"),
            SigningKey::generate("attacker"),
        ]
    })
}

/// A minimal OIDC issuer: discovery + JWKS, with switches to rotate keys and to fail.
#[derive(Clone)]
pub struct Issuer {
    pub url: String,
    state: Arc<IssuerState>,
}

struct IssuerState {
    issuer: Mutex<String>,
    jwks: Mutex<Vec<Value>>,
    down: AtomicBool,
    jwks_fetches: AtomicUsize,
    /// The token endpoint's side: exchanges, consent records, issued Graph tokens.
    obo: obo::TokenEndpoint,
}

impl Issuer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}/{TENANT}/v2.0");
        let state = Arc::new(IssuerState {
            issuer: Mutex::new(url.clone()),
            jwks: Mutex::new(vec![keys()[0].jwk.clone()]),
            down: AtomicBool::new(false),
            jwks_fetches: AtomicUsize::new(0),
            obo: obo::TokenEndpoint::default(),
        });
        let app = Router::new()
            .route(
                &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
                get(discovery),
            )
            .route("/keys", get(jwks))
            .route(&format!("/{TENANT}/v2.0/token"), post(obo::token))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    pub fn set_keys(&self, keys: &[&SigningKey]) {
        *self.state.jwks.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims of a valid delegated token for `user`.
    pub fn claims(&self, user: &str) -> Value {
        let now = now();
        json!({
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": format!("pairwise-{user}"),
            "oid": format!("oid-{user}"),
            "tid": TENANT,
            "scp": format!("openid {SCOPE}"),
            "azp": "portcullis-web",
            "ver": "2.0",
            "name": user,
            "preferred_username": format!("{user}@example.test"),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        })
    }

    /// A valid delegated token for `user`, signed with the first key.
    pub fn token(&self, user: &str) -> String {
        sign(&keys()[0], &self.claims(user))
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

async fn discovery(
    State(state): State<Arc<IssuerState>>,
    uri: axum::http::Uri,
) -> impl IntoResponse {
    let _ = uri;
    let issuer = state.issuer.lock().unwrap().clone();
    let base = issuer
        .split(&format!("/{TENANT}/"))
        .next()
        .unwrap()
        .to_owned();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}/keys"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(state): State<Arc<IssuerState>>) -> axum::response::Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(json!({ "keys": *state.jwks.lock().unwrap() })).into_response()
}

/// A running mcp-tools server.
pub struct Server {
    pub addr: SocketAddr,
    pub url: String,
    pub issuer: Issuer,
    pub state: mcp_tools::AppState,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(|b| b).await
    }

    pub async fn start_with(
        customize: impl FnOnce(mcp_tools::config::ConfigBuilder) -> mcp_tools::config::ConfigBuilder,
    ) -> Self {
        Self::start_with_issuer(Issuer::start().await, customize).await
    }

    /// Like [`Server::start_with`], trusting an issuer the caller started (and may have given to other
    /// stand-ins).
    pub async fn start_with_issuer(
        issuer: Issuer,
        customize: impl FnOnce(mcp_tools::config::ConfigBuilder) -> mcp_tools::config::ConfigBuilder,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let builder = mcp_tools::Config::builder(issuer.url.clone(), AUDIENCE)
            .bind(addr)
            .tenant_id(TENANT)
            .jwks_cooldown_secs(2)
            .database_url(format!(
                "sqlite://{}",
                dir.path().join("mcp-tools.db").display()
            ));
        let config = customize(builder).build().unwrap();
        let state = mcp_tools::AppState::open(&config).await.unwrap();
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        tokio::spawn(mcp_tools::serve(
            listener,
            config,
            state.clone(),
            async move { shutdown.cancelled().await },
        ));
        Self {
            addr,
            url: format!("http://{addr}/mcp"),
            issuer,
            state,
            stop,
            _dir: dir,
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A raw HTTP client (no redirects, no proxies).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
