//! Building the application state from configuration and the dev stack.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use app::tools::backend::SharedDirectory;
use base64::{Engine, engine::general_purpose::STANDARD};
use leptos::config::LeptosOptions;
use rand::RngCore;
use url::Url;

use crate::{
    AppState, WebSettings,
    auth::{
        AuthState,
        oidc::{Oidc, RpSettings},
        token_cache::TokenCache,
    },
    chat::{Chat, model::ModelClient, store::Store as ChatStore},
    config::Config,
    dev::DevStack,
    mcp::{McpDirectory, McpServer},
    sessions::AnyStore,
    support::{POOL_IDLE_TIMEOUT, sqlite_pool, write_private},
};

async fn token_cache_key(config: &Config) -> anyhow::Result<[u8; 32]> {
    let encoded = match &config.token_cache_key {
        Some(key) => key.clone(),
        None => {
            let path = config.data_dir.join("token-cache.key");
            match tokio::fs::read_to_string(&path).await {
                Ok(key) => key.trim().to_owned(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    let mut key = [0u8; 32];
                    rand::rng().fill_bytes(&mut key);
                    let encoded = STANDARD.encode(key);
                    write_private(&path, &encoded).await?;
                    tracing::info!(path = %path.display(), "generated a token-cache key");
                    encoded
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("reading {}", path.display()));
                }
            }
        }
    };
    let bytes = STANDARD
        .decode(encoded.trim())
        .context("APP_TOKEN_CACHE_KEY: not base64")?;
    bytes.try_into().map_err(|_| {
        anyhow::anyhow!("APP_TOKEN_CACHE_KEY: must be 32 bytes (base64 of 32 random bytes)")
    })
}

fn origin(url: &str) -> String {
    Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

impl AppState {
    /// Opens databases, resolves sign-in and MCP settings (from configuration, or from the dev stack).
    pub async fn build(
        config: Config,
        leptos_options: LeptosOptions,
        dev: &DevStack,
    ) -> anyhow::Result<Self> {
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", leptos_options.site_addr));
        let public = Url::parse(&public_url).context("APP_PUBLIC_URL: not a URL")?;
        let public_url = public.as_str().trim_end_matches('/').to_owned();

        let scopes: Vec<String> = config
            .auth
            .scopes
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let rp = match (&config.auth.authority, &dev.idp) {
            (Some(authority), _) => RpSettings {
                issuer: authority.clone(),
                client_id: config
                    .auth
                    .client_id
                    .clone()
                    .context("APP_AUTH__CLIENT_ID is required with APP_AUTH__AUTHORITY")?,
                client_secret: config
                    .auth
                    .client_secret
                    .clone()
                    .context("APP_AUTH__CLIENT_SECRET is required with APP_AUTH__AUTHORITY")?,
                redirect_uri: config
                    .auth
                    .redirect_uri
                    .clone()
                    .unwrap_or_else(|| format!("{public_url}/auth/callback")),
                scopes: scopes.clone(),
            },
            (None, Some(idp)) => RpSettings {
                issuer: idp.issuer(),
                client_id: config.dev_idp.web_client_id.clone(),
                client_secret: idp.web_client_secret().to_owned(),
                redirect_uri: config.dev_idp.web_redirect_uri.clone(),
                scopes: scopes.clone(),
            },
            (None, None) => {
                bail!("APP_AUTH__AUTHORITY is not set and the dev identity provider is not running")
            }
        };
        let form_action = origin(&rp.issuer);
        let oidc = Arc::new(Oidc::new(rp.clone())?);

        let database_url = config.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                config.data_dir.join("portcullis.db").display()
            )
        });
        let postgres =
            database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
        // Sessions need sqlx's typed pool; the token cache uses the `Any` driver on the same database.
        // A SQLite file is created (WAL mode) by the typed pool before the `Any` pool opens it.
        let sessions = if postgres {
            AnyStore::postgres(&database_url).await?
        } else {
            AnyStore::sqlite(
                sqlite_pool(&database_url, 8)
                    .await
                    .context("APP_DATABASE_URL")?,
            )
            .await?
        };
        sqlx::any::install_default_drivers();
        let token_db = sqlx::any::AnyPoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .idle_timeout(POOL_IDLE_TIMEOUT)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if !postgres {
                        // WAL (set when the file is created) with NORMAL sync: durable across crashes
                        // of the process, one fsync per checkpoint instead of one per commit.
                        sqlx::Executor::execute(&mut *connection, "PRAGMA synchronous = NORMAL")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&database_url)
            .await
            .context("APP_DATABASE_URL: opening the app database")?;
        if postgres {
            sqlx::migrate!("./migrations/app_postgres")
                .run(&token_db)
                .await
        } else {
            sqlx::migrate!("./migrations/app").run(&token_db).await
        }
        .context("migrating the app database")?;
        let key = token_cache_key(&config).await?;
        let tokens = Arc::new(TokenCache::new(token_db.clone(), &key, oidc.clone()));
        sessions.spawn_expiry_cleanup(Duration::from_secs(3600));

        let servers = match (&config.mcp_servers, &dev.mcp) {
            (Some(entries), _) => entries
                .iter()
                .map(|e| McpServer::parse(e))
                .collect::<anyhow::Result<_>>()?,
            (None, Some(dev_server)) => vec![dev_server.clone()],
            (None, None) => Vec::new(),
        };
        let mcp = Arc::new(McpDirectory::new(servers, tokens.clone()));
        mcp.spawn_sweeper();
        let directory: SharedDirectory = mcp.clone();
        let model = ModelClient::new(&config.model, dev.model.as_deref())?;
        let chat = Chat::new(
            ChatStore::new(token_db.clone()),
            model,
            mcp,
            config.agent.clone(),
        )
        .await?;

        let auth = Arc::new(AuthState {
            oidc,
            tokens,
            sign_in_scope: rp.scopes.join(" "),
            post_logout_redirect_uri: format!("{public_url}/"),
            absolute_timeout_secs: i64::try_from(config.auth.session_absolute_secs)
                .unwrap_or(i64::MAX),
        });
        let settings = Arc::new(WebSettings {
            secure_cookies: public.scheme() == "https",
            public_origin: public.origin().ascii_serialization(),
            session_idle: Duration::from_secs(config.auth.session_idle_secs),
            form_action,
        });
        Ok(Self {
            leptos_options,
            config: Arc::new(config),
            auth,
            sessions,
            directory,
            chat,
            settings,
        })
    }
}
