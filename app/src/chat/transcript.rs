//! One conversation's transcript: header with the approval mode, mode banners, the entries (messages,
//! notices, tool-call cards), the streamed text, and the message box (also the new-chat composer's).

use leptos::prelude::*;
use strum::VariantArray;

use super::{
    ApprovalMode, CallStatus, ChatError, ConversationView, ElicitationRequest, ElicitationStatus,
    Entry, send_message, set_mode, tool_call::tool_call_card,
};
use crate::layout::Announcer;

/// What waits for the user in this conversation, as the live region says it: each pending approval
/// ("Approval needed: add_note on tools.") and each unanswered elicitation request. Empty when nothing
/// waits, so the next request is a change again, and announced, even when it reads the same.
pub(super) fn waiting_announcement(view: &ConversationView) -> String {
    let mut parts = Vec::new();
    for entry in &view.entries {
        let Entry::ToolCall(call) = entry else {
            continue;
        };
        if call.status == CallStatus::Pending {
            parts.push(format!(
                "Approval needed: {} on {}.",
                call.tool, call.server
            ));
        }
        for request in &call.elicitations {
            if request.status != ElicitationStatus::Pending {
                continue;
            }
            parts.push(match &request.request {
                ElicitationRequest::Form { .. } => format!(
                    "Form needs your answer: {} on {} asks: {}",
                    call.tool, call.server, request.message
                ),
                ElicitationRequest::Url { host, .. } => format!(
                    "Link needs your answer: {} on {} asks you to open a page on {host}: {}",
                    call.tool, call.server, request.message
                ),
            });
        }
    }
    parts.join(" ")
}

#[component]
pub(super) fn Transcript(
    state: Signal<ConversationView>,
    on_change: impl Fn() + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let id = move || state.with(|s| s.id.clone());
    let error = RwSignal::new(None::<String>);
    let report = move |result: Result<(), ChatError>| match result {
        Ok(()) => error.set(None),
        Err(e) => error.set(Some(e.to_string())),
    };
    let mode_change = Action::new(move |(id, mode): &(String, ApprovalMode)| {
        let (id, mode) = (id.clone(), *mode);
        async move { set_mode(id, mode).await }
    });
    Effect::new(move |_| {
        if let Some(result) = mode_change.value().get() {
            report(result);
        }
    });
    let waiting_for_user = move || {
        state.with(|s| {
            s.entries.iter().any(|e| {
                matches!(e, Entry::ToolCall(call) if call.status == CallStatus::Pending
                    || call.elicitations.iter().any(|el| el.status == ElicitationStatus::Pending))
            })
        })
    };
    let busy = move || state.with(|s| s.busy);
    // Said in the frame's live region as soon as it changes: a request arriving over the live updates
    // is announced when it arrives. (Effects run in the browser only: the server renders the region
    // empty, and the first run after hydration announces what already waits.)
    if let Some(announcer) = use_context::<Announcer>() {
        Effect::new(move |_| announcer.say(state.with(waiting_announcement)));
        on_cleanup(move || announcer.say(String::new()));
    }
    let text = RwSignal::new(String::new());
    let send = Action::new(move |(id, message): &(String, String)| {
        let (id, message) = (id.clone(), message.clone());
        async move { send_message(id, message).await }
    });
    Effect::new(move |_| match send.value().get() {
        Some(Ok(())) => {
            text.set(String::new());
            error.set(None);
            on_change();
        }
        // The typed text stays in the box: nothing is lost.
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });

    view! {
        <div class="transcript-pane" data-testid="conversation" data-busy=move || busy().to_string()>
            <header class="conversation-header">
                <h1 data-testid="conversation-title">{move || state.with(|s| s.title.clone())}</h1>
                <label class="mode">
                    "Approval "
                    <select
                        data-testid="mode"
                        prop:value=move || state.with(|s| s.mode.as_str())
                        on:change=move |ev| {
                            if let Ok(mode) = event_target_value(&ev).parse::<ApprovalMode>() {
                                mode_change.dispatch((id(), mode));
                            }
                        }
                    >
                        {ApprovalMode::VARIANTS
                            .iter()
                            .map(|m| view! { <option value=m.as_str()>{m.label()}</option> })
                            .collect_view()}
                    </select>
                </label>
            </header>
            <Show when=move || state.with(|s| s.mode == ApprovalMode::Auto)>
                <p class="banner warning" data-testid="auto-banner" role="status">
                    "Auto mode is on: tools run without asking you. Tools marked destructive still ask."
                </p>
            </Show>
            <Show when=move || state.with(|s| s.mode == ApprovalMode::Elicitation)>
                <p class="banner" data-testid="elicitation-banner" role="status">
                    "Elicitation mode: tools run without asking; when a tool needs your input or a step on another site, it asks here."
                </p>
            </Show>
            <ol class="entries" data-testid="entries">
                <For
                    each=move || state.with(|s| s.entries.clone())
                    key=|entry| entry_key(entry)
                    let:entry
                >
                    {entry_view(entry, state, error)}
                </For>
            </ol>
            {move || {
                state
                    .with(|s| s.streaming.clone())
                    .map(|text| {
                        view! {
                            <div class="message assistant streaming" data-testid="streaming">
                                {text}
                            </div>
                        }
                    })
            }}
            <Show when=busy>
                <p class="muted" data-testid="busy">"Working…"</p>
            </Show>
            {move || {
                error.get().map(|e| view! { <p class="error" role="alert" data-testid="chat-error">{e}</p> })
            }}
            <MessageBox
                text
                disabled=Signal::derive(move || busy() || waiting_for_user())
                pending=send.pending()
                on_send=move |message| {
                    send.dispatch((id(), message));
                }
            />
        </div>
    }
}

