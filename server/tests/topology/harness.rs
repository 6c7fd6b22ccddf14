//! The topology test's machinery: child processes that can be SIGKILLed and started again on the same
//! port (their output appended to one log file each), HAProxy's configuration and statistics, a
//! browser-like client (session cookie, same-origin headers, sign-in through the dev IdP's pages) and
//! a follower of a conversation's live updates (Server-Sent Events, deltas applied as the page does).

use std::{
    fs::OpenOptions,
    io::Write,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use app::chat::{ConversationView, delta};
use reqwest::{StatusCode, header};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A loopback port nobody listens on now (the OS picks it; the child binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// One child process and how to start it again: the same program, arguments, environment and so the
/// same port. Killed (SIGKILL) when dropped, so a failing test leaves nothing running.
pub struct Proc {
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
    pub log: PathBuf,
    /// `http://127.0.0.1:<port>/healthz` for the app's processes.
    pub health: Option<String>,
    child: Option<Child>,
    pub starts: u32,
}

impl Proc {
    pub fn new(
        name: &str,
        program: impl Into<PathBuf>,
        args: &[&str],
        env: Vec<(String, String)>,
        dir: &Path,
        health: Option<String>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env,
            cwd: dir.to_owned(),
            log: dir.join(format!("{name}.log")),
            health,
            child: None,
            starts: 0,
        }
    }

    /// Starts it with a clean environment (only `PATH` and what was configured), its output appended
    /// to its log.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the log file");
        writeln!(log, "===== {} start #{} =====", self.name, self.starts + 1).expect("log write");
        let errors = log.try_clone().expect("the log file again");
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(errors);
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("{} does not start: {error}", self.name));
        self.child = Some(child);
        self.starts += 1;
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown handler runs, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits until the health URL answers 200 (or, without one, `port` accepts connections); panics
    /// with the log's end if the process exits or 30 s pass.
    pub async fn wait_ready(&mut self, http: &reqwest::Client, port: u16) {
        let started = Instant::now();
        loop {
            let ready = match &self.health {
                Some(url) => http
                    .get(url)
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK),
                None => tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok(),
            };
            if ready {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} exited during start-up ({status}):\n{}",
                    self.name,
                    self.tail(80)
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} not ready within 30 s:\n{}",
                self.name,
                self.tail(80)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last `lines` lines of its log.
    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// HAProxy's configuration: the web app on one frontend, mcp-tools on another, each balancing round
/// robin over two servers with no stickiness (every request is balanced on its own: the server side is
/// closed after each response), health checks every 200 ms taking a server out after one failure and
/// back after one success. A connection that fails is redispatched to the other server (nothing was
/// sent); a request already sent is never resent (`retry-on` stays at its default, `conn-failure`):
/// a POST that might have been handled must not be replayed by the balancer. A check may take 2 s (a
/// loaded test machine); a killed server refuses the connection at once, so it still leaves at once. Server-Sent Events are
/// long responses: the server timeout outlasts the app's 15 s keep-alive comments. Every web answer
/// names its server (`X-Served-By`), so the test knows which instance took an approval (and so runs
/// that conversation's loop).
pub fn haproxy_config(
    web_front: u16,
    web: [u16; 2],
    mcp_front: u16,
    mcp: [u16; 2],
    stats: u16,
    sticky_mcp: bool,
) -> String {
    // Legacy MCP sessions (2025-11-25) live in the process that opened them: requests carrying a
    // session id go where the id was issued (the README's configuration).
    let sticky = if sticky_mcp {
        "    stick-table type string len 64 size 100k expire 30m
    stick store-response res.hdr(mcp-session-id)
    stick on req.hdr(mcp-session-id)
"
    } else {
        ""
    };
    format!(
        "global
    log stdout format raw local0 info
    maxconn 2000

defaults
    mode http
    log global
    option httplog
    option http-server-close
    option redispatch
    retries 3
    timeout connect 1s
    timeout client 120s
    timeout server 120s
    timeout tunnel 120s
    timeout http-request 10s
    timeout check 2s

frontend web_front
    bind 127.0.0.1:{web_front}
    default_backend web

backend web
    balance roundrobin
    http-response set-header X-Served-By %s
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 200ms fastinter 200ms downinter 200ms fall 1 rise 1
    server web1 127.0.0.1:{web1}
    server web2 127.0.0.1:{web2}

frontend mcp_front
    bind 127.0.0.1:{mcp_front}
    default_backend mcp

backend mcp
    balance roundrobin
{sticky}    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 200ms fastinter 200ms downinter 200ms fall 1 rise 1
    server mcp1 127.0.0.1:{mcp1}
    server mcp2 127.0.0.1:{mcp2}

listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
",
        web1 = web[0],
        web2 = web[1],
        mcp1 = mcp[0],
        mcp2 = mcp[1],
    )
}

/// One server's line of HAProxy's statistics.
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    pub status: String,
    /// Connections to it: one per request, with the server side closed after each response.
    pub sessions: u64,
    /// Responses that failed (the server died mid-answer), connections that failed, redispatches.
    pub response_errors: u64,
    pub connection_errors: u64,
    pub redispatches: u64,
}

