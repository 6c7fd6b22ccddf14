//! The authorization endpoint: a server-rendered sign-in page listing the dev users, with a consent line
//! naming the client and the requested scopes. Choosing a user signs in and issues a code, unless the
//! request asks for scopes of a consent-tracking resource (Graph, sales) the user has not granted that
//! client, or says `prompt=consent`: then a consent page comes first, and its Accept records the
//! consent and issues the code, its Cancel answers `access_denied`.
//!
//! Forgery: every POST is validated again from scratch; an Accept must also carry the single-use ticket
//! of the consent page this IdP rendered for that user, client, redirect URI and scope, which a page on
//! another site cannot read. Both pages are `no-store`, unframeable, and may post only here and to the
//! client's origin.
//!
//! Errors about the client or its redirect URI are shown on the page and never redirected (no open
//! redirect); every other error goes back to the client's registered redirect URI with `state` and `iss`,
//! before any page is shown: among them a `resource` parameter (RFC 8707, several allowed) that is not an
//! identifier URI of the resource the scopes name (`invalid_target`, Entra's AADSTS9010010).

use std::sync::Arc;

use axum::{
    Form,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    Inner, consent,
    directory::{DevUser, ScopeRequest, parse_scope},
    indicators::indicators,
    pages, random_token,
    store::{ClientRow, CodeRow, now},
};

/// Authorization codes live this long.
const CODE_LIFETIME_SECS: i64 = 60;

/// Parameters of an authorization request (query on GET, form on POST).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    response_mode: Option<String>,
    /// OIDC `prompt`; `consent` shows the consent page even when nothing is missing.
    prompt: Option<String>,
    /// POST only: the chosen dev user, or empty with `action=cancel`.
    #[serde(default)]
    user: String,
    /// POST only: empty (a user was chosen), `cancel`, or `consent` (Accept on the consent page).
    #[serde(default)]
    action: String,
    /// POST only: the consent page's single-use ticket.
    consent_ticket: Option<String>,
    /// RFC 8707 resource indicators, in order; empty values left out.
    #[serde(default)]
    resource: Vec<String>,
}

impl AuthorizeParams {
    /// The parameters of a query or form. `resource` may come several times (RFC 8707 §2); any other
    /// parameter at most once (RFC 6749 §3.1), or the request is refused: which of two `redirect_uri`s
    /// would be meant?
    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, String> {
        let resources = indicators(&pairs);
        let mut fields = serde_json::Map::new();
        for (name, value) in pairs {
            if name == "resource" {
                continue;
            }
            if fields.contains_key(&name) {
                return Err(format!("The parameter {name} was sent more than once."));
            }
            fields.insert(name, serde_json::Value::String(value));
        }
        fields.insert("resource".to_owned(), resources.into());
        serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|error| format!("The request is malformed: {error}."))
    }

    /// The authorization request as the pages carry it through their forms.
    fn hidden(&self) -> Vec<(&'static str, &str)> {
        let mut fields: Vec<(&'static str, &str)> = [
            ("client_id", Some(&self.client_id)),
            ("redirect_uri", Some(&self.redirect_uri)),
            ("response_type", Some(&self.response_type)),
            ("scope", Some(&self.scope)),
            ("state", self.state.as_ref()),
            ("nonce", self.nonce.as_ref()),
            ("code_challenge", self.code_challenge.as_ref()),
            ("code_challenge_method", self.code_challenge_method.as_ref()),
            ("prompt", self.prompt.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v.as_str())))
        .collect();
        fields.extend(self.resource.iter().map(|r| ("resource", r.as_str())));
        fields
    }

    fn prompts_consent(&self) -> bool {
        self.prompt
            .as_deref()
            .is_some_and(|p| p.split_whitespace().any(|p| p == "consent"))
    }
}

/// A validated request, ready to be shown or granted.
struct Valid {
    client: ClientRow,
    scope: ScopeRequest,
}

