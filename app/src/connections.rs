//! Connections: what each configured MCP server was granted for the signed-in user (incremental
//! consent, one server's scope at a time).
//!
//! - [`Connections`] (`/connections`): per server its short name and title, URL, whether it answers,
//!   the protocol generation and tool count, and for the user's current token its audience, scopes and
//!   expiry — as text read from the token's claims, never the token. **Connect** is a full-page
//!   navigation to `/auth/connect` (an authorization round-trip asking for that server's scope only,
//!   back to this page); **Disconnect** (a form POST the server handles) forgets that server's tokens.
//!   Both are rendered on the server as HTML (see [`connections_html`]).
//! - [`ServerNotices`]: in the chat, the servers whose tools the model is not offered, and why, with a
//!   Connect link for the unconnected ones (back to the same page), read when the chat is shown.

use leptos::{prelude::*, server_fn::codec::Json};
use serde::{Deserialize, Serialize};

use crate::chat::ChatError;

/// One configured server as the Connections page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerConnection {
    /// The configured short name.
    pub name: String,
    /// What the server calls itself (`serverInfo`), when it could be reached.
    pub title: Option<String>,
    pub url: String,
    pub reach: Reach,
    pub grant: GrantView,
}

/// Whether the server answered the user just now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reach {
    Reached {
        /// The protocol version the connection settled on.
        protocol_version: Option<String>,
        tools: usize,
    },
    /// Not asked: without the user's grant there is no token to ask with.
    NotConnected,
    Unreachable(String),
}

/// The user's grant for the server's scope, as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GrantView {
    Connected {
        /// The token's `aud`.
        audience: String,
        /// The token's `scp` (or `scope`).
        scopes: Vec<String>,
        /// When the held access token expires (UTC, with how long from now); it is renewed by
        /// refresh when used after that.
        expires: String,
    },
    /// Not granted yet (the provider asked for consent).
    NotConnected,
    /// The user disconnected it.
    Disconnected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConnectionsView {
    SignedOut,
    SignInRequired,
    Servers(Vec<ServerConnection>),
}

/// A server whose tools the model is not offered right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithheldServer {
    pub name: String,
    /// `None`: not connected; `Some(why)`: unreachable.
    pub unavailable: Option<String>,
}

/// The Connect link for `server`, coming back to `return_to` (a local path; without one, to the
/// page the link is on).
pub fn connect_href(server: &str, return_to: Option<&str>) -> String {
    let mut href = format!("/auth/connect?server={}", percent_encode(server));
    if let Some(return_to) = return_to {
        href.push_str("&return_to=");
        href.push_str(&percent_encode(return_to));
    }
    href
}

/// Query-component encoding (RFC 3986 unreserved characters kept), small enough for the browser
/// bundle.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(feature = "ssr")]
async fn signed_in_user() -> Result<Option<crate::auth::Identity>, ChatError> {
    let user: Option<axum::Extension<crate::auth::Identity>> = leptos_axum::extract()
        .await
        .map_err(|_| ChatError::Unavailable)?;
    Ok(user.map(|axum::Extension(user)| user))
}

#[cfg(feature = "ssr")]
fn directory() -> Result<crate::tools::backend::SharedDirectory, ChatError> {
    use_context::<crate::tools::backend::SharedDirectory>().ok_or(ChatError::Unavailable)
}

/// Every configured server's reach and the user's grant (the page's data).
#[cfg(feature = "ssr")]
async fn list_connections() -> Result<ConnectionsView, ChatError> {
    use crate::tools::backend::ListError;

    let Some(user) = signed_in_user().await? else {
        return Ok(ConnectionsView::SignedOut);
    };
    match directory()?.connections(&user).await {
        Ok(servers) => Ok(ConnectionsView::Servers(servers)),
        Err(ListError::SignInRequired) => {
            // The grant is gone: the session ends (as on the Tools page), and the page says so (a
            // success, so that the page shows it however it was reached).
            let session: tower_sessions::Session = leptos_axum::extract()
                .await
                .map_err(|_| ChatError::Unavailable)?;
            session.flush().await.map_err(|_| ChatError::Unavailable)?;
            Ok(ConnectionsView::SignInRequired)
        }
    }
}

/// The servers whose tools the user's agent is not offered now (the notices' data).
#[cfg(feature = "ssr")]
async fn withheld_servers() -> Result<Vec<WithheldServer>, ChatError> {
    use crate::tools::backend::ListError;

    let Some(user) = signed_in_user().await? else {
        return Ok(Vec::new());
    };
    let result = match directory()?.withheld(&user).await {
        Ok(withheld) => Ok(withheld),
        Err(ListError::SignInRequired) => Err(ChatError::SignInRequired),
    };
    crate::chat::api::ssr::respond(result).await
}

/// The page's own path, where Connect comes back to.
#[cfg(feature = "ssr")]
const PAGE: &str = "/connections";

/// Server-rendered HTML: the Connections page's body, or (`notices`) the chat's notices about withheld
/// servers, whose Connect links name no return path (`/auth/connect` returns to the page the link was
/// on, its `Referer`). The browser receives finished HTML (one string), so neither adds decoding or
/// view code to the WASM bundle; one server function serves both because each server function costs
/// the bundle its own request and response code. Disconnect is a plain form POST
/// (`/connections/disconnect`, same-origin only) and Connect a link, so both work before hydration.
#[server(endpoint = "connections/html", input = Json)]
pub async fn connections_html(notices: bool) -> Result<String, ChatError> {
    Ok(match notices {
        true => html::notices(&withheld_servers().await?),
        false => html::page(&list_connections().await?),
    })
}

