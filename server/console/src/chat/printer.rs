//! The chat's screen: one task writes everything, in the order it happened — the model's text as it
//! streams, then what the store says changed (a call approved by the mode, a result, a notice), and the
//! prompts the asker shows. The agent core's [`Notifier`] feeds it; the journal tells it after every
//! write, so reading the transcript then shows exactly what is stored.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use agent::{
    domain::{CallId, CallStatus, ConversationId, DecidedBy, MessageId, Role, Transcript},
    ports::{Change, ConversationReads, Notifier},
};
use tokio::sync::{mpsc, oneshot};

use crate::terminal::Stream;

/// Longest result shown in the chat (the model reads all of it).
const RESULT_LINES: usize = 12;

enum Event {
    Change(ConversationId, Change),
    Print(String),
    /// Answered once everything sent before it is on the screen.
    Flush(oneshot::Sender<()>),
    /// From now on, only this conversation's changes are shown; what it holds so far counts as shown.
    Follow(ConversationId, oneshot::Sender<()>),
}

/// A handle to the screen: print text in order with the conversation's changes.
#[derive(Clone)]
pub struct Screen {
    events: mpsc::UnboundedSender<Event>,
}

impl Screen {
    /// Starts the writer task over `store`.
    pub fn start(store: Arc<dyn ConversationReads>, stream: Stream) -> Self {
        let (events, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write(store, stream, receiver));
        Self { events }
    }

    pub fn print(&self, text: &str) {
        let _ = self.events.send(Event::Print(text.to_owned()));
    }

    /// Waits until everything sent so far is written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.events.send(Event::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }

    /// Shows `conversation` from now on; its stored state so far is taken as already shown.
    pub async fn follow(&self, conversation: &ConversationId) {
        let (done, followed) = oneshot::channel();
        if self
            .events
            .send(Event::Follow(conversation.clone(), done))
            .is_ok()
        {
            let _ = followed.await;
        }
    }
}

impl Notifier for Screen {
    fn notify(&self, id: &ConversationId, change: Change) {
        let _ = self.events.send(Event::Change(id.clone(), change));
    }
}

/// What has been shown of the followed conversation.
#[derive(Default)]
struct Shown {
    conversation: Option<ConversationId>,
    messages: HashSet<MessageId>,
    calls: HashMap<CallId, CallStatus>,
    /// The model's text streamed so far in this reply.
    streamed: String,
}

async fn write(
    store: Arc<dyn ConversationReads>,
    stream: Stream,
    mut events: mpsc::UnboundedReceiver<Event>,
) {
    let mut shown = Shown::default();
    while let Some(event) = events.recv().await {
        match event {
            Event::Print(text) => stream.write(&text),
            Event::Flush(done) => {
                let _ = done.send(());
            }
            Event::Follow(id, done) => {
                shown = Shown::default();
                if let Ok(transcript) = store.transcript(&id).await {
                    shown.take_in(&transcript);
                }
                shown.conversation = Some(id);
                let _ = done.send(());
            }
            Event::Change(id, change) if shown.conversation.as_ref() == Some(&id) => match change {
                Change::Streaming(Some(text)) => {
                    stream.write(&shown.stream(&text));
                }
                Change::Streaming(None) => {
                    if !shown.streamed.is_empty() {
                        stream.write("\n(that answer was dropped)\n");
                        shown.streamed.clear();
                    }
                }
                Change::Stored | Change::Settled => match store.transcript(&id).await {
                    Ok(transcript) => stream.write(&shown.news(&transcript)),
                    Err(error) => {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "reading the conversation failed"
                        );
                    }
                },
            },
            Event::Change(..) => {}
        }
    }
}

/// A call's first lines, indented.
fn excerpt(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().take(RESULT_LINES + 1).collect();
    let more = lines.len() > RESULT_LINES;
    lines.truncate(RESULT_LINES);
    let mut excerpt = lines
        .iter()
        .map(|line| format!("    {line}\n"))
        .collect::<String>();
    if more {
        excerpt.push_str("    …\n");
    }
    excerpt
}

impl Shown {
    /// Marks everything stored as shown (a resumed conversation's history is printed separately).
    fn take_in(&mut self, transcript: &Transcript) {
        self.messages
            .extend(transcript.messages.iter().map(|m| m.id.clone()));
        self.calls
            .extend(transcript.calls.iter().map(|c| (c.id.clone(), c.status)));
    }

    /// The part of the streamed text not yet on the screen.
    fn stream(&mut self, text: &str) -> String {
        let new = match text.strip_prefix(self.streamed.as_str()) {
            Some(rest) => rest.to_owned(),
            // The model started over: a fresh line.
            None => format!("\n{text}"),
        };
        self.streamed = text.to_owned();
        new
    }

