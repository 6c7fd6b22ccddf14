//! The servers under test, each its own child process on a loopback port (so its CPU and memory are its
//! own): the release `mcp-tools` binary, the bare rmcp example, and the TypeScript SDK server.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::process::{Child, Command};

use crate::issuer::{AUDIENCE, Issuer, TENANT};

/// Which server; also the order they run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    McpTools,
    BareRmcp,
    TypeScript,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::McpTools, Kind::BareRmcp, Kind::TypeScript];

    pub fn label(self) -> &'static str {
        match self {
            Kind::McpTools => "mcp-tools",
            Kind::BareRmcp => "bare rmcp",
            Kind::TypeScript => "TypeScript",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "mcp-tools" => Some(Kind::McpTools),
            "bare" | "rmcp" | "bare-rmcp" => Some(Kind::BareRmcp),
            "ts" | "typescript" => Some(Kind::TypeScript),
            _ => None,
        }
    }
}

pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub pid: u32,
    child: Child,
    /// The database directory of mcp-tools, removed when the server goes.
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `kind` and waits until it answers `/healthz`; `Err` says why it cannot run here.
    pub async fn start(kind: Kind, issuer: &Issuer) -> Result<Self, String> {
        let addr = free_port();
        let mut dir = None;
        let mut command = match kind {
            Kind::McpTools => {
                let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
                // Another build (e.g. the previous one, to compare) when the variable names one.
                let binary = std::env::var_os("BENCH_MCP_TOOLS_BIN")
                    .unwrap_or_else(|| env!("CARGO_BIN_EXE_mcp-tools").into());
                let mut command = Command::new(binary);
                command
                    .env("MCP_AUTH__AUTHORITY", &issuer.url)
                    .env("MCP_AUTH__AUDIENCE", AUDIENCE)
                    .env("MCP_AUTH__TENANT_ID", TENANT)
                    .env(
                        "MCP_DATABASE_URL",
                        format!("sqlite://{}", tmp.path().join("bench.db").display()),
                    );
                dir = Some(tmp);
                command
            }
            Kind::BareRmcp => Command::new(build_bare_rmcp()?),
            Kind::TypeScript => {
                let folder = ts_server_folder()?;
                let mut command = Command::new("node");
                command
                    .arg(folder.join("server.mjs"))
                    .current_dir(&folder)
                    .env("PORT", addr.port().to_string())
                    .env("ISSUER", &issuer.url)
                    .env("JWKS_URI", &issuer.jwks_uri)
                    .env("AUDIENCE", AUDIENCE);
                command
            }
        };
        let child = command
            .env("MCP_BIND", addr.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", kind.label()))?;
        let pid = child.id().ok_or("the child exited at once")?;
        let mut server = Self {
            kind,
            addr,
            pid,
            child,
            _dir: dir,
        };
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let health = format!("http://{}/healthz", self.addr);
        for _ in 0..400 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited: {status}", self.kind.label()));
            }
            if http
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("{} did not answer /healthz", self.kind.label()))
    }

    /// Resident memory now and at its peak, in MiB.
    pub fn memory_mib(&self) -> (f64, f64) {
        let (rss, hwm) = service_kit::process::memory_kib(self.pid);
        (rss as f64 / 1024.0, hwm as f64 / 1024.0)
    }

    pub async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

fn free_port() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

/// Builds `examples/bare_rmcp.rs` with the release profile (as `cargo bench` built mcp-tools) and
/// returns its path. Cargo has released the build lock by the time a benchmark runs.
fn build_bare_rmcp() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "mcp-tools",
            "--example",
            "bare_rmcp",
        ])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !output.status.success() {
        return Err("cargo build --example bare_rmcp failed".into());
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["target"]["name"] == "bare_rmcp")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo did not name the bare_rmcp executable".into())
}

/// `benches/ts-server`, with its npm packages installed (`npm ci`, once, or when the lock file changed).
fn ts_server_folder() -> Result<PathBuf, String> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ts-server");
    let installed = folder.join("node_modules/.package-lock.json");
    let lock = folder.join("package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&installed).is_none() || modified(&lock) > modified(&installed) {
        eprintln!("installing the TypeScript server's npm packages (npm ci)");
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&folder)
            .status()
            .map_err(|e| format!("npm is needed for the TypeScript server: {e}"))?;
        if !status.success() {
            return Err(format!("npm ci failed in {}", folder.display()));
        }
    }
    Ok(folder)
}
