//! The `sales` MCP server, spawned on `127.0.0.1:0` with its own audience and database, through a real
//! rmcp client in every protocol generation: its tools and their structured output, its audience and
//! scope (a token for mcp-tools is worthless here, and a sales token at mcp-tools), tenant isolation,
//! and `flag_order`'s confirmation.

mod common;

use std::sync::{Arc, Mutex};

use common::{
    Issuer, Server,
    client::{ALL, Confirming, Generation, call, connect_url_handler, ok, text_of, tool_error},
    http, keys, raw, sign,
};
use mcp_tools::sales::{SALES_AUDIENCE, SALES_SCOPE, SalesConfig, SalesState};
use reqwest::{StatusCode, header};
use rmcp::{
    ServiceError,
    model::{CallToolResult, ElicitationAction, ErrorCode},
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const TENANT_A: &str = "aaaaaaaa-0000-0000-0000-00000000000a";
const TENANT_B: &str = "bbbbbbbb-0000-0000-0000-00000000000b";

/// A running sales server trusting `issuer`.
struct SalesServer {
    url: String,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl SalesServer {
    async fn start(issuer: &Issuer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = SalesConfig::builder(issuer.url.clone())
            .bind(addr)
            .jwks_cooldown_secs(2)
            .database_url(format!(
                "sqlite://{}",
                dir.path().join("sales.db").display()
            ))
            .build()
            .unwrap();
        let state = SalesState::open(&config).await.unwrap();
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        tokio::spawn(mcp_tools::sales::serve(
            listener,
            config,
            state,
            async move { shutdown.cancelled().await },
        ));
        Self {
            url: format!("http://{addr}/mcp"),
            stop,
            _dir: dir,
        }
    }
}

impl Drop for SalesServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A delegated token for the sales server: `user` of `tenant`, with `scopes`.
fn sales_token_with(issuer: &Issuer, user: &str, tenant: &str, scopes: &str) -> String {
    let mut claims = issuer.claims(user);
    claims["aud"] = json!(SALES_AUDIENCE);
    claims["tid"] = json!(tenant);
    claims["scp"] = json!(scopes);
    sign(&keys()[0], &claims)
}

fn sales_token(issuer: &Issuer, user: &str, tenant: &str) -> String {
    sales_token_with(issuer, user, tenant, &format!("openid {SALES_SCOPE}"))
}

type Client = common::client::Client<Confirming>;

async fn connect(
    server: &SalesServer,
    token: String,
    generation: Generation,
    answer: Option<ElicitationAction>,
) -> (Client, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let handler = Confirming {
        answer,
        generation,
        asked: asked.clone(),
    };
    let client = connect_url_handler(&server.url, token, generation, handler).await;
    if let Some(info) = client.peer_info() {
        assert_eq!(info.protocol_version, generation.protocol_version());
    }
    (client, asked)
}

fn structured(result: &CallToolResult) -> Value {
    result
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("structuredContent expected: {}", text_of(result)))
}

async fn data(client: &Client, tool: &'static str, args: Value) -> Value {
    structured(&ok(client, tool, args).await)
}

fn assert_invalid_params(result: Result<CallToolResult, ServiceError>) {
    match result {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{error:?}")
        }
        other => panic!("expected JSON-RPC invalid params, got {other:?}"),
    }
}

fn revenue(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| row["revenue_cents"].as_i64().unwrap())
        .collect()
}

const READ_ONLY: [&str; 4] = [
    "get_customer_orders",
    "list_customers",
    "sales_summary",
    "top_products",
];

