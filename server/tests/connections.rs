//! Several MCP servers, each its own audience and scope, granted separately: the dev stack's mcp-tools
//! and sales, the Connect round-trip through the dev IdP's consent page, the Connections page's data,
//! Disconnect, and a server going away and coming back mid-session.

mod common;

use std::net::SocketAddr;

use agent::domain::UserKey;
use app::{
    auth::Identity,
    chat::{CallStatus, Entry},
    connections::{GrantView, Reach, ServerConnection, WithheldServer},
};
use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::*;
use secrecy::ExposeSecret;
use serde_json::json;
use server::auth::token_cache::Grant;
use tokio_util::sync::CancellationToken;
use url::Url;

const SALES_SCOPE: &str = "api://portcullis-sales/sales:read";
const TOOLS_SCOPE: &str = "api://portcullis-mcp/mcp:tools";

impl TestApp {
    /// The Connections page's Disconnect form, posted from the page.
    async fn disconnect(&self, cookie: Option<&str>, server: &str) -> Reply {
        let mut request = Request::post("/connections/disconnect")
            .header("sec-fetch-site", "same-origin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(
            request
                .body(Body::from(format!("server={server}")))
                .unwrap(),
        )
        .await
    }

    fn identity(&self, user: &str) -> Identity {
        Identity {
            key: self.user_key(user),
            name: user.into(),
        }
    }

    /// The Connections page's data for `user` (the page renders it on the server).
    async fn connections(&self, user: &str) -> Vec<ServerConnection> {
        let Ok(servers) = self.state.directory.connections(&self.identity(user)).await else {
            panic!("sign-in required")
        };
        servers
    }

    /// The chat notices' data for `user`.
    async fn withheld(&self, user: &str) -> Vec<WithheldServer> {
        let Ok(withheld) = self.state.directory.withheld(&self.identity(user)).await else {
            panic!("sign-in required")
        };
        withheld
    }

    /// Connect `server` as a browser does: `/auth/connect`, pick `user` at the dev IdP, then the consent
    /// page's `action` (`consent` or `cancel`) if one is shown; returns the web app's answer to the
    /// callback.
    async fn connect_as(&self, cookie: &str, server: &str, user: &str, action: &str) -> Reply {
        self.connect_from(cookie, server, user, action, None).await
    }

    /// [`Self::connect_as`] from a link without a return path on the page `referer`.
    async fn connect_from(
        &self,
        cookie: &str,
        server: &str,
        user: &str,
        action: &str,
        referer: Option<&str>,
    ) -> Reply {
        let mut request = Request::get(match referer {
            Some(_) => format!("/auth/connect?server={server}"),
            None => format!("/auth/connect?server={server}&return_to=/chat"),
        })
        .header(header::COOKIE, cookie);
        if let Some(referer) = referer {
            request = request.header(header::REFERER, referer);
        }
        let start = self.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        let authorize = Url::parse(start.location()).unwrap();
        let scope: String = authorize
            .query_pairs()
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert!(scope.contains(SALES_SCOPE) || server != "sales", "{scope}");
        assert!(
            !scope.contains(TOOLS_SCOPE),
            "only that server's scope: {scope}"
        );
        let mut form: Vec<(String, String)> = authorize
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        form.push(("user".into(), user.into()));
        let mut endpoint = authorize.clone();
        endpoint.set_query(None);
        let mut answer = self
            .http
            .post(endpoint.clone())
            .form(&form)
            .send()
            .await
            .unwrap();
        if answer.status() == StatusCode::OK {
            let page = answer.text().await.unwrap();
            assert!(
                page.contains("sales:read"),
                "the consent page names the scope"
            );
            let mut consent = hidden_fields(&page);
            consent.push(("action".into(), action.into()));
            answer = self
                .http
                .post(endpoint)
                .form(&consent)
                .send()
                .await
                .unwrap();
        }
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let callback = Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        self.get(
            &format!("{}?{}", callback.path(), callback.query().unwrap()),
            Some(cookie),
        )
        .await
    }

