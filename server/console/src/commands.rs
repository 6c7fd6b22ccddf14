//! The subcommands: `login`, `logout`, `tools`, `call`. Results go to stdout (text, or JSON with
//! `--json`); sign-in instructions, prompts and failures to stderr.

use std::{io::Write, sync::Arc};

use agent::{
    domain::{
        ApprovalMode, ArgsHash, Call, CallId, CallStatus, Conversation, ConversationId, DecidedBy,
        MessageId,
    },
    elicitation::Bridge,
    mcp::{CatalogTool, McpDirectory, result_text},
};
use rmcp::model::Tool;
use serde_json::{Value, json};

use crate::{
    args,
    cache::TokenCache,
    chat::{
        CLIENT_NAME,
        asker::{Output as AskerOutput, TerminalAsker},
    },
    config::{Config, Home},
    exit::{Exit, Failure},
    prompt::{self, Approval, ApprovalRequest},
    session::{Server, Session, console_user},
    terminal::{Input, Stream},
};

/// Output settings shared by the commands.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

fn print_json(value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Other(e.into()))?;
    println!("{text}");
    Ok(())
}

/// `login [SERVER]`: a fresh interactive sign-in at each distinct authorization server.
pub async fn login(
    config: &Config,
    home: Home,
    server: Option<&str>,
    output: Output,
) -> Result<Exit, Failure> {
    let session = Session::resolve(config, home, server).await?;
    for failure in session.unresolved() {
        eprintln!("{}: {failure}", crate::BINARY);
    }
    let mut done: Vec<(String, Value)> = Vec::new();
    for server in session.servers() {
        if done.iter().any(|(issuer, _)| *issuer == server.issuer) {
            continue;
        }
        let identity = session.sign_in(server, &mut std::io::stderr()).await?;
        done.push((
            server.issuer.clone(),
            json!({
                "issuer": server.issuer,
                "user": identity.key(),
                "name": identity.name,
                "username": identity.username,
            }),
        ));
    }
    if output.json {
        print_json(&Value::Array(done.into_iter().map(|(_, v)| v).collect()))?;
    } else {
        println!(
            "Tokens are cached (encrypted) in {}.",
            session.cache_path().display()
        );
    }
    Ok(Exit::Success)
}

/// `logout`: deletes the token cache and its key.
pub fn logout(config: &Config, home: &Home, output: Output) -> Result<Exit, Failure> {
    let existed = TokenCache::delete(home, config.console.key_store)?;
    if output.json {
        print_json(&json!({ "deleted": existed, "cache": home.token_cache() }))?;
    } else if existed {
        println!(
            "Signed out: deleted the token cache {} and its key.",
            home.token_cache().display()
        );
    } else {
        println!("Not signed in: there was no token cache to delete.");
    }
    Ok(Exit::Success)
}

fn directory(session: &Arc<Session>) -> McpDirectory {
    McpDirectory::new(session.specs(), session.clone())
}

/// One server's tools, signing in when needed.
async fn list(
    session: &Session,
    directory: &McpDirectory,
    index: usize,
    server: &Server,
) -> Result<Vec<Tool>, Failure> {
    let user = console_user();
    session
        .signed_in(server, &mut std::io::stderr(), || {
            directory.list_tools(&user, index)
        })
        .await
}

/// The first line of a description, for one-line listings.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default().trim()
}

/// `tools [SERVER]`: every reachable server's tools; a server that fails is reported and the exit code
/// is its failure's.
pub async fn tools(
    config: &Config,
    home: Home,
    server: Option<&str>,
    output: Output,
) -> Result<Exit, Failure> {
    let session = Session::resolve(config, home, server).await?;
    let directory = directory(&session);
    let mut rows: Vec<CatalogTool> = Vec::new();
    let mut first_failure = None;
    let mut single_failure = None;
    for failure in session.unresolved() {
        eprintln!("{}: {failure}", crate::BINARY);
        first_failure.get_or_insert(failure.exit());
    }
    for (index, server) in session.servers().iter().enumerate() {
        match list(&session, &directory, index, server).await {
            Ok(tools) => rows.extend(
                tools
                    .iter()
                    .map(|tool| CatalogTool::new(index, &server.spec.name, false, tool)),
            ),
            Err(failure) => {
                // With several servers the others are still listed; each failure is said here.
                if session.servers().len() > 1 || !session.unresolved().is_empty() {
                    eprintln!("{}: {failure}", crate::BINARY);
                    first_failure.get_or_insert(failure.exit());
                } else {
                    single_failure = Some(failure);
                }
            }
        }
    }
    if let Some(failure) = single_failure {
        return Err(failure);
    }
    if output.json {
        print_json(&Value::Array(
            rows.iter()
                .map(|t| {
                    json!({
                        "server": t.server_name,
                        "tool": t.tool,
                        "kind": prompt::kind(t.read_only, t.destructive),
                        "read_only": t.read_only,
                        "destructive": t.destructive,
                        "description": t.description,
                        "input_schema": t.parameters,
                    })
                })
                .collect(),
        ))?;
    } else {
        let width = |f: fn(&CatalogTool) -> usize, header: &str| {
            rows.iter().map(f).chain([header.len()]).max().unwrap_or(0)
        };
        let server_width = width(|t| t.server_name.len(), "SERVER");
        let tool_width = width(|t| t.tool.len(), "TOOL");
        let kind_width = "destructive".len();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{:server_width$}  {:tool_width$}  {:kind_width$}  DESCRIPTION",
            "SERVER", "TOOL", "KIND"
        );
        for t in &rows {
            let _ = writeln!(
                out,
                "{:server_width$}  {:tool_width$}  {:kind_width$}  {}",
                t.server_name,
                t.tool,
                prompt::kind(t.read_only, t.destructive),
                first_line(&t.description)
            );
        }
    }
    Ok(first_failure.unwrap_or(Exit::Success))
}

