//! Opening the system browser, where there is one: `$BROWSER` when set, else the platform's opener
//! (`xdg-open` on Linux and the BSDs with a display, `open` on macOS, the URL handler on Windows). Never
//! fatal: the URL is printed anyway, so an SSH session or a headless box just shows it.

use std::process::{Command, Stdio};

/// Starts the browser on `url`; whether an opener was started.
pub fn open(url: &str) -> bool {
    let Some(mut command) = opener(url) else {
        return false;
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match command.spawn() {
        Ok(mut child) => {
            // Reap it whenever it ends, without waiting here.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            true
        }
        Err(error) => {
            tracing::debug!(%error, "no browser could be started");
            false
        }
    }
}

fn opener(url: &str) -> Option<Command> {
    if let Some(browser) = std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        // `$BROWSER` may hold several commands separated by `:`; the first is used.
        let first = browser
            .to_string_lossy()
            .split(':')
            .next()?
            .trim()
            .to_owned();
        let mut parts = first.split_whitespace();
        let mut command = Command::new(parts.next()?);
        command.args(parts).arg(url);
        return Some(command);
    }
    if cfg!(target_os = "macos") {
        let mut command = Command::new("open");
        command.arg(url);
        Some(command)
    } else if cfg!(windows) {
        // Not `cmd /c start`: cmd would read the `&` of the query string.
        let mut command = Command::new("rundll32");
        command.arg("url.dll,FileProtocolHandler").arg(url);
        Some(command)
    } else {
        let display = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
        display.then(|| {
            let mut command = Command::new("xdg-open");
            command.arg(url);
            command
        })
    }
}
