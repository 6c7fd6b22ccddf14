//! The Chat page. The server renders it whole: the conversation list (newest first, with how long ago
//! each changed), "New chat", and either the selected conversation or, at `/chat`, the composer whose
//! first message starts one.
//!
//! The browser gets code for the interactive parts only (Leptos islands, see the crate docs):
//! - [`ConversationPane`]: the selected conversation, kept current by the live updates;
//! - [`Composer`]: the new-chat message box;
//! - `list::ItemActions`: a list line's link, rename and delete (the list is in `list`);
//! - [`NewChat`]: the button that opens an empty conversation.
//!
//! Moving between conversations is an ordinary page load, so the list the server renders is always
//! the current one; an island that changes which conversations exist (start, new, delete) loads the
//! page it leads to.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::{
    ApprovalMode, ChatError, ConversationView, create_conversation, get_conversation, list,
    list_conversations, live, load, spawn_call, start_conversation,
    transcript::{MessageBox, ModeSelect, Transcript},
};
use crate::connections::ServerNotices;

fn signed_out_note() -> AnyView {
    view! { <p data-testid="chat-signed-out">"Sign in to chat with the agent."</p> }.into_any()
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
                            match list_conversations().await {
                                Ok(list) => list::conversation_list(list, selected.as_deref()),
                                Err(ChatError::SignedOut) => signed_out_note(),
                                Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                            }
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
    Effect::new(move |_| list::show_open_title(state.with(|s| s.title.clone())));
    view! { <Transcript state=state.into() notices=children /> }.into_any()
}
