//! The Chat page. The server renders it whole: the conversation list (newest first, with how long ago
//! each changed), "New chat", and either the selected conversation or, at `/chat`, the composer whose
//! first message starts one.
//!
//! The browser gets code for the interactive parts only (Leptos islands, see the crate docs):
//! - [`ConversationPane`]: the selected conversation, kept current by the live updates;
//! - [`Composer`]: the new-chat message box;
//! - [`ItemActions`]: a list item's link, rename and delete;
//! - [`NewChat`]: the button that opens an empty conversation.
//!
//! Moving between conversations is an ordinary page load, so the list the server renders is always
//! the current one; an island that changes which conversations exist (start, new, delete) loads the
//! page it leads to.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{
    ApprovalMode, ChatError, ConversationSummary, ConversationView, create_conversation,
    delete_conversation, get_conversation, list_conversations, live, load, rename_conversation,
    spawn_call, start_conversation,
    transcript::{MessageBox, ModeSelect, Transcript},
    when,
};
use crate::connections::ServerNotices;

fn signed_out_note() -> AnyView {
    view! { <p data-testid="chat-signed-out">"Sign in to chat with the agent."</p> }.into_any()
}

// The open conversation's line in the list shows the title the pane has live (a first message names a
// conversation). Islands share no context, but they run in one module: the list's island for the open
// conversation leaves its title signal here, and the pane sets it (browser only; one page, one thread).
#[cfg(feature = "hydrate")]
thread_local! {
    static OPEN_TITLE: std::cell::Cell<Option<RwSignal<String>>> = const { std::cell::Cell::new(None) };
}

fn share_open_title(label: RwSignal<String>) {
    #[cfg(feature = "hydrate")]
    OPEN_TITLE.with(|open| open.set(Some(label)));
    #[cfg(not(feature = "hydrate"))]
    let _ = label;
}

