//! The Chat page's frame: the conversation list (newest first, with how long ago each changed, and
//! rename / delete), "New chat", and either the selected conversation (rendered from its stored state,
//! then kept current by the live updates) or, at `/chat`, the composer whose first message starts one.

use leptos::prelude::*;
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_params_map},
};

use super::{
    ApprovalMode, ChatError, ConversationSummary, ConversationView, create_conversation,
    delete_conversation, get_conversation, list_conversations, live, rename_conversation,
    start_conversation,
    transcript::{MessageBox, ModeSelect, Transcript},
    when,
};

fn signed_out_note() -> AnyView {
    view! { <p data-testid="chat-signed-out">"Sign in to chat with the agent."</p> }.into_any()
}

/// `/chat` and `/chat/:id`.
#[component]
pub fn ChatPage() -> impl IntoView {
    let params = use_params_map();
    let selected = Signal::derive(move || params.with(|p| p.get("id")));
    let list_version = RwSignal::new(0u32);
    let conversations = crate::json::resource(move || list_version.get(), |_| list_conversations());
    let refresh = move || list_version.update(|v| *v += 1);
    let navigate = use_navigate();
    let create =
        Action::new(move |_: &()| async move { create_conversation(ApprovalMode::Manual).await });
    Effect::new(move |_| {
        if let Some(Ok(created)) = create.value().get() {
            refresh();
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
                                // One clock reading for the whole list.
                                let now = when::now_ms();
                                view! {
                                    <ul class="conversation-list" data-testid="conversation-list">
                                        {list
                                            .into_iter()
                                            .map(|summary| {
                                                view! {
                                                    <ConversationItem summary now selected on_change=refresh />
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
                {move || match selected.get() {
                    Some(id) => view! { <Conversation id on_change=refresh /> }.into_any(),
                    None => view! { <NewConversation on_change=refresh /> }.into_any(),
                }}
            </div>
        </section>
    }
}

/// One line of the list: the title (a link), how long ago it changed, and rename / delete (delete asks
/// for a confirmation in place).
#[component]
fn ConversationItem(
    summary: ConversationSummary,
    now: i64,
    selected: Signal<Option<String>>,
    on_change: impl Fn() + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let ConversationSummary {
        id,
        title,
        updated_at,
        updated_ms,
        ..
    } = summary;
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let draft = RwSignal::new(title.clone());
    let error = RwSignal::new(None::<String>);
    let rename = Action::new(move |(id, title): &(String, String)| {
        let (id, title) = (id.clone(), title.clone());
        async move { rename_conversation(id, title).await }
    });
    Effect::new(move |_| match rename.value().get() {
        Some(Ok(())) => {
            editing.set(false);
            error.set(None);
            on_change();
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let delete = Action::new(move |id: &String| delete_conversation(id.clone()));
    let navigate = use_navigate();
    let deleted_id = id.clone();
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(())) => {
            // The open conversation is gone: back to the composer.
            if selected.get_untracked().as_deref() == Some(deleted_id.as_str()) {
                navigate("/chat", NavigateOptions::default());
            }
            on_change();
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });

    let href = format!("/chat/{id}");
    let ago = when::relative(now, updated_ms);
    let (rename_id, delete_id) = (id.clone(), id.clone());
    let label = title.clone();
    view! {
        <li class="conversation-item" data-testid="conversation-item" data-id=id.clone()>
            <Show
                when=move || editing.get()
                fallback=move || {
                    let label = label.clone();
                    view! {
                        <a href=href.clone() data-testid="conversation-link">
                            {label.clone()}
                        </a>
                        <div class="conversation-meta">
                            <time datetime=updated_at.clone() title=updated_at.clone() data-testid="conversation-time">
                                {ago.clone()}
                            </time>
                            <button
                                type="button"
                                class="link"
                                data-testid="rename"
                                aria-label=format!("Rename “{label}”")
                                on:click=move |_| {
                                    error.set(None);
                                    confirming.set(false);
                                    editing.set(true);
                                }
                            >
                                "Rename"
                            </button>
                            <button
                                type="button"
                                class="link danger"
                                data-testid="delete"
                                aria-label=format!("Delete “{label}”")
                                on:click=move |_| {
                                    error.set(None);
                                    confirming.set(true);
                                }
                            >
                                "Delete"
                            </button>
                        </div>
                    }
                }
            >
                <form
                    class="rename"
                    on:submit={
                        let rename_id = rename_id.clone();
                        move |ev| {
                            ev.prevent_default();
                            rename.dispatch((rename_id.clone(), draft.get_untracked()));
                        }
                    }
                >
                    <input
                        type="text"
                        aria-label="Title"
                        data-testid="rename-input"
                        maxlength="120"
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev))
                        on:keydown=move |ev| {
                            if ev.key() == "Escape" {
                                editing.set(false);
                            }
                        }
                    />
                    <button type="submit" data-testid="rename-save" disabled=move || rename.pending().get()>
                        "Save"
                    </button>
                    <button type="button" data-testid="rename-cancel" on:click=move |_| editing.set(false)>
                        "Cancel"
                    </button>
                </form>
            </Show>
            <Show when=move || confirming.get()>
                <div class="confirm" role="group" aria-label="Delete this conversation?">
                    <span>"Delete this conversation? Its tool calls stay in the audit trail."</span>
                    <button
                        type="button"
                        class="danger"
                        data-testid="confirm-delete"
                        disabled=move || delete.pending().get()
                        on:click={
                            let delete_id = delete_id.clone();
                            move |_| {
                                delete.dispatch(delete_id.clone());
                            }
                        }
                    >
                        "Delete"
                    </button>
                    <button type="button" data-testid="cancel-delete" on:click=move |_| confirming.set(false)>
                        "Cancel"
                    </button>
                </div>
            </Show>
            {move || {
                error
                    .get()
                    .map(|e| view! { <p class="error" role="alert" data-testid="conversation-error">{e}</p> })
            }}
        </li>
    }
}

/// `/chat` without a conversation: the message box, whose first message creates the conversation (named
/// after it) and opens it, where the turn goes on live.
#[component]
fn NewConversation(on_change: impl Fn() + Send + Sync + Copy + 'static) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let mode = RwSignal::new(ApprovalMode::Manual);
    let error = RwSignal::new(None::<String>);
    let start = Action::new(move |(text, mode): &(String, ApprovalMode)| {
        let (text, mode) = (text.clone(), *mode);
        async move { start_conversation(text, mode).await }
    });
    let navigate = use_navigate();
    Effect::new(move |_| match start.value().get() {
        Some(Ok(started)) => {
            on_change();
            navigate(&format!("/chat/{}", started.id), NavigateOptions::default());
        }
        // The typed text stays in the box.
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });

    view! {
        <div class="transcript-pane" data-testid="new-conversation">
            <header class="conversation-header">
                <h1>"New chat"</h1>
                <ModeSelect value=mode.into() on_choose=move |chosen| mode.set(chosen) />
            </header>
            <p class="muted">"Ask the agent something to start a conversation, or choose one on the left."</p>
            {move || {
                error.get().map(|e| view! { <p class="error" role="alert" data-testid="chat-error">{e}</p> })
            }}
            <crate::connections::ServerNotices />
            <MessageBox
                text
                disabled=Signal::stored(false)
                pending=start.pending()
                on_send=move |message| {
                    error.set(None);
                    start.dispatch((message, mode.get_untracked()));
                }
            />
        </div>
    }
}

/// One conversation: rendered on the server from its stored state, then kept current by the live
/// updates.
#[component]
fn Conversation(id: String, on_change: impl Fn() + Send + Sync + Copy + 'static) -> impl IntoView {
    let initial = crate::json::resource(
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