/// What `call` was asked to do.
pub struct CallRequest<'a> {
    pub server: &'a str,
    pub tool: &'a str,
    pub arguments: &'a [String],
    pub yes: bool,
}

/// `call SERVER TOOL key=value …`: the tool's schema types the arguments, the user approves (unless
/// `--yes`), the result is printed; an error result exits 1.
pub async fn call(
    config: &Config,
    home: Home,
    request: CallRequest<'_>,
    output: Output,
) -> Result<Exit, Failure> {
    let session = Session::resolve(config, home, Some(request.server)).await?;
    let directory = directory(&session);
    let server = session
        .servers()
        .first()
        .ok_or_else(|| Failure::usage("no server"))?
        .clone();
    let tools = list(&session, &directory, 0, &server).await?;
    let Some(tool) = tools.iter().find(|t| t.name == request.tool) else {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        return Err(Failure::usage(format!(
            "{} has no tool {:?} (it has: {})",
            server.spec.name,
            request.tool,
            names.join(", ")
        )));
    };
    let tool = CatalogTool::new(0, &server.spec.name, false, tool);
    let arguments = args::parse(request.arguments, &tool.parameters)
        .map_err(|e| Failure::usage(format!("{}: {e}", tool.tool)))?;
    // One reader of the terminal for the approval and any request for input during the call.
    let input = Arc::new(tokio::sync::Mutex::new(Input::stdin()));
    if !request.yes {
        let approval = ApprovalRequest {
            server: server.spec.name.clone(),
            server_url: server.spec.url.to_string(),
            tool: tool.tool.clone(),
            read_only: tool.read_only,
            destructive: tool.destructive,
            arguments: arguments.clone(),
        };
        let mut input = input.lock().await;
        let answer = prompt::approve(
            &mut input,
            &mut |text: &str| Stream::Stderr.write(text),
            &approval,
            false,
        )
        .await;
        if answer != Approval::Yes {
            return Err(Failure::Declined);
        }
    }
    let user = console_user();
    let bridge = elicitation_bridge(&session, &server, &tool, &arguments, input, config);
    let result = session
        .signed_in(&server, &mut std::io::stderr(), || {
            directory.call(&user, &tool, arguments.clone(), bridge.clone())
        })
        .await?;
    let failed = result.is_error == Some(true);
    if output.json {
        print_json(&serde_json::to_value(&result).map_err(|e| Failure::Other(e.into()))?)?;
    } else {
        println!("{}", result_text(&result));
    }
    Ok(if failed {
        Exit::ToolError
    } else {
        Exit::Success
    })
}

/// The MCP client handler of a single `call`: a server's requests for input are asked at the terminal
/// (on stderr), as in the chat, about this call.
fn elicitation_bridge(
    session: &Session,
    server: &Server,
    tool: &CatalogTool,
    arguments: &serde_json::Map<String, Value>,
    input: Arc<tokio::sync::Mutex<Input>>,
    config: &Config,
) -> Bridge {
    let asker = TerminalAsker {
        input,
        output: AskerOutput::Direct(Stream::Stderr),
        servers: session.specs(),
        journal: None,
        open_browser: config.console.open_browser,
    };
    let text = Value::Object(arguments.clone()).to_string();
    // Not stored anywhere: the asker only shows the server and the tool.
    let conversation = Conversation {
        id: ConversationId::random(),
        user: console_user(),
        title: String::new(),
        mode: ApprovalMode::Manual,
        always_allow: Vec::new(),
        updated_at: 0,
    };
    let call = Call {
        id: CallId::random(),
        message_id: MessageId::random(),
        model_call_id: String::new(),
        function_name: tool.tool.clone(),
        server: server.spec.name.clone(),
        tool: tool.tool.clone(),
        args_hash: ArgsHash::of(&text),
        arguments: text,
        read_only: tool.read_only,
        destructive: tool.destructive,
        status: CallStatus::Running,
        decided_by: Some(DecidedBy::User),
        result: None,
        structured: None,
        is_error: false,
    };
    Bridge::new(Arc::new(asker), conversation, call, CLIENT_NAME)
}
