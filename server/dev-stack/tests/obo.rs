//! The on-behalf-of flow of issue #12, whole, against the real pieces in process: the dev IdP, the Graph
//! stand-in and mcp-tools (`dev_stack::mcp::start` with a downstream), reached by real rmcp clients over
//! Streamable HTTP in both protocol generations (2025-11-25 sessions, 2026-07-28 stateless).
//!
//! It proves that:
//! - the Graph tools answer with `structuredContent` read from Graph with an exchanged token whose `aud`
//!   is Graph's, `azp` mcp-tools', `oid`/`tid` the caller's and `scp` exactly the one scope the tool
//!   needs; the token mcp-tools received never reaches Graph, and Graph refuses it when sent on purpose;
//! - exchanged tokens are cached: repeated and concurrent calls use one, a token near expiry is not kept;
//! - bob, who has not consented to `Calendars.Read`, is sent to the dev IdP's consent page by a URL
//!   elicitation; after a browser-like walk through it, the same call returns his events; a client
//!   without URL elicitation gets a tool error naming the page and the scope instead, and a retry after
//!   consent works; alice is never asked;
//! - the same holds with RFC 8693 token exchange instead of Entra's on-behalf-of grant.

mod common;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use anyhow::{Context, ensure};
use chrono::{DateTime, Utc};
use dev_stack::{
    IdpConfig,
    graph::{self, GraphStandIn},
    idp::DevUser,
    mcp,
};
use mcp_tools::config::OboGrant;
use rmcp::{
    ClientHandler, ErrorData, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
        ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability,
        FormElicitationCapability, Implementation, ProtocolVersion, UrlElicitationCapability,
    },
    service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

use common::{
    Stack, browser, claims, endpoint, hidden_fields, idp_config, start_mcp, start_with_graph, user,
    web_sign_in,
};

const GRAPH_AUD: &str = "https://graph.microsoft.com";
const USER_READ: &str = "User.Read";
const CALENDARS_READ: &str = "Calendars.Read";
/// A fixed week (Monday to Monday), so the expected events can be computed from the stand-in's data.
const WEEK: (&str, &str) = ("2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Generation {
    /// Sessions; the server elicits with a server-to-client request.
    V2025_11_25,
    /// Stateless; the server answers with an input-required result and the client retries.
    V2026_07_28,
}

const GENERATIONS: [Generation; 2] = [Generation::V2025_11_25, Generation::V2026_07_28];

/// The user's mcp-tools token as the web app gets it: authorization code + PKCE S256, confidential.
async fn mcp_token(stack: &Stack, username: &str) -> String {
    let scope = format!("openid profile {}", mcp::SCOPE);
    let body = web_sign_in(stack, username, &scope).await;
    let token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert_eq!(claims(&token)["aud"], mcp::AUDIENCE);
    token
}

/// What a person does with a consent link: open it, choose `username` on the sign-in page, press Accept
/// (`data-testid="consent-accept"`) on the consent page, and land on mcp-tools' page. Returns the
/// landing page's text. Forms post to the page's own URL, as a browser posts a form without `action`.
async fn consent_in_browser(link: &str, username: &str, scope: &str) -> anyhow::Result<String> {
    let http = browser();
    let sign_in = http.get(link).send().await?;
    ensure!(
        sign_in.status() == 200,
        "sign-in page: {}",
        sign_in.status()
    );
    let page = sign_in.text().await?;
    ensure!(
        page.contains(&format!("data-testid=\"dev-user-{username}\"")),
        "no {username} on the sign-in page"
    );
    let mut form = hidden_fields(&page);
    form.push(("user".into(), username.into()));
    let consent = http.post(link).form(&form).send().await?;
    ensure!(
        consent.status() == 200,
        "consent page: {}",
        consent.status()
    );
    let page = consent.text().await?;
    ensure!(
        page.contains("data-testid=\"consent-accept\""),
        "not a consent page"
    );
    ensure!(
        page.contains(&format!("data-testid=\"consent-scope-{scope}\"")),
        "the consent page does not ask for {scope}"
    );
    let mut form = hidden_fields(&page);
    ensure!(
        form.iter().any(|(k, _)| k == "consent_ticket"),
        "no consent ticket"
    );
    form.push(("action".into(), "consent".into()));
    let accepted = http.post(link).form(&form).send().await?;
    ensure!(
        accepted.status() == 303,
        "after Accept: {}",
        accepted.status()
    );
    let landing = accepted.headers()["location"].to_str()?.to_owned();
    ensure!(
        Url::parse(&landing)?.path() == "/oauth/consent-complete",
        "landed on {landing}"
    );
    let page = http.get(&landing).send().await?;
    ensure!(page.status() == 200, "landing page: {}", page.status());
    page.text().await.context("landing page")
}

