//! `portcullis-console`: a terminal client of Portcullis' MCP servers. It signs the user in as a public
//! OAuth client (authorization code + PKCE S256, loopback redirect; or, with `--device`, the device
//! authorization grant), keeps the tokens in an encrypted
//! cache, lists and calls tools through the agent core's MCP directory (the same code the web app
//! uses), asking `approve? [y]es / [n]o` before every call, and chats with the agent core's loop.
//!
//! Modules:
//! - [`cli`]: the command line (clap derive); `--help` documents commands, configuration, files, exit
//!   codes.
//! - [`config`]: typed configuration by the web app's names (`APP_MCP_SERVERS`, `APP_AUTH__AUTHORITY`)
//!   and `APP_CONSOLE__*`, from the environment and an optional TOML file; the console's folder.
//! - [`exit`]: the documented exit codes and the failures that lead to them.
//! - [`auth`]: discovery (RFC 9728 → RFC 8414 / OIDC), dynamic registration (RFC 7591), the OIDC
//!   public client, the loopback sign-in (RFC 8252, RFC 9207), opening the browser.
//! - [`cache`]: the encrypted token cache (per issuer, user and resource) and its key (OS keyring or
//!   key file).
//! - [`session`]: the configured servers resolved, sign-in on demand, and the agent core's
//!   `TokenSource` over the cache (refresh before expiry).
//! - [`args`]: `key=value` arguments typed by the tool's input schema.
//! - [`terminal`]: the typed lines (one reader for every prompt) and the output streams.
//! - [`prompt`]: the approval prompt.
//! - [`elicit`]: servers' requests for input as prompts (forms field by field, links with their host).
//! - [`chat`]: `chat`, the agent core with a SQLite store, a terminal asker and a streaming screen.
//! - [`commands`]: `login`, `logout`, `tools`, `call`.
//!
//! Exit codes: see [`exit`] (0 success, 1 tool error, 2 usage, 3 sign-in, 4 unreachable, 5 declined,
//! 6 other).

pub mod args;
pub mod auth;
pub mod cache;
pub mod chat;
pub mod cli;
pub mod commands;
pub mod config;
pub mod elicit;
pub mod exit;
pub mod prompt;
pub mod session;
pub mod terminal;

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::{
    cli::{Cli, Command},
    commands::{CallRequest, Output},
    config::{Config, Home},
    exit::{Exit, Failure},
};

/// The binary's name in messages.
pub const BINARY: &str = "portcullis-console";

/// Logs go to stderr (stdout is the commands' output), `warn` unless `RUST_LOG` says otherwise.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init();
}

/// Runs one command.
pub async fn run(cli: Cli) -> Result<Exit, Failure> {
    let home = Home::locate()?;
    let file = cli.config.clone().unwrap_or_else(|| home.config_file());
    let mut config = Config::load(&file)?;
    if cli.no_browser {
        config.console.open_browser = false;
    }
    if cli.device {
        config.console.device = true;
    }
    let output = Output { json: cli.json };
    match &cli.command {
        Command::Login { server } => {
            commands::login(&config, home, server.as_deref(), output).await
        }
        Command::Logout => commands::logout(&config, &home, output),
        Command::Chat { resume, mode } => {
            if cli.json {
                return Err(Failure::usage("chat is interactive: --json does not apply"));
            }
            let options = chat::ChatOptions {
                resume: *resume,
                mode: *mode,
            };
            chat::chat(&config, home, options).await
        }
        Command::Tools { server } => {
            commands::tools(&config, home, server.as_deref(), output).await
        }
        Command::Call {
            server,
            tool,
            arguments,
            yes,
        } => {
            let request = CallRequest {
                server,
                tool,
                arguments,
                yes: *yes,
            };
            commands::call(&config, home, request, output).await
        }
    }
}

/// The whole program: parse, run on a small runtime, print a failure as one line, exit with its code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{BINARY}: cannot start: {error}");
            return Exit::Other.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit.into(),
        Err(failure) => exit::report(BINARY, &failure),
    }
}
