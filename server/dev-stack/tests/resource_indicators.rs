//! RFC 8707 `resource` parameters at the dev IdP, over real HTTP, as Entra ID checks them since 2026: a
//! `resource` that is not an identifier URI of the resource the scopes name is refused with
//! `invalid_target` (AADSTS9010010) at the authorization endpoint (back to the registered redirect URI,
//! before any sign-in page), at the device authorization endpoint and at the token endpoint (no token);
//! the in-process mcp-tools' URL is an identifier URI of its resource once it has bound, so an MCP SDK
//! client's `resource=<MCP URL>` signs in, and its token works at mcp-tools.

mod common;

use reqwest::{StatusCode, header};
use rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use common::{
    CONSOLE, MCP_SCOPE, Pkce, REDIRECT, Stack, WEB, claims, endpoint, get, pkce, redirect_target,
    start, start_mcp,
};

/// A loopback redirect of the console's, on a port nothing listens at.
const LOOPBACK: &str = "http://127.0.0.1:45123/callback";
const MCP_AUDIENCE: &str = "api://portcullis-mcp";
const STATE: &str = "st@te&=1";

/// An authorization request of `client` with `scope` and one `resource` parameter per entry.
fn request(
    client: &str,
    redirect: &str,
    scope: &str,
    resources: &[&str],
    p: &Pkce,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("client_id", client),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", scope),
        ("state", STATE),
        ("code_challenge", &p.challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.extend(
        resources
            .iter()
            .map(|r| ("resource".to_owned(), (*r).to_owned())),
    );
    params
}

async fn authorize_get(stack: &Stack, params: &[(String, String)]) -> reqwest::Response {
    stack
        .http
        .get(endpoint(stack, "oauth2/v2.0/authorize"))
        .query(params)
        .send()
        .await
        .unwrap()
}

/// Posts the sign-in choice (what the page's form sends).
async fn authorize_post(
    stack: &Stack,
    params: &[(String, String)],
    user: &str,
) -> reqwest::Response {
    let mut form = params.to_vec();
    form.push(("user".to_owned(), user.to_owned()));
    stack
        .http
        .post(endpoint(stack, "oauth2/v2.0/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The redirect's target and query parameters; panics unless the response redirects.
fn redirected(response: &reqwest::Response) -> (Url, Vec<(String, String)>) {
    assert!(
        matches!(response.status(), StatusCode::FOUND | StatusCode::SEE_OTHER),
        "a redirect: {}",
        response.status()
    );
    redirect_target(response)
}

/// Asserts an authorization error response at `redirect` with `invalid_target`, `state` and `iss`.
fn assert_invalid_target_redirect(stack: &Stack, response: &reqwest::Response, redirect: &str) {
    let (location, pairs) = redirected(response);
    let mut target = location.clone();
    target.set_query(None);
    assert_eq!(target.as_str(), redirect, "the registered redirect URI");
    assert_eq!(get(&pairs, "error"), Some("invalid_target"), "{pairs:?}");
    assert!(
        get(&pairs, "error_description").is_some_and(|d| d.starts_with("AADSTS9010010")),
        "{pairs:?}"
    );
    assert_eq!(get(&pairs, "state"), Some(STATE));
    assert_eq!(get(&pairs, "iss"), Some(stack.idp.issuer().as_str()));
    assert_eq!(get(&pairs, "code"), None);
}

/// A token request, as the web app (`secret`: HTTP Basic with its secret) or as a public client.
async fn token(stack: &Stack, form: &[(&str, &str)], secret: bool) -> (StatusCode, Value) {
    let web = stack.idp.web_client();
    let basic = secret.then(|| (web.client_id.as_str(), web.client_secret.expose_secret()));
    common::token(stack, form, basic).await
}

fn assert_invalid_target(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_target", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("AADSTS9010010: ")),
        "{body}"
    );
    assert_eq!(body["error_codes"], serde_json::json!([9010010]), "{body}");
    for issued in ["access_token", "id_token", "refresh_token"] {
        assert!(body.get(issued).is_none(), "no {issued}: {body}");
    }
}

/// Signs `user` in through the console client with `resources` at both endpoints; the code redemption's
/// status and body.
async fn console_code_flow(
    stack: &Stack,
    scope: &str,
    at_authorize: &[&str],
    at_token: &[&str],
) -> (StatusCode, Value) {
    let p = pkce();
    let params = request(CONSOLE, LOOPBACK, scope, at_authorize, &p);
    let (_, back) = redirected(&authorize_post(stack, &params, "alice").await);
    let code = get(&back, "code").expect("a code").to_owned();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", CONSOLE),
        ("code", &code),
        ("redirect_uri", LOOPBACK),
        ("code_verifier", &p.verifier),
    ];
    form.extend(at_token.iter().map(|r| ("resource", *r)));
    token(stack, &form, false).await
}

#[tokio::test]
async fn the_authorization_endpoint_refuses_a_foreign_resource_before_any_sign_in_page() {
    let stack = start().await;
    let p = pkce();
    let scope = format!("openid offline_access {MCP_SCOPE}");
    for resources in [
        vec!["https://evil.example/mcp"],
        // A resource that exists, but not the one the scopes name.
        vec!["api://portcullis-web"],
        vec!["https://graph.microsoft.com"],
        // Every one must match.
        vec![MCP_AUDIENCE, "https://evil.example/mcp"],
        // Not a URI at all; and the App ID URI with a trailing slash is another URI.
        vec!["portcullis-mcp"],
        vec!["api://portcullis-mcp/"],
    ] {
        let response = authorize_get(&stack, &request(WEB, REDIRECT, &scope, &resources, &p)).await;
        assert_invalid_target_redirect(&stack, &response, REDIRECT);
        let body = response.text().await.unwrap();
        assert!(!body.contains("Alice Smith"), "no sign-in page: {body}");
    }
    // Scopes that name no resource (OIDC only) match no `resource`.
    let response = authorize_get(
        &stack,
        &request(WEB, REDIRECT, "openid profile", &[MCP_AUDIENCE], &p),
    )
    .await;
    assert_invalid_target_redirect(&stack, &response, REDIRECT);
    // A public client on a loopback port is answered at that very port.
    let response = authorize_get(
        &stack,
        &request(CONSOLE, LOOPBACK, &scope, &["https://evil.example/mcp"], &p),
    )
    .await;
    assert_invalid_target_redirect(&stack, &response, LOOPBACK);
    // The choice is checked again: a POST straight to the endpoint gets no code either.
    let response = authorize_post(
        &stack,
        &request(WEB, REDIRECT, &scope, &["https://evil.example/mcp"], &p),
        "alice",
    )
    .await;
    assert_invalid_target_redirect(&stack, &response, REDIRECT);

    // An untrusted client or redirect URI still gets the error page and no redirect, whatever the resource.
    for (client, redirect) in [("nobody", REDIRECT), (WEB, "https://evil.example/callback")] {
        let response = authorize_get(
            &stack,
            &request(client, redirect, &scope, &["https://evil.example/mcp"], &p),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{client} {redirect}"
        );
        assert!(response.headers().get(header::LOCATION).is_none());
        assert!(response.text().await.unwrap().contains("Sign-in error"));
    }

    // The resource's own identifier URI, several times, or none at all: the sign-in page.
    for resources in [vec![MCP_AUDIENCE], vec![MCP_AUDIENCE, MCP_AUDIENCE], vec![]] {
        let response = authorize_get(&stack, &request(WEB, REDIRECT, &scope, &resources, &p)).await;
        assert_eq!(response.status(), StatusCode::OK, "{resources:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Alice Smith"), "{resources:?}");
        assert_eq!(
            html.matches(r#"name="resource""#).count(),
            resources.len(),
            "the page carries every resource to its POST"
        );
    }

    // Any other parameter twice is refused on the page: which redirect URI would be meant?
    let mut twice = request(WEB, REDIRECT, &scope, &[], &p);
    twice.push((
        "redirect_uri".to_owned(),
        "https://evil.example/cb".to_owned(),
    ));
    let response = authorize_get(&stack, &twice).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());
}

#[tokio::test]
async fn the_mcp_url_becomes_an_identifier_uri_once_mcp_tools_has_bound() {
    let stack = start().await;
    let p = pkce();
    let scope = format!("openid offline_access {MCP_SCOPE}");
    let unbound = "http://127.0.0.1:9/mcp";
    let response = authorize_get(&stack, &request(CONSOLE, LOOPBACK, &scope, &[unbound], &p)).await;
    assert_invalid_target_redirect(&stack, &response, LOOPBACK);

    let url = start_mcp(&stack, "tools", None).await;
    // As MCP SDK clients send it (the URL from the protected-resource metadata), with the App ID URI
    // beside it, and in another spelling of the same URL.
    let shouted = url.as_str().replace("http://", "HTTP://");
    for resources in [
        vec![url.as_str()],
        vec![url.as_str(), MCP_AUDIENCE],
        vec![&shouted],
    ] {
        let response =
            authorize_get(&stack, &request(CONSOLE, LOOPBACK, &scope, &resources, &p)).await;
        assert_eq!(response.status(), StatusCode::OK, "{resources:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Alice Smith"), "the sign-in page");
    }
    // The URL identifies mcp-tools' resource, no other one, and a path below it is another URI.
    let web_scope = "api://portcullis-web/access_as_user";
    let response = authorize_get(
        &stack,
        &request(CONSOLE, LOOPBACK, web_scope, &[url.as_str()], &p),
    )
    .await;
    assert_invalid_target_redirect(&stack, &response, LOOPBACK);
    let below = url.join("mcp/extra").unwrap();
    let response = authorize_get(
        &stack,
        &request(CONSOLE, LOOPBACK, &scope, &[below.as_str()], &p),
    )
    .await;
    assert_invalid_target_redirect(&stack, &response, LOOPBACK);

    // The whole sign-in with the URL as `resource` at both endpoints: a token for mcp-tools' audience,
    // which mcp-tools takes.
    let (status, body) = console_code_flow(&stack, &scope, &[url.as_str()], &[url.as_str()]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["aud"], MCP_AUDIENCE);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str().to_owned())
            .auth_header(access.to_owned()),
    );
    let client = ().serve(transport).await.expect("mcp-tools takes the token");
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "get_random_number"),
        "{tools:?}"
    );
    client.cancel().await.unwrap();

    // A second mcp-tools of the same resource adds its URL; the first one's stays.
    let second = start_mcp(&stack, "tools-2", None).await;
    for resource in [&url, &second] {
        let response = authorize_get(
            &stack,
            &request(CONSOLE, LOOPBACK, &scope, &[resource.as_str()], &p),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{resource}");
    }
}

