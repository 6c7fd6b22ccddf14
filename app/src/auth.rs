//! Who is signed in, as the UI sees it.
//!
//! The server decides: request handling on the server attaches a [`SignedInUser`] to the request when the
//! session holds one, and [`current_user`] reports it. Nothing about tokens ever crosses to the browser;
//! only the display fields below do.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The display view of the signed-in user. Identity itself (tenant + object id) stays on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    /// Display name from the ID token (`name`), never used as an identifier.
    pub name: String,
}

/// Reports the signed-in user of this request, or `None` for a visitor.
#[server]
pub async fn current_user() -> Result<Option<SignedInUser>, ServerFnError> {
    use axum::Extension;
    // Request middleware inserts the extension for signed-in sessions; its absence means a visitor.
    let user: Option<Extension<SignedInUser>> = leptos_axum::extract().await?;
    Ok(user.map(|Extension(user)| user))
}
