//! Portcullis web UI: the Leptos components shared by the server (SSR) and the browser (hydrate).
//!
//! Modules:
//! - [`auth`]: the signed-in user as the UI sees it, the server function that reports it, and the
//!   return-path check used after sign-in.
//! - [`chat`]: the agent chat (conversations, approvals, elicitation forms, live updates, audit) and
//!   its server functions (backed by the server's agent).
//! - [`tools`]: the Tools page's data and its server function (backed by the server's MCP client).
//! - `layout`: the page frame (header, navigation, sign-in state, hydration marker).
//! - `pages`: one component per route.
//!
//! Server-only code sits behind the `ssr` feature; the `hydrate` feature builds the browser side.

pub mod auth;
pub mod chat;
mod layout;
mod pages;
pub mod tools;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, StaticSegment,
    components::{Route, Router, Routes},
};

/// The product name, shown in the header and the page title.
pub const PRODUCT_NAME: &str = "Portcullis";

/// The HTML document the server renders around [`App`].
///
/// On the server it also sets the Content-Security-Policy: scripts only from this origin plus the one
/// inline hydration script, which carries this response's nonce.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // No favicon: an empty data URL stops the browser asking for one.
                <link rel="icon" href="data:," />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The root component: router and page frame.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href="/pkg/portcullis.css" />
        <Title text=PRODUCT_NAME />
        <Router>
            <layout::Frame>
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view=pages::Home />
                    <Route path=StaticSegment("tools") view=pages::Tools />
                    <Route path=StaticSegment("chat") view=chat::view::ChatPage />
                    <Route path=(StaticSegment("chat"), ParamSegment("id")) view=chat::view::ChatPage />
                    <Route path=StaticSegment("audit") view=chat::view::AuditPage />
                </Routes>
            </layout::Frame>
        </Router>
    }
}

/// Origins the page's forms may end up at besides its own (the identity provider, which sign-out
/// redirects to). Provided by the server per request.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Default)]
pub struct FormActionSources(pub String);

#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    use leptos::nonce::use_nonce;
    let (Some(nonce), Some(response)) =
        (use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let forms = use_context::<FormActionSources>().unwrap_or_default().0;
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws://127.0.0.1:3001; \
         object-src 'none'; base-uri 'none'; form-action 'self' {forms}; frame-ancestors 'none'"
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
}
