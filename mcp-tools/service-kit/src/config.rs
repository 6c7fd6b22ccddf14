//! Typed configuration from a prefixed environment (`APP_…`, `MCP_…`), `__` separating nesting levels
//! (`MCP_AUTH__AUDIENCE` is `auth.audience`). A bad value stops start-up with one line naming the
//! variable.

use std::{fmt::Display, str::FromStr};

use figment::{Figment, providers::Env};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

/// Bad or missing configuration; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// `variable: problem`.
    pub fn new(variable: impl Display, problem: impl Display) -> Self {
        Self(format!("{variable}: {problem}"))
    }

    /// A problem that is not about one variable.
    pub fn other(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// The environment variables starting with `prefix`, nested at `__`.
pub fn env(prefix: &str) -> Figment {
    Figment::from(Env::prefixed(prefix).split("__"))
}

/// Extracts `T` from `figment`; an error names the variable as `<prefix><PATH__TO__KEY>`.
pub fn extract<T: DeserializeOwned>(figment: &Figment, prefix: &str) -> Result<T, ConfigError> {
    figment.extract().map_err(|error| {
        let key = error
            .path
            .iter()
            .map(|segment| segment.to_uppercase())
            .collect::<Vec<_>>()
            .join("__");
        if key.is_empty() {
            ConfigError::other(error.to_string())
        } else {
            ConfigError::new(format!("{prefix}{key}"), &error.kind)
        }
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn parse_items<T, E>(value: OneOrMany) -> Result<Vec<T>, E>
where
    T: FromStr,
    T::Err: Display,
    E: serde::de::Error,
{
    let items = match value {
        OneOrMany::One(s) => s.split(',').map(str::to_owned).collect(),
        OneOrMany::Many(v) => v,
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<T>().map_err(E::custom))
        .collect()
}

/// A field written `a, b,c` (or given as a list), each item parsed with `FromStr`: use with
/// `#[serde(deserialize_with = "service_kit::config::comma_list")]`.
pub fn comma_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    parse_items(OneOrMany::deserialize(deserializer)?)
}

/// Like [`comma_list`] for an optional field (pair it with `#[serde(default)]`).
pub fn optional_comma_list<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    Option::<OneOrMany>::deserialize(deserializer)?
        .map(parse_items)
        .transpose()
}

/// A duration written in whole seconds (fields named `…_secs`): use with
/// `#[serde(rename = "…_secs", deserialize_with = "service_kit::config::secs")]`.
pub fn secs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<std::time::Duration, D::Error> {
    u64::deserialize(deserializer).map(std::time::Duration::from_secs)
}

/// Text the environment may have typed as a number or boolean (figment reads `12345` as a number),
/// taken as written: use with `#[serde(default, deserialize_with = "service_kit::config::optional_text")]`.
pub fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    struct Scalar;
    impl serde::de::Visitor<'_> for Scalar {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    deserializer.deserialize_any(Scalar).map(Some)
}

/// A value parsed with its `FromStr` (enums written as words): use with
/// `#[serde(deserialize_with = "service_kit::config::parsed")]`.
pub fn parsed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let text = optional_text(deserializer)?.unwrap_or_default();
    text.parse().map_err(serde::de::Error::custom)
}

/// Like [`parsed`] for an optional field (pair it with `#[serde(default)]`).
pub fn optional_parsed<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    optional_text(deserializer)?
        .map(|text| text.parse().map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
// `figment::Jail` closures return `figment::Error`, which is large; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use std::net::SocketAddr;

    use figment::Jail;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "optional_comma_list")]
        names: Option<Vec<String>>,
        #[serde(default)]
        nested: Nested,
    }

    #[derive(Debug, Default, Deserialize)]
    struct Nested {
        #[serde(default, deserialize_with = "comma_list")]
        addrs: Vec<SocketAddr>,
    }

    #[test]
    fn lists_are_split_trimmed_and_parsed() {
        Jail::expect_with(|jail| {
            jail.set_env("T_NAMES", "a, b,,c ");
            jail.set_env("T_NESTED__ADDRS", "127.0.0.1:1, 127.0.0.1:2");
            let sample: Sample = extract(&env("T_"), "T_").expect("valid");
            assert_eq!(sample.names.unwrap(), ["a", "b", "c"]);
            assert_eq!(sample.nested.addrs.len(), 2);
            Ok(())
        });
    }

    #[test]
    fn a_bad_item_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("T_NESTED__ADDRS", "127.0.0.1:1, nowhere");
            let error = extract::<Sample>(&env("T_"), "T_").unwrap_err().to_string();
            assert!(error.contains("T_NESTED__ADDRS"), "{error}");
            Ok(())
        });
    }
}
