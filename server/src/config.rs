//! Typed configuration of the web server, read from `APP_*` environment variables (`__` nests).
//!
//! The Leptos site settings (`LEPTOS_SITE_ADDR` etc.) are read by Leptos itself; cargo-leptos sets them.
//! Every variable is documented in `.env.example` and the README.

use std::path::PathBuf;

use figment::{Figment, providers::Env};
use serde::Deserialize;

/// The web server's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Folder for local state (SQLite files, keys). `APP_DATA_DIR`, default `.data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".data")
}

/// Bad configuration: names the variable so the operator can fix it from one line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads `APP_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Env::prefixed("APP_").split("__")))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        figment.extract().map_err(|error| {
            let key = error
                .path
                .iter()
                .map(|segment| segment.to_uppercase())
                .collect::<Vec<_>>()
                .join("__");
            ConfigError(if key.is_empty() {
                error.to_string()
            } else {
                format!("APP_{key}: {}", error.kind)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_apply_without_variables() {
        Jail::expect_with(|_| {
            let config = Config::from_env().expect("defaults are valid");
            assert_eq!(config.data_dir, PathBuf::from(".data"));
            Ok(())
        });
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
}