/// HAProxy's statistics (`/stats;csv`) for `backend`/`server`.
pub async fn server_stats(
    http: &reqwest::Client,
    stats_port: u16,
    backend: &str,
    server: &str,
) -> ServerStats {
    let Ok(response) = http
        .get(format!("http://127.0.0.1:{stats_port}/stats;csv"))
        .send()
        .await
    else {
        return ServerStats::default();
    };
    let csv = response.text().await.unwrap_or_default();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let column = |row: &[&str], name: &str| -> String {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| row.get(i))
            .map(|v| (*v).to_owned())
            .unwrap_or_default()
    };
    let number = |row: &[&str], name: &str| column(row, name).parse().unwrap_or(0);
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .find(|row| row.first() == Some(&backend) && row.get(1) == Some(&server))
        .map(|row| ServerStats {
            status: column(&row, "status"),
            sessions: number(&row, "stot"),
            response_errors: number(&row, "eresp"),
            connection_errors: number(&row, "econ"),
            redispatches: number(&row, "wredis"),
        })
        .unwrap_or_default()
}

/// Waits until HAProxy reports `server` with a status starting with `status` (`UP`, `DOWN`); how long
/// that took, or `None` after `limit`.
pub async fn wait_status(
    http: &reqwest::Client,
    stats_port: u16,
    backend: &str,
    server: &str,
    status: &str,
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if server_stats(http, stats_port, backend, server)
            .await
            .status
            .starts_with(status)
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A client that behaves like a browser for one user: one session cookie, no redirects followed, the
/// Fetch Metadata a same-origin page sends with its writes.
pub struct Browser {
    pub user: String,
    pub display_name: String,
    /// The balancer's web address, `http://127.0.0.1:<port>`.
    pub base: String,
    pub http: reqwest::Client,
    cookie: Mutex<Option<String>>,
}

/// The answer to one request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub location: Option<String>,
    /// The server that answered (HAProxy's `X-Served-By`).
    pub served_by: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn new(user: &str, display_name: &str, base: &str) -> Self {
        Self {
            user: user.to_owned(),
            display_name: display_name.to_owned(),
            base: base.to_owned(),
            http: plain_client(),
            cookie: Mutex::new(None),
        }
    }

    fn cookie(&self) -> Option<String> {
        self.cookie.lock().expect("cookie lock").clone()
    }

    /// Keeps the session cookie a response sets, as a browser would.
    fn remember(&self, response: &reqwest::Response) {
        if let Some(cookie) = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("portcullis_session="))
        {
            let pair = cookie.split(';').next().unwrap_or_default().to_owned();
            *self.cookie.lock().expect("cookie lock") = Some(pair);
        }
    }

    async fn reply(&self, response: reqwest::Response) -> Reply {
        self.remember(&response);
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let served_by = response
            .headers()
            .get("x-served-by")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        Reply {
            status,
            location,
            served_by,
            body,
        }
    }

    /// GET `url` (absolute, or a path under the balancer) with the session cookie.
    pub async fn get(&self, url: &str) -> Result<Reply, reqwest::Error> {
        let url = self.absolute(url);
        let mut request = self.http.get(&url).timeout(Duration::from_secs(10));
        if url.starts_with(&self.base)
            && let Some(cookie) = self.cookie()
        {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await?;
        Ok(self.reply(response).await)
    }

    /// A server function (`/api/<endpoint>`) with a JSON body, as the page calls it.
    pub async fn call(
        &self,
        endpoint: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .timeout(Duration::from_secs(15))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .header(header::ORIGIN, &self.base)
            .header("sec-fetch-site", "same-origin")
            .body(body.to_string());
        if let Some(cookie) = self.cookie() {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await?;
        Ok(self.reply(response).await)
    }

    /// A read that may meet the balancer while an instance dies (502/503, a reset connection): tried
    /// again for up to 10 s, as a person reloads.
    pub async fn call_read(&self, endpoint: &str, body: &serde_json::Value) -> Reply {
        let started = Instant::now();
        loop {
            match self.call(endpoint, body).await {
                Ok(reply) if !is_balancer_error(reply.status) => return reply,
                outcome => assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{endpoint} failed for 10 s: {outcome:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in through the balancer: the app's login redirect, the dev IdP's sign-in page (the form's
    /// hidden fields and the user's button), the callback back through the balancer (which may reach
    /// the other instance: the sign-in state is in the shared session store).
    pub async fn sign_in(&self) {
        let login = self
            .get("/auth/login?return_to=%2Fchat")
            .await
            .expect("login answers");
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
        let authorize = login.location.expect("a redirect to the IdP");
        let page = self.get(&authorize).await.expect("the IdP's page");
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let mut form = hidden_fields(&page.body);
        form.push(("user".to_owned(), self.user.clone()));
        let endpoint = authorize.split('?').next().unwrap_or_default().to_owned();
        let picked = self
            .http
            .post(&endpoint)
            .form(&form)
            .send()
            .await
            .expect("the IdP answers the pick");
        let picked = self.reply(picked).await;
        assert_eq!(picked.status, StatusCode::SEE_OTHER, "{}", picked.body);
        let callback = picked.location.expect("a redirect back to the app");
        assert!(
            callback.starts_with(&format!("{}/auth/callback", self.base)),
            "the IdP sends the browser back through the balancer: {callback}"
        );
        let done = self.get(&callback).await.expect("the callback answers");
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some("/chat"));
    }

    /// Whether a page that needs sign-in answers 200 with the user's name (asked twice, so both
    /// instances behind the balancer answer).
    pub async fn signed_in(&self) -> Result<(), String> {
        for _ in 0..2 {
            let page = self
                .get("/chat")
                .await
                .map_err(|e| format!("{}: /chat: {e}", self.user))?;
            if page.status != StatusCode::OK || !page.body.contains(&self.display_name) {
                return Err(format!(
                    "{}: /chat answered {} {:?} without {:?}",
                    self.user, page.status, page.location, self.display_name
                ));
            }
        }
        Ok(())
    }

    fn absolute(&self, url: &str) -> String {
        match url.starts_with('/') {
            true => format!("{}{url}", self.base),
            false => url.to_owned(),
        }
    }
}

/// What HAProxy answers when no server could take the request or the server died mid-answer.
pub fn is_balancer_error(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// No redirects followed, no proxy from the environment.
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client")
}

/// Undoes the pages' HTML escaping of attribute values.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `<input type="hidden">` fields of a page's form, in order: what a browser submits.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
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

/// What a follower saw.
#[derive(Default)]
pub struct FollowStats {
    pub events: AtomicU64,
    /// Streams that ended (an instance died, the balancer closed it) and were opened again.
    pub reconnects: AtomicU64,
    /// Deltas that did not fit the view (the whole state was asked for again).
    pub misfits: AtomicU64,
}

/// A conversation's live view as the page keeps it: the stream's first `state`, then every `delta`
/// applied; reconnects (with `Last-Event-ID`, as `EventSource` does) whenever the stream ends.
pub struct Follower {
    pub view: watch::Receiver<Option<ConversationView>>,
    pub stats: Arc<FollowStats>,
    stop: CancellationToken,
}

impl Follower {
    pub fn start(browser: Arc<Browser>, id: String) -> Self {
        let (tx, view) = watch::channel(None);
        let stats = Arc::new(FollowStats::default());
        let stop = CancellationToken::new();
        tokio::spawn(follow(browser, id, tx, stats.clone(), stop.clone()));
        Self { view, stats, stop }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn follow(
    browser: Arc<Browser>,
    id: String,
    tx: watch::Sender<Option<ConversationView>>,
    stats: Arc<FollowStats>,
    stop: CancellationToken,
) {
    let mut last_id: Option<String> = None;
    let mut first = true;
    while !stop.is_cancelled() {
        if !first {
            stats.reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        first = false;
        let mut request = browser
            .http
            .get(format!("{}/api/chat/{id}/events", browser.base))
            .header(header::ACCEPT, "text/event-stream");
        if let Some(cookie) = browser.cookie() {
            request = request.header(header::COOKIE, cookie);
        }
        if let Some(last) = &last_id {
            request = request.header("last-event-id", last);
        }
        let response = tokio::select! {
            _ = stop.cancelled() => return,
            response = request.send() => response,
        };
        let Ok(mut response) = response else { continue };
        if response.status() != StatusCode::OK {
            continue;
        }
        let mut buffer = String::new();
        'stream: loop {
            let chunk = tokio::select! {
                _ = stop.cancelled() => return,
                chunk = response.chunk() => chunk,
            };
            let Ok(Some(chunk)) = chunk else {
                break 'stream;
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let (mut event, mut data, mut event_id) = (None, Vec::new(), None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event_id = Some(v.trim().to_owned());
                    }
                }
                let data = data.join("\n");
                let fits = match event.as_deref() {
                    Some("state") => match serde_json::from_str::<ConversationView>(&data) {
                        Ok(view) => {
                            tx.send_replace(Some(view));
                            true
                        }
                        Err(_) => false,
                    },
                    Some("delta") => {
                        // An unreadable delta fits nothing.
                        let Ok(deltas) = serde_json::from_str::<Vec<delta::Delta>>(&data) else {
                            stats.misfits.fetch_add(1, Ordering::Relaxed);
                            last_id = None;
                            break 'stream;
                        };
                        let mut fits = true;
                        tx.send_if_modified(|view| match view {
                            Some(view) => {
                                fits = delta::apply(view, &deltas).is_ok();
                                fits
                            }
                            None => {
                                fits = false;
                                false
                            }
                        });
                        fits
                    }
                    // Keep-alive comments.
                    _ => continue,
                };
                stats.events.fetch_add(1, Ordering::Relaxed);
                if fits {
                    last_id = event_id.or(last_id.take());
                } else {
                    // As the page does: forget the position and ask for the whole state again.
                    stats.misfits.fetch_add(1, Ordering::Relaxed);
                    last_id = None;
                    break 'stream;
                }
            }
        }
    }
}