    /// What the store holds that the screen does not show yet.
    fn news(&mut self, transcript: &Transcript) -> String {
        let mut out = String::new();
        for message in &transcript.messages {
            if !self.messages.insert(message.id.clone()) {
                continue;
            }
            match message.role {
                Role::User => {}
                Role::Assistant => {
                    let text = message.content.trim();
                    if !self.streamed.is_empty() {
                        // Streamed already; a reply differing from its stream is shown whole.
                        if self.streamed.trim() != text {
                            out.push_str(&format!("\n{text}"));
                        }
                        out.push('\n');
                    } else if !text.is_empty() {
                        out.push_str(&format!("{text}\n"));
                    }
                    self.streamed.clear();
                }
                Role::Notice => out.push_str(&format!("! {}\n", message.content)),
            }
        }
        for call in &transcript.calls {
            let before = self.calls.insert(call.id.clone(), call.status);
            if before == Some(call.status) {
                continue;
            }
            let name = format!("{} {}", call.server, call.tool);
            // A decision the mode made is said once, even when the call already ran by the time the
            // store is read (the screen reads it after the notification, not at each write).
            let decided_now = matches!(before, None | Some(CallStatus::Pending))
                && !matches!(call.status, CallStatus::Pending | CallStatus::Declined);
            if decided_now {
                match call.decided_by {
                    Some(DecidedBy::Auto) => {
                        out.push_str(&format!("→ {name}: approved by the mode (auto)\n"));
                    }
                    Some(DecidedBy::AlwaysAllow) => {
                        out.push_str(&format!("→ {name}: always allowed in this conversation\n"));
                    }
                    _ => {}
                }
            }
            match call.status {
                CallStatus::Done => {
                    out.push_str(&format!("✓ {name}:\n"));
                    out.push_str(&excerpt(call.result.as_deref().unwrap_or_default()));
                }
                CallStatus::Failed => {
                    out.push_str(&format!("✗ {name} failed:\n"));
                    out.push_str(&excerpt(call.result.as_deref().unwrap_or_default()));
                }
                CallStatus::Declined => {
                    let reason = call.result.as_deref().unwrap_or_default();
                    out.push_str(&format!("✗ {name}: {reason}\n"));
                }
                CallStatus::Pending | CallStatus::Approved | CallStatus::Running => {}
            }
        }
        out
    }
}

/// A stored conversation as text (for `--resume`).
pub fn history(transcript: &Transcript) -> String {
    let mut shown = Shown::default();
    let mut out = String::new();
    for message in &transcript.messages {
        if message.role == Role::User {
            out.push_str(&format!("you> {}\n", message.content));
            shown.messages.insert(message.id.clone());
            continue;
        }
        let only_this = Transcript {
            messages: vec![message.clone()],
            calls: transcript.calls_of(&message.id).cloned().collect(),
            elicitations: Vec::new(),
        };
        out.push_str(&shown.news(&only_this));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_text_is_written_once() {
        let mut shown = Shown::default();
        assert_eq!(shown.stream("Hel"), "Hel");
        assert_eq!(shown.stream("Hello"), "lo");
        assert_eq!(shown.stream("Other"), "\nOther");
    }

    #[test]
    fn a_decision_by_the_mode_is_shown_even_when_first_seen_done() {
        use agent::domain::{ArgsHash, Call, CallId, Message, MessageId};
        let message = MessageId::random();
        let call = Call {
            id: CallId::random(),
            message_id: message.clone(),
            model_call_id: "c1".into(),
            function_name: "get_random_number".into(),
            server: "tools".into(),
            tool: "get_random_number".into(),
            arguments: "{}".into(),
            args_hash: ArgsHash::of("{}"),
            read_only: true,
            destructive: false,
            status: CallStatus::Done,
            decided_by: Some(DecidedBy::AlwaysAllow),
            result: Some("4".into()),
            structured: None,
            is_error: false,
        };
        let transcript = Transcript {
            messages: vec![Message {
                id: message,
                role: Role::Assistant,
                content: String::new(),
            }],
            calls: vec![call],
            elicitations: Vec::new(),
        };
        let mut shown = Shown::default();
        let screen = shown.news(&transcript);
        assert!(
            screen.contains("→ tools get_random_number: always allowed in this conversation\n✓ tools get_random_number:\n    4\n"),
            "{screen}"
        );
        assert_eq!(shown.news(&transcript), "", "said once");
    }

    #[test]
    fn long_results_are_cut_for_the_screen() {
        let text: String = (0..20).map(|n| format!("line {n}\n")).collect();
        let excerpt = excerpt(&text);
        assert!(excerpt.starts_with("    line 0\n"));
        assert!(excerpt.contains("    line 11\n"));
        assert!(!excerpt.contains("line 12"));
        assert!(excerpt.ends_with("    …\n"));
    }
}
