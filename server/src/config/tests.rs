#![allow(clippy::result_large_err)] // figment's `Jail` closures return its (large) error type.

use std::{path::PathBuf, time::Duration};

use agent::{mcp::Protocol, settings::Provider};
use figment::Jail;
use secrecy::ExposeSecret;

use super::*;

#[test]
fn defaults_apply_without_variables() {
    Jail::expect_with(|_| {
        let config = Config::from_env().expect("defaults are valid");
        assert_eq!(config.data_dir, PathBuf::from(".data"));
        assert!(
            matches!(config.database(), Database::Sqlite(url) if url == "sqlite://.data/portcullis.db")
        );
        assert_eq!(config.auth.scopes, ["openid", "profile", "offline_access"]);
        assert_eq!(config.auth.session_idle, Duration::from_secs(28800));
        assert!(config.mcp_servers.is_none());
        assert_eq!(config.agent.messages_per_minute, Some(20));
        assert_eq!(config.agent.tool_calls_per_minute, Some(60));
        Ok(())
    });
}

#[test]
fn rate_limits_are_set_per_minute_and_zero_turns_them_off() {
    Jail::expect_with(|jail| {
        jail.set_env("APP_AGENT__MESSAGES_PER_MINUTE", "0");
        jail.set_env("APP_AGENT__TOOL_CALLS_PER_MINUTE", "5");
        let config = Config::from_env().expect("valid");
        assert_eq!(config.agent.messages_per_minute, None);
        assert_eq!(config.agent.tool_calls_per_minute, Some(5));
        jail.set_env("APP_AGENT__MESSAGES_PER_MINUTE", "-1");
        let error = Config::from_env().expect_err("not a count").to_string();
        assert!(error.contains("APP_AGENT__MESSAGES_PER_MINUTE"), "{error}");
        Ok(())
    });
}

#[cfg(feature = "dev-stack")]
#[test]
fn dev_idp_settings_nest_under_app_dev_idp() {
    Jail::expect_with(|jail| {
        jail.set_env("APP_DEV_IDP__BIND", "127.0.0.1:4400");
        jail.set_env("APP_DEV_IDP__USERS", "carol:Carol King, dan");
        jail.set_env("APP_DEV_IDP__ACCESS_TOKEN_LIFETIME_SECS", "5");
        jail.set_env("APP_DEV_MCP__PROTOCOL", "legacy");
        jail.set_env("APP_ENVIRONMENT", "production");
        let config = Config::from_env().expect("valid");
        assert_eq!(config.dev_idp.bind.port(), 4400);
        let users: Vec<_> = config.dev_idp.users.iter().map(|u| u.to_string()).collect();
        assert_eq!(users, ["carol:Carol King", "dan:Dan"]);
        assert_eq!(config.dev_idp.access_token_lifetime, Duration::from_secs(5));
        assert_eq!(config.dev_idp.web_client_id, "portcullis-web");
        assert_eq!(config.dev_mcp.protocol, Protocol::Legacy);
        assert_eq!(config.environment, Environment::Production);
        Ok(())
    });
}

#[test]
fn model_settings_nest_under_app_model() {
    Jail::expect_with(|jail| {
        assert!(!Config::from_env().expect("valid").model.is_configured());
        jail.set_env("APP_MODEL__PROVIDER", "azure");
        jail.set_env("APP_MODEL__BASE_URL", "https://example.openai.azure.com");
        jail.set_env("APP_MODEL__DEPLOYMENT", "gpt-4o");
        jail.set_env("APP_MODEL__TIMEOUT_SECS", "7");
        jail.set_env("APP_AGENT__STEP_LIMIT", "3");
        let config = Config::from_env().expect("valid");
        assert_eq!(config.model.provider, Some(Provider::Azure));
        assert_eq!(config.model.deployment.as_deref(), Some("gpt-4o"));
        assert_eq!(config.model.timeout, Duration::from_secs(7));
        assert!(config.model.is_configured());
        assert_eq!(config.agent.step_limit, 3);
        jail.set_env("APP_MODEL__PROVIDER", "bard");
        let error = Config::from_env().unwrap_err().to_string();
        assert!(error.contains("APP_MODEL__PROVIDER"), "{error}");
        Ok(())
    });
}

