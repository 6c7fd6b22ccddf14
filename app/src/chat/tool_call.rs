//! A tool call as a card: server, tool, badges, status and who decided, the exact arguments, the
//! Approve / Decline / Always-allow buttons while pending, its elicitation requests (forms, links), and
//! the result: a structured result as a table or key/value rows with its text form folded beneath, else
//! the text. Arguments and text come pretty-printed when JSON (the server did it), each with a copy
//! button, folded when long (`text_block`).

use leptos::prelude::*;

use super::{
    CallStatus, ConversationView, DecidedBy, Decision, ElicitationRequest, ElicitationStatus,
    ToolCallView, decide,
    form::ElicitationForm,
    spawn_call,
    text_block::{BlockKind, text_block},
    url_request::UrlElicitation,
};

pub(super) fn tool_call_card(
    call: ToolCallView,
    state: Signal<ConversationView>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let conversation_id = state.with_untracked(|s| s.id.clone());
    let deciding = RwSignal::new(false);
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
                spawn_call(
                    deciding,
                    decide(id.clone(), call_id.clone(), hash.clone(), decision),
                    move |result| error.set(result.err().map(|e| e.to_string())),
                );
            }
        };
        let always = call.read_only.then(|| {
            view! {
                <button
                    type="button"
                    data-testid="approve-always"
                    disabled=move || deciding.get()
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
                    disabled=move || deciding.get()
                    on:click=send(Decision::Approve)
                >
                    "Approve"
                </button>
                <button
                    type="button"
                    data-testid="decline"
                    disabled=move || deciding.get()
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
    // The user knows what they decided; only a decision made for them is named.
    let decided = call
        .decided_by
        .filter(|by| *by != DecidedBy::User)
        .map(|by| view! { <span class="muted">{format!(" ({by})")}</span> });
    let result_class = if call.is_error {
        "result error"
    } else {
        "result"
    };
    let result = match call.structured.clone() {
        // The text form sits in its own fold already: not folded twice.
        // HTML the server rendered and escaped (`render_structured`), as it does an answer's Markdown.
        Some(html) => view! {
            <div inner_html=html></div>
            <details class="result-text" data-testid="tool-result-text">
                <summary>"Text result"</summary>
                {call.result.clone().map(|r| text_block(BlockKind::Result, r, result_class, false))}
            </details>
        }
        .into_any(),
        None => call
            .result
            .clone()
            .map(|r| text_block(BlockKind::Result, r, result_class, true))
            .into_any(),
    };
    let forms = call
        .elicitations
        .iter()
        .cloned()
        .map(|request| {
            if request.status == ElicitationStatus::Pending {
                match request.request {
                    ElicitationRequest::Form { .. } => view! {
                        <ElicitationForm conversation_id=conversation_id.clone() request />
                    }
                    .into_any(),
                    ElicitationRequest::Url { url, host } => view! {
                        <UrlElicitation
                            conversation_id=conversation_id.clone()
                            request_id=request.id
                            message=request.message
                            url
                            host
                        />
                    }
                    .into_any(),
                }
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
            aria-label=format!("{} on {}", call.tool, call.server)
        >
            <header>
                <span class="muted">{call.server.clone()}</span>
                " · "
                <code data-testid="tool-name">{call.tool.clone()}</code>
                {badge}
                <span class="status" data-testid="tool-status">{call.status.as_str()}</span>
                {decided}
            </header>
            {text_block(BlockKind::Arguments, call.arguments.clone(), "arguments", true)}
            {buttons}
            {forms}
            {result}
        </article>
    }
}
