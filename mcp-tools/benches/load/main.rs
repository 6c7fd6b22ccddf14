//! Load benchmark: authenticated `tools/call` throughput and latency of mcp-tools, side by side with a
//! bare rmcp server and the official TypeScript SDK server; server memory; a soak run.
//!
//! ```text
//! cargo bench -p mcp-tools --bench load                      # the three servers, 32 sessions, 10 s each
//! cargo bench -p mcp-tools --bench load -- --sessions 8,32 --seconds 5 --rounds 3
//! cargo bench -p mcp-tools --bench load -- --servers mcp-tools,bare   # a subset (mcp-tools, bare, ts)
//! cargo bench -p mcp-tools --bench load -- --soak 300        # mcp-tools only: five minutes, RSS samples
//! ```
//!
//! Modules: `issuer` (the token issuer all servers trust: keys generated here, discovery and JWKS over
//! HTTP), `servers` (each server as a child process on loopback), `generator` (N concurrent sessions of
//! distinct users, one HTTP/1.1 connection each, `initialize` then `get_random_number` in a loop).
//!
//! A micro-benchmark of token validation with cached keys runs first. Then, in each round, the servers
//! run one after another with the same generator and workload (after a one-second warm-up each, before
//! the first round), and the bench prints calls/s, p50/p99 latency, CPU per call, and the ratios of
//! mcp-tools to the others. With several rounds it ends with the median and the spread of each figure.

mod generator;
mod issuer;
mod servers;

use std::time::{Duration, Instant};

use generator::{RunResult, run_load};
use issuer::{AUDIENCE, Issuer, TENANT};
use servers::{Kind, Server};

struct Options {
    soak: Option<u64>,
    seconds: u64,
    sessions: Vec<usize>,
    servers: Vec<Kind>,
    rounds: usize,
}

const USAGE: &str = "options: --seconds N (default 10, or BENCH_SECONDS) --sessions 32[,8,…] \
    --servers mcp-tools,bare,ts --rounds N (default 1) --soak SECONDS";

impl Options {
    fn parse() -> Self {
        let mut options = Options {
            soak: None,
            seconds: std::env::var("BENCH_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(10),
            sessions: vec![32],
            servers: Kind::ALL.to_vec(),
            rounds: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .unwrap_or_else(|| panic!("{arg} needs a value; {USAGE}"))
            };
            let number = |v: &str| v.parse::<u64>().unwrap_or_else(|_| panic!("{v}: {USAGE}"));
            match arg.as_str() {
                "--soak" => options.soak = Some(number(&value())),
                "--seconds" => options.seconds = number(&value()),
                "--rounds" => options.rounds = number(&value()).max(1) as usize,
                "--sessions" => {
                    options.sessions = value().split(',').map(|v| number(v) as usize).collect();
                }
                "--servers" => {
                    options.servers = value()
                        .split(',')
                        .map(|v| Kind::parse(v).unwrap_or_else(|| panic!("{v}: {USAGE}")))
                        .collect();
                    options
                        .servers
                        .sort_by_key(|k| Kind::ALL.iter().position(|a| a == k));
                    options.servers.dedup();
                }
                // `cargo bench` passes `--bench` to every benchmark.
                "--bench" => {}
                "--help" | "-h" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => panic!("unknown option {other}; {USAGE}"),
            }
        }
        options
    }
}

#[tokio::main]
async fn main() {
    let options = Options::parse();
    let issuer = Issuer::start().await;
    validation_micro_benchmark(&issuer).await;

    if let Some(total) = options.soak {
        let server = Server::start(Kind::McpTools, &issuer)
            .await
            .expect("mcp-tools");
        soak(&server, &issuer, total).await;
        print_memory(&server);
        server.stop().await;
        return;
    }

    let mut running = Vec::new();
    for kind in options.servers {
        match Server::start(kind, &issuer).await {
            Ok(server) => {
                println!(
                    "{:<10} idle RSS {:.1} MiB",
                    kind.label(),
                    server.memory_mib().0
                );
                run_load(server.addr, server.pid, &issuer, 8, Duration::from_secs(1)).await;
                running.push(server);
            }
            Err(why) => println!("{:<10} skipped: {why}", kind.label()),
        }
    }
    let duration = Duration::from_secs(options.seconds);
    for &sessions in &options.sessions {
        // (kind, calls/s, p50, p99) of every round.
        let mut figures: Vec<(Kind, f64, f64, f64)> = Vec::new();
        // mcp-tools' calls/s over each other's, per round.
        let mut round_ratios: Vec<(Kind, f64)> = Vec::new();
        for round in 1..=options.rounds {
            println!(
                "{sessions} sessions × {} s, one server after another (round {round} of {}):",
                options.seconds, options.rounds
            );
            let mut this_round = Vec::new();
            // Each round starts with another server, so none always runs first (or last) on a machine
            // whose speed drifts.
            let mut order: Vec<&Server> = running.iter().collect();
            let count = order.len().max(1);
            order.rotate_left((round - 1) % count);
            for server in order {
                let r = run_load(server.addr, server.pid, &issuer, sessions, duration).await;
                print_run(server.kind, &r);
                this_round.push((server.kind, r.calls_per_second()));
                figures.push((
                    server.kind,
                    r.calls_per_second(),
                    r.percentile_ms(0.50),
                    r.percentile_ms(0.99),
                ));
            }
            round_ratios.extend(print_ratios(&this_round));
        }
        if options.rounds > 1 {
            print_summary(sessions, &figures, &round_ratios);
        }
    }
    for server in running {
        print_memory(&server);
        server.stop().await;
    }
}