fn show_open_title(title: String) {
    #[cfg(feature = "hydrate")]
    if let Some(label) = OPEN_TITLE.with(std::cell::Cell::get)
        && label.try_with_untracked(|shown| *shown != title) == Some(true)
    {
        label.set(title);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = title;
}

/// `/chat` and `/chat/:id` (rendered on the server; see the module docs).
#[component]
pub fn ChatPage() -> impl IntoView {
    let selected = use_params_map().with_untracked(|p| p.get("id"));
    let list_selected = selected.clone();

    view! {
        <section class="chat">
            <aside class="conversations">
                <NewChat />
                <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                    {move || {
                        let selected = list_selected.clone();
                        Suspend::new(async move {
                            conversation_list(list_conversations().await, selected.as_deref())
                        })
                    }}
                </Suspense>
            </aside>
            <div class="conversation-pane">
                {match selected {
                    Some(id) => view! { <SelectedConversation id /> }.into_any(),
                    None => {
                        view! {
                            <Composer>
                                <ServerNotices />
                            </Composer>
                        }
                            .into_any()
                    }
                }}
            </div>
        </section>
    }
}

fn conversation_list(
    list: Result<Vec<ConversationSummary>, ChatError>,
    selected: Option<&str>,
) -> AnyView {
    match list {
        Ok(list) => {
            // One clock reading for the whole list.
            let now = when::now_ms();
            view! {
                <ul class="conversation-list" data-testid="conversation-list">
                    {list
                        .into_iter()
                        .map(|summary| {
                            let ago = when::relative(now, summary.updated_ms);
                            let current = selected == Some(summary.id.as_str());
                            let (id, data_id) = (summary.id.clone(), summary.id);
                            view! {
                                <li class="conversation-item" data-testid="conversation-item" data-id=data_id>
                                    <ItemActions
                                        id
                                        title=summary.title
                                        updated_at=summary.updated_at
                                        ago
                                        current
                                    />
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            }
            .into_any()
        }
        Err(ChatError::SignedOut) => signed_out_note(),
        Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
    }
}

/// The selected conversation as stored now, handed to the island that keeps it current.
#[component]
fn SelectedConversation(id: String) -> impl IntoView {
    view! {
        <Suspense fallback=|| view! { <p>"Loading conversation…"</p> }>
            {
                let id = id.clone();
                move || {
                    let id = id.clone();
                    Suspend::new(async move {
                        match get_conversation(id).await {
                            Ok(first) => {
                                // The island's props travel as JSON; the view goes as a JSON string the
                                // island reads with the live updates' reader (one decoder in the bundle).
                                let view = serde_json::to_string(&first).unwrap_or_default();
                                view! {
                                    <ConversationPane view>
                                        <ServerNotices />
                                    </ConversationPane>
                                }
                                    .into_any()
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
                    })
                }
            }
        </Suspense>
    }
}

/// "New chat": opens an empty conversation.
#[island]
fn NewChat() -> impl IntoView {
    let creating = RwSignal::new(false);
    view! {
        <button
            type="button"
            data-testid="new-chat"
            disabled=move || creating.get()
            on:click=move |_| {
                spawn_call(
                    creating,
                    create_conversation(ApprovalMode::Manual),
                    |result| {
                        if let Ok(created) = result {
                            load(&format!("/chat/{}", created.id));
                        }
                    },
                );
            }
        >
            "New chat"
        </button>
    }
}

/// One list item's content: the title (a link), how long ago it changed, and rename / delete (delete
/// asks for a confirmation in place).
#[island]
fn ItemActions(
    id: String,
    title: String,
    /// RFC 3339.
    updated_at: String,
    /// How long ago, as the server put it when it rendered the list.
    ago: String,
    /// This is the conversation on the page.
    current: bool,
) -> impl IntoView {
    let label = RwSignal::new(title.clone());
    if current {
        share_open_title(label);
    }
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let draft = RwSignal::new(title);
    let error = RwSignal::new(None::<String>);
    let (renaming, deleting) = (RwSignal::new(false), RwSignal::new(false));
    let report = move |result: Result<(), ChatError>| {
        error.set(result.err().map(|e| e.to_string()));
    };

    let href = format!("/chat/{id}");
    let (rename_id, delete_id) = (id.clone(), id);
    view! {
        <Show
            when=move || editing.get()
            fallback=move || {
                view! {
                    <a href=href.clone() data-testid="conversation-link" aria-current=current.then_some("page")>
                        {move || label.get()}
                    </a>
                    <div class="conversation-meta">
                        <time datetime=updated_at.clone() title=updated_at.clone() data-testid="conversation-time">
                            {ago.clone()}
                        </time>
                        <button
                            type="button"
                            class="link"
                            data-testid="rename"
                            aria-label=move || format!("Rename “{}”", label.get())
                            on:click=move |_| {
                                // The title may have changed since the page loaded (a first message).
                                draft.set(label.get_untracked());
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
                            aria-label=move || format!("Delete “{}”", label.get())
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
                        let title = draft.get_untracked();
                        spawn_call(
                            renaming,
                            rename_conversation(rename_id.clone(), title.clone()),
                            move |result| {
                                if result.is_ok() {
                                    label.set(title.trim().to_owned());
                                    editing.set(false);
                                }
                                report(result);
                            },
                        );
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
                <button type="submit" data-testid="rename-save" disabled=move || renaming.get()>
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
                    disabled=move || deleting.get()
                    on:click={
                        let delete_id = delete_id.clone();
                        move |_| {
                            let gone = delete_id.clone();
                            spawn_call(
                                deleting,
                                delete_conversation(delete_id.clone()),
                                move |result| match result {
                                    // The open one leads back to the composer; another leaves
                                    // the list, and the page keeps what is typed in it.
                                    Ok(()) if current => load("/chat"),
                                    Ok(()) => remove_list_item(&gone),
                                    Err(_) => report(result),
                                },
                            );
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
            error.get().map(|e| view! { <p class="error" role="alert" data-testid="conversation-error">{e}</p> })
        }}
    }
}

/// Takes a deleted conversation's line out of the list (the server renders the list; its islands
/// cannot re-render it).
fn remove_list_item(id: &str) {
    if let Ok(Some(item)) =
        document().query_selector(&format!(r#"li.conversation-item[data-id="{id}"]"#))
    {
        item.remove();
    }
}

/// `/chat` without a conversation: the message box, whose first message creates the conversation
/// (named after it) and opens it, where the turn goes on live. `children`: the server's notices about
/// servers whose tools are not offered.
#[island]
fn Composer(children: Children) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let mode = RwSignal::new(ApprovalMode::Manual);
    let error = RwSignal::new(None::<String>);
    let starting = RwSignal::new(false);

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
            {children()}
            <MessageBox
                text
                disabled=Signal::stored(false)
                pending=starting
                on_send=move |message| {
                    error.set(None);
                    spawn_call(
                        starting,
                        start_conversation(message, mode.get_untracked()),
                        move |result| match result {
                            Ok(started) => load(&format!("/chat/{}", started.id)),
                            // The typed text stays in the box.
                            Err(e) => error.set(Some(e.to_string())),
                        },
                    );
                }
            />
        </div>
    }
}

/// One conversation: `view` is its stored state as JSON (see [`SelectedConversation`]), kept current
/// by the live updates. `children`: the server's notices about servers whose tools are not offered.
#[island]
fn ConversationPane(view: String, children: Children) -> impl IntoView {
    let Ok(first) = crate::json::from_text::<ConversationView>(&view) else {
        return view! { <p class="error">"The conversation could not be shown."</p> }.into_any();
    };
    let id = first.id.clone();
    let state = RwSignal::new(first);
    live::follow(id, state);
    Effect::new(move |_| show_open_title(state.with(|s| s.title.clone())));
    view! { <Transcript state=state.into() notices=children /> }.into_any()
}
