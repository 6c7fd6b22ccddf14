//! `chat`: a conversation with the agent at the terminal, on the agent core the web app runs — its own
//! store (a SQLite file in the console's folder, through the web app's own store code), its own way of
//! asking ([`asker::TerminalAsker`]) and its own screen ([`printer::Screen`]).
//!
//! - [`printer`]: the one writer of the chat's output, fed by the journal's notifications.
//! - [`asker`]: approvals and requests for input at the terminal (also used by `call`).
//!
//! Ctrl-C stops the running turn (what it left open is closed by the agent core), not the program;
//! `/quit` or Ctrl-D leaves.

pub mod asker;
pub mod printer;

use std::sync::Arc;

use agent::{
    Agent, AgentError, Journal,
    domain::{ApprovalMode, Conversation, UserKey},
    mcp::McpDirectory,
    model::OpenAiModel,
    ports::ConversationReads,
};
use chat_store::SqlStore;
use tokio::sync::Mutex;

use crate::{
    chat::{
        asker::{Output, TerminalAsker},
        printer::Screen,
    },
    config::{Config, DEV_MODEL_URL, Home},
    exit::{Exit, Failure},
    session::Session,
    terminal::{Input, Stream},
};

/// The MCP client name servers see.
pub const CLIENT_NAME: &str = "portcullis-console";

/// What `chat` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ChatOptions {
    /// Continue the newest conversation instead of starting one.
    pub resume: bool,
    /// The approval mode (a new conversation's; a resumed one changes to it).
    pub mode: Option<ApprovalMode>,
}

const HELP: &str = "\
Type a message and press Enter. Commands:
  /mode manual|auto|elicitation   how tool calls are approved (manual: every call asks; auto: only
                                  destructive tools ask; elicitation: calls run, servers' requests for
                                  input still ask)
  /new                            start a new conversation
  /help                           this text
  /quit                           leave (so does Ctrl-D)
Ctrl-C stops the agent's current turn.
";

enum Line {
    Quit,
    Help,
    New,
    Mode(ApprovalMode),
    Bad(String),
    Message(String),
    Empty,
}

fn read_command(line: &str) -> Line {
    let line = line.trim();
    if line.is_empty() {
        return Line::Empty;
    }
    let Some(command) = line.strip_prefix('/') else {
        return Line::Message(line.to_owned());
    };
    let mut words = command.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("quit" | "exit" | "q"), None, _) => Line::Quit,
        (Some("help" | "?"), None, _) => Line::Help,
        (Some("new"), None, _) => Line::New,
        (Some("mode"), Some(mode), None) => mode.parse().map_or_else(
            |_| {
                Line::Bad(format!(
                    "Unknown mode {mode:?}: manual, auto or elicitation."
                ))
            },
            Line::Mode,
        ),
        _ => Line::Bad(format!("Unknown command {line:?}; /help lists them.")),
    }
}

/// Resolves when the user presses Ctrl-C.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling here: never interrupted.
        std::future::pending::<()>().await;
    }
}

/// Signs in at every server that has no grant yet (Ctrl-C gives up, as it does at any other sign-in:
/// once the chat listens for Ctrl-C the default "end the program" is gone).
async fn ensure_signed_in(session: &Session) -> Result<(), Failure> {
    for server in session.servers() {
        if !session.has_grant(server).await? {
            let mut err = std::io::stderr();
            tokio::select! {
                signed_in = session.sign_in(server, &mut err) => { signed_in?; }
                () = interrupted() => return Err(Failure::sign_in("sign-in cancelled (Ctrl-C)")),
            }
        }
    }
    Ok(())
}

/// Who is signed in (at the first server's issuer): the conversations' owner and a name to show.
async fn signed_in_user(session: &Session) -> Result<(UserKey, String), Failure> {
    ensure_signed_in(session).await?;
    let first = session
        .servers()
        .first()
        .ok_or_else(|| Failure::usage("no MCP server is configured"))?;
    let identity = session
        .identity(first)
        .await?
        .ok_or_else(|| Failure::sign_in("signed in, but the cache holds no identity"))?;
    Ok((UserKey::from(identity.key()), identity.describe()))
}

