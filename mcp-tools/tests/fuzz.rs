//! Property tests ("fuzz targets", issue #13) of the whole `/mcp` path, driven in process with tower's
//! `oneshot` against a real issuer (JWKS over HTTP):
//!
//! - bearer header and JWT: arbitrary `Authorization` values and mutated JWTs (random headers, `alg`s,
//!   claims, truncations, extra dots, huge lengths, signatures by a stranger's key, one claim wrong on a
//!   token signed by the issuer's key) are never accepted, never a 5xx: always 401 (403 for a valid token
//!   without the scope) with a `WWW-Authenticate` challenge and a body that reveals nothing;
//! - JSON-RPC bodies with a valid token: arbitrary JSON, arbitrary bytes, random methods and ids,
//!   batches, deep nesting, huge strings are never a panic or a 5xx: a JSON-RPC answer, or a 4xx that
//!   says what is wrong.
//!
//! Each property runs a modest number of cases so `make test` stays quick; `PROPTEST_CASES=<n>` raises
//! it for a long run (`PROPTEST_CASES=100000 cargo nextest run -p mcp-tools fuzz_`).

mod common;

use std::{sync::OnceLock, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{HeaderValue, Request, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{Issuer, keys, raw::ACCEPT, sign};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The Host the router is configured for (its default bind address; nothing listens there).
const HOST: &str = "127.0.0.1:8081";

/// `cases` unless `PROPTEST_CASES` says otherwise (`ProptestConfig::with_cases` would ignore it).
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    // No `proptest-regressions` files in the source tree: a failure found here becomes a plain test.
    config.failure_persistence = None;
    config
}

/// mcp-tools' router over a running issuer, and the runtime both live on.
struct Harness {
    runtime: tokio::runtime::Runtime,
    app: Router,
    issuer: Issuer,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (app, issuer) = runtime.block_on(async {
            let issuer = Issuer::start().await;
            let config = mcp_tools::Config::builder(issuer.url.clone(), common::AUDIENCE)
                .tenant_id(common::TENANT)
                .jwks_cooldown_secs(2)
                .database_url(format!("sqlite://{}", dir.path().join("fuzz.db").display()))
                .build()
                .unwrap();
            let state = mcp_tools::AppState::open(&config).await.unwrap();
            (mcp_tools::router(config, state), issuer)
        });
        Harness {
            runtime,
            app,
            issuer,
            _dir: dir,
        }
    })
}

/// What came back.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    content_type: String,
    /// `mcp-session-id`, when the answer opened a session.
    session: Option<String>,
    body: String,
}

impl Answer {
    /// The JSON-RPC messages of the body (a JSON body, or the `data:` lines of an event stream).
    fn messages(&self) -> Vec<Value> {
        if self.content_type.starts_with("text/event-stream") {
            self.body
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .filter_map(|data| serde_json::from_str(data.trim()).ok())
                .collect()
        } else {
            serde_json::from_str(&self.body).into_iter().collect()
        }
    }
}

/// POSTs `body` to `/mcp` with `authorization` (when given) and `headers`.
fn post(
    authorization: Option<HeaderValue>,
    headers: &[(&str, HeaderValue)],
    body: Vec<u8>,
) -> Answer {
    let harness = harness();
    let mut request = Request::post("/mcp")
        .header(header::HOST, HOST)
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    for (name, value) in headers {
        request = request.header(*name, value.clone());
    }
    let request = request.body(Body::from(body)).unwrap();
    harness.runtime.block_on(async {
        let response = harness.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let session = response
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        // A stream that never ends would hang the run: five seconds is far more than any answer takes.
        let body = tokio::time::timeout(
            Duration::from_secs(5),
            axum::body::to_bytes(response.into_body(), usize::MAX),
        )
        .await
        .expect("the answer ends")
        .expect("a readable body");
        Answer {
            status,
            challenge,
            content_type,
            session,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    })
}

/// One valid token of alice's for the whole run (a token minted later differs in `iat`).
fn alice() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| harness().issuer.token("alice"))
}

