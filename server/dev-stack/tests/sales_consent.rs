//! The sales resource (`api://portcullis-sales`) tracks each user's consent per client at the dev IdP,
//! as Microsoft Graph does: a refresh for its scope without consent is Entra's `invalid_grant`
//! AADSTS65001 `consent_required`, issues nothing and leaves the user's sign-in (her refresh token)
//! working; an authorization request for the scope shows the consent page, whose Accept lets the next
//! refresh for it through. mcp-tools' scope never asks for consent.

mod common;

use dev_stack::mcp::{AUDIENCE, SALES_AUDIENCE, SALES_SCOPE, SCOPE};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use common::{
    CONSOLE, REDIRECT, Stack, WEB, authorize_params, browser_pick, claims, consent_click, get,
    pkce, redirect_target, start, web_sign_in,
};

/// What the web app asks for at sign-in: mcp-tools, and a refresh token.
const SIGN_IN: &str = "openid profile offline_access api://portcullis-mcp/mcp:tools";

/// The web app refreshes `refresh_token`, for `scope` if given.
async fn refresh(stack: &Stack, refresh_token: &str, scope: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let secret = stack.idp.web_client_secret().expose_secret().to_owned();
    common::token(stack, &form, Some((WEB, &secret))).await
}

fn refresh_token(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

fn assert_consent_required(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["suberror"], "consent_required");
    assert_eq!(body["error_codes"], json!([65001]));
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(
            "AADSTS65001: The user or administrator has not consented to use the application with \
             ID 'portcullis-web' named 'Portcullis web app'."
        ),
        "{description}"
    );
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
}

/// An access token's `aud` and `scp`.
fn audience_and_scopes(body: &Value) -> (String, String) {
    let payload = claims(body["access_token"].as_str().expect("an access token"));
    (
        payload["aud"].as_str().unwrap().to_owned(),
        payload["scp"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_refresh_for_sales_needs_consent_and_a_refusal_keeps_the_sign_in() {
    let stack = start().await;
    assert_eq!(SALES_SCOPE, format!("{SALES_AUDIENCE}/sales:read"));
    let signed_in = web_sign_in(&stack, "alice", SIGN_IN).await;
    let first = refresh_token(&signed_in);

    // No consent for sales yet: refused, nothing issued.
    let (status, body) = refresh(&stack, &first, Some(SALES_SCOPE)).await;
    assert_consent_required(status, &body);
    let (status, body) = refresh(&stack, &first, Some(&format!("{SALES_AUDIENCE}/.default"))).await;
    assert_consent_required(status, &body);

    // Her refresh token was not spent: it still renews mcp-tools' token (which never needs consent),
    // by default and by name.
    let (status, body) = refresh(&stack, &first, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        audience_and_scopes(&body),
        (AUDIENCE.to_owned(), "mcp:tools".to_owned())
    );
    let (status, body) = refresh(&stack, &refresh_token(&body), Some(SCOPE)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(audience_and_scopes(&body).0, AUDIENCE);
    let current = refresh_token(&body);

    // "Connect": an authorization request for the sales scope shows the consent page, naming it.
    let p = pkce();
    let params = authorize_params(WEB, REDIRECT, &format!("openid {SALES_SCOPE}"), Some(&p));
    let answer = browser_pick(&stack, &params, "alice").await;
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "a consent page, not a redirect"
    );
    let page = answer.text().await.unwrap();
    assert!(
        page.contains(&format!(r#"data-testid="consent-scope-{SALES_SCOPE}""#)),
        "{page}"
    );
    assert!(page.contains("Portcullis web app") && page.contains("Alice Smith"));
    assert!(
        !page.contains(r#"data-testid="consent-scope-openid""#),
        "only what is missing"
    );

    // Cancel grants nothing.
    let back = redirect_target(&consent_click(&stack, &page, "cancel").await).1;
    assert_eq!(get(&back, "error"), Some("access_denied"));
    let (status, body) = refresh(&stack, &current, Some(SALES_SCOPE)).await;
    assert_consent_required(status, &body);

    // Accept: the code is for sales, and from now on so may her refresh be.
    let answer = browser_pick(&stack, &params, "alice").await;
    assert_eq!(answer.status(), StatusCode::OK);
    let page = answer.text().await.unwrap();
    let accepted = consent_click(&stack, &page, "consent").await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    let back = redirect_target(&accepted).1;
    let code = get(&back, "code").expect("a code");
    let secret = stack.idp.web_client_secret().expose_secret().to_owned();
    let (status, body) = common::token(
        &stack,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        audience_and_scopes(&body),
        (SALES_AUDIENCE.to_owned(), "sales:read".to_owned())
    );
    let (status, body) = refresh(&stack, &current, Some(SALES_SCOPE)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        audience_and_scopes(&body),
        (SALES_AUDIENCE.to_owned(), "sales:read".to_owned())
    );
    // The same refresh token family renews mcp-tools' token as before.
    let (status, body) = refresh(&stack, &refresh_token(&body), Some(SCOPE)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(audience_and_scopes(&body).0, AUDIENCE);

    // A second authorization request for sales goes straight back with a code.
    let answer = browser_pick(&stack, &params, "alice").await;
    assert!(get(&redirect_target(&answer).1, "code").is_some());

    // Consent is per user and per client: bob has none, nor has the console for alice.
    let bob = web_sign_in(&stack, "bob", SIGN_IN).await;
    let (status, body) = refresh(&stack, &refresh_token(&bob), Some(SALES_SCOPE)).await;
    assert_consent_required(status, &body);
    let loopback = "http://127.0.0.1:45126/callback";
    let console = authorize_params(CONSOLE, loopback, SALES_SCOPE, Some(&pkce()));
    assert_eq!(
        browser_pick(&stack, &console, "alice").await.status(),
        StatusCode::OK
    );

    // A consent reset forgets it (sales has no configured consents).
    stack.idp.reset_consents().await.unwrap();
    let answer = browser_pick(&stack, &params, "alice").await;
    assert_eq!(answer.status(), StatusCode::OK, "asked again after a reset");
}

#[tokio::test]
async fn mcp_tools_scope_never_asks_for_consent() {
    let stack = start().await;
    for user in ["alice", "bob"] {
        for client in [
            (WEB, REDIRECT),
            (CONSOLE, "http://127.0.0.1:45127/callback"),
        ] {
            let params = authorize_params(
                client.0,
                client.1,
                &format!("openid {SCOPE}"),
                Some(&pkce()),
            );
            let answer = browser_pick(&stack, &params, user).await;
            assert_eq!(
                answer.status(),
                StatusCode::SEE_OTHER,
                "{user} at {}",
                client.0
            );
            assert!(get(&redirect_target(&answer).1, "code").is_some());
        }
    }
}
