//! The load generator: N concurrent MCP sessions, each a distinct user with its own token on its own
//! HTTP/1.1 connection, calling `tools/call get_random_number` in a loop for a fixed time.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;

use crate::issuer::Issuer;

const ACCEPT: &str = "application/json, text/event-stream";

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

pub struct RunResult {
    pub calls: u64,
    /// CPU seconds the server and the generator used during the run.
    pub server_cpu: f64,
    pub client_cpu: f64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies_us: Vec<u32>,
}

impl RunResult {
    pub fn calls_per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency at quantile `p` (0–1), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p)
    }
}

/// Opens `sessions` sessions on the server at `addr` (process `pid`), then runs them for `duration`.
pub async fn run_load(
    addr: SocketAddr,
    pid: u32,
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
    let (server_cpu, client_cpu) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
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
    let server_cpu = cpu_seconds(&pid.to_string()) - server_cpu;
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

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}
