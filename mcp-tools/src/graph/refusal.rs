//! Reading the provider's refusal of an exchange: whether it means the user has not consented yet
//! (Entra's AADSTS65001 / `consent_required` / `interaction_required`; RFC 8693's `invalid_scope`), and
//! the consent page for exactly the missing scopes that fixes it.

use serde::Deserialize;
use url::Url;

use crate::config::OboGrant;

/// An OAuth error response (RFC 6749 §5.2) with Entra's additions.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    /// Entra: the AADSTS numbers, e.g. `[65001]`.
    #[serde(default)]
    pub error_codes: Option<Vec<u64>>,
    /// Entra: `consent_required`, `interaction_required`, ...
    #[serde(default)]
    pub suberror: Option<String>,
}

/// Whether the refusal means the user has not (yet) consented, so a consent page can fix it.
pub(crate) fn is_missing_consent(grant: OboGrant, refusal: &TokenError) -> bool {
    let suberror = refusal.suberror.as_deref().unwrap_or_default();
    let aadsts65001 = refusal
        .error_codes
        .as_deref()
        .is_some_and(|codes| codes.contains(&65001))
        || refusal
            .error_description
            .as_deref()
            .is_some_and(|d| d.contains("AADSTS65001"));
    match refusal.error.as_str() {
        "invalid_grant" => {
            aadsts65001 || matches!(suberror, "consent_required" | "interaction_required")
        }
        "interaction_required" | "consent_required" => true,
        // RFC 8693 providers answer a scope the user has not granted with `invalid_scope`. Entra uses
        // it for scopes that do not exist, which no consent fixes.
        "invalid_scope" => grant == OboGrant::TokenExchange,
        _ => false,
    }
}

/// The provider's consent page for exactly `scopes`, returning to `redirect_uri`.
pub(crate) fn consent_url(
    authorization_endpoint: &Url,
    client_id: &str,
    redirect_uri: &Url,
    scopes: &[String],
    login_hint: Option<&str>,
) -> Url {
    let mut url = authorization_endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("scope", &scopes.join(" "))
            .append_pair("prompt", "consent");
        if let Some(hint) = login_hint {
            query.append_pair("login_hint", hint);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(json: serde_json::Value) -> TokenError {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn entra_consent_errors_are_recognised() {
        let aadsts65001 = refusal(serde_json::json!({
            "error": "invalid_grant",
            "error_description": "AADSTS65001: The user or administrator has not consented to use the application.",
            "error_codes": [65001],
            "suberror": "consent_required"
        }));
        assert!(is_missing_consent(OboGrant::EntraObo, &aadsts65001));
        let by_description = refusal(serde_json::json!({
            "error": "invalid_grant",
            "error_description": "AADSTS65001: not consented"
        }));
        assert!(is_missing_consent(OboGrant::EntraObo, &by_description));
        let by_suberror = refusal(serde_json::json!({
            "error": "invalid_grant", "suberror": "interaction_required"
        }));
        assert!(is_missing_consent(OboGrant::EntraObo, &by_suberror));
        let interaction = refusal(serde_json::json!({ "error": "interaction_required" }));
        assert!(is_missing_consent(OboGrant::EntraObo, &interaction));
    }

    #[test]
    fn other_refusals_are_not_consent() {
        for json in [
            // App-only token: cannot be exchanged, no consent helps.
            serde_json::json!({ "error": "invalid_grant", "error_codes": [7000114] }),
            serde_json::json!({ "error": "invalid_client", "error_codes": [7000215] }),
            serde_json::json!({ "error": "unauthorized_client" }),
            serde_json::json!({}),
        ] {
            let error = refusal(json.clone());
            assert!(!is_missing_consent(OboGrant::EntraObo, &error), "{json}");
            assert!(
                !is_missing_consent(OboGrant::TokenExchange, &error),
                "{json}"
            );
        }
        // `invalid_scope` means missing consent only for RFC 8693 providers.
        let invalid_scope = refusal(serde_json::json!({ "error": "invalid_scope" }));
        assert!(is_missing_consent(OboGrant::TokenExchange, &invalid_scope));
        assert!(!is_missing_consent(OboGrant::EntraObo, &invalid_scope));
    }

    #[test]
    fn consent_url_names_client_scopes_redirect_and_hint() {
        let url = consent_url(
            &Url::parse("https://login.example/t/oauth2/v2.0/authorize").unwrap(),
            "mcp-tools-id",
            &Url::parse("https://mcp.example/oauth/consent-complete").unwrap(),
            &[
                "https://graph.microsoft.com/Calendars.Read".to_owned(),
                "https://graph.microsoft.com/User.Read".to_owned(),
            ],
            Some("bob@example.test"),
        );
        assert_eq!(url.path(), "/t/oauth2/v2.0/authorize");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("client_id"), Some("mcp-tools-id"));
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(
            get("redirect_uri"),
            Some("https://mcp.example/oauth/consent-complete")
        );
        assert_eq!(
            get("scope"),
            Some(
                "https://graph.microsoft.com/Calendars.Read https://graph.microsoft.com/User.Read"
            )
        );
        assert_eq!(get("prompt"), Some("consent"));
        assert_eq!(get("login_hint"), Some("bob@example.test"));
        let without_hint = consent_url(
            &Url::parse("https://login.example/authorize?p=policy").unwrap(),
            "c",
            &Url::parse("https://mcp.example/done").unwrap(),
            &["s".to_owned()],
            None,
        );
        assert!(
            without_hint
                .as_str()
                .starts_with("https://login.example/authorize?p=policy&client_id=c")
        );
        assert!(!without_hint.as_str().contains("login_hint"));
    }
}
