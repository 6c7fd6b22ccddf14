//! The development identity provider over real HTTP: every grant, every refusal, discovery, keys,
//! logout, registration; interop with panva's openid-client; and mcp-tools accepting its delegated
//! tokens while refusing its app-only ones.

mod common;

use std::{future::pending, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use dev_stack::{
    IdpConfig,
    idp::{self, DevIdp},
};
use reqwest::{StatusCode, header};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use common::{
    MCP_SCOPE, Pkce, REDIRECT, Stack, WEB, authorize_params, browser_pick, claims, consent_click,
    discovery, endpoint, get, hidden_fields, idp_config, pkce, redirect_target, sign_in, start,
    start_in, token, web_sign_in,
};

#[tokio::test]
async fn discovery_is_served_at_the_issuer_the_root_and_rfc_8414_paths() {
    let idp = start().await;
    let issuer = idp.idp.issuer();
    let origin = issuer.split('/').take(3).collect::<Vec<_>>().join("/");
    let tenant = &idp.config.tenant_id;
    for url in [
        format!("{issuer}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/oauth-authorization-server/{tenant}/v2.0"),
    ] {
        let doc: Value = idp
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], json!(issuer), "{url}");
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            doc["authorization_response_iss_parameter_supported"],
            json!(true)
        );
        assert_eq!(
            doc["authorization_endpoint"],
            json!(format!("{origin}/{tenant}/oauth2/v2.0/authorize"))
        );
        assert_eq!(
            doc["token_endpoint"],
            json!(format!("{origin}/{tenant}/oauth2/v2.0/token"))
        );
        assert_eq!(
            doc["jwks_uri"],
            json!(format!("{origin}/{tenant}/discovery/v2.0/keys"))
        );
        assert!(doc["registration_endpoint"].is_string());
        assert!(doc["end_session_endpoint"].is_string());
        assert!(
            doc["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(MCP_SCOPE))
        );
    }
    let jwks: Value = idp
        .http
        .get(endpoint(&idp, "discovery/v2.0/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    assert!(
        key["kid"].is_string() && key.get("d").is_none(),
        "public parts only"
    );
}

#[tokio::test]
async fn sign_in_page_lists_users_and_the_requested_scopes() {
    let idp = start().await;
    let p = pkce();
    let response = idp
        .http
        .get(endpoint(&idp, "oauth2/v2.0/authorize"))
        .query(&authorize_params(
            WEB,
            REDIRECT,
            &format!("openid profile {MCP_SCOPE}"),
            Some(&p),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let html = response.text().await.unwrap();
    for expected in [
        "Alice Smith",
        "Bob Jones",
        "Portcullis web app",
        MCP_SCOPE,
        "not for production",
    ] {
        assert!(html.contains(expected), "{expected} missing");
    }
    // The state is echoed into the form escaped, never raw.
    assert!(html.contains("st@te with spaces&amp;="));
}

#[tokio::test]
async fn client_and_redirect_errors_stay_on_the_page() {
    let idp = start().await;
    let p = pkce();
    for (client, redirect) in [
        ("nobody", REDIRECT),
        (WEB, "https://evil.example/callback"),
        (WEB, "http://127.0.0.1:3999/auth/callback/extra"),
        (WEB, ""),
    ] {
        let response = idp
            .http
            .get(endpoint(&idp, "oauth2/v2.0/authorize"))
            .query(&authorize_params(client, redirect, "openid", Some(&p)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{client} {redirect}"
        );
        assert!(response.headers().get(header::LOCATION).is_none());
        assert!(response.text().await.unwrap().contains("Sign-in error"));
    }
}

#[tokio::test]
async fn other_request_errors_redirect_with_state_and_iss() {
    let idp = start().await;
    let p = pkce();
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (
            {
                let mut v = authorize_params(WEB, REDIRECT, "openid", Some(&p));
                v[2].1 = "token".into();
                v
            },
            "unsupported_response_type",
        ),
        (
            authorize_params(WEB, REDIRECT, "openid api://unknown/x", Some(&p)),
            "invalid_scope",
        ),
        (
            {
                let mut v = authorize_params(WEB, REDIRECT, "openid", None);
                v.push(("code_challenge".into(), p.challenge.clone()));
                v.push(("code_challenge_method".into(), "plain".into()));
                v
            },
            "invalid_request",
        ),
        // Public clients must use PKCE.
        (
            authorize_params(
                "portcullis-console",
                "http://127.0.0.1:5555/callback",
                "openid",
                None,
            ),
            "invalid_request",
        ),
    ];
    for (params, error) in cases {
        let response = idp
            .http
            .get(endpoint(&idp, "oauth2/v2.0/authorize"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{error}");
        let (_, pairs) = redirect_target(&response);
        assert_eq!(get(&pairs, "error"), Some(error));
        assert_eq!(get(&pairs, "state"), Some("st@te with spaces&="));
        assert_eq!(get(&pairs, "iss"), Some(idp.idp.issuer().as_str()));
    }
    // Cancel is access_denied.
    let mut form = authorize_params(WEB, REDIRECT, "openid", Some(&p));
    form.push(("action".into(), "cancel".into()));
    let response = idp
        .http
        .post(endpoint(&idp, "oauth2/v2.0/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .contains("error=access_denied")
    );
}

#[tokio::test]
async fn code_flow_issues_entra_shaped_tokens() {
    let idp = start().await;
    let p = pkce();
    let params = authorize_params(
        WEB,
        REDIRECT,
        &format!("openid profile email offline_access {MCP_SCOPE}"),
        Some(&p),
    );
    let back = sign_in(&idp, &params, "alice").await;
    assert_eq!(
        get(&back, "state"),
        Some("st@te with spaces&="),
        "state returned unchanged"
    );
    assert_eq!(
        get(&back, "iss"),
        Some(idp.idp.issuer().as_str()),
        "RFC 9207 iss"
    );
    let code = get(&back, "code").unwrap();
    // client_secret_post this time.
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
            ("client_id", WEB),
            ("client_secret", idp.idp.web_client_secret().expose_secret()),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].is_string());
    let access = claims(body["access_token"].as_str().unwrap());
    let alice = &idp.idp.users()[0];
    assert_eq!(access["iss"], json!(idp.idp.issuer()));
    assert_eq!(access["aud"], "api://portcullis-mcp");
    assert_eq!(access["scp"], "mcp:tools");
    assert_eq!(access["oid"], json!(alice.oid));
    assert_eq!(access["tid"], json!(idp.config.tenant_id));
    assert_eq!(access["azp"], WEB);
    assert_eq!(access["ver"], "2.0");
    assert_eq!(access["name"], "Alice Smith");
    assert_eq!(access["preferred_username"], "alice@portcullis.dev");
    assert!(access.get("roles").is_none());
    for claim in ["sub", "iat", "nbf", "exp"] {
        assert!(access.get(claim).is_some(), "{claim}");
    }
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], json!([WEB]));
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["oid"], json!(alice.oid));
    assert_eq!(id["email"], "alice@portcullis.dev");
    assert!(id["at_hash"].is_string());
}

