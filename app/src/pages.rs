//! One component per route.

use leptos::prelude::*;

use crate::PRODUCT_NAME;

/// The landing page.
#[component]
pub fn Home() -> impl IntoView {
    view! {
        <section class="home">
            <h1>{PRODUCT_NAME}</h1>
            <p class="tagline">
                "Secure MCP tools and an approval-gated agent: who is calling, with whose authority, and did a human agree."
            </p>
        </section>
    }
}

/// Shown for any path no route matches; the server also sets status 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="not-found">
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Back to the start"</a>
            </p>
        </section>
    }
}
