//! Refresh single flight across web instances: two app states (two processes' token caches, each with
//! its own in-process locks and lease id) over one database — a SQLite file, and a real PostgreSQL
//! server — race to renew a user's expiring token. The dev IdP rotates refresh tokens and revokes the
//! whole family when a rotated-out one comes back, so two refreshes with the same token would sign the
//! user out on both instances. Exactly one refresh happens; every caller gets its token.

mod common;

use common::*;
use secrecy::ExposeSecret;
use serde_json::json;
use server::{AppState, config::Database};

const TOOLS_SCOPE: &str = "api://portcullis-mcp/mcp:tools";

async fn race(app: TestApp) {
    let alice = app.sign_in("alice").await;
    let user = app.user_key("alice");
    // A second instance: the same configuration and database, its own token cache.
    let other = AppState::build(
        app.config.clone(),
        app.state.leptos_options.clone(),
        &app.dev,
    )
    .await
    .unwrap();
    let (a, b) = (app.state.auth.tokens.clone(), other.auth.tokens.clone());
    let first = a.access_token(&user, TOOLS_SCOPE).await.unwrap();

    // Force the token near expiry (inside the refresh margin) in the shared database.
    let url = match app.config.database() {
        Database::Sqlite(url) => url,
        Database::Postgres(url) => url.expose_secret().to_owned(),
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let soon = chrono::Utc::now().timestamp() + 5;
    let updated =
        sqlx::query("UPDATE token_cache SET expires_at = $1 WHERE user_key = $2 AND slot = $3")
            .bind(soon)
            .bind(&user)
            .bind(TOOLS_SCOPE)
            .execute(&pool)
            .await
            .unwrap();
    assert_eq!(updated.rows_affected(), 1);

    // Ten concurrent requests on each instance.
    let calls = (0..20).map(|i| {
        let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
        let user = user.clone();
        tokio::spawn(async move { cache.access_token(&user, TOOLS_SCOPE).await })
    });
    let tokens: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| match joined.unwrap() {
            Ok(token) => token.expose_secret().to_owned(),
            Err(error) => panic!("a caller lost its token: {error}"),
        })
        .collect();
    // One refresh: everybody got the same new token.
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "more than one refresh"
    );
    assert!(
        tokens[0] != first.expose_secret(),
        "the token was not renewed"
    );
    // Nobody signed out: both instances still renew from the rotated refresh token.
    for cache in [&a, &b] {
        sqlx::query("UPDATE token_cache SET expires_at = $1 WHERE user_key = $2 AND slot = $3")
            .bind(soon)
            .bind(&user)
            .bind(TOOLS_SCOPE)
            .execute(&pool)
            .await
            .unwrap();
        cache.access_token(&user, TOOLS_SCOPE).await.unwrap();
    }
    let tools = app.get("/tools", Some(&alice)).await;
    assert!(tools.body.contains("get_random_number"), "{}", tools.body);
    let leases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM token_refresh_leases")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(leases, 0, "every lease given back");
}

fn long_lived_tokens() -> serde_json::Value {
    json!({
        "bind": "127.0.0.1:0",
        "web_redirect_uri": "http://127.0.0.1:3000/auth/callback",
        "access_token_lifetime_secs": 3600,
    })
}

#[tokio::test]
async fn two_instances_on_one_sqlite_file_refresh_once() {
    race(test_app_with(json!({ "dev_idp": long_lived_tokens() })).await).await;
}

#[tokio::test]
async fn two_instances_on_postgresql_refresh_once() {
    // Started and accepting connections (it waits for `pg_isready`).
    let postgres = service_kit::testing::TempPostgres::start();
    race(
        test_app_with(json!({
            "dev_idp": long_lived_tokens(),
            "database_url": postgres.url(),
        }))
        .await,
    )
    .await;
}
