//! The command line (clap derive). `--help` is the manual: commands, configuration, files, exit codes.

use std::path::PathBuf;

use agent::domain::ApprovalMode;
use clap::{Parser, Subcommand};

use crate::exit::EXIT_CODES_HELP;

const ABOUT: &str =
    "Sign in from the terminal and list and call the tools of MCP servers, with your approval.";

const LONG_ABOUT: &str = "\
Sign in from the terminal and list and call the tools of MCP servers, with your approval.

The console is a public OAuth client: it signs you in through your browser (authorization code with PKCE \
S256 and a loopback redirect to http://127.0.0.1:<random port>/callback; state, nonce and, where the \
provider advertises RFC 9207, iss are checked), keeps your tokens encrypted in its own folder, and \
reaches each MCP server with your delegated token. It finds where to sign in from the server's own 401 \
answer (RFC 9728 protected-resource metadata, then the authorization server's RFC 8414 / OpenID \
metadata), and registers itself (RFC 7591) where no client id is configured. Against the dev stack that \
`make run` starts it needs no settings at all.

Over SSH, or wherever no browser can reach the console's loopback listener, --device signs in with the \
device authorization grant (RFC 8628): the console prints a page and a short code, you open the page on \
any device (phone, laptop) and enter the code, and the console polls until you approve; it never opens a \
browser then. The provider must advertise a device_authorization_endpoint (Entra and the dev IdP do).";

const AFTER_HELP: &str = "\
Examples:
  portcullis-console login
  portcullis-console login --device        (over SSH: a code to enter on another device)
  portcullis-console tools
  portcullis-console chat                   (then: add a note: buy milk)
  portcullis-console chat --resume --mode auto
  portcullis-console call tools get_random_number min=1 max=6
  portcullis-console call tools add_note text='buy milk' --yes --json
  portcullis-console logout

Approval:
  `call` shows the server, the tool, its kind (read-only, writes, destructive) and the arguments as they
  will be sent, and asks `approve? [y]es / [n]o` on the terminal (end of input is a no). `--yes` approves
  that one call without asking, destructive tools included: you typed the exact call. (The chat's
  \"always for this tool\" is never offered for destructive tools.)

Chat:
  Every call the model proposes shows the server, the tool, its kind and the arguments, and asks
  `approve? [y]es / [n]o / [a]lways for this tool in this conversation` (always: read-only tools only).
  A server's request for input (a form) is asked field by field, typed and checked by its schema, then
  sent, declined or cancelled; a request to open a page shows the whole address and its host first.
  Ctrl-C stops the current turn (a call waiting for you is declined; one that was running is reported
  as possibly done), not the program. /mode, /new, /help, /quit inside the chat.
  `call` answers a server's requests for input the same way.

Arguments:
  key=value, typed by the tool's input schema (integer, number, boolean; arrays and objects as JSON;
  strings as written). key:=<JSON> passes raw JSON.

