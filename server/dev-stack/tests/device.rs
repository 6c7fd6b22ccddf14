//! The dev IdP's device authorization grant (RFC 8628) over real HTTP: the `devicecode` endpoint, the
//! verification page completed as a browser would (reqwest posting the page's own forms), and the device
//! polling the token endpoint: pending, `slow_down`, `access_denied`, `expired_token`, single use.

mod common;

use std::time::Duration;

use dev_stack::IdpConfig;
use reqwest::{StatusCode, header};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use common::{
    CONSOLE, Stack, WEB, claims, discovery, endpoint, hidden_fields, idp_config, start_with, token,
    unescape, user,
};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const SCOPE: &str = "openid profile offline_access api://portcullis-mcp/mcp:tools";

/// The dev IdP polled every second at most (the test's interval), codes valid for `lifetime_secs`.
async fn start_device_idp(lifetime_secs: u64) -> Stack {
    start_with(IdpConfig {
        device_poll_interval: Duration::from_secs(1),
        device_code_lifetime: Duration::from_secs(lifetime_secs),
        ..idp_config()
    })
    .await
}

/// POST `devicecode`; the status and the JSON body.
async fn device_code(idp: &Stack, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = idp
        .http
        .post(endpoint(idp, "oauth2/v2.0/devicecode"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (status, response.json().await.unwrap())
}

/// Starts a device sign-in of the console with `scope`.
async fn begin(idp: &Stack, scope: &str) -> Value {
    let (status, body) = device_code(idp, &[("client_id", CONSOLE), ("scope", scope)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The device's poll.
async fn poll(idp: &Stack, client_id: &str, device_code: &str) -> (StatusCode, Value) {
    token(
        idp,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", client_id),
            ("device_code", device_code),
        ],
        None,
    )
    .await
}

fn assert_error(answer: &(StatusCode, Value), error: &str) {
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{}", answer.1);
    assert_eq!(answer.1["error"], error, "{}", answer.1);
}

/// The value of the attribute that follows `prefix` in `html`.
fn attribute_after(html: &str, prefix: &str) -> String {
    let at = html
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {html}"));
    let value = &html[at + prefix.len()..];
    unescape(value.split_once('"').unwrap().0)
}

/// Where the page's form posts.
fn form_action(html: &str) -> String {
    attribute_after(html, r#"<form method="post" action=""#)
}

/// A page answer: the status, the headers every verification page carries, the HTML.
async fn page(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let headers = response.headers();
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    (status, response.text().await.unwrap())
}

async fn post_page(idp: &Stack, action: &str, form: &[(String, String)]) -> (StatusCode, String) {
    page(idp.http.post(action).form(form).send().await.unwrap()).await
}

fn with(mut fields: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    fields.push((name.to_owned(), value.to_owned()));
    fields
}

/// Opens `verification_uri_complete` and submits its prefilled code: the user-choice page.
async fn open_and_enter(idp: &Stack, complete: &str) -> (String, String) {
    let (status, html) = page(idp.http.get(complete).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let typed = attribute_after(&html, r#"name="user_code" value=""#);
    let action = form_action(&html);
    let (status, choose) = post_page(
        idp,
        &action,
        &[
            ("user_code".to_owned(), typed),
            ("action".to_owned(), "code".to_owned()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{choose}");
    (action, choose)
}

/// The whole page as a browser: code, `user`, then `action` (`approve` or `cancel`) on the Accept page.
async fn complete_page(idp: &Stack, complete: &str, user: &str, action: &str) -> String {
    let (target, choose) = open_and_enter(idp, complete).await;
    let (status, confirm) =
        post_page(idp, &target, &with(hidden_fields(&choose), "user", user)).await;
    assert_eq!(status, StatusCode::OK, "{confirm}");
    let (status, done) = post_page(
        idp,
        &target,
        &with(hidden_fields(&confirm), "action", action),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    done
}

fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}

#[tokio::test]
async fn the_device_flow_signs_the_chosen_user_in_once_and_refresh_works() {
    let idp = start_device_idp(900).await;
    let discovery = discovery(&idp).await;
    assert_eq!(
        discovery["device_authorization_endpoint"],
        json!(endpoint(&idp, "oauth2/v2.0/devicecode"))
    );
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(DEVICE_GRANT))
    );

    let started = begin(&idp, SCOPE).await;
    let user_code = str_of(&started, "user_code");
    let verification_uri = str_of(&started, "verification_uri");
    let complete = str_of(&started, "verification_uri_complete");
    let device = str_of(&started, "device_code");
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c))
    );
    assert_eq!(verification_uri, endpoint(&idp, "oauth2/v2.0/deviceauth"));
    assert_eq!(
        complete,
        format!("{verification_uri}?user_code={user_code}")
    );
    assert!(device.len() >= 43, "a random device code");
    assert_eq!(started["expires_in"], 900);
    assert_eq!(started["interval"], 1);
    let message = str_of(&started, "message");
    assert!(
        message.contains(verification_uri) && message.contains(user_code),
        "{message}"
    );

    let waiting = poll(&idp, CONSOLE, device).await;
    assert_error(&waiting, "authorization_pending");
    assert_eq!(waiting.1["error_codes"], json!([70016]), "Entra's number");

    // The page is prefilled from the complete URI; the code may be typed in lower case without the dash.
    let (status, html) = page(idp.http.get(complete).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        attribute_after(&html, r#"name="user_code" value=""#),
        user_code
    );
    let target = form_action(&html);
    assert_eq!(target, verification_uri);
    let typed = user_code.replace('-', "").to_lowercase();
    let (status, choose) = post_page(
        &idp,
        &target,
        &[
            ("user_code".to_owned(), typed),
            ("action".to_owned(), "code".to_owned()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{choose}");
    assert!(choose.contains("Portcullis console"), "{choose}");
    assert!(choose.contains("api://portcullis-mcp/mcp:tools"));
    assert!(choose.contains(r#"data-testid="dev-user-alice""#));
    let hidden = hidden_fields(&choose);
    assert!(hidden.contains(&("user_code".to_owned(), user_code.to_owned())));
    assert!(hidden.iter().any(|(name, _)| name == "ticket"));

    let (status, confirm) = post_page(&idp, &target, &with(hidden, "user", "bob")).await;
    assert_eq!(status, StatusCode::OK, "{confirm}");
    assert!(confirm.contains("Bob Jones") && confirm.contains("bob@portcullis.dev"));
    assert!(confirm.contains(r#"data-testid="consent-scope-offline_access""#));
    assert!(confirm.contains(r#"data-testid="consent-scope-api://portcullis-mcp/mcp:tools""#));
    // Showing the Accept page decides nothing (polled after the interval, so no slow_down).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_error(&poll(&idp, CONSOLE, device).await, "authorization_pending");
    let (status, done) = post_page(
        &idp,
        &target,
        &with(hidden_fields(&confirm), "action", "approve"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(done.contains("You have signed in to"), "{done}");

    // Approved: the next poll gets the tokens at once, whatever the interval.
    let (status, tokens) = poll(&idp, CONSOLE, device).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], SCOPE);
    let bob = user(&idp, "bob");
    let access = claims(str_of(&tokens, "access_token"));
    assert_eq!(access["aud"], "api://portcullis-mcp");
    assert_eq!(access["scp"], "mcp:tools");
    assert_eq!(access["oid"], json!(bob.oid));
    assert_eq!(access["azp"], CONSOLE);
    let id = claims(str_of(&tokens, "id_token"));
    assert_eq!(id["aud"], json!([CONSOLE]));
    assert_eq!(id["oid"], json!(bob.oid));
    assert_eq!(id["name"], "Bob Jones");
    assert_eq!(id["iss"], json!(idp.idp.issuer()));
    assert!(id.get("nonce").is_none());
    let refresh = str_of(&tokens, "refresh_token").to_owned();

    let (status, renewed) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CONSOLE),
            ("refresh_token", &refresh),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(
        claims(str_of(&renewed, "access_token"))["oid"],
        json!(bob.oid)
    );
    let rotated = str_of(&renewed, "refresh_token").to_owned();

    // The device code is redeemable once; a second redemption revokes what the first one issued.
    let again = poll(&idp, CONSOLE, device).await;
    assert_error(&again, "invalid_grant");
    let (status, revoked) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CONSOLE),
            ("refresh_token", &rotated),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{revoked}");
    assert_eq!(revoked["error"], "invalid_grant");

    // The used code cannot be entered again.
    let (status, html) = post_page(
        &idp,
        &target,
        &[("user_code".to_owned(), user_code.to_owned())],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains(r#"data-testid="device-error""#), "{html}");
    assert!(html.contains("already been used"), "{html}");
}

#[tokio::test]
async fn polling_faster_than_the_interval_gets_slow_down_and_the_interval_grows() {
    let idp = start_device_idp(900).await;
    let started = begin(&idp, "openid").await;
    let device = str_of(&started, "device_code");
    assert_error(&poll(&idp, CONSOLE, device).await, "authorization_pending");
    let fast = poll(&idp, CONSOLE, device).await;
    assert_error(&fast, "slow_down");
    assert!(
        str_of(&fast.1, "error_description").contains("6 seconds"),
        "{}",
        fast.1
    );
    // The interval grew by 5 s: waiting the original second is still too fast.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let still = poll(&idp, CONSOLE, device).await;
    assert_error(&still, "slow_down");
    assert!(str_of(&still.1, "error_description").contains("11 seconds"));

    // A device that waits the interval is told to keep waiting, not to slow down.
    let other = begin(&idp, "openid").await;
    let other = str_of(&other, "device_code");
    assert_error(&poll(&idp, CONSOLE, other).await, "authorization_pending");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_error(&poll(&idp, CONSOLE, other).await, "authorization_pending");
}

#[tokio::test]
async fn cancel_on_either_step_answers_access_denied() {
    let idp = start_device_idp(900).await;
    // Cancel on the user choice.
    let first = begin(&idp, SCOPE).await;
    let (target, choose) = open_and_enter(&idp, str_of(&first, "verification_uri_complete")).await;
    let (status, done) = post_page(
        &idp,
        &target,
        &with(hidden_fields(&choose), "action", "cancel"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(done.contains("Sign-in cancelled"), "{done}");
    let denied = poll(&idp, CONSOLE, str_of(&first, "device_code")).await;
    assert_error(&denied, "access_denied");

    // Cancel on the Accept page, after choosing a user.
    let second = begin(&idp, SCOPE).await;
    let done = complete_page(
        &idp,
        str_of(&second, "verification_uri_complete"),
        "alice",
        "cancel",
    )
    .await;
    assert!(done.contains("Nothing was granted"), "{done}");
    assert_error(
        &poll(&idp, CONSOLE, str_of(&second, "device_code")).await,
        "access_denied",
    );
    // A cancelled code cannot be approved afterwards.
    let (status, html) = post_page(
        &idp,
        &target,
        &[(
            "user_code".to_owned(),
            str_of(&second, "user_code").to_owned(),
        )],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("already been used"), "{html}");
}

#[tokio::test]
async fn expired_codes_are_refused_at_the_token_endpoint_and_on_the_page() {
    let idp = start_device_idp(2).await;
    let started = begin(&idp, "openid").await;
    assert_eq!(started["expires_in"], 2);
    let device = str_of(&started, "device_code");
    assert_error(&poll(&idp, CONSOLE, device).await, "authorization_pending");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_error(&poll(&idp, CONSOLE, device).await, "expired_token");
    let target = endpoint(&idp, "oauth2/v2.0/deviceauth");
    let (status, html) = post_page(
        &idp,
        &target,
        &[(
            "user_code".to_owned(),
            str_of(&started, "user_code").to_owned(),
        )],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("That code has expired"), "{html}");
}

#[tokio::test]
async fn unknown_clients_bad_requests_and_other_clients_codes_are_refused() {
    let idp = start_device_idp(900).await;
    let (status, body) = device_code(&idp, &[("client_id", "nope"), ("scope", "openid")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    // A confidential client must authenticate here as at the token endpoint.
    let (status, body) = device_code(&idp, &[("client_id", WEB), ("scope", "openid")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = device_code(&idp, &[("client_id", CONSOLE)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    for scope in [
        "api://portcullis-mcp/.default",
        "api://portcullis-mcp/admin",
        "email-me",
    ] {
        let (status, body) = device_code(&idp, &[("client_id", CONSOLE), ("scope", scope)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{scope}: {body}");
        assert_eq!(body["error"], "invalid_scope", "{scope}");
    }
    let wrong_tenant = endpoint(&idp, "oauth2/v2.0/devicecode")
        .replace(idp.idp.tenant_id(), "00000000-0000-0000-0000-000000000000");
    let response = idp
        .http
        .post(wrong_tenant)
        .form(&[("client_id", CONSOLE), ("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Another client cannot redeem the console's device code; unknown codes are refused.
    let started = begin(&idp, "openid").await;
    let device = str_of(&started, "device_code");
    let secret = idp.idp.web_client_secret().expose_secret().to_owned();
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", WEB),
            ("client_secret", &secret),
            ("device_code", device),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_error(&poll(&idp, CONSOLE, "made-up").await, "invalid_grant");
    let (status, body) = token(
        &idp,
        &[("grant_type", DEVICE_GRANT), ("client_id", CONSOLE)],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // An authenticated confidential client may use the grant.
    let (status, body) = device_code(
        &idp,
        &[
            ("client_id", WEB),
            ("client_secret", &secret),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn wrong_codes_and_forged_steps_are_refused_on_the_page() {
    let idp = start_device_idp(900).await;
    let target = endpoint(&idp, "oauth2/v2.0/deviceauth");
    let started = begin(&idp, SCOPE).await;
    let user_code = str_of(&started, "user_code").to_owned();
    let device = str_of(&started, "device_code").to_owned();

    // A well-formed code nobody was given, and something that is not a code at all.
    let unused = if user_code == "BCDF-GHJK" {
        "ZXWV-TSRQ"
    } else {
        "BCDF-GHJK"
    };
    for typed in [unused, "hello", ""] {
        let (status, html) = post_page(
            &idp,
            &target,
            &[
                ("user_code".to_owned(), typed.to_owned()),
                ("action".to_owned(), "code".to_owned()),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{typed}");
        assert!(html.contains(r#"data-testid="device-error""#), "{html}");
        assert!(html.contains("That code is not valid"), "{html}");
    }

    // Approving or cancelling without the page's ticket (a page on another site posting the form).
    for action in ["approve", "cancel"] {
        let forged = [
            ("user_code".to_owned(), user_code.clone()),
            ("user".to_owned(), "alice".to_owned()),
            ("action".to_owned(), action.to_owned()),
        ];
        let (status, html) = post_page(&idp, &target, &forged).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{action}");
        assert!(
            html.contains("was not shown by this sign-in service"),
            "{html}"
        );
    }
    // The user-choice ticket does not approve (it is bound to its step), and is used up by the try.
    let (_, choose) = open_and_enter(&idp, str_of(&started, "verification_uri_complete")).await;
    let choice_fields = hidden_fields(&choose);
    let skip = with(
        with(choice_fields.clone(), "user", "alice"),
        "action",
        "approve",
    );
    let (status, _) = post_page(&idp, &target, &skip).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post_page(&idp, &target, &with(choice_fields, "user", "alice")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "single use");
    // A user who is not listed.
    let (_, choose) = open_and_enter(&idp, str_of(&started, "verification_uri_complete")).await;
    let (status, html) = post_page(
        &idp,
        &target,
        &with(hidden_fields(&choose), "user", "mallory"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Choose one of the listed users"), "{html}");
    // An Accept ticket is bound to the user it was shown for.
    let (_, choose) = open_and_enter(&idp, str_of(&started, "verification_uri_complete")).await;
    let (_, confirm) = post_page(&idp, &target, &with(hidden_fields(&choose), "user", "bob")).await;
    let swapped: Vec<(String, String)> = hidden_fields(&confirm)
        .into_iter()
        .map(|(k, v)| {
            if k == "user" {
                (k, "alice".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let (status, _) = post_page(&idp, &target, &with(swapped, "action", "approve")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&poll(&idp, CONSOLE, &device).await, "authorization_pending");

    // Nothing above decided anything: the real page still works.
    let done = complete_page(
        &idp,
        str_of(&started, "verification_uri_complete"),
        "alice",
        "approve",
    )
    .await;
    assert!(done.contains("You have signed in"), "{done}");
    let (status, tokens) = poll(&idp, CONSOLE, &device).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(claims(str_of(&tokens, "id_token"))["name"], "Alice Smith");

    // A wrong tenant is not found.
    let response = idp
        .http
        .get(target.replace(idp.idp.tenant_id(), "00000000-0000-0000-0000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn accepting_graph_scopes_records_the_users_consent_for_the_device_client() {
    let idp = start_device_idp(900).await;
    let scope = "openid offline_access User.Read Calendars.Read";
    let started = begin(&idp, scope).await;
    let complete = str_of(&started, "verification_uri_complete");
    let (target, choose) = open_and_enter(&idp, complete).await;
    let (_, confirm) = post_page(&idp, &target, &with(hidden_fields(&choose), "user", "bob")).await;
    assert!(confirm.contains("Read your calendars"), "{confirm}");
    assert!(
        confirm
            .contains(r#"data-testid="consent-scope-https://graph.microsoft.com/Calendars.Read""#)
    );
    let (status, _) = post_page(
        &idp,
        &target,
        &with(hidden_fields(&confirm), "action", "approve"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, tokens) = poll(&idp, CONSOLE, str_of(&started, "device_code")).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = claims(str_of(&tokens, "access_token"));
    assert_eq!(access["aud"], "https://graph.microsoft.com");
    assert_eq!(access["scp"], "User.Read Calendars.Read");
    // A refresh checks consent (AADSTS65001 without it): bob's Accept recorded it for the console.
    let (status, renewed) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CONSOLE),
            ("refresh_token", str_of(&tokens, "refresh_token")),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(
        claims(str_of(&renewed, "access_token"))["scp"],
        "User.Read Calendars.Read"
    );
}
