//! The Microsoft Graph tools end to end over real HTTP: a real mcp-tools server, a test issuer whose
//! token endpoint performs (and counts) the exchanges, a Graph stand-in that records every token it
//! receives, and real rmcp clients in both protocol generations.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    Issuer, Server,
    client::{ALL, Generation, about_text, call, connect_handler, ok, text_of, tool_error},
    obo::{
        ACCESS_TOKEN_TYPE, CLIENT_ID, CLIENT_SECRET, GraphStub, JWT_BEARER, TOKEN_EXCHANGE, scope,
    },
};
use mcp_tools::config::{ClientAuth, OboGrant};
use rmcp::{
    ClientHandler, ErrorData, RoleClient,
    model::{
        CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
        ElicitationAction, ElicitationCapability, FormElicitationCapability,
        UrlElicitationCapability,
    },
    service::RequestContext,
};
use secrecy::SecretString;
use serde_json::{Value, json};

/// The generations with URL-mode elicitation.
const URL_GENERATIONS: [Generation; 2] = [Generation::V2025_11_25, Generation::V2026_07_28];

/// What the client's user does with a URL elicitation.
#[derive(Clone)]
enum OnUrl {
    /// Consents at the provider (the test flips the issuer's record), then accepts.
    ConsentThenAccept {
        issuer: Issuer,
        user: String,
        permission: String,
    },
    /// Accepts without consenting.
    Accept,
    Decline,
    Cancel,
}

#[derive(Clone)]
struct TestClient {
    generation: Generation,
    /// `None`: no elicitation capability; `Some(false)`: form only; `Some(true)`: form and URL.
    elicitation: Option<bool>,
    on_url: OnUrl,
    asked: Asked,
}

/// The URL elicitations a client's user was shown: (message, URL).
type Asked = Arc<Mutex<Vec<(String, String)>>>;

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        let capabilities = match self.elicitation {
            None => ClientCapabilities::default(),
            Some(url) => {
                let mut elicitation =
                    ElicitationCapability::new().with_form(FormElicitationCapability::new());
                if url {
                    elicitation = elicitation.with_url(UrlElicitationCapability::new());
                }
                ClientCapabilities::builder()
                    .enable_elicitation_with(elicitation)
                    .build()
            }
        };
        self.generation.client_config(capabilities, "graph-test")
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::UrlElicitationParams { message, url, .. } = request else {
            panic!("URL elicitation expected");
        };
        assert_eq!(self.elicitation, Some(true), "asked without URL support");
        self.asked.lock().unwrap().push((message, url));
        Ok(ElicitResult::new(match &self.on_url {
            OnUrl::ConsentThenAccept {
                issuer,
                user,
                permission,
            } => {
                issuer.grant_consent(user, permission);
                ElicitationAction::Accept
            }
            OnUrl::Accept => ElicitationAction::Accept,
            OnUrl::Decline => ElicitationAction::Decline,
            OnUrl::Cancel => ElicitationAction::Cancel,
        }))
    }
}

type Client = common::client::Client<TestClient>;

fn asked_count(client: &Client) -> usize {
    client.service().asked.lock().unwrap().len()
}

struct Setup {
    issuer: Issuer,
    graph: GraphStub,
    server: Server,
}

impl Setup {
    /// Connects `user` with a fresh token after withholding their consent to `Calendars.Read`.
    async fn connect_without_calendar_consent(
        &self,
        user: &str,
        generation: Generation,
        elicitation: Option<bool>,
        on_url: OnUrl,
    ) -> (Client, Asked) {
        self.issuer.withhold_consent(user, "Calendars.Read");
        connect_with(
            &self.server,
            self.issuer.token(user),
            generation,
            elicitation,
            on_url,
        )
        .await
    }
}

async fn setup(grant: OboGrant, client_auth: Option<ClientAuth>) -> Setup {
    let issuer = Issuer::start().await;
    let graph = GraphStub::start(&issuer).await;
    let graph_url = graph.url.clone();
    let server = Server::start_with_issuer(issuer.clone(), move |builder| {
        let builder = builder
            .obo(CLIENT_ID, SecretString::from(CLIENT_SECRET), grant)
            .graph_base_url(graph_url);
        match client_auth {
            Some(auth) => builder.obo_client_auth(auth),
            None => builder,
        }
    })
    .await;
    Setup {
        issuer,
        graph,
        server,
    }
}

