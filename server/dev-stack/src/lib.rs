//! Development stand-ins for cloud services, so everything runs offline on a fresh machine. A front-end
//! starts the ones its configuration leaves unconfigured; a production build does not contain this
//! crate (the web server's `dev-stack` cargo feature).
//!
//! Modules:
//! - [`config`]: the stand-ins' typed settings ([`IdpConfig`], [`ModelConfig`], [`GraphConfig`]).
//! - [`idp`]: an Entra-shaped OpenID provider: directory (users, resources with Microsoft Graph among
//!   them, scopes), store (SQLite), consent (per user and client, for Graph), keys (RS256, JWKS,
//!   rotation), tokens, pages (maud: sign-in, consent), and the endpoints (authorize, token and its
//!   grants with on-behalf-of and RFC 8693 token exchange, the RFC 8628 device authorization grant and
//!   its verification pages, discovery, userinfo/logout/rotation/consent reset, dynamic registration).
//! - [`graph`]: a Microsoft Graph-shaped resource server (`/v1.0/me`, `/v1.0/me/calendarView`) taking
//!   only the dev IdP's Graph tokens, with deterministic per-user data; it records every token it is
//!   sent, so tests can show the token mcp-tools received never travels downstream.
//! - [`model`]: a deterministic OpenAI-compatible chat-completions endpoint (not an AI): plan (the
//!   policy), arguments (filling tool parameters), wire (async-openai's typed responses and chunks).
//! - [`mcp`]: mcp-tools and the sales MCP server in process, trusting the dev IdP.
//!
//! Every stand-in binds loopback only; the IdP refuses to start in production unless explicitly allowed.

pub mod config;
pub mod graph;
pub mod idp;
pub mod mcp;
pub mod model;

pub use config::{ConsentEntry, GraphConfig, IdpConfig, ModelConfig, UserEntry};
