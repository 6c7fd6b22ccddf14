//! The page frame shared by every route.

use leptos::prelude::*;
use leptos_router::hooks::use_location;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{PRODUCT_NAME, auth::current_user};

/// Sets the frame's `data-hydrated` to `true` once the islands on the page are hydrated.
///
/// The browser entry calls it right after `hydrate_islands`. Leptos' loader then hydrates each island
/// in promise continuations of the same task, so a timeout (the next task) runs after all of them.
#[cfg(feature = "hydrate")]
pub fn mark_hydrated() {
    set_timeout(
        || {
            if let Ok(Some(frame)) = document().query_selector(".frame") {
                let _ = frame.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}

/// Header plus content. `data-hydrated` turns `true` once the browser has hydrated the page's islands
/// ([`mark_hydrated`]); the end-to-end tests wait for it before interacting.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    let pathname = use_location().pathname;
    // The section the page belongs to, for `aria-current` (a conversation belongs to Chat).
    let current = move |section: &'static str| {
        let path = pathname.get();
        let here = path == section || path.starts_with(&format!("{section}/"));
        here.then_some("page")
    };

    view! {
        <div class="frame" data-testid="app" data-hydrated="false">
            <header class="site-header">
                <a class="brand" href="/">
                    {PRODUCT_NAME}
                </a>
                <nav class="site-nav" aria-label="Main">
                    <a href="/chat" aria-current=move || current("/chat")>"Chat"</a>
                    <a href="/tools" aria-current=move || current("/tools")>"Tools"</a>
                    <a href="/connections" aria-current=move || current("/connections")>
                        "Connections"
                    </a>
                    <a href="/audit" aria-current=move || current("/audit")>"Audit"</a>
                </nav>
                <AuthStatus />
            </header>
            <main class="content">
                {children()}
            </main>
        </div>
    }
}

/// The signed-in user's name with Sign out, or Sign in.
#[component]
fn AuthStatus() -> impl IntoView {
    let user = crate::json::resource(|| (), |_| current_user());
    let location = use_location();

    view! {
        <div class="auth-status">
            <Suspense fallback=|| "…">
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(user)) => {
                            view! {
                                <span class="user-name" data-testid="user-name">
                                    {user.name}
                                </span>
                                // A plain POST: sign-out changes state, so it is never a GET.
                                <form method="post" action="/auth/logout" class="inline">
                                    <button type="submit" data-testid="sign-out">
                                        "Sign out"
                                    </button>
                                </form>
                            }
                                .into_any()
                        }
                        Ok(None) => {
                            let href = move || {
                                let path = location.pathname.get();
                                format!(
                                    "/auth/login?return_to={}",
                                    urlencoding_path(&path),
                                )
                            };
                            view! {
                                <span data-testid="auth-status">"Not signed in"</span>
                                <a class="button" href=href rel="external" data-testid="sign-in">
                                    "Sign in"
                                </a>
                            }
                                .into_any()
                        }
                        Err(_) => {
                            view! {
                                <span data-testid="auth-status">"Sign-in status unavailable"</span>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}

/// What a path keeps unencoded as a query value: RFC 3986 unreserved characters and `/`.
const QUERY_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a path for use as a query value.
fn urlencoding_path(path: &str) -> String {
    utf8_percent_encode(path, QUERY_PATH).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_percent_encoded_as_query_values() {
        assert_eq!(
            super::urlencoding_path("/chat/abc-1_2.3~"),
            "/chat/abc-1_2.3~"
        );
        assert_eq!(
            super::urlencoding_path("/tools?x=1&y=é #"),
            "/tools%3Fx%3D1%26y%3D%C3%A9%20%23"
        );
    }
}