/// A key that changes whenever the entry's rendering must change.
fn entry_key(entry: &Entry) -> String {
    match entry {
        Entry::User { id, .. } | Entry::Assistant { id, .. } | Entry::Notice { id, .. } => {
            id.clone()
        }
        Entry::ToolCall(call) => {
            let elicitations: String = call
                .elicitations
                .iter()
                .map(|e| format!("{}:{}", e.id, e.status.as_str()))
                .collect();
            format!("{}:{}:{elicitations}", call.id, call.status.as_str())
        }
    }
}

fn entry_view(
    entry: Entry,
    state: Signal<ConversationView>,
    error: RwSignal<Option<String>>,
) -> AnyView {
    match entry {
        Entry::User { text, .. } => view! {
            <li class="message user" data-testid="message-user">{text}</li>
        }
        .into_any(),
        // The server rendered and sanitized the Markdown (`render_markdown`): no raw HTML, only web and
        // mail links, no images loaded.
        Entry::Assistant { html, .. } => view! {
            <li class="message assistant markdown" data-testid="message-assistant" inner_html=html></li>
        }
        .into_any(),
        Entry::Notice { text, .. } => view! {
            <li class="message notice" role="status" data-testid="notice">{text}</li>
        }
        .into_any(),
        Entry::ToolCall(call) => view! { <li>{tool_call_card(call, state, error)}</li> }.into_any(),
    }
}

