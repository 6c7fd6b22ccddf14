//! One component per route.

use leptos::prelude::*;

use crate::{
    PRODUCT_NAME,
    tools::{ServerTools, ToolInfo, ToolsView, list_tools},
};

/// The landing page.
#[component]
pub fn Home() -> impl IntoView {
    view! {
        <section class="home">
            <h1>{PRODUCT_NAME}</h1>
            <p class="tagline">
                "Secure MCP tools and an approval-gated agent: who is calling, with whose authority, and did a human agree?"
            </p>
        </section>
    }
}

/// Every configured MCP server's tools, listed live with the user's delegated token.
#[component]
pub fn Tools() -> impl IntoView {
    let view_data = crate::json::resource(|| (), |_| list_tools());
    view! {
        <section class="tools">
            <h1>"Tools"</h1>
            <Suspense fallback=|| view! { <p>"Loading tools…"</p> }>
                {move || Suspend::new(async move {
                    match view_data.await {
                        Ok(ToolsView::Servers(servers)) => {
                            view! {
                                <div class="servers">
                                    {servers.into_iter().map(server_card).collect_view()}
                                </div>
                            }
                                .into_any()
                        }
                        Ok(ToolsView::SignedOut) => {
                            view! {
                                <p data-testid="tools-signed-out">
                                    "Sign in to see the tools you can use."
                                </p>
                            }
                                .into_any()
                        }
                        Ok(ToolsView::SignInRequired) => {
                            view! {
                                <p data-testid="tools-sign-in-required">
                                    "Your sign-in has expired. Please sign in again."
                                </p>
                            }
                                .into_any()
                        }
                        Err(_) => {
                            view! {
                                <p class="error" data-testid="tools-error">
                                    "The tools could not be loaded."
                                </p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

fn server_card(server: ServerTools) -> impl IntoView {
    let body = match server.tools {
        Ok(tools) => view! {
            <ul class="tool-list">{tools.into_iter().map(tool_item).collect_view()}</ul>
        }
        .into_any(),
        Err(message) => view! {
            <p class="error" data-testid="server-error">
                {message}
            </p>
        }
        .into_any(),
    };
    view! {
        <article class="card server" data-testid="mcp-server">
            <h2>
                {server.title.unwrap_or_else(|| server.name.clone())} " "
                <code class="server-name" data-testid="server-name" title="short name">
                    {server.name}
                </code>
            </h2>
            <p class="muted">{server.url}</p>
            {body}
        </article>
    }
}

fn tool_item(tool: ToolInfo) -> impl IntoView {
    let badge = if tool.destructive {
        Some(view! { <span class="badge destructive">"destructive"</span> })
    } else if tool.read_only {
        Some(view! { <span class="badge">"read-only"</span> })
    } else {
        None
    };
    view! {
        <li class="tool" data-testid="tool">
            <h3>
                <code data-testid="tool-name">{tool.name}</code>
                {badge}
            </h3>
            <p>{tool.title.map(|t| format!("{t}: ")).unwrap_or_default()} {tool.description}</p>
            <details>
                <summary>"Input schema"</summary>
                <pre>{tool.input_schema}</pre>
            </details>
        </li>
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
