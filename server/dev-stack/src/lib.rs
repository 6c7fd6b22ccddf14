//! Development stand-ins for cloud services, so everything runs offline on a fresh machine. A front-end
//! starts the ones its configuration leaves unconfigured; a production build does not contain this
//! crate (the web server's `dev-stack` cargo feature).
//!
//! Modules:
//! - [`config`]: the stand-ins' typed settings ([`IdpConfig`], [`ModelConfig`]).
//! - [`idp`]: an Entra-shaped OpenID provider: directory (users, resources, scopes), store (SQLite),
//!   keys (RS256, JWKS, rotation), tokens, pages (maud), and the endpoints (authorize, token and its
//!   grants, discovery, userinfo/logout/rotation, dynamic registration).
//! - [`model`]: a deterministic OpenAI-compatible chat-completions endpoint (not an AI): plan (the
//!   policy), arguments (filling tool parameters), wire (async-openai's typed responses and chunks).
//! - [`mcp`]: mcp-tools in process, trusting the dev IdP.
//!
//! Every stand-in binds loopback only; the IdP refuses to start in production unless explicitly allowed.

pub mod config;
pub mod idp;
pub mod mcp;
pub mod model;

pub use config::{IdpConfig, ModelConfig, UserEntry};
