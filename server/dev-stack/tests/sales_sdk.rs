//! Interop of the in-process sales MCP server and the dev IdP with a client nobody here wrote: the
//! official MCP TypeScript SDK (npm `@modelcontextprotocol/sdk`, installed in `end2end/node_modules` by
//! `.ci/setup`), authorizing as it does by default (tests/interop/ts-sdk-sales-client.cjs): discovery
//! from the 401, dynamic registration, code + PKCE with `resource` = the MCP URL, the dev user's
//! sign-in and consent, then `sales_summary` over Streamable HTTP. And RFC 8707 at the token
//! endpoint: a `resource` that is not an identifier URI of the sales resource issues nothing.

mod common;

use std::path::Path;

use dev_stack::mcp::{SALES_AUDIENCE, SALES_SCOPE};
use reqwest::{StatusCode, header};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use common::{WEB, claims, start, start_mcp, start_sales, web_sign_in_consenting};

#[tokio::test]
async fn typescript_sdk_client_authorizes_with_consent_and_reads_the_sales_summary() {
    let stack = start().await;
    let url = start_sales(&stack, "sales").await;
    assert!(stack.dir.path().join("sales/sales.db").is_file());
    // This crate lives at server/dev-stack; the repository root is two levels up.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap();
    let node_modules = root.join("end2end/node_modules");
    assert!(
        node_modules.join("@modelcontextprotocol/sdk").is_dir(),
        "run .ci/setup (make test) to install the TypeScript SDK"
    );
    let output = tokio::process::Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/ts-sdk-sales-client.cjs"))
        .env("NODE_PATH", &node_modules)
        .env("MCP_URL", url.as_str())
        .env("DEV_USER", "bob")
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "TypeScript client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");

    // The SDK's own choices: the scope the metadata advertises, the MCP URL as `resource`, S256.
    assert_eq!(seen["unauthorized"], true, "the first connect met the 401");
    let request = &seen["authorizationRequest"];
    assert_eq!(request["scope"], SALES_SCOPE);
    assert_eq!(request["resource"], json!([url.as_str()]));
    assert_eq!(request["codeChallengeMethod"], "S256");
    // Bob saw the sign-in page, then the consent page for exactly the sales scope.
    assert_eq!(seen["pages"], json!(["Sign in", "Permissions requested"]));
    assert_eq!(seen["consented"], json!([SALES_SCOPE]));
    // Its token: for sales, for bob, for the client it registered.
    let client_id = seen["clientId"].as_str().expect("registered");
    let token = claims(seen["accessToken"].as_str().unwrap());
    assert_eq!(token["aud"], SALES_AUDIENCE);
    assert_eq!(token["scp"], "sales:read");
    assert_eq!(token["azp"], client_id);
    assert_eq!(token["oid"], json!(common::user(&stack, "bob").oid));
    assert_eq!(seen["protocolVersion"], "2025-11-25");
    assert_eq!(
        seen["tools"],
        json!([
            "flag_order",
            "get_customer_orders",
            "list_customers",
            "sales_summary",
            "top_products"
        ])
    );

    // The summary: four quarters that add up to the year's total.
    assert_eq!(seen["isError"], false, "{seen}");
    let summary = &seen["structuredContent"];
    assert_eq!(summary["group_by"], "quarter", "{summary}");
    let rows = summary["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 4, "{summary}");
    let revenue: i64 = rows
        .iter()
        .map(|r| r["revenue_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(summary["total"]["revenue_cents"].as_i64(), Some(revenue));
    assert!(revenue > 0, "{summary}");
}

#[tokio::test]
async fn a_resource_that_does_not_identify_sales_gets_no_sales_token() {
    let stack = start().await;
    let sales = start_sales(&stack, "sales").await;
    let mcp = start_mcp(&stack, "mcp", None).await;
    let signed_in = web_sign_in_consenting(
        &stack,
        "alice",
        &format!("openid offline_access {SALES_SCOPE}"),
    )
    .await;
    let mut refresh_token = signed_in["refresh_token"].as_str().unwrap().to_owned();
    let mut access_token = String::new();
    let secret = stack.idp.web_client_secret().expose_secret().to_owned();

    // mcp-tools' URL, mcp-tools' App ID URI, a URL nothing registered: invalid_target, no token.
    let elsewhere = format!("http://127.0.0.1:{}/mcp", sales.port().unwrap() ^ 1);
    for resource in [mcp.as_str(), "api://portcullis-mcp", elsewhere.as_str()] {
        let (status, body) = common::token(
            &stack,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
                ("scope", SALES_SCOPE),
                ("resource", resource),
            ],
            Some((WEB, &secret)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{resource}: {body}");
        assert_eq!(body["error"], "invalid_target", "{resource}: {body}");
        assert!(body.get("access_token").is_none());
    }
    // The sales URL and its App ID URI identify it; the refresh token survived the refusals.
    for resource in [sales.as_str(), SALES_AUDIENCE] {
        let (status, body) = common::token(
            &stack,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
                ("scope", SALES_SCOPE),
                ("resource", resource),
            ],
            Some((WEB, &secret)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{resource}: {body}");
        assert_eq!(
            claims(body["access_token"].as_str().unwrap())["aud"],
            SALES_AUDIENCE
        );
        refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
        access_token = body["access_token"].as_str().unwrap().to_owned();
    }
    // And the sales server takes that token.
    let answer = stack
        .http
        .post(sales.as_str())
        .header(header::ACCEPT, "application/json, text/event-stream")
        .bearer_auth(&access_token)
        .json(
            &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "t", "version": "1" } } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_sales_server_binds_loopback_only() {
    let stack = start().await;
    let error = dev_stack::mcp::start_sales(
        "0.0.0.0:0".parse().unwrap(),
        &stack.idp,
        stack.dir.path(),
        std::future::pending(),
    )
    .await
    .expect_err("refused");
    assert!(error.to_string().contains("loopback"), "{error}");
    assert!(!stack.dir.path().join("sales.db").exists());
}
