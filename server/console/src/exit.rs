//! How a run ends: the documented exit codes, and the failures that lead to them. A failure is printed
//! as one line on stderr (`portcullis-console: …`), never with a token in it.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | the tool ran and returned an error result (`isError`) |
//! | 2 | usage or configuration error: bad arguments, unknown server or tool, a bad setting |
//! | 3 | sign-in failed or is needed and could not be done (cancelled, timed out, refused) |
//! | 4 | a server could not be reached or answered wrongly (the MCP server or the authorization server) |
//! | 5 | the call was declined at the approval prompt |
//! | 6 | any other failure (local files, the token cache's key) |

use std::process::ExitCode;

/// The documented exit codes (also listed in `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Success = 0,
    ToolError = 1,
    Usage = 2,
    SignIn = 3,
    Unreachable = 4,
    Declined = 5,
    Other = 6,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// The exit-code table as `--help` shows it.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the tool ran and returned an error result (isError)
  2  usage or configuration error (bad arguments, unknown server or tool, a bad setting)
  3  sign-in failed, or is needed and could not be done (cancelled, timed out, refused)
  4  a server could not be reached or answered wrongly (MCP server or authorization server)
  5  the call was declined at the approval prompt
  6  any other failure (local files, the token cache's key)";

/// Why a command did not succeed; the text is safe to print (no token, code or secret).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("sign-in failed: {0}")]
    SignIn(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("declined")]
    Declined,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Failure {
    pub fn exit(&self) -> Exit {
        match self {
            Self::Usage(_) => Exit::Usage,
            Self::SignIn(_) => Exit::SignIn,
            Self::Unreachable(_) => Exit::Unreachable,
            Self::Declined => Exit::Declined,
            Self::Other(_) => Exit::Other,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn sign_in(message: impl Into<String>) -> Self {
        Self::SignIn(message.into())
    }

    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::Unreachable(message.into())
    }
}

impl From<service_kit::config::ConfigError> for Failure {
    fn from(error: service_kit::config::ConfigError) -> Self {
        Self::Usage(error.to_string())
    }
}

/// Prints `failure` as one line and gives its exit code.
pub fn report(binary: &str, failure: &Failure) -> ExitCode {
    match failure {
        // The prompt already said so.
        Failure::Declined => eprintln!("{binary}: declined; the tool was not called"),
        Failure::Other(error) => eprintln!("{binary}: {error:#}"),
        other => eprintln!("{binary}: {other}"),
    }
    failure.exit().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(Failure::usage("x").exit() as u8, 2);
        assert_eq!(Failure::sign_in("x").exit() as u8, 3);
        assert_eq!(Failure::unreachable("x").exit() as u8, 4);
        assert_eq!(Failure::Declined.exit() as u8, 5);
        assert_eq!(Failure::Other(anyhow::anyhow!("x")).exit() as u8, 6);
        for code in 0..=6 {
            assert!(
                EXIT_CODES_HELP.contains(&format!("  {code}  ")),
                "{code} is documented"
            );
        }
    }
}
