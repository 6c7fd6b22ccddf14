//! The deployment topology, for real: HAProxy (Debian's `haproxy`) in front of two web instances (the
//! `server` binary, separate processes) and two mcp-tools instances (separate processes), all on one
//! throw-away PostgreSQL cluster (the web app's database `web`, mcp-tools' `mcp`). One dev identity
//! provider and one dev model serve both web instances as an external authority and model; they run
//! in this test's process so that killing an instance never takes them along.
//!
//! Users sign in through the balancer (the dev IdP's pages, the callback landing on either instance),
//! hold conversations in Manual mode whose messages make the dev model propose tool calls, approve
//! them through the balancer, and follow every conversation's live updates over Server-Sent Events
//! through the balancer (each must show what is stored within 5 s, whichever instance runs the loop).
//! In the second round the first conversation deletes a note: its call waits for the confirmation form,
//! running on the instance that took its approval; right after the other approvals answer, that web
//! instance and one mcp-tools instance are SIGKILLed (the user then answers the form through the
//! balancer), and both start again on the same ports. Afterwards: every round of every conversation
//! has its message, its call (decided, finished), its audit record and its final answer; no note a
//! call adds exists twice (mcp-tools' database: a call ran at most once) and no call asked its form
//! twice; the call cut mid-call ended failed as "outcome unknown" (visible, not run again: the note is
//! still there); every user is still signed in; the live view each page kept equals the stored
//! conversation. The figures are printed (`topology: conversations=… lost=0 duplicated=0 …`).
//!
//! `cargo nextest run -p server --features dev-stack --test topology` (needs `/usr/sbin/haproxy` and
//! PostgreSQL's server binaries: `.ci/setup` installs both). mcp-tools runs as this test binary started
//! again with `TOPOLOGY_CHILD=mcp-tools` ([`mcp_tools_process`]): cargo gives a test only its own
//! package's binaries, and a nested cargo build is no option; the process runs what the `mcp-tools`
//! binary runs (`Config::from_env`, bind, `mcp_tools::run`).

#[path = "topology/harness.rs"]
mod harness;

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use app::chat::{CallStatus, ConversationView, ElicitationStatus, Entry, ToolCallView};
use base64::Engine;
use harness::{Browser, Follower, Proc, free_port, is_balancer_error, plain_client};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The scope the web app asks mcp-tools' tokens for.
const MCP_SCOPE: &str = "api://portcullis-mcp/mcp:tools";
/// Conversations per user.
const PER_USER: usize = 2;
/// How long a round may take when nothing is killed.
const ROUND_LIMIT: Duration = Duration::from_secs(20);
/// How long the round cut by the kill may take: another instance takes a dead instance's
/// conversation over when its lease runs out (`APP_AGENT__LOOP_LEASE_SECS`, 5 s here).
const KILL_ROUND_LIMIT: Duration = Duration::from_secs(45);
/// How long the live view may lag behind the stored conversation.
const LIVE_GRACE: Duration = Duration::from_secs(5);

/// The messages of each conversation, in order: notes are side effects mcp-tools stores in its
/// database, so a note that exists twice is a call that ran twice. `{c}` is the conversation.
fn round_text(round: usize, c: usize) -> String {
    match round {
        3 => "give me a random number between 1 and 10".to_owned(),
        _ => format!("add a note \"topology c{c} r{round}\""),
    }
}
const ROUNDS: usize = 4;
/// The round whose approvals are followed at once by the kills.
const KILL_ROUND: usize = 2;

/// The mcp-tools process (see the module documentation): does nothing unless started by [`topology`].
#[test]
#[ignore = "a child process of the topology test"]
fn mcp_tools_process() {
    if std::env::var("TOPOLOGY_CHILD").as_deref() != Ok("mcp-tools") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        service_kit::telemetry::init();
        let config = mcp_tools::Config::from_env().expect("MCP_* configuration");
        let listener = tokio::net::TcpListener::bind(config.resource.bind)
            .await
            .expect("binding MCP_BIND");
        tracing::info!(addr = %config.resource.bind, "mcp-tools listening");
        mcp_tools::run(listener, config, service_kit::shutdown::signal())
            .await
            .expect("mcp-tools runs");
    });
}

/// Every process of the topology, killed when dropped; their logs' ends printed when the test fails.
struct Topology {
    web: Vec<Proc>,
    mcp: Vec<Proc>,
    haproxy: Proc,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Topology {
    fn drop(&mut self) {
        for proc in self.web.iter_mut().chain(self.mcp.iter_mut()) {
            proc.kill();
        }
        self.haproxy.kill();
        if std::thread::panicking() {
            for proc in self.web.iter().chain(&self.mcp).chain([&self.haproxy]) {
                eprintln!(
                    "----- {} ({}), last lines -----\n{}",
                    proc.name,
                    proc.log.display(),
                    proc.tail(60)
                );
            }
            // The whole logs stay for reading.
            if let Some(dir) = self.dir.take() {
                eprintln!("topology: logs kept in {}", dir.keep().display());
            }
        }
    }
}

/// One conversation the test holds, and what it did in it.
struct Held {
    index: usize,
    id: String,
    browser: Arc<Browser>,
    follower: Follower,
    /// The texts sent, in order.
    sent: Vec<String>,
    /// The calls approved (id), by round.
    approved: Vec<String>,
    /// A round that never finished: later rounds are not tried.
    stuck: bool,
    /// The kill round's message when it is not the usual one: the first conversation deletes its
    /// first note, whose confirmation form keeps the call running on the instance that took it.
    kill_round_text: Option<String>,
}

impl Held {
    fn text(&self, round: usize) -> String {
        match (&self.kill_round_text, round) {
            (Some(text), KILL_ROUND) => text.clone(),
            _ => round_text(round, self.index),
        }
    }
}

/// How a wait ended.
struct Waited {
    view: Option<ConversationView>,
    /// The live view showed it (else only a read of the stored conversation did).
    live: bool,
}

/// The part of the transcript after the user message `text` (up to the next user message).
fn segment<'a>(view: &'a ConversationView, text: &str) -> Option<&'a [Entry]> {
    let at = view
        .entries
        .iter()
        .position(|e| matches!(e, Entry::User { text: t, .. } if t == text))?;
    let rest = &view.entries[at + 1..];
    let end = rest
        .iter()
        .position(|e| matches!(e, Entry::User { .. }))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn calls(entries: &[Entry]) -> Vec<&ToolCallView> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::ToolCall(call) => Some(call),
            _ => None,
        })
        .collect()
}