/// What went wrong, and how to tell whom.
enum Failure {
    /// Shown on the IdP's page: the client or redirect URI cannot be trusted.
    Page(StatusCode, String),
    /// Sent back to the (verified) redirect URI.
    Redirect(&'static str, String),
}

/// RFC 8252 §7.3: loopback redirect URIs of native (public) clients may use any port.
fn redirect_matches(client: &ClientRow, requested: &str) -> bool {
    if client.redirect_uris.iter().any(|r| r == requested) {
        return true;
    }
    let Ok(requested) = Url::parse(requested) else {
        return false;
    };
    let loopback = matches!(requested.host_str(), Some("127.0.0.1" | "[::1]"));
    client.is_public()
        && loopback
        && requested.scheme() == "http"
        && client.redirect_uris.iter().any(|registered| {
            Url::parse(registered).is_ok_and(|mut registered| {
                let mut candidate = requested.clone();
                let _ = registered.set_port(None);
                let _ = candidate.set_port(None);
                registered == candidate
            })
        })
}

async fn validate(inner: &Inner, params: &AuthorizeParams) -> Result<Valid, Failure> {
    let client = inner
        .store
        .client(&params.client_id)
        .await
        .map_err(|_| {
            Failure::Page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The sign-in service failed.".into(),
            )
        })?
        .ok_or_else(|| {
            Failure::Page(
                StatusCode::BAD_REQUEST,
                format!("Unknown application (client_id {:?}).", params.client_id),
            )
        })?;
    if params.redirect_uri.is_empty() || !redirect_matches(&client, &params.redirect_uri) {
        return Err(Failure::Page(
            StatusCode::BAD_REQUEST,
            format!(
                "The redirect URI {:?} is not registered for {}.",
                params.redirect_uri, client.name
            ),
        ));
    }
    if params.response_type != "code" {
        return Err(Failure::Redirect(
            "unsupported_response_type",
            "only response_type=code is supported".into(),
        ));
    }
    if params
        .response_mode
        .as_deref()
        .is_some_and(|m| m != "query")
    {
        return Err(Failure::Redirect(
            "invalid_request",
            "only response_mode=query is supported".into(),
        ));
    }
    match (
        &params.code_challenge,
        params.code_challenge_method.as_deref(),
    ) {
        (Some(challenge), Some("S256")) if (43..=128).contains(&challenge.len()) => {}
        (Some(_), Some("S256")) => {
            return Err(Failure::Redirect(
                "invalid_request",
                "malformed code_challenge".into(),
            ));
        }
        (Some(_), _) => {
            return Err(Failure::Redirect(
                "invalid_request",
                "code_challenge_method must be S256".into(),
            ));
        }
        (None, _) if client.is_public() => {
            return Err(Failure::Redirect(
                "invalid_request",
                "PKCE (code_challenge with S256) is required for public clients".into(),
            ));
        }
        (None, _) => {}
    }
    let scope = parse_scope(&params.scope, &inner.resources)
        .map_err(|e| Failure::Redirect("invalid_scope", e))?;
    if scope.default_scope {
        return Err(Failure::Redirect(
            "invalid_scope",
            ".default is for the client-credentials and on-behalf-of grants".into(),
        ));
    }
    if scope.oidc.is_empty() && scope.resource.is_none() {
        return Err(Failure::Redirect(
            "invalid_scope",
            "no scope requested".into(),
        ));
    }
    inner
        .check_target(&params.resource, &scope)
        .map_err(|error| Failure::Redirect("invalid_target", error.to_string()))?;
    Ok(Valid { client, scope })
}

fn redirect_with(inner: &Inner, params: &AuthorizeParams, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(&params.redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "The redirect URI is not a URL.");
    };
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in pairs {
            query.append_pair(key, value);
        }
        if let Some(state) = &params.state {
            query.append_pair("state", state);
        }
        // RFC 9207: tells the client which issuer answered (mix-up defence).
        query.append_pair("iss", &inner.issuer());
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (status, Html(pages::sign_in_error(message))).into_response()
}

fn fail(inner: &Inner, params: &AuthorizeParams, failure: Failure) -> Response {
    match failure {
        Failure::Page(status, message) => error_page(status, &message),
        Failure::Redirect(code, description) => redirect_with(
            inner,
            params,
            &[("error", code), ("error_description", &description)],
        ),
    }
}

/// The checks both the page and the choice go through: tenant, the parameters, then the whole request.
async fn admit(
    inner: &Inner,
    tenant: &str,
    pairs: Vec<(String, String)>,
) -> Result<(AuthorizeParams, Valid), Response> {
    if tenant != inner.tenant_id {
        return Err(error_page(StatusCode::NOT_FOUND, "Unknown tenant."));
    }
    let params = AuthorizeParams::from_pairs(pairs)
        .map_err(|message| error_page(StatusCode::BAD_REQUEST, &message))?;
    match validate(inner, &params).await {
        Ok(valid) => Ok((params, valid)),
        Err(failure) => Err(fail(inner, &params, failure)),
    }
}

/// GET: the sign-in page.
pub async fn show(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (params, valid) = match admit(&inner, &tenant, pairs).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let granted = valid.scope.to_scope_string();
    let page = pages::sign_in(&pages::SignIn {
        client: &valid.client.name,
        scopes: granted.split(' ').collect(),
        hidden: params.hidden(),
        users: &inner.users,
    });
    html_page(page, &params)
}

