//! Why a chat action failed, as the browser may see it, and (server side) the HTTP status it is
//! answered with.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// Why a chat action failed, as the browser may see it (no internals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ChatError {
    #[error("Please sign in.")]
    SignedOut,
    #[error("Your sign-in has expired. Please sign in again.")]
    SignInRequired,
    /// Unknown, or someone else's: the two are indistinguishable on purpose.
    #[error("Not found.")]
    NotFound,
    /// The action no longer applies (already decided, already answered, arguments changed…).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Something went wrong. Please try again.")]
    Unavailable,
    #[error("The request could not be sent: {0}")]
    Transport(String),
}

impl FromServerFnError for ChatError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl ChatError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::SignedOut | Self::SignInRequired => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::Transport(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}
