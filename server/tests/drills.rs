//! Fault drills (issue #13) for the web server, each against real services on loopback ports:
//!
//! - the identity provider goes down: sign-in answers a 503 page and leaves nothing behind, and users
//!   already signed in keep their pages and chat (their access tokens are still valid);
//! - the session store cannot be used (SQLite table gone; PostgreSQL behind a cut link): requests fail
//!   closed (nobody is signed in) and no answer says why;
//! - an access token expires in the middle of a turn: the approved tool call gets a fresh token (also
//!   when the cache still believed the expired one valid: one 401, one refresh, one retry);
//! - mcp-tools restarts while a call waits for approval: the approval still works, and the call runs
//!   once on the new instance.

mod common;

use std::{
    net::SocketAddr,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use agent::mcp::ServerSpec;
use app::chat::{CallStatus, ConversationView, Entry, ToolCallView};
use axum::{
    body::Body,
    extract::State,
    http::{Request, StatusCode, header},
    middleware::Next,
    response::Response,
};
use common::*;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use server::{config::Config, dev::DevStack};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

const TOOLS_SCOPE: &str = "api://portcullis-mcp/mcp:tools";

/// A loopback address nobody listens on (yet), for a service the test stops and starts again there.
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Text no answer may contain: what an error chain, a query or a path would bring along.
const INTERNALS: [&str; 16] = [
    "tower_sessions",
    "no such table",
    "sqlx",
    "Sqlite",
    "SQLite",
    "error returned from database",
    "pool timed out",
    "PoolTimedOut",
    "Io(",
    "os error",
    "/tmp/",
    "portcullis.db",
    "postgres://",
    "panicked",
    "Request failed",
    "discovery",
];

fn assert_says_nothing_internal(what: &str, reply: &Reply) {
    for needle in INTERNALS {
        assert!(
            !reply.body.contains(needle),
            "{what}: the answer reveals {needle:?}: {}",
            reply.body
        );
    }
}

// ----- conversations, by their server functions -----

impl TestApp {
    async fn view(&self, cookie: &str, id: &str) -> ConversationView {
        let reply = self.call(cookie, "chat/get", json!({ "id": id })).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    }

    /// Polls the conversation until `done` holds (10 s at most).
    async fn until(
        &self,
        cookie: &str,
        id: &str,
        what: &str,
        done: impl Fn(&ConversationView) -> bool,
    ) -> ConversationView {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let view = self.view(cookie, id).await;
            if done(&view) {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {what}: {view:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks for a random number in Manual mode; returns the call waiting for approval.
    async fn pending_random_number(&self, cookie: &str, id: &str) -> ToolCallView {
        self.say(cookie, id, "give me a random number between 100 and 200")
            .await;
        let view = self.until(cookie, id, "a pending call", pending_call).await;
        last_call(&view).unwrap()
    }

    /// Approves `call` and waits for the turn to end; returns the call as it ended.
    async fn approve(&self, cookie: &str, id: &str, call: &ToolCallView) -> ToolCallView {
        let reply = self.decide(cookie, id, call, "Approve").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let view = self
            .until(cookie, id, "answered", |v| {
                settled(v) && last_call(v).is_some_and(|c| c.status != CallStatus::Pending)
            })
            .await;
        last_call(&view).unwrap()
    }
}

fn last_call(view: &ConversationView) -> Option<ToolCallView> {
    view.entries
        .iter()
        .filter_map(|e| match e {
            Entry::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .next_back()
}

fn settled(view: &ConversationView) -> bool {
    !view.busy && view.streaming.is_none()
}

fn pending_call(view: &ConversationView) -> bool {
    last_call(view).is_some_and(|c| c.status == CallStatus::Pending)
}

fn assert_random_number(call: &ToolCallView) {
    assert_eq!(call.status, CallStatus::Done, "{call:?}");
    let number: i64 = call.result.as_deref().unwrap().parse().unwrap();
    assert!((100..=200).contains(&number), "{number}");
}

// ----- the identity provider, stopped and started again on its address -----

/// The dev IdP on a fixed loopback address, run by the test so it can go down alone.
struct Idp {
    config: Config,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Idp {
    async fn serve(config: &Config) -> (server::dev::DevIdp, CancellationToken, JoinHandle<()>) {
        let stop = CancellationToken::new();
        let listener = dev_stack::idp::bind(&config.dev_idp, false).await.unwrap();
        let (idp, task) = dev_stack::idp::serve(
            listener,
            &config.dev_idp,
            &config.data_dir,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        (idp, stop, task)
    }

    /// Down: its listener is closed (connections are refused) once this returns.
    async fn down(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Up again on the same address, with the same keys and clients (its data folder).
    async fn up(&mut self) {
        let (_, stop, task) = Self::serve(&self.config).await;
        self.stop = stop;
        self.task = Some(task);
    }
}

/// The web app with the dev model and mcp-tools, and a dev IdP the test can stop. Access tokens live
/// an hour, so signed-in users need nothing from the IdP for a while.
async fn app_with_idp() -> (TestApp, Idp) {
    let dir = tempfile::tempdir().unwrap();
    let config: Config = serde_json::from_value(json!({
        "data_dir": dir.path(),
        "dev_idp": {
            "bind": free_addr(),
            "web_redirect_uri": "http://127.0.0.1:3000/auth/callback",
            "access_token_lifetime_secs": 3600,
        },
        "dev_mcp": { "bind": "127.0.0.1:0" },
        "dev_sales": { "bind": "127.0.0.1:0" },
        "dev_model": { "bind": "127.0.0.1:0" },
        "dev_graph": { "bind": "127.0.0.1:0" },
    }))
    .unwrap();
    let (idp, idp_stop, idp_task) = Idp::serve(&config).await;
    let stop = CancellationToken::new();
    let model = dev_stack::model::start(&config.dev_model, stop.clone().cancelled_owned())
        .await
        .unwrap();
    let url = dev_stack::mcp::start(
        config.dev_mcp.bind,
        &idp,
        &config.data_dir,
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let dev = DevStack {
        idp: Some(idp),
        mcp: vec![ServerSpec {
            name: "tools".into(),
            url,
            scope: TOOLS_SCOPE.into(),
            protocol: config.dev_mcp.protocol,
        }],
        model: Some(model),
    };
    let idp = Idp {
        config: config.clone(),
        stop: idp_stop,
        task: Some(idp_task),
    };
    (test_app_over(dir, config, dev, stop).await, idp)
}

async fn token_rows(app: &TestApp, user_key: &str) -> i64 {
    let url = match app.config.database() {
        server::config::Database::Sqlite(url) => url,
        server::config::Database::Postgres(url) => url.expose_secret().to_owned(),
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM token_cache WHERE user_key = $1")
        .bind(user_key)
        .fetch_one(&pool)
        .await
        .unwrap()
}

fn assert_unreachable_page(what: &str, reply: &Reply, idp: &Idp) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("The identity provider cannot be reached right now"),
        "{what}: {}",
        reply.body
    );
    assert_says_nothing_internal(what, reply);
    let address = idp.config.dev_idp.bind.to_string();
    assert!(
        !reply.body.contains(&address),
        "{what}: names the provider's address: {}",
        reply.body
    );
}

#[tokio::test]
async fn signing_in_while_the_provider_is_down_is_a_503_page_and_leaves_nothing_behind() {
    let (app, mut idp) = app_with_idp().await;
    let alice = app.user_key("alice");

    // Down before anyone signed in (nothing discovered yet): the sign-in link.
    idp.down().await;
    let login = app.get("/auth/login?return_to=%2Ftools", None).await;
    assert_unreachable_page("login", &login, &idp);
    assert_eq!(
        login.session_cookie(),
        None,
        "no session for a failed start"
    );

    // Down between the provider's page and the callback (the code was issued, cannot be redeemed).
    idp.up().await;
    let (cookie, authorize) = app.begin("/tools").await;
    let callback = app.choose(&authorize, "alice").await;
    idp.down().await;
    let reply = app.get(&callback, Some(&cookie)).await;
    assert_unreachable_page("callback", &reply, &idp);
    // No half session: the cookie (or any new one) signs nobody in, no token was stored.
    if let Some(set) = reply.set_cookie() {
        assert!(set.contains("Max-Age=0"), "only a removal: {set}");
    }
    let home = app.get("/", Some(&cookie)).await;
    assert!(home.body.contains("Not signed in"), "{}", home.body);
    assert_eq!(token_rows(&app, &alice).await, 0, "no tokens stored");

    // Back up: the used-up callback stays refused, and a new sign-in just works.
    idp.up().await;
    let again = app.get(&callback, Some(&cookie)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    let cookie = app.sign_in("alice").await;
    assert!(app.home_names(&cookie, "Alice Smith").await);
}

#[tokio::test]
async fn signed_in_users_keep_their_pages_and_chat_while_the_provider_is_down() {
    let (app, mut idp) = app_with_idp().await;
    let cookie = app.sign_in("alice").await;
    // mcp-tools has the provider's keys once it has seen a token (as a running one has).
    let tools = app.get("/tools", Some(&cookie)).await;
    assert!(tools.body.contains("get_random_number"), "{}", tools.body);

    idp.down().await;
    let home = app.get("/", Some(&cookie)).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Alice Smith"), "{}", home.body);
    let tools = app.get("/tools", Some(&cookie)).await;
    assert!(tools.body.contains("get_random_number"), "{}", tools.body);
    let view = app.turn(&cookie, "a random number between 1 and 10").await;
    assert!(
        view.entries
            .iter()
            .any(|e| matches!(e, Entry::ToolCall(call)
            if call.tool == "get_random_number" && call.status == CallStatus::Done)),
        "{view:?}"
    );
    assert!(
        !view
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Notice { .. })),
        "{view:?}"
    );
}

// ----- the session store, unusable -----

/// Every kind of request a signed-in browser makes, with its session cookie, while the store fails:
/// nobody is signed in, nothing is served or changed for the user, and no answer says why.
async fn probe_fails_closed(app: &TestApp, cookie: &str) {
    let form = |path: &str| {
        Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::empty())
            .unwrap()
    };
    let requests: Vec<(&str, Reply)> = vec![
        ("home", app.get("/", Some(cookie)).await),
        ("tools page", app.get("/tools", Some(cookie)).await),
        ("list_tools", app.send(form("/api/list_tools")).await),
        (
            "chat/create",
            app.call(cookie, "chat/create", json!({ "mode": "Auto" }))
                .await,
        ),
        (
            "events",
            app.get(
                "/api/chat/00000000-0000-0000-0000-000000000000/events",
                Some(cookie),
            )
            .await,
        ),
        ("login", app.get("/auth/login", None).await),
        (
            "login with cookie",
            app.get("/auth/login", Some(cookie)).await,
        ),
        ("logout", app.send(form("/auth/logout")).await),
    ];
    for (what, reply) in &requests {
        eprintln!("{what}: {} {:?}", reply.status, reply.set_cookie());
        assert_says_nothing_internal(what, reply);
        assert!(
            !reply.body.contains("Alice Smith"),
            "{what}: signed in: {}",
            reply.body
        );
        assert!(
            !reply.body.contains("get_random_number"),
            "{what}: served the user's tools: {}",
            reply.body
        );
        assert!(
            reply.status != StatusCode::SEE_OTHER || !reply.location().starts_with("http"),
            "{what}: sent to the provider without a stored pending sign-in"
        );
    }
    let [(_, home), ..] = requests.as_slice() else {
        unreachable!()
    };
    assert!(
        home.status.is_server_error() || home.body.contains("Not signed in"),
        "{}",
        home.body
    );
    let create = &requests[3].1;
    assert!(
        create.status != StatusCode::OK,
        "a conversation was created: {}",
        create.body
    );
    let events = &requests[4].1;
    assert_ne!(events.status, StatusCode::OK, "a stream was opened");
}

#[tokio::test]
async fn a_broken_sqlite_session_store_fails_closed_and_says_nothing() {
    let app = test_app().await;
    let cookie = app.sign_in("alice").await;
    assert!(app.home_names(&cookie, "Alice Smith").await);

    // The session table goes away under the running app (a broken or replaced database file).
    let url = match app.config.database() {
        server::config::Database::Sqlite(url) => url,
        server::config::Database::Postgres(_) => unreachable!(),
    };
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE tower_sessions RENAME TO tower_sessions_away")
        .execute(&pool)
        .await
        .unwrap();
    probe_fails_closed(&app, &cookie).await;

    // Repaired: the same session works again (nothing was deleted while it failed).
    sqlx::query("ALTER TABLE tower_sessions_away RENAME TO tower_sessions")
        .execute(&pool)
        .await
        .unwrap();
    assert!(app.home_names(&cookie, "Alice Smith").await);
}

/// A TCP link to `target` the test can cut: `Reset` closes every connection (open ones and new ones at
/// once), `Refused` also closes the port.
struct Link {
    addr: SocketAddr,
    target: SocketAddr,
    reset: Arc<AtomicBool>,
    open: Mutex<CancellationToken>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Link {
    async fn start(target: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let link = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            target,
            reset: Arc::default(),
            open: Mutex::new(CancellationToken::new()),
            accept: Mutex::new(None),
        });
        link.listen(listener);
        link
    }

    fn listen(self: &Arc<Self>, listener: TcpListener) {
        let link = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if link.reset.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let open = link.open.lock().unwrap().clone();
                let target = link.target;
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = open.cancelled() => {}
                    }
                });
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Closes every open connection.
    fn cut(&self) {
        std::mem::take(&mut *self.open.lock().unwrap()).cancel();
    }

    fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.cut();
    }

    fn refuse(&self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        self.cut();
    }

    async fn restore(self: &Arc<Self>) {
        self.reset.store(false, Ordering::SeqCst);
        if self.accept.lock().unwrap().is_none() {
            self.listen(TcpListener::bind(self.addr).await.unwrap());
        }
    }
}

#[tokio::test]
async fn an_unreachable_postgresql_session_store_fails_closed_and_says_nothing() {
    let postgres = service_kit::testing::TempPostgres::start();
    let target: SocketAddr = postgres
        .url()
        .trim_start_matches("postgres://portcullis@")
        .trim_end_matches("/postgres")
        .parse()
        .unwrap();
    let link = Link::start(target).await;
    let app = test_app_with(json!({
        "database_url": format!("postgres://portcullis@{}/postgres", link.addr),
    }))
    .await;
    let cookie = app.sign_in("alice").await;
    assert!(app.home_names(&cookie, "Alice Smith").await);

    // The database answers nothing: every connection is closed as it opens.
    link.reset();
    probe_fails_closed(&app, &cookie).await;

    // The database host is gone (connections refused): closed too, and within seconds.
    link.refuse();
    let started = std::time::Instant::now();
    let home = app.get("/", Some(&cookie)).await;
    let waited = started.elapsed();
    assert!(!home.body.contains("Alice Smith"), "{}", home.body);
    assert_says_nothing_internal("home, refused", &home);
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");

    // Back: the session is still there.
    link.restore().await;
    assert!(app.home_names(&cookie, "Alice Smith").await);
}

// ----- an MCP server the test runs (and restarts), recording what reaches it -----

/// One request that reached the MCP server.
#[derive(Clone)]
struct Hit {
    method: Option<String>,
    token: Option<String>,
    status: StatusCode,
}

/// Tokens stay out of test output; their last characters tell them apart.
impl std::fmt::Debug for Hit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token =
            (self.token.as_deref()).map(|t| format!("…{}", &t[t.len().saturating_sub(6)..]));
        f.debug_struct("Hit")
            .field("method", &self.method)
            .field("token", &token)
            .field("status", &self.status)
            .finish()
    }
}

#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<Hit>>>);

impl Hits {
    fn all(&self) -> Vec<Hit> {
        self.0.lock().unwrap().clone()
    }

    fn calls(&self) -> Vec<Hit> {
        (self.all().into_iter())
            .filter(|h| h.method.as_deref() == Some("tools/call"))
            .collect()
    }
}

async fn record(State(hits): State<Hits>, request: Request<Body>, next: Next) -> Response {
    let token = (request.headers().get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let method = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["method"].as_str().map(str::to_owned));
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    hits.0.lock().unwrap().push(Hit {
        method,
        token,
        status: response.status(),
    });
    response
}

/// mcp-tools on `bind`, trusting the app's dev IdP with `leeway` of clock skew.
struct Mcp {
    stop: CancellationToken,
    task: JoinHandle<()>,
    hits: Hits,
}

impl Mcp {
    async fn start(app: &TestApp, bind: SocketAddr, data: &Path, leeway: Duration) -> Self {
        let idp = app.dev.idp.as_ref().unwrap();
        let listener = TcpListener::bind(bind).await.unwrap();
        let mut config = mcp_tools::Config::builder(idp.issuer(), dev_stack::mcp::AUDIENCE)
            .bind(bind)
            .tenant_id(idp.tenant_id())
            .scopes_supported(vec![TOOLS_SCOPE.to_owned()])
            .database_url(format!("sqlite://{}", data.join("own-mcp.db").display()))
            .build()
            .unwrap();
        config.resource.auth.leeway = leeway;
        let state = mcp_tools::AppState::open(&config).await.unwrap();
        let hits = Hits::default();
        let router = mcp_tools::router(config, state.clone())
            .layer(axum::middleware::from_fn_with_state(hits.clone(), record));
        let stop = CancellationToken::new();
        let task = tokio::spawn(mcp_tools::serve_router(
            listener,
            router,
            state.shutdown.clone(),
            stop.clone().cancelled_owned(),
        ));
        Self { stop, task, hits }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

/// The web app using only an mcp-tools the test runs on `bind`, with access tokens of `lifetime`.
async fn app_with_own_mcp(bind: SocketAddr, lifetime_secs: u64) -> TestApp {
    test_app_with(json!({
        "mcp_servers": [format!("tools=http://{bind}/mcp {TOOLS_SCOPE}")],
        "dev_idp": {
            "bind": "127.0.0.1:0",
            "web_redirect_uri": "http://127.0.0.1:3000/auth/callback",
            "access_token_lifetime_secs": lifetime_secs,
        },
    }))
    .await
}

#[tokio::test]
async fn a_token_that_expires_mid_turn_is_refreshed_for_the_approved_call() {
    // Tokens live 2 s and mcp-tools allows no clock skew: a token from before a pause is expired.
    let bind = free_addr();
    let app = app_with_own_mcp(bind, 2).await;
    let mcp = Mcp::start(&app, bind, app._dir.path(), Duration::ZERO).await;
    let alice = app.sign_in("alice").await;
    let key = app.user_key("alice");
    let id = app.create(&alice, "Manual").await;
    let call = app.pending_random_number(&alice, &id).await;
    let tokens = &app.state.auth.tokens;
    let stale = tokens
        .access_token(&key, TOOLS_SCOPE)
        .await
        .unwrap()
        .expose_secret()
        .to_owned();

    // The user takes a while to approve: the token expires (and the cache knows it).
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_random_number(&app.approve(&alice, &id, &call).await);
    let calls = mcp.hits.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].status, StatusCode::OK);
    assert_ne!(calls[0].token.as_deref(), Some(stale.as_str()));

    // Worse: the cache still believes the expired token good (a skewed clock). mcp-tools refuses it
    // once; the call is made again with a refreshed token, and runs once.
    let call = app.pending_random_number(&alice, &id).await;
    tokens
        .store_access_token(&key, TOOLS_SCOPE, &stale, Duration::from_secs(3600))
        .await
        .unwrap();
    let before = mcp.hits.all().len();
    assert_random_number(&app.approve(&alice, &id, &call).await);
    let hits = mcp.hits.all().split_off(before);
    let refused: Vec<&Hit> = (hits.iter())
        .filter(|h| h.token.as_deref() == Some(stale.as_str()))
        .collect();
    assert!(
        !refused.is_empty(),
        "the stale token was not tried: {hits:?}"
    );
    assert!(
        refused.iter().all(|h| h.status == StatusCode::UNAUTHORIZED),
        "{hits:?}"
    );
    let calls: Vec<&Hit> = (hits.iter())
        .filter(|h| h.method.as_deref() == Some("tools/call"))
        .collect();
    assert_eq!(calls.len(), 1, "{hits:?}");
    assert_eq!(calls[0].status, StatusCode::OK);

    // Still signed in.
    assert!(app.home_names(&alice, "Alice Smith").await);
}

#[tokio::test]
async fn a_pending_approval_survives_an_mcp_server_restart() {
    let bind = free_addr();
    let app = app_with_own_mcp(bind, 3600).await;
    let first = Mcp::start(&app, bind, app._dir.path(), Duration::from_secs(30)).await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Manual").await;
    let call = app.pending_random_number(&alice, &id).await;

    // mcp-tools restarts while the call waits: a new process, no sessions.
    let before = first.hits.clone();
    first.stop().await;
    let second = Mcp::start(&app, bind, app._dir.path(), Duration::from_secs(30)).await;
    let view = app.view(&alice, &id).await;
    assert_eq!(last_call(&view).unwrap().status, CallStatus::Pending);

    assert_random_number(&app.approve(&alice, &id, &call).await);
    assert!(before.calls().is_empty(), "{:?}", before.all());
    let hits = second.hits.all();
    eprintln!("after the restart: {hits:?}");
    let calls = second.hits.calls();
    assert_eq!(calls.len(), 1, "{hits:?}");
    assert_eq!(calls[0].status, StatusCode::OK);
    // One new connection: a single handshake (either protocol generation's) before the call.
    let handshakes = (hits.iter())
        .filter(|h| matches!(h.method.as_deref(), Some("initialize" | "server/discover")))
        .count();
    assert_eq!(handshakes, 1, "{hits:?}");
    assert!(hits.iter().all(|h| h.status.is_success()), "{hits:?}");
}