async fn connect_with(
    server: &Server,
    token: String,
    generation: Generation,
    elicitation: Option<bool>,
    on_url: OnUrl,
) -> (Client, Asked) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let handler = TestClient {
        generation,
        elicitation,
        on_url,
        asked: asked.clone(),
    };
    let client = connect_handler(server, token, generation, handler).await;
    (client, asked)
}

async fn connect(server: &Server, user: &str, generation: Generation) -> Client {
    let token = server.issuer.token(user);
    connect_with(server, token, generation, None, OnUrl::Decline)
        .await
        .0
}

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn graph_tools_are_absent_without_obo_configuration() {
    let server = Server::start().await;
    for generation in ALL {
        let client = connect(&server, "alice", generation).await;
        let names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert!(!names.is_empty());
        assert!(
            !names
                .iter()
                .any(|n| n == "get_my_profile" || n == "list_my_events"),
            "{generation:?}: {names:?}"
        );
        let error = client
            .call_tool(CallToolRequestParams::new("get_my_profile"))
            .await;
        assert!(
            error.is_err(),
            "{generation:?}: an unlisted tool is unknown"
        );
        client.cancel().await.unwrap();
    }
    assert_eq!(server.issuer.exchanges(), 0);
}

#[tokio::test]
async fn graph_tools_are_listed_read_only_with_output_schemas() {
    let setup = setup(OboGrant::EntraObo, None).await;
    for generation in ALL {
        let client = connect(&setup.server, "alice", generation).await;
        let tools = client.list_all_tools().await.unwrap();
        for name in ["get_my_profile", "list_my_events"] {
            let tool = tools
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{generation:?}: {name} listed"));
            let annotations = tool.annotations.clone().expect("annotations");
            assert_eq!(annotations.read_only_hint, Some(true), "{name}");
            assert_eq!(annotations.open_world_hint, Some(true), "{name}");
            assert_eq!(annotations.destructive_hint, Some(false), "{name}");
            let output =
                Value::Object((*tool.output_schema.clone().expect("outputSchema")).clone());
            let expected = if name == "get_my_profile" {
                "displayName"
            } else {
                "events"
            };
            assert!(
                output["properties"][expected].is_object(),
                "{name}: {output}"
            );
        }
        let events = tools.iter().find(|t| t.name == "list_my_events").unwrap();
        let input = Value::Object((*events.input_schema).clone());
        assert!(
            input["properties"]["start"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("RFC 3339")),
            "{input}"
        );
        assert!(
            input.get("required").is_none_or(|r| r == &json!([])),
            "{input}"
        );
        client.cancel().await.unwrap();
    }
    // The about resource explains the exchange.
    let client = connect(&setup.server, "alice", Generation::V2025_11_25).await;
    let text = about_text(&client).await;
    assert!(text.contains("`list_my_events`"), "{text}");
    assert!(text.contains("never forward your token"), "{text}");
    // Listing exchanges nothing.
    assert_eq!(setup.issuer.exchanges(), 0);
}

