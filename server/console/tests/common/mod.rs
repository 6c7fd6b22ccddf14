//! What the console's tests share: the dev stack in process (the dev IdP and mcp-tools trusting it, on
//! ports the OS picks), the real `portcullis-console` binary run under a pseudo-terminal, and a
//! "browser" (reqwest) that completes the dev IdP's sign-in page as a person would.

#![allow(dead_code)] // each test file uses its own part

pub mod pty;

use std::{
    future::pending,
    path::{Path, PathBuf},
    time::Duration,
};

use dev_stack::{
    IdpConfig,
    idp::{self, DevIdp},
};
use reqwest::{StatusCode, header, redirect::Policy};
use url::Url;

pub use pty::Console;

/// The scope the in-process mcp-tools' tokens need.
pub const SCOPE: &str = "api://portcullis-mcp/mcp:tools";
/// The dev IdP's pre-registered console client.
pub const CLIENT_ID: &str = "portcullis-console";
/// Longest wait for anything the console prints.
pub const WAIT: Duration = Duration::from_secs(60);

/// The dev IdP and mcp-tools, each on its own loopback port, with their state in a temporary folder.
pub struct Stack {
    pub idp: DevIdp,
    pub mcp: Url,
    /// The development model's `…/v1`.
    pub model: Url,
    pub dir: tempfile::TempDir,
}

impl Stack {
    pub async fn start() -> Self {
        Self::with_lifetime(Duration::from_secs(3600)).await
    }

    /// With access tokens that live `lifetime`.
    pub async fn with_lifetime(lifetime: Duration) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let config = IdpConfig {
            bind: "127.0.0.1:0".parse().expect("an address"),
            access_token_lifetime: lifetime,
            // The device flow's tests poll every second, not every five.
            device_poll_interval: Duration::from_secs(1),
            ..IdpConfig::default()
        };
        let listener = idp::bind(&config, false).await.expect("the IdP binds");
        let (idp, _) = idp::serve(listener, &config, dir.path(), pending())
            .await
            .expect("the IdP serves");
        let mcp = dev_stack::mcp::start(
            "127.0.0.1:0".parse().expect("an address"),
            &idp,
            dir.path(),
            None,
            pending(),
        )
        .await
        .expect("mcp-tools serves");
        let model = dev_stack::model::start(
            &dev_stack::ModelConfig {
                bind: "127.0.0.1:0".parse().expect("an address"),
            },
            pending(),
        )
        .await
        .expect("the development model serves");
        Self {
            idp,
            mcp,
            model,
            dir,
        }
    }

    /// A console folder of its own (the cache, the key file).
    pub fn home(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The environment of a console that knows the authority and its client id.
    pub fn configured_env(&self, home: &Path) -> Vec<(String, String)> {
        let mut env = base_env(home);
        env.push((
            "APP_MCP_SERVERS".into(),
            format!("tools={} {SCOPE}", self.mcp),
        ));
        env.push(("APP_AUTH__AUTHORITY".into(), self.idp.issuer()));
        env.push(("APP_CONSOLE__CLIENT_ID".into(), CLIENT_ID.into()));
        env.push(("APP_MODEL__BASE_URL".into(), self.model.to_string()));
        env
    }

    /// The environment of a console that knows nothing but the server's URL.
    pub fn discovery_env(&self, home: &Path) -> Vec<(String, String)> {
        let mut env = base_env(home);
        env.push(("APP_MCP_SERVERS".into(), format!("tools={}", self.mcp)));
        env
    }
}

