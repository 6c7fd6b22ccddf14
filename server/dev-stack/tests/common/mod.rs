//! What the dev stack's tests share: the dev IdP on a port the OS picks with its data in a temporary
//! folder (with the Graph stand-in and in-process mcp-tools where a test needs them), a client that
//! behaves like a browser, the web app's code flow, and readers of what the IdP answers: JWT claims,
//! redirect parameters, the hidden fields of its pages' forms.

#![allow(dead_code)] // each test file uses its own part

use std::future::pending;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use dev_stack::{
    IdpConfig,
    graph::{self, GraphStandIn},
    idp::{self, DevIdp, DevUser},
    mcp,
};
use mcp_tools::config::OboGrant;
use reqwest::{StatusCode, header, redirect::Policy};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

/// The web app (confidential) and its redirect URI; nothing listens there, the tests read redirects.
pub const WEB: &str = "portcullis-web";
pub const REDIRECT: &str = "http://127.0.0.1:3999/auth/callback";
/// The console: a public client on a loopback redirect, as an MCP SDK client is.
pub const CONSOLE: &str = "portcullis-console";
pub const MCP_SCOPE: &str = "api://portcullis-mcp/mcp:tools";

/// The dev IdP, the Graph stand-in where the test asked for it, a browser-like client, the IdP's
/// configuration, and the data folder of the IdP and of the mcp-tools a test starts.
pub struct Stack {
    pub idp: DevIdp,
    graph: Option<GraphStandIn>,
    pub http: reqwest::Client,
    pub config: IdpConfig,
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// The Graph stand-in; only a stack from [`start_with_graph`] has one.
    pub fn graph(&self) -> &GraphStandIn {
        self.graph
            .as_ref()
            .expect("a stack started with start_with_graph")
    }
}

/// The IdP on loopback at a port the OS picks, with the web app at [`REDIRECT`]'s origin.
pub fn idp_config() -> IdpConfig {
    IdpConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        web_redirect_uri: REDIRECT.to_owned(),
        web_post_logout_redirect_uri: "http://127.0.0.1:3999/".to_owned(),
        ..IdpConfig::default()
    }
}

/// The dev IdP with its data in `dir` (a restart on the same folder keeps keys and secrets).
pub async fn start_in(dir: tempfile::TempDir, config: IdpConfig) -> Stack {
    let listener = idp::bind(&config, /* in production: */ false)
        .await
        .unwrap();
    let (idp, _) = idp::serve(listener, &config, dir.path(), pending())
        .await
        .unwrap();
    Stack {
        idp,
        graph: None,
        http: browser(),
        config,
        dir,
    }
}

/// The dev IdP with `config` in a new temporary folder.
pub async fn start_with(config: IdpConfig) -> Stack {
    start_in(tempfile::tempdir().unwrap(), config).await
}

/// The dev IdP with [`idp_config`].
pub async fn start() -> Stack {
    start_with(idp_config()).await
}

/// The dev IdP with `config` and the Graph stand-in trusting it.
pub async fn start_with_graph(config: IdpConfig) -> Stack {
    let mut stack = start_with(config).await;
    let graph = graph::start("127.0.0.1:0".parse().unwrap(), &stack.idp, pending())
        .await
        .unwrap();
    stack.graph = Some(graph);
    stack
}

/// mcp-tools in process, trusting the stack's IdP, with its own data folder `folder` (and so its own,
/// empty cache of exchanged tokens); its MCP endpoint URL. With `grant` it exchanges tokens that way
/// at the IdP and calls the stack's Graph stand-in; the IdP registers the newest one's consent landing
/// page only.
pub async fn start_mcp(stack: &Stack, folder: &str, grant: Option<OboGrant>) -> Url {
    let data = stack.dir.path().join(folder);
    std::fs::create_dir_all(&data).unwrap();
    let downstream = grant.map(|grant| mcp::Downstream {
        graph: stack.graph(),
        grant,
    });
    mcp::start(
        "127.0.0.1:0".parse().unwrap(),
        &stack.idp,
        &data,
        downstream,
        pending(),
    )
    .await
    .unwrap()
}

/// The sales MCP server in process, trusting the stack's IdP, with its data in the folder `folder`; its
/// MCP endpoint URL (an identifier URI of the sales resource at the IdP from then on).
pub async fn start_sales(stack: &Stack, folder: &str) -> Url {
    let data = stack.dir.path().join(folder);
    std::fs::create_dir_all(&data).unwrap();
    mcp::start_sales("127.0.0.1:0".parse().unwrap(), &stack.idp, &data, pending())
        .await
        .unwrap()
}