#[tokio::test]
async fn profile_and_events_come_from_graph_with_exchanged_tokens_only() {
    let setup = setup(OboGrant::EntraObo, None).await;
    let inbound = setup.issuer.token("alice");
    for generation in ALL {
        let (client, asked) = connect_with(
            &setup.server,
            inbound.clone(),
            generation,
            Some(true),
            OnUrl::Decline,
        )
        .await;
        let profile = ok(&client, "get_my_profile", json!({})).await;
        assert_eq!(
            profile.structured_content,
            Some(json!({
                "displayName": "alice Example",
                "mail": "alice@example.test",
                "jobTitle": "Engineer",
                "officeLocation": "Building 7",
            })),
            "{generation:?}"
        );
        let text = text_of(&profile);
        assert!(text.contains("Name: alice Example"), "{text}");
        assert!(text.contains("Office: Building 7"), "{text}");

        let events = ok(&client, "list_my_events", json!({})).await;
        let structured = events
            .structured_content
            .clone()
            .expect("structuredContent");
        let rows = structured["events"].as_array().expect("events");
        assert_eq!(rows.len(), 2, "{structured}");
        assert_eq!(rows[0]["subject"], "alice meeting 1");
        assert_eq!(rows[0]["location"], "Room 1");
        assert_eq!(rows[0]["organizer"], "alice Example");
        assert!(
            rows[0]["start"].as_str().unwrap().ends_with('Z'),
            "{structured}"
        );
        assert_eq!(structured["truncated"], false);
        let text = text_of(&events);
        assert_eq!(
            text.lines().count(),
            3,
            "a heading and one line per event: {text}"
        );
        assert!(text.contains("alice meeting 2 at Room 2"), "{text}");
        assert!(asked.lock().unwrap().is_empty(), "alice has consented");
        client.cancel().await.unwrap();
    }
    // One exchange per scope for all three generations' calls.
    assert_eq!(setup.issuer.exchanges(), 2);

    // The inbound token never reached Graph; every token Graph saw was issued by the exchange.
    let received = setup.graph.received_tokens();
    assert_eq!(received.len(), 6);
    for token in &received {
        assert_ne!(token, &inbound);
        let issued = setup.issuer.issued(token).expect("an exchanged token");
        assert_eq!(issued.oid, "oid-alice");
    }

    // The exchanges were Entra OBO requests carrying the inbound token only as the assertion, with
    // client_secret_post (the discovery document lists it).
    let requests = setup.issuer.exchange_requests();
    let scopes: Vec<&str> = requests.iter().map(|r| r.form["scope"].as_str()).collect();
    assert_eq!(
        scopes,
        [
            scope("User.Read").as_str(),
            scope("Calendars.Read").as_str()
        ]
    );
    for request in &requests {
        let form = &request.form;
        assert_eq!(form["grant_type"], JWT_BEARER);
        assert_eq!(form["assertion"], inbound);
        assert_eq!(form["requested_token_use"], "on_behalf_of");
        assert_eq!(form["client_id"], CLIENT_ID);
        assert_eq!(form["client_secret"], CLIENT_SECRET);
        assert!(request.authorization.is_none());
        let carrying_inbound: Vec<&String> = form
            .iter()
            .filter(|(_, v)| v.contains(&inbound))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(carrying_inbound, ["assertion"]);
        assert!(!form.contains_key("subject_token"));
    }

    // The calendar request had the window, the page size and the order.
    let queries = setup.graph.calendar_queries();
    assert_eq!(queries.len(), 3);
    for query in &queries {
        assert_eq!(query["$top"], "50");
        assert_eq!(query["$orderby"], "start/dateTime");
        assert!(query.contains_key("startDateTime") && query.contains_key("endDateTime"));
    }
}

