//! The development identity provider over real HTTP: every grant, every refusal, discovery, keys,
//! logout, registration; interop with panva's openid-client; and mcp-tools accepting its delegated
//! tokens while refusing its app-only ones.

use std::{future::pending, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use dev_stack::{
    IdpConfig,
    idp::{self, DevIdp},
};
use reqwest::{StatusCode, header, redirect::Policy};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

const WEB: &str = "portcullis-web";
const REDIRECT: &str = "http://127.0.0.1:3999/auth/callback";
const MCP_SCOPE: &str = "api://portcullis-mcp/mcp:tools";

struct Idp {
    idp: DevIdp,
    http: reqwest::Client,
    config: IdpConfig,
    dir: tempfile::TempDir,
}

fn test_config() -> IdpConfig {
    IdpConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        web_redirect_uri: REDIRECT.to_owned(),
        web_post_logout_redirect_uri: "http://127.0.0.1:3999/".to_owned(),
        ..IdpConfig::default()
    }
}

async fn start_in(dir: tempfile::TempDir, config: IdpConfig) -> Idp {
    let listener = idp::bind(&config, /* in production: */ false)
        .await
        .unwrap();
    let (idp, _) = idp::serve(listener, &config, dir.path(), pending())
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    Idp {
        idp,
        http,
        config,
        dir,
    }
}

async fn start() -> Idp {
    start_in(tempfile::tempdir().unwrap(), test_config()).await
}

fn endpoint(idp: &Idp, path: &str) -> String {
    format!("{}/{path}", idp.idp.issuer().trim_end_matches("/v2.0"))
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as usize
            + i * 7919) as u8;
    }
    b
}

fn authorize_params(
    client_id: &str,
    redirect: &str,
    scope: &str,
    pkce: Option<&Pkce>,
) -> Vec<(String, String)> {
    let mut params = vec![
        ("client_id".to_owned(), client_id.to_owned()),
        ("redirect_uri".to_owned(), redirect.to_owned()),
        ("response_type".to_owned(), "code".to_owned()),
        ("scope".to_owned(), scope.to_owned()),
        ("state".to_owned(), "st@te with spaces&=".to_owned()),
        ("nonce".to_owned(), "n-0S6_WzA2Mj".to_owned()),
    ];
    if let Some(p) = pkce {
        params.push(("code_challenge".to_owned(), p.challenge.clone()));
        params.push(("code_challenge_method".to_owned(), "S256".to_owned()));
    }
    params
}

/// Posts the sign-in choice; returns the redirect's query parameters.
async fn sign_in(idp: &Idp, params: &[(String, String)], user: &str) -> Vec<(String, String)> {
    let mut form = params.to_vec();
    form.push(("user".to_owned(), user.to_owned()));
    let response = idp
        .http
        .post(endpoint(idp, "oauth2/v2.0/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        response.text().await
    );
    let location = Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn token(
    idp: &Idp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut request = idp.http.post(endpoint(idp, "oauth2/v2.0/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (status, response.json().await.unwrap())
}

/// Full code flow for the web app; returns the token response.
async fn web_sign_in(idp: &Idp, user: &str, scope: &str) -> Value {
    let p = pkce();
    let params = authorize_params(WEB, REDIRECT, scope, Some(&p));
    let back = sign_in(idp, &params, user).await;
    let code = get(&back, "code").unwrap().to_owned();
    let (status, body) = token(
        idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ],
        Some((WEB, idp.idp.web_client_secret().expose_secret())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

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
        let location = Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        let pairs: Vec<(String, String)> = location
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
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

async fn jwks_kids(idp: &Idp) -> Vec<String> {
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
    let Idp { dir, config, .. } = idp;
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

fn endpoint_root(idp: &Idp, path: &str) -> String {
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
