//! Portcullis web UI: the Leptos components shared by the server (SSR) and the browser (hydrate).
//!
//! Leptos islands: the server renders every page; the browser downloads and hydrates only the
//! components marked `#[island]` (the chat's conversation pane, composer, list actions and "New
//! chat"), so the bundle carries no router, no other page and no data only the server reads. Moving
//! between pages is an ordinary page load.
//!
//! Modules:
//! - [`auth`]: the signed-in user as the UI sees it, the server function that reports it, and the
//!   return-path check used after sign-in.
//! - [`chat`]: the agent chat (conversations, approvals, elicitation forms, live updates, audit) and
//!   its server functions (backed by the server's agent).
//! - [`connections`]: the Connections page (each MCP server's grant: Connect, Disconnect) and the
//!   chat's notices about servers whose tools are not offered.
//! - [`tools`]: the Tools page's data and its server function (backed by the server's MCP client).
//! - `csp` (server only): the pages' Content-Security-Policy ([`FormActionSources`] feeds it); the
//!   dev live-reload socket is allowed in debug builds only.
//! - [`html`]: the escaping of HTML built as strings on the server (Markdown, charts, the
//!   Connections page), which the browser receives finished.
//! - `json`: the one JSON reader the browser decodes with (the conversation pane's first state and the
//!   live updates read like server functions, so the bundle holds one copy of each `Deserialize`
//!   impl); the server's resources use it too.
//! - `layout`: the page frame (header, navigation, sign-in state) and the hydration marker
//!   ([`mark_hydrated`]).
//! - `pages`: one component per route.
//!
//! Server-only code sits behind the `ssr` feature; the `hydrate` feature builds the browser side.

pub mod auth;
pub mod chat;
pub mod connections;
#[cfg(feature = "ssr")]
mod csp;
pub mod html;
mod json;
mod layout;
mod pages;
pub mod tools;

#[cfg(feature = "ssr")]
pub use csp::FormActionSources;
#[cfg(feature = "hydrate")]
pub use layout::mark_hydrated;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

/// The product name, shown in the header and the page title.
pub const PRODUCT_NAME: &str = "Portcullis";

/// The HTML document the server renders around [`App`].
///
/// On the server it also sets the Content-Security-Policy (see `csp`).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    csp::set(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // No favicon: an empty data URL stops the browser asking for one.
                <link rel="icon" href="data:," />
                <AutoReload options=options.clone() />
                <HydrationScripts options islands=true />
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
                    // Whole before it is sent: the chat's islands are hydrated once the page has loaded,
                    // so they must be in it then (not in a chunk streamed after).
                    <Route path=StaticSegment("chat") view=chat::ChatPage ssr=SsrMode::Async />
                    <Route
                        path=(StaticSegment("chat"), ParamSegment("id"))
                        view=chat::ChatPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("audit") view=chat::AuditPage />
                    <Route path=StaticSegment("connections") view=connections::Connections />
                </Routes>
            </layout::Frame>
        </Router>
    }
}
