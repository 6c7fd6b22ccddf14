//! The Chat page (conversation list, transcript, approvals, elicitation forms, message box) and the
//! Audit page.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::{
    ApprovalMode, AuditRecord, CallStatus, ChatError, ConversationView, Decision,
    ElicitationStatus, Entry, ToolCallView, audit_trail, create_conversation, decide,
    form::ElicitationForm, get_conversation, list_conversations, live, send_message, set_mode,
};

fn signed_out_note() -> AnyView {
    view! { <p data-testid="chat-signed-out">"Sign in to chat with the agent."</p> }.into_any()
}

/// `/chat` and `/chat/:id`.
#[component]
pub fn ChatPage() -> impl IntoView {
    let params = use_params_map();
    let selected = move || params.with(|p| p.get("id"));
    let list_version = RwSignal::new(0u32);
    let conversations = Resource::new(move || list_version.get(), |_| list_conversations());
    let navigate = use_navigate();
    let create =
        Action::new(move |_: &()| async move { create_conversation(ApprovalMode::Manual).await });
    Effect::new(move |_| {
        if let Some(Ok(created)) = create.value().get() {
            list_version.update(|v| *v += 1);
            navigate(&format!("/chat/{}", created.id), Default::default());
        }
    });

    view! {
        <section class="chat">
            <aside class="conversations">
                <button
                    type="button"
                    data-testid="new-chat"
                    on:click=move |_| {
                        create.dispatch(());
                    }
                >
                    "New chat"
                </button>
                <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match conversations.await {
                            Ok(list) => {
                                view! {
                                    <ul class="conversation-list" data-testid="conversation-list">
                                        {list
                                            .into_iter()
                                            .map(|c| {
                                                let href = format!("/chat/{}", c.id);
                                                view! {
                                                    <li>
                                                        <a href=href data-testid="conversation-link">
                                                            {c.title}
                                                        </a>
                                                    </li>
                                                }
                                            })
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                            Err(ChatError::SignedOut) => signed_out_note(),
                            Err(error) => {
                                view! { <p class="error">{error.to_string()}</p> }.into_any()
                            }
                        }
                    })}
                </Suspense>
            </aside>
            <div class="conversation-pane">
                {move || match selected() {
                    Some(id) => {
                        view! { <Conversation id on_change=move || list_version.update(|v| *v += 1) /> }
                            .into_any()
                    }
                    None => {
                        view! {
                            <p class="muted">"Choose a conversation, or start a new chat."</p>
                        }
                            .into_any()
                    }
                }}
            </div>
        </section>
    }
}

