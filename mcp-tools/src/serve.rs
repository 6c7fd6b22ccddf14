//! Serving the MCP router on a TCP listener, with an idle limit for keep-alive connections.
//!
//! `axum::serve` keeps an idle keep-alive connection open for as long as the client does (browsers keep
//! them for minutes), and each holds its read buffer. After a burst of users that kept the process near
//! its peak memory long after they left; slow clients could also hold connections open without sending.
//! Here hyper's header-read timer is armed: a connection that has not started its next request within
//! the idle limit is closed. Responses in progress (server-sent events included) are not affected.

use std::{future::Future, pin::pin, time::Duration};

use axum::Router;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;

/// How long a keep-alive connection may wait for its next request (nginx uses 75 s, Go's servers
/// default to their read timeout).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish their
/// responses. HTTP/1.1 (with upgrades) and HTTP/2 (prior knowledge).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    idle_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY, small streamed responses stall on Nagle + delayed ACK (~40 ms each).
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(tcp),
                TowerToHyperService::new(app.clone()),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Idle timeouts and clients going away end up here; neither is worth more than a trace.
            if let Err(error) = connection.await {
                tracing::trace!(%error, "connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
