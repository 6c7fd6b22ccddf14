//! The on-behalf-of side of the test issuer and a Graph stand-in, both real HTTP servers.
//!
//! - The token endpoint authenticates the client (`client_secret_post` or `_basic`), checks the grant's
//!   parameters and that the assertion / subject token is one this issuer signed for mcp-tools, counts
//!   every request, and answers "consent required" (Entra's AADSTS65001 for the OBO grant, `invalid_scope`
//!   for RFC 8693) for user and scope pairs whose consent is withheld. It issues opaque Graph tokens.
//! - The Graph stand-in accepts only tokens the endpoint issued with the right scope, serves `/v1.0/me`
//!   and `/v1.0/me/calendarView` per user, and records every bearer token and query it receives.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Duration as Span, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use url::Url;

use super::{AUDIENCE, Issuer, IssuerState, keys};

pub const CLIENT_ID: &str = "mcp-tools-obo-client";
pub const CLIENT_SECRET: &str = "obo-client-secret~value";
pub const GRAPH: &str = "https://graph.microsoft.com";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// `https://graph.microsoft.com/<permission>`.
pub fn scope(permission: &str) -> String {
    format!("{GRAPH}/{permission}")
}

/// One request the token endpoint received.
#[derive(Debug, Clone)]
pub struct ExchangeRequest {
    pub form: HashMap<String, String>,
    pub authorization: Option<String>,
}

/// A Graph token the endpoint issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub oid: String,
    pub scope: String,
}

pub struct TokenEndpoint {
    requests: Mutex<Vec<ExchangeRequest>>,
    exchanges: AtomicUsize,
    issued: Mutex<HashMap<String, Issued>>,
    withheld: Mutex<HashSet<(String, String)>>,
    expires_in: AtomicU64,
    delay_ms: AtomicU64,
}

impl Default for TokenEndpoint {
    fn default() -> Self {
        Self {
            requests: Mutex::new(Vec::new()),
            exchanges: AtomicUsize::new(0),
            issued: Mutex::new(HashMap::new()),
            withheld: Mutex::new(HashSet::new()),
            expires_in: AtomicU64::new(3600),
            delay_ms: AtomicU64::new(0),
        }
    }
}

impl Issuer {
    /// Requests the token endpoint received (successful or not).
    pub fn exchanges(&self) -> usize {
        self.state.obo.exchanges.load(Ordering::SeqCst)
    }

    pub fn exchange_requests(&self) -> Vec<ExchangeRequest> {
        self.state.obo.requests.lock().unwrap().clone()
    }

    /// `user` has not consented to `permission` (e.g. `Calendars.Read`) until [`Issuer::grant_consent`].
    pub fn withhold_consent(&self, user: &str, permission: &str) {
        self.state
            .obo
            .withheld
            .lock()
            .unwrap()
            .insert((format!("oid-{user}"), scope(permission)));
    }

    pub fn grant_consent(&self, user: &str, permission: &str) {
        self.state
            .obo
            .withheld
            .lock()
            .unwrap()
            .remove(&(format!("oid-{user}"), scope(permission)));
    }

    /// Lifetime of the Graph tokens issued from now on.
    pub fn set_expires_in(&self, secs: u64) {
        self.state.obo.expires_in.store(secs, Ordering::SeqCst);
    }

    /// How long each exchange takes (so concurrent callers overlap).
    pub fn set_exchange_delay(&self, delay: Duration) {
        self.state
            .obo
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn issued(&self, token: &str) -> Option<Issued> {
        self.state.obo.issued.lock().unwrap().get(token).cloned()
    }

    pub fn issued_count(&self) -> usize {
        self.state.obo.issued.lock().unwrap().len()
    }
}

fn oauth_error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// `client_id` / `client_secret` from HTTP Basic (form-encoded, RFC 6749 §2.3.1) or the body.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("v={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

/// The `oid` of a token this issuer signed for mcp-tools.
fn subject_oid(issuer: &str, token: &str) -> Option<String> {
    let jwk = &keys()[0].jwk;
    let key = DecodingKey::from_rsa_components(jwk["n"].as_str()?, jwk["e"].as_str()?).ok()?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .ok()?
        .claims;
    claims["oid"].as_str().map(str::to_owned)
}

pub(super) async fn token(
    State(state): State<Arc<IssuerState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let endpoint = &state.obo;
    endpoint.exchanges.fetch_add(1, Ordering::SeqCst);
    endpoint.requests.lock().unwrap().push(ExchangeRequest {
        form: form.clone(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let delay = endpoint.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if client_credentials(&headers, &form) != Some((CLIENT_ID.into(), CLIENT_SECRET.into())) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid_client" }),
        );
    }
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    let (subject, consent_error) = match grant {
        JWT_BEARER
            if form.get("requested_token_use").map(String::as_str) == Some("on_behalf_of") =>
        {
            (
                form.get("assertion"),
                json!({
                    "error": "invalid_grant",
                    "error_description": "AADSTS65001: The user or administrator has not consented to use the application.",
                    "error_codes": [65001],
                    "suberror": "consent_required"
                }),
            )
        }
        TOKEN_EXCHANGE
            if form.get("subject_token_type").map(String::as_str) == Some(ACCESS_TOKEN_TYPE)
                && form.get("requested_token_type").map(String::as_str)
                    == Some(ACCESS_TOKEN_TYPE) =>
        {
            (
                form.get("subject_token"),
                json!({ "error": "invalid_scope", "error_description": "consent missing" }),
            )
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                json!({ "error": "unsupported_grant_type" }),
            );
        }
    };
    let issuer = state.issuer.lock().unwrap().clone();
    let Some(oid) = subject.and_then(|token| subject_oid(&issuer, token)) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_grant", "error_description": "bad assertion" }),
        );
    };
    let Some(scope) = form.get("scope").cloned() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_request" }),
        );
    };
    if endpoint
        .withheld
        .lock()
        .unwrap()
        .contains(&(oid.clone(), scope.clone()))
    {
        return oauth_error(StatusCode::BAD_REQUEST, consent_error);
    }
    let access_token = {
        let mut issued = endpoint.issued.lock().unwrap();
        let token = format!("graph-token-{}-{oid}", issued.len() + 1);
        issued.insert(
            token.clone(),
            Issued {
                oid,
                scope: scope.clone(),
            },
        );
        token
    };
    Json(json!({
        "token_type": "Bearer",
        "access_token": access_token,
        "expires_in": endpoint.expires_in.load(Ordering::SeqCst),
        "scope": scope,
    }))
    .into_response()
}

