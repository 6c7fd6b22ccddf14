//! `tracing` set-up shared by the binaries and the tests.

use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset: rmcp logs every MCP connection at info.
pub const DEFAULT_FILTER: &str = "info,rmcp=warn";

/// Installs a formatting subscriber filtered by `RUST_LOG` (default [`DEFAULT_FILTER`]). Safe to call
/// twice (tests do).
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