/// The `Authorization` header of alice's valid token.
fn token() -> Option<HeaderValue> {
    bearer(alice())
}

fn bearer(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {token}")).ok()
}

/// A valid `initialize` request: what the refused tokens would have been allowed to send.
fn initialize() -> Vec<u8> {
    common::raw::initialize_body().to_string().into_bytes()
}

/// A refusal as the authentication layer gives it: 401 (403 when `scope_only`), a Bearer challenge
/// pointing at the metadata, a body naming only the error code, and nothing of the token.
fn assert_refused(answer: &Answer, token: &str, scope_only: bool) -> Result<(), TestCaseError> {
    prop_assert!(!answer.status.is_server_error(), "{answer:?}");
    if answer.status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
        // A header past the size limit is refused before authentication.
        prop_assert!(token.len() > mcp_tools::MAX_HEADER_BYTES / 2, "{answer:?}");
        return Ok(());
    }
    let (status, codes): (_, &[&str]) = if scope_only {
        (StatusCode::FORBIDDEN, &["insufficient_scope"])
    } else {
        (StatusCode::UNAUTHORIZED, &["invalid_token", "unauthorized"])
    };
    prop_assert_eq!(answer.status, status, "{:?}", answer);
    let challenge = answer.challenge.as_deref().unwrap_or("");
    prop_assert!(challenge.starts_with("Bearer "), "{challenge}");
    prop_assert!(
        challenge.contains(
            r#"resource_metadata="http://127.0.0.1:8081/.well-known/oauth-protected-resource/mcp""#
        ),
        "{challenge}"
    );
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let code = body["error"].as_str().unwrap_or("");
    prop_assert!(codes.contains(&code), "{}", answer.body);
    prop_assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "{}",
        answer.body
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Bearer header and JWT
// ---------------------------------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((".{0,10}", inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A JOSE header: a random `alg` (none, HMAC, RSA, EC, junk), a known, foreign or missing `kid`, and
/// sometimes keys embedded where they must be ignored.
fn jose_header() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            prop::sample::select(vec![
                "none", "None", "NONE", "HS256", "HS512", "RS256", "rs256", "RS384", "RS512",
                "PS256", "ES256", "EdDSA", ""
            ])
            .prop_map(Value::from),
            any_json(),
        ],
        prop::option::of(prop_oneof![
            prop::sample::select(vec!["key-1", "key-2", "attacker", "", "../keys"])
                .prop_map(Value::from),
            any_json(),
        ]),
        prop::option::of(any_json()),
        any::<bool>(),
    )
        .prop_map(|(alg, kid, typ, embed)| {
            let mut header = json!({ "alg": alg });
            if let Some(kid) = kid {
                header["kid"] = kid;
            }
            if let Some(typ) = typ {
                header["typ"] = typ;
            }
            if embed {
                header["jwk"] = keys()[2].jwk.clone();
                header["jku"] = json!("http://127.0.0.1:1/keys");
            }
            header
        })
}

/// Claims near a valid token's: each claim kept, dropped, or replaced by a random value, plus random
/// extra claims.
fn claims() -> impl Strategy<Value = Value> {
    let valid = harness().issuer.claims("mallory");
    let names: Vec<String> = valid.as_object().unwrap().keys().cloned().collect();
    (
        prop::collection::vec(
            prop_oneof![3 => Just(None), 1 => Just(Some(Value::Null)), 1 => any_json().prop_map(Some)],
            names.len(),
        ),
        prop::collection::vec((".{1,8}", any_json()), 0..3),
    )
        .prop_map(move |(changes, extra)| {
            let mut claims = valid.clone();
            for (name, change) in names.iter().zip(changes) {
                match change {
                    None => {}
                    Some(Value::Null) => {
                        claims.as_object_mut().unwrap().remove(name);
                    }
                    Some(value) => claims[name] = value,
                }
            }
            for (name, value) in extra {
                claims[name] = value;
            }
            claims
        })
}