/// `chat [--resume] [--mode M]`.
pub async fn chat(config: &Config, home: Home, options: ChatOptions) -> Result<Exit, Failure> {
    let session = Session::resolve(config, home.clone(), None).await?;
    for failure in session.unresolved() {
        eprintln!("{}: {failure}", crate::BINARY);
    }
    let (user, who) = signed_in_user(&session).await?;

    let database = home.conversations();
    let pool = chat_store::open_sqlite(&database)
        .await
        .map_err(|e| Failure::Other(e.context(format!("opening {}", database.display()))))?;
    let store = Arc::new(SqlStore::new(pool));
    let screen = Screen::start(store.clone(), Stream::Stdout);
    let journal = Journal::new(store.clone(), Arc::new(screen.clone()));
    let input = Arc::new(Mutex::new(Input::stdin()));
    let asker = Arc::new(TerminalAsker {
        input: input.clone(),
        output: Output::Screen(screen.clone()),
        servers: session.specs(),
        journal: Some(journal.clone()),
        open_browser: config.console.open_browser,
    });
    let dev_model = DEV_MODEL_URL
        .parse()
        .map_err(|e: url::ParseError| Failure::Other(e.into()))?;
    let model = OpenAiModel::new(&config.model, Some(&dev_model)).map_err(|missing| {
        Failure::usage(format!(
            "APP_MODEL__{} is required with APP_MODEL__PROVIDER={}",
            missing.setting.to_uppercase(),
            missing.provider
        ))
    })?;
    let directory = Arc::new(McpDirectory::new(session.specs(), session.clone()));
    let agent = Agent::new(
        journal,
        Arc::new(model),
        directory,
        asker,
        config.agent.clone(),
        CLIENT_NAME,
    );

    let internal = |error: anyhow::Error| Failure::Other(error);
    let resumed = match options.resume {
        true => store
            .conversations(&user)
            .await
            .map_err(internal)?
            .into_iter()
            .next(),
        false => None,
    };
    let mut resumed_open = false;
    let mut conversation = match resumed {
        Some(conversation) => {
            if let Some(mode) = options.mode.filter(|m| *m != conversation.mode) {
                agent
                    .journal()
                    .set_mode(&conversation.id, mode)
                    .await
                    .map_err(internal)?;
            }
            wait_for_other_loop(&store, &conversation.id)
                .await
                .map_err(internal)?;
            resumed_open = agent
                .recover_interrupted(&conversation.id)
                .await
                .map_err(internal)?;
            let transcript = store.transcript(&conversation.id).await.map_err(internal)?;
            Stream::Stdout.write(&format!(
                "Resuming \"{}\".\n{}",
                conversation.title,
                printer::history(&transcript)
            ));
            reload(&*store, &conversation).await?
        }
        None => {
            if options.resume {
                Stream::Stdout.write("No earlier conversation; starting a new one.\n");
            }
            agent
                .journal()
                .create_conversation(&user, options.mode.unwrap_or_default())
                .await
                .map_err(internal)?
        }
    };
    screen.follow(&conversation.id).await;
    Stream::Stdout.write(&format!(
        "Signed in as {who}. Mode: {}. Tools of: {}. /help for commands, Ctrl-D to leave.\n",
        conversation.mode,
        session
            .servers()
            .iter()
            .map(|s| s.spec.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // A resumed conversation may have been left mid-turn (the console killed at a prompt): what ran
    // is reported as possibly done, what waits is asked about now.
    if resumed_open {
        agent
            .run_until_idle_or(&conversation.id, interrupted())
            .await;
        conversation = reload(&*store, &conversation).await?;
    }
    loop {
        screen.flush().await;
        Stream::Stdout.write("you> ");
        let line = {
            let mut input = input.lock().await;
            tokio::select! {
                line = input.line() => line,
                () = interrupted() => {
                    Stream::Stdout.write("\n(Ctrl-C stops a running turn; /quit or Ctrl-D leaves.)\n");
                    continue;
                }
            }
        };
        let Some(line) = line else {
            Stream::Stdout.write("\n");
            break;
        };
        match read_command(&line) {
            Line::Empty => {}
            Line::Quit => break,
            Line::Help => Stream::Stdout.write(HELP),
            Line::Bad(message) => Stream::Stdout.write(&format!("{message}\n")),
            Line::New => {
                conversation = agent
                    .journal()
                    .create_conversation(&user, conversation.mode)
                    .await
                    .map_err(internal)?;
                screen.follow(&conversation.id).await;
                Stream::Stdout.write("A new conversation.\n");
            }
            Line::Mode(mode) => match agent.set_mode(&conversation, mode).await {
                Ok(()) => Stream::Stdout.write(&format!("Mode: {mode}.\n")),
                Err(error) => say(&error),
            },
            Line::Message(text) => {
                conversation = reload(&*store, &conversation).await?;
                match agent
                    .send_and_wait_or(&conversation, &text, interrupted())
                    .await
                {
                    Ok(_) => {}
                    Err(error) => say(&error),
                }
                screen.flush().await;
                // A sign-in that expired during the turn: sign in again before the next message.
                ensure_signed_in(&session).await?;
            }
        }
    }
    Ok(Exit::Success)
}

/// The conversation as stored now (its mode and always-allowed tools change).
async fn reload(
    store: &dyn ConversationReads,
    conversation: &Conversation,
) -> Result<Conversation, Failure> {
    store
        .conversation(&conversation.id)
        .await
        .map_err(Failure::Other)?
        .ok_or_else(|| Failure::Other(anyhow::anyhow!("the conversation vanished")))
}

/// A refusal the user can act on, or a generic line for an internal failure (logged).
fn say(error: &AgentError) {
    match error {
        AgentError::Internal(error) => {
            tracing::error!(error = format!("{error:#}"), "the chat failed");
            Stream::Stdout.write("! Something went wrong; see the log (RUST_LOG=console=debug).\n");
        }
        other => Stream::Stdout.write(&format!("! {other}\n")),
    }
}

/// A conversation another console drives (a second terminal) — or drove until it was killed, whose
/// lease runs out by itself — is left to it: resuming waits until no loop holds it, so the interrupted
/// call it may have left is closed here only when nobody runs it.
async fn wait_for_other_loop(
    store: &SqlStore,
    id: &agent::domain::ConversationId,
) -> anyhow::Result<()> {
    use agent::ports::ConversationReads;
    if !store.loop_held(id).await? {
        return Ok(());
    }
    Stream::Stdout.write(
        "Another console is working on this conversation, or was closed mid-turn; waiting for it to let go…\n",
    );
    while store.loop_held(id).await? {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_messages() {
        assert!(matches!(read_command("  "), Line::Empty));
        assert!(matches!(read_command("/quit"), Line::Quit));
        assert!(matches!(
            read_command("/mode auto"),
            Line::Mode(ApprovalMode::Auto)
        ));
        assert!(matches!(
            read_command("/mode elicitation"),
            Line::Mode(ApprovalMode::Elicitation)
        ));
        assert!(
            matches!(read_command("/mode yolo"), Line::Bad(m) if m.contains("manual, auto or elicitation"))
        );
        assert!(matches!(read_command("/frobnicate"), Line::Bad(_)));
        assert!(
            matches!(read_command("add a note: milk "), Line::Message(m) if m == "add a note: milk")
        );
    }
}
