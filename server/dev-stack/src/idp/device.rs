//! The device authorization grant (RFC 8628), Entra-shaped: the device authorization endpoint
//! (`POST /{tenant}/oauth2/v2.0/devicecode`) and the verification page the user opens on another device
//! (`/{tenant}/oauth2/v2.0/deviceauth`). The token endpoint's side (polling) is
//! `token::grants::device_code`.
//!
//! The page has three steps, each a POST to the same address: the user code (prefilled from
//! `verification_uri_complete`), then the dev user, then Accept or Cancel naming the client and every
//! requested scope; Accept records consent for consent-tracked scopes (Graph) as the authorization
//! endpoint's consent page does. Forgery: every step after the code carries a single-use ticket bound
//! to the device request (and, once chosen, the user) that only the page this IdP rendered holds, so a
//! page on another site cannot approve or cancel for the user. The pages are `no-store`, unframeable,
//! send no referrer (the complete verification URI carries the user code) and may post only here.
//!
//! User codes are 8 letters from RFC 8628 §6.1's consonant alphabet (no vowels, so no words; no digits
//! or look-alikes), shown as `XXXX-XXXX` and read case-insensitively with or without the dash. Device
//! and user codes are stored only as SHA-256 hashes.

use std::sync::Arc;

use axum::{
    Form, Json,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{
    Inner, consent,
    directory::{ScopeRequest, parse_scope},
    pages, random_token,
    store::{ClientRow, DeviceRow, DeviceStatus, NewDevice, now},
    token::{Params, TokenError, authenticate, require, split_form},
};

/// The verification page, under the tenant.
const VERIFICATION_PATH: &str = "oauth2/v2.0/deviceauth";
/// RFC 8628 §6.1: 20 consonants, 8 characters: 20^8 ≈ 2.6·10^10 codes (34 bits), enough for a code that
/// lives minutes and is typed on a page, and nothing to misread (no vowels, digits, I/O look-alikes).
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
/// Draws of a user code before giving up when each collides with a live one (practically never).
const USER_CODE_DRAWS: usize = 5;

/// A fresh user code, `XXXX-XXXX`.
pub fn new_user_code() -> String {
    let mut rng = rand::rng();
    let letters: String = (0..USER_CODE_LEN)
        .map(|_| char::from(USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())]))
        .collect();
    canonical(&letters)
}

/// `ABCDEFGH` → `ABCD-EFGH`.
fn canonical(letters: &str) -> String {
    let (head, tail) = letters.split_at(USER_CODE_LEN / 2);
    format!("{head}-{tail}")
}

/// What the user typed as a user code in canonical form: case-insensitive, the dash optional, spaces
/// ignored; `None` when it cannot be a user code of this IdP.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        letters.len() == USER_CODE_LEN && letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then(|| canonical(&letters))
}

/// RFC 8628 §3.2 (with Entra's `message`).
#[derive(Debug, Serialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: i64,
    interval: i64,
    message: String,
}