/// A compact JWS from a header, claims and a signature that never verifies: random bytes, none, or
/// the signature of another token by the issuer's own key.
fn forged_token() -> impl Strategy<Value = String> {
    (
        jose_header(),
        claims(),
        prop_oneof![
            Just(String::new()),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| b64(&b)),
            Just(
                sign(&keys()[0], &json!({ "other": true }))
                    .rsplit('.')
                    .next()
                    .unwrap()
                    .to_owned()
            ),
        ],
    )
        .prop_map(|(header, claims, signature)| {
            format!(
                "{}.{}.{signature}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            )
        })
}

/// A token changed by one structural mutation: cut short, dots added or removed, a character added,
/// the token repeated, padded to a huge length, whitespace inside it, segments reordered. (Whitespace
/// around it is no mutation: the header's token is trimmed.)
fn mutated(token: String) -> impl Strategy<Value = String> {
    let len = token.len();
    (
        0..8u8,
        0..len,
        any::<char>(),
        0..4usize,
        prop::sample::select(vec![1usize, 3_000, 9_000, 20_000]),
    )
        .prop_map(move |(how, at, c, n, size)| {
            let at = (0..=at)
                .rev()
                .find(|i| token.is_char_boundary(*i))
                .unwrap_or(0);
            let c = if c.is_whitespace() { '~' } else { c };
            match how {
                0 => token[..at].to_owned(),
                1 => format!("{}{}{}", &token[..at], ".".repeat(n + 1), &token[at..]),
                2 => token.replace('.', ""),
                3 => {
                    let mut t = token.clone();
                    t.insert(if n % 2 == 0 { at } else { t.len() }, c);
                    t
                }
                4 => format!("{token}.{token}"),
                5 => format!("{token}{}", "A".repeat(size)),
                6 => format!("{} {}", &token[..at.max(1)], &token[at.max(1)..]),
                _ => token.split('.').rev().collect::<Vec<_>>().join("."),
            }
        })
}