/// How the test client handles URL elicitations.
#[derive(Clone)]
enum OnUrl {
    /// Record the request and decline (for users who must never be asked).
    RecordAndDecline,
    /// Walk through the consent page as `username`, then accept.
    Consent { username: &'static str },
}

/// One URL elicitation the client received, and what came of the consent walk.
#[derive(Clone, Debug)]
struct Asked {
    message: String,
    url: String,
    landing: Result<String, String>,
}

#[derive(Clone)]
struct TestClient {
    generation: Generation,
    /// `None`: no elicitation capability; `Some(false)`: form only; `Some(true)`: form and URL.
    elicitation: Option<bool>,
    on_url: OnUrl,
    asked: Arc<Mutex<Vec<Asked>>>,
}

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
        ClientConfig::new(capabilities, Implementation::new("obo-flow-test", "1.0"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        // Anything but a URL elicitation to a client that declared URL mode is recorded as a failure.
        let (message, url) = match request {
            ElicitRequestParams::UrlElicitationParams { message, url, .. }
                if self.elicitation == Some(true) =>
            {
                (message, url)
            }
            other => (format!("unexpected elicitation: {other:?}"), String::new()),
        };
        let (landing, action) = match &self.on_url {
            OnUrl::Consent { username } if !url.is_empty() => {
                match consent_in_browser(&url, username, &graph_scope(CALENDARS_READ)).await {
                    Ok(page) => (Ok(page), ElicitationAction::Accept),
                    Err(error) => (Err(format!("{error:#}")), ElicitationAction::Cancel),
                }
            }
            _ => (Err("not walked".into()), ElicitationAction::Decline),
        };
        self.asked.lock().unwrap().push(Asked {
            message,
            url,
            landing,
        });
        Ok(ElicitResult::new(action))
    }
}

type Client = RunningService<RoleClient, TestClient>;

/// A real rmcp client of `mcp` with `token` as its bearer header, pinned to `generation`.
async fn connect(
    mcp: &Url,
    token: &str,
    generation: Generation,
    elicitation: Option<bool>,
    on_url: OnUrl,
) -> (Client, Arc<Mutex<Vec<Asked>>>) {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp.as_str().to_owned())
            .auth_header(token.to_owned())
            .reinit_on_expired_session(false),
    );
    let asked = Arc::new(Mutex::new(Vec::new()));
    let handler = TestClient {
        generation,
        elicitation,
        on_url,
        asked: asked.clone(),
    };
    let client = match handler.generation {
        // Discover mode does not fall back: a server without the stateless generation is an error.
        Generation::V2026_07_28 => handler
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .unwrap(),
        Generation::V2025_11_25 => {
            let client = handler.serve(transport).await.unwrap();
            let negotiated = client.peer_info().map(|i| i.protocol_version.clone());
            assert_eq!(negotiated, Some(ProtocolVersion::V_2025_11_25));
            client
        }
    };
    (client, asked)
}

