//! Plumbing the Portcullis binaries (the web server, mcp-tools, the development stand-ins) share, so
//! each exists once. A leaf crate: it knows no Portcullis type.
//!
//! Modules:
//! - [`serve`]: serving a router with an idle limit on keep-alive connections and graceful shutdown.
//! - [`shutdown`]: the SIGINT/SIGTERM future every binary stops on.
//! - [`telemetry`]: `tracing` set-up from `RUST_LOG`.
//! - [`config`]: reading a prefixed environment with `__` nesting into a typed value, with errors that
//!   name the variable; comma-separated list fields.
//! - [`db`]: SQLite pools (WAL, idle connections closed), the `Any` pool over SQLite or PostgreSQL,
//!   and owner-only files for secrets.
//! - [`exit`]: a binary's exit code, with a failure reported as one line.
//! - [`process`]: a process's resident memory (the benchmarks).
//! - [`sync`]: the one lock-poisoning policy (`Mutex` and `RwLock`).
//! - `testing` (feature `testing`, for tests): a throw-away PostgreSQL server.

pub mod config;
pub mod db;
pub mod exit;
pub mod process;
pub mod serve;
pub mod shutdown;
pub mod sync;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
