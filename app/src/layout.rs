//! The page frame shared by every route.

use leptos::prelude::*;

use crate::{PRODUCT_NAME, auth::current_user};

/// Header plus content. `data-hydrated` turns `true` only once the WASM bundle has taken over the page,
/// which the end-to-end tests wait for before interacting.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    // Effects never run during server rendering, so this flips only in the browser.
    Effect::new(move |_| set_hydrated.set(true));

    view! {
        <div class="frame" data-testid="app" data-hydrated=move || hydrated.get().to_string()>
            <header class="site-header">
                <a class="brand" href="/">
                    {PRODUCT_NAME}
                </a>
                <AuthStatus />
            </header>
            <main class="content">{children()}</main>
        </div>
    }
}

/// Shows whether the visitor is signed in.
#[component]
fn AuthStatus() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());

    view! {
        <span class="auth-status" data-testid="auth-status">
            <Suspense fallback=|| "…">
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(user)) => format!("Signed in as {}", user.name),
                        Ok(None) => "Not signed in".to_owned(),
                        Err(_) => "Sign-in status unavailable".to_owned(),
                    }
                })}
            </Suspense>
        </span>
    }
}
