//! The web router: health check, Leptos pages and server functions, static files, common headers.

pub mod live;

use axum::{
    Router,
    extract::{Request, State},
    handler::Handler,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::{
    limit::RequestBodyLimitLayer, services::ServeDir, set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::{AppState, WebSettings, auth};

/// Largest request body accepted (server-function payloads are small).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Builds the complete web application.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let options = state.leptos_options.clone();
    let settings = state.settings.clone();
    let secure = settings.secure_cookies;
    let sessions = SessionManagerLayer::new(state.sessions.clone())
        // `__Host-` requires Secure and Path=/ and no Domain: the cookie cannot be planted by a subdomain.
        .with_name(if secure {
            "__Host-portcullis_session"
        } else {
            "portcullis_session"
        })
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            i64::try_from(settings.session_idle.as_secs()).unwrap_or(i64::MAX),
        )));

    Router::new()
        .route("/healthz", get(healthz))
        .route("/auth/login", get(auth::login))
        .route("/auth/callback", get(auth::callback))
        .route("/auth/connect", get(auth::connect))
        .route("/connections/disconnect", post(crate::mcp::disconnect))
        .route("/auth/logout", post(auth::logout))
        .route("/api/chat/{id}/events", get(live::events))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let directory = state.directory.clone();
                let chat: app::chat::backend::SharedChat = state.chat.clone();
                let form_action = app::FormActionSources(settings.form_action.clone());
                move || {
                    leptos::nonce::provide_nonce();
                    provide_context(directory.clone());
                    provide_context(chat.clone());
                    provide_context(form_action.clone());
                }
            },
            move || app::shell(options.clone()),
        )
        // The site folder's files (the WASM bundle, its script, the stylesheet) as they are, with
        // conditional requests (304) and precompressed variants; any other path is the app's not-found
        // page. Files are served here rather than through `leptos_axum::file_and_error_handler`: that
        // handler applies the `ResponseOptions` of whatever reactive owner is current on its worker
        // thread, and while a page is still streaming on that thread, that is the page's. A page
        // answering 404 (a deleted conversation) then made the bundle it loads a 404 too, and the page
        // never hydrated. The handler stays for the not-found page, which it renders in its own owner.
        .fallback_service(
            ServeDir::new(state.leptos_options.site_root.as_ref())
                .precompressed_gzip()
                .precompressed_br()
                // A folder is not a page: no index.html, no redirect to a trailing slash.
                .append_index_html_on_directories(false)
                .fallback(
                    leptos_axum::file_and_error_handler::<AppState, _>(app::shell)
                        .with_state(state.clone()),
                ),
        )
        .layer(middleware::from_fn_with_state(state.auth.clone(), auth::attach_user))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(settings, same_origin_writes))
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            // Never leaks paths to other sites; same-origin requests keep a real Origin header.
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            // Path only: query strings can carry authorization codes and state.
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
        }))
}

/// Refuses cross-site state-changing requests (server functions, sign-out): a browser always says where
/// a request comes from (`Sec-Fetch-Site`, `Origin`); non-browser clients carry no ambient cookies.
async fn same_origin_writes(
    State(settings): State<std::sync::Arc<WebSettings>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    // Browsers that send Fetch Metadata are judged by it; older ones by Origin.
    let allowed = match (headers.get("sec-fetch-site"), headers.get(header::ORIGIN)) {
        (Some(site), _) => site == "same-origin" || site == "none",
        (None, Some(origin)) => origin.to_str().is_ok_and(|o| o == settings.public_origin),
        (None, None) => true,
    };
    if allowed {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "cross-site write refused");
        (StatusCode::FORBIDDEN, "cross-site request refused").into_response()
    }
}

/// Liveness: no authentication, no details.
async fn healthz() -> &'static str {
    "ok"
}
