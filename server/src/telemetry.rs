//! `tracing` set-up shared by the binary and the tests.

use tracing_subscriber::EnvFilter;

/// Installs a formatting subscriber filtered by `RUST_LOG` (default: `info,rmcp=warn`: rmcp logs every MCP connection at info). Safe to call twice.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
