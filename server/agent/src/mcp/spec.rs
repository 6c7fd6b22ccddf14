//! A configured MCP server: where it is, which scope its tokens need, which protocol generation to speak.

use std::{fmt, str::FromStr};

use serde::Deserialize;
use url::Url;

/// Which MCP protocol generation to speak to a server.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, strum::EnumString, strum::Display,
)]
pub enum Protocol {
    /// Try 2026-07-28 (`server/discover`, stateless) and fall back to `initialize` (2025-11-25).
    #[default]
    #[strum(serialize = "auto")]
    #[serde(rename = "auto")]
    Auto,
    /// `initialize` + session, 2025-11-25: elicitation arrives as server requests.
    #[strum(serialize = "legacy", serialize = "2025-11-25")]
    #[serde(rename = "legacy", alias = "2025-11-25")]
    Legacy,
    /// 2026-07-28 only: elicitation arrives as input-required results.
    #[strum(serialize = "2026-07-28", serialize = "modern")]
    #[serde(rename = "2026-07-28", alias = "modern")]
    Modern,
}

/// One configured MCP server, written `name=url scope [protocol=auto|legacy|2026-07-28]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Shown to the user; namespaces its tools when there are several servers.
    pub name: String,
    pub url: Url,
    /// Scope to request its tokens with, e.g. `api://portcullis-mcp/mcp:tools`.
    pub scope: String,
    pub protocol: Protocol,
}

/// Why a server entry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("expected name=url scope [protocol=…], got {0:?}")]
    Shape(String),
    #[error("{0}: bad URL: {1}")]
    Url(String, url::ParseError),
    #[error("{0}: unknown {1:?} (protocol=auto, legacy or 2026-07-28)")]
    Protocol(String, String),
}

impl FromStr for ServerSpec {
    type Err = SpecError;

    fn from_str(entry: &str) -> Result<Self, SpecError> {
        let shape = || SpecError::Shape(entry.to_owned());
        let (name, rest) = entry.split_once('=').ok_or_else(shape)?;
        let name = name.trim().to_owned();
        let mut parts = rest.split_whitespace();
        let (Some(url), Some(scope)) = (parts.next(), parts.next()) else {
            return Err(shape());
        };
        let protocol = match parts.next() {
            None => Protocol::Auto,
            Some(setting) => setting
                .strip_prefix("protocol=")
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| SpecError::Protocol(name.clone(), setting.to_owned()))?,
        };
        if parts.next().is_some() || name.is_empty() {
            return Err(shape());
        }
        let url = Url::parse(url).map_err(|e| SpecError::Url(name.clone(), e))?;
        Ok(Self {
            name,
            url,
            scope: scope.to_owned(),
            protocol,
        })
    }
}

impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={} {} protocol={}",
            self.name, self.url, self.scope, self.protocol
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_with_and_without_protocol() {
        let spec: ServerSpec = "tools=http://127.0.0.1:8081/mcp api://x/mcp:tools"
            .parse()
            .unwrap();
        assert_eq!(spec.name, "tools");
        assert_eq!(spec.scope, "api://x/mcp:tools");
        assert_eq!(spec.protocol, Protocol::Auto);
        let legacy: ServerSpec = "b=http://h/mcp s protocol=legacy".parse().unwrap();
        assert_eq!(legacy.protocol, Protocol::Legacy);
        let modern: ServerSpec = "b=http://h/mcp s protocol=2026-07-28".parse().unwrap();
        assert_eq!(modern.protocol, Protocol::Modern);
        assert_eq!(modern.to_string().parse::<ServerSpec>().unwrap(), modern);
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        assert!(matches!(
            "nourl".parse::<ServerSpec>(),
            Err(SpecError::Shape(_))
        ));
        assert!(matches!(
            "a=http://h/mcp".parse::<ServerSpec>(),
            Err(SpecError::Shape(_))
        ));
        assert!(matches!(
            "a=not-a-url s".parse::<ServerSpec>(),
            Err(SpecError::Url(..))
        ));
        assert!(matches!(
            "a=http://h/mcp s protocol=1999".parse::<ServerSpec>(),
            Err(SpecError::Protocol(..))
        ));
    }
}
