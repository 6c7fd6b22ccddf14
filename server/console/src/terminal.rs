//! The terminal: lines typed by the user, read by one thread and handed to whichever prompt asks next
//! (the chat's message prompt, an approval, a form field), so prompts never compete for stdin; and the
//! one writer of the conversation's output.
//!
//! Lines typed while nothing was asking (during a model's answer, say) are discarded before an
//! approval or a form is shown: an answer must be typed after its question is on the screen, so a stray
//! `y` typed ahead can never approve a call the user has not seen.

use std::io::{self, BufRead, Write};

use tokio::sync::mpsc;

/// The user's typed lines.
pub struct Input {
    source: Source,
}

enum Source {
    /// stdin, read ahead by a thread.
    Typed(mpsc::UnboundedReceiver<io::Result<String>>),
    /// Answers given in order, each as if typed when asked (tests).
    Script(std::collections::VecDeque<String>),
    Closed,
}

impl Input {
    /// Reads stdin on a thread of its own (a blocking read cannot be cancelled; the thread ends with
    /// the process).
    pub fn stdin() -> Self {
        let (sender, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let stdin = io::stdin();
            for line in stdin.lock().lines() {
                let failed = line.is_err();
                if sender.send(line).is_err() || failed {
                    break;
                }
            }
        });
        Self {
            source: Source::Typed(lines),
        }
    }

    /// Answers in order, each given when a question asks for it (tests).
    pub fn script<I: IntoIterator<Item = S>, S: Into<String>>(answers: I) -> Self {
        Self {
            source: Source::Script(answers.into_iter().map(Into::into).collect()),
        }
    }

    /// The next line without its line break; `None` at the end of input (Ctrl-D) or a read error.
    pub async fn line(&mut self) -> Option<String> {
        let line = match &mut self.source {
            Source::Typed(lines) => match lines.recv().await {
                Some(Ok(line)) => Some(line),
                Some(Err(error)) => {
                    tracing::warn!(%error, "reading the terminal failed");
                    None
                }
                None => None,
            },
            Source::Script(answers) => answers.pop_front(),
            Source::Closed => None,
        };
        match line {
            Some(line) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
            None => {
                self.source = Source::Closed;
                None
            }
        }
    }

    /// Drops lines typed before the question about to be asked.
    pub fn discard_typed_ahead(&mut self) {
        if let Source::Typed(lines) = &mut self.source {
            while let Ok(line) = lines.try_recv() {
                if line.is_err() {
                    self.source = Source::Closed;
                    return;
                }
            }
        }
    }
}

/// Where output goes: stdout for the chat, stderr for `call` (whose stdout is the result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// Writes and flushes (a prompt without a line break must be visible).
    pub fn write(self, text: &str) {
        // A closed terminal leaves nobody to tell; the program ends at the next read.
        let _ = match self {
            Self::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
            Self::Stderr => {
                let mut out = io::stderr().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_come_in_order_then_the_end() {
        let mut input = Input::script(["a", "b\r"]);
        assert_eq!(input.line().await.as_deref(), Some("a"));
        assert_eq!(input.line().await.as_deref(), Some("b"));
        assert_eq!(input.line().await, None);
        assert_eq!(input.line().await, None);
    }

    #[tokio::test]
    async fn typed_ahead_lines_are_discarded() {
        let (sender, lines) = mpsc::unbounded_channel();
        let mut input = Input {
            source: Source::Typed(lines),
        };
        sender.send(Ok("y".to_owned())).unwrap();
        sender.send(Ok("y".to_owned())).unwrap();
        input.discard_typed_ahead();
        sender.send(Ok("n".to_owned())).unwrap();
        drop(sender);
        assert_eq!(input.line().await.as_deref(), Some("n"));
        assert_eq!(input.line().await, None);
    }
}
