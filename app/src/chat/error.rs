//! Why a server function failed, as the browser may see it, and (server side) the HTTP status it is
//! answered with.
//!
//! Every server function answers with [`ChatError`] (the chat's and the Tools page's alike), so one
//! conversion decides what a failure of the server-function machinery itself looks like: on the
//! server, a request whose arguments cannot be decoded is `400` with the generic
//! [`ChatError::BadRequest`], and any other failure of the machinery is a `500` with the generic
//! [`ChatError::Unavailable`]; neither carries the parser's or the framework's words.

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
    /// The request's arguments could not be decoded (not JSON, missing fields, unknown values).
    #[error("The request could not be understood.")]
    BadRequest,
    /// Too many requests of this kind; the number is the seconds until they are taken again.
    #[error("You are sending messages too fast. Try again in {0} s; your text is kept.")]
    RateLimited(u64),
    #[error("Something went wrong. Please try again.")]
    Unavailable,
    /// Browser side only: the call did not get a readable answer.
    #[error("The request could not be sent: {0}")]
    Transport(String),
}

impl FromServerFnError for ChatError {
    type Encoder = JsonEncoding;

    #[cfg(feature = "ssr")]
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let error = ssr::classify(&value);
        // This runs inside the request's reactive owner (leptos_axum provides the response options
        // there), before the error is serialized: the status goes with it.
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(ssr::machinery_status(&error));
        }
        error
    }

    #[cfg(not(feature = "ssr"))]
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use axum::http::StatusCode;
    use leptos::server_fn::error::ServerFnErrorErr;

    use super::ChatError;

    /// On the server these come from decoding the request (server_fn names the body decoder's
    /// failure `Deserialization`, the URL decoder's `Args`); everything else is the machinery failing.
    pub(super) fn classify(error: &ServerFnErrorErr) -> ChatError {
        match error {
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::MissingArg(_) => ChatError::BadRequest,
            _ => ChatError::Unavailable,
        }
    }

    /// A malformed request is the caller's fault; a failing machinery is ours, and says so as a 500
    /// (not the 503 a failing backend is answered with).
    pub(super) fn machinery_status(error: &ChatError) -> StatusCode {
        match error {
            ChatError::BadRequest => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
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
            Self::Invalid(_) | Self::BadRequest | Self::Transport(_) => StatusCode::BAD_REQUEST,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use axum::http::StatusCode;
    use leptos::{prelude::*, server_fn::error::ServerFnErrorErr};

    use super::{ChatError, FromServerFnError};

    fn answered(error: ServerFnErrorErr) -> (ChatError, Option<StatusCode>, String) {
        let owner = Owner::new();
        owner.with(|| {
            let response = leptos_axum::ResponseOptions::default();
            provide_context(response.clone());
            let error = ChatError::from_server_fn_error(error);
            let body = String::from_utf8(error.ser().to_vec()).unwrap();
            let status = response.0.read().unwrap().status;
            (error, status, body)
        })
    }

    #[test]
    fn undecodable_arguments_are_a_generic_400() {
        for error in [
            ServerFnErrorErr::Deserialization("expected ident at line 1 column 2".into()),
            ServerFnErrorErr::Args("unknown variant `Yolo`".into()),
            ServerFnErrorErr::MissingArg("mode".into()),
        ] {
            let (error, status, body) = answered(error);
            assert_eq!(error, ChatError::BadRequest);
            assert_eq!(status, Some(StatusCode::BAD_REQUEST));
            assert_eq!(body, r#""BadRequest""#);
        }
    }

    #[test]
    fn other_machinery_failures_stay_500_and_say_nothing() {
        for error in [
            ServerFnErrorErr::Serialization("key must be a string at /srv/secret".into()),
            ServerFnErrorErr::Response("builder error".into()),
            ServerFnErrorErr::ServerError("pool timed out".into()),
            ServerFnErrorErr::MiddlewareError("layer".into()),
            ServerFnErrorErr::Registration("poisoned".into()),
        ] {
            let (error, status, body) = answered(error);
            assert_eq!(error, ChatError::Unavailable);
            assert_eq!(status, Some(StatusCode::INTERNAL_SERVER_ERROR));
            assert_eq!(body, r#""Unavailable""#);
        }
    }

    #[test]
    fn outside_a_request_the_conversion_still_works() {
        assert_eq!(
            ChatError::from_server_fn_error(ServerFnErrorErr::Args("x".into())),
            ChatError::BadRequest
        );
    }
}