/// The message box: Enter sends, Shift+Enter starts a new line (and Enter while an input method is
/// composing belongs to the composition). It has the focus on arrival and again after each send.
#[component]
pub(super) fn MessageBox(
    /// The typed text; the owner empties it once a send succeeded (a failed one keeps it).
    text: RwSignal<String>,
    /// Sending is not possible now (the agent works, or waits for the user).
    #[prop(into)]
    disabled: Signal<bool>,
    /// A send is under way.
    #[prop(into)]
    pending: Signal<bool>,
    on_send: impl Fn(String) + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let input = NodeRef::<leptos::html::Textarea>::new();
    // On arrival and whenever a send completes (a click on Send took the focus to the button). In the
    // next frame: the element may be built before it is in the document (inside a Suspense), and a
    // detached element cannot take the focus.
    Effect::new(move |_| {
        if !pending.get() && input.get().is_some() {
            request_animation_frame(move || {
                // The box may be gone by then (a first message navigates to its conversation).
                if let Some(Some(input)) = input.try_get_untracked() {
                    let _ = input.focus();
                }
            });
        }
    });
    // Approve, Decline or a form's answer leave with the card's pending part, and the keyboard focus on
    // them falls to the page. Once the box can send again, a focus lost that way comes back to it (a
    // focus somewhere else is left where it is).
    Effect::new(move |was_disabled: Option<bool>| {
        let now = disabled.get();
        if was_disabled == Some(true) && !now {
            request_animation_frame(move || {
                let lost = document()
                    .active_element()
                    .is_none_or(|element| element.tag_name().eq_ignore_ascii_case("body"));
                if lost && let Some(Some(input)) = input.try_get_untracked() {
                    let _ = input.focus();
                }
            });
        }
        now
    });
    let submit = move || {
        if disabled.get_untracked() || pending.get_untracked() {
            return;
        }
        let message = text.get_untracked();
        if !message.trim().is_empty() {
            on_send(message);
        }
    };
    view! {
        <form
            class="message-box"
            on:submit=move |ev| {
                ev.prevent_default();
                submit();
            }
        >
            <textarea
                node_ref=input
                aria-label="Message"
                data-testid="message-input"
                rows="2"
                placeholder="Ask the agent… (Enter sends, Shift+Enter starts a new line)"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        submit();
                    }
                }
            ></textarea>
            <button
                type="submit"
                class="primary"
                data-testid="send"
                disabled=move || disabled.get() || pending.get()
            >
                "Send"
            </button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::waiting_announcement;
    use crate::chat::{
        ApprovalMode, CallStatus, ConversationView, ElicitationRequest, ElicitationStatus,
        ElicitationView, Entry, ToolCallView,
    };

    fn call(tool: &str, status: CallStatus, elicitations: Vec<ElicitationView>) -> Entry {
        Entry::ToolCall(ToolCallView {
            id: format!("call-{tool}"),
            server: "tools".to_owned(),
            tool: tool.to_owned(),
            arguments: "{}".to_owned(),
            args_hash: "0".repeat(64),
            status,
            result: None,
            structured: None,
            is_error: false,
            read_only: false,
            destructive: false,
            decided_by: None,
            elicitations,
        })
    }

    fn request(
        message: &str,
        request: ElicitationRequest,
        status: ElicitationStatus,
    ) -> ElicitationView {
        ElicitationView {
            id: format!("el-{message}"),
            message: message.to_owned(),
            request,
            status,
        }
    }

    fn conversation(entries: Vec<Entry>) -> ConversationView {
        ConversationView {
            id: "c1".to_owned(),
            title: "t".to_owned(),
            mode: ApprovalMode::Manual,
            entries,
            streaming: None,
            busy: false,
        }
    }

    #[test]
    fn nothing_waiting_says_nothing() {
        let view = conversation(vec![
            Entry::User {
                id: "u1".to_owned(),
                text: "hi".to_owned(),
            },
            call("get_random_number", CallStatus::Done, Vec::new()),
            call(
                "delete_note",
                CallStatus::Done,
                vec![request(
                    "Delete?",
                    ElicitationRequest::Form { fields: Vec::new() },
                    ElicitationStatus::Accepted,
                )],
            ),
        ]);
        assert_eq!(waiting_announcement(&view), "");
    }

    #[test]
    fn pending_approvals_and_requests_are_named_with_their_tool_and_server() {
        let view = conversation(vec![
            call("get_random_number", CallStatus::Done, Vec::new()),
            call("add_note", CallStatus::Pending, Vec::new()),
            call(
                "delete_note",
                CallStatus::Running,
                vec![request(
                    "Delete note 3?",
                    ElicitationRequest::Form { fields: Vec::new() },
                    ElicitationStatus::Pending,
                )],
            ),
            call(
                "list_events",
                CallStatus::Running,
                vec![request(
                    "Grant access",
                    ElicitationRequest::Url {
                        url: "https://login.example.com/consent".to_owned(),
                        host: "login.example.com".to_owned(),
                    },
                    ElicitationStatus::Pending,
                )],
            ),
        ]);
        assert_eq!(
            waiting_announcement(&view),
            "Approval needed: add_note on tools. \
             Form needs your answer: delete_note on tools asks: Delete note 3? \
             Link needs your answer: list_events on tools asks you to open a page on login.example.com: Grant access"
        );
    }
}