proptest! {
    #![proptest_config(config(256))]

    /// Any header value at all (any scheme, any bytes a header may carry, huge ones) is refused.
    #[test]
    fn fuzz_bearer_any_authorization_value_is_refused(
        value in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            "(Bearer|bearer|BEARER|Basic|Bearer\t|Bearer  |Token|Bearer,)? ?[ -~]{0,300}".prop_map(String::into_bytes),
            (prop::sample::select(vec![1usize, 100, 8_000, 17_000]), "[A-Za-z0-9._-]").prop_map(|(n, c)| format!("Bearer {}", c.repeat(n)).into_bytes()),
        ],
        twice in any::<bool>(),
    ) {
        // Bytes a header value cannot carry (CR, LF, NUL) never reach the server; the rest do.
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let extra = if twice { vec![("authorization", bearer(alice()).unwrap())] } else { vec![] };
            let answer = post(Some(value), &extra, initialize());
            assert_refused(&answer, &text, false)?;
            if text.len() > 12 {
                prop_assert!(!answer.body.contains(&text), "the body repeats the header");
            }
        }
    }

    /// Forged and mangled JWTs (random headers, algorithms, claims and signatures, then a structural
    /// mutation) are refused.
    #[test]
    fn fuzz_jwt_forged_and_mangled_tokens_are_refused(
        token in prop_oneof![
            forged_token(),
            forged_token().prop_flat_map(mutated),
            Just(alice().to_owned()).prop_flat_map(mutated),
        ],
    ) {
        // A mutation that leaves the issuer's own token whole is not a forgery.
        prop_assume!(token.trim() != alice());
        if let Some(value) = bearer(&token) {
            assert_refused(&post(Some(value), &[], initialize()), &token, false)?;
        }
    }

    /// A well-formed token signed by a key the issuer never published, whatever `kid` it names, and an
    /// HMAC token keyed with the issuer's public key (algorithm confusion), are refused.
    #[test]
    fn fuzz_jwt_tokens_signed_by_a_stranger_are_refused(
        claims in claims(),
        kid in prop::sample::select(vec!["key-1", "key-2", "attacker"]),
        hmac in any::<bool>(),
    ) {
        let token = if hmac {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("key-1".to_owned());
            let secret = keys()[0].jwk.to_string();
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
        } else {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.to_owned());
            jsonwebtoken::encode(&header, &claims, &keys()[2].encoding).unwrap()
        };
        assert_refused(&post(bearer(&token), &[], initialize()), &token, false)?;
    }

    /// A token signed by the issuer's own key with one claim wrong (issuer, audience, tenant, expiry,
    /// not-before, user, scope) is refused: 401, or 403 when only the scope is missing.
    #[test]
    fn fuzz_jwt_one_wrong_claim_on_a_real_signature_is_refused(
        which in 0..9u8,
        junk in any_json(),
        skew in 120u64..100_000_000,
    ) {
        let mut claims = harness().issuer.claims("mallory");
        let now = common::now();
        let scope_only = which == 7;
        match which {
            0 => claims["iss"] = json!(format!("{}x", harness().issuer.url)),
            1 => claims["aud"] = json!("api://someone-else"),
            2 => claims["tid"] = json!("22222222-2222-2222-2222-222222222222"),
            3 => claims["exp"] = json!(now.saturating_sub(skew)),
            4 => claims["nbf"] = json!(now + skew),
            5 => { claims.as_object_mut().unwrap().remove("exp"); }
            6 => {
                let object = claims.as_object_mut().unwrap();
                object.remove("oid");
                object.insert("sub".into(), json!(""));
            }
            7 => claims["scp"] = json!("openid mcp:toolsx profile"),
            _ => {
                // Any other value of a claim the policy reads.
                let name = ["iss", "aud", "tid", "exp", "scp"][skew as usize % 5];
                prop_assume!(junk != claims[name]);
                // A later expiry is no defect.
                prop_assume!(!(name == "exp" && junk.as_u64().is_some_and(|exp| exp + 30 >= now)));
                claims[name] = junk;
            }
        }
        let token = sign(&keys()[0], &claims);
        let answer = post(bearer(&token), &[], initialize());
        if which == 8 && answer.status == StatusCode::FORBIDDEN {
            // A junk `scp` is a missing scope.
            assert_refused(&answer, &token, true)?;
        } else {
            assert_refused(&answer, &token, scope_only)?;
        }
    }
}

/// The harness can tell a refusal from an admission: the issuer's own token gets through.
#[test]
fn fuzz_control_a_valid_token_is_admitted() {
    let answer = post(token(), &[], initialize());
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(
        answer.messages().iter().any(|m| m["result"].is_object()),
        "{answer:?}"
    );
}

// ---------------------------------------------------------------------------------------------------
// JSON-RPC bodies, with a valid token
// ---------------------------------------------------------------------------------------------------

const METHODS: [&str; 16] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "server/discover",
    "tools/frobnicate",
    "",
];

/// How a message travels: with random protocol headers, as a 2026-07-28 stateless request (its
/// version in `_meta` and in the standard headers), or in a 2025-11-25 session alice opened.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Loose,
    Stateless,
    Session,
}

