//! The Graph stand-in over real HTTP, with tokens from a real dev IdP: it serves `/v1.0/me` and
//! `/v1.0/me/calendarView` to Graph tokens with the right scope, refuses every other token the way
//! Graph does (401 / 403 with Graph's error shape), and records every token it is sent.

mod common;

use std::future::pending;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use dev_stack::graph;
use reqwest::{StatusCode, header};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use common::{MCP_SCOPE, Stack, claims, idp_config, start_with_graph, token, web_sign_in};

/// A token request that must succeed, authenticated as `client`; the token response.
async fn token_request(stack: &Stack, form: &[(&str, &str)], client: (&str, &str)) -> Value {
    let (status, body) = token(stack, form, Some(client)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A user's token as the web app gets it (code flow), for `scope`.
async fn user_token(stack: &Stack, user: &str, scope: &str) -> String {
    let body = web_sign_in(stack, user, scope).await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// What mcp-tools does: exchange the user's MCP token for a Graph token (on-behalf-of).
async fn graph_token(stack: &Stack, inbound: &str, scope: &str) -> String {
    let mcp = stack.idp.mcp_client();
    let body = token_request(
        stack,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("requested_token_use", "on_behalf_of"),
            ("assertion", inbound),
            ("scope", scope),
        ],
        (&mcp.client_id, mcp.client_secret.expose_secret()),
    )
    .await;
    body["access_token"].as_str().unwrap().to_owned()
}

async fn call(stack: &Stack, path_and_query: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = stack.http.get(format!(
        "{}{path_and_query}",
        stack.graph().base_url().as_str().trim_end_matches('/')
    ));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
    }
    (status, response.json().await.unwrap())
}

fn assert_graph_error(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    assert!(answer.1["error"]["message"].is_string());
    assert!(answer.1["error"]["innerError"]["request-id"].is_string());
}

fn week_from_now() -> String {
    let now = Utc::now();
    let end = now + Duration::days(7);
    format!(
        "startDateTime={}&endDateTime={}",
        now.format("%Y-%m-%dT%H:%M:%SZ"),
        end.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

fn event_start(event: &Value) -> DateTime<Utc> {
    assert_eq!(event["start"]["timeZone"], "UTC");
    let text = event["start"]["dateTime"].as_str().unwrap();
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap()
        .and_utc()
}

#[tokio::test]
async fn serves_profile_and_calendar_to_graph_tokens() {
    let stack = start_with_graph(idp_config()).await;
    assert_eq!(stack.graph().base_url().path(), "/");
    let alice = &stack.idp.users()[0];
    let inbound = user_token(&stack, "alice", MCP_SCOPE).await;
    let token = graph_token(
        &stack,
        &inbound,
        "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Calendars.Read",
    )
    .await;

    let (status, me) = call(&stack, "/v1.0/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], json!(alice.oid));
    assert_eq!(me["displayName"], "Alice Smith");
    assert_eq!(me["mail"], "alice@portcullis.dev");
    assert_eq!(me["userPrincipalName"], "alice@portcullis.dev");
    assert_eq!(me["jobTitle"], "Engineering Manager");
    assert_eq!(me["officeLocation"], "London, Room 2.10");
    let (_, selected) = call(
        &stack,
        "/v1.0/me?$select=displayName,jobTitle",
        Some(&token),
    )
    .await;
    assert_eq!(selected["displayName"], "Alice Smith");
    assert!(selected.get("mail").is_none() && selected.get("officeLocation").is_none());

    // Any week has meetings, sorted by start, in Graph's shape.
    let (status, view) = call(
        &stack,
        &format!("/v1.0/me/calendarView?{}", week_from_now()),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let events = view["value"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 10, "{}", events.len());
    let starts: Vec<_> = events.iter().map(event_start).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    let event = &events[0];
    for field in ["id", "subject"] {
        assert!(event[field].is_string(), "{field}: {event}");
    }
    assert!(event["end"]["dateTime"].is_string());
    assert!(event["location"]["displayName"].is_string());
    assert!(event["organizer"]["emailAddress"]["address"].is_string());
    assert!(event["organizer"]["emailAddress"]["name"].is_string());
    let subjects: Vec<&str> = events
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert!(subjects.contains(&"Team stand-up"), "{subjects:?}");

    // $top, its cap, $orderby, $select; the same window gives the same answer.
    let (_, two) = call(
        &stack,
        &format!("/v1.0/me/calendarView?{}&$top=2", week_from_now()),
        Some(&token),
    )
    .await;
    assert_eq!(two["value"].as_array().unwrap().len(), 2);
    let month = "startDateTime=2025-03-01T00:00:00Z&endDateTime=2025-04-30T00:00:00Z";
    let (_, capped) = call(
        &stack,
        &format!("/v1.0/me/calendarview?{month}&$top=500"),
        Some(&token),
    )
    .await;
    assert_eq!(capped["value"].as_array().unwrap().len(), 50);
    let (_, again) = call(
        &stack,
        &format!("/v1.0/me/calendarView?{month}&$top=500"),
        Some(&token),
    )
    .await;
    assert_eq!(capped, again, "deterministic");
    let (_, newest) = call(
        &stack,
        &format!("/v1.0/me/calendarView?{month}&$orderby=start/dateTime%20desc&$top=3"),
        Some(&token),
    )
    .await;
    let newest: Vec<_> = newest["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(event_start)
        .collect();
    assert_eq!(newest.len(), 3);
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "{newest:?}");
    assert!(newest[0] < "2025-04-30T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
    let (_, selected) = call(
        &stack,
        &format!("/v1.0/me/calendarView?{month}&$select=subject&$top=1"),
        Some(&token),
    )
    .await;
    let only = &selected["value"][0];
    assert!(only["subject"].is_string() && only["id"].is_string());
    assert!(only.get("location").is_none() && only.get("start").is_none());

    // A window is required, and must parse.
    let missing = call(&stack, "/v1.0/me/calendarView", Some(&token)).await;
    assert_graph_error(&missing, StatusCode::BAD_REQUEST, "ErrorInvalidParameter");
    let bad = call(
        &stack,
        "/v1.0/me/calendarView?startDateTime=soon&endDateTime=later",
        Some(&token),
    )
    .await;
    assert_graph_error(&bad, StatusCode::BAD_REQUEST, "ErrorInvalidParameter");

    // Bob sees his own data.
    let bob_inbound = user_token(&stack, "bob", MCP_SCOPE).await;
    let bob = graph_token(&stack, &bob_inbound, "User.Read").await;
    let (_, me) = call(&stack, "/v1.0/me", Some(&bob)).await;
    assert_eq!(me["displayName"], "Bob Jones");
    assert_eq!(me["jobTitle"], "Site Reliability Engineer");
}

#[tokio::test]
async fn refuses_every_token_but_a_graph_token_with_the_scope() {
    let stack = start_with_graph(idp_config()).await;
    let inbound = user_token(&stack, "alice", MCP_SCOPE).await;
    let window = format!("/v1.0/me/calendarView?{}", week_from_now());

    // No token, garbage, mcp-tools' own token (passthrough), a tampered Graph token: 401.
    assert_graph_error(
        &call(&stack, "/v1.0/me", None).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    );
    assert_graph_error(
        &call(&stack, "/v1.0/me", Some("not-a-jwt")).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    );
    let passthrough = call(&stack, "/v1.0/me", Some(&inbound)).await;
    assert_graph_error(
        &passthrough,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    );
    assert!(
        passthrough.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audience")
    );
    let user_read = graph_token(&stack, &inbound, "User.Read").await;
    let mut parts: Vec<String> = user_read.split('.').map(str::to_owned).collect();
    let mut payload = claims(&user_read);
    payload["scp"] = json!("User.Read Calendars.Read");
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let tampered = parts.join(".");
    assert_graph_error(
        &call(&stack, &window, Some(&tampered)).await,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    );

    // A Graph token without Calendars.Read: its profile, not its calendar (403).
    let (status, _) = call(&stack, "/v1.0/me", Some(&user_read)).await;
    assert_eq!(status, StatusCode::OK);
    assert_graph_error(
        &call(&stack, &window, Some(&user_read)).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    );
    // A Graph token with Calendars.Read only: the reverse.
    let calendars = graph_token(&stack, &inbound, "Calendars.Read").await;
    assert_eq!(
        call(&stack, &window, Some(&calendars)).await.0,
        StatusCode::OK
    );
    assert_graph_error(
        &call(&stack, "/v1.0/me", Some(&calendars)).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    );
    // An OIDC-only token has Graph's GUID audience but no Graph scope; an app-only Graph token has
    // no delegated scope at all.
    let oidc = user_token(&stack, "alice", "openid profile").await;
    let oidc_aud = claims(&oidc)["aud"].clone();
    assert_eq!(oidc_aud, "00000003-0000-0000-c000-000000000000");
    assert_graph_error(
        &call(&stack, "/v1.0/me", Some(&oidc)).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    );
    let web = stack.idp.web_client();
    let app = token_request(
        &stack,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
        (&web.client_id, web.client_secret.expose_secret()),
    )
    .await;
    assert_graph_error(
        &call(&stack, "/v1.0/me", app["access_token"].as_str()).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    );
    // Unknown routes answer in Graph's shape too.
    assert_graph_error(
        &call(&stack, "/v1.0/users", Some(&user_read)).await,
        StatusCode::BAD_REQUEST,
        "BadRequest",
    );

    // Every token sent was recorded as sent, with what it claims: mcp-tools' inbound token shows up
    // here only because this test sent it on purpose.
    let received = stack.graph().received();
    let sent = received.len();
    assert_eq!(sent, 10, "every request with a bearer token");
    let passthrough = received
        .iter()
        .find(|r| r.token.expose_secret() == inbound)
        .unwrap();
    assert_eq!(passthrough.aud.as_deref(), Some("api://portcullis-mcp"));
    assert_eq!(passthrough.azp.as_deref(), Some("portcullis-web"));
    assert_eq!(passthrough.path, "/v1.0/me");
    let exchanged = received
        .iter()
        .find(|r| r.token.expose_secret() == user_read)
        .unwrap();
    assert_eq!(
        exchanged.aud.as_deref(),
        Some("https://graph.microsoft.com")
    );
    assert_eq!(exchanged.azp.as_deref(), Some("portcullis-mcp"));
    assert_eq!(exchanged.scp.as_deref(), Some("User.Read"));
    assert_eq!(
        exchanged.oid.as_deref(),
        Some(stack.idp.users()[0].oid.as_str())
    );
    assert!(
        received
            .iter()
            .any(|r| r.token.expose_secret() == "not-a-jwt" && r.aud.is_none())
    );
    assert!(
        !format!("{received:?}").contains(&inbound),
        "Debug hides tokens"
    );
    stack.graph().clear_received();
    assert!(stack.graph().received().is_empty());
}

#[tokio::test]
async fn binds_loopback_only() {
    let stack = start_with_graph(idp_config()).await;
    let error = graph::start("0.0.0.0:0".parse().unwrap(), &stack.idp, pending())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("APP_DEV_GRAPH__BIND"), "{error}");
}
