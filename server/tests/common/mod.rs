//! Shared by the router tests: a web app over its router (`oneshot`) with the whole dev stack
//! (identity provider, in-process mcp-tools, dev model) on ephemeral loopback ports, and sign-in helpers.
#![allow(dead_code)]

pub mod chat;

use app::chat::{ConversationView, Entry};
use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use serde_json::{Value, json};
use server::{
    AppState,
    auth::identity_key,
    config::Config,
    dev::{self, DevStack},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use url::Url;

pub struct TestApp {
    pub config: Config,
    pub router: Router,
    pub state: AppState,
    pub dev: DevStack,
    pub http: reqwest::Client,
    pub _dir: tempfile::TempDir,
    _stop: tokio_util::sync::DropGuard,
}

pub async fn test_app_with(extra: serde_json::Value) -> TestApp {
    test_app_in(tempfile::tempdir().unwrap(), extra).await
}

pub async fn test_app_in(dir: tempfile::TempDir, extra: serde_json::Value) -> TestApp {
    let mut raw = json!({
        "data_dir": dir.path(),
        "dev_idp": {
            "bind": "127.0.0.1:0",
            "web_redirect_uri": "http://127.0.0.1:3000/auth/callback",
            "access_token_lifetime_secs": 30,
        },
        "dev_mcp": { "bind": "127.0.0.1:0" },
        "dev_sales": { "bind": "127.0.0.1:0" },
        "dev_model": { "bind": "127.0.0.1:0" },
        "dev_graph": { "bind": "127.0.0.1:0" },
    });
    json_merge(&mut raw, extra);
    let config: Config = serde_json::from_value(raw).unwrap();
    let stop = CancellationToken::new();
    let dev = dev::start(&config, stop.clone()).await.unwrap();
    test_app_over(dir, config, dev, stop).await
}

pub fn json_merge(base: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(base), serde_json::Value::Object(extra)) = (base.as_object_mut(), extra) {
        for (k, v) in extra {
            base.insert(k, v);
        }
    }
}

pub async fn test_app() -> TestApp {
    test_app_with(json!({})).await
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }

    /// `name=value` of the session cookie this response sets, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookie()
            .map(|c| c.split(';').next().unwrap().to_owned())
    }

    pub fn set_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.contains("portcullis_session="))
    }
}

impl TestApp {
    /// The web server restarted: all its in-memory state is gone; the database file and the other
    /// services (identity provider, mcp-tools, model) stay.
    pub async fn restart(mut self) -> Self {
        let options = self.state.leptos_options.clone();
        let state = AppState::build(self.config.clone(), options, &self.dev)
            .await
            .unwrap();
        self.router = server::router(state.clone());
        self.state = state;
        self
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// A server function (`/api/<endpoint>`) with a JSON body.
    pub async fn call(&self, cookie: &str, endpoint: &str, body: serde_json::Value) -> Reply {
        self.send(
            Request::post(format!("/api/{endpoint}"))
                .header(header::COOKIE, cookie)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// Starts an Auto-mode conversation with `text` and waits until its turn is over.
    pub async fn turn(&self, cookie: &str, text: &str) -> ConversationView {
        let reply = self
            .call(
                cookie,
                "chat/start",
                json!({ "text": text, "mode": "Auto" }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let id = serde_json::from_str::<Value>(&reply.body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let reply = self.call(cookie, "chat/get", json!({ "id": id })).await;
            let view: ConversationView = serde_json::from_str(&reply.body).unwrap();
            let answered = view
                .entries
                .iter()
                .any(|e| matches!(e, Entry::Assistant { .. }));
            if !view.busy && answered {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no answer: {view:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Whether the home page, asked for with `cookie`, names `name` (its user is signed in).
    pub async fn home_names(&self, cookie: &str, name: &str) -> bool {
        self.get("/", Some(cookie)).await.body.contains(name)
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// Starts sign-in; returns the session cookie and the IdP authorization URL.
    pub async fn begin(&self, return_to: &str) -> (String, Url) {
        let reply = self
            .get(
                &format!("/auth/login?return_to={}", urlencode(return_to)),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        (
            reply.session_cookie().expect("session cookie"),
            Url::parse(reply.location()).unwrap(),
        )
    }

    /// Chooses `user` on the dev IdP's page; returns the callback path and query.
    pub async fn choose(&self, authorize: &Url, user: &str) -> String {
        let mut form: Vec<(String, String)> = authorize
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        form.push(("user".into(), user.into()));
        let mut endpoint = authorize.clone();
        endpoint.set_query(None);
        let response = self.http.post(endpoint).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let callback = Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        format!("{}?{}", callback.path(), callback.query().unwrap())
    }

    /// Full sign-in; returns the signed-in session cookie.
    pub async fn sign_in(&self, user: &str) -> String {
        let (cookie, authorize) = self.begin("/tools").await;
        let callback = self.choose(&authorize, user).await;
        let reply = self.get(&callback, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert_eq!(reply.location(), "/tools");
        reply.session_cookie().expect("a new session id")
    }

    pub fn user_key(&self, username: &str) -> String {
        let idp = self.dev.idp.as_ref().unwrap();
        let user = idp.users().iter().find(|u| u.username == username).unwrap();
        identity_key(
            &idp.issuer(),
            Some("7d3c3a8e-5b0f-4c1e-9a52-d1e5f0c0de00"),
            &user.oid,
        )
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A [`TestApp`] over stand-ins the caller started itself (so a test can stop and restart them one by
/// one); cancelling `stop` (when the app is dropped) ends the ones started on it.
pub async fn test_app_over(
    dir: tempfile::TempDir,
    config: Config,
    dev: DevStack,
    stop: CancellationToken,
) -> TestApp {
    let options = LeptosOptions::builder()
        .output_name("portcullis")
        .site_root("target/site")
        .site_addr("127.0.0.1:3000".parse::<std::net::SocketAddr>().unwrap())
        .build();
    let state = AppState::build(config.clone(), options, &dev)
        .await
        .unwrap();
    TestApp {
        config,
        router: server::router(state.clone()),
        state,
        dev,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap(),
        _dir: dir,
        _stop: stop.drop_guard(),
    }
}
