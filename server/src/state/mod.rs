//! Building the application state from configuration and, in a `dev-stack` build, the development
//! stand-ins. Each part has its own small constructor:
//! - `database`: the session store and the app database (migrated).
//! - `auth`: sign-in settings (configured authority, or the dev IdP), the token-cache key, the auth state.
//! - `chat`: the MCP directory and the chat (the agent core over the app database).
//! - this file: the public URL, the web settings, and [`AppState::build`] putting them together.

mod auth;
mod chat;
mod database;

use std::sync::Arc;

use agent::mcp::ServerSpec;
use leptos::config::LeptosOptions;
use secrecy::SecretString;
use url::Url;

use crate::{AppState, WebSettings, config::Config};

/// What the development stand-ins supply for services the configuration leaves unset. All `None` in
/// a build without the `dev-stack` feature; a `dev::DevStack` converts into it.
#[derive(Debug, Default, Clone)]
pub struct StandIns {
    /// Sign-in at the development identity provider.
    pub sign_in: Option<DevSignIn>,
    /// The in-process MCP servers (mcp-tools, sales).
    pub mcp: Vec<ServerSpec>,
    /// The development model's base URL (`…/v1`).
    pub model: Option<Url>,
}

/// The web app's registration at the development identity provider.
#[derive(Debug, Clone)]
pub struct DevSignIn {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: String,
}

/// The public base URL: configured, or `http://<site addr>`; without a trailing slash when written out.
fn public_url(config: &Config, leptos_options: &LeptosOptions) -> anyhow::Result<Url> {
    match &config.public_url {
        Some(url) => Ok(url.clone()),
        None => Ok(Url::parse(&format!("http://{}", leptos_options.site_addr))?),
    }
}

fn base(public: &Url) -> String {
    public.as_str().trim_end_matches('/').to_owned()
}

fn web_settings(config: &Config, public: &Url, issuer: &str) -> WebSettings {
    WebSettings {
        secure_cookies: public.scheme() == "https",
        public_origin: public.origin().ascii_serialization(),
        session_idle: config.auth.session_idle,
        // Sign-out redirects to the identity provider.
        form_action: Url::parse(issuer)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default(),
    }
}

impl AppState {
    /// Opens the databases and resolves sign-in, MCP servers and the model from configuration, falling
    /// back to `stand_ins` (a `&dev::DevStack`, or `StandIns::default()`) for what is not configured.
    pub async fn build(
        config: Config,
        leptos_options: LeptosOptions,
        stand_ins: impl Into<StandIns>,
    ) -> anyhow::Result<Self> {
        let stand_ins = stand_ins.into();
        let public = public_url(&config, &leptos_options)?;
        let rp = auth::relying_party(&config, &base(&public), stand_ins.sign_in.as_ref())?;
        let settings = Arc::new(web_settings(&config, &public, &rp.issuer));
        let databases = database::Databases::open(&config).await?;
        let auth = auth::auth_state(&config, &base(&public), rp, &databases.app).await?;
        let (chat, servers) =
            chat::chat(&config, &stand_ins, &databases.app, auth.tokens.clone()).await?;
        Ok(Self {
            leptos_options,
            config: Arc::new(config),
            auth,
            sessions: databases.sessions,
            directory: servers.clone(),
            servers,
            chat,
            settings,
        })
    }
}