#[tokio::test]
async fn token_exchange_grant_with_basic_client_authentication() {
    let setup = setup(OboGrant::TokenExchange, Some(ClientAuth::ClientSecretBasic)).await;
    let inbound = setup.issuer.token("erin");
    let (client, _) = connect_with(
        &setup.server,
        inbound.clone(),
        Generation::V2026_07_28,
        None,
        OnUrl::Decline,
    )
    .await;
    ok(&client, "get_my_profile", json!({})).await;
    let requests = setup.issuer.exchange_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let form = &request.form;
    assert_eq!(form["grant_type"], TOKEN_EXCHANGE);
    assert_eq!(form["subject_token"], inbound);
    assert_eq!(form["subject_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(form["requested_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(form["scope"], scope("User.Read"));
    for absent in ["assertion", "requested_token_use", "client_secret"] {
        assert!(!form.contains_key(absent), "{absent}: {form:?}");
    }
    assert!(
        request
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "{request:?}"
    );
    assert!(setup.graph.received_tokens().iter().all(|t| t != &inbound));
}

#[tokio::test]
async fn sequential_calls_exchange_once_per_user_and_scope() {
    let setup = setup(OboGrant::EntraObo, None).await;
    let alice = connect(&setup.server, "alice", Generation::V2025_11_25).await;
    for _ in 0..5 {
        ok(&alice, "get_my_profile", json!({})).await;
    }
    assert_eq!(setup.issuer.exchanges(), 1);
    // A new inbound token of the same user (another connection) reuses the cached Graph token.
    let alice_again = connect(&setup.server, "alice", Generation::V2026_07_28).await;
    ok(&alice_again, "get_my_profile", json!({})).await;
    assert_eq!(setup.issuer.exchanges(), 1);
    // Another scope, another exchange; another user, another exchange.
    ok(&alice, "list_my_events", json!({})).await;
    assert_eq!(setup.issuer.exchanges(), 2);
    let bob = connect(&setup.server, "bob", Generation::V2025_11_25).await;
    let profile = ok(&bob, "get_my_profile", json!({})).await;
    assert_eq!(
        profile.structured_content.unwrap()["displayName"],
        "bob Example"
    );
    assert_eq!(setup.issuer.exchanges(), 3);
}

#[tokio::test]
async fn concurrent_first_calls_make_one_exchange() {
    let setup = setup(OboGrant::EntraObo, None).await;
    setup.issuer.set_exchange_delay(Duration::from_millis(300));
    let mut clients = Vec::new();
    for i in 0..20 {
        let generation = if i % 2 == 0 {
            Generation::V2025_11_25
        } else {
            Generation::V2026_07_28
        };
        clients.push(Arc::new(connect(&setup.server, "carol", generation).await));
    }
    let calls = clients.iter().map(|client| {
        let client = client.clone();
        tokio::spawn(async move { call(&client, "list_my_events", json!({})).await.unwrap() })
    });
    for result in futures::future::join_all(calls).await {
        let result = result.unwrap();
        assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    }
    assert_eq!(setup.issuer.exchanges(), 1);
    assert_eq!(setup.graph.received_tokens().len(), 20);
}

#[tokio::test]
async fn tokens_that_expire_within_the_margin_are_exchanged_again() {
    let setup = setup(OboGrant::EntraObo, None).await;
    let client = connect(&setup.server, "dave", Generation::V2025_11_25).await;
    // Below the 60 s margin: usable for this call, never cached.
    setup.issuer.set_expires_in(30);
    ok(&client, "get_my_profile", json!({})).await;
    ok(&client, "get_my_profile", json!({})).await;
    assert_eq!(setup.issuer.exchanges(), 2);
    setup.issuer.set_expires_in(3600);
    ok(&client, "get_my_profile", json!({})).await;
    ok(&client, "get_my_profile", json!({})).await;
    assert_eq!(setup.issuer.exchanges(), 3);
}

#[tokio::test]
async fn missing_consent_is_asked_by_url_and_the_retried_call_returns_the_events() {
    let setup = setup(OboGrant::EntraObo, None).await;
    for generation in URL_GENERATIONS {
        let user = format!("bob-{generation:?}");
        let before = setup.issuer.exchanges();
        let (client, asked) = setup
            .connect_without_calendar_consent(
                &user,
                generation,
                Some(true),
                OnUrl::ConsentThenAccept {
                    issuer: setup.issuer.clone(),
                    user: user.clone(),
                    permission: "Calendars.Read".into(),
                },
            )
            .await;
        let events = ok(&client, "list_my_events", json!({})).await;
        let rows = events.structured_content.unwrap()["events"].clone();
        assert_eq!(rows.as_array().unwrap().len(), 2, "{generation:?}: {rows}");
        assert_eq!(rows[0]["subject"], format!("{user} meeting 1"));

        let asked = asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "{generation:?}");
        let (message, url) = &asked[0];
        assert!(message.contains("Calendars.Read"), "{message}");
        assert!(message.contains("Accept"), "{message}");
        assert!(
            url.starts_with(&format!("{}/authorize?", setup.issuer.url)),
            "{url}"
        );
        let query = query_of(url);
        assert_eq!(param(&query, "client_id"), Some(CLIENT_ID));
        assert_eq!(param(&query, "response_type"), Some("code"));
        assert_eq!(
            param(&query, "scope"),
            Some(scope("Calendars.Read").as_str())
        );
        assert_eq!(param(&query, "prompt"), Some("consent"));
        assert_eq!(
            param(&query, "redirect_uri"),
            Some(format!("http://{}/oauth/consent-complete", setup.server.addr).as_str())
        );
        assert_eq!(
            param(&query, "login_hint"),
            Some(format!("{user}@example.test").as_str())
        );
        // The refused exchange and the one after consent.
        assert_eq!(setup.issuer.exchanges() - before, 2, "{generation:?}");

        // The profile needs only User.Read, which the user has: no question.
        ok(&client, "get_my_profile", json!({})).await;
        assert_eq!(asked_count(&client), 1, "{generation:?}");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn declined_consent_is_a_tool_error_and_a_later_retry_works() {
    let setup = setup(OboGrant::EntraObo, None).await;
    for generation in URL_GENERATIONS {
        for on_url in [OnUrl::Decline, OnUrl::Cancel] {
            let user = format!("frank-{generation:?}-{}", matches!(on_url, OnUrl::Cancel));
            let (client, asked) = setup
                .connect_without_calendar_consent(&user, generation, Some(true), on_url)
                .await;
            let error = tool_error(&client, "list_my_events", json!({})).await;
            assert!(error.contains("Consent not granted"), "{error}");
            assert_eq!(asked.lock().unwrap().len(), 1);
            // Consent given elsewhere later: the failure was not cached.
            setup.issuer.grant_consent(&user, "Calendars.Read");
            ok(&client, "list_my_events", json!({})).await;
            assert_eq!(asked.lock().unwrap().len(), 1);
            client.cancel().await.unwrap();
        }
    }
}

#[tokio::test]
async fn accepting_without_consenting_reports_what_is_still_missing() {
    let setup = setup(OboGrant::EntraObo, None).await;
    for generation in URL_GENERATIONS {
        let user = format!("gina-{generation:?}");
        let before = setup.issuer.exchanges();
        let (client, asked) = setup
            .connect_without_calendar_consent(&user, generation, Some(true), OnUrl::Accept)
            .await;
        let error = tool_error(&client, "list_my_events", json!({})).await;
        assert!(error.contains("still missing"), "{error}");
        assert!(error.contains(&scope("Calendars.Read")), "{error}");
        assert!(error.contains(&asked.lock().unwrap()[0].1), "{error}");
        // Asked once, exchanged twice (before the question and once after it), no loop.
        assert_eq!(asked.lock().unwrap().len(), 1);
        assert_eq!(setup.issuer.exchanges() - before, 2);
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn clients_without_url_elicitation_get_a_tool_error_saying_what_and_where() {
    let setup = setup(OboGrant::TokenExchange, None).await;
    for generation in ALL {
        for elicitation in [None, Some(false)] {
            let user = format!("hank-{generation:?}-{elicitation:?}");
            let (client, _) = setup
                .connect_without_calendar_consent(&user, generation, elicitation, OnUrl::Accept)
                .await;
            let error = tool_error(&client, "list_my_events", json!({})).await;
            assert!(error.contains(&scope("Calendars.Read")), "{error}");
            assert!(
                error.contains(&format!("{}/authorize?", setup.issuer.url)),
                "{error}"
            );
            assert!(error.contains("prompt=consent"), "{error}");
            // The user follows the instructions; the retry succeeds.
            setup.issuer.grant_consent(&user, "Calendars.Read");
            ok(&client, "list_my_events", json!({})).await;
            client.cancel().await.unwrap();
        }
    }
}

#[tokio::test]
async fn bad_windows_are_tool_errors_before_any_exchange() {
    let setup = setup(OboGrant::EntraObo, None).await;
    let client = connect(&setup.server, "ivan", Generation::V2026_07_28).await;
    for (args, says) in [
        (json!({ "start": "tomorrow" }), "RFC 3339"),
        (
            json!({ "start": "2026-03-05T00:00:00Z", "end": "2026-03-04T00:00:00Z" }),
            "after start",
        ),
        (
            json!({ "start": "2026-03-01T00:00:00Z", "end": "2026-06-01T00:00:00Z" }),
            "62 days",
        ),
    ] {
        let error = tool_error(&client, "list_my_events", args).await;
        assert!(error.contains(says), "{error}");
    }
    assert_eq!(setup.issuer.exchanges(), 0);
    let window = ok(
        &client,
        "list_my_events",
        json!({ "start": "2026-03-02T00:00:00+01:00", "end": "2026-03-03T00:00:00Z" }),
    )
    .await;
    let structured = window.structured_content.unwrap();
    assert_eq!(structured["start"], "2026-03-01T23:00:00Z");
    assert_eq!(structured["end"], "2026-03-03T00:00:00Z");
    let query = &setup.graph.calendar_queries()[0];
    assert_eq!(query["startDateTime"], "2026-03-01T23:00:00Z");
    assert_eq!(query["endDateTime"], "2026-03-03T00:00:00Z");
}

#[tokio::test]
async fn at_most_fifty_events_are_returned() {
    let setup = setup(OboGrant::EntraObo, None).await;
    let client = connect(&setup.server, "busy-jane", Generation::V2025_11_25).await;
    let result = ok(&client, "list_my_events", json!({})).await;
    let structured = result.structured_content.clone().unwrap();
    assert_eq!(structured["events"].as_array().unwrap().len(), 50);
    assert_eq!(structured["truncated"], true);
    assert!(text_of(&result).contains("more exist"));
}

#[tokio::test]
async fn the_consent_landing_page_is_static_and_public() {
    let server = Server::start().await;
    let response = common::http()
        .get(format!(
            "{}/oauth/consent-complete?code=the-code&state=s",
            server.origin()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Consent recorded. Return to your chat and continue."),
        "{body}"
    );
    assert!(!body.contains("the-code"));
}