/// POST `/{tenant}/oauth2/v2.0/devicecode`: `client_id` (public clients; confidential ones
/// authenticate as at the token endpoint), `scope`, and RFC 8707 `resource`s, checked as at the token
/// endpoint. Errors are RFC 6749 §5.2 JSON.
pub async fn device_authorization(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if tenant != inner.tenant_id {
        return TokenError::new("invalid_request", "unknown tenant").into_response();
    }
    let (params, resources) = split_form(pairs);
    start(&inner, &headers, &params, &resources)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn start(
    inner: &Inner,
    headers: &HeaderMap,
    params: &Params,
    resources: &[String],
) -> Result<Response, TokenError> {
    let client = authenticate(inner, headers, params).await?;
    let scope = parse_scope(require(params, "scope")?, &inner.resources)
        .map_err(|e| TokenError::new("invalid_scope", e))?;
    // The same rules as the authorization endpoint: a user grant names its scopes.
    if scope.default_scope {
        return Err(TokenError::new(
            "invalid_scope",
            ".default is for the client-credentials and on-behalf-of grants",
        ));
    }
    if scope.oidc.is_empty() && scope.resource.is_none() {
        return Err(TokenError::new("invalid_scope", "no scope requested"));
    }
    inner.check_target(resources, &scope)?;
    let device_code = random_token();
    let row = NewDevice {
        client_id: client.client_id.clone(),
        scope: scope.to_scope_string(),
        family_id: random_token(),
        interval_secs: inner.device_poll_interval,
        expires_at: now() + inner.device_code_lifetime,
    };
    let mut user_code = None;
    for _ in 0..USER_CODE_DRAWS {
        let candidate = new_user_code();
        if inner
            .store
            .insert_device(&device_code, &candidate, &row)
            .await
            .map_err(TokenError::server)?
        {
            user_code = Some(candidate);
            break;
        }
    }
    let user_code = user_code.ok_or_else(|| {
        TokenError::server(anyhow::anyhow!(
            "no free user code after {USER_CODE_DRAWS} draws"
        ))
    })?;
    let verification_uri = inner.endpoint(VERIFICATION_PATH);
    let verification_uri_complete =
        Url::parse_with_params(&verification_uri, [("user_code", &user_code)])
            .map_err(|e| TokenError::server(e.into()))?
            .to_string();
    tracing::info!(client = %client.client_id, scope = %row.scope, "dev IdP started a device sign-in");
    let message = format!(
        "To sign in, use a web browser to open the page {verification_uri} and enter the code \
         {user_code} to authenticate."
    );
    let mut response = Json(DeviceAuthorization {
        device_code,
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: inner.device_code_lifetime,
        interval: inner.device_poll_interval,
        message,
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// What a verification page ticket is bound to: the device request (its device code's hash) and, on
/// the Accept page, the chosen user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    device: String,
    user: Option<String>,
}

/// The verification page's query: `verification_uri_complete` carries the user code.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    user_code: Option<String>,
}

/// What the verification page's forms post.
#[derive(Debug, Default, Deserialize)]
pub struct PageForm {
    /// Typed on the first step, hidden afterwards.
    #[serde(default)]
    user_code: String,
    /// The chosen dev user (a user button on the second step, hidden on the third).
    #[serde(default)]
    user: String,
    /// `code` (or empty): the code was entered; `approve`, `cancel`.
    #[serde(default)]
    action: String,
    /// The step's single-use ticket (every step after the code).
    ticket: Option<String>,
}

/// GET: the code entry step, prefilled from the query.
pub async fn show(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    if tenant != inner.tenant_id {
        return page(
            StatusCode::NOT_FOUND,
            pages::sign_in_error("Unknown tenant."),
        );
    }
    let typed = query.user_code.unwrap_or_default();
    let prefill = normalize_user_code(&typed).unwrap_or(typed);
    code_page(&inner, StatusCode::OK, &prefill, None)
}

/// POST: one step of the page. The device request is looked up again from the user code each time.
pub async fn submit(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Form(form): Form<PageForm>,
) -> Response {
    if tenant != inner.tenant_id {
        return page(
            StatusCode::NOT_FOUND,
            pages::sign_in_error("Unknown tenant."),
        );
    }
    match step(&inner, &form).await {
        Ok(response) | Err(response) => response,
    }
}

/// A request found by its user code, still waiting for the user.
struct Pending {
    user_code: String,
    row: DeviceRow,
    client: ClientRow,
    scope: ScopeRequest,
}

async fn step(inner: &Inner, form: &PageForm) -> Result<Response, Response> {
    let pending = find(inner, &form.user_code).await?;
    let user = (!form.user.is_empty()).then_some(form.user.as_str());
    match (form.action.as_str(), user) {
        ("cancel", user) => {
            redeem(inner, form, &pending, user).map_err(|e| e.page(inner, &pending))?;
            decide(inner, &pending, DeviceStatus::Denied, None).await
        }
        ("approve", Some(user)) => {
            let Some(user) = inner.user(user) else {
                return Err(choose_a_listed_user());
            };
            redeem(inner, form, &pending, Some(&user.username))
                .map_err(|e| e.page(inner, &pending))?;
            let rows = consent::rows_for(&user.username, &pending.client.client_id, &pending.scope);
            inner
                .store
                .grant_consents(&rows)
                .await
                .map_err(server_failure)?;
            decide(
                inner,
                &pending,
                DeviceStatus::Approved,
                Some(&user.username),
            )
            .await
        }
        ("approve", None) => Err(choose_a_listed_user()),
        (_, Some(user)) => {
            let Some(user) = inner.user(user) else {
                return Err(choose_a_listed_user());
            };
            redeem(inner, form, &pending, None).map_err(|e| e.page(inner, &pending))?;
            let ticket = issue(inner, &pending, Some(&user.username))
                .map_err(|e| e.page(inner, &pending))?;
            let action = inner.endpoint(VERIFICATION_PATH);
            let html = pages::device_confirm(&pages::DeviceConfirm {
                action: &action,
                client: &pending.client.name,
                user,
                scopes: consent::describe_request(&pending.scope),
                hidden: vec![
                    ("user_code", &pending.user_code),
                    ("user", &user.username),
                    ("ticket", &ticket),
                ],
            });
            Ok(page(StatusCode::OK, html))
        }
        (_, None) => {
            let ticket = issue(inner, &pending, None).map_err(|e| e.page(inner, &pending))?;
            let action = inner.endpoint(VERIFICATION_PATH);
            let scopes = pending.scope.to_scope_string();
            let html = pages::device_choose(&pages::DeviceChoose {
                action: &action,
                client: &pending.client.name,
                scopes: scopes.split(' ').collect(),
                hidden: vec![("user_code", &pending.user_code), ("ticket", &ticket)],
                users: &inner.users,
            });
            Ok(page(StatusCode::OK, html))
        }
    }
}

/// The pending request `typed` names, or the code page saying why there is none.
async fn find(inner: &Inner, typed: &str) -> Result<Pending, Response> {
    let refuse = |prefill: &str, message: &str| {
        code_page(inner, StatusCode::BAD_REQUEST, prefill, Some(message))
    };
    let Some(user_code) = normalize_user_code(typed) else {
        return Err(refuse(
            typed,
            "That code is not valid. Check it and try again.",
        ));
    };
    let row = inner
        .store
        .device_by_user_code(&user_code)
        .await
        .map_err(server_failure)?
        .ok_or_else(|| {
            refuse(
                &user_code,
                "That code is not valid. Check it and try again.",
            )
        })?;
    if row.expires_at <= now() {
        return Err(refuse(
            "",
            "That code has expired. Start the sign-in again on your device to get a new one.",
        ));
    }
    if row.status != DeviceStatus::Pending {
        return Err(refuse(
            "",
            "That code has already been used. Start the sign-in again on your device to get a new one.",
        ));
    }
    let client = inner
        .store
        .client(&row.client_id)
        .await
        .map_err(server_failure)?
        .ok_or_else(|| {
            refuse(
                "",
                "The application that asked for this code is no longer registered.",
            )
        })?;
    let scope = parse_scope(&row.scope, &inner.resources).map_err(|e| {
        server_failure(anyhow::anyhow!("stored device scope no longer parses: {e}"))
    })?;
    Ok(Pending {
        user_code,
        row,
        client,
        scope,
    })
}

/// Why a step's ticket could not be had.
enum TicketError {
    /// The form's ticket was not issued for this step (another site's form, an old page, a replay).
    Stale,
    /// Too many pages are waiting.
    Busy,
}

impl TicketError {
    fn page(self, inner: &Inner, pending: &Pending) -> Response {
        match self {
            Self::Stale => code_page(
                inner,
                StatusCode::BAD_REQUEST,
                &pending.user_code,
                Some(
                    "This page has expired or was not shown by this sign-in service. Enter the code \
                     again to continue.",
                ),
            ),
            Self::Busy => page(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::sign_in_error("Too many sign-ins are waiting; try again later."),
            ),
        }
    }
}

/// A ticket for the next step of `pending`'s page.
fn issue(inner: &Inner, pending: &Pending, user: Option<&str>) -> Result<String, TicketError> {
    inner
        .device_tickets
        .issue(Step {
            device: pending.row.device_code_sha256.clone(),
            user: user.map(str::to_owned),
        })
        .ok_or(TicketError::Busy)
}

/// Consumes the form's ticket, which must have been issued for this request (and `user`).
fn redeem(
    inner: &Inner,
    form: &PageForm,
    pending: &Pending,
    user: Option<&str>,
) -> Result<(), TicketError> {
    let expected = Step {
        device: pending.row.device_code_sha256.clone(),
        user: user.map(str::to_owned),
    };
    let ticket = form.ticket.as_deref().unwrap_or_default();
    if inner.device_tickets.redeem(ticket, &expected) {
        Ok(())
    } else {
        Err(TicketError::Stale)
    }
}

/// Records the user's decision; the device learns it at its next poll.
async fn decide(
    inner: &Inner,
    pending: &Pending,
    status: DeviceStatus,
    username: Option<&str>,
) -> Result<Response, Response> {
    let decided = inner
        .store
        .decide_device(&pending.row.device_code_sha256, status, username)
        .await
        .map_err(server_failure)?;
    if !decided {
        // Expired or decided in another tab since the lookup.
        return Err(code_page(
            inner,
            StatusCode::BAD_REQUEST,
            "",
            Some("That code is no longer valid. Start the sign-in again on your device."),
        ));
    }
    let approved = status == DeviceStatus::Approved;
    tracing::info!(
        client = %pending.client.client_id,
        user = username.unwrap_or("-"),
        approved,
        "dev IdP device sign-in decided"
    );
    Ok(page(
        StatusCode::OK,
        pages::device_done(&pending.client.name, approved),
    ))
}

fn choose_a_listed_user() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        pages::sign_in_error("Choose one of the listed users."),
    )
}

