//! RFC 8707 resource indicators, checked as Entra ID checks them since 2026: every `resource` parameter
//! of a request must be one of the identifier URIs of the resource its scopes name, or the request is
//! refused with `invalid_target` (Entra: AADSTS9010010) and nothing is issued. Several `resource`
//! parameters must each match; none at all checks nothing (scopes alone name the target, as the web app
//! and the console request). A request whose scopes name no resource (OIDC only) matches no `resource`.
//!
//! A resource's identifier URIs are its App ID URI, the `aud` of its tokens, and the URIs registered
//! while the IdP runs ([`DevIdp::add_identifier_uri`](super::DevIdp::add_identifier_uri)): the dev
//! stack's MCP server URLs, known only once each server has bound, because standard MCP SDK clients send
//! the server's URL as `resource`. URIs compare as parsed URLs (scheme and host case, default ports), so
//! `HTTP://127.0.0.1:8081/mcp` is `http://127.0.0.1:8081/mcp`; a trailing slash makes another URI, as
//! it does for Entra. Values that are not URLs (an audience that is a client id) compare as written.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use url::Url;

use super::directory::{Resource, ScopeRequest};

/// Entra's number for a `resource` that does not match the requested scopes.
pub(crate) const AADSTS_INVALID_TARGET: u32 = 9010010;

/// A `resource` parameter that is not an identifier URI of the resource the request's scopes name.
#[derive(Debug, thiserror::Error)]
#[error(
    "AADSTS9010010: The resource parameter provided in the request doesn't match with the requested \
     scopes. ({resource:?} is not an identifier URI of {requested})"
)]
pub(crate) struct InvalidTarget {
    resource: String,
    /// The App ID URI the scopes named, or words saying they named none.
    requested: String,
}

/// Identifier URIs registered while the IdP runs, by the App ID URI of their resource. In memory: the
/// front-end registers its MCP servers' URLs at every start.
#[derive(Debug, Default)]
pub(crate) struct IdentifierUris(RwLock<HashMap<String, Vec<Url>>>);

impl IdentifierUris {
    /// Adds `uri` to `resource`'s identifier URIs; `false` when it was one already.
    pub(crate) fn add(&self, resource: &Resource, uri: Url) -> bool {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let uris = map.entry(resource.app_id_uri.clone()).or_default();
        if uris.contains(&uri) {
            return false;
        }
        uris.push(uri);
        true
    }

    /// Whether `candidate` is one of `resource`'s identifier URIs.
    pub(crate) fn identifies(&self, resource: &Resource, candidate: &str) -> bool {
        if same_uri(candidate, &resource.app_id_uri) || same_uri(candidate, &resource.audience) {
            return true;
        }
        let Ok(candidate) = Url::parse(candidate) else {
            return false;
        };
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&resource.app_id_uri)
            .is_some_and(|uris| uris.contains(&candidate))
    }

    /// Checks a request's `resource` parameters (`indicators`, empty ones already left out) against the
    /// resource its scopes name.
    pub(crate) fn check(
        &self,
        indicators: &[String],
        request: &ScopeRequest,
    ) -> Result<(), InvalidTarget> {
        let requested = request.resource.as_ref().map(|(resource, _)| resource);
        match indicators
            .iter()
            .find(|indicator| !requested.is_some_and(|r| self.identifies(r, indicator)))
        {
            None => Ok(()),
            Some(indicator) => Err(InvalidTarget {
                resource: indicator.clone(),
                requested: requested.map_or_else(
                    || "any resource the scopes name (they name none)".to_owned(),
                    |r| r.app_id_uri.clone(),
                ),
            }),
        }
    }
}

/// Two identifiers are the same URI after URL parsing, or the same text when either is not a URL.
fn same_uri(candidate: &str, identifier: &str) -> bool {
    match (Url::parse(candidate), Url::parse(identifier)) {
        (Ok(a), Ok(b)) => a == b,
        _ => candidate == identifier,
    }
}

/// The `resource` values among a request's parameters (RFC 8707 §2 allows several), empty ones left out
/// as this IdP reads every empty parameter as absent.
pub(crate) fn indicators(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(name, value)| name == "resource" && !value.is_empty())
        .map(|(_, value)| value.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::directory::parse_scope;

    fn resources() -> Vec<Resource> {
        vec![
            Resource::new("api://portcullis-mcp", &["mcp:tools"]),
            Resource {
                audience: "portcullis-web".to_owned(),
                ..Resource::new("api://portcullis-web", &["access_as_user"])
            },
        ]
    }

    fn request(scope: &str) -> ScopeRequest {
        parse_scope(scope, &resources()).unwrap()
    }

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn own_identifiers_match_and_others_are_invalid_targets() {
        let uris = IdentifierUris::default();
        let mcp = request("openid api://portcullis-mcp/mcp:tools");
        assert!(uris.check(&[], &mcp).is_ok(), "no resource checks nothing");
        assert!(uris.check(&list(&["api://portcullis-mcp"]), &mcp).is_ok());
        let web = request("api://portcullis-web/access_as_user");
        assert!(
            uris.check(&list(&["portcullis-web", "api://portcullis-web"]), &web)
                .is_ok(),
            "the audience (a client id) and the App ID URI"
        );
        let error = uris
            .check(&list(&["api://portcullis-web"]), &mcp)
            .unwrap_err();
        assert!(error.to_string().starts_with("AADSTS9010010: "), "{error}");
        assert!(
            error.to_string().contains("api://portcullis-mcp"),
            "{error}"
        );
        // Every one must match.
        assert!(
            uris.check(&list(&["api://portcullis-mcp", "api://other"]), &mcp)
                .is_err()
        );
        // OIDC-only scopes name no resource, so no `resource` matches them.
        assert!(
            uris.check(&list(&["api://portcullis-mcp"]), &request("openid"))
                .is_err()
        );
    }

    #[test]
    fn registered_urls_compare_as_parsed_urls() {
        let uris = IdentifierUris::default();
        let mcp = request("api://portcullis-mcp/mcp:tools");
        let url = "http://127.0.0.1:8081/mcp";
        assert!(
            uris.check(&list(&[url]), &mcp).is_err(),
            "not yet registered"
        );
        assert!(uris.add(&resources()[0], Url::parse(url).unwrap()));
        assert!(!uris.add(&resources()[0], Url::parse(url).unwrap()), "once");
        for same in [url, "HTTP://127.0.0.1:8081/mcp"] {
            assert!(uris.check(&list(&[same]), &mcp).is_ok(), "{same}");
        }
        // A default port is no port.
        assert!(uris.add(
            &resources()[0],
            Url::parse("https://tools.example/mcp").unwrap()
        ));
        assert!(
            uris.check(&list(&["https://tools.example:443/mcp"]), &mcp)
                .is_ok()
        );
        for other in [
            "http://127.0.0.1:8081/mcp/",
            "http://127.0.0.1:8082/mcp",
            "http://localhost:8081/mcp",
            "http://127.0.0.1:8081/mcp#x",
            "not a url",
        ] {
            assert!(uris.check(&list(&[other]), &mcp).is_err(), "{other}");
        }
        // Registered for one resource, it identifies no other.
        let web = request("api://portcullis-web/access_as_user");
        assert!(uris.check(&list(&[url]), &web).is_err());
    }

    #[test]
    fn every_resource_parameter_is_collected_and_empty_ones_left_out() {
        let pairs: Vec<(String, String)> = [
            ("scope", "x"),
            ("resource", "a"),
            ("resource", ""),
            ("resource", "b"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(indicators(&pairs), ["a", "b"]);
    }
}