#[tokio::test]
async fn code_redemption_refusals() {
    let idp = start().await;
    let secret = idp.idp.web_client_secret().expose_secret().to_owned();
    let p = pkce();
    let params = authorize_params(WEB, REDIRECT, "openid offline_access", Some(&p));

    // Wrong PKCE verifier.
    let code = get(&sign_in(&idp, &params, "alice").await, "code")
        .unwrap()
        .to_owned();
    let wrong = pkce_other(&p);
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong),
        ],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Mismatched redirect_uri.
    let code = get(&sign_in(&idp, &params, "alice").await, "code")
        .unwrap()
        .to_owned();
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:3999/other"),
            ("code_verifier", &p.verifier),
        ],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Unknown client, wrong secret, missing secret.
    for (id, secret) in [("nobody", "x"), (WEB, "wrong-secret")] {
        let (status, body) = token(
            &idp,
            &[("grant_type", "authorization_code"), ("code", "c")],
            Some((id, secret)),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{id}"
        );
    }
    let (status, _) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("client_id", WEB),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A reused code fails, and revokes the refresh token its first redemption issued.
    let code = get(&sign_in(&idp, &params, "alice").await, "code")
        .unwrap()
        .to_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", p.verifier.as_str()),
    ];
    let (status, first) = token(&idp, &form, Some((WEB, &secret))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = token(&idp, &form, Some((WEB, &secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "revoked by the replay"
    );
}

fn pkce_other(p: &Pkce) -> String {
    let mut v = p.verifier.clone();
    let last = v.pop().unwrap();
    v.push(if last == 'A' { 'B' } else { 'A' });
    v
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let idp = start().await;
    let secret = idp.idp.web_client_secret().expose_secret().to_owned();
    let first = web_sign_in(&idp, "bob", "openid offline_access").await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();

    // Incremental consent: the refresh token gets a token for the MCP server's scope.
    let (status, second) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt1),
            ("scope", MCP_SCOPE),
        ],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(
        claims(second["access_token"].as_str().unwrap())["aud"],
        "api://portcullis-mcp"
    );
    assert!(second["id_token"].is_string(), "openid carries over");

    // Reusing rt1 fails and kills rt2 as well.
    let (status, body) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the whole family is revoked"
    );

    // Another client cannot redeem it.
    let fresh = web_sign_in(&idp, "bob", "openid offline_access").await;
    let rt = fresh["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "portcullis-console"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn client_credentials_and_on_behalf_of() {
    let idp = start().await;
    let secret = idp.idp.web_client_secret().expose_secret().to_owned();

    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "api://portcullis-mcp/.default"),
        ],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let app = claims(body["access_token"].as_str().unwrap());
    assert_eq!(app["idtyp"], "app");
    assert_eq!(app["roles"], json!(["Tools.ReadWrite.All"]));
    assert!(app.get("scp").is_none() && app.get("name").is_none());
    let (status, body) = token(
        &idp,
        &[("grant_type", "client_credentials"), ("scope", MCP_SCOPE)],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, _) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "api://portcullis-mcp/.default"),
            ("client_id", "portcullis-console"),
        ],
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "public clients have no credentials"
    );

    // OBO: a user token for the web app's own API becomes a token for the MCP server, same user.
    let user = web_sign_in(&idp, "alice", "openid api://portcullis-web/access_as_user").await;
    let incoming = user["access_token"].as_str().unwrap();
    assert_eq!(claims(incoming)["aud"], WEB);
    let obo = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("requested_token_use", "on_behalf_of"),
        ("assertion", incoming),
        ("scope", MCP_SCOPE),
    ];
    let (status, body) = token(&idp, &obo, Some((WEB, &secret))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let exchanged = claims(body["access_token"].as_str().unwrap());
    let original = claims(incoming);
    assert_eq!(exchanged["aud"], "api://portcullis-mcp");
    assert_eq!(exchanged["scp"], "mcp:tools");
    assert_eq!(exchanged["oid"], original["oid"]);
    assert_eq!(exchanged["tid"], original["tid"]);

    // OBO with a token meant for another audience (the MCP server) is refused.
    let mcp_token = web_sign_in(&idp, "alice", MCP_SCOPE).await;
    let mcp_access = mcp_token["access_token"].as_str().unwrap();
    let mut foreign = obo;
    foreign[2] = ("assertion", mcp_access);
    let (status, body) = token(&idp, &foreign, Some((WEB, &secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Nor can an app-only token be exchanged.
    let mut missing_use = obo;
    missing_use[1] = ("requested_token_use", "something_else");
    let (status, _) = token(&idp, &missing_use, Some((WEB, &secret))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn dynamic_registration_is_for_public_loopback_or_https_clients() {
    let idp = start().await;
    let url = endpoint(&idp, "oauth2/v2.0/register");
    let register = |body: Value| idp.http.post(&url).json(&body).send();

    for bad in [
        "http://evil.example/cb",
        "ftp://127.0.0.1/cb",
        "not a url",
        "https://x.example/cb#frag",
    ] {
        let response =
            register(json!({ "redirect_uris": [bad], "token_endpoint_auth_method": "none" }))
                .await
                .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_redirect_uri");
    }
    let response = register(json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic" }))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = register(json!({
        "redirect_uris": ["http://127.0.0.1:6274/oauth/callback"],
        "client_name": "MCP Inspector",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }))
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: Value = response.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    assert_eq!(registered["token_endpoint_auth_method"], "none");

    // The new public client signs in with PKCE and redeems without a secret.
    let p = pkce();
    let redirect = "http://127.0.0.1:6274/oauth/callback";
    let back = sign_in(
        &idp,
        &authorize_params(&client_id, redirect, MCP_SCOPE, Some(&p)),
        "bob",
    )
    .await;
    let code = get(&back, "code").unwrap();
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", &p.verifier),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["azp"],
        json!(client_id)
    );
}

#[tokio::test]
async fn console_client_uses_any_loopback_port() {
    let idp = start().await;
    let p = pkce();
    let redirect = "http://127.0.0.1:49152/callback";
    let back = sign_in(
        &idp,
        &authorize_params("portcullis-console", redirect, "openid", Some(&p)),
        "alice",
    )
    .await;
    assert!(get(&back, "code").is_some());
    // But not another path or host.
    let response = idp
        .http
        .get(endpoint(&idp, "oauth2/v2.0/authorize"))
        .query(&authorize_params(
            "portcullis-console",
            "http://127.0.0.1:49152/other",
            "openid",
            Some(&p),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn logout_redirects_only_to_registered_uris_and_revokes_refresh_tokens() {
    let idp = start().await;
    let secret = idp.idp.web_client_secret().expose_secret().to_owned();
    let tokens = web_sign_in(&idp, "alice", "openid offline_access").await;
    let id_token = tokens["id_token"].as_str().unwrap();

    let response = idp
        .http
        .get(endpoint(&idp, "oauth2/v2.0/logout"))
        .query(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://evil.example/"),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::LOCATION).is_none());

    let response = idp
        .http
        .get(endpoint(&idp, "oauth2/v2.0/logout"))
        .query(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "http://127.0.0.1:3999/"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "http://127.0.0.1:3999/?state=s1"
    );
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "signed out: refresh token revoked"
    );
}

#[tokio::test]
async fn userinfo_answers_for_graph_audience_tokens_only() {
    let idp = start().await;
    let oidc = web_sign_in(&idp, "bob", "openid profile").await;
    let response = idp
        .http
        .get(endpoint(&idp, "openid/v2.0/userinfo"))
        .bearer_auth(oidc["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["name"], "Bob Jones");
    let mcp = web_sign_in(&idp, "bob", MCP_SCOPE).await;
    let response = idp
        .http
        .get(endpoint(&idp, "openid/v2.0/userinfo"))
        .bearer_auth(mcp["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn jwks_kids(idp: &Stack) -> Vec<String> {
    let jwks: Value = idp
        .http
        .get(endpoint(idp, "discovery/v2.0/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keys_persist_across_restarts_and_rotate_with_a_grace_period() {
    let idp = start().await;
    let before = jwks_kids(&idp).await;
    assert_eq!(before.len(), 1);
    let secret = idp.idp.web_client_secret().expose_secret().to_owned();
    let Stack { dir, config, .. } = idp;
    let idp = start_in(dir, config).await;
    assert_eq!(jwks_kids(&idp).await, before, "same key after a restart");
    assert_eq!(
        idp.idp.web_client_secret().expose_secret(),
        secret,
        "same generated client secret"
    );
    let secret_file = idp.dir.path().join("dev-idp/web-client-secret");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let refused = idp
        .http
        .post(endpoint_root(&idp, "dev/rotate-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let rotated: Value = idp
        .http
        .post(endpoint_root(&idp, "dev/rotate-keys"))
        .header("x-dev-idp-admin", "rotate")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_kid = rotated["active_kid"].as_str().unwrap();
    let after = jwks_kids(&idp).await;
    assert_eq!(after.len(), 2);
    assert!(after.contains(&before[0]) && after.contains(&new_kid.to_owned()));
    let tokens = web_sign_in(&idp, "alice", MCP_SCOPE).await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                tokens["access_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], json!(new_kid), "the new key signs");
}

fn endpoint_root(idp: &Stack, path: &str) -> String {
    let issuer = idp.idp.issuer();
    format!(
        "{}/{path}",
        issuer.split('/').take(3).collect::<Vec<_>>().join("/")
    )
}

#[tokio::test]
async fn refuses_production_and_non_loopback_binds() {
    let config = IdpConfig::default();
    let error = idp::bind(&config, /* in production: */ true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("APP_DEV_IDP__ALLOW_IN_PRODUCTION_FOR_DEVELOPMENT_ONLY"),
        "{error}"
    );
    let public = IdpConfig {
        bind: "0.0.0.0:0".parse().unwrap(),
        ..IdpConfig::default()
    };
    let error = idp::bind(&public, /* in production: */ false)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("loopback"), "{error}");
    let allowed = IdpConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        allow_in_production_for_development_only: true,
        ..IdpConfig::default()
    };
    assert!(idp::bind(&allowed, /* in production: */ true).await.is_ok());
}

#[tokio::test]
async fn mcp_tools_accepts_its_delegated_tokens_and_refuses_its_app_only_tokens() {
    let idp = start().await;
    let secret = idp.idp.web_client_secret().expose_secret().to_owned();
    let mcp_dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = mcp_tools::Config::builder(idp.idp.issuer(), "api://portcullis-mcp")
        .bind(addr)
        .tenant_id(idp.config.tenant_id.clone())
        .database_url(format!(
            "sqlite://{}",
            mcp_dir.path().join("m.db").display()
        ))
        .build()
        .unwrap();
    tokio::spawn(mcp_tools::run(listener, config, pending()));
    let initialize = |token: String| {
        idp.http
            .post(format!("http://{addr}/mcp"))
            .header(header::ACCEPT, "application/json, text/event-stream")
            .bearer_auth(token)
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } } }))
            .send()
    };
    let user = web_sign_in(&idp, "alice", MCP_SCOPE).await;
    let response = initialize(user["access_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let (_, app) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "api://portcullis-mcp/.default"),
        ],
        Some((WEB, &secret)),
    )
    .await;
    let response = initialize(app["access_token"].as_str().unwrap().to_owned())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

/// The second MCP server's resource is registered: a dev-IdP token for `sales:read` works at the sales
/// server (default audience and scope) and nowhere else; mcp-tools' token is refused there.
#[tokio::test]
async fn a_dev_idp_token_for_sales_is_accepted_by_the_sales_server_only() {
    let idp = start().await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = mcp_tools::sales::SalesConfig::builder(idp.idp.issuer())
        .bind(addr)
        .database_url(format!("sqlite://{}", dir.path().join("s.db").display()))
        .build()
        .unwrap();
    tokio::spawn(mcp_tools::sales::run(listener, config, pending()));
    let initialize = |token: &str| {
        idp.http
            .post(format!("http://{addr}/mcp"))
            .header(header::ACCEPT, "application/json, text/event-stream")
            .bearer_auth(token)
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } } }))
            .send()
    };
    // The sales resource tracks consent: alice accepts the consent page on the way.
    let sales =
        common::web_sign_in_consenting(&idp, "alice", "api://portcullis-sales/sales:read").await;
    let sales = sales["access_token"].as_str().unwrap();
    let payload = claims(sales);
    assert_eq!(payload["aud"], "api://portcullis-sales");
    let scopes = payload["scp"].as_str().unwrap();
    assert!(scopes.split(' ').any(|s| s == "sales:read"), "{scopes}");
    assert_eq!(initialize(sales).await.unwrap().status(), StatusCode::OK);
    let mcp = web_sign_in(&idp, "alice", MCP_SCOPE).await;
    let refused = initialize(mcp["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn openid_client_relying_party_interoperates() {
    let idp = start().await;
    // This crate lives at server/dev-stack; the repository root is two levels up.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap();
    let script = root.join("end2end/interop/openid-client-rp.mjs");
    assert!(
        root.join("end2end/node_modules/openid-client").is_dir(),
        "run .ci/setup (make test) first"
    );
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .env("IDP_ISSUER", idp.idp.issuer())
        .env("IDP_CLIENT_ID", WEB)
        .env(
            "IDP_CLIENT_SECRET",
            idp.idp.web_client_secret().expose_secret(),
        )
        .env("IDP_REDIRECT_URI", REDIRECT)
        .env(
            "IDP_SCOPE",
            format!("openid profile offline_access {MCP_SCOPE}"),
        )
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "openid-client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let alice = &idp.idp.users()[0];
    assert_eq!(seen["iss"], json!(idp.idp.issuer()));
    assert_eq!(seen["aud"], json!([WEB]));
    assert_eq!(seen["name"], "Alice Smith");
    assert_eq!(seen["oid"], json!(alice.oid));
    assert_eq!(seen["callbackHasIss"], json!(idp.idp.issuer()));
    assert_eq!(seen["hasRefresh"], true);
    assert_eq!(seen["rotated"], true);
    assert_eq!(seen["refreshedAccess"], true);
    assert_eq!(
        claims(seen["accessToken"].as_str().unwrap())["aud"],
        "api://portcullis-mcp"
    );
}

// --- Graph, mcp-tools as a confidential client, consent, on-behalf-of and token exchange ---

const MCP: &str = "portcullis-mcp";
const GRAPH: &str = "https://graph.microsoft.com";
const USER_READ: &str = "https://graph.microsoft.com/User.Read";
const CALENDARS_READ: &str = "https://graph.microsoft.com/Calendars.Read";
const MCP_CONSENT_REDIRECT: &str = "http://127.0.0.1:45678/oauth/consent-complete";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn mcp_secret(idp: &Stack) -> String {
    idp.idp
        .mcp_client()
        .client_secret
        .expose_secret()
        .to_owned()
}

/// What mcp-tools receives: a user's token for the MCP resource, obtained by the web app.
async fn mcp_inbound(idp: &Stack, user: &str) -> String {
    let body = web_sign_in(idp, user, MCP_SCOPE).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["aud"], "api://portcullis-mcp");
    token
}

async fn obo(idp: &Stack, assertion: &str, scope: &str) -> (StatusCode, Value) {
    token(
        idp,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("requested_token_use", "on_behalf_of"),
            ("assertion", assertion),
            ("scope", scope),
        ],
        Some((MCP, &mcp_secret(idp))),
    )
    .await
}

async fn exchange(idp: &Stack, subject: &str, target: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
    ];
    form.extend_from_slice(target);
    token(idp, &form, Some((MCP, &mcp_secret(idp)))).await
}

fn assert_consent_required(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(
            "AADSTS65001: The user or administrator has not consented to use the application with \
             ID 'portcullis-mcp' named 'Portcullis MCP tools'. Send an interactive authorization \
             request for this user and resource."
        ),
        "{description}"
    );
    assert_eq!(body["error_codes"], json!([65001]));
    assert_eq!(body["suberror"], "consent_required");
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
}

fn redirect_pairs(response: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    redirect_target(response).1
}

/// The consent journey mcp-tools sends a user on: its own client, its consent-complete redirect.
fn mcp_consent_request(scope: &str) -> Vec<(String, String)> {
    authorize_params(MCP, MCP_CONSENT_REDIRECT, scope, None)
}

async fn start_with_mcp_redirect() -> Stack {
    let idp = start().await;
    idp.idp
        .set_mcp_redirect_uri(MCP_CONSENT_REDIRECT)
        .await
        .unwrap();
    idp
}

async fn reset_consents_over_http(idp: &Stack) {
    let refused = idp
        .http
        .post(endpoint_root(idp, "dev/reset-consents"))
        .header("x-dev-idp-admin", "rotate")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let response = idp
        .http
        .post(endpoint_root(idp, "dev/reset-consents"))
        .header("x-dev-idp-admin", "reset-consents")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["seeded"], 3, "alice: 2 scopes, bob: 1");
}