Configuration (environment, same names as the web app; or the config file with the same keys without
`APP_`, lower case, nested: mcp_servers = [...], [auth] authority = ..., [console] client_id = ...):
  APP_MCP_SERVERS                  name=url [scope] [protocol=auto|legacy|2026-07-28], comma-separated.
                                   Servers are addressed by name. Without a scope, the scopes the
                                   server's metadata lists. Default:
                                   tools=http://127.0.0.1:8081/mcp api://portcullis-mcp/mcp:tools
  APP_AUTH__AUTHORITY              OIDC issuer for every server; unset: discovered from each server
  APP_CONSOLE__CLIENT_ID           pre-registered public client id (dev IdP: portcullis-console);
                                   unset: dynamic registration where offered
  APP_CONSOLE__OPEN_BROWSER        true (default) or false; the sign-in URL is printed either way
  APP_CONSOLE__REDIRECT_URI        loopback redirect as registered, no port (default
                                   http://127.0.0.1/callback; Entra: http://localhost)
  APP_CONSOLE__KEY_STORE           auto (default: OS keyring when it works, else a key file), keyring, file
  APP_CONSOLE__SIGN_IN_TIMEOUT_SECS  longest wait for the browser (default 300)
  APP_CONSOLE__DEVICE              true: sign in with the device flow, as --device (default false)
  APP_MODEL__PROVIDER, APP_MODEL__BASE_URL, APP_MODEL__API_KEY, APP_MODEL__MODEL,
  APP_MODEL__DEPLOYMENT, APP_MODEL__API_VERSION
                                   the chat's model, as the web app's (openai, azure, compatible:
                                   Ollama, vLLM…); unset: the dev stack's development model at
                                   http://127.0.0.1:3500/v1
  APP_AGENT__STEP_LIMIT, APP_AGENT__SYSTEM_PROMPT, APP_AGENT__TOOL_TIMEOUT_SECS
                                   the chat loop, as the web app's
  PORTCULLIS_CONSOLE_HOME          the console's folder (default: <user config dir>/portcullis-console)
  RUST_LOG                         log filter for stderr (default warn); tokens are never logged

Files (in the console's folder):
  config.toml   optional configuration
  tokens.bin    the token cache: per issuer, user and resource; ChaCha20-Poly1305, mode 0600
  tokens.key    the cache's key when no OS keyring is used (mode 0600)
  conversations.db  the chat's conversations, approvals and audit records (SQLite, mode 0600)
";

/// `portcullis-console`.
#[derive(Debug, Parser)]
#[command(
    name = "portcullis-console",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = format!("{AFTER_HELP}\n{EXIT_CODES_HELP}"),
)]
pub struct Cli {
    /// Print machine-readable JSON on stdout (prompts and sign-in instructions go to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Never open a browser; only print the sign-in URL (as APP_CONSOLE__OPEN_BROWSER=false).
    #[arg(long, global = true)]
    pub no_browser: bool,
    /// Sign in with a code on another device (RFC 8628 device flow, for SSH sessions): print a page and
    /// a code to enter there, and wait (as APP_CONSOLE__DEVICE=true).
    #[arg(long, global = true)]
    pub device: bool,
    /// The configuration file [default: <console folder>/config.toml].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in through the browser, or with a code with --device (again, even when signed in), and
    /// cache the tokens. Other commands sign in by themselves when needed.
    Login {
        /// Only the authorization server of this server (default: every configured server's).
        server: Option<String>,
    },
    /// Sign out: delete the token cache and its key (keyring entry or key file).
    Logout,
    /// List the tools of the configured servers: server, tool, kind, description.
    Tools {
        /// Only this server.
        server: Option<String>,
    },
    /// Chat with the agent: it proposes tool calls, you approve them (y / n / a); servers' requests for
    /// input become prompts. Conversations are kept in the console's folder.
    Chat {
        /// Continue the newest conversation (its history is shown first).
        #[arg(long)]
        resume: bool,
        /// How tool calls are approved: manual (every call asks; the default), auto (only destructive
        /// tools ask) or elicitation (calls run; servers' requests for input still ask).
        #[arg(long, value_name = "MODE", value_parser = parse_mode)]
        mode: Option<ApprovalMode>,
    },
    /// Call one tool after your approval, and print its result.
    Call {
        /// The server's short name (as configured, e.g. `tools`).
        server: String,
        /// The tool's name (as `tools` lists it).
        tool: String,
        /// The tool's arguments as key=value (or key:=<JSON>).
        #[arg(value_name = "KEY=VALUE")]
        arguments: Vec<String>,
        /// Approve this call without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

fn parse_mode(text: &str) -> Result<ApprovalMode, String> {
    text.parse()
        .map_err(|_| format!("{text:?}: expected manual, auto or elicitation"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "portcullis-console",
            "call",
            "tools",
            "get_random_number",
            "min=1",
            "max=6",
            "--yes",
            "--json",
            "--device",
        ])
        .unwrap();
        assert!(cli.json);
        assert!(cli.device);
        match cli.command {
            Command::Call {
                server,
                tool,
                arguments,
                yes,
            } => {
                assert_eq!(
                    (server.as_str(), tool.as_str()),
                    ("tools", "get_random_number")
                );
                assert_eq!(arguments, ["min=1", "max=6"]);
                assert!(yes);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_documents_exit_codes_and_configuration() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "Exit codes:",
            "5  the call was declined",
            "APP_MCP_SERVERS",
            "APP_AUTH__AUTHORITY",
            "APP_CONSOLE__CLIENT_ID",
            "APP_CONSOLE__DEVICE",
            "--device",
            "RFC 8628",
            "PORTCULLIS_CONSOLE_HOME",
            "login",
            "logout",
            "tools",
            "call",
        ] {
            assert!(help.contains(needle), "{needle} missing from --help");
        }
    }
}
