//! The chat's small closed sets (approval mode, call status, who decided, elicitation status, the
//! user's answers), each with its one text form.
//!
//! The text forms (`strum`: `Display`, `FromStr`, `Into<&'static str>`, `VARIANTS`) are what the
//! server stores and what the page shows in classes, `data-*` attributes and labels; nothing else
//! spells them. The serde forms (the variant names, except [`DecidedBy`]) are the wire format of the
//! server functions and the live updates.

use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

/// How a conversation's tool calls are approved.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum ApprovalMode {
    /// Every proposed call waits for the user's Approve or Decline.
    #[default]
    Manual,
    /// Calls run without asking, except tools annotated destructive.
    Auto,
    /// Calls run without asking; MCP elicitation requests are shown as forms.
    Elicitation,
}

impl ApprovalMode {
    /// What the mode selector shows.
    pub fn label(self) -> &'static str {
        match self {
            Self::Manual => "Manual approval",
            Self::Auto => "Auto (no approval)",
            Self::Elicitation => "Elicitation",
        }
    }
}

/// Where a tool call stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum CallStatus {
    /// Waiting for the user's decision.
    Pending,
    Approved,
    Declined,
    Running,
    Done,
    Failed,
}

impl CallStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Declined | Self::Done | Self::Failed)
    }
}

/// Who let a tool call run (or declined it).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum DecidedBy {
    /// The user pressed Approve or Decline.
    User,
    /// The conversation's mode let it run without asking.
    Auto,
    /// The user had allowed this (read-only) tool for the rest of the conversation.
    AlwaysAllow,
}

/// Where an elicitation request stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    Display,
    EnumString,
    IntoStaticStr,
    VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum ElicitationStatus {
    Pending,
    Accepted,
    Declined,
    Cancelled,
    /// Nobody answered in time (or the server restarted): cancelled.
    Expired,
}

/// The user's answer to an elicitation request. Values are as typed; the server checks them against
/// the requested schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElicitationAction {
    Accept,
    Decline,
    Cancel,
}

/// The user's decision on a pending tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Approve,
    /// Approve, and approve this (read-only) tool without asking for the rest of the conversation.
    ApproveAlways,
    Decline,
}

/// The one text form of each set: `as_str` (what is stored and shown) and `parse` (`None` for anything else),
/// both from the strum derives.
macro_rules! text_form {
    ($($name:ident),*) => {$(
        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(value: &str) -> Option<Self> {
                value.parse().ok()
            }
        }
    )*};
}

text_form!(ApprovalMode, CallStatus, DecidedBy, ElicitationStatus);

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    /// The stored and displayed forms are the ones the database rows and the browser tests hold.
    #[test]
    fn text_forms_are_unchanged() {
        let modes: Vec<&str> = ApprovalMode::VARIANTS.iter().map(|m| m.as_str()).collect();
        assert_eq!(modes, ["manual", "auto", "elicitation"]);
        let statuses: Vec<&str> = CallStatus::VARIANTS.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            statuses,
            [
                "pending", "approved", "declined", "running", "done", "failed"
            ]
        );
        let deciders: Vec<&str> = DecidedBy::VARIANTS.iter().map(|d| d.as_str()).collect();
        assert_eq!(deciders, ["user", "auto", "always-allow"]);
        let elicitations: Vec<&str> = ElicitationStatus::VARIANTS
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(
            elicitations,
            ["pending", "accepted", "declined", "cancelled", "expired"]
        );
    }

    #[test]
    fn text_forms_round_trip_and_nothing_else_parses() {
        for mode in ApprovalMode::VARIANTS {
            assert_eq!(ApprovalMode::parse(mode.as_str()), Some(*mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
        for status in CallStatus::VARIANTS {
            assert_eq!(CallStatus::parse(status.as_str()), Some(*status));
        }
        for by in DecidedBy::VARIANTS {
            assert_eq!(DecidedBy::parse(by.as_str()), Some(*by));
            // The wire form is the text form too.
            assert_eq!(
                serde_json::to_string(by).unwrap(),
                format!("\"{}\"", by.as_str())
            );
        }
        for status in ElicitationStatus::VARIANTS {
            assert_eq!(ElicitationStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(ApprovalMode::parse("Manual"), None);
        assert_eq!(CallStatus::parse(""), None);
        assert_eq!(DecidedBy::parse("always_allow"), None);
        assert_eq!(ElicitationStatus::parse("nobody"), None);
    }
}