#[tokio::test]
async fn tools_are_listed_with_schemas_and_truthful_annotations() {
    let issuer = Issuer::start().await;
    let server = SalesServer::start(&issuer).await;
    for generation in ALL {
        let token = sales_token(&issuer, "alice", TENANT_A);
        let (client, _) = connect(&server, token, generation, None).await;
        let tools = client.list_all_tools().await.unwrap();
        let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "flag_order",
                "get_customer_orders",
                "list_customers",
                "sales_summary",
                "top_products"
            ],
            "{generation:?}"
        );
        for tool in &tools {
            let name = tool.name.as_ref();
            let read_only = READ_ONLY.contains(&name);
            let annotations = tool.annotations.clone().expect("annotations");
            assert_eq!(annotations.read_only_hint, Some(read_only), "{name}");
            assert_eq!(annotations.destructive_hint, Some(!read_only), "{name}");
            assert_eq!(annotations.open_world_hint, Some(false), "{name}");
            assert!(tool.description.as_deref().is_some_and(|d| !d.is_empty()));
            // Read-only tools promise structured output; flag_order answers in text.
            assert_eq!(tool.output_schema.is_some(), read_only, "{name}");
            let input = Value::Object((*tool.input_schema).clone());
            assert_eq!(input["type"], "object", "{name}");
        }
        let summary = tools.iter().find(|t| t.name == "sales_summary").unwrap();
        let input = Value::Object((*summary.input_schema).clone());
        assert_eq!(input["required"], json!(["year", "group_by"]), "{input}");
        assert!(
            input["properties"]["year"]["description"].is_string(),
            "{input}"
        );
        let group_by = input.to_string();
        for choice in ["month", "quarter", "product"] {
            assert!(group_by.contains(&format!("\"{choice}\"")), "{input}");
        }
        let output = Value::Object((*summary.output_schema.clone().unwrap()).clone());
        for field in ["year", "group_by", "rows", "total"] {
            assert!(output["properties"][field].is_object(), "{field}: {output}");
        }
        let flag = tools.iter().find(|t| t.name == "flag_order").unwrap();
        let input = Value::Object((*flag.input_schema).clone());
        assert_eq!(input["required"], json!(["order_id", "reason"]), "{input}");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn read_tools_return_structured_content_and_a_short_text() {
    let issuer = Issuer::start().await;
    let server = SalesServer::start(&issuer).await;
    for generation in ALL {
        let token = sales_token(&issuer, "alice", TENANT_A);
        let (client, _) = connect(&server, token, generation, None).await;

        let all = ok(&client, "list_customers", json!({})).await;
        let customers = structured(&all)["customers"].as_array().unwrap().clone();
        assert_eq!(customers.len(), 60);
        assert!(
            text_of(&all).starts_with("60 customers:"),
            "{}",
            text_of(&all)
        );
        let city = customers[0]["city"].as_str().unwrap().to_lowercase();
        let found = data(&client, "list_customers", json!({ "search": city })).await;
        let found = found["customers"].as_array().unwrap();
        assert!(!found.is_empty() && found.len() < 60);
        assert!(found.iter().all(|c| {
            c["city"].as_str().unwrap().to_lowercase().contains(&city)
                || c["name"].as_str().unwrap().to_lowercase().contains(&city)
        }));

        let orders = ok(&client, "get_customer_orders", json!({ "customer_id": 42 })).await;
        let value = structured(&orders);
        assert_eq!(value["customer"]["id"], 42);
        let list = value["orders"].as_array().unwrap();
        assert!(!list.is_empty());
        assert_eq!(
            value["customer"]["orders"].as_u64().unwrap() as usize,
            list.len()
        );
        assert!(list.iter().all(|o| o["customer_id"] == 42));
        let sum: i64 = list
            .iter()
            .map(|o| o["total_cents"].as_i64().unwrap())
            .sum();
        assert_eq!(value["customer"]["revenue_cents"].as_i64().unwrap(), sum);
        assert!(text_of(&orders).starts_with("#42 "), "{}", text_of(&orders));
        let missing = tool_error(
            &client,
            "get_customer_orders",
            json!({ "customer_id": 4242 }),
        )
        .await;
        assert!(missing.contains("no customer with id 4242"), "{missing}");

        let by_quarter = ok(
            &client,
            "sales_summary",
            json!({ "year": 2026, "group_by": "quarter" }),
        )
        .await;
        assert!(
            text_of(&by_quarter).starts_with("Sales 2026: "),
            "{}",
            text_of(&by_quarter)
        );
        let by_quarter = structured(&by_quarter);
        assert_eq!(by_quarter["group_by"], "quarter");
        let quarters = revenue(&by_quarter["rows"]);
        assert_eq!(quarters.len(), 4);
        let total = by_quarter["total"]["revenue_cents"].as_i64().unwrap();
        assert!(total > 0);
        assert_eq!(quarters.iter().sum::<i64>(), total);
        let by_month = data(
            &client,
            "sales_summary",
            json!({ "year": 2026, "group_by": "month" }),
        )
        .await;
        assert_eq!(revenue(&by_month["rows"]).len(), 12);
        assert_eq!(by_month["total"], by_quarter["total"]);
        let by_product = data(
            &client,
            "sales_summary",
            json!({ "year": 2026, "group_by": "product" }),
        )
        .await;
        assert_eq!(by_product["total"], by_quarter["total"]);
        let products = revenue(&by_product["rows"]);

        let top = data(&client, "top_products", json!({ "year": 2026, "limit": 3 })).await;
        let top = top["products"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        let ranks: Vec<_> = top.iter().map(|p| p["rank"].as_u64().unwrap()).collect();
        assert_eq!(ranks, [1, 2, 3]);
        let best = revenue(&json!(top));
        assert!(best.windows(2).all(|w| w[0] >= w[1]), "{best:?}");
        assert_eq!(best[0], *products.iter().max().unwrap());
        let empty = ok(&client, "top_products", json!({ "year": 2030, "limit": 3 })).await;
        assert_eq!(structured(&empty)["products"], json!([]));

        // Bad input is a protocol error, never a tool result.
        for (tool, args) in [
            ("sales_summary", json!({ "year": 2026, "group_by": "week" })),
            (
                "sales_summary",
                json!({ "year": 1900, "group_by": "month" }),
            ),
            (
                "sales_summary",
                json!({ "year": "2026", "group_by": "month" }),
            ),
            ("top_products", json!({ "year": 2026, "limit": 0 })),
            ("top_products", json!({ "year": 2026, "limit": 51 })),
            ("get_customer_orders", json!({})),
            (
                "list_customers",
                json!({ "search": "x", "tenant": "other" }),
            ),
            ("flag_order", json!({ "order_id": 1, "reason": "  " })),
        ] {
            assert_invalid_params(call(&client, tool, args).await);
        }
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_token_for_one_server_is_worthless_at_the_other() {
    let issuer = Issuer::start().await;
    let tools = Server::start_with_issuer(issuer.clone(), |b| b).await;
    let sales = SalesServer::start(&issuer).await;
    let tools_token = issuer.token("alice");
    let sales_token = sales_token(&issuer, "alice", common::TENANT);

    let post = |url: &str, token: &str| {
        http()
            .post(url)
            .header(header::ACCEPT, raw::ACCEPT)
            .bearer_auth(token)
            .json(&raw::initialize_body())
            .send()
    };
    // Each token works where it belongs...
    assert_eq!(
        post(&sales.url, &sales_token).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        post(&tools.url, &tools_token).await.unwrap().status(),
        StatusCode::OK
    );
    // ...and nowhere else.
    let refused = post(&sales.url, &tools_token).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let sales_origin = sales.url.trim_end_matches("/mcp");
    assert!(
        challenge.contains(&format!(
            r#"resource_metadata="{sales_origin}/.well-known/oauth-protected-resource/mcp""#
        )),
        "{challenge}"
    );
    let refused = post(&tools.url, &sales_token).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // Each server describes its own resource.
    let metadata: Value = http()
        .get(format!(
            "{sales_origin}/.well-known/oauth-protected-resource/mcp"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], sales.url);
    assert_eq!(metadata["scopes_supported"], json!([SALES_SCOPE]));
    assert_eq!(metadata["resource_name"], "Portcullis sales");
    assert_eq!(metadata["authorization_servers"], json!([issuer.url]));
    let metadata: Value = http()
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            tools.origin()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], tools.url);
    assert_eq!(metadata["resource_name"], "Portcullis MCP tools");
}

#[tokio::test]
async fn a_token_without_sales_read_is_refused_with_insufficient_scope() {
    let issuer = Issuer::start().await;
    let sales = SalesServer::start(&issuer).await;
    let token = sales_token_with(&issuer, "alice", TENANT_A, "openid mcp:tools");
    let refused = http()
        .post(&sales.url)
        .header(header::ACCEPT, raw::ACCEPT)
        .bearer_auth(token)
        .json(&raw::initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let challenge = refused.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="sales:read""#), "{challenge}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn each_tenant_sees_only_its_own_data() {
    let issuer = Issuer::start().await;
    let server = SalesServer::start(&issuer).await;
    let generation = Generation::V2025_11_25;
    let (alice, _) = connect(
        &server,
        sales_token(&issuer, "alice", TENANT_A),
        generation,
        Some(ElicitationAction::Accept),
    )
    .await;
    let (bob, bob_asked) = connect(
        &server,
        sales_token(&issuer, "bob", TENANT_B),
        generation,
        Some(ElicitationAction::Decline),
    )
    .await;
    let (carol, _) = connect(
        &server,
        sales_token(&issuer, "carol", TENANT_A),
        generation,
        None,
    )
    .await;
    let a = data(&alice, "list_customers", json!({})).await;
    let b = data(&bob, "list_customers", json!({})).await;
    assert_ne!(a, b, "two tenants, two data sets");
    assert_eq!(
        a,
        data(&carol, "list_customers", json!({})).await,
        "one tenant, one data set"
    );
    let summary = json!({ "year": 2026, "group_by": "quarter" });
    assert_ne!(
        data(&alice, "sales_summary", summary.clone()).await,
        data(&bob, "sales_summary", summary).await
    );

    // Alice flags her order 1; bob's order 1 (his tenant's) stays unflagged: he is asked afresh.
    let outcome = ok(
        &alice,
        "flag_order",
        json!({ "order_id": 1, "reason": "duplicate" }),
    )
    .await;
    assert!(
        text_of(&outcome).contains("Flagged order 1"),
        "{}",
        text_of(&outcome)
    );
    let outcome = ok(
        &bob,
        "flag_order",
        json!({ "order_id": 1, "reason": "duplicate" }),
    )
    .await;
    assert!(
        text_of(&outcome).contains("declined"),
        "{}",
        text_of(&outcome)
    );
    assert_eq!(bob_asked.lock().unwrap().len(), 1);
    // Carol shares alice's tenant, so she sees the flag.
    let again = tool_error(
        &carol,
        "flag_order",
        json!({ "order_id": 1, "reason": "x" }),
    )
    .await;
    assert!(again.contains("already flagged (duplicate)"), "{again}");
    for client in [alice, bob, carol] {
        client.cancel().await.unwrap();
    }
}

/// The customer and id of `client`'s tenant's first order of customer 42.
async fn an_order(client: &Client) -> i64 {
    let orders = data(client, "get_customer_orders", json!({ "customer_id": 42 })).await;
    orders["orders"][0]["id"].as_i64().unwrap()
}

async fn flagged(client: &Client, order: i64) -> Value {
    let orders = data(client, "get_customer_orders", json!({ "customer_id": 42 })).await;
    orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == order)
        .map(|o| json!([o["flagged"], o["flag_reason"]]))
        .unwrap()
}

#[tokio::test]
async fn flag_order_is_confirmed_by_the_user_in_every_generation() {
    let issuer = Issuer::start().await;
    let server = SalesServer::start(&issuer).await;
    for generation in ALL {
        // A tenant per generation: each starts with unflagged orders.
        let tenant = format!("tenant-{generation:?}");
        let token = || sales_token(&issuer, "alice", &tenant);

        let (client, _) = connect(&server, token(), generation, None).await;
        let order = an_order(&client).await;
        let error = tool_error(
            &client,
            "flag_order",
            json!({ "order_id": order, "reason": "r" }),
        )
        .await;
        assert!(
            error.contains("requires the user's confirmation"),
            "{error}"
        );
        let missing = tool_error(
            &client,
            "flag_order",
            json!({ "order_id": 99999, "reason": "r" }),
        )
        .await;
        assert!(missing.contains("no order with id 99999"), "{missing}");
        client.cancel().await.unwrap();

        for (answer, says) in [
            (ElicitationAction::Decline, "declined"),
            (ElicitationAction::Cancel, "cancelled"),
        ] {
            let (client, asked) = connect(&server, token(), generation, Some(answer)).await;
            let outcome = ok(
                &client,
                "flag_order",
                json!({ "order_id": order, "reason": "price looks wrong" }),
            )
            .await;
            assert!(
                text_of(&outcome).contains(says),
                "{generation:?}: {}",
                text_of(&outcome)
            );
            assert_eq!(
                flagged(&client, order).await,
                json!([false, null]),
                "{generation:?}"
            );
            let asked = asked.lock().unwrap().clone();
            assert_eq!(asked.len(), 1);
            assert!(asked[0].contains("price looks wrong"), "{asked:?}");
            client.cancel().await.unwrap();
        }

        let (client, asked) = connect(
            &server,
            token(),
            generation,
            Some(ElicitationAction::Accept),
        )
        .await;
        let outcome = ok(
            &client,
            "flag_order",
            json!({ "order_id": order, "reason": "price looks wrong" }),
        )
        .await;
        assert!(
            text_of(&outcome).contains(&format!("Flagged order {order}")),
            "{generation:?}"
        );
        assert_eq!(asked.lock().unwrap().len(), 1);
        assert_eq!(
            flagged(&client, order).await,
            json!([true, "price looks wrong"]),
            "{generation:?}"
        );
        let again = tool_error(
            &client,
            "flag_order",
            json!({ "order_id": order, "reason": "r" }),
        )
        .await;
        assert!(again.contains("already flagged"), "{again}");
        assert_eq!(
            asked.lock().unwrap().len(),
            1,
            "not asked about a flagged order"
        );
        client.cancel().await.unwrap();
    }
}
