//! The Chat page's frame: the conversation list with "New chat", and the selected conversation,
//! rendered from its stored state and then kept current by the live updates.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::{
    ApprovalMode, ChatError, ConversationView, create_conversation, get_conversation,
    list_conversations, live, transcript::Transcript,
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