fn print_run(kind: Kind, r: &RunResult) {
    println!(
        "  {:<10} {:>8.0} calls/s  p50 {:.2} ms  p99 {:.2} ms  ({} calls, {} errors, {:.1} s; CPU per call: server {:.0} µs, generator {:.0} µs)",
        kind.label(),
        r.calls_per_second(),
        r.percentile_ms(0.50),
        r.percentile_ms(0.99),
        r.calls,
        r.errors,
        r.elapsed.as_secs_f64(),
        r.server_cpu / r.calls as f64 * 1e6,
        r.client_cpu / r.calls as f64 * 1e6,
    );
}

/// mcp-tools' calls/s over each other server's, when both ran; printed and returned.
fn print_ratios(round: &[(Kind, f64)]) -> Vec<(Kind, f64)> {
    let rate = |kind| round.iter().find(|(k, _)| *k == kind).map(|(_, r)| *r);
    let Some(ours) = rate(Kind::McpTools) else {
        return Vec::new();
    };
    let ratios: Vec<(Kind, f64)> = [Kind::BareRmcp, Kind::TypeScript]
        .into_iter()
        .filter_map(|other| Some((other, ours / rate(other)?)))
        .collect();
    if !ratios.is_empty() {
        let text: Vec<String> = ratios
            .iter()
            .map(|(other, ratio)| format!("mcp-tools / {} {ratio:.2}×", other.label()))
            .collect();
        println!("  calls/s ratio: {}", text.join(", "));
    }
    ratios
}

/// Median and range of each server's figures over the rounds, and of the rounds' ratios.
fn print_summary(sessions: usize, figures: &[(Kind, f64, f64, f64)], round_ratios: &[(Kind, f64)]) {
    println!("{sessions} sessions, median [min – max] over the rounds:");
    let spread = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        (
            values[values.len() / 2],
            values[0],
            values[values.len() - 1],
        )
    };
    let mut medians = Vec::new();
    for kind in Kind::ALL {
        let mine: Vec<_> = figures.iter().filter(|f| f.0 == kind).collect();
        if mine.is_empty() {
            continue;
        }
        let (rate, rate_lo, rate_hi) = spread(mine.iter().map(|f| f.1).collect());
        let (p50, ..) = spread(mine.iter().map(|f| f.2).collect());
        let (p99, p99_lo, p99_hi) = spread(mine.iter().map(|f| f.3).collect());
        println!(
            "  {:<10} {rate:>8.0} calls/s [{rate_lo:.0} – {rate_hi:.0}]  p50 {p50:.2} ms  p99 {p99:.2} ms [{p99_lo:.2} – {p99_hi:.2}]",
            kind.label()
        );
        medians.push((kind, rate));
    }
    print!("  of the medians:");
    print_ratios(&medians);
    for other in [Kind::BareRmcp, Kind::TypeScript] {
        let ratios: Vec<f64> = round_ratios
            .iter()
            .filter(|(k, _)| *k == other)
            .map(|(_, r)| *r)
            .collect();
        if ratios.is_empty() {
            continue;
        }
        let (median, lo, hi) = spread(ratios.clone());
        let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "  mcp-tools / {}: median of the rounds' ratios {median:.2}× [{lo:.2} – {hi:.2}] (rounds: {})",
            other.label(),
            listed.join(", ")
        );
    }
}

/// Sessions open, work and end continuously for `total` seconds; RSS must stay flat.
async fn soak(server: &Server, issuer: &Issuer, total: u64) {
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < Duration::from_secs(total) {
        let result = run_load(server.addr, server.pid, issuer, 32, Duration::from_secs(10)).await;
        round += 1;
        let (rss, hwm) = server.memory_mib();
        println!(
            "soak t={:>4}s round {round}: {} calls ({} errors), RSS {rss:.1} MiB, peak {hwm:.1} MiB",
            start.elapsed().as_secs(),
            result.calls,
            result.errors,
        );
    }
}

fn print_memory(server: &Server) {
    let (rss, hwm) = server.memory_mib();
    println!(
        "{:<10} RSS now {rss:.1} MiB, peak {hwm:.1} MiB",
        server.kind.label()
    );
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
