//! The web router: health check, Leptos pages and server functions, static files, common headers.

use axum::{
    Router,
    http::{HeaderName, HeaderValue, Request, header},
    routing::get,
};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::{
    limit::RequestBodyLimitLayer, set_header::SetResponseHeaderLayer, trace::TraceLayer,
};

use crate::AppState;

/// Largest request body accepted (server-function payloads are small).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Builds the complete web application.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let options = state.leptos_options.clone();

    Router::new()
        .route("/healthz", get(healthz))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.config.clone())
            },
            move || app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
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

/// Liveness: no authentication, no details.
async fn healthz() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::StatusCode};
    use http_body_util::BodyExt;
    use leptos::config::LeptosOptions;
    use tower::ServiceExt;

    fn test_router() -> Router {
        let options = LeptosOptions::builder()
            .output_name("portcullis")
            .site_root("target/site")
            .build();
        let config = crate::config::Config {
            data_dir: std::env::temp_dir(),
            environment: crate::config::Environment::Development,
            auth: Default::default(),
            dev_idp: Default::default(),
        };
        router(AppState::new(config, options))
    }

    async fn get(path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = test_router()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn healthz_says_ok() {
        let (status, _, body) = get("/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok");
    }

    #[tokio::test]
    async fn home_page_renders_product_and_visitor_state() {
        let (status, headers, body) = get("/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<title>Portcullis</title>"), "{body}");
        assert!(body.contains("Not signed in"), "{body}");
        assert!(body.contains(r#"data-hydrated="false""#), "{body}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
    }

    #[tokio::test]
    async fn unknown_page_is_404() {
        let (status, _, body) = get("/no/such/page").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("Page not found"), "{body}");
    }

    #[tokio::test]
    async fn oversized_body_is_refused() {
        let response = test_router()
            .oneshot(
                Request::post("/api/anything")
                    .header(header::CONTENT_LENGTH, MAX_BODY_BYTES + 1)
                    .body(Body::from(vec![b'x'; MAX_BODY_BYTES + 1]))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