#[tokio::test]
async fn registering_identifier_uris_is_checked() {
    let stack = start().await;
    let url = Url::parse("http://127.0.0.1:40002/mcp").unwrap();
    let error = stack
        .idp
        .add_identifier_uri("api://unknown", &url)
        .unwrap_err();
    assert!(error.to_string().contains("api://unknown"), "{error}");
    let fragment = Url::parse("http://127.0.0.1:40002/mcp#x").unwrap();
    assert!(
        stack
            .idp
            .add_identifier_uri(MCP_AUDIENCE, &fragment)
            .is_err()
    );
    // By audience or by App ID URI (the web app's differ: `portcullis-web`, `api://portcullis-web`).
    stack.idp.add_identifier_uri(MCP_AUDIENCE, &url).unwrap();
    stack.idp.add_identifier_uri(MCP_AUDIENCE, &url).unwrap();
    let web_url = Url::parse("http://127.0.0.1:40003/").unwrap();
    stack.idp.add_identifier_uri(WEB, &web_url).unwrap();
    stack
        .idp
        .add_identifier_uri("api://portcullis-web", &web_url)
        .unwrap();
    // One URI names one resource.
    let error = stack.idp.add_identifier_uri(WEB, &url).unwrap_err();
    assert!(error.to_string().contains(MCP_AUDIENCE), "{error}");
    let own = Url::parse(MCP_AUDIENCE).unwrap();
    assert!(stack.idp.add_identifier_uri(WEB, &own).is_err());
}