#[tokio::test]
async fn on_behalf_of_to_graph_follows_each_users_consent() {
    let idp = start_with_mcp_redirect().await;
    let alice = &idp.idp.users()[0];

    // Alice consented to both scopes: the exchanged token is for Graph, for her, for mcp-tools.
    let inbound = mcp_inbound(&idp, "alice").await;
    let (status, body) = obo(&idp, &inbound, &format!("{USER_READ} {CALENDARS_READ}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["scope"],
        json!(format!("{USER_READ} {CALENDARS_READ}"))
    );
    assert!(
        body.get("issued_token_type").is_none(),
        "OBO is not RFC 8693"
    );
    let graph = claims(body["access_token"].as_str().unwrap());
    assert_eq!(graph["aud"], GRAPH);
    assert_eq!(graph["azp"], MCP);
    assert_eq!(graph["oid"], json!(alice.oid));
    assert_eq!(graph["tid"], json!(idp.config.tenant_id));
    assert_eq!(graph["scp"], "User.Read Calendars.Read");
    assert_eq!(graph["iss"], json!(idp.idp.issuer()));
    assert_ne!(body["access_token"], json!(inbound), "a new token");
    // Exactly what was asked, in either spelling.
    let (status, body) = obo(&idp, &inbound, "User.Read").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["scp"],
        "User.Read"
    );

    // Bob has not consented to Calendars.Read.
    let bob_inbound = mcp_inbound(&idp, "bob").await;
    let (status, body) = obo(&idp, &bob_inbound, CALENDARS_READ).await;
    assert_consent_required(status, &body);
    let (status, body) = obo(&idp, &bob_inbound, &format!("{USER_READ} {CALENDARS_READ}")).await;
    assert_consent_required(status, &body);
    let (status, body) = obo(&idp, &bob_inbound, USER_READ).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // `.default` is what he has consented to (Entra).
    let (status, body) = obo(&idp, &bob_inbound, &format!("{GRAPH}/.default")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["scp"],
        "User.Read"
    );
    assert_eq!(body["scope"], json!(USER_READ));

    // Consent is per client: the web app has none for Graph, so its OBO is refused too.
    let web_api = web_sign_in(&idp, "alice", "api://portcullis-web/access_as_user").await;
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("requested_token_use", "on_behalf_of"),
            ("assertion", web_api["access_token"].as_str().unwrap()),
            ("scope", USER_READ),
        ],
        Some((WEB, idp.idp.web_client_secret().expose_secret())),
    )
    .await;
    assert_eq!(
        (status, body["suberror"].as_str()),
        (StatusCode::BAD_REQUEST, Some("consent_required"))
    );

    // Bob walks the consent page mcp-tools sends him to; then the same OBO succeeds.
    let answer = browser_pick(&idp, &mcp_consent_request(CALENDARS_READ), "bob").await;
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "a consent page, not a redirect"
    );
    let page = answer.text().await.unwrap();
    assert!(page.contains("Portcullis MCP tools") && page.contains("Read your calendars"));
    let back = redirect_pairs(&consent_click(&idp, &page, "consent").await);
    assert_eq!(get(&back, "state"), Some("st@te with spaces&="));
    assert_eq!(get(&back, "iss"), Some(idp.idp.issuer().as_str()));
    let code = get(&back, "code").unwrap();
    // The code is good at mcp-tools' registration (a confidential client, no PKCE).
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", MCP_CONSENT_REDIRECT),
        ],
        Some((MCP, &mcp_secret(&idp))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["aud"], GRAPH);
    let (status, body) = obo(&idp, &bob_inbound, CALENDARS_READ).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let graph = claims(body["access_token"].as_str().unwrap());
    assert_eq!(graph["scp"], "Calendars.Read");
    assert_eq!(graph["oid"], json!(idp.idp.users()[1].oid));

    // The reset endpoint restores the configured consents: bob must consent again, alice need not.
    reset_consents_over_http(&idp).await;
    let (status, body) = obo(&idp, &bob_inbound, CALENDARS_READ).await;
    assert_consent_required(status, &body);
    let (status, _) = obo(&idp, &inbound, CALENDARS_READ).await;
    assert_eq!(status, StatusCode::OK);

    // And so does the API, after another consent.
    let answer = browser_pick(&idp, &mcp_consent_request(CALENDARS_READ), "bob").await;
    let page = answer.text().await.unwrap();
    assert!(
        get(
            &redirect_pairs(&consent_click(&idp, &page, "consent").await),
            "code"
        )
        .is_some()
    );
    assert_eq!(
        obo(&idp, &bob_inbound, CALENDARS_READ).await.0,
        StatusCode::OK
    );
    idp.idp.reset_consents().await.unwrap();
    let (status, body) = obo(&idp, &bob_inbound, CALENDARS_READ).await;
    assert_consent_required(status, &body);
}