#[test]
fn bad_values_name_the_variable() {
    for (variable, value) in [
        #[cfg(feature = "dev-stack")]
        ("APP_DEV_IDP__BIND", "nowhere"),
        ("APP_PUBLIC_URL", "not a url"),
        ("APP_DATABASE_URL", "mysql://db"),
        ("APP_MCP_SERVERS", "tools=http://h/mcp s, broken"),
        ("APP_AUTH__AUTHORITY", "login.example.com"),
        ("APP_AUTH__SESSION_IDLE_SECS", "soon"),
        ("APP_MODEL__BASE_URL", "nowhere"),
    ] {
        Jail::expect_with(|jail| {
            jail.set_env(variable, value);
            let error = Config::from_env().unwrap_err().to_string();
            assert!(error.contains(variable), "{variable}: {error}");
            Ok(())
        });
    }
}

#[test]
fn data_dir_comes_from_app_data_dir() {
    Jail::expect_with(|jail| {
        jail.set_env("APP_DATA_DIR", "/var/lib/portcullis");
        let config = Config::from_env().expect("valid");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/portcullis"));
        Ok(())
    });
}

#[test]
fn lists_urls_and_the_database_are_typed() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "APP_MCP_SERVERS",
            "a=http://127.0.0.1:1/mcp api://a/x, b=https://b.example/mcp api://b/y protocol=2026-07-28",
        );
        jail.set_env("APP_DATABASE_URL", "postgres://u:hunter2@db/app");
        jail.set_env("APP_AUTH__AUTHORITY", "https://login.example.com");
        jail.set_env("APP_AUTH__SCOPES", "openid  email");
        let config = Config::from_env().expect("valid");
        let servers = config.mcp_servers.as_deref().expect("set");
        assert_eq!(servers[1].name, "b");
        assert_eq!(servers[1].protocol, Protocol::Modern);
        assert_eq!(servers[0].url.as_str(), "http://127.0.0.1:1/mcp");
        assert!(
            matches!(config.database(), Database::Postgres(url) if url.expose_secret().contains("hunter2"))
        );
        // The issuer is kept exactly as written (no trailing slash added): issuers compare as strings.
        assert_eq!(
            config.auth.authority.as_deref().map(String::as_str),
            Some("https://login.example.com")
        );
        assert_eq!(config.auth.scopes, ["openid", "email"]);
        Ok(())
    });
}

#[test]
fn secrets_never_print() {
    Jail::expect_with(|jail| {
        jail.set_env("APP_AUTH__CLIENT_SECRET", "client-s3cret");
        jail.set_env("APP_TOKEN_CACHE_KEY", "cache-s3cret");
        jail.set_env("APP_MODEL__API_KEY", "model-s3cret");
        jail.set_env("APP_DATABASE_URL", "postgres://u:db-s3cret@db/app");
        let config = Config::from_env().expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        let secret = config.auth.client_secret.expect("set");
        assert_eq!(secret.expose_secret(), "client-s3cret");
        Ok(())
    });
}

#[test]
fn a_build_without_stand_ins_names_what_to_set() {
    Jail::expect_with(|jail| {
        let error = Config::from_env()
            .expect("valid")
            .require_external_services()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("APP_AUTH__AUTHORITY") && error.contains("APP_MODEL__BASE_URL"),
            "{error}"
        );
        assert!(!error.contains('\n'), "one line");
        jail.set_env("APP_AUTH__AUTHORITY", "https://login.example.com/t/v2.0");
        jail.set_env("APP_MODEL__BASE_URL", "http://127.0.0.1:11434/v1");
        let config = Config::from_env().expect("valid");
        assert!(config.require_external_services().is_ok());
        Ok(())
    });
}
