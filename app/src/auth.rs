//! Who is signed in, as the UI sees it.
//!
//! The server decides: its request middleware attaches a [`SignedInUser`] (display fields only) and, on
//! the server side, an `Identity` to requests of signed-in sessions. Nothing about tokens ever crosses
//! to the browser.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The display view of the signed-in user. Identity itself (tenant + object id) stays on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    /// Display name from the ID token (`name`), never used as an identifier.
    pub name: String,
}

/// Server-side identity of the signed-in user: a key derived from (issuer, tenant, object id).
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub key: String,
    pub name: String,
}

/// Reports the signed-in user of this request, or `None` for a visitor.
#[server(endpoint = "current_user")]
pub async fn current_user() -> Result<Option<SignedInUser>, crate::chat::ChatError> {
    use axum::Extension;
    // Request middleware inserts the extension for signed-in sessions; its absence means a visitor.
    let user: Option<Extension<SignedInUser>> = leptos_axum::extract()
        .await
        .map_err(|_| crate::chat::ChatError::Unavailable)?;
    Ok(user.map(|Extension(user)| user))
}

/// Where to send the user after sign-in: only local absolute paths; anything else (other hosts,
/// protocol-relative `//host`, backslash tricks, `javascript:`) becomes `/`.
pub fn safe_return_path(requested: &str) -> &str {
    let local = requested.starts_with('/')
        && !requested.starts_with("//")
        && !requested.starts_with("/\\")
        && !requested.chars().any(|c| c.is_control() || c == '\\');
    if local { requested } else { "/" }
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_return_path("/tools?x=1"), "/tools?x=1");
        assert_eq!(safe_return_path("/"), "/");
        for hostile in [
            "//evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\\evil.example",
            "\\\\evil.example",
            "/tools\\..\\x",
            "/tools\n",
            "",
            "tools",
        ] {
            assert_eq!(safe_return_path(hostile), "/", "{hostile:?}");
        }
    }
}