/// An IdP page: never cached, never framed, its form posting only here (and, through the redirect that
/// follows, to the client's origin).
fn html_page(page: String, params: &AuthorizeParams) -> Response {
    let mut response = Html(page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    // The form posts back here and is then redirected to the client (browsers apply form-action to
    // that redirect too); nothing may frame the page.
    let client_origin = Url::parse(&params.redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    if let Ok(policy) = header::HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {client_origin}; frame-ancestors 'none'"
    )) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// POST: the user's choice. Every parameter is validated again (nothing from the GET is trusted).
pub async fn submit(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (params, valid) = match admit(&inner, &tenant, pairs).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    if params.action == "cancel" {
        let description = match params.consent_ticket {
            Some(_) => "the user declined to consent",
            None => "the user cancelled sign-in",
        };
        return redirect_with(
            &inner,
            &params,
            &[
                ("error", "access_denied"),
                ("error_description", description),
            ],
        );
    }
    let Some(user) = inner.user(&params.user) else {
        return error_page(StatusCode::BAD_REQUEST, "Choose one of the listed users.");
    };
    let page = consent::TicketFor {
        username: user.username.clone(),
        client_id: valid.client.client_id.clone(),
        redirect_uri: params.redirect_uri.clone(),
        scope: valid.scope.to_scope_string(),
    };
    if params.action == "consent" {
        if let Err(response) = accept_consent(&inner, &params, &valid, page).await {
            return response;
        }
    } else {
        match to_ask(&inner, user, &valid, &params).await {
            Ok(None) => {}
            Ok(Some(scopes)) => return consent_page(&inner, &params, &valid, user, page, scopes),
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "reading consents failed");
                return error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The sign-in service failed.",
                );
            }
        }
    }
    let code = random_token();
    let row = CodeRow {
        client_id: valid.client.client_id.clone(),
        redirect_uri: params.redirect_uri.clone(),
        username: user.username.clone(),
        scope: valid.scope.to_scope_string(),
        nonce: params.nonce.clone(),
        code_challenge: params.code_challenge.clone(),
        family_id: random_token(),
        expires_at: now() + CODE_LIFETIME_SECS,
    };
    if let Err(error) = inner.store.insert_code(&code, &row).await {
        tracing::error!(
            error = format!("{error:#}"),
            "storing an authorization code failed"
        );
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The sign-in service failed.",
        );
    }
    tracing::info!(client = %row.client_id, user = %row.username, "dev IdP issued an authorization code");
    redirect_with(&inner, &params, &[("code", &code)])
}

/// The permissions to ask `user` for, as `(scope as requested, description)`, or `None` to go on:
/// every requested scope with `prompt=consent`, else the consent-tracked ones not yet granted.
async fn to_ask(
    inner: &Inner,
    user: &DevUser,
    valid: &Valid,
    params: &AuthorizeParams,
) -> anyhow::Result<Option<Vec<(String, String)>>> {
    if params.prompts_consent() {
        return Ok(Some(consent::describe_request(&valid.scope)));
    }
    let checked = consent::check(
        &inner.store,
        &user.username,
        &valid.client.client_id,
        valid.scope.clone(),
    )
    .await?;
    Ok(checked.err().map(|missing| {
        missing
            .scopes
            .iter()
            .map(|s| {
                (
                    missing.resource.qualified(s),
                    consent::describe(Some(&missing.resource), s),
                )
            })
            .collect()
    }))
}

/// Shows the consent page, with a fresh ticket its Accept must bring back.
fn consent_page(
    inner: &Inner,
    params: &AuthorizeParams,
    valid: &Valid,
    user: &DevUser,
    page: consent::TicketFor,
    scopes: Vec<(String, String)>,
) -> Response {
    let Some(ticket) = inner.consent_tickets.issue(page) else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many sign-ins are waiting for consent; try again later.",
        );
    };
    let mut hidden = params.hidden();
    hidden.push(("user", &user.username));
    hidden.push(("consent_ticket", &ticket));
    let html = pages::consent(&pages::Consent {
        client: &valid.client.name,
        user,
        scopes,
        hidden,
    });
    tracing::info!(client = %valid.client.client_id, user = %user.username, "dev IdP asks for consent");
    html_page(html, params)
}

/// Accept on the consent page: the ticket must be the one issued for this very page; then the
/// consent-tracked scopes of the request are recorded for the user and client.
async fn accept_consent(
    inner: &Inner,
    params: &AuthorizeParams,
    valid: &Valid,
    page: consent::TicketFor,
) -> Result<(), Response> {
    let ticket = params.consent_ticket.as_deref().unwrap_or_default();
    if !inner.consent_tickets.redeem(ticket, &page) {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "This consent page has expired or was not shown by this sign-in service. Start again from \
             the application.",
        ));
    }
    let rows = consent::rows_for(&page.username, &page.client_id, &valid.scope);
    if let Err(error) = inner.store.grant_consents(&rows).await {
        tracing::error!(error = format!("{error:#}"), "recording consent failed");
        return Err(error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The sign-in service failed.",
        ));
    }
    let scopes: Vec<&str> = rows.iter().map(|r| r.scope.as_str()).collect();
    tracing::info!(
        client = %page.client_id,
        user = %page.username,
        scopes = %scopes.join(" "),
        "dev IdP recorded consent"
    );
    Ok(())
}

/// RFC 7636 S256.
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let valid_verifier = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    valid_verifier && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_example() {
        // RFC 7636 appendix B.
        assert!(pkce_matches(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!pkce_matches(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX"
        ));
    }
}