/// One conversation: rendered on the server from its stored state, then kept current by the live
/// updates.
#[component]
fn Conversation(id: String, on_change: impl Fn() + Send + Sync + Copy + 'static) -> impl IntoView {
    let initial = Resource::new(
        {
            let id = id.clone();
            move || id.clone()
        },
        get_conversation,
    );
    let live_view: RwSignal<Option<ConversationView>> = RwSignal::new(None);
    live::follow(id.clone(), live_view);

    view! {
        <Suspense fallback=|| view! { <p>"Loading conversation…"</p> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok(first) => {
                        let state = Signal::derive(move || live_view.get().unwrap_or_else(|| first.clone()));
                        view! { <Transcript state on_change /> }.into_any()
                    }
                    Err(ChatError::NotFound) => {
                        view! {
                            <p data-testid="conversation-not-found">"Conversation not found."</p>
                        }
                            .into_any()
                    }
                    Err(ChatError::SignedOut) => signed_out_note(),
                    Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Transcript(
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
                            if let Some(mode) = ApprovalMode::parse(&event_target_value(&ev)) {
                                mode_change.dispatch((id(), mode));
                            }
                        }
                    >
                        {ApprovalMode::ALL
                            .into_iter()
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
                    "Elicitation mode: tools run without asking; when a tool needs your input, a form appears here."
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
                conversation_id=Signal::derive(id)
                disabled=Signal::derive(move || busy() || waiting_for_user())
                error
                on_change
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
        Entry::Assistant { text, .. } => view! {
            <li class="message assistant" data-testid="message-assistant">{text}</li>
        }
        .into_any(),
        Entry::Notice { text, .. } => view! {
            <li class="message notice" role="status" data-testid="notice">{text}</li>
        }
        .into_any(),
        Entry::ToolCall(call) => view! { <li>{tool_call_card(call, state, error)}</li> }.into_any(),
    }
}

fn tool_call_card(
    call: ToolCallView,
    state: Signal<ConversationView>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let conversation_id = state.with_untracked(|s| s.id.clone());
    let decide_action = Action::new(
        move |(id, call_id, hash, decision): &(String, String, String, Decision)| {
            let (id, call_id, hash, decision) =
                (id.clone(), call_id.clone(), hash.clone(), *decision);
            async move { decide(id, call_id, hash, decision).await }
        },
    );
    Effect::new(move |_| match decide_action.value().get() {
        Some(Err(e)) => error.set(Some(e.to_string())),
        Some(Ok(())) => error.set(None),
        None => {}
    });
    let pending = call.status == CallStatus::Pending;
    let buttons = pending.then(|| {
        let args = (
            conversation_id.clone(),
            call.id.clone(),
            call.args_hash.clone(),
        );
        let send = move |decision: Decision| {
            let (id, call_id, hash) = args.clone();
            move |_| {
                decide_action.dispatch((id.clone(), call_id.clone(), hash.clone(), decision));
            }
        };
        let always = call.read_only.then(|| {
            view! {
                <button
                    type="button"
                    data-testid="approve-always"
                    disabled=move || decide_action.pending().get()
                    on:click=send(Decision::ApproveAlways)
                >
                    "Always allow this tool in this conversation"
                </button>
            }
        });
        view! {
            <div class="decision">
                <button
                    type="button"
                    class="primary"
                    data-testid="approve"
                    disabled=move || decide_action.pending().get()
                    on:click=send(Decision::Approve)
                >
                    "Approve"
                </button>
                <button
                    type="button"
                    data-testid="decline"
                    disabled=move || decide_action.pending().get()
                    on:click=send(Decision::Decline)
                >
                    "Decline"
                </button>
                {always}
            </div>
        }
    });
    let badge = if call.destructive {
        Some(view! { <span class="badge destructive">"destructive"</span> })
    } else if call.read_only {
        Some(view! { <span class="badge">"read-only"</span> })
    } else {
        None
    };
    let decided = call
        .decided_by
        .clone()
        .filter(|by| by != "user")
        .map(|by| view! { <span class="muted">{format!(" ({by})")}</span> });
    let result = call.result.clone().map(|r| {
        view! {
            <pre class=if call.is_error { "result error" } else { "result" } data-testid="tool-result">
                {r}
            </pre>
        }
    });
    let forms = call
        .elicitations
        .iter()
        .cloned()
        .map(|request| {
            if request.status == ElicitationStatus::Pending {
                view! { <ElicitationForm conversation_id=conversation_id.clone() request /> }
                    .into_any()
            } else {
                view! {
                    <p class="muted" data-testid="elicitation-outcome">
                        {format!("{} — {}", request.message, request.status.as_str())}
                    </p>
                }
                .into_any()
            }
        })
        .collect_view();
    view! {
        <article
            class=format!("card tool-call status-{}", call.status.as_str())
            data-testid="tool-call"
            data-status=call.status.as_str()
            data-tool=call.tool.clone()
        >
            <header>
                <span class="muted">{call.server.clone()}</span>
                " · "
                <code data-testid="tool-name">{call.tool.clone()}</code>
                {badge}
                <span class="status" data-testid="tool-status">{call.status.as_str()}</span>
                {decided}
            </header>
            <pre class="arguments" data-testid="tool-args">{call.arguments.clone()}</pre>
            {buttons}
            {forms}
            {result}
        </article>
    }
}

#[component]
fn MessageBox(
    conversation_id: Signal<String>,
    disabled: Signal<bool>,
    error: RwSignal<Option<String>>,
    on_change: impl Fn() + Send + Sync + Copy + 'static,
) -> impl IntoView {
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
        <form
            class="message-box"
            on:submit=move |ev| {
                ev.prevent_default();
                let message = text.get_untracked();
                if !message.trim().is_empty() {
                    send.dispatch((conversation_id.get_untracked(), message));
                }
            }
        >
            <textarea
                aria-label="Message"
                data-testid="message-input"
                rows="2"
                placeholder="Ask the agent…"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
            ></textarea>
            <button
                type="submit"
                class="primary"
                data-testid="send"
                disabled=move || disabled.get() || send.pending().get()
            >
                "Send"
            </button>
        </form>
    }
}

/// `/audit`: the signed-in user's own tool-call audit trail.
#[component]
pub fn AuditPage() -> impl IntoView {
    let records = Resource::new(|| (), |_| audit_trail());
    view! {
        <section class="audit">
            <h1>"Audit trail"</h1>
            <p class="muted">"Every tool call the agent proposed for you, and what became of it."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match records.await {
                        Ok(records) if records.is_empty() => {
                            view! { <p data-testid="audit-empty">"No tool calls yet."</p> }.into_any()
                        }
                        Ok(records) => audit_table(records).into_any(),
                        Err(ChatError::SignedOut) => {
                            view! { <p data-testid="audit-signed-out">"Sign in to see your audit trail."</p> }
                                .into_any()
                        }
                        Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

fn audit_table(records: Vec<AuditRecord>) -> impl IntoView {
    view! {
        <table class="audit-table" data-testid="audit-table">
            <thead>
                <tr>
                    <th>"Finished"</th>
                    <th>"Server"</th>
                    <th>"Tool"</th>
                    <th>"Arguments (SHA-256)"</th>
                    <th>"Decision"</th>
                    <th>"Decided by"</th>
                    <th>"Outcome"</th>
                    <th>"Conversation"</th>
                </tr>
            </thead>
            <tbody>
                {records
                    .into_iter()
                    .map(|r| {
                        let short_hash: String = r.args_hash.chars().take(12).collect();
                        let href = format!("/chat/{}", r.conversation_id);
                        let (tool_attr, outcome_attr) = (r.tool.clone(), r.outcome.clone());
                        view! {
                            <tr data-testid="audit-row" data-tool=tool_attr data-outcome=outcome_attr>
                                <td>{r.finished_at.unwrap_or_default()}</td>
                                <td>{r.server}</td>
                                <td>
                                    <code>{r.tool}</code>
                                </td>
                                <td>
                                    <code title=r.args_hash>{short_hash}</code>
                                </td>
                                <td>{r.decision}</td>
                                <td>{r.decided_by}</td>
                                <td>{r.outcome}</td>
                                <td>
                                    <a href=href>"open"</a>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