async fn call(client: &Client, tool: &'static str, args: Value) -> CallToolResult {
    client
        .call_tool(
            CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap()
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A successful call's `structuredContent`.
async fn ok(client: &Client, tool: &'static str, args: Value) -> Value {
    let result = call(client, tool, args).await;
    assert_ne!(result.is_error, Some(true), "{tool}: {}", text_of(&result));
    assert!(!text_of(&result).is_empty(), "{tool}: a text form as well");
    result.structured_content.expect("structuredContent")
}

/// A failed call's text.
async fn tool_error(client: &Client, tool: &'static str, args: Value) -> String {
    let result = call(client, tool, args).await;
    assert_eq!(
        result.is_error,
        Some(true),
        "{tool} should fail: {}",
        text_of(&result)
    );
    text_of(&result)
}

fn week() -> Value {
    json!({ "start": WEEK.0, "end": WEEK.1 })
}

fn graph_scope(permission: &str) -> String {
    format!("{GRAPH_AUD}/{permission}")
}

/// `user`'s profile as the Graph stand-in's data say it.
fn expected_profile(user: &DevUser) -> Value {
    let profile = graph::profile(&user.username);
    json!({
        "displayName": user.name,
        "mail": user.email,
        "jobTitle": profile.job_title,
        "officeLocation": profile.office_location,
    })
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// The (subject, start) pairs of `user`'s events in [`WEEK`], from the stand-in's data.
fn expected_week(user: &DevUser) -> Vec<(String, DateTime<Utc>)> {
    graph::calendar_view(&user.oid, &user.username, at(WEEK.0), at(WEEK.1), false, 50)
        .into_iter()
        .map(|e| (e.subject.to_owned(), e.start))
        .collect()
}

fn events_of(structured: &Value) -> Vec<(String, DateTime<Utc>)> {
    structured["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap().to_owned(),
                at(e["start"].as_str().unwrap()),
            )
        })
        .collect()
}

/// The Graph stand-in's received tokens for `path` (`/v1.0/me`, `/v1.0/me/calendarView`), distinct.
fn distinct_tokens(graph: &GraphStandIn, path: &str) -> BTreeSet<String> {
    graph
        .received()
        .iter()
        .filter(|r| r.path.eq_ignore_ascii_case(path))
        .map(|r| r.token.expose_secret().to_owned())
        .collect()
}

/// Every token the Graph stand-in received is an exchanged Graph token for `user` with exactly the
/// route's scope, and none is one of `inbound` (mcp-tools' own tokens).
fn assert_only_exchanged_tokens(stack: &Stack, user: &DevUser, inbound: &[&str]) {
    let received = stack.graph().received();
    assert!(!received.is_empty());
    for record in &received {
        let raw = record.token.expose_secret();
        assert!(!inbound.contains(&raw), "an inbound token reached Graph");
        let claims = claims(raw);
        let scope = if record.path == "/v1.0/me" {
            USER_READ
        } else {
            assert!(
                record.path.eq_ignore_ascii_case("/v1.0/me/calendarView"),
                "{}",
                record.path
            );
            CALENDARS_READ
        };
        assert_eq!(claims["aud"], GRAPH_AUD, "{claims}");
        assert_eq!(claims["azp"], "portcullis-mcp", "{claims}");
        assert_eq!(claims["oid"], json!(user.oid), "{claims}");
        assert_eq!(claims["tid"], stack.idp.tenant_id(), "{claims}");
        assert_eq!(claims["scp"], scope, "{}: {claims}", record.path);
        assert_eq!(claims["iss"], json!(stack.idp.issuer()), "{claims}");
        // The stand-in's record agrees with the token.
        assert_eq!(record.aud.as_deref(), Some(GRAPH_AUD));
        assert_eq!(record.scp.as_deref(), Some(scope));
    }
}

/// The consent link in a tool error's text.
fn link_in(text: &str, authorize: &str) -> String {
    text.split_whitespace()
        .find(|word| word.starts_with(authorize))
        .unwrap_or_else(|| panic!("no {authorize} link in: {text}"))
        .to_owned()
}

/// A consent link is the dev IdP's authorize endpoint asking mcp-tools' client for exactly
/// `Calendars.Read` with `prompt=consent`, landing back on the mcp-tools that asked.
fn assert_consent_link(stack: &Stack, mcp: &Url, link: &str, user: &DevUser) {
    let url = Url::parse(link).unwrap();
    let authorize = endpoint(stack, "oauth2/v2.0/authorize");
    assert_eq!(url.as_str().split('?').next().unwrap(), authorize);
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        param("client_id"),
        Some(stack.idp.mcp_client().client_id.as_str())
    );
    assert_eq!(param("prompt"), Some("consent"));
    assert_eq!(
        param("scope"),
        Some(graph_scope(CALENDARS_READ).as_str()),
        "exactly the missing scope"
    );
    assert_eq!(param("response_type"), Some("code"));
    let landing = mcp.join("/oauth/consent-complete").unwrap();
    assert_eq!(param("redirect_uri"), Some(landing.as_str()));
    assert_eq!(param("login_hint"), Some(user.email.as_str()));
}

