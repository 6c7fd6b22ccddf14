//! The chat domain: typed ids, the states a conversation and its tool calls go through, and the records
//! a store keeps. Every text form (what the database stores) is declared here, once, through `strum`.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strum::{AsRefStr, Display, EnumString, IntoStaticStr, VariantArray};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id (128 bits, hex).
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4().simple().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id!(
    /// A conversation.
    ConversationId
);
id!(
    /// A message of a conversation.
    MessageId
);
id!(
    /// A tool call the model proposed (ours, not the model's own call id).
    CallId
);
id!(
    /// An elicitation request an MCP server made during a tool call.
    ElicitationId
);
id!(
    /// The user a conversation belongs to and whose delegated tokens its tool calls use
    /// (tenant + object id, as the sign-in derives it).
    UserKey
);
id!(
    /// SHA-256 (hex) of a call's arguments exactly as the model sent them; an approval names it.
    ArgsHash
);

impl ArgsHash {
    pub fn of(arguments: &str) -> Self {
        Self(hex::encode(Sha256::digest(arguments.as_bytes())))
    }
}

/// Text forms: `strum` gives `as_ref()`/`Display` and `FromStr`; `TryFrom<String>` lets stores decode rows.
macro_rules! text_form {
    ($name:ident) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl TryFrom<String> for $name {
            type Error = strum::ParseError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }
    };
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Display, EnumString, AsRefStr, IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    /// Something the application says (model unavailable, step limit…); never sent to the model.
    Notice,
}
text_form!(Role);

/// How a conversation's tool calls are approved.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Display,
    EnumString,
    AsRefStr,
    IntoStaticStr,
    VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum ApprovalMode {
    /// Every proposed call waits for the user's decision (read-only tools may be always allowed).
    #[default]
    Manual,
    /// Calls run without asking, except tools annotated destructive.
    Auto,
    /// Calls run without asking; MCP elicitation requests are put to the user.
    Elicitation,
}
text_form!(ApprovalMode);

/// Where a tool call stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Display, EnumString, AsRefStr, IntoStaticStr, VariantArray,
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
text_form!(CallStatus);

impl CallStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Declined | Self::Done | Self::Failed)
    }
}

/// Who decided a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Display, EnumString, AsRefStr, IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum DecidedBy {
    /// The user, by an explicit decision.
    User,
    /// The conversation's mode (Auto, Elicitation).
    Auto,
    /// The user's earlier "always allow this tool in this conversation".
    AlwaysAllow,
}
text_form!(DecidedBy);

/// What the user decided about a pending call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    /// Approve, and every later call of this (read-only) tool in this conversation.
    ApproveAlways,
    Decline,
}

/// Where an elicitation request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Display, EnumString, AsRefStr, IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum ElicitationStatus {
    Pending,
    Accepted,
    Declined,
    Cancelled,
    /// Nobody answered in time (or the process restarted).
    Expired,
}
text_form!(ElicitationStatus);

/// The user's answer to an elicitation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElicitationAction {
    Accept,
    Decline,
    Cancel,
}

impl ElicitationAction {
    /// The status a request closed by this answer has.
    pub fn status(self) -> ElicitationStatus {
        match self {
            Self::Accept => ElicitationStatus::Accepted,
            Self::Decline => ElicitationStatus::Declined,
            Self::Cancel => ElicitationStatus::Cancelled,
        }
    }
}

/// A conversation.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: ConversationId,
    pub user: UserKey,
    pub title: String,
    pub mode: ApprovalMode,
    /// Function names the user allowed for the rest of the conversation.
    pub always_allow: Vec<String>,
    /// Unix milliseconds.
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: MessageId,
    pub role: Role,
    pub content: String,
}

