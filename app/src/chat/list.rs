//! The conversation list of the Chat page: rendered on the server (newest first, with how long ago
//! each changed), with one island per line for its link, rename and delete ([`ItemActions`]).
//!
//! The open conversation's line follows the title its pane has live ([`show_open_title`]), and a
//! deleted line leaves the list in place; the order and the times are as of the page load.

use leptos::prelude::*;

use super::{
    ChatError, ConversationSummary, delete_conversation, load, rename_conversation, spawn_call,
    when,
};

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

pub(super) fn show_open_title(title: String) {
    #[cfg(feature = "hydrate")]
    if let Some(label) = OPEN_TITLE.with(std::cell::Cell::get)
        && label.try_with_untracked(|shown| *shown != title) == Some(true)
    {
        label.set(title);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = title;
}

/// The list as the server renders it; `selected` is the conversation on the page.
pub(super) fn conversation_list(list: Vec<ConversationSummary>, selected: Option<&str>) -> AnyView {
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