#[tokio::test]
async fn alice_reads_her_profile_and_calendar_with_exchanged_tokens_only() {
    let stack = start_with_graph(idp_config()).await;
    let mcp = start_mcp(&stack, "mcp", Some(OboGrant::EntraObo)).await;
    let alice = user(&stack, "alice").clone();
    let inbound = mcp_token(&stack, "alice").await;
    for generation in GENERATIONS {
        let (client, asked) = connect(
            &mcp,
            &inbound,
            generation,
            Some(true),
            OnUrl::RecordAndDecline,
        )
        .await;
        let profile = ok(&client, "get_my_profile", json!({})).await;
        assert_eq!(profile, expected_profile(&alice), "{generation:?}");
        let events = ok(&client, "list_my_events", week()).await;
        let expected = expected_week(&alice);
        assert!(!expected.is_empty());
        assert_eq!(events_of(&events), expected, "{generation:?}");
        assert_eq!(events["truncated"], false);
        // Without arguments: now to a week ahead, which always holds meetings.
        let upcoming = ok(&client, "list_my_events", json!({})).await;
        assert!(!events_of(&upcoming).is_empty(), "{upcoming}");
        assert!(
            asked.lock().unwrap().is_empty(),
            "{generation:?}: alice has consented, so she is never asked: {:?}",
            asked.lock().unwrap()
        );
        client.cancel().await.unwrap();
    }
    assert_only_exchanged_tokens(&stack, &alice, &[&inbound]);
    assert_eq!(stack.graph().received().len(), 6);

    // Passthrough, tried on purpose: Graph refuses mcp-tools' token by its audience.
    let refused = browser()
        .get(stack.graph().base_url().join("/v1.0/me").unwrap())
        .bearer_auth(&inbound)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audience"),
        "{body}"
    );
}

#[tokio::test]
async fn sequential_and_concurrent_calls_share_one_exchanged_token() {
    let stack = start_with_graph(idp_config()).await;
    let mcp = start_mcp(&stack, "mcp", Some(OboGrant::EntraObo)).await;
    let alice = user(&stack, "alice").clone();

    // 20 concurrent first calls, half in each generation: Graph sees one token.
    let inbound = mcp_token(&stack, "alice").await;
    let mut clients = Vec::new();
    for i in 0..20 {
        let generation = GENERATIONS[i % 2];
        let (client, _) = connect(&mcp, &inbound, generation, None, OnUrl::RecordAndDecline).await;
        clients.push(Arc::new(client));
    }
    let calls = clients.iter().map(|client| {
        let client = client.clone();
        tokio::spawn(async move { call(&client, "list_my_events", week()).await })
    });
    for result in futures::future::join_all(calls).await {
        let result = result.unwrap();
        assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    }
    let calendar = distinct_tokens(stack.graph(), "/v1.0/me/calendarView");
    assert_eq!(stack.graph().received().len(), 20);
    assert_eq!(calendar.len(), 1, "one exchange for 20 concurrent calls");

    // Sequential calls, and a fresh inbound token of the same user on a new connection: still one
    // token per scope.
    for _ in 0..5 {
        ok(&clients[0], "get_my_profile", json!({})).await;
        ok(&clients[1], "list_my_events", json!({})).await;
    }
    let again = mcp_token(&stack, "alice").await;
    assert_ne!(again, inbound);
    let (fresh, _) = connect(
        &mcp,
        &again,
        Generation::V2025_11_25,
        None,
        OnUrl::RecordAndDecline,
    )
    .await;
    ok(&fresh, "get_my_profile", json!({})).await;
    assert_eq!(distinct_tokens(stack.graph(), "/v1.0/me").len(), 1);
    assert_eq!(
        distinct_tokens(stack.graph(), "/v1.0/me/calendarView"),
        calendar
    );
    assert_eq!(stack.graph().received().len(), 31);
    assert_only_exchanged_tokens(&stack, &alice, &[&inbound, &again]);
}

