//! The pages' Content-Security-Policy: scripts only from this origin plus the one inline hydration
//! script, which carries this response's nonce; no framing; forms only to this origin and the
//! identity provider (sign-out).
//!
//! Debug builds (`cargo leptos watch`) also allow the live-reload websocket; release builds allow no
//! websocket at all.

use leptos::{config::LeptosOptions, prelude::*};

/// Origins the page's forms may end up at besides its own (the identity provider, which sign-out
/// redirects to). Provided by the server per request.
#[derive(Debug, Clone, Default)]
pub struct FormActionSources(pub String);

/// Sets the policy on this response (needs the request's nonce and response options).
pub(crate) fn set(options: &LeptosOptions) {
    use leptos::nonce::use_nonce;
    let (Some(nonce), Some(response)) =
        (use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let forms = use_context::<FormActionSources>().unwrap_or_default().0;
    let reload = live_reload_source(options, cfg!(debug_assertions));
    let policy = policy(&nonce.to_string(), &forms, reload.as_deref());
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The live-reload websocket `cargo leptos watch` serves, in development builds only.
fn live_reload_source(options: &LeptosOptions, development: bool) -> Option<String> {
    use leptos::config::ReloadWSProtocol;
    if !development {
        return None;
    }
    let scheme = match options.reload_ws_protocol {
        ReloadWSProtocol::WS => "ws",
        ReloadWSProtocol::WSS => "wss",
    };
    let port = options.reload_external_port.unwrap_or(options.reload_port);
    Some(format!("{scheme}://{}:{port}", options.site_addr.ip()))
}

fn policy(nonce: &str, form_action: &str, live_reload: Option<&str>) -> String {
    let connect = match live_reload {
        Some(source) => format!("'self' {source}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src {connect}; \
         object-src 'none'; base-uri 'none'; form-action 'self' {form_action}; \
         frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> LeptosOptions {
        LeptosOptions::builder()
            .output_name("portcullis")
            .site_addr(std::net::SocketAddr::from(([127, 0, 0, 1], 3000)))
            .reload_port(3001)
            .build()
    }

    #[test]
    fn a_release_build_allows_no_websocket() {
        let reload = live_reload_source(&options(), false);
        assert_eq!(reload, None);
        let policy = policy("abc", "http://idp.example", reload.as_deref());
        assert!(!policy.contains("ws:"), "{policy}");
        assert!(!policy.contains("wss:"), "{policy}");
        assert!(!policy.contains(":3001"), "{policy}");
        assert!(policy.contains("connect-src 'self';"), "{policy}");
        assert!(
            policy.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'"),
            "{policy}"
        );
        assert!(
            policy.contains("form-action 'self' http://idp.example;"),
            "{policy}"
        );
        assert!(policy.ends_with("frame-ancestors 'none'"), "{policy}");
    }

    #[test]
    fn a_development_build_allows_the_live_reload_socket_only() {
        let reload = live_reload_source(&options(), true);
        assert_eq!(reload.as_deref(), Some("ws://127.0.0.1:3001"));
        let policy = policy("abc", "", reload.as_deref());
        assert!(
            policy.contains("connect-src 'self' ws://127.0.0.1:3001;"),
            "{policy}"
        );
        assert_eq!(policy.matches("ws:").count(), 1, "{policy}");
    }

    #[test]
    fn this_build_follows_debug_assertions() {
        assert_eq!(
            live_reload_source(&options(), cfg!(debug_assertions)).is_some(),
            cfg!(debug_assertions)
        );
    }
}