    async fn grant(&self, user: &str, scope: &str) -> Grant {
        self.state
            .auth
            .tokens
            .grant(&self.user_key(user), scope)
            .await
            .unwrap()
    }
}

/// The `<input type="hidden">` fields of a page's form, as a browser submits them.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = tag[start..].find('"')? + start;
        Some(
            tag[start..end]
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

fn held(grant: Grant) -> String {
    match grant {
        Grant::Held { token, .. } => token.expose_secret().to_owned(),
        _ => panic!("a held token expected"),
    }
}

#[tokio::test]
async fn each_server_is_connected_separately_and_disconnect_forgets_only_its_tokens() {
    // Tokens that outlive the test, so "untouched" means the very same token.
    let app = test_app_with(json!({ "dev_idp": {
        "bind": "127.0.0.1:0",
        "web_redirect_uri": "http://127.0.0.1:3000/auth/callback",
        "access_token_lifetime_secs": 3600,
    } }))
    .await;
    let alice = app.sign_in("alice").await;

    // Signed in: mcp-tools works (no consent needed there); sales is listed, not connected, its tools
    // not offered, and the chat says so.
    let [tools, sales] = &app.connections("alice").await[..] else {
        panic!("two servers expected")
    };
    assert_eq!(tools.name, "tools");
    assert!(
        matches!(tools.reach, Reach::Reached { tools: n, .. } if n > 0),
        "{tools:?}"
    );
    let GrantView::Connected {
        audience,
        scopes,
        expires,
    } = &tools.grant
    else {
        panic!("tools connected: {tools:?}")
    };
    assert_eq!(audience, "api://portcullis-mcp");
    assert_eq!(scopes, &["mcp:tools"]);
    assert!(expires.contains("UTC (in "), "{expires}");
    assert_eq!(sales.name, "sales");
    assert_eq!(sales.reach, Reach::NotConnected);
    assert_eq!(sales.grant, GrantView::NotConnected);
    assert_eq!(
        app.withheld("alice").await,
        [WithheldServer {
            name: "sales".into(),
            unavailable: None
        }]
    );
    let page = app.get("/connections", Some(&alice)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Connect sales"), "{}", page.body);
    let notices = app
        .call(&alice, "connections/html", json!({ "notices": true }))
        .await;
    let notices: String = serde_json::from_str(&notices.body).unwrap();
    assert!(
        notices.contains(r#"sales is not connected: its tools are not offered. <a rel="external" data-testid="server-connect" href="/auth/connect?server=sales">Connect sales</a>"#),
        "{notices}"
    );

    let tools_token = held(app.grant("alice", TOOLS_SCOPE).await);
    assert!(
        !page.body.contains(&tools_token),
        "no token text on the page"
    );

    // The user picks another account at the IdP: nothing changes.
    let other = app.connect_as(&alice, "sales", "bob", "consent").await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST, "{}", other.body);
    assert!(other.body.contains("different account"));
    assert!(
        other
            .body
            .contains(r#"<a href="/connections">Back to Connections</a>"#)
    );
    assert!(matches!(app.grant("alice", SALES_SCOPE).await, Grant::None));
    // Cancel on the consent page: not connected, still signed in.
    let cancelled = app.connect_as(&alice, "sales", "alice", "cancel").await;
    assert_eq!(cancelled.status, StatusCode::BAD_REQUEST);
    assert!(
        cancelled.body.contains("sales was not connected"),
        "{}",
        cancelled.body
    );
    assert!(matches!(app.grant("alice", SALES_SCOPE).await, Grant::None));

    // Connect: back where she was, same session; sales connected with its own audience and scope; the
    // first server's token untouched.
    let back = app.connect_as(&alice, "sales", "alice", "consent").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.location(), "/chat");
    let [tools, sales] = &app.connections("alice").await[..] else {
        panic!("two servers expected")
    };
    assert!(matches!(tools.grant, GrantView::Connected { .. }));
    let GrantView::Connected {
        audience, scopes, ..
    } = &sales.grant
    else {
        panic!("sales connected: {sales:?}")
    };
    assert_eq!(audience, "api://portcullis-sales");
    assert_eq!(scopes, &["sales:read"]);
    assert!(
        matches!(
            &sales.reach,
            Reach::Reached {
                tools: 5,
                protocol_version: Some(_)
            }
        ),
        "{sales:?}"
    );
    assert!(app.withheld("alice").await.is_empty());
    assert!(
        held(app.grant("alice", TOOLS_SCOPE).await) == tools_token,
        "tools token untouched"
    );
    let page = app.get("/connections", Some(&alice)).await;
    assert!(
        page.body
            .contains(r#"data-testid="grant-audience">api://portcullis-sales</dd>"#)
            && page
                .body
                .contains(r#"data-testid="grant-scopes">sales:read</dd>"#),
        "{}",
        page.body
    );
    let sales_token = held(app.grant("alice", SALES_SCOPE).await);
    assert!(!page.body.contains(&sales_token) && !page.body.contains(&tools_token));
    assert!(!page.body.contains("eyJ"), "no JWT text on the page");

    // Audience both ways: each server refuses the other's token (401).
    for (server, token) in [
        (&app.dev.mcp[0], &sales_token),
        (&app.dev.mcp[1], &tools_token),
    ] {
        let response = app
            .http
            .post(server.url.clone())
            .bearer_auth(token)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{}",
            server.name
        );
    }

    // Disconnect sales: only its tokens go; it stays off (no silent refresh) until connected again.
    let reply = app.disconnect(Some(&alice), "sales").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), "/connections");
    assert!(matches!(
        app.grant("alice", SALES_SCOPE).await,
        Grant::Disconnected
    ));
    assert!(
        held(app.grant("alice", TOOLS_SCOPE).await) == tools_token,
        "tools token untouched"
    );
    assert!(matches!(
        app.state
            .auth
            .tokens
            .access_token(&app.user_key("alice"), SALES_SCOPE)
            .await,
        Err(server::auth::token_cache::TokenError::NotConnected)
    ));
    assert_eq!(app.withheld("alice").await.len(), 1);
    let [_, sales] = &app.connections("alice").await[..] else {
        panic!("two servers expected")
    };
    assert_eq!(sales.grant, GrantView::Disconnected);
    assert_eq!(
        app.disconnect(Some(&alice), "nope").await.status,
        StatusCode::NOT_FOUND
    );
    // Not signed in: nothing happens; from another site: refused before anything happens.
    assert_eq!(
        app.disconnect(None, "sales").await.status,
        StatusCode::SEE_OTHER
    );
    let forged = app
        .send(
            Request::post("/connections/disconnect")
                .header(header::COOKIE, &alice)
                .header("sec-fetch-site", "cross-site")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("server=tools"))
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(matches!(
        app.grant("alice", TOOLS_SCOPE).await,
        Grant::Held { .. }
    ));
    // A sign-out purges her tokens, not her choice.
    app.state
        .auth
        .tokens
        .purge(&app.user_key("alice"))
        .await
        .unwrap();
    assert!(matches!(
        app.grant("alice", SALES_SCOPE).await,
        Grant::Disconnected
    ));
    assert!(matches!(app.grant("alice", TOOLS_SCOPE).await, Grant::None));

    // Connecting again needs no new consent (granted before): straight back to the page the link was
    // on (its Referer), never to another site.
    let page = "http://127.0.0.1:3000/chat/abc?x=1";
    let back = app
        .connect_from(&alice, "sales", "alice", "consent", Some(page))
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.location(), "/chat/abc?x=1");
    assert!(app.withheld("alice").await.is_empty());
    let elsewhere = Some("https://evil.example/chat");
    let back = app
        .connect_from(&alice, "sales", "alice", "consent", elsewhere)
        .await;
    assert_eq!(back.location(), "/connections");

    // Bob accepted the consent page in the refused attempt above: the provider honours that consent,
    // so his agent reaches sales without a Connect (as Entra does for a granted scope).
    app.sign_in("bob").await;
    assert!(app.withheld("bob").await.is_empty());
    // Signed out, Connect is a sign-in that comes back to it.
    let signed_out = app.get("/auth/connect?server=sales", None).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert!(
        signed_out
            .location()
            .starts_with("/auth/login?return_to=/auth/connect%3Fserver%3Dsales%26return_to%3D"),
        "{}",
        signed_out.location()
    );
}

