//! Live updates as deltas: a stream starts with the whole [`ConversationView`], then carries only what
//! changed — text appended to the streamed answer, a tool call's new state, new entries — so what a
//! change costs on the wire and in the browser does not grow with the conversation.
//!
//! [`diff`] (the server) and [`apply`] (the browser) are each other's inverse: for any two views of the
//! same conversation, `apply(old, diff(old, new)) == new` (a property test checks it on random pairs).

use serde::{Deserialize, Serialize};

use super::{ApprovalMode, ConversationView, Entry};

/// One change to a conversation's view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Delta {
    /// The title or the approval mode changed.
    Header { title: String, mode: ApprovalMode },
    /// One entry changed in place (a call's status, result or elicitation).
    Replace { at: usize, entry: Entry },
    /// The entries from `at` on are replaced by these: new entries are a splice at the old length; a
    /// splice with none truncates.
    Splice { at: usize, entries: Vec<Entry> },
    /// The streamed answer grew by this text.
    StreamAppend(String),
    /// The streamed answer is now this (a new stream starts, or it ended).
    StreamSet(Option<String>),
    /// The agent started or stopped working on the conversation.
    Busy(bool),
}

/// A delta that does not fit the view it is applied to: the browser then asks for the whole state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a live update does not fit the conversation shown")]
pub struct DoesNotFit;

/// Identifies an entry across two views: its kind and id (ids of different kinds are different
/// namespaces).
fn key(entry: &Entry) -> (u8, &str) {
    match entry {
        Entry::User { id, .. } => (0, id),
        Entry::Assistant { id, .. } => (1, id),
        Entry::Notice { id, .. } => (2, id),
        Entry::ToolCall(call) => (3, &call.id),
    }
}

/// What turns `old` into `new`: entries compared by identity then content, in order.
pub fn diff(old: &ConversationView, new: &ConversationView) -> Vec<Delta> {
    let mut deltas = diff_stored(old, new);
    if let Some(change) = diff_streaming(old.streaming.as_deref(), new.streaming.as_deref()) {
        deltas.push(change);
    }
    if old.busy != new.busy {
        deltas.push(Delta::Busy(new.busy));
    }
    deltas
}

/// The stored part of [`diff`]: title and mode, then the entries.
pub fn diff_stored(old: &ConversationView, new: &ConversationView) -> Vec<Delta> {
    let mut deltas = Vec::new();
    if old.title != new.title || old.mode != new.mode {
        deltas.push(Delta::Header {
            title: new.title.clone(),
            mode: new.mode,
        });
    }
    deltas.extend(diff_entries(&old.entries, &new.entries));
    deltas
}

/// The entries' part of [`diff`]: changed ones in place up to the first difference in identity, then
/// the rest as one splice (in practice: appended entries).
pub fn diff_entries(old: &[Entry], new: &[Entry]) -> Vec<Delta> {
    let same = old
        .iter()
        .zip(new)
        .take_while(|(a, b)| key(a) == key(b))
        .count();
    let mut deltas: Vec<Delta> = old[..same]
        .iter()
        .zip(&new[..same])
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(at, (_, b))| Delta::Replace {
            at,
            entry: b.clone(),
        })
        .collect();
    if same < old.len() || same < new.len() {
        deltas.push(Delta::Splice {
            at: same,
            entries: new[same..].to_vec(),
        });
    }
    deltas
}

/// The streamed text's part of [`diff`]: an append when the new text continues the old.
pub fn diff_streaming(old: Option<&str>, new: Option<&str>) -> Option<Delta> {
    match (old, new) {
        (Some(old), Some(new)) if old == new => None,
        (Some(old), Some(new)) if new.starts_with(old) => {
            Some(Delta::StreamAppend(new[old.len()..].to_owned()))
        }
        (None, None) => None,
        (_, new) => Some(Delta::StreamSet(new.map(str::to_owned))),
    }
}

