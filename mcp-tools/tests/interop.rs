//! Interop with a client nobody here wrote: the official MCP TypeScript SDK (npm
//! `@modelcontextprotocol/sdk`, installed in `end2end/node_modules` by `.ci/setup`).

mod common;

use std::path::Path;

use common::{Server, TOOL_NAMES};
use serde_json::Value;

#[tokio::test]
async fn typescript_sdk_client_lists_and_calls_tools_with_a_bearer_token() {
    let server = Server::start().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let node_modules = root.join("end2end/node_modules");
    assert!(
        node_modules.join("@modelcontextprotocol/sdk").is_dir(),
        "run .ci/setup (make test) to install the TypeScript SDK"
    );
    let output = tokio::process::Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/ts-sdk-client.cjs"))
        .env("NODE_PATH", &node_modules)
        .env("MCP_URL", &server.url)
        .env("MCP_TOKEN", server.issuer.token("erin"))
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "TypeScript client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(seen["protocolVersion"], "2025-11-25");
    assert!(seen["sessionId"].is_string());
    assert_eq!(seen["tools"], serde_json::json!(TOOL_NAMES));
    let random = seen["random"].as_i64().unwrap();
    assert!((1..=6).contains(&random), "{random}");
    assert!(
        seen["listedBefore"]
            .as_str()
            .unwrap()
            .contains("from the TypeScript SDK")
    );
    assert!(
        seen["deleted"]
            .as_str()
            .unwrap()
            .starts_with("Deleted note"),
        "{seen}"
    );
    assert_eq!(seen["listedAfter"], "You have no notes.");
    assert_eq!(seen["elicitations"].as_array().unwrap().len(), 1);
    assert_eq!(
        seen["invalid"], -32602,
        "invalid arguments are a JSON-RPC error"
    );
    // The session the SDK ended is gone, owner entry included.
    assert_eq!(server.state.sessions.len(), 0);
}