/// The Graph stand-in.
#[derive(Clone)]
pub struct GraphStub {
    pub url: Url,
    state: Arc<GraphState>,
}

struct GraphState {
    issuer: Issuer,
    received: Mutex<Vec<String>>,
    queries: Mutex<Vec<HashMap<String, String>>>,
}

impl GraphStub {
    pub async fn start(issuer: &Issuer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(GraphState {
            issuer: issuer.clone(),
            received: Mutex::new(Vec::new()),
            queries: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1.0/me", get(me))
            .route("/v1.0/me/calendarView", get(calendar_view))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: Url::parse(&format!("http://{addr}")).unwrap(),
            state,
        }
    }

    /// Every bearer token Graph received, in order.
    pub fn received_tokens(&self) -> Vec<String> {
        self.state.received.lock().unwrap().clone()
    }

    /// The query parameters of every calendarView request.
    pub fn calendar_queries(&self) -> Vec<HashMap<String, String>> {
        self.state.queries.lock().unwrap().clone()
    }
}

/// Graph's refusal.
fn refusal((status, code): (StatusCode, &'static str)) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": "refused" } })),
    )
        .into_response()
}

/// The token's holder when it is an issued Graph token with `permission`, or Graph's refusal.
fn authorize(
    state: &GraphState,
    headers: &HeaderMap,
    permission: &str,
) -> Result<String, (StatusCode, &'static str)> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let Some(token) = &token {
        state.received.lock().unwrap().push(token.clone());
    }
    let Some(issued) = token.and_then(|t| state.issuer.issued(&t)) else {
        return Err((StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"));
    };
    if issued.scope != scope(permission) {
        return Err((StatusCode::FORBIDDEN, "Authorization_RequestDenied"));
    }
    Ok(issued.oid)
}

async fn me(State(state): State<Arc<GraphState>>, headers: HeaderMap) -> Response {
    let oid = match authorize(&state, &headers, "User.Read") {
        Ok(oid) => oid,
        Err(refused) => return refusal(refused),
    };
    let user = oid.trim_start_matches("oid-");
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "id": oid,
        "displayName": format!("{user} Example"),
        "mail": format!("{user}@example.test"),
        "jobTitle": "Engineer",
        "officeLocation": "Building 7",
        "userPrincipalName": format!("{user}@example.test"),
    }))
    .into_response()
}

fn graph_time(at: DateTime<Utc>) -> Value {
    // Graph writes seven fractional digits.
    json!({ "dateTime": format!("{}.0000000", at.format("%Y-%m-%dT%H:%M:%S")), "timeZone": "UTC" })
}

async fn calendar_view(
    State(state): State<Arc<GraphState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let oid = match authorize(&state, &headers, "Calendars.Read") {
        Ok(oid) => oid,
        Err(refused) => return refusal(refused),
    };
    state.queries.lock().unwrap().push(query.clone());
    let parse = |name: &str| {
        query
            .get(name)
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(start), Some(_end)) = (parse("startDateTime"), parse("endDateTime")) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "code": "ErrorInvalidParameter", "message": "window" } })),
        )
            .into_response();
    };
    let user = oid.trim_start_matches("oid-").to_owned();
    // "busy" users have more events than one page holds.
    let count: i64 = if user.starts_with("busy") { 60 } else { 2 };
    let top: i64 = query.get("$top").and_then(|t| t.parse().ok()).unwrap_or(10);
    let events: Vec<Value> = (0..count.min(top))
        .map(|i| {
            let begins = start + Span::hours(i + 1);
            json!({
                "subject": format!("{user} meeting {}", i + 1),
                "start": graph_time(begins),
                "end": graph_time(begins + Span::minutes(30)),
                "location": { "displayName": format!("Room {}", i + 1) },
                "organizer": { "emailAddress": { "name": format!("{user} Example"), "address": format!("{user}@example.test") } },
            })
        })
        .collect();
    let mut body = json!({ "value": events });
    if count > top {
        body["@odata.nextLink"] =
            json!("https://graph.microsoft.com/v1.0/me/calendarView?$skip=50");
    }
    Json(body).into_response()
}