fn server_failure(error: anyhow::Error) -> Response {
    tracing::error!(
        error = format!("{error:#}"),
        "dev IdP device verification failed"
    );
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::sign_in_error("The sign-in service failed."),
    )
}

fn code_page(inner: &Inner, status: StatusCode, prefill: &str, error: Option<&str>) -> Response {
    let action = inner.endpoint(VERIFICATION_PATH);
    page(
        status,
        pages::device_code(&pages::DeviceCode {
            action: &action,
            user_code: prefill,
            error,
        }),
    )
}

/// A verification page: never cached, never framed, posting only to this IdP, sending no referrer.
fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_unambiguous_letters_shown_with_a_dash() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let code = new_user_code();
            assert_eq!(code.len(), 9, "{code}");
            assert_eq!(&code[4..5], "-", "{code}");
            assert!(
                code.bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| USER_CODE_ALPHABET.contains(&b)),
                "{code}"
            );
            assert!(
                !code.contains(['A', 'E', 'I', 'O', 'U', 'Y', '0', '1']),
                "{code}"
            );
            assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
            seen.insert(code);
        }
        assert!(
            seen.len() > 490,
            "codes are random: {} distinct",
            seen.len()
        );
    }

    #[test]
    fn typed_codes_are_read_case_insensitively_with_the_dash_optional() {
        let canonical = Some("BCDF-GHJK".to_owned());
        for typed in [
            "BCDF-GHJK",
            "bcdf-ghjk",
            "BcDfGhJk",
            "bcdfghjk",
            " bcdf ghjk ",
            "B-C-D-F-G-H-J-K",
        ] {
            assert_eq!(normalize_user_code(typed), canonical, "{typed:?}");
        }
        for typed in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "BCDF_GHJK",
            "ВCDF-GHJK", // a Cyrillic В
        ] {
            assert_eq!(normalize_user_code(typed), None, "{typed:?}");
        }
    }
}