#[tokio::test]
async fn the_token_endpoint_refuses_a_foreign_resource_and_issues_nothing() {
    let stack = start().await;
    let url = start_mcp(&stack, "tools", None).await;
    let scope = format!("openid offline_access {MCP_SCOPE}");
    let foreign = "https://evil.example/mcp";

    // Code redemption: the code was asked for without a resource; a foreign one at the token endpoint
    // is refused, also beside a right one.
    for at_token in [
        vec![foreign],
        vec![url.as_str(), foreign],
        vec!["api://portcullis-web"],
    ] {
        let (status, body) = console_code_flow(&stack, &scope, &[], &at_token).await;
        assert_invalid_target(status, &body);
    }
    // The App ID URI, and no resource at all, redeem as before.
    let (status, body) = console_code_flow(&stack, &scope, &[], &[MCP_AUDIENCE]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        MCP_AUDIENCE
    );
    let (status, body) = console_code_flow(&stack, &scope, &[url.as_str()], &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Refresh: a foreign resource is refused and the refresh token is not spent by it (a rotated-out
    // token coming back would revoke the grant).
    for resources in [vec![foreign], vec![MCP_AUDIENCE, foreign]] {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", CONSOLE),
            ("refresh_token", &refresh),
        ];
        form.extend(resources.iter().map(|r| ("resource", *r)));
        let (status, body) = token(&stack, &form, false).await;
        assert_invalid_target(status, &body);
    }
    // Asking by scope for another resource than the `resource` names is refused too.
    let (status, body) = token(
        &stack,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CONSOLE),
            ("refresh_token", &refresh),
            ("scope", "https://graph.microsoft.com/User.Read"),
            ("resource", url.as_str()),
        ],
        false,
    )
    .await;
    assert_invalid_target(status, &body);
    let (status, body) = token(
        &stack,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CONSOLE),
            ("refresh_token", &refresh),
            ("resource", url.as_str()),
        ],
        false,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refresh token still works: {body}"
    );
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        MCP_AUDIENCE
    );

    // Client credentials (a confidential client, `.default`).
    let app_scope = format!("{MCP_AUDIENCE}/.default");
    let form = |resource: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("scope", app_scope.as_str()),
            ("resource", resource),
        ]
    };
    let (status, body) = token(&stack, &form(foreign), true).await;
    assert_invalid_target(status, &body);
    let (status, body) = token(&stack, &form(MCP_AUDIENCE), true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        MCP_AUDIENCE
    );
}

#[tokio::test]
async fn the_device_flow_refuses_a_foreign_resource() {
    let stack = start().await;
    let scope = format!("openid {MCP_SCOPE}");
    let device = |resource: &'static str| {
        let stack = &stack;
        let scope = scope.clone();
        async move {
            let response = stack
                .http
                .post(endpoint(stack, "oauth2/v2.0/devicecode"))
                .form(&[
                    ("client_id", CONSOLE),
                    ("scope", scope.as_str()),
                    ("resource", resource),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = device("https://evil.example/mcp").await;
    assert_invalid_target(status, &body);
    assert!(body.get("device_code").is_none());
    let (status, body) = device(MCP_AUDIENCE).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let device_code = body["device_code"].as_str().unwrap();
    // Polling with a foreign resource is refused as such (not "pending"); without one it is pending.
    let poll = |resource: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CONSOLE),
            ("device_code", device_code),
        ];
        form.extend(resource.map(|r| ("resource", r)));
        form
    };
    let (status, body) = token(&stack, &poll(Some("https://evil.example/mcp")), false).await;
    assert_invalid_target(status, &body);
    let (status, body) = token(&stack, &poll(None), false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending")),
        "{body}"
    );
}
