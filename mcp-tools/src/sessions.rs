//! Binding MCP sessions to the user who opened them.
//!
//! rmcp knows session ids but not users. [`BoundSessions`] wraps its session manager and records, at
//! `initialize`, which [`Principal`] opened each session (the HTTP layer has already authenticated the
//! request and attached the principal). The `/mcp` admission middleware, through
//! [`SessionOwners::is_owned_by`], then refuses any request that names a session its caller does not own, with the same 404 an unknown session gets, so
//! a session id alone never authenticates and reveals nothing. Entries go when rmcp closes the session
//! (DELETE or idle timeout), so the map does not grow with sessions that ended.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use futures::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage},
    transport::{
        WorkerTransport,
        streamable_http_server::{
            SessionId, SessionManager,
            session::{
                ServerSseMessage,
                local::{LocalSessionManager, LocalSessionManagerError, LocalSessionWorker},
            },
        },
    },
};

use service_kit::sync::{read, write};

use crate::auth::Principal;

/// Who owns which session.
#[derive(Clone, Default)]
pub struct SessionOwners {
    owners: Arc<RwLock<HashMap<SessionId, Arc<Principal>>>>,
}

impl SessionOwners {
    fn insert(&self, id: SessionId, owner: Arc<Principal>) {
        write(&self.owners).insert(id, owner);
    }

    fn remove(&self, id: &SessionId) {
        write(&self.owners).remove(id);
    }

    /// `true` when `id` is a live session opened by `caller`.
    pub fn is_owned_by(&self, id: &str, caller: &Principal) -> bool {
        read(&self.owners)
            .get(id)
            .is_some_and(|owner| **owner == *caller)
    }

    /// Number of live sessions (for tests and metrics).
    pub fn len(&self) -> usize {
        read(&self.owners).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// rmcp's in-memory session manager plus the owner of each session.
pub struct BoundSessions {
    inner: LocalSessionManager,
    owners: SessionOwners,
}

impl BoundSessions {
    pub fn new(inner: LocalSessionManager, owners: SessionOwners) -> Self {
        Self { inner, owners }
    }
}

fn principal_of(message: &ClientJsonRpcMessage) -> Option<Arc<Principal>> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    request
        .request
        .extensions()
        .get::<axum::http::request::Parts>()?
        .extensions
        .get::<Arc<Principal>>()
        .cloned()
}

impl SessionManager for BoundSessions {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        match principal_of(&message) {
            Some(owner) => self.owners.insert(id.clone(), owner),
            // Unreachable behind the auth middleware; an ownerless session would be usable by no one.
            None => tracing::error!("MCP session initialized without an authenticated user"),
        }
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.owners.remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }
}
