//! What the page's live region says about a conversation: each pending approval and each request for
//! input that waits for the user (screen readers announce it when it changes).

use super::{CallStatus, ConversationView, ElicitationRequest, ElicitationStatus, Entry};

/// What waits for the user in this conversation, as the live region says it: each pending approval
/// ("Approval needed: add_note on tools.") and each unanswered elicitation request. Empty when nothing
/// waits, so the next request is a change again, and announced, even when it reads the same.
pub(super) fn waiting_announcement(view: &ConversationView) -> String {
    let mut parts = Vec::new();
    for entry in &view.entries {
        let Entry::ToolCall(call) = entry else {
            continue;
        };
        if call.status == CallStatus::Pending {
            parts.push(format!(
                "Approval needed: {} on {}.",
                call.tool, call.server
            ));
        }
        for request in &call.elicitations {
            if request.status != ElicitationStatus::Pending {
                continue;
            }
            parts.push(match &request.request {
                ElicitationRequest::Form { .. } => format!(
                    "Form needs your answer: {} on {} asks: {}",
                    call.tool, call.server, request.message
                ),
                ElicitationRequest::Url { host, .. } => format!(
                    "Link needs your answer: {} on {} asks you to open a page on {host}: {}",
                    call.tool, call.server, request.message
                ),
            });
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::waiting_announcement;
    use crate::chat::{
        ApprovalMode, CallStatus, ConversationView, ElicitationRequest, ElicitationStatus,
        ElicitationView, Entry, ToolCallView,
    };

    fn call(tool: &str, status: CallStatus, elicitations: Vec<ElicitationView>) -> Entry {
        Entry::ToolCall(ToolCallView {
            id: format!("call-{tool}"),
            server: "tools".to_owned(),
            tool: tool.to_owned(),
            arguments: "{}".to_owned(),
            args_hash: "0".repeat(64),
            status,
            result: None,
            structured: None,
            is_error: false,
            read_only: false,
            destructive: false,
            decided_by: None,
            elicitations,
        })
    }

    fn request(
        message: &str,
        request: ElicitationRequest,
        status: ElicitationStatus,
    ) -> ElicitationView {
        ElicitationView {
            id: format!("el-{message}"),
            message: message.to_owned(),
            request,
            status,
        }
    }

    fn conversation(entries: Vec<Entry>) -> ConversationView {
        ConversationView {
            id: "c1".to_owned(),
            title: "t".to_owned(),
            mode: ApprovalMode::Manual,
            entries,
            streaming: None,
            busy: false,
        }
    }

    #[test]
    fn nothing_waiting_says_nothing() {
        let view = conversation(vec![
            Entry::User {
                id: "u1".to_owned(),
                text: "hi".to_owned(),
            },
            call("get_random_number", CallStatus::Done, Vec::new()),
            call(
                "delete_note",
                CallStatus::Done,
                vec![request(
                    "Delete?",
                    ElicitationRequest::Form { fields: Vec::new() },
                    ElicitationStatus::Accepted,
                )],
            ),
        ]);
        assert_eq!(waiting_announcement(&view), "");
    }

    #[test]
    fn pending_approvals_and_requests_are_named_with_their_tool_and_server() {
        let view = conversation(vec![
            call("get_random_number", CallStatus::Done, Vec::new()),
            call("add_note", CallStatus::Pending, Vec::new()),
            call(
                "delete_note",
                CallStatus::Running,
                vec![request(
                    "Delete note 3?",
                    ElicitationRequest::Form { fields: Vec::new() },
                    ElicitationStatus::Pending,
                )],
            ),
            call(
                "list_events",
                CallStatus::Running,
                vec![request(
                    "Grant access",
                    ElicitationRequest::Url {
                        url: "https://login.example.com/consent".to_owned(),
                        host: "login.example.com".to_owned(),
                    },
                    ElicitationStatus::Pending,
                )],
            ),
        ]);
        assert_eq!(
            waiting_announcement(&view),
            "Approval needed: add_note on tools. \
             Form needs your answer: delete_note on tools asks: Delete note 3? \
             Link needs your answer: list_events on tools asks you to open a page on login.example.com: Grant access"
        );
    }
}