/// Applies `deltas` in order. On an error the view may be partly changed: the caller drops it and
/// starts again from a whole state.
pub fn apply(view: &mut ConversationView, deltas: &[Delta]) -> Result<(), DoesNotFit> {
    for delta in deltas {
        match delta {
            Delta::Header { title, mode } => {
                view.title.clone_from(title);
                view.mode = *mode;
            }
            Delta::Replace { at, entry } => {
                *view.entries.get_mut(*at).ok_or(DoesNotFit)? = entry.clone();
            }
            Delta::Splice { at, entries } => {
                if *at > view.entries.len() {
                    return Err(DoesNotFit);
                }
                view.entries.truncate(*at);
                view.entries.extend(entries.iter().cloned());
            }
            Delta::StreamAppend(text) => {
                view.streaming.as_mut().ok_or(DoesNotFit)?.push_str(text);
            }
            Delta::StreamSet(text) => view.streaming.clone_from(text),
            Delta::Busy(busy) => view.busy = *busy,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::chat::{CallStatus, ToolCallView};

    fn call(id: &str, status: CallStatus, result: Option<&str>) -> Entry {
        Entry::ToolCall(ToolCallView {
            id: id.to_owned(),
            server: "tools".to_owned(),
            tool: "add_note".to_owned(),
            arguments: "{}".to_owned(),
            args_hash: "00".to_owned(),
            status,
            result: result.map(str::to_owned),
            structured: None,
            is_error: false,
            read_only: false,
            destructive: false,
            decided_by: None,
            elicitations: Vec::new(),
        })
    }

    fn view(entries: Vec<Entry>, streaming: Option<&str>, busy: bool) -> ConversationView {
        ConversationView {
            id: "c1".to_owned(),
            title: "Notes".to_owned(),
            mode: ApprovalMode::Manual,
            entries,
            streaming: streaming.map(str::to_owned),
            busy,
        }
    }

    fn user(id: &str, text: &str) -> Entry {
        Entry::User {
            id: id.to_owned(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn a_streamed_answer_growing_is_an_append_of_the_new_text_only() {
        let long_history: Vec<Entry> = (0..200).map(|i| user(&i.to_string(), "hi")).collect();
        let old = view(long_history.clone(), Some("The answ"), true);
        let new = view(long_history, Some("The answer is"), true);
        assert_eq!(
            diff(&old, &new),
            vec![Delta::StreamAppend("er is".to_owned())]
        );
    }

    #[test]
    fn a_call_approved_is_one_replace_and_a_new_entry_one_splice() {
        let old = view(
            vec![user("m1", "add"), call("c1", CallStatus::Pending, None)],
            None,
            true,
        );
        let new = view(
            vec![
                user("m1", "add"),
                call("c1", CallStatus::Done, Some("saved")),
                Entry::Notice {
                    id: "n1".to_owned(),
                    text: "done".to_owned(),
                },
            ],
            None,
            false,
        );
        let deltas = diff(&old, &new);
        assert!(
            matches!(deltas[0], Delta::Replace { at: 1, .. }),
            "{deltas:?}"
        );
        assert!(
            matches!(&deltas[1], Delta::Splice { at: 2, entries } if entries.len() == 1),
            "{deltas:?}"
        );
        assert_eq!(deltas[2], Delta::Busy(false));
        assert_eq!(deltas.len(), 3);
    }

    #[test]
    fn deltas_that_do_not_fit_are_refused() {
        let mut shown = view(vec![user("m1", "a")], None, false);
        assert_eq!(
            apply(
                &mut shown.clone(),
                &[Delta::Replace {
                    at: 3,
                    entry: user("m9", "x")
                }]
            ),
            Err(DoesNotFit)
        );
        assert_eq!(
            apply(
                &mut shown.clone(),
                &[Delta::Splice {
                    at: 2,
                    entries: vec![]
                }]
            ),
            Err(DoesNotFit)
        );
        assert_eq!(
            apply(&mut shown, &[Delta::StreamAppend("x".to_owned())]),
            Err(DoesNotFit)
        );
    }

    fn any_entry() -> impl Strategy<Value = Entry> {
        // Few ids and texts, so that random views share entries, differ in place and reorder.
        let id = prop::sample::select(vec!["a", "b", "c", "d", "e"]);
        let text = prop::sample::select(vec!["", "x", "yy", "<b>z</b>"]);
        prop_oneof![
            (id.clone(), text.clone()).prop_map(|(id, text)| user(id, text)),
            (id.clone(), text.clone()).prop_map(|(id, text)| Entry::Assistant {
                id: id.to_owned(),
                text: text.to_owned(),
                html: format!("<p>{text}</p>"),
            }),
            (id.clone(), text).prop_map(|(id, text)| Entry::Notice {
                id: id.to_owned(),
                text: text.to_owned(),
            }),
            (
                id,
                prop::sample::select(vec![
                    CallStatus::Pending,
                    CallStatus::Running,
                    CallStatus::Done
                ]),
                prop::option::of(prop::sample::select(vec!["1", "22"])),
            )
                .prop_map(|(id, status, result)| call(id, status, result)),
        ]
    }

    fn any_view() -> impl Strategy<Value = ConversationView> {
        (
            prop::collection::vec(any_entry(), 0..8),
            prop::option::of(prop::sample::select(vec![
                "", "Th", "The", "The end", "Other",
            ])),
            any::<bool>(),
            prop::sample::select(vec!["Notes", "Renamed"]),
            prop::sample::select(vec![ApprovalMode::Manual, ApprovalMode::Auto]),
        )
            .prop_map(|(entries, streaming, busy, title, mode)| ConversationView {
                title: title.to_owned(),
                mode,
                ..view(entries, streaming, busy)
            })
    }

    proptest! {
        #[test]
        fn applying_the_diff_gives_the_new_view(old in any_view(), new in any_view()) {
            let deltas = diff(&old, &new);
            let mut shown = old.clone();
            apply(&mut shown, &deltas).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(shown, new);
        }

        #[test]
        fn a_sequence_of_changes_applied_one_by_one_ends_at_the_last_view(
            first in any_view(),
            rest in prop::collection::vec(any_view(), 1..6),
        ) {
            let mut shown = first.clone();
            let mut previous = first;
            for next in &rest {
                // The deltas travel as JSON, as on the wire.
                let wire = serde_json::to_string(&diff(&previous, next)).unwrap();
                let deltas: Vec<Delta> = serde_json::from_str(&wire).unwrap();
                apply(&mut shown, &deltas).map_err(|e| TestCaseError::fail(e.to_string()))?;
                previous = next.clone();
            }
            prop_assert_eq!(&shown, rest.last().unwrap());
        }

        #[test]
        fn no_change_is_no_delta(view in any_view()) {
            prop_assert!(diff(&view, &view).is_empty());
        }
    }
}
