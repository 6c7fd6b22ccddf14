//! The answer row every elicitation ends with: the error line of a refused answer, then Accept, Decline
//! and Cancel. A form and a URL request differ only in what Accept sends (a form's values; nothing).

use leptos::prelude::*;

use super::{ElicitationAction, answer_elicitation, spawn_call};

#[component]
pub fn AnswerRow(
    conversation_id: String,
    request_id: String,
    /// Test-id prefix of the row's parts: `elicitation` (forms) or `url-elicitation`.
    prefix: &'static str,
    /// What Accept sends.
    accepted: Callback<(), Vec<(String, String)>>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let answering = RwSignal::new(false);
    let button = move |action: ElicitationAction, label: &'static str, primary: bool| {
        let (id, request_id) = (conversation_id.clone(), request_id.clone());
        let test_id = format!("{prefix}-{}", label.to_lowercase());
        view! {
            <button
                // Accept submits its form (an elicitation form's Enter key); without a form it is a
                // plain button.
                type=if primary { "submit" } else { "button" }
                class=primary.then_some("primary")
                data-testid=test_id
                disabled=move || answering.get()
                on:click=move |_| {
                    let sent = match action {
                        ElicitationAction::Accept => accepted.run(()),
                        _ => Vec::new(),
                    };
                    spawn_call(
                        answering,
                        answer_elicitation(id.clone(), request_id.clone(), action, sent),
                        move |result| error.set(result.err().map(|e| e.to_string())),
                    );
                }
            >
                {label}
            </button>
        }
    };
    view! {
        {move || {
            error
                .get()
                .map(|e| {
                    view! {
                        <p class="error" role="alert" data-testid=format!("{prefix}-error")>
                            {e}
                        </p>
                    }
                })
        }}
        <div class="decision">
            {button(ElicitationAction::Accept, "Accept", true)}
            {button(ElicitationAction::Decline, "Decline", false)}
            {button(ElicitationAction::Cancel, "Cancel", false)}
        </div>
    }
}