/// A stored tool call.
#[derive(Debug, Clone)]
pub struct Call {
    pub id: CallId,
    pub message_id: MessageId,
    /// The model's own id for the call (sent back with the result).
    pub model_call_id: String,
    /// The name the model used (namespaced `<server>__<tool>` when there are several servers).
    pub function_name: String,
    pub server: String,
    pub tool: String,
    /// Exactly as the model sent them (JSON text).
    pub arguments: String,
    pub args_hash: ArgsHash,
    pub read_only: bool,
    pub destructive: bool,
    pub status: CallStatus,
    pub decided_by: Option<DecidedBy>,
    pub result: Option<String>,
    /// The result's `structuredContent`, as JSON text, when the tool gave one (shown as a table or a
    /// key/value list; the model reads `result`).
    pub structured: Option<String>,
    pub is_error: bool,
}

/// A stored elicitation request.
#[derive(Debug, Clone)]
pub struct Elicitation {
    pub id: ElicitationId,
    pub call_id: CallId,
    pub message: String,
    pub kind: ElicitationKind,
    pub status: ElicitationStatus,
    /// An accepted form's content as JSON text, once answered.
    pub answer: Option<String>,
}

/// What an MCP server asks of the user during a tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElicitationKind {
    /// Fill in a form. `schema` is the requested schema (MCP's restricted JSON Schema) as JSON text,
    /// already known to render as a [`crate::forms::Form`] (read it with [`crate::forms::form_from_json`]).
    Form { schema: String },
    /// Visit a page and complete a step there (third-party consent, anything secret): the answer is
    /// only Accept / Decline / Cancel, never content.
    Url { url: ElicitationUrl },
}

impl ElicitationKind {
    /// The stored text form of the kind (`form` | `url`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Form { .. } => "form",
            Self::Url { .. } => "url",
        }
    }
}

/// Longest URL a URL-mode elicitation may carry (common browser and server limits sit near 2 KB; a
/// longer one is more likely a smuggling attempt than a consent page).
pub const MAX_ELICITATION_URL_CHARS: usize = 2048;

/// The URL of a URL-mode elicitation, checked: absolute `http`/`https`, with a host, without user
/// information (`https://trusted.example@evil.example/` reads as the first host but goes to the
/// second), without whitespace or control characters, at most [`MAX_ELICITATION_URL_CHARS`]. Its text
/// is the URL's normalised form (IDN hosts in punycode, so look-alike letters show as what they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElicitationUrl(url::Url);

/// Why a URL-mode elicitation's URL was refused (logged; the request is declined).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("longer than {MAX_ELICITATION_URL_CHARS} characters")]
    TooLong,
    #[error("contains whitespace or control characters")]
    Characters,
    #[error("not an absolute URL: {0}")]
    Parse(url::ParseError),
    #[error("scheme {0:?} (only http and https)")]
    Scheme(String),
    #[error("carries user information")]
    UserInfo,
    #[error("has no host")]
    NoHost,
}

impl ElicitationUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlRefused> {
        if raw.chars().count() > MAX_ELICITATION_URL_CHARS {
            return Err(UrlRefused::TooLong);
        }
        // The URL parser silently drops tabs and newlines and trims spaces: what the user is shown must
        // be what the server sent, so such input is refused rather than repaired.
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlRefused::Characters);
        }
        let url = url::Url::parse(raw).map_err(UrlRefused::Parse)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefused::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefused::UserInfo);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(UrlRefused::NoHost);
        }
        // Normalising can lengthen it (percent-encoding); the cap holds for what is shown.
        if url.as_str().chars().count() > MAX_ELICITATION_URL_CHARS {
            return Err(UrlRefused::TooLong);
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host as the URL's text spells it (`example.com`, `xn--…`, `127.0.0.1`, `[::1]`).
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

impl fmt::Display for ElicitationUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool call as the model proposed it, before it is stored.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub model_call_id: String,
    pub function_name: String,
    pub server: String,
    pub tool: String,
    pub arguments: String,
    pub read_only: bool,
    pub destructive: bool,
    /// Pending, or already approved by the conversation's mode.
    pub status: CallStatus,
    pub decided_by: Option<DecidedBy>,
}

/// How a tool call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// Done, failed or declined.
    pub status: CallStatus,
    /// The result (or the reason) as text for the model and the user.
    pub text: String,
    /// The result's `structuredContent` as JSON text, if any.
    pub structured: Option<String>,
    pub is_error: bool,
}