#[tokio::test]
async fn tokens_that_expire_within_the_margin_are_exchanged_anew() {
    // Below mcp-tools' 60 s margin: each exchanged token serves its own call and is not kept.
    let config = IdpConfig {
        access_token_lifetime: std::time::Duration::from_secs(45),
        ..idp_config()
    };
    let stack = start_with_graph(config).await;
    let mcp = start_mcp(&stack, "mcp", Some(OboGrant::EntraObo)).await;
    let inbound = mcp_token(&stack, "alice").await;
    let (client, _) = connect(
        &mcp,
        &inbound,
        Generation::V2026_07_28,
        None,
        OnUrl::RecordAndDecline,
    )
    .await;
    for _ in 0..3 {
        ok(&client, "get_my_profile", json!({})).await;
    }
    assert_eq!(distinct_tokens(stack.graph(), "/v1.0/me").len(), 3);
}

/// Bob's consent journey in `generation` on a fresh mcp-tools (its cache must not hold a Calendars
/// token from an earlier journey): the profile needs nothing, the calendar asks once by URL, the
/// browser walk consents, and the same call returns his events.
async fn bob_consents_by_url(stack: &Stack, grant: OboGrant, generation: Generation) {
    stack.idp.reset_consents().await.unwrap();
    let mcp = start_mcp(stack, &format!("mcp-{grant:?}-{generation:?}"), Some(grant)).await;
    let bob = user(stack, "bob").clone();
    let inbound = mcp_token(stack, "bob").await;
    let (client, asked) = connect(
        &mcp,
        &inbound,
        generation,
        Some(true),
        OnUrl::Consent { username: "bob" },
    )
    .await;
    // User.Read is consented by default: no question.
    let profile = ok(&client, "get_my_profile", json!({})).await;
    assert_eq!(profile, expected_profile(&bob));
    assert!(asked.lock().unwrap().is_empty(), "{generation:?}");

    let events = ok(&client, "list_my_events", week()).await;
    assert_eq!(events_of(&events), expected_week(&bob), "{generation:?}");
    let questions = asked.lock().unwrap().clone();
    assert_eq!(
        questions.len(),
        1,
        "{generation:?}: asked once: {questions:?}"
    );
    let question = &questions[0];
    assert!(question.message.contains(CALENDARS_READ), "{question:?}");
    assert_consent_link(stack, &mcp, &question.url, &bob);
    let landing = question.landing.clone().expect("the consent walk");
    assert!(landing.contains("Consent recorded"), "{landing}");

    // Consent is remembered: later calls ask nothing.
    ok(&client, "list_my_events", json!({})).await;
    assert_eq!(asked.lock().unwrap().len(), 1, "{generation:?}");
    client.cancel().await.unwrap();
    assert_only_exchanged_tokens(stack, &bob, &[&inbound]);
}

/// A client without URL elicitation (none, or form only) in each generation: a tool error naming the
/// consent page and the scope; nothing read from bob's calendar. Returns the link.
async fn bob_is_told_where_to_consent(stack: &Stack, mcp: &Url) -> String {
    let bob = user(stack, "bob").clone();
    let inbound = mcp_token(stack, "bob").await;
    let authorize = endpoint(stack, "oauth2/v2.0/authorize");
    let mut links = BTreeSet::new();
    for generation in GENERATIONS {
        for elicitation in [None, Some(false)] {
            let (client, asked) = connect(
                mcp,
                &inbound,
                generation,
                elicitation,
                OnUrl::RecordAndDecline,
            )
            .await;
            let error = tool_error(&client, "list_my_events", week()).await;
            assert!(error.contains(CALENDARS_READ), "{error}");
            let link = link_in(&error, &authorize);
            assert_consent_link(stack, mcp, &link, &bob);
            links.insert(link);
            assert!(asked.lock().unwrap().is_empty(), "{generation:?}");
            client.cancel().await.unwrap();
        }
    }
    assert!(distinct_tokens(stack.graph(), "/v1.0/me/calendarView").is_empty());
    assert_eq!(links.len(), 1, "{links:?}");
    links.pop_first().unwrap()
}

