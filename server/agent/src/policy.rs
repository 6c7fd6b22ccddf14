//! The approval policy: what a conversation's mode decides on its own. Only the user's mode choice and
//! the user's own "always allow" ever approve anything; nothing the model or a tool says is read as a
//! decision.

use crate::domain::{ApprovalMode, Call, Conversation, DecidedBy};

/// The facts about a call the policy looks at.
#[derive(Debug, Clone, Copy)]
pub struct CallFacts<'a> {
    pub function_name: &'a str,
    pub read_only: bool,
    pub destructive: bool,
}

impl<'a> From<&'a Call> for CallFacts<'a> {
    fn from(call: &'a Call) -> Self {
        Self {
            function_name: &call.function_name,
            read_only: call.read_only,
            destructive: call.destructive,
        }
    }
}

/// The decision the conversation's mode makes about a call without asking, if any.
pub fn automatic_decision(conversation: &Conversation, call: CallFacts<'_>) -> Option<DecidedBy> {
    match conversation.mode {
        ApprovalMode::Manual => (call.read_only
            && conversation
                .always_allow
                .iter()
                .any(|f| f == call.function_name))
        .then_some(DecidedBy::AlwaysAllow),
        ApprovalMode::Auto => (!call.destructive).then_some(DecidedBy::Auto),
        ApprovalMode::Elicitation => Some(DecidedBy::Auto),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConversationId, UserKey};

    fn conversation(mode: ApprovalMode, always: &[&str]) -> Conversation {
        Conversation {
            id: ConversationId::from("c"),
            user: UserKey::from("u"),
            title: String::new(),
            mode,
            always_allow: always.iter().map(|s| (*s).to_owned()).collect(),
            updated_at: 0,
        }
    }

    fn call(function_name: &str, read_only: bool, destructive: bool) -> CallFacts<'_> {
        CallFacts {
            function_name,
            read_only,
            destructive,
        }
    }

    #[test]
    fn manual_asks_unless_a_read_only_tool_is_always_allowed() {
        let c = conversation(ApprovalMode::Manual, &["list_notes", "delete_note"]);
        assert_eq!(automatic_decision(&c, call("add_note", false, false)), None);
        assert_eq!(
            automatic_decision(&c, call("list_notes", true, false)),
            Some(DecidedBy::AlwaysAllow)
        );
        // Not read-only: an "always" entry (which the API refuses to make) still decides nothing.
        assert_eq!(
            automatic_decision(&c, call("delete_note", false, true)),
            None
        );
    }

    #[test]
    fn auto_still_asks_for_destructive_tools() {
        let c = conversation(ApprovalMode::Auto, &[]);
        assert_eq!(
            automatic_decision(&c, call("add_note", false, false)),
            Some(DecidedBy::Auto)
        );
        assert_eq!(
            automatic_decision(&c, call("delete_note", false, true)),
            None
        );
        let e = conversation(ApprovalMode::Elicitation, &[]);
        assert_eq!(
            automatic_decision(&e, call("delete_note", false, true)),
            Some(DecidedBy::Auto)
        );
    }
}