/// A client that behaves like a browser with cookies off: no redirects followed, no proxy.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// `path` under the IdP's tenant (`…/{tenant}/{path}`).
pub fn endpoint(stack: &Stack, path: &str) -> String {
    format!("{}/{path}", stack.idp.issuer().trim_end_matches("/v2.0"))
}

/// The IdP's OpenID discovery document at its issuer.
pub async fn discovery(stack: &Stack) -> Value {
    stack
        .http
        .get(format!(
            "{}/.well-known/openid-configuration",
            stack.idp.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn user<'a>(stack: &'a Stack, username: &str) -> &'a DevUser {
    stack
        .idp
        .users()
        .iter()
        .find(|u| u.username == username)
        .unwrap()
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

/// A fresh PKCE verifier and its S256 challenge.
pub fn pkce() -> Pkce {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// An authorization request with a state and a nonce that need escaping, and PKCE S256 if given.
pub fn authorize_params(
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

/// Where a redirect points and its query parameters (the status is the caller's to check).
pub fn redirect_target(response: &reqwest::Response) -> (Url, Vec<(String, String)>) {
    let location = Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let pairs = location
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (location, pairs)
}

/// Posts the sign-in choice; returns the redirect's query parameters.
pub async fn sign_in(
    stack: &Stack,
    params: &[(String, String)],
    user: &str,
) -> Vec<(String, String)> {
    let mut form = params.to_vec();
    form.push(("user".to_owned(), user.to_owned()));
    let response = stack
        .http
        .post(endpoint(stack, "oauth2/v2.0/authorize"))
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
    redirect_target(&response).1
}

pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// POST to the token endpoint, with HTTP Basic client authentication if `basic`; the status and the
/// JSON body. Every answer, success or error, must not be cached.
pub async fn token(
    stack: &Stack,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut request = stack
        .http
        .post(endpoint(stack, "oauth2/v2.0/token"))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (status, response.json().await.unwrap())
}

/// Full code flow (PKCE) for the web app, signing `user` in; returns the token response.
pub async fn web_sign_in(stack: &Stack, user: &str, scope: &str) -> Value {
    let p = pkce();
    let params = authorize_params(WEB, REDIRECT, scope, Some(&p));
    let back = sign_in(stack, &params, user).await;
    let code = get(&back, "code").unwrap().to_owned();
    let (status, body) = token(
        stack,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ],
        Some((WEB, stack.idp.web_client_secret().expose_secret())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A JWT's payload, unverified.
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Undoes the pages' HTML escaping of text and attribute values.
pub fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `<input type="hidden">` fields of a page's form, unescaped, in order: what a browser submits.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = tag[start..].find('"')? + start;
        Some(unescape(&tag[start..end]))
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// A browser at the authorization endpoint: opens the sign-in page, clicks `user`, and returns the
/// answer to that click (a consent page, or the redirect).
pub async fn browser_pick(
    stack: &Stack,
    params: &[(String, String)],
    user: &str,
) -> reqwest::Response {
    let page = stack
        .http
        .get(endpoint(stack, "oauth2/v2.0/authorize"))
        .query(params)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let mut form = hidden_fields(&page.text().await.unwrap());
    form.push(("user".to_owned(), user.to_owned()));
    stack
        .http
        .post(endpoint(stack, "oauth2/v2.0/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Clicks `action` (`consent` or `cancel`) on a consent page; returns the answer.
pub async fn consent_click(stack: &Stack, consent_page: &str, action: &str) -> reqwest::Response {
    let mut form = hidden_fields(consent_page);
    form.push(("action".to_owned(), action.to_owned()));
    stack
        .http
        .post(endpoint(stack, "oauth2/v2.0/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The web app's code flow (PKCE) through the pages as a browser walks them, accepting the consent
/// page if one comes (a consent-tracked scope `user` has not granted the web app); the token response.
pub async fn web_sign_in_consenting(stack: &Stack, user: &str, scope: &str) -> Value {
    let p = pkce();
    let params = authorize_params(WEB, REDIRECT, scope, Some(&p));
    let mut answer = browser_pick(stack, &params, user).await;
    if answer.status() == StatusCode::OK {
        let page = answer.text().await.unwrap();
        answer = consent_click(stack, &page, "consent").await;
    }
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let back = redirect_target(&answer).1;
    let code = get(&back, "code").expect("a code").to_owned();
    let (status, body) = token(
        stack,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ],
        Some((WEB, stack.idp.web_client_secret().expose_secret())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}