/// What every console under test gets: its own folder, the key in a file (never the OS keyring), no
/// browser, a short sign-in wait.
pub fn base_env(home: &Path) -> Vec<(String, String)> {
    [
        ("PORTCULLIS_CONSOLE_HOME", home.display().to_string()),
        ("APP_CONSOLE__KEY_STORE", "file".to_owned()),
        ("APP_CONSOLE__OPEN_BROWSER", "false".to_owned()),
        ("APP_CONSOLE__SIGN_IN_TIMEOUT_SECS", "60".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
        ("NO_PROXY", "127.0.0.1,localhost".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The sign-in URL the console printed (the first URL on the dev IdP's authorize endpoint).
pub fn sign_in_url(output: &str) -> Option<Url> {
    output
        .split_whitespace()
        .find(|word| word.starts_with("http://") && word.contains("/oauth2/v2.0/authorize?"))
        .and_then(|word| Url::parse(word).ok())
}

/// `name="…" value="…"` of every `<input type="hidden">` on a page.
fn hidden_inputs(page: &str) -> Vec<(String, String)> {
    inputs(page, "hidden")
}

/// `name="…" value="…"` of every `<input type="{kind}">` on a page.
fn inputs(page: &str, kind: &str) -> Vec<(String, String)> {
    page.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains(&format!("type=\"{kind}\"")))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// The value of attribute `name` in an HTML tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .build()
        .expect("a client")
}

/// Opens the sign-in page at `url` and submits the form with `button` (`("user", "alice")`, or
/// `("action", "cancel")`) as a browser would; returns where the IdP sends the browser next.
pub async fn submit_sign_in(url: &Url, button: (&str, &str)) -> Url {
    let http = browser();
    let page = http
        .get(url.clone())
        .send()
        .await
        .expect("the sign-in page");
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.expect("its HTML");
    assert!(page.contains("Sign in"), "{page}");
    let mut form = hidden_inputs(&page);
    assert!(
        form.iter().any(|(name, _)| name == "code_challenge"),
        "the request carries PKCE: {form:?}"
    );
    form.push((button.0.to_owned(), button.1.to_owned()));
    // The form has no action: it posts to the page's own URL.
    let answer = http
        .post(url.clone())
        .form(&form)
        .send()
        .await
        .expect("the IdP answers the form");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer.headers()[header::LOCATION]
        .to_str()
        .expect("a location");
    Url::parse(location).expect("a URL")
}

/// Follows the IdP's redirect to the console's loopback listener; returns its status and page.
pub async fn follow(callback: &Url) -> (StatusCode, String) {
    let response = browser()
        .get(callback.clone())
        .send()
        .await
        .expect("the console's listener answers");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

/// Completes the sign-in the console is waiting for, as `user`.
pub async fn sign_in_as(console: &Console, user: &str) -> Url {
    let output = console.expect("/oauth2/v2.0/authorize?", WAIT).await;
    let url = sign_in_url(&output).expect("the console printed the sign-in URL");
    let callback = submit_sign_in(&url, ("user", user)).await;
    assert!(
        callback.as_str().starts_with("http://127.0.0.1:") && callback.path() == "/callback",
        "{callback}"
    );
    let (status, page) = follow(&callback).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("You are signed in"), "{page}");
    url
}

/// The device sign-in page the console printed (`verification_uri_complete`, with the user code).
pub fn device_url(output: &str) -> Option<Url> {
    output
        .split_whitespace()
        .find(|word| {
            word.starts_with("http://") && word.contains("/oauth2/v2.0/deviceauth?user_code=")
        })
        .and_then(|word| Url::parse(word).ok())
}

/// One page of the device verification: the form's target and the page.
struct DevicePage {
    action: Url,
    html: String,
}

impl DevicePage {
    async fn read(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.expect("its HTML");
        let form = html
            .split("<form")
            .nth(1)
            .and_then(|rest| rest.split('>').next())
            .unwrap_or_else(|| panic!("a form on the page:\n{html}"));
        let action = attribute(form, "action").expect("the form's action");
        Self {
            action: Url::parse(&action).expect("an absolute action"),
            html,
        }
    }

    /// Submits the form: its hidden fields, plus `button` (the pressed button's name and value).
    async fn submit(&self, http: &reqwest::Client, button: (&str, &str)) -> reqwest::Response {
        let mut form = hidden_inputs(&self.html);
        form.push((button.0.to_owned(), button.1.to_owned()));
        http.post(self.action.clone())
            .form(&form)
            .send()
            .await
            .expect("the IdP answers the form")
    }
}

/// Completes the device verification page at `url` (its code prefilled) as a browser would: submit
/// the code, choose `user`, then press `action` (`approve` or `cancel`) on the Accept page. Returns
/// the last page's HTML.
pub async fn complete_device_sign_in(url: &Url, user: &str, action: &str) -> String {
    let http = browser();
    let code_page =
        DevicePage::read(http.get(url.clone()).send().await.expect("the code page")).await;
    let typed = inputs(&code_page.html, "text");
    assert!(
        typed
            .iter()
            .any(|(name, value)| name == "user_code" && !value.is_empty()),
        "the code is prefilled: {typed:?}"
    );
    let mut form = typed;
    form.push(("action".to_owned(), "code".to_owned()));
    let choose = DevicePage::read(
        http.post(code_page.action.clone())
            .form(&form)
            .send()
            .await
            .expect("the user page"),
    )
    .await;
    assert!(
        choose.html.contains(&format!("value=\"{user}\"")),
        "{}",
        choose.html
    );
    let accept = DevicePage::read(choose.submit(&http, ("user", user)).await).await;
    let done = accept.submit(&http, ("action", action)).await;
    assert_eq!(done.status(), StatusCode::OK);
    done.text().await.expect("the last page")
}

/// Waits for the console's device sign-in instructions and completes them as `user`, approving.
pub async fn device_sign_in_as(console: &Console, user: &str) -> Url {
    // The line after the URL: the URL is on the screen whole.
    let output = console.expect("Ctrl-C to give up", WAIT).await;
    let url = device_url(&output).expect("the console printed the device page");
    let page = complete_device_sign_in(&url, user, "approve").await;
    assert!(page.contains("You have signed in to"), "{page}");
    url
}