fn pending_call(view: &ConversationView, text: &str) -> Option<ToolCallView> {
    calls(segment(view, text)?)
        .into_iter()
        .find(|c| c.status == CallStatus::Pending)
        .cloned()
}

/// The pending form of the running call `call`, if it shows one.
fn form_pending(view: &ConversationView, call: &str) -> Option<String> {
    view.entries.iter().find_map(|e| match e {
        Entry::ToolCall(c) if c.id == call && c.status == CallStatus::Running => c
            .elicitations
            .iter()
            .find(|e| e.status == ElicitationStatus::Pending)
            .map(|e| e.id.clone()),
        _ => None,
    })
}

/// The id of the note the conversation's first round saved (`Saved note <id>: …`).
async fn saved_note(held: &Held) -> Option<i64> {
    let view = stored(held).await?;
    let call = calls(segment(&view, &held.text(1))?)
        .first()
        .copied()
        .cloned()?;
    call.result?
        .strip_prefix("Saved note ")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

/// The round is over: its call finished and the assistant answered after it.
fn finished(view: &ConversationView, text: &str) -> bool {
    let Some(entries) = segment(view, text) else {
        return false;
    };
    let Some(last_call) = entries
        .iter()
        .rposition(|e| matches!(e, Entry::ToolCall(_)))
    else {
        return false;
    };
    calls(entries).iter().all(|c| c.status.is_final())
        && entries[last_call..]
            .iter()
            .any(|e| matches!(e, Entry::Assistant { .. }))
}

async fn stored(held: &Held) -> Option<ConversationView> {
    let reply = held
        .browser
        .call_read("chat/get", &json!({ "id": held.id }))
        .await;
    serde_json::from_str(&reply.body).ok()
}

/// Waits until `done` holds for the conversation: on the live view (what the page shows), or on the
/// stored conversation read through the balancer every 250 ms; when only the stored one shows it, the
/// live view gets [`LIVE_GRACE`] to catch up.
async fn wait_for(
    held: &mut Held,
    limit: Duration,
    done: impl Fn(&ConversationView) -> bool,
) -> Waited {
    let started = Instant::now();
    // Conversations waited for one after another under one deadline: each still gets a look.
    let limit = limit.max(Duration::from_secs(2));
    let mut seen_stored: Option<(ConversationView, Instant)> = None;
    let mut live = held.follower.view.clone();
    loop {
        if let Some(view) = live.borrow_and_update().as_ref()
            && done(view)
        {
            return Waited {
                view: Some(view.clone()),
                live: true,
            };
        }
        match &seen_stored {
            Some((view, at)) if at.elapsed() > LIVE_GRACE => {
                return Waited {
                    view: Some(view.clone()),
                    live: false,
                };
            }
            Some(_) => {}
            None => {
                if let Some(view) = stored(held).await
                    && done(&view)
                {
                    seen_stored = Some((view, Instant::now()));
                }
            }
        }
        if started.elapsed() > limit {
            return Waited {
                view: seen_stored.map(|(view, _)| view),
                live: false,
            };
        }
        tokio::select! {
            _ = live.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Everything the test counts.
#[derive(Default)]
struct Figures {
    failures: Vec<String>,
    live_lag: usize,
}

impl Figures {
    fn fail(&mut self, what: String) {
        eprintln!("topology: FAIL {what}");
        self.failures.push(what);
    }
}

/// Sends `text` (retried while the conversation is still finishing its previous turn; a send the
/// balancer cut is checked before it is sent again, so it is never sent twice).
async fn send(held: &mut Held, text: &str, figures: &mut Figures) -> bool {
    let started = Instant::now();
    loop {
        match held
            .browser
            .call("chat/send", &json!({ "id": held.id, "text": text }))
            .await
        {
            Ok(reply) if reply.status == StatusCode::OK => {
                held.sent.push(text.to_owned());
                return true;
            }
            outcome => {
                let cut = match &outcome {
                    Ok(reply) => is_balancer_error(reply.status),
                    Err(_) => true,
                };
                if cut
                    && let Some(view) = stored(held).await
                    && segment(&view, text).is_some()
                {
                    held.sent.push(text.to_owned());
                    return true;
                }
                if started.elapsed() > Duration::from_secs(10) {
                    figures.fail(format!(
                        "c{}: sending {text:?} failed for 10 s: {outcome:?}",
                        held.index
                    ));
                    return false;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Approves `call` as the page's button does; a request the balancer cut is checked, and sent again
/// only while the call is still pending.
async fn approve(held: &mut Held, call: &ToolCallView, figures: &mut Figures) {
    let body = json!({
        "id": held.id, "call_id": call.id, "args_hash": call.args_hash, "decision": "Approve",
    });
    for _ in 0..20 {
        match held.browser.call("chat/decide", &body).await {
            Ok(reply) if reply.status == StatusCode::OK => {
                held.approved.push(call.id.clone());
                return;
            }
            outcome => {
                let still_pending = stored(held).await.is_some_and(|view| {
                    view.entries.iter().any(|e| matches!(e, Entry::ToolCall(c) if c.id == call.id && c.status == CallStatus::Pending))
                });
                if !still_pending {
                    held.approved.push(call.id.clone());
                    return;
                }
                eprintln!(
                    "topology: c{}: approval again after {outcome:?}",
                    held.index
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    figures.fail(format!(
        "c{}: approving {} never went through",
        held.index, call.id
    ));
}

/// Sends round `round`'s message and waits for its proposed call.
async fn propose(held: &mut Held, round: usize, figures: &mut Figures) -> Option<ToolCallView> {
    let text = held.text(round);
    if !send(held, &text, figures).await {
        held.stuck = true;
        return None;
    }
    let waited = wait_for(held, ROUND_LIMIT, |v| pending_call(v, &text).is_some()).await;
    note_lag(held, round, "proposal", &waited, figures);
    match waited.view.and_then(|v| pending_call(&v, &text)) {
        Some(call) => Some(call),
        None => {
            figures.fail(format!(
                "c{} r{round}: no call proposed within {ROUND_LIMIT:?}",
                held.index
            ));
            held.stuck = true;
            None
        }
    }
}

/// Waits for round `round` to finish.
async fn finish(held: &mut Held, round: usize, limit: Duration, figures: &mut Figures) {
    let text = held.text(round);
    let waited = wait_for(held, limit, |v| finished(v, &text)).await;
    note_lag(held, round, "answer", &waited, figures);
    if waited.view.is_none() {
        let now = stored(held).await;
        let state = now.as_ref().and_then(|v| segment(v, &text)).map(outline);
        figures.fail(format!(
            "c{} r{round}: not finished within {limit:?}; stored after the message: [{}]",
            held.index,
            state.unwrap_or_else(|| "message missing".to_owned())
        ));
        held.stuck = true;
    }
}

/// Entries in a few words each: `user, call add_note done, answer`.
fn outline(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| match e {
            Entry::ToolCall(c) => {
                let forms = c
                    .elicitations
                    .iter()
                    .filter(|e| e.status == ElicitationStatus::Pending)
                    .count();
                match forms {
                    0 => format!("call {} {}", c.tool, c.status),
                    n => format!("call {} {} ({n} form pending)", c.tool, c.status),
                }
            }
            Entry::Assistant { .. } => "answer".to_owned(),
            Entry::Notice { text, .. } => format!("notice {text:?}"),
            Entry::User { .. } => "user".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn note_lag(held: &Held, round: usize, what: &str, waited: &Waited, figures: &mut Figures) {
    if waited.view.is_some() && !waited.live {
        figures.live_lag += 1;
        eprintln!(
            "topology: c{} r{round}: the {what} was stored but the live view did not show it within {LIVE_GRACE:?}",
            held.index
        );
    }
}

fn web_env(n: usize, port: u16, dir: &Path, shared: &[(String, String)]) -> Vec<(String, String)> {
    let data = dir.join(format!("web{n}"));
    std::fs::create_dir_all(&data).expect("a data folder");
    let mut env = shared.to_vec();
    env.extend(
        [
            ("APP_DATA_DIR", data.display().to_string()),
            ("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}")),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env
}

fn mcp_env(port: u16, shared: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = shared.to_vec();
    env.push(("MCP_BIND".to_owned(), format!("127.0.0.1:{port}")));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn topology() {
    run(false).await;
}

/// The same with MCP's legacy sessions (2025-11-25: `initialize`, `Mcp-Session-Id`, elicitation over
/// the session's stream), which need the balancer to route a session's requests to its instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn topology_with_legacy_mcp_sessions_behind_sticky_routing() {
    run(true).await;
}

async fn run(legacy: bool) {
    let began = Instant::now();
    let haproxy_bin = Path::new("/usr/sbin/haproxy");
    assert!(
        haproxy_bin.exists(),
        "HAProxy is missing: apt-get install haproxy (.ci/setup installs it)"
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let http = plain_client();

    // One PostgreSQL cluster: the web app's database and mcp-tools' database.
    let postgres = service_kit::testing::TempPostgres::start();
    let admin = sqlx::PgPool::connect(postgres.url())
        .await
        .expect("PostgreSQL");
    for database in ["web", "mcp"] {
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&admin)
            .await
            .expect("a database");
    }
    let base_url = postgres.url().trim_end_matches("/postgres").to_owned();
    let (web_db, mcp_db) = (format!("{base_url}/web"), format!("{base_url}/mcp"));

    let (web_front, mcp_front, stats_port) = (free_port(), free_port(), free_port());
    let web_ports = [free_port(), free_port()];
    let mcp_ports = [free_port(), free_port()];
    let web_lb = format!("http://127.0.0.1:{web_front}");
    let mcp_lb = format!("http://127.0.0.1:{mcp_front}/mcp");

    // The dev IdP and dev model in this process: both web instances use them as an external
    // authority and model, so they outlive any instance. The IdP sends browsers back to the balancer.
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let idp_config = dev_stack::IdpConfig {
        bind: "127.0.0.1:0".parse().expect("an address"),
        web_redirect_uri: format!("{web_lb}/auth/callback"),
        web_post_logout_redirect_uri: format!("{web_lb}/"),
        ..dev_stack::IdpConfig::default()
    };
    let idp_dir = dir.path().join("idp");
    std::fs::create_dir_all(&idp_dir).expect("the IdP's folder");
    let listener = dev_stack::idp::bind(&idp_config, false)
        .await
        .expect("the dev IdP binds");
    let (idp, _idp_task) = dev_stack::idp::serve(
        listener,
        &idp_config,
        &idp_dir,
        stop.clone().cancelled_owned(),
    )
    .await
    .expect("the dev IdP starts");
    let model = dev_stack::model::start(
        &dev_stack::ModelConfig {
            bind: "127.0.0.1:0".parse().expect("an address"),
        },
        stop.clone().cancelled_owned(),
    )
    .await
    .expect("the dev model starts");

    let token_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let site_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/site");
    let web_shared: Vec<(String, String)> = [
        ("APP_DATABASE_URL", web_db.clone()),
        ("APP_TOKEN_CACHE_KEY", token_key),
        ("APP_PUBLIC_URL", web_lb.clone()),
        ("APP_AUTH__AUTHORITY", idp.issuer()),
        ("APP_AUTH__CLIENT_ID", idp.web_client().client_id.clone()),
        (
            "APP_AUTH__CLIENT_SECRET",
            idp.web_client_secret().expose_secret().to_owned(),
        ),
        (
            "APP_MCP_SERVERS",
            format!(
                "tools={mcp_lb} {MCP_SCOPE}{}",
                if legacy { " protocol=legacy" } else { "" }
            ),
        ),
        ("APP_MODEL__BASE_URL", model.to_string()),
        // A dead instance's conversations resume elsewhere 5 s after (15 by default): a shorter test,
        // still long beside the renewals (every 1.7 s) on a machine busy with other tests.
        ("APP_AGENT__LOOP_LEASE_SECS", "5".to_owned()),
        ("LEPTOS_OUTPUT_NAME", "portcullis".to_owned()),
        ("LEPTOS_SITE_ROOT", site_root.display().to_string()),
        ("RUST_LOG", "info,rmcp=warn".to_owned()),
        ("NO_COLOR", "1".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec();
    let mcp_shared: Vec<(String, String)> = [
        ("TOPOLOGY_CHILD", "mcp-tools".to_owned()),
        ("MCP_PUBLIC_URL", mcp_lb.clone()),
        ("MCP_AUTH__AUTHORITY", idp.issuer()),
        ("MCP_AUTH__AUDIENCE", "api://portcullis-mcp".to_owned()),
        ("MCP_DATABASE_URL", mcp_db.clone()),
        ("RUST_LOG", "info,rmcp=warn".to_owned()),
        ("NO_COLOR", "1".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec();

    let test_binary = std::env::current_exe().expect("this test's binary");
    let child_args = [
        "--exact",
        "mcp_tools_process",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ];
    let config_path = dir.path().join("haproxy.cfg");
    std::fs::write(
        &config_path,
        harness::haproxy_config(
            web_front, web_ports, mcp_front, mcp_ports, stats_port, legacy,
        ),
    )
    .expect("haproxy.cfg");
    let config_arg = config_path.display().to_string();
    let mut topology = Topology {
        web: (0..2)
            .map(|i| {
                Proc::new(
                    &format!("web{}", i + 1),
                    env!("CARGO_BIN_EXE_server"),
                    &[],
                    web_env(i + 1, web_ports[i], dir.path(), &web_shared),
                    dir.path(),
                    Some(format!("http://127.0.0.1:{}/healthz", web_ports[i])),
                )
            })
            .collect(),
        mcp: (0..2)
            .map(|i| {
                Proc::new(
                    &format!("mcp{}", i + 1),
                    &test_binary,
                    &child_args,
                    mcp_env(mcp_ports[i], &mcp_shared),
                    dir.path(),
                    Some(format!("http://127.0.0.1:{}/healthz", mcp_ports[i])),
                )
            })
            .collect(),
        haproxy: Proc::new(
            "haproxy",
            haproxy_bin,
            &["-f", &config_arg, "-db"],
            Vec::new(),
            dir.path(),
            None,
        ),
        dir: None,
    };
    topology.dir = Some(dir);
    // mcp-tools first (its migrations), then one web instance (the app's migrations), then the other.
    for (i, proc) in topology.mcp.iter_mut().enumerate() {
        proc.spawn();
        proc.wait_ready(&http, mcp_ports[i]).await;
    }
    for (i, proc) in topology.web.iter_mut().enumerate() {
        proc.spawn();
        proc.wait_ready(&http, web_ports[i]).await;
    }
    topology.haproxy.spawn();
    topology.haproxy.wait_ready(&http, stats_port).await;
    for (backend, server) in [
        ("web", "web1"),
        ("web", "web2"),
        ("mcp", "mcp1"),
        ("mcp", "mcp2"),
    ] {
        assert!(
            harness::wait_status(
                &http,
                stats_port,
                backend,
                server,
                "UP",
                Duration::from_secs(10)
            )
            .await
            .is_some(),
            "{server} never UP at the balancer"
        );
    }
    let web_pool = sqlx::PgPool::connect(&web_db)
        .await
        .expect("the web database");
    let mcp_pool = sqlx::PgPool::connect(&mcp_db)
        .await
        .expect("the mcp database");
    let started_in = began.elapsed();
    eprintln!("topology: started in {started_in:.1?}");
    let mut figures = Figures::default();

    // Sign-in through the balancer.
    let browsers: Vec<Arc<Browser>> = ["alice", "bob"]
        .iter()
        .map(|name| {
            let user = idp
                .users()
                .iter()
                .find(|u| u.username == *name)
                .expect("a dev user");
            Arc::new(Browser::new(&user.username, &user.name, &web_lb))
        })
        .collect();
    let anonymous = Browser::new("nobody", "nobody", &web_lb);
    let gate = anonymous.get("/chat").await.expect("/chat answers");
    assert_eq!(
        gate.status,
        StatusCode::UNAUTHORIZED,
        "/chat needs sign-in, so a 200 with the user's name says the user is signed in"
    );
    for browser in &browsers {
        browser.sign_in().await;
        browser
            .signed_in()
            .await
            .expect("signed in through the balancer");
    }

    // Round 1: every conversation starts (chat/start, as the page's first message), its call is
    // approved, and it finishes; the live views follow from the start.
    let mut held: Vec<Held> = Vec::new();
    for (u, browser) in browsers.iter().enumerate() {
        for k in 0..PER_USER {
            let index = u * PER_USER + k + 1;
            let text = round_text(1, index);
            let reply = browser
                .call("chat/start", &json!({ "text": text, "mode": "Manual" }))
                .await
                .expect("chat/start answers");
            assert_eq!(reply.status, StatusCode::OK, "chat/start: {}", reply.body);
            let id = serde_json::from_str::<serde_json::Value>(&reply.body).expect("JSON")["id"]
                .as_str()
                .expect("an id")
                .to_owned();
            held.push(Held {
                index,
                follower: Follower::start(browser.clone(), id.clone()),
                id,
                browser: browser.clone(),
                sent: vec![text],
                approved: Vec::new(),
                stuck: false,
                kill_round_text: None,
            });
        }
    }
    let round_started = Instant::now();
    for h in held.iter_mut() {
        let text = round_text(1, h.index);
        let waited = wait_for(h, ROUND_LIMIT, |v| pending_call(v, &text).is_some()).await;
        note_lag(h, 1, "proposal", &waited, &mut figures);
        match waited.view.and_then(|v| pending_call(&v, &text)) {
            Some(call) => approve(h, &call, &mut figures).await,
            None => {
                figures.fail(format!("c{} r1: no call proposed", h.index));
                h.stuck = true;
            }
        }
    }
    for h in held.iter_mut().filter(|h| !h.stuck) {
        finish(h, 1, ROUND_LIMIT, &mut figures).await;
    }
    let mut timings = vec![("r1", round_started.elapsed())];

    // Round 2. The first conversation deletes its first note: its call is approved alone, first, and
    // then waits for the confirmation form, running on the instance that took the approval. The other
    // calls are approved at once, and right after those answers that instance and mcp1 are SIGKILLed:
    // the form's call is cut mid-call, the others are approved, running or done on either instance.
    let round_started = Instant::now();
    if let Some(first) = held.first_mut().filter(|h| !h.stuck) {
        match saved_note(first).await {
            Some(note) => first.kill_round_text = Some(format!("delete note {note}")),
            None => figures.fail("c1 r1: no note id in the add_note result".to_owned()),
        }
    }
    let mut proposed = Vec::new();
    for h in held.iter_mut().filter(|h| !h.stuck) {
        if let Some(call) = propose(h, KILL_ROUND, &mut figures).await {
            proposed.push((h.index, call));
        }
    }
    let mut form_on: Option<String> = None;
    let mut form: Option<(usize, String, String)> = None;
    if let Some(at) = proposed
        .iter()
        .position(|(index, call)| *index == 1 && call.tool == "delete_note")
    {
        let (index, call) = proposed.remove(at);
        let h = &mut held[0];
        let body = json!({
            "id": h.id, "call_id": call.id, "args_hash": call.args_hash, "decision": "Approve",
        });
        match h.browser.call("chat/decide", &body).await {
            Ok(reply) if reply.status == StatusCode::OK => {
                h.approved.push(call.id.clone());
                form_on = reply.served_by;
            }
            other => figures.fail(format!("c{index} r2: approving the deletion: {other:?}")),
        }
        let waited = wait_for(h, ROUND_LIMIT, |v| form_pending(v, &call.id).is_some()).await;
        note_lag(h, KILL_ROUND, "form", &waited, &mut figures);
        match waited.view.and_then(|v| form_pending(&v, &call.id)) {
            Some(elicitation) => form = Some((index, call.id.clone(), elicitation)),
            None => figures.fail(format!(
                "c{index} r2: the deletion's confirmation form never came"
            )),
        }
    }
    // The other approvals concurrently, as several people click at once.
    let mut approvals = Vec::new();
    for (index, call) in &proposed {
        let h = held.iter_mut().find(|h| h.index == *index).expect("held");
        let body = json!({
            "id": h.id, "call_id": call.id, "args_hash": call.args_hash, "decision": "Approve",
        });
        let browser = h.browser.clone();
        approvals.push(tokio::spawn(async move {
            browser.call("chat/decide", &body).await
        }));
    }
    let outcomes: Vec<_> = futures::future::join_all(approvals)
        .await
        .into_iter()
        .map(|joined| joined.expect("the approval task"))
        .collect();
    // The instance that took the most approvals runs those conversations' loops: that one dies.
    let took = |name: &str| {
        outcomes
            .iter()
            .filter(|o| matches!(o, Ok(r) if r.served_by.as_deref() == Some(name)))
            .count()
    };
    let victim = match form_on.as_deref() {
        Some("web1") => 0,
        Some("web2") => 1,
        _ => usize::from(took("web2") > took("web1")),
    };
    let victim_name = topology.web[victim].name.clone();
    let orphaned = took(&victim_name) + usize::from(form_on.as_deref() == Some(&victim_name));
    let killed_at = Instant::now();
    let pids = (topology.web[victim].pid(), topology.mcp[0].pid());
    topology.web[victim].kill();
    topology.mcp[0].kill();
    let kills = 2;
    // Where the round's calls stood at the kill (approved: not started; running: cut mid-call).
    let round_calls: Vec<String> = proposed
        .iter()
        .map(|(_, call)| call.id.clone())
        .chain(form.iter().map(|(_, call, _)| call.clone()))
        .collect();
    let at_kill: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT status, COUNT(*) FROM tool_calls WHERE id = ANY($1) GROUP BY status",
    )
    .bind(&round_calls)
    .fetch_all(&web_pool)
    .await
    .expect("the calls' states")
    .into_iter()
    .collect();
    eprintln!(
        "topology: SIGKILL {victim_name} (pid {:?}, running {orphaned} of the {} approved calls' loops) and mcp1 (pid {:?}); calls then: {at_kill:?}",
        pids.0,
        round_calls.len(),
        pids.1
    );
    for ((index, call), outcome) in proposed.iter().zip(outcomes) {
        let h = held.iter_mut().find(|h| h.index == *index).expect("held");
        match outcome {
            Ok(reply) if reply.status == StatusCode::OK => h.approved.push(call.id.clone()),
            // Cut by the kill: approved again only if it did not count.
            other => {
                eprintln!("topology: c{index}: approval answered {other:?}");
                approve(h, call, &mut figures).await;
            }
        }
    }
    let down_after = (
        harness::wait_status(
            &http,
            stats_port,
            "web",
            &victim_name,
            "DOWN",
            Duration::from_secs(5),
        )
        .await,
        harness::wait_status(
            &http,
            stats_port,
            "mcp",
            "mcp1",
            "DOWN",
            Duration::from_secs(5),
        )
        .await,
    );
    eprintln!(
        "topology: the balancer took {victim_name} out after {:?}, mcp1 after {:?}",
        down_after.0, down_after.1
    );
    if down_after.0.is_none() || down_after.1.is_none() {
        figures.fail("the balancer did not take a killed instance out within 5 s".to_owned());
    }
    // The user answers the form while its instance is dead: through the balancer, to the survivor.
    let late_answer = match &form {
        Some((index, _, elicitation)) => {
            let h = held.iter().find(|h| h.index == *index).expect("held");
            let body = json!({ "id": h.id, "elicitation_id": elicitation, "action": "Accept",
                               "values": [["confirm", "true"]] });
            let reply = h.browser.call("chat/answer", &body).await;
            let said = match &reply {
                Ok(reply) => format!("{} {}", reply.status.as_u16(), reply.body),
                Err(error) => error.to_string(),
            };
            eprintln!("topology: c{index}: the form answered after the kill: {said}");
            said
        }
        None => "none".to_owned(),
    };
    // Both back on the same ports a second later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    topology.mcp[0].spawn();
    topology.mcp[0].wait_ready(&http, mcp_ports[0]).await;
    topology.web[victim].spawn();
    topology.web[victim]
        .wait_ready(&http, web_ports[victim])
        .await;
    let restarted_after = killed_at.elapsed();
    for (backend, server) in [("web", victim_name.as_str()), ("mcp", "mcp1")] {
        if harness::wait_status(
            &http,
            stats_port,
            backend,
            server,
            "UP",
            Duration::from_secs(5),
        )
        .await
        .is_none()
        {
            figures.fail(format!("{server} not UP again at the balancer within 5 s"));
        }
    }
    let mut resumed_after = Duration::ZERO;
    for h in held.iter_mut().filter(|h| !h.stuck) {
        let limit = KILL_ROUND_LIMIT.saturating_sub(killed_at.elapsed());
        finish(h, KILL_ROUND, limit, &mut figures).await;
        resumed_after = resumed_after.max(killed_at.elapsed());
    }
    timings.push(("r2+kill", round_started.elapsed()));

    // Rounds 3 and 4 on the restarted topology.
    for round in KILL_ROUND + 1..=ROUNDS {
        let round_started = Instant::now();
        for h in held.iter_mut().filter(|h| !h.stuck) {
            if let Some(call) = propose(h, round, &mut figures).await {
                approve(h, &call, &mut figures).await;
            }
        }
        for h in held.iter_mut().filter(|h| !h.stuck) {
            finish(h, round, ROUND_LIMIT, &mut figures).await;
        }
        timings.push((
            if round == 3 { "r3" } else { "r4" },
            round_started.elapsed(),
        ));
    }

    // What is stored, through the balancer and in the databases, against what the test did.
    let notes: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT text, COUNT(*) FROM notes GROUP BY text")
            .fetch_all(&mcp_pool)
            .await
            .expect("notes")
            .into_iter()
            .collect();
    let audit_rows: HashMap<String, (String, String, String)> =
        sqlx::query_as::<_, (String, String, String, String)>(
            "SELECT tool_call_id, decision, decided_by, outcome FROM audit_log",
        )
        .fetch_all(&web_pool)
        .await
        .expect("audit rows")
        .into_iter()
        .map(|(id, decision, by, outcome)| (id, (decision, by, outcome)))
        .collect();
    let stored_calls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tool_calls")
        .fetch_one(&web_pool)
        .await
        .expect("tool calls");
    let stored_user_messages: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE role = 'user'")
            .fetch_one(&web_pool)
            .await
            .expect("messages");

    let (mut calls_seen, mut lost, mut duplicated, mut interrupted, mut failed) = (0, 0, 0, 0, 0);
    // Failed calls whose note exists all the same: they ran, and said they might have.
    let mut failed_but_ran = 0;
    let mut sent_total = 0;
    // Where the form the kill cut ended (the user answered it after the kill).
    let mut form_final = "none".to_owned();
    // Conversations whose deletion of their first note went through.
    let mut deleted_first_note = Vec::new();
    for h in &held {
        if let Some(view) = stored(h).await
            && let Some(entries) = segment(&view, &h.text(KILL_ROUND))
            && calls(entries)
                .iter()
                .any(|c| c.tool == "delete_note" && c.status == CallStatus::Done)
        {
            deleted_first_note.push(h.index);
        }
    }
    for h in &held {
        sent_total += h.sent.len();
        let Some(view) = stored(h).await else {
            figures.fail(format!("c{}: the conversation cannot be read", h.index));
            lost += 1;
            continue;
        };
        let users: Vec<&str> = view
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::User { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if users != h.sent.iter().map(String::as_str).collect::<Vec<_>>() {
            figures.fail(format!(
                "c{}: messages stored {users:?}, sent {:?}",
                h.index, h.sent
            ));
            lost += h
                .sent
                .iter()
                .filter(|t| !users.contains(&t.as_str()))
                .count();
            duplicated += users.len().saturating_sub(h.sent.len());
        }
        for (round, text) in h.sent.iter().enumerate().map(|(i, t)| (i + 1, t)) {
            let entries = segment(&view, text).unwrap_or_default();
            let round_calls = calls(entries);
            calls_seen += round_calls.len();
            match round_calls.len() {
                0 => {
                    figures.fail(format!("c{} r{round}: no tool call stored", h.index));
                    lost += 1;
                }
                1 => {}
                n => {
                    figures.fail(format!(
                        "c{} r{round}: {n} tool calls for one message",
                        h.index
                    ));
                    duplicated += n - 1;
                }
            }
            if !entries.iter().any(|e| matches!(e, Entry::Assistant { .. })) {
                figures.fail(format!("c{} r{round}: no final answer", h.index));
                lost += 1;
            }
            for call in round_calls {
                if !h.approved.contains(&call.id) {
                    figures.fail(format!(
                        "c{} r{round}: call {} ({}) was never approved by the test",
                        h.index, call.id, call.status
                    ));
                }
                if call.decided_by.is_none() {
                    figures.fail(format!(
                        "c{} r{round}: call {} has no decision",
                        h.index, call.id
                    ));
                }
                let result = call.result.clone().unwrap_or_default();
                match call.status {
                    CallStatus::Done => {}
                    CallStatus::Failed => {
                        let lower = result.to_lowercase();
                        if lower.contains("unknown") || lower.contains("interrupt") {
                            interrupted += 1;
                        } else {
                            failed += 1;
                        }
                        eprintln!(
                            "topology: c{} r{round}: {} failed: {result:?}",
                            h.index, call.tool
                        );
                        if result.trim().is_empty() {
                            figures.fail(format!(
                                "c{} r{round}: failed call {} says nothing",
                                h.index, call.id
                            ));
                        }
                    }
                    status => {
                        figures.fail(format!(
                            "c{} r{round}: call {} still {status} at the end",
                            h.index, call.id
                        ));
                        lost += 1;
                    }
                }
                // Its audit record: one per call (the table's key), approved by the user.
                match audit_rows.get(&call.id) {
                    None if call.status.is_final() => {
                        figures.fail(format!(
                            "c{} r{round}: call {} ({}) has no audit record",
                            h.index, call.id, call.status
                        ));
                        lost += 1;
                    }
                    None => {}
                    Some((decision, by, outcome)) => {
                        if decision != "approved" || by != "user" {
                            figures.fail(format!(
                                "c{} r{round}: audit says {decision} by {by}",
                                h.index
                            ));
                        }
                        if *outcome != call.status.to_string() {
                            figures.fail(format!(
                                "c{} r{round}: audit outcome {outcome}, call {}",
                                h.index, call.status
                            ));
                        }
                    }
                }
                // A call asks its form once: a second form is the call run again.
                if call.elicitations.len() > 1 {
                    figures.fail(format!(
                        "c{} r{round}: {} asked {} forms",
                        h.index,
                        call.tool,
                        call.elicitations.len()
                    ));
                    duplicated += call.elicitations.len() - 1;
                }
                if call
                    .elicitations
                    .iter()
                    .any(|e| e.status == ElicitationStatus::Pending)
                {
                    figures.fail(format!(
                        "c{} r{round}: a form still waits at the end",
                        h.index
                    ));
                }
                // The call the kill cut mid-call ends failed, saying its outcome is unknown; it is
                // not run again (the deletion it was confirming did not happen: the note is there).
                if form.as_ref().is_some_and(|(_, id, _)| *id == call.id) {
                    form_final = call
                        .elicitations
                        .iter()
                        .map(|e| e.status.to_string())
                        .collect::<Vec<_>>()
                        .join("+");
                    let note = notes
                        .get(&format!("topology c{} r1", h.index))
                        .copied()
                        .unwrap_or(0);
                    let lower = result.to_lowercase();
                    let unknown = lower.contains("unknown") || lower.contains("interrupt");
                    if call.status != CallStatus::Failed || !unknown {
                        figures.fail(format!(
                            "c{} r{round}: the call running at the kill ended {} ({result:?}), not as outcome unknown",
                            h.index, call.status
                        ));
                    }
                    let expected = if call.status == CallStatus::Done {
                        0
                    } else {
                        1
                    };
                    if note != expected {
                        figures.fail(format!(
                            "c{} r{round}: delete_note {}, yet {note} note(s) left",
                            h.index, call.status
                        ));
                    }
                }
                // A note's call ran at most once; a call that says done ran exactly once (unless a
                // later deletion that went through removed the note).
                if call.tool == "add_note" {
                    let marker = format!("topology c{} r{round}", h.index);
                    let count = notes.get(&marker).copied().unwrap_or(0);
                    let deleted = round == 1 && deleted_first_note.contains(&h.index);
                    if count > 1 {
                        figures.fail(format!(
                            "c{} r{round}: the note was added {count} times",
                            h.index
                        ));
                        duplicated += (count - 1) as usize;
                    }
                    if call.status == CallStatus::Failed && count == 1 {
                        failed_but_ran += 1;
                    }
                    if call.status == CallStatus::Done && count == 0 && !deleted {
                        figures.fail(format!(
                            "c{} r{round}: add_note says done but no note exists",
                            h.index
                        ));
                        lost += 1;
                    }
                }
            }
        }
        // The live view the page kept equals what is stored.
        let mut live = h.follower.view.clone();
        let deadline = Instant::now() + LIVE_GRACE;
        let same = loop {
            let now = live.borrow_and_update().as_ref().map(|v| v.entries.clone());
            if now.as_ref() == Some(&view.entries) {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), live.changed()).await;
        };
        if !same {
            let shown = live
                .borrow()
                .as_ref()
                .map(|v| outline(&v.entries))
                .unwrap_or_default();
            figures.fail(format!(
                "c{}: the live view shows [{shown}], the stored conversation [{}]",
                h.index,
                outline(&view.entries)
            ));
        }
    }
    if stored_calls as usize != calls_seen {
        figures.fail(format!(
            "{stored_calls} tool calls in the database, {calls_seen} in the conversations"
        ));
    }
    if stored_user_messages as usize != sent_total {
        figures.fail(format!(
            "{stored_user_messages} user messages in the database, {sent_total} sent"
        ));
    }
    // The audit trail each user sees through the balancer: every call of theirs.
    for browser in &browsers {
        let reply = browser.call_read("audit/list", &json!({})).await;
        let records: Vec<serde_json::Value> = serde_json::from_str(&reply.body).unwrap_or_default();
        let theirs: usize = held
            .iter()
            .filter(|h| h.browser.user == browser.user)
            .map(|h| h.approved.len())
            .sum();
        if records.len() != theirs {
            figures.fail(format!(
                "{}: audit trail has {} records, {theirs} calls approved",
                browser.user,
                records.len()
            ));
        }
    }
    let mut signed_out = 0;
    for browser in &browsers {
        if let Err(why) = browser.signed_in().await {
            figures.fail(why);
            signed_out += 1;
        }
    }

    let mut balanced = BTreeMap::new();
    for (backend, server) in [
        ("web", "web1"),
        ("web", "web2"),
        ("mcp", "mcp1"),
        ("mcp", "mcp2"),
    ] {
        let stats = harness::server_stats(&http, stats_port, backend, server).await;
        balanced.insert(
            server,
            format!(
                "{}(eresp {} econ {} redispatched {})",
                stats.sessions, stats.response_errors, stats.connection_errors, stats.redispatches
            ),
        );
    }
    let (events, reconnects, misfits) = held.iter().fold((0, 0, 0), |acc, h| {
        (
            acc.0 + h.follower.stats.events.load(Ordering::Relaxed),
            acc.1 + h.follower.stats.reconnects.load(Ordering::Relaxed),
            acc.2 + h.follower.stats.misfits.load(Ordering::Relaxed),
        )
    });
    let total_approved: usize = held.iter().map(|h| h.approved.len()).sum();
    println!(
        "topology: conversations={} calls={calls_seen} approved={total_approved} kills={kills} lost={lost} duplicated={duplicated} \
         interrupted={interrupted} failed_calls={failed} failed_but_ran={failed_but_ran} signed_out={signed_out} live_lag={} \
         sse_events={events} sse_reconnects={reconnects} sse_misfits={misfits} duration={:.1?}",
        held.len(),
        figures.live_lag,
        began.elapsed(),
    );
    println!(
        "topology: started={started_in:.1?} {} killed={victim_name}+mcp1 orphaned_loops={orphaned} \
         calls_at_kill={at_kill:?} late_form_answer={late_answer:?} form_final={form_final} restarted_after={restarted_after:.1?} \
         kill_round_done_after={resumed_after:.1?} down_after={:?}/{:?}",
        timings
            .iter()
            .map(|(name, t)| format!("{name}={t:.1?}"))
            .collect::<Vec<_>>()
            .join(" "),
        down_after.0,
        down_after.1,
    );
    println!(
        "topology: balancer requests {}",
        balanced
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if figures.live_lag > 0 {
        figures.fail(format!(
            "the live view lagged behind the stored conversation {} time(s) by more than {LIVE_GRACE:?}",
            figures.live_lag
        ));
    }
    assert!(
        figures.failures.is_empty(),
        "{} topology assertion(s) failed:\n{}",
        figures.failures.len(),
        figures.failures.join("\n")
    );
    drop(topology);
    drop(postgres);
}
