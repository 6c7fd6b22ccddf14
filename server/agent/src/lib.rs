//! The Portcullis agent core: model → proposed tool calls → the user's decision → MCP call (with the
//! user's delegated token) → result → model. It knows no web framework: the web app and the console
//! client are two front-ends of this one loop, each with its own store and its own way of asking.
//!
//! Modules:
//! - [`domain`]: typed ids, states (role, mode, call status, decided-by…) with their text forms, records.
//! - [`ports`]: what a front-end provides: [`ports::ConversationStore`], [`ports::Notifier`],
//!   [`ports::Asker`] (the model port is [`model::ChatModel`], the token source [`mcp::TokenSource`]).
//! - [`journal`]: the one place that writes a change and notifies.
//! - [`agent`]: [`Agent`], starting the loop and acting for the user (send, mode, decide).
//! - `leases`: one loop per conversation across processes (a lease in the store), resuming
//!   conversations a dead process left.
//! - `run`: the loop itself; [`transcripts`]: reads of a transcript, kept and brought up to date by
//!   reading only the tail.
//! - [`policy`]: what a conversation's mode decides without asking.
//! - [`limits`]: per-user rate limits the loop applies (tool calls per minute).
//! - [`elicitation`]: MCP elicitation requests handed to the front-end; [`elicitation::Deferred`] for
//!   front-ends that answer later (the web).
//! - [`forms`]: requested schemas (rmcp's `ElicitationSchema`) as forms; answers checked against them.
//! - [`model`]: the model port, async-openai's implementation, the transcript in the model's terms.
//! - [`memory`]: an in-memory store (a console session, tests).
//! - [`mcp`]: configured servers, the per-user tool catalog, calls; the token-source port.
//! - [`settings`]: typed settings of the model and the loop.

pub mod agent;
pub mod domain;
pub mod elicitation;
pub mod forms;
pub mod journal;
mod leases;
pub mod limits;
pub mod mcp;
pub mod memory;
pub mod model;
pub mod policy;
pub mod ports;
mod run;
pub mod settings;
pub mod transcripts;

pub use agent::Agent;
pub use journal::Journal;

/// Why acting on a conversation was refused; the text of the first three is safe to show the user.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}
