//! Serving a router on a TCP listener, with an idle limit for keep-alive connections.
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
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish their
/// responses. HTTP/1.1 (with upgrades) and HTTP/2 (prior knowledge).
pub async fn serve(
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::{Router, body::Body, routing::get};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
    };

    const IDLE: Duration = Duration::from_millis(400);

    async fn start() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            // A response that keeps streaming for longer than the idle limit (like server-sent events).
            .route(
                "/slow",
                get(|| async {
                    let chunks = async_stream::stream! {
                        for i in 0..4 {
                            tokio::time::sleep(IDLE / 2).await;
                            yield Ok::<_, std::io::Error>(format!("chunk{i};"));
                        }
                    };
                    Body::from_stream(chunks)
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(super::serve(listener, app, IDLE, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// Reads until the response to one request is complete (connection stays open).
    async fn read_response(tcp: &mut TcpStream, ends_with: &str) -> String {
        let mut text = String::new();
        let mut buffer = [0u8; 4096];
        while !text.ends_with(ends_with) {
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buffer))
                .await
                .expect("response in time")
                .unwrap();
            assert!(n > 0, "connection closed early: {text:?}");
            text.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        text
    }

    /// Sends `GET path` on the connection and reads the response up to `ends_with`.
    async fn request(tcp: &mut TcpStream, path: &str, ends_with: &str) -> String {
        tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await
            .unwrap();
        read_response(tcp, ends_with).await
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_after_the_limit() {
        let (addr, _stop) = start().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let response = request(&mut tcp, "/", "ok").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");

        // Kept alive for another request within the limit...
        tokio::time::sleep(IDLE / 2).await;
        assert!(
            request(&mut tcp, "/", "ok")
                .await
                .starts_with("HTTP/1.1 200")
        );

        // ...and closed by the server once it has waited longer than that for the next one.
        let idle_since = Instant::now();
        let mut buffer = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buffer))
            .await
            .expect("the server closes the idle connection")
            .unwrap_or(0);
        assert_eq!(n, 0, "expected the connection to be closed");
        let waited = idle_since.elapsed();
        assert!(waited >= IDLE * 3 / 4, "closed too early: {waited:?}");
    }

    #[tokio::test]
    async fn a_response_streaming_longer_than_the_limit_is_not_cut() {
        let (addr, _stop) = start().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let response = request(&mut tcp, "/slow", "\r\n0\r\n\r\n").await;
        for i in 0..4 {
            assert!(response.contains(&format!("chunk{i};")), "{response}");
        }
    }

    #[tokio::test]
    async fn shutdown_stops_accepting() {
        let (addr, stop) = start().await;
        stop.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).await.is_ok() {
            assert!(Instant::now() < deadline, "still accepting after shutdown");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