/// After bob consented in a browser, clients of both generations without URL elicitation get his
/// events on retry.
async fn bob_retries_after_consent(stack: &Stack, mcp: &Url) {
    let bob = user(stack, "bob").clone();
    let inbound = mcp_token(stack, "bob").await;
    for generation in GENERATIONS {
        let (client, _) = connect(mcp, &inbound, generation, None, OnUrl::RecordAndDecline).await;
        let events = ok(&client, "list_my_events", week()).await;
        assert_eq!(events_of(&events), expected_week(&bob), "{generation:?}");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn bob_consents_through_a_url_elicitation_in_both_generations() {
    let stack = start_with_graph(idp_config()).await;
    for generation in GENERATIONS {
        bob_consents_by_url(&stack, OboGrant::EntraObo, generation).await;
    }
}

#[tokio::test]
async fn clients_without_url_elicitation_get_a_tool_error_and_a_retry_after_consent_works() {
    let stack = start_with_graph(idp_config()).await;
    let mcp = start_mcp(&stack, "mcp", Some(OboGrant::EntraObo)).await;
    let link = bob_is_told_where_to_consent(&stack, &mcp).await;
    // Bob follows the instructions in a browser; retries succeed without signing in again.
    let landing = consent_in_browser(&link, "bob", &graph_scope(CALENDARS_READ))
        .await
        .unwrap();
    assert!(landing.contains("Consent recorded"), "{landing}");
    bob_retries_after_consent(&stack, &mcp).await;
    assert_only_exchanged_tokens(&stack, user(&stack, "bob"), &[]);
}

#[tokio::test]
async fn rfc_8693_token_exchange_serves_alice_and_asks_bob_for_consent() {
    let stack = start_with_graph(idp_config()).await;
    // An on-behalf-of mcp-tools first, then a token-exchange one beside it, on the same IdP.
    let obo = start_mcp(&stack, "mcp-obo", Some(OboGrant::EntraObo)).await;
    let exchange = start_mcp(&stack, "mcp-token-exchange", Some(OboGrant::TokenExchange)).await;
    assert_ne!(exchange, obo);
    let alice = user(&stack, "alice").clone();
    let inbound = mcp_token(&stack, "alice").await;
    for (mcp, generation) in [&obo, &exchange].into_iter().zip(GENERATIONS) {
        let (client, asked) = connect(
            mcp,
            &inbound,
            generation,
            Some(true),
            OnUrl::RecordAndDecline,
        )
        .await;
        assert_eq!(
            ok(&client, "get_my_profile", json!({})).await,
            expected_profile(&alice)
        );
        let events = ok(&client, "list_my_events", week()).await;
        assert_eq!(events_of(&events), expected_week(&alice), "{generation:?}");
        assert!(asked.lock().unwrap().is_empty(), "{generation:?}");
        client.cancel().await.unwrap();
    }
    let (client, _) = connect(
        &exchange,
        &inbound,
        Generation::V2025_11_25,
        None,
        OnUrl::RecordAndDecline,
    )
    .await;
    ok(&client, "list_my_events", week()).await;
    assert_only_exchanged_tokens(&stack, &alice, &[&inbound]);
    // Each mcp-tools exchanged for itself: two tokens per scope in all.
    assert_eq!(distinct_tokens(stack.graph(), "/v1.0/me").len(), 2);
    assert_eq!(
        distinct_tokens(stack.graph(), "/v1.0/me/calendarView").len(),
        2
    );
    stack.graph().clear_received();

    // Bob without consent: the tool error, then the URL elicitation, in both generations.
    let link = bob_is_told_where_to_consent(&stack, &exchange).await;
    let landing = consent_in_browser(&link, "bob", &graph_scope(CALENDARS_READ))
        .await
        .unwrap();
    assert!(landing.contains("Consent recorded"), "{landing}");
    bob_retries_after_consent(&stack, &exchange).await;
    stack.graph().clear_received();
    for generation in GENERATIONS {
        bob_consents_by_url(&stack, OboGrant::TokenExchange, generation).await;
    }
}