#[component]
pub fn Connections() -> impl IntoView {
    let body = crate::json::resource(|| (), |_| connections_html(false));
    view! {
        <section class="connections">
            <h1>"Connections"</h1>
            <p class="muted">
                "Each MCP server is its own resource: a token for one is worthless at another, and each is granted separately."
            </p>
            <Suspense fallback=|| view! { <p>"Loading connections…"</p> }>
                {move || Suspend::new(async move {
                    match body.await {
                        Ok(html) => view! { <div inner_html=html></div> }.into_any(),
                        Err(_) => {
                            view! {
                                <p class="error" data-testid="connections-error">
                                    "The connections could not be loaded."
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

/// The chat's line about servers whose tools are not offered, read when the chat is shown (a server
/// that goes away mid-conversation is reported in the transcript by the turn that misses it). Rendered
/// on the server only: the chat's islands take it as children.
#[component]
pub fn ServerNotices() -> impl IntoView {
    let notices = crate::json::resource(|| (), |_| connections_html(true));
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let html = notices.await.unwrap_or_default();
                view! { <div class="server-notices" data-testid="server-notices" inner_html=html></div> }
            })}
        </Suspense>
    }
}

/// Server-side HTML of the page and the notices; every text is escaped.
#[cfg(feature = "ssr")]
mod html {
    use super::{
        ConnectionsView, GrantView, PAGE, Reach, ServerConnection, WithheldServer, connect_href,
    };
    use crate::html::escape as esc;

    pub fn page(view: &ConnectionsView) -> String {
        match view {
            ConnectionsView::Servers(servers) => format!(
                r#"<div class="servers">{}</div>"#,
                servers.iter().map(card).collect::<String>()
            ),
            ConnectionsView::SignedOut => r#"<p data-testid="connections-signed-out">Sign in to see and manage your connections.</p>"#.to_owned(),
            ConnectionsView::SignInRequired => r#"<p data-testid="connections-sign-in-required">Your sign-in has expired. Please sign in again.</p>"#.to_owned(),
        }
    }

    fn card(server: &ServerConnection) -> String {
        let name = esc(&server.name);
        let reach = match &server.reach {
            Reach::Reached {
                protocol_version,
                tools,
            } => format!(
                "Reachable · protocol {} · {tools} tool{}",
                protocol_version.as_deref().unwrap_or("unknown"),
                if *tools == 1 { "" } else { "s" }
            ),
            Reach::NotConnected => "Not asked: connect it first".to_owned(),
            Reach::Unreachable(why) => format!("Unreachable: {why}"),
        };
        let (state, grant) = match &server.grant {
            GrantView::Connected {
                audience,
                scopes,
                expires,
            } => (
                "connected",
                format!(
                    r#"<dl class="grant" data-testid="grant"><dt>Audience</dt><dd data-testid="grant-audience">{}</dd><dt>Scopes</dt><dd data-testid="grant-scopes">{}</dd><dt>Token expires</dt><dd data-testid="grant-expires">{}</dd></dl><form method="post" action="/connections/disconnect"><input type="hidden" name="server" value="{name}"><button type="submit" data-testid="disconnect" aria-label="Disconnect {name}">Disconnect</button></form>"#,
                    esc(audience),
                    esc(&scopes.join(" ")),
                    esc(expires),
                ),
            ),
            missing => (
                "not-connected",
                format!(
                    r#"<p data-testid="grant-missing">{}</p><a class="button" rel="external" data-testid="connect" href="{}">Connect {name}</a>"#,
                    if matches!(missing, GrantView::Disconnected) {
                        "You disconnected this server: its tools are not offered to the agent."
                    } else {
                        "Not connected yet: its tools are not offered to the agent until you grant access."
                    },
                    esc(&connect_href(&server.name, Some(PAGE))),
                ),
            ),
        };
        format!(
            r#"<article class="card server" data-testid="connection" data-server="{name}" data-state="{state}"><h2>{}<code class="server-name" data-testid="server-name" title="short name">{name}</code></h2><p class="muted">{}</p><p data-testid="reach">{}</p>{grant}</article>"#,
            // What the server calls itself, when it answered; its short name always.
            server
                .title
                .as_deref()
                .map(|t| format!("{} ", esc(t)))
                .unwrap_or_default(),
            esc(&server.url),
            esc(&reach),
        )
    }

    pub fn notices(servers: &[WithheldServer]) -> String {
        servers
            .iter()
            .map(|server| {
                let name = esc(&server.name);
                match &server.unavailable {
                    Some(why) => format!(
                        r#"<p class="banner" role="status" data-testid="server-notice" data-server="{name}">{name} is unavailable ({}): its tools are not offered.</p>"#,
                        esc(why)
                    ),
                    None => format!(
                        r#"<p class="banner" role="status" data-testid="server-notice" data-server="{name}">{name} is not connected: its tools are not offered. <a rel="external" data-testid="server-connect" href="{}">Connect {name}</a></p>"#,
                        esc(&connect_href(&server.name, None))
                    ),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::connect_href;

    #[test]
    fn connect_links_encode_their_parameters() {
        assert_eq!(
            connect_href("sales", Some("/chat/abc")),
            "/auth/connect?server=sales&return_to=/chat/abc"
        );
        assert_eq!(
            connect_href("a b&c", Some("/x?y=1#z")),
            "/auth/connect?server=a%20b%26c&return_to=/x%3Fy%3D1%23z"
        );
        assert_eq!(connect_href("sales", None), "/auth/connect?server=sales");
    }
}
