//! Chat load benchmark: N signed-in users, each driving full agent turns at the same time.
//!
//! `cargo bench -p server --bench chat [-- --users 200 --turns 5 --think-ms 0]`
//!
//! `--think-ms 0` (the default) is a closed loop: each user sends the next message the moment the last
//! answer arrives, which saturates the machine and measures capacity. A think time between turns
//! measures the same users at a load the machine can carry.
//!
//! The real server binary runs as a child process with the whole dev stack (dev identity provider,
//! in-process mcp-tools, dev model) on free loopback ports and a fresh data folder, so the memory figures
//! are that process's own. Each simulated user signs in through the dev identity provider's page (code +
//! PKCE, like a browser), opens a conversation in Auto mode, subscribes to its live updates (SSE) and
//! sends messages that make the model call a tool; a turn ends when the live stream shows the final
//! answer. Printed: turns/s, client-observed turn latency, and from the server's own per-turn timings
//! (stored in its database) the overhead per turn excluding model and tool time.

use std::{
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use app::chat::{
    ConversationSummary, ConversationView, Entry,
    delta::{Delta, apply},
};
use futures::StreamExt;
use reqwest::{Client, StatusCode, header};
use serde_json::json;
use tokio::sync::Semaphore;
use url::Url;

const PROMPT: &str = "give me a random number between 1 and 100";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (VmRSS, VmHWM) in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let (rss, peak) = service_kit::process::memory_kib(pid);
    (rss as f64 / 1024.0, peak as f64 / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("portcullis_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

/// Signs `user` in the way a browser does; returns the session cookie.
async fn sign_in(http: &Client, web: &str, user: &str) -> anyhow::Result<String> {
    let start = http
        .get(format!("{web}/auth/login?return_to=/chat"))
        .send()
        .await?;
    let cookie = session_cookie(&start).context("no session cookie")?;
    let authorize = Url::parse(
        start.headers()[header::LOCATION]
            .to_str()
            .context("location")?,
    )?;
    let mut form: Vec<(String, String)> = authorize
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    form.push(("user".into(), user.into()));
    let mut endpoint = authorize.clone();
    endpoint.set_query(None);
    let chosen = http.post(endpoint).form(&form).send().await?;
    if chosen.status() != StatusCode::SEE_OTHER {
        bail!("sign-in page answered {}", chosen.status());
    }
    let callback = chosen.headers()[header::LOCATION].to_str()?.to_owned();
    let done = http
        .get(callback)
        .header(header::COOKIE, &cookie)
        .send()
        .await?;
    if done.status() != StatusCode::SEE_OTHER {
        bail!("callback answered {}", done.status());
    }
    session_cookie(&done).context("no signed-in session cookie")
}

async fn post(
    http: &Client,
    web: &str,
    cookie: &str,
    endpoint: &str,
    body: serde_json::Value,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{web}/api/{endpoint}"))
        .header(header::COOKIE, cookie)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    if status != StatusCode::OK {
        bail!("{endpoint} answered {status}: {text}");
    }
    Ok(text)
}

/// One user's whole run; returns the latency of each turn.
/// What a simulated user looks at after each live update.
struct Progress {
    problem: Option<String>,
    answers: usize,
    settled: bool,
}

impl Progress {
    fn of(view: &ConversationView) -> Self {
        Self {
            problem: view.entries.iter().find_map(|e| match e {
                Entry::Notice { text, .. } => Some(text.clone()),
                _ => None,
            }),
            answers: view
                .entries
                .iter()
                .filter(|e| matches!(e, Entry::Assistant { .. }))
                .count(),
            settled: !view.busy && view.streaming.is_none(),
        }
    }
}

async fn user_run(
    http: Client,
    web: String,
    cookie: String,
    turns: usize,
    think: Duration,
    start: Arc<tokio::sync::Barrier>,
) -> anyhow::Result<Vec<Duration>> {
    let created = post(
        &http,
        &web,
        &cookie,
        "chat/create",
        json!({ "mode": "Auto" }),
    )
    .await?;
    let id = serde_json::from_str::<ConversationSummary>(&created)?.id;
    let events = http
        .get(format!("{web}/api/chat/{id}/events"))
        .header(header::COOKIE, &cookie)
        .send()
        .await?;
    if events.status() != StatusCode::OK {
        bail!("events answered {}", events.status());
    }
    let mut stream = events.bytes_stream();
    let mut buffer = String::new();
    // What a browser would show: the first event's whole view, then each delta applied to it (a
    // reference is handed out, as a browser re-renders what changed and copies nothing).
    let mut shown: Option<ConversationView> = None;
    let mut next_state = async || -> anyhow::Result<Progress> {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if event.lines().any(|l| l == "event: state") {
                    shown = Some(serde_json::from_str(&data)?);
                } else if event.lines().any(|l| l == "event: delta") {
                    let deltas: Vec<Delta> = serde_json::from_str(&data)?;
                    let view = shown.as_mut().context("a delta before the first state")?;
                    apply(view, &deltas)?;
                } else {
                    continue;
                }
                return shown.as_ref().map(Progress::of).context("no state yet");
            }
            let chunk = stream.next().await.context("events ended")??;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    next_state().await?;
    start.wait().await;
    let mut latencies = Vec::with_capacity(turns);
    for turn in 1..=turns {
        if turn > 1 && !think.is_zero() {
            // Spread out: ±50 % around the think time.
            let jitter = rand::random_range(0.5..1.5);
            tokio::time::sleep(think.mul_f64(jitter)).await;
        }
        let began = Instant::now();
        post(
            &http,
            &web,
            &cookie,
            "chat/send",
            json!({ "id": id, "text": PROMPT }),
        )
        .await?;
        let finished = async {
            loop {
                let progress = next_state().await?;
                if let Some(problem) = progress.problem {
                    bail!("the chat reported a problem: {problem}");
                }
                if progress.settled && progress.answers == turn {
                    return Ok(());
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(120), finished)
            .await
            .context("turn timed out")??;
        latencies.push(began.elapsed());
    }
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let users = arg("--users", 200);
    let turns = arg("--turns", 5);
    let think = Duration::from_millis(arg("--think-ms", 0) as u64);
    let dir = tempfile::tempdir()?;
    let (web_port, idp_port, mcp_port, model_port) =
        (free_port(), free_port(), free_port(), free_port());
    let web = format!("http://127.0.0.1:{web_port}");
    let names: Vec<String> = (1..=users).map(|i| format!("user{i:03}")).collect();

    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"));
    command.env_clear();
    // Allocator tuning may be passed through (e.g. MALLOC_ARENA_MAX) to compare.
    for (key, value) in std::env::vars().filter(|(k, _)| k.starts_with("MALLOC_")) {
        command.env(key, value);
    }
    let mut child = command
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("LEPTOS_OUTPUT_NAME", "portcullis")
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{web_port}"))
        .env("APP_DATA_DIR", dir.path())
        .env("APP_DEV_IDP__BIND", format!("127.0.0.1:{idp_port}"))
        .env("APP_DEV_IDP__USERS", names.join(","))
        // The default Graph consents name demo users the bench does not have.
        .env("APP_DEV_IDP__GRAPH_CONSENTS", "")
        .env(
            "APP_DEV_IDP__WEB_REDIRECT_URI",
            format!("{web}/auth/callback"),
        )
        .env(
            "APP_DEV_IDP__WEB_POST_LOGOUT_REDIRECT_URI",
            format!("{web}/"),
        )
        .env("APP_DEV_MCP__BIND", format!("127.0.0.1:{mcp_port}"))
        .env("APP_DEV_MODEL__BIND", format!("127.0.0.1:{model_port}"))
        .env("APP_DEV_GRAPH__BIND", format!("127.0.0.1:{}", free_port()))
        .env("APP_DEV_SALES__BIND", format!("127.0.0.1:{}", free_port()))
        // Limits far above the load, but counted: their cost is part of what is measured.
        .env("APP_AGENT__MESSAGES_PER_MINUTE", "1000000")
        .env("APP_AGENT__TOOL_CALLS_PER_MINUTE", "1000000")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the server binary")?;
    let pid = child.id().context("server pid")?;
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(users * 2)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{web}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the server did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss, _) = memory(pid);

    // Sign everybody in (16 at a time, like a morning rush).
    let signed_in = Instant::now();
    let gate = Arc::new(Semaphore::new(16));
    let cookies = futures::future::join_all(names.iter().map(|name| {
        let (http, web, gate) = (http.clone(), web.clone(), gate.clone());
        async move {
            let _permit = gate.acquire().await?;
            sign_in(&http, &web, name).await
        }
    }))
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;
    let sign_in_time = signed_in.elapsed();
    let (after_sign_in_rss, _) = memory(pid);

    let barrier = Arc::new(tokio::sync::Barrier::new(users + 1));
    let runs: Vec<_> = cookies
        .into_iter()
        .map(|cookie| {
            tokio::spawn(user_run(
                http.clone(),
                web.clone(),
                cookie,
                turns,
                think,
                barrier.clone(),
            ))
        })
        .collect();
    barrier.wait().await;
    let began = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for run in runs {
        match run.await? {
            Ok(l) => latencies.extend(l),
            Err(error) => errors.push(format!("{error:#}")),
        }
    }
    let elapsed = began.elapsed();
    let (_, peak_rss) = memory(pid);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (after_rss, _) = memory(pid);
    // Idle keep-alive connections (to the model, mcp-tools, the IdP) close after 90 s.
    tokio::time::sleep(Duration::from_secs(95)).await;
    let (settled_rss, _) = memory(pid);

    // The server's own accounting of each turn.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}?mode=ro",
        dir.path().join("portcullis.db").display()
    ))
    .await?;
    let rows: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT total_us, model_us, tool_us FROM turn_timings")
            .fetch_all(&db)
            .await?;
    let mut overhead: Vec<f64> = rows
        .iter()
        .map(|(total, model, tool)| (total - model - tool) as f64 / 1000.0)
        .collect();
    let mut model: Vec<f64> = rows.iter().map(|r| r.1 as f64 / 1000.0).collect();
    let mut tool: Vec<f64> = rows.iter().map(|r| r.2 as f64 / 1000.0).collect();
    let mut client: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    for v in [&mut overhead, &mut model, &mut tool, &mut client] {
        v.sort_by(f64::total_cmp);
    }
    let _ = child.kill().await;

    println!(
        "portcullis chat benchmark: {users} users × {turns} turns, think time {} ms (Auto mode; each turn = model → tool → model)",
        think.as_millis()
    );
    println!(
        "  sign-in of {users} users: {:.1} s",
        sign_in_time.as_secs_f64()
    );
    println!(
        "  turns: {} ok, {} failed users, {:.1} s → {:.1} turns/s",
        latencies.len(),
        errors.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  turn latency seen by the client: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&client, 0.5),
        percentile(&client, 0.99)
    );
    println!(
        "  server time per turn ({} turns): model p50 {:.2} ms, tools p50 {:.2} ms, overhead (the rest) p50 {:.2} ms, p99 {:.2} ms",
        rows.len(),
        percentile(&model, 0.5),
        percentile(&tool, 0.5),
        percentile(&overhead, 0.5),
        percentile(&overhead, 0.99)
    );
    println!(
        "  server RSS: idle {idle_rss:.1} MiB, after sign-in {after_sign_in_rss:.1} MiB, peak {peak_rss:.1} MiB, 5 s after the run {after_rss:.1} MiB, 100 s after {settled_rss:.1} MiB"
    );
    for error in errors.iter().take(5) {
        println!("  error: {error}");
    }
    if !errors.is_empty() {
        bail!("{} users failed", errors.len());
    }
    Ok(())
}
