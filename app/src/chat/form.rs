//! An MCP elicitation request as a form: one input per requested property, with Accept, Decline and
//! Cancel. The server checks the answer against the schema; a refused answer keeps what was typed.

use leptos::prelude::*;

use super::{ElicitationRequest, ElicitationView, FieldKind, FormField, answer::AnswerRow};

fn initial_value(field: &FormField) -> String {
    match &field.kind {
        FieldKind::Text { default, .. } => default.clone().unwrap_or_default(),
        FieldKind::Number { default, .. } => default.map(|d| d.to_string()).unwrap_or_default(),
        FieldKind::Boolean { default } => default.unwrap_or(false).to_string(),
        FieldKind::Choice { default, .. } => default.clone().unwrap_or_default(),
    }
}

#[component]
pub fn ElicitationForm(conversation_id: String, request: ElicitationView) -> impl IntoView {
    let fields = match request.request {
        ElicitationRequest::Form { fields } => fields,
        // URL requests have their own component; none reaches here.
        ElicitationRequest::Url { .. } => Vec::new(),
    };
    let values: RwSignal<Vec<(String, String)>> = RwSignal::new(
        fields
            .iter()
            .map(|f| (f.name.clone(), initial_value(f)))
            .collect(),
    );
    let accepted = Callback::new(move |()| values.get_untracked());
    // Ids unique on the page (two requests may ask for fields of the same name), for the labels' `for`
    // and the form's `aria-labelledby` (the question names the form).
    let id_prefix = format!("elicitation-{}", request.id);
    let question_id = format!("{id_prefix}-question");
    let labelled_by = question_id.clone();
    let fields = fields
        .into_iter()
        .map(|field| field_view(field, id_prefix.clone(), values))
        .collect_view();
    // Accept is the form's submit button, so Enter in a field answers Accept as a click does (its click
    // handler sends the answer; the submit itself goes nowhere). The server checks the values, and says
    // what is wrong in the answer row: no browser validation bubbles besides.
    view! {
        <form
            class="elicitation"
            data-testid="elicitation-form"
            aria-labelledby=labelled_by
            novalidate=true
            on:submit=|ev| ev.prevent_default()
        >
            <p class="question" id=question_id data-testid="elicitation-message">{request.message}</p>
            {fields}
            <AnswerRow
                conversation_id
                request_id=request.id
                prefix="elicitation"
                accepted
            />
        </form>
    }
}

fn set(values: RwSignal<Vec<(String, String)>>, name: &str, value: String) {
    values.update(|all| {
        if let Some(slot) = all.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value;
        }
    });
}

fn field_view(
    field: FormField,
    id_prefix: String,
    values: RwSignal<Vec<(String, String)>>,
) -> impl IntoView {
    let name = field.name.clone();
    let label = field.title.clone().unwrap_or_else(|| field.name.clone());
    let current = {
        let name = name.clone();
        move || {
            values.with(|all| {
                all.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
        }
    };
    let input_id = format!("{id_prefix}-field-{name}");
    let on_input = {
        let name = name.clone();
        move |ev: leptos::ev::Event| set(values, &name, event_target_value(&ev))
    };
    let control = match field.kind {
        FieldKind::Boolean { .. } => {
            let name = name.clone();
            view! {
                <input
                    type="checkbox"
                    id=input_id.clone()
                    name=field.name.clone()
                    prop:checked=move || current() == "true"
                    on:change=move |ev| set(values, &name, event_target_checked(&ev).to_string())
                />
            }
            .into_any()
        }
        FieldKind::Choice { options, .. } => view! {
            <select id=input_id.clone() name=field.name.clone() prop:value=current on:change=on_input>
                <option value="">"—"</option>
                {options
                    .into_iter()
                    .map(|(value, label)| view! { <option value=value>{label}</option> })
                    .collect_view()}
            </select>
        }
        .into_any(),
        FieldKind::Number { integer, minimum, maximum, .. } => view! {
            <input
                type="number"
                id=input_id.clone()
                name=field.name.clone()
                step=if integer { "1" } else { "any" }
                min=minimum.map(|m| m.to_string())
                max=maximum.map(|m| m.to_string())
                required=field.required
                prop:value=current
                on:input=on_input
            />
        }
        .into_any(),
        FieldKind::Text { min_length, max_length, format, .. } => {
            let kind = match format.as_deref() {
                Some("email") => "email",
                Some("uri") => "url",
                Some("date") => "date",
                _ => "text",
            };
            view! {
                <input
                    type=kind
                    id=input_id.clone()
                    name=field.name.clone()
                    minlength=min_length.map(|m| m.to_string())
                    maxlength=max_length.map(|m| m.to_string())
                    required=field.required
                    prop:value=current
                    on:input=on_input
                />
            }
            .into_any()
        }
    };
    view! {
        <div class="field">
            <label for=input_id>{label} {field.required.then_some(" *")}</label>
            {control}
            {field.description.map(|d| view! { <small class="muted">{d}</small> })}
        </div>
    }
}
