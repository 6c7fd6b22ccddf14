//! Portcullis web UI: the Leptos components shared by the server (SSR) and the browser (hydrate).
//!
//! Modules:
//! - [`auth`]: the signed-in user as the UI sees it, and the server function that reports it.
//! - `layout`: the page frame (header, hydration marker).
//! - `pages`: one component per route.
//!
//! Server-only code sits behind the `ssr` feature; the `hydrate` feature builds the browser side.

pub mod auth;
mod layout;
mod pages;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{Route, Router, Routes},
};

/// The product name, shown in the header and the page title.
pub const PRODUCT_NAME: &str = "Portcullis";

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
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
                </Routes>
            </layout::Frame>
        </Router>
    }
}
