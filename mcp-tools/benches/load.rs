//! Load benchmark: authenticated `tools/call` throughput, latency and server memory.
//!
//! `cargo bench -p mcp-tools --bench load` (add `-- --soak 300` for the five-minute memory run).
//!
//! It starts a token issuer (keys generated here, JWKS over HTTP), launches the real `mcp-tools`
//! binary as a child process (so its memory is its own), then drives it over loopback with N
//! concurrent MCP sessions, each a distinct user with its own token: `initialize`, then
//! `tools/call get_random_number` in a loop. It prints calls/s, p50/p99 latency and the server's
//! peak RSS. A micro-benchmark of token validation with cached keys runs first.

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{Json, Router, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::{RsaPrivateKey, pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
use serde_json::json;
use tokio::net::TcpListener;

const AUDIENCE: &str = "api://portcullis-mcp";
const TENANT: &str = "bench-tenant";
const ACCEPT: &str = "application/json, text/event-stream";
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

struct Issuer {
    url: String,
    key: EncodingKey,
}

impl Issuer {
    async fn start() -> Self {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "bench",
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}/{TENANT}/v2.0");
        let issuer = url.clone();
        let app = Router::new()
            .route(
                &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
                get(move || {
                    let issuer = issuer.clone();
                    async move {
                        Json(json!({ "issuer": issuer, "jwks_uri": format!("http://{addr}/keys") }))
                    }
                }),
            )
            .route(
                "/keys",
                get(move || {
                    let jwk = jwk.clone();
                    async move { Json(json!({ "keys": [jwk] })) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let der = private.to_pkcs1_der().unwrap();
        Self {
            url,
            key: EncodingKey::from_rsa_der(der.as_bytes()),
        }
    }

    fn token(&self, user: &str, nonce: u64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("bench".into());
        let claims = json!({
            "iss": self.url, "aud": AUDIENCE, "tid": TENANT, "oid": user, "sub": user,
            "scp": "mcp:tools", "name": user, "iat": now, "nbf": now, "exp": now + 3600, "jti": nonce,
        });
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

fn peak_rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// One MCP session of one user on its own HTTP/1.1 connection. The generator shares the machine with
/// the server, so it uses hyper's connection API directly (no pool, no redirects, no JSON encoder).
struct Session {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    authorization: String,
    id: String,
}

impl Session {
    async fn open(addr: SocketAddr, token: String) -> Self {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut session = Self {
            sender,
            host: addr.to_string(),
            authorization: format!("Bearer {token}"),
            id: String::new(),
        };
        let (status, headers, _) = session
            .send(
                Method::POST,
                r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#.to_owned(),
            )
            .await;
        assert!(status.is_success(), "initialize: {status}");
        session.id = headers["mcp-session-id"].to_str().unwrap().to_owned();
        let (status, _, _) = session
            .send(
                Method::POST,
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
            )
            .await;
        assert_eq!(status, 202);
        session
    }

    async fn send(
        &mut self,
        method: Method,
        body: String,
    ) -> (StatusCode, hyper::HeaderMap, Bytes) {
        let mut request = Request::builder()
            .method(method)
            .uri("/mcp")
            .header("host", &self.host)
            .header("accept", ACCEPT)
            .header("content-type", "application/json")
            .header("authorization", &self.authorization);
        if !self.id.is_empty() {
            request = request
                .header("mcp-session-id", &self.id)
                .header("mcp-protocol-version", "2025-11-25");
        }
        self.sender.ready().await.unwrap();
        let response = self
            .sender
            .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, body)
    }

    /// One `tools/call`; `Err` when the answer is not a successful result.
    async fn call(&mut self, n: u64) -> Result<(), String> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"get_random_number","arguments":{{"min":1,"max":100}}}}}}"#
        );
        let (status, _, body) = self.send(Method::POST, body).await;
        let ok = status.is_success()
            && memchr(&body, b"\"result\"")
            && !memchr(&body, b"\"isError\":true");
        if ok {
            Ok(())
        } else {
            Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
        }
    }

    async fn close(mut self) {
        let _ = self.send(Method::DELETE, String::new()).await;
    }
}

