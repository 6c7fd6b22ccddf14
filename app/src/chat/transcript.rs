//! One conversation's transcript: header with the approval mode, mode banners, the entries (messages,
//! notices, tool-call cards), the streamed text, and the message box (also the new-chat composer's).

use leptos::prelude::*;
use strum::VariantArray;

use super::{
    ApprovalMode, CallStatus, ChatError, ConversationView, ElicitationStatus, Entry,
    announce::waiting_announcement, send_message, set_mode, spawn_call, tool_call::tool_call_card,
};

#[component]
pub(super) fn Transcript(
    state: Signal<ConversationView>,
    /// Shown above the message box (the server's notices about servers whose tools are not offered).
    notices: Children,
) -> impl IntoView {
    let id = move || state.with(|s| s.id.clone());
    let error = RwSignal::new(None::<String>);
    let report = move |result: Result<(), ChatError>| match result {
        Ok(()) => error.set(None),
        Err(e) => error.set(Some(e.to_string())),
    };
    // Not shown: the select stays usable while a change is sent (disabling it would drop the keyboard
    // focus), and the live view brings the mode that holds.
    let changing_mode = RwSignal::new(false);
    let waiting_for_user = move || {
        state.with(|s| {
            s.entries.iter().any(|e| {
                matches!(e, Entry::ToolCall(call) if call.status == CallStatus::Pending
                    || call.elicitations.iter().any(|el| el.status == ElicitationStatus::Pending))
            })
        })
    };
    let busy = move || state.with(|s| s.busy);
    // The page's live region: said as soon as it changes, so a request arriving over the live updates
    // is announced when it arrives. (Effects run in the browser only: the server renders the region
    // empty, and the first run after hydration announces what already waits.)
    let announcement = RwSignal::new(String::new());
    Effect::new(move |_| {
        let now = state.with(waiting_announcement);
        if announcement.with_untracked(|said| *said != now) {
            announcement.set(now);
        }
    });
    let text = RwSignal::new(String::new());
    let sending = RwSignal::new(false);

    view! {
        <div class="transcript-pane" data-testid="conversation" data-busy=move || busy().to_string()>
            <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true" data-testid="announcer">
                {move || announcement.get()}
            </div>
            <header class="conversation-header">
                <h1 data-testid="conversation-title">{move || state.with(|s| s.title.clone())}</h1>
                <ModeSelect
                    value=Signal::derive(move || state.with(|s| s.mode))
                    on_choose=move |mode| {
                        spawn_call(changing_mode, set_mode(id(), mode), report);
                    }
                />
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
            {notices()}
            <MessageBox
                text
                disabled=Signal::derive(move || busy() || waiting_for_user())
                pending=sending
                on_send=move |message| {
                    spawn_call(
                        sending,
                        send_message(id(), message),
                        move |result| match result {
                            Ok(()) => {
                                text.set(String::new());
                                error.set(None);
                            }
                            // The typed text stays in the box: nothing is lost.
                            Err(e) => error.set(Some(e.to_string())),
                        },
                    );
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
    // The server renders the box read-only and Send disabled; hydration makes them work. Text typed
    // before that would be emptied by hydration, and a click on Send would submit the bare form.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    // On arrival and whenever a send completes (a click on Send took the focus to the button). In the
    // next frame, once the effects of hydration have run.
    Effect::new(move |_| {
        if !pending.get() && input.get().is_some() {
            request_animation_frame(move || {
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
                readonly=move || !ready.get()
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
                disabled=move || !ready.get() || disabled.get() || pending.get()
            >
                "Send"
            </button>
        </form>
    }
}

/// The approval mode chooser of a conversation's header (and of the new-chat composer).
#[component]
pub(super) fn ModeSelect(
    value: Signal<ApprovalMode>,
    on_choose: impl Fn(ApprovalMode) + 'static,
) -> impl IntoView {
    view! {
        <label class="mode">
            "Approval "
            <select
                data-testid="mode"
                prop:value=move || value.get().as_str()
                on:change=move |ev| {
                    if let Ok(mode) = event_target_value(&ev).parse::<ApprovalMode>() {
                        on_choose(mode);
                    }
                }
            >
                {ApprovalMode::VARIANTS
                    .iter()
                    .map(|m| view! { <option value=m.as_str()>{m.label()}</option> })
                    .collect_view()}
            </select>
        </label>
    }
}