/// Something shaped like a JSON-RPC message, with each part sometimes wrong.
fn message(mode: Mode) -> impl Strategy<Value = Value> {
    (
        prop_oneof![8 => Just(Some(json!("2.0"))), 1 => Just(None), 1 => any_json().prop_map(Some)],
        prop_oneof![
            6 => any::<i64>().prop_map(|n| Some(json!(n))),
            2 => ".{0,8}".prop_map(|s| Some(json!(s))),
            1 => Just(None),
            1 => any_json().prop_map(Some),
        ],
        prop_oneof![
            6 => prop::sample::select(METHODS.to_vec()).prop_map(|m| Some(json!(m))),
            1 => ".{0,20}".prop_map(|m| Some(json!(m))),
            1 => any_json().prop_map(Some),
            1 => Just(None),
        ],
        prop_oneof![
            1 => Just(None),
            4 => tool_call_params().prop_map(Some),
            2 => any_json().prop_map(Some),
            1 => Just(Some(json!({ "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "fuzz", "version": "1" } }))),
        ],
        prop_oneof![8 => Just(None), 1 => Just(Some(json!({}))), 1 => any_json().prop_map(Some)],
    )
        .prop_map(move |(jsonrpc, id, method, params, result)| {
            let mut message = json!({});
            for (name, value) in [("jsonrpc", jsonrpc), ("id", id), ("method", method), ("params", params), ("result", result)] {
                if let Some(value) = value {
                    message[name] = value;
                }
            }
            if matches!(mode, Mode::Stateless) && message["params"].is_object() {
                message["params"]["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": { "name": "fuzz", "version": "1" }
                });
            }
            message
        })
}

/// `tools/call` params naming a real tool (or not) with arguments near the tools' own or random.
fn tool_call_params() -> impl Strategy<Value = Value> {
    let arguments = prop::collection::vec(
        (
            prop::sample::select(vec![
                "min",
                "max",
                "text",
                "city",
                "id",
                "time_zone",
                "other",
            ]),
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                prop::sample::select(vec![i64::MIN, -1, 0, 1, i64::MAX]).prop_map(Value::from),
                ".{0,30}".prop_map(Value::from),
                any_json(),
            ],
        ),
        0..3,
    )
    .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    (
        prop_oneof![
            4 => prop::sample::select(common::TOOL_NAMES.to_vec()).prop_map(Value::from),
            1 => any_json(),
        ],
        prop_oneof![3 => arguments, 1 => any_json()],
    )
        .prop_map(|(name, arguments)| json!({ "name": name, "arguments": arguments }))
}

/// Random protocol headers: none, plausible ones, or junk.
fn loose_headers() -> impl Strategy<Value = Vec<(&'static str, HeaderValue)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "mcp-protocol-version",
                "mcp-method",
                "mcp-name",
                "mcp-session-id",
                "last-event-id",
            ]),
            prop_oneof![
                prop::sample::select(vec![
                    "2025-11-25",
                    "2026-07-28",
                    "2025-03-26",
                    "tools/call",
                    "get_random_number"
                ])
                .prop_map(String::from),
                "[ -~]{0,40}",
            ],
        ),
        0..3,
    )
    .prop_map(|headers| {
        headers
            .into_iter()
            .filter_map(|(name, value)| HeaderValue::from_str(&value).ok().map(|v| (name, v)))
            .collect()
    })
}

/// The headers `mode` sends `message` with.
fn headers_for(
    mode: Mode,
    message: &Value,
    loose: Vec<(&'static str, HeaderValue)>,
) -> Vec<(&'static str, HeaderValue)> {
    match mode {
        Mode::Loose => loose,
        Mode::Session => vec![
            ("mcp-session-id", HeaderValue::from_str(session()).unwrap()),
            (
                "mcp-protocol-version",
                HeaderValue::from_static("2025-11-25"),
            ),
        ],
        Mode::Stateless => {
            let mut headers = vec![(
                "mcp-protocol-version",
                HeaderValue::from_static("2026-07-28"),
            )];
            let header = |value: &Value| value.as_str().and_then(|v| HeaderValue::from_str(v).ok());
            if let Some(method) = header(&message["method"]) {
                headers.push(("mcp-method", method));
            }
            if let Some(name) = header(&message["params"]["name"]) {
                headers.push(("mcp-name", name));
            }
            headers
        }
    }
}

/// A 2025-11-25 session alice opened (`initialize`, then `notifications/initialized`), for the run.
fn session() -> &'static str {
    static SESSION: OnceLock<String> = OnceLock::new();
    SESSION.get_or_init(|| {
        let answer = post(token(), &[], initialize());
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        let id = answer.session.clone().expect("a session id");
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let headers = [
            ("mcp-session-id", HeaderValue::from_str(&id).unwrap()),
            (
                "mcp-protocol-version",
                HeaderValue::from_static("2025-11-25"),
            ),
        ];
        let answer = post(token(), &headers, initialized.to_string().into_bytes());
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
        id
    })
}