/// Starts the sales server on `bind` trusting the app's dev IdP; cancel `stop` to take it down.
async fn start_sales(app: &TestApp, bind: SocketAddr, stop: &CancellationToken) -> Url {
    // Its own data folder: the dev stack's sales has one already.
    let data = app._dir.path().join("own-sales");
    std::fs::create_dir_all(&data).unwrap();
    dev_stack::mcp::start_sales(
        bind,
        app.dev.idp.as_ref().unwrap(),
        &data,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_server_that_goes_away_is_withdrawn_and_comes_back_by_itself() {
    // mcp-tools from the dev stack; sales started (and stopped) by the test on a fixed free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = SocketAddr::from(([127, 0, 0, 1], port));
    let mut app = test_app().await;
    let sales_stop = CancellationToken::new();
    let sales_url = start_sales(&app, bind, &sales_stop).await;
    let tools = app.dev.mcp[0].clone();
    app.config.mcp_servers = Some(vec![
        tools.clone(),
        agent::mcp::ServerSpec {
            name: "sales".into(),
            url: sales_url.clone(),
            scope: SALES_SCOPE.into(),
            protocol: tools.protocol,
        },
    ]);
    let app = app.restart().await;
    let alice = app.sign_in("alice").await;
    let back = app.connect_as(&alice, "sales", "alice", "consent").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert!(app.withheld("alice").await.is_empty());
    let identity = Identity {
        key: app.user_key("alice"),
        name: "Alice Smith".into(),
    };

    // Sales goes away: withdrawn with the reason; mcp-tools still listed and working.
    sales_stop.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.state
        .servers
        .directory
        .refresh_catalog(&UserKey::from(identity.key.as_str()))
        .await;
    let withheld = app.withheld("alice").await;
    assert_eq!(withheld.len(), 1, "{withheld:?}");
    assert_eq!(withheld[0].name, "sales");
    assert!(withheld[0].unavailable.is_some(), "{withheld:?}");
    let listed = app.state.directory.list(&identity).await.ok().unwrap();
    assert!(listed[0].tools.as_ref().is_ok_and(|t| !t.is_empty()));
    assert!(listed[1].tools.is_err());
    // A turn meanwhile: it says sales is unavailable, and mcp-tools' tool runs.
    let view = app.turn(&alice, "a random number between 1 and 10").await;
    let notices: Vec<&str> = (view.entries.iter())
        .filter_map(|e| match e {
            Entry::Notice { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        notices.len() == 1 && notices[0].starts_with("Unavailable: sales ("),
        "{notices:?}"
    );
    assert!(
        view.entries.iter().any(|e| matches!(e, Entry::ToolCall(call)
            if call.server == "tools" && call.tool == "get_random_number" && call.status == CallStatus::Done)),
        "{view:?}"
    );

    // It comes back on the same address: offered again within seconds, without anyone doing anything.
    let again = CancellationToken::new();
    start_sales(&app, bind, &again).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if app.withheld("alice").await.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sales did not come back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    // And the next turn has no notice.
    let view = app.turn(&alice, "a random number between 1 and 10").await;
    assert!(
        !view
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Notice { .. })),
        "{view:?}"
    );
    again.cancel();
}
