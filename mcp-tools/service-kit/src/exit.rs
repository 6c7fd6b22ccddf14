//! How a binary ends: success, or one line an operator can act on.

use std::process::ExitCode;

/// The exit code for a binary's outcome. A failure is printed to stderr as one line `binary: cause: …`
/// (configuration errors name the variable), not as a panic or a multi-line report.
pub fn code(binary: &str, outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", one_line(binary, &error));
            ExitCode::FAILURE
        }
    }
}

fn one_line(binary: &str, error: &anyhow::Error) -> String {
    format!("{binary}: {error:#}")
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    #[test]
    fn a_failure_is_one_line_with_its_causes() {
        let error = Err::<(), _>(anyhow::anyhow!("MCP_BIND: invalid"))
            .context("reading configuration")
            .unwrap_err();
        assert_eq!(
            super::one_line("mcp-tools", &error),
            "mcp-tools: reading configuration: MCP_BIND: invalid"
        );
        assert_eq!(super::code("x", Ok(())), std::process::ExitCode::SUCCESS);
        assert_eq!(
            super::code("x", Err(error)),
            std::process::ExitCode::FAILURE
        );
    }
}