/// Nothing breaks: no 5xx; a 400 with JSON is a JSON-RPC error with a code and a message; any other
/// refusal says something; a success carries JSON-RPC messages or nothing (202 for notifications).
fn assert_answered(answer: &Answer) -> Result<(), TestCaseError> {
    prop_assert!(!answer.status.is_server_error(), "{answer:?}");
    if answer.status.is_client_error() {
        prop_assert!(
            !answer.body.trim().is_empty(),
            "a refusal with no reason: {answer:?}"
        );
        if answer.content_type.starts_with("application/json") {
            let messages = answer.messages();
            prop_assert_eq!(messages.len(), 1, "{:?}", answer);
            let error = &messages[0]["error"];
            prop_assert!(error["code"].is_i64(), "{answer:?}");
            prop_assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{answer:?}"
            );
            prop_assert_eq!(&messages[0]["jsonrpc"], "2.0");
        }
    } else {
        prop_assert!(answer.status.is_success(), "{answer:?}");
        for message in answer.messages() {
            prop_assert!(
                message.get("result").is_some()
                    || message.get("error").is_some()
                    || message.get("method").is_some(),
                "{message}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary JSON values as the body.
    #[test]
    fn fuzz_jsonrpc_any_json_body_is_answered(body in any_json(), headers in loose_headers()) {
        assert_answered(&post(token(), &headers, body.to_string().into_bytes()))?;
    }

    /// Messages shaped like JSON-RPC with random methods, ids, params and versions, one at a time or
    /// in a batch, loose, stateless or in a session.
    #[test]
    fn fuzz_jsonrpc_messages_and_batches_are_answered(
        (mode, messages) in prop::sample::select(vec![Mode::Loose, Mode::Stateless, Mode::Session])
            .prop_flat_map(|mode| (Just(mode), prop::collection::vec(message(mode), 1..4))),
        batch in prop::bool::weighted(0.2),
        loose in loose_headers(),
    ) {
        let body = if batch { json!(messages) } else { messages[0].clone() };
        let answer = post(token(), &headers_for(mode, &messages[0], loose), body.to_string().into_bytes());
        assert_answered(&answer)?;
        if batch && answer.status == StatusCode::BAD_REQUEST && answer.content_type.starts_with("application/json") {
            prop_assert!(answer.body.contains("batch"), "{answer:?}");
        }
    }

    /// Bytes that are not JSON, or JSON cut short.
    #[test]
    fn fuzz_jsonrpc_any_bytes_are_answered(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            message(Mode::Loose).prop_flat_map(|m| {
                let text = m.to_string();
                let len = text.len();
                (Just(text), 0..len.max(1)).prop_map(|(text, cut)| text.as_bytes()[..cut.min(text.len())].to_vec())
            }),
        ],
    ) {
        let answer = post(token(), &[], bytes);
        assert_answered(&answer)?;
    }

    /// Deeply nested params and huge strings: past the parser's depth limit, at and past the body limit.
    #[test]
    fn fuzz_jsonrpc_deep_and_huge_bodies_are_answered(
        depth in prop_oneof![1usize..200, Just(5_000usize), Just(100_000usize)],
        open in prop::sample::select(vec![("[", "]"), ("{\"a\":", "}")]),
        size in prop::sample::select(vec![0usize, 70_000, mcp_tools::MAX_BODY_BYTES - 200, mcp_tools::MAX_BODY_BYTES + 1]),
        method in prop::sample::select(METHODS.to_vec()),
    ) {
        let nested = format!("{}1{}", open.0.repeat(depth), open.1.repeat(depth));
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{"deep":{nested},"big":"{}"}}}}"#,
            "x".repeat(size.saturating_sub(nested.len()))
        );
        let answer = post(token(), &[], body.clone().into_bytes());
        assert_answered(&answer)?;
        if body.len() > mcp_tools::MAX_BODY_BYTES {
            prop_assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
}