fn memchr(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: utime is field 14 and stime 15 of the whole line, i.e. 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

struct RunResult {
    calls: u64,
    server_cpu: f64,
    client_cpu: f64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

async fn run_load(
    addr: SocketAddr,
    issuer: &Issuer,
    sessions: usize,
    duration: Duration,
) -> RunResult {
    let mut opened = Vec::new();
    for i in 0..sessions {
        let token = issuer.token(&format!("user-{i}"), i as u64);
        opened.push(Session::open(addr, token).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (server_cpu, client_cpu) = (
        cpu_seconds(&SERVER_PID.load(Ordering::Relaxed).to_string()),
        cpu_seconds("self"),
    );
    let tasks: Vec<_> = opened
        .into_iter()
        .map(|mut session| {
            let stop = stop.clone();
            let errors = errors.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(200_000);
                let mut n = 1;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if let Err(error) = session.call(n).await
                        && errors.fetch_add(1, Ordering::Relaxed) == 0
                    {
                        eprintln!("first error: {error}");
                    }
                    latencies.push(t.elapsed().as_micros() as u32);
                    n += 1;
                }
                session.close().await;
                latencies
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let server_cpu = cpu_seconds(&SERVER_PID.load(Ordering::Relaxed).to_string()) - server_cpu;
    let client_cpu = cpu_seconds("self") - client_cpu;
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await.unwrap());
    }
    latencies_us.sort_unstable();
    RunResult {
        calls: latencies_us.len() as u64,
        server_cpu,
        client_cpu,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        latencies_us,
    }
}

async fn validation_micro_benchmark(issuer: &Issuer) {
    let config = mcp_tools::Config::builder(issuer.url.clone(), AUDIENCE)
        .tenant_id(TENANT)
        .build()
        .unwrap();
    let auth = mcp_tools::auth::Authenticator::new(&config, reqwest::Client::new());
    let validator = auth.validator();
    let warm = issuer.token("warm", 0);
    validator.validate_fully(&warm).await.expect("valid");
    let tokens: Vec<String> = (1..=2_000)
        .map(|i| issuer.token(&format!("u{i}"), i))
        .collect();
    let start = Instant::now();
    for token in &tokens {
        validator.validate_fully(token).await.expect("valid");
    }
    let full = start.elapsed() / tokens.len() as u32;
    let start = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        for token in &tokens {
            validator.validate(token).await.expect("valid");
        }
    }
    let cached = start.elapsed() / (tokens.len() * rounds) as u32;
    println!(
        "token validation, keys cached: full RS256 check {full:?}/token; repeated token (validated-token cache) {cached:?}/token"
    );
}

#[tokio::main]
async fn main() {
    let soak = std::env::args()
        .skip_while(|a| a != "--soak")
        .nth(1)
        .map(|s| s.parse::<u64>().expect("--soak SECONDS"));
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);

    let issuer = Issuer::start().await;
    validation_micro_benchmark(&issuer).await;

    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-tools"))
        .env("MCP_BIND", addr.to_string())
        .env("MCP_AUTH__AUTHORITY", &issuer.url)
        .env("MCP_AUTH__AUDIENCE", AUDIENCE)
        .env("MCP_AUTH__TENANT_ID", TENANT)
        .env(
            "MCP_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mcp-tools binary");
    let pid = child.id().unwrap();
    SERVER_PID.store(pid, Ordering::Relaxed);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let health = format!("http://{addr}/healthz");
    for _ in 0..200 {
        if http
            .get(&health)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (idle_rss, _) = peak_rss_kib(pid);
    println!("server idle RSS: {:.1} MiB", idle_rss as f64 / 1024.0);

    if let Some(total) = soak {
        // Sessions open, work and end continuously; RSS must stay flat.
        let start = Instant::now();
        let mut round = 0;
        while start.elapsed() < Duration::from_secs(total) {
            let result = run_load(addr, &issuer, 32, Duration::from_secs(10)).await;
            round += 1;
            let (rss, hwm) = peak_rss_kib(pid);
            println!(
                "soak t={:>4}s round {round}: {} calls ({} errors), RSS {:.1} MiB, peak {:.1} MiB",
                start.elapsed().as_secs(),
                result.calls,
                result.errors,
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            );
        }
    } else {
        // Warm-up, then the measured runs.
        run_load(addr, &issuer, 8, Duration::from_secs(1)).await;
        for sessions in [8, 32] {
            let r = run_load(addr, &issuer, sessions, Duration::from_secs(seconds)).await;
            println!(
                "{sessions:>2} sessions: {:>8.0} calls/s  p50 {:.2} ms  p99 {:.2} ms  ({} calls, {} errors, {:.1} s; CPU per call: server {:.0} µs, generator {:.0} µs)",
                r.calls as f64 / r.elapsed.as_secs_f64(),
                percentile(&r.latencies_us, 0.50),
                percentile(&r.latencies_us, 0.99),
                r.calls,
                r.errors,
                r.elapsed.as_secs_f64(),
                r.server_cpu / r.calls as f64 * 1e6,
                r.client_cpu / r.calls as f64 * 1e6,
            );
        }
    }
    let (rss, hwm) = peak_rss_kib(pid);
    println!(
        "server RSS now {:.1} MiB, peak {:.1} MiB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    child.kill().await.ok();
}