#[tokio::test]
async fn the_consent_page_asks_only_for_what_is_missing_and_cannot_be_forged() {
    let idp = start_with_mcp_redirect().await;
    let both = format!("{USER_READ} {CALENDARS_READ}");

    // Alice has consented: a code straight away, no page.
    let answer = browser_pick(&idp, &mcp_consent_request(&both), "alice").await;
    assert!(get(&redirect_pairs(&answer), "code").is_some());
    // Unless the client asks for the prompt.
    let mut prompted = mcp_consent_request(&both);
    prompted.push(("prompt".to_owned(), "consent".to_owned()));
    let answer = browser_pick(&idp, &prompted, "alice").await;
    assert_eq!(answer.status(), StatusCode::OK);
    let page = answer.text().await.unwrap();
    assert!(
        page.contains("Sign you in and read your profile") && page.contains("Read your calendars")
    );
    assert!(
        get(
            &redirect_pairs(&consent_click(&idp, &page, "consent").await),
            "code"
        )
        .is_some()
    );

    // Bob sees only what he has not granted, on a page nothing may cache or frame.
    let answer = browser_pick(&idp, &mcp_consent_request(&both), "bob").await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[header::CACHE_CONTROL], "no-store");
    let csp = answer.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:45678"),
        "{csp}"
    );
    let page = answer.text().await.unwrap();
    assert!(page.contains(&format!(r#"data-testid="consent-scope-{CALENDARS_READ}""#)));
    assert!(!page.contains(&format!(r#"data-testid="consent-scope-{USER_READ}""#)));
    assert!(page.contains("Bob Jones"));

    // Cancel: access_denied back to the client, nothing recorded.
    let back = redirect_pairs(&consent_click(&idp, &page, "cancel").await);
    assert_eq!(get(&back, "error"), Some("access_denied"));
    assert_eq!(get(&back, "state"), Some("st@te with spaces&="));
    assert!(get(&back, "code").is_none());
    let bob_inbound = mcp_inbound(&idp, "bob").await;
    assert_consent_required_status(&idp, &bob_inbound).await;

    // Accept needs the page's own ticket: not a made-up one, not one shown for another user, not twice.
    let refused = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::LOCATION).is_none());
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("consent page has expired")
        );
    };
    let forged: Vec<(String, String)> = mcp_consent_request(&both)
        .into_iter()
        .chain([
            ("user".to_owned(), "bob".to_owned()),
            ("action".to_owned(), "consent".to_owned()),
            ("consent_ticket".to_owned(), "guessed".to_owned()),
        ])
        .collect();
    refused(
        idp.http
            .post(endpoint(&idp, "oauth2/v2.0/authorize"))
            .form(&forged)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let no_ticket: Vec<_> = forged
        .iter()
        .filter(|(k, _)| k != "consent_ticket")
        .cloned()
        .collect();
    refused(
        idp.http
            .post(endpoint(&idp, "oauth2/v2.0/authorize"))
            .form(&no_ticket)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let page = browser_pick(&idp, &mcp_consent_request(&both), "bob")
        .await
        .text()
        .await
        .unwrap();
    let swapped: Vec<(String, String)> = hidden_fields(&page)
        .into_iter()
        .map(|(k, v)| {
            if k == "user" {
                (k, "alice".to_owned())
            } else {
                (k, v)
            }
        })
        .chain([("action".to_owned(), "consent".to_owned())])
        .collect();
    refused(
        idp.http
            .post(endpoint(&idp, "oauth2/v2.0/authorize"))
            .form(&swapped)
            .send()
            .await
            .unwrap(),
    )
    .await;
    // That attempt used the ticket up.
    refused(consent_click(&idp, &page, "consent").await).await;
    assert_consent_required_status(&idp, &bob_inbound).await;

    // A fresh page accepted once works, and a replay of it does not.
    let page = browser_pick(&idp, &mcp_consent_request(&both), "bob")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        get(
            &redirect_pairs(&consent_click(&idp, &page, "consent").await),
            "code"
        )
        .is_some()
    );
    refused(consent_click(&idp, &page, "consent").await).await;
    assert_eq!(
        obo(&idp, &bob_inbound, CALENDARS_READ).await.0,
        StatusCode::OK
    );

    // Resources that track no consent never show the page (the web app's sign-in is unchanged).
    let p = pkce();
    let answer = browser_pick(
        &idp,
        &authorize_params(WEB, REDIRECT, &format!("openid {MCP_SCOPE}"), Some(&p)),
        "bob",
    )
    .await;
    assert!(get(&redirect_pairs(&answer), "code").is_some());
}

async fn assert_consent_required_status(idp: &Stack, bob_inbound: &str) {
    let (status, body) = obo(idp, bob_inbound, CALENDARS_READ).await;
    assert_consent_required(status, &body);
}

#[tokio::test]
async fn token_exchange_to_graph_follows_consent_and_takes_only_delegated_tokens_for_the_caller() {
    let idp = start_with_mcp_redirect().await;
    let alice = &idp.idp.users()[0];
    let inbound = mcp_inbound(&idp, "alice").await;

    let (status, body) = exchange(&idp, &inbound, &[("scope", CALENDARS_READ)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(body["scope"], json!(CALENDARS_READ));
    let graph = claims(body["access_token"].as_str().unwrap());
    assert_eq!(graph["aud"], GRAPH);
    assert_eq!(graph["azp"], MCP);
    assert_eq!(graph["oid"], json!(alice.oid));
    assert_eq!(graph["tid"], json!(idp.config.tenant_id));
    assert_eq!(graph["scp"], "Calendars.Read");
    // requested_token_type may be given; audience alone means every consented scope.
    let (status, body) = exchange(
        &idp,
        &inbound,
        &[
            ("audience", GRAPH),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["scp"],
        "User.Read Calendars.Read"
    );
    let (status, body) = exchange(
        &idp,
        &inbound,
        &[("audience", GRAPH), ("scope", "User.Read")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["scp"],
        "User.Read"
    );

    // Bob: invalid_scope naming what he has not consented to; audience alone gives what he has.
    let bob_inbound = mcp_inbound(&idp, "bob").await;
    let (status, body) = exchange(
        &idp,
        &bob_inbound,
        &[("scope", &format!("{USER_READ} {CALENDARS_READ}"))],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope")),
        "{body}"
    );
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains(CALENDARS_READ), "{description}");
    assert!(!description.contains(USER_READ), "{description}");
    let (status, body) = exchange(&idp, &bob_inbound, &[("audience", GRAPH)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["scp"],
        "User.Read"
    );
    // After his consent the exchange works.
    let page = browser_pick(&idp, &mcp_consent_request(CALENDARS_READ), "bob")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        get(
            &redirect_pairs(&consent_click(&idp, &page, "consent").await),
            "code"
        )
        .is_some()
    );
    let (status, body) = exchange(&idp, &bob_inbound, &[("scope", CALENDARS_READ)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Refused: a public client...
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", &inbound),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("scope", USER_READ),
            ("client_id", "portcullis-console"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    // ...an app-only token (even one whose audience is the caller)...
    let (_, app) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "api://portcullis-mcp/.default"),
        ],
        Some((WEB, idp.idp.web_client_secret().expose_secret())),
    )
    .await;
    let app_token = app["access_token"].as_str().unwrap();
    assert_eq!(claims(app_token)["aud"], "api://portcullis-mcp");
    let (status, body) = exchange(&idp, app_token, &[("scope", USER_READ)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("application token")
    );
    let (status, body) = obo(&idp, app_token, USER_READ).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "on-behalf-of refuses it as well"
    );
    // ...a subject token issued for someone else (the web app's API), with either grant...
    let web_api = web_sign_in(&idp, "alice", "api://portcullis-web/access_as_user").await;
    let foreign = web_api["access_token"].as_str().unwrap();
    let (status, body) = exchange(&idp, foreign, &[("scope", USER_READ)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    assert_eq!(
        obo(&idp, foreign, USER_READ).await.1["error"],
        "invalid_grant"
    );
    // ...and a forged one (payload changed, signature kept).
    let mut parts: Vec<String> = inbound.split('.').map(str::to_owned).collect();
    let mut payload = claims(&inbound);
    payload["oid"] = json!(idp.idp.users()[1].oid);
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let (status, _) = exchange(&idp, &parts.join("."), &[("scope", USER_READ)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Malformed requests.
    for (target, error) in [
        (
            vec![
                ("scope", USER_READ),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
            ],
            "invalid_request",
        ),
        (
            vec![("audience", "https://unknown.example")],
            "invalid_target",
        ),
        (
            vec![("audience", "api://portcullis-mcp"), ("scope", USER_READ)],
            "invalid_target",
        ),
        (
            vec![("resource", GRAPH), ("scope", USER_READ)],
            "invalid_target",
        ),
        // Every `resource` counts, not only the last one.
        (
            vec![("resource", GRAPH), ("resource", ""), ("scope", USER_READ)],
            "invalid_target",
        ),
        (
            vec![("scope", &format!("openid {USER_READ}"))],
            "invalid_scope",
        ),
        (vec![("scope", "openid")], "invalid_scope"),
        (vec![], "invalid_request"),
    ] {
        let (status, body) = exchange(&idp, &inbound, &target).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{target:?}: {body}"
        );
    }
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", &inbound),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("scope", USER_READ),
        ],
        Some((MCP, &mcp_secret(&idp))),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // A wrong secret is a client error.
    let (status, _) = token(
        &idp,
        &[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", &inbound),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("scope", USER_READ),
        ],
        Some((MCP, "wrong")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn graph_and_token_exchange_are_advertised_and_the_mcp_client_is_kept() {
    let idp = start().await;
    let doc = discovery(&idp).await;
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(TOKEN_EXCHANGE)), "{grants:?}");
    assert!(grants.contains(&json!("urn:ietf:params:oauth:grant-type:jwt-bearer")));
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&json!(USER_READ)) && scopes.contains(&json!(CALENDARS_READ)));

    // The generated secret is kept (0600) and survives a restart; a configured one is used as is.
    let secret = mcp_secret(&idp);
    assert_eq!(idp.idp.mcp_client().client_id, MCP);
    let Stack { dir, config, .. } = idp;
    let file = dir.path().join("dev-idp/mcp-client-secret");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let idp = start_in(dir, config).await;
    assert_eq!(mcp_secret(&idp), secret);
    assert_ne!(secret, idp.idp.web_client_secret().expose_secret());
    let Stack { dir, config, .. } = idp;
    let configured = IdpConfig {
        mcp_client_id: "tools".to_owned(),
        mcp_client_secret: Some("configured-secret".into()),
        resources: vec![
            dev_stack::idp::Resource::new("api://portcullis-mcp", &["mcp:tools"]),
            dev_stack::idp::Resource::new("api://tools", &["mcp:tools"]),
        ],
        graph_consents: vec!["bob=Calendars.Read".parse().unwrap()],
        ..config
    };
    let idp = start_in(dir, configured).await;
    assert_eq!(idp.idp.mcp_client().client_id, "tools");
    assert_eq!(mcp_secret(&idp), "configured-secret");

    // Redirect URIs are added (several mcp-tools may share one IdP), and only a usable one is taken.
    assert!(idp.idp.set_mcp_redirect_uri("not a url").await.is_err());
    assert!(
        idp.idp
            .set_mcp_redirect_uri("javascript:alert(1)")
            .await
            .is_err()
    );
    idp.idp
        .set_mcp_redirect_uri("http://127.0.0.1:40001/oauth/consent-complete")
        .await
        .unwrap();
    let authorize = |redirect: &str| {
        idp.http
            .get(endpoint(&idp, "oauth2/v2.0/authorize"))
            .query(&authorize_params("tools", redirect, USER_READ, None))
            .send()
    };
    let old = authorize("http://127.0.0.1:8081/oauth/consent-complete")
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::OK, "the configured one stays");
    let new = authorize("http://127.0.0.1:40001/oauth/consent-complete")
        .await
        .unwrap();
    assert_eq!(new.status(), StatusCode::OK);
    let unknown = authorize("http://127.0.0.1:40002/oauth/consent-complete")
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        StatusCode::BAD_REQUEST,
        "another port is not registered"
    );

    // The configured consents are the configured client's: bob now has Calendars.Read there, and
    // not User.Read.
    let body = web_sign_in(&idp, "bob", "api://tools/mcp:tools").await;
    let inbound = body["access_token"].as_str().unwrap();
    let tools_obo = |scope: &'static str| {
        [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("requested_token_use", "on_behalf_of"),
            ("assertion", inbound),
            ("scope", scope),
        ]
    };
    let tools = Some(("tools", "configured-secret"));
    let (status, body) = token(&idp, &tools_obo(CALENDARS_READ), tools).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = token(&idp, &tools_obo(USER_READ), tools).await;
    assert_eq!(
        (status, body["suberror"].as_str()),
        (StatusCode::BAD_REQUEST, Some("consent_required"))
    );

    // A consent seed naming an unknown user or scope stops the IdP from opening.
    for seed in ["carol=User.Read", "bob=Mail.Send"] {
        let bad = IdpConfig {
            graph_consents: vec![seed.parse().unwrap()],
            ..idp_config()
        };
        let dir = tempfile::tempdir().unwrap();
        let error = DevIdp::open(&bad, dir.path(), "http://127.0.0.1:1")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("APP_DEV_IDP__GRAPH_CONSENTS"), "{error}");
    }
}

#[tokio::test]
async fn a_refresh_refused_for_missing_consent_keeps_the_refresh_token() {
    let idp = start().await;
    let signed_in = web_sign_in(&idp, "bob", "openid profile offline_access").await;
    let refresh = signed_in["refresh_token"].as_str().unwrap();
    let secret = idp.idp.web_client_secret().expose_secret().to_owned();
    // Graph's scope without the user's consent: AADSTS65001, and the refresh token is not spent.
    let (status, body) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", USER_READ),
        ],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["suberror"], "consent_required");
    let (status, body) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some((WEB, &secret)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same refresh token still works: {body}"
    );
}