impl Finish {
    pub fn failed(text: impl Into<String>) -> Self {
        Self {
            status: CallStatus::Failed,
            text: text.into(),
            structured: None,
            is_error: true,
        }
    }
}

/// Where one run of the loop spent its time (microseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnTiming {
    pub total_us: i64,
    pub model_us: i64,
    pub tool_us: i64,
}

/// Everything a conversation holds, in order.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub messages: Vec<Message>,
    pub calls: Vec<Call>,
    pub elicitations: Vec<Elicitation>,
}

impl Transcript {
    /// The calls proposed by `message`, in the order the model gave them.
    pub fn calls_of<'a>(&'a self, message: &'a MessageId) -> impl Iterator<Item = &'a Call> + 'a {
        self.calls.iter().filter(move |c| &c.message_id == message)
    }

    /// The elicitation requests made during `call`.
    pub fn elicitations_of<'a>(
        &'a self,
        call: &'a CallId,
    ) -> impl Iterator<Item = &'a Elicitation> + 'a {
        self.elicitations.iter().filter(move |e| &e.call_id == call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for status in CallStatus::VARIANTS {
            assert_eq!(status.as_str().parse::<CallStatus>().unwrap(), *status);
        }
        for mode in ApprovalMode::VARIANTS {
            assert_eq!(ApprovalMode::try_from(mode.to_string()).unwrap(), *mode);
        }
        assert_eq!(DecidedBy::AlwaysAllow.as_str(), "always-allow");
        assert_eq!(Role::Notice.as_str(), "notice");
        assert_eq!(ElicitationStatus::Expired.as_str(), "expired");
        assert!("yolo".parse::<ApprovalMode>().is_err());
    }

    #[test]
    fn elicitation_urls_must_be_plain_absolute_http_urls() {
        let url = ElicitationUrl::parse("https://login.example.com/consent?scope=a%20b#x").unwrap();
        assert_eq!(url.host(), "login.example.com");
        assert_eq!(
            url.as_str(),
            "https://login.example.com/consent?scope=a%20b#x"
        );
        assert_eq!(
            ElicitationUrl::parse("http://127.0.0.1:3400/consent")
                .unwrap()
                .host(),
            "127.0.0.1"
        );
        // Look-alike hosts are shown as what they are.
        assert_eq!(
            ElicitationUrl::parse("https://exаmple.com/")
                .unwrap()
                .host(),
            "xn--exmple-4nf.com"
        );
        let refused = |raw: &str| ElicitationUrl::parse(raw).unwrap_err();
        assert!(matches!(refused("/relative/path"), UrlRefused::Parse(_)));
        assert!(matches!(
            refused("javascript:alert(1)"),
            UrlRefused::Scheme(_)
        ));
        assert!(matches!(
            refused("data:text/html,<b>x</b>"),
            UrlRefused::Scheme(_)
        ));
        assert!(matches!(
            refused("file:///etc/passwd"),
            UrlRefused::Scheme(_)
        ));
        assert_eq!(
            refused("https://trusted.example@evil.example/"),
            UrlRefused::UserInfo
        );
        assert_eq!(
            refused("https://user:pw@evil.example/"),
            UrlRefused::UserInfo
        );
        assert_eq!(refused("https://evil.example/\n"), UrlRefused::Characters);
        assert_eq!(refused("https://a.example/\tb"), UrlRefused::Characters);
        assert_eq!(refused(" https://a.example/"), UrlRefused::Characters);
        let long = format!(
            "https://a.example/{}",
            "x".repeat(MAX_ELICITATION_URL_CHARS)
        );
        assert_eq!(refused(&long), UrlRefused::TooLong);
        let kind = ElicitationKind::Url {
            url: ElicitationUrl::parse("https://a.example/").unwrap(),
        };
        assert_eq!(kind.as_str(), "url");
        assert_eq!(
            ElicitationKind::Form {
                schema: "{}".into()
            }
            .as_str(),
            "form"
        );
    }

    #[test]
    fn ids_are_random_hex_and_hashes_are_sha256() {
        let a = CallId::random();
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, CallId::random());
        assert_eq!(
            ArgsHash::of("{}").as_str(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
