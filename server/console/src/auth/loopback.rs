//! Sign-in through the system browser with a loopback redirect (RFC 8252 §7.3): the console listens on
//! the loopback address of its redirect URI (`127.0.0.1` by default) on a port the OS picks, sends the user to the authorization URL (printed always, opened
//! in the browser when allowed and possible), and takes the one answer that carries its `state`. The
//! answer's `iss` must be the issuer when the provider advertises RFC 9207 (and must match whenever it
//! is present). Answers with another `state` are refused and the wait goes on, so a stray request cannot
//! end a sign-in.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use tokio::sync::{mpsc, oneshot};

use super::{
    browser,
    oidc::{Provider, SignedIn},
};
use crate::{config::LoopbackRedirect, exit::Failure};

/// How the browser sign-in behaves.
#[derive(Debug, Clone)]
pub struct BrowserSignIn {
    /// Try to open the system browser (the URL is printed either way).
    pub open_browser: bool,
    /// Longest wait for the browser to come back.
    pub timeout: Duration,
    /// The redirect URI as registered (no port).
    pub redirect: LoopbackRedirect,
}

struct Expect {
    state: String,
    /// The issuer the answer's `iss` must name.
    issuer: String,
    /// RFC 9207 advertised: `iss` is required, not only checked when present.
    iss_required: bool,
    answers: mpsc::Sender<Result<String, String>>,
}

/// Signs the user in for `scopes` at `provider`; `out` gets the URL and what to do.
pub async fn sign_in(
    provider: &Provider,
    scopes: &[String],
    options: &BrowserSignIn,
    out: &mut (dyn std::io::Write + Send),
) -> Result<SignedIn, Failure> {
    let ip = options.redirect.listen_ip();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((ip, 0)))
        .await
        .map_err(|e| Failure::sign_in(format!("cannot listen on {ip}: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::Other(e.into()))?
        .port();
    let redirect_uri = options.redirect.with_port(port);
    let pending = provider
        .begin(&redirect_uri, scopes)
        .map_err(Failure::Other)?;
    let (answers, mut answer) = mpsc::channel(1);
    let expect = Arc::new(Expect {
        state: pending.state.clone(),
        issuer: provider.metadata().issuer.clone(),
        iss_required: provider
            .metadata()
            .authorization_response_iss_parameter_supported,
        answers,
    });
    let app = Router::new()
        .route(options.redirect.path(), get(callback))
        .with_state(expect);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });

    let url = pending.url.to_string();
    let opened = options.open_browser && browser::open(&url);
    let _ = writeln!(
        out,
        "Sign in to {} {}:\n\n  {url}\n\nWaiting for the browser to come back to {redirect_uri} (at most {} s) …",
        provider.metadata().issuer,
        if opened {
            "in the browser window that opened (or open this URL)"
        } else {
            "by opening this URL in a browser"
        },
        options.timeout.as_secs()
    );
    let _ = out.flush();

    let outcome = tokio::time::timeout(options.timeout, answer.recv()).await;
    // Let the page the browser is waiting for be written, then stop listening.
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    let code = match outcome {
        Err(_) => {
            return Err(Failure::sign_in(format!(
                "the browser did not come back within {} s",
                options.timeout.as_secs()
            )));
        }
        Ok(None) => return Err(Failure::sign_in("the sign-in listener stopped")),
        Ok(Some(Err(reason))) => return Err(Failure::sign_in(reason)),
        Ok(Some(Ok(code))) => code,
    };
    let signed_in = provider
        .finish(code, pending)
        .await
        .map_err(|e| Failure::sign_in(format!("{e:#}")))?;
    tracing::info!(issuer = %provider.metadata().issuer, user = %signed_in.identity.key(), "signed in");
    Ok(signed_in)
}

/// `GET /callback?code=…&state=…[&iss=…]` or `?error=…&state=…`.
async fn callback(
    State(expect): State<Arc<Expect>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if params.get("state") != Some(&expect.state) {
        // Not the answer to this console's request (a stale tab, a forged link): refuse, keep waiting.
        return page(
            StatusCode::BAD_REQUEST,
            "Not this sign-in",
            "This answer does not belong to the sign-in the console is waiting for.",
        );
    }
    match params.get("iss") {
        Some(iss) if *iss != expect.issuer => {
            return finish(
                &expect,
                Err(format!(
                    "the answer came from the issuer {iss:?}, not {:?} (RFC 9207 mix-up check)",
                    expect.issuer
                )),
            );
        }
        None if expect.iss_required => {
            return finish(
                &expect,
                Err("the answer carries no iss although the provider advertises RFC 9207".into()),
            );
        }
        _ => {}
    }
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return finish(
            &expect,
            Err(format!("the provider answered {error}{description}")),
        );
    }
    match params.get("code") {
        Some(code) if !code.is_empty() => finish(&expect, Ok(code.clone())),
        _ => finish(&expect, Err("the answer carries no code".into())),
    }
}

fn finish(expect: &Expect, answer: Result<String, String>) -> Response {
    let response = match &answer {
        Ok(_) => page(
            StatusCode::OK,
            "Signed in",
            "You are signed in to the Portcullis console. You can close this tab and go back to the terminal.",
        ),
        Err(reason) => page(StatusCode::BAD_REQUEST, "Sign-in failed", reason),
    };
    // Only the first answer counts; the console stops listening right after it.
    let _ = expect.answers.try_send(answer);
    response
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;margin:3rem\"><h1>{0}</h1><p>{1}</p></body></html>",
        escape(title),
        escape(text)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The URL of this page holds the code: no Referer to anywhere.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
