//! The Audit page: the signed-in user's own tool calls and what became of each.

use leptos::prelude::*;

use super::{AuditRecord, ChatError, audit_trail};

/// `/audit`: the signed-in user's own tool-call audit trail.
#[component]
pub fn AuditPage() -> impl IntoView {
    let records = crate::json::resource(|| (), |_| audit_trail());
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
