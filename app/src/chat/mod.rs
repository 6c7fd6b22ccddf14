//! The agent chat as the UI sees it: conversations, their entries (messages, tool calls with their
//! approvals and elicitation forms), the server functions that act on them, and the components.
//!
//! Rooms:
//! - `status`: the closed sets (approval mode, call status, who decided, elicitation status, the
//!   user's answers) with their one text form.
//! - `data`: the display data (conversation list and view, transcript entries, tool calls,
//!   elicitation forms' fields, audit records).
//! - `error`: [`ChatError`], what the browser may learn of a failure.
//! - `api`: the server functions.
//! - [`backend`] (server only): the trait the server crate implements.
//! - `announce`: what the live region says about what waits for the user.
//! - `page`: the Chat page, rendered on the server (the new-chat composer or the selected
//!   conversation), and its islands, the only parts the browser runs; `list`: its conversation list
//!   (rename, delete, the open one's live title); `transcript`: one
//!   conversation's entries and message box; `tool_call`: a tool call's card; `form`: an elicitation
//!   request rendered as a form; `answer`: the Accept / Decline / Cancel row both kinds of request
//!   end with; `url_request`: a URL-mode elicitation (the link shown in full, opened
//!   only by a click); `result` (server only): a structured tool result as a table or key/value rows,
//!   rendered to HTML; `audit`: the
//!   Audit page.
//! - `text_block`: a card's arguments or text result with its copy button, folded when long.
//! - [`pretty`]: tool JSON pretty-printed as received (the server runs it) and when a block folds.
//! - [`structured`] (server only): shaping a result's `structuredContent` for display (pure, capped);
//!   `chart` (server only): whether a shaped table gets a bar chart, and its bars (the same pure step).
//! - `markdown` (server only): assistant text as sanitized HTML (the browser gets the HTML, so no
//!   Markdown parser is in the WASM bundle).
//! - `when`: the list's relative times ("5 min ago").
//! - [`delta`]: live updates as deltas (`diff` on the server, `apply` in the browser).
//! - `live`: the browser side of the live updates (Server-Sent Events).
//!
//! Everything here is display data: ids are opaque, tokens never appear, and every server function
//! acts for the signed-in user only (another user's ids answer 404).

mod announce;
mod answer;
pub(crate) mod api;
mod audit;
#[cfg(feature = "ssr")]
pub mod backend;
#[cfg(feature = "ssr")]
mod chart;
mod data;
pub mod delta;
mod error;
mod form;
mod list;
mod live;
#[cfg(feature = "ssr")]
mod markdown;
mod page;
pub mod pretty;
#[cfg(feature = "ssr")]
mod result;
mod status;
#[cfg(feature = "ssr")]
pub mod structured;
mod text_block;
mod tool_call;
mod transcript;
mod url_request;
mod when;

/// Runs a server call the user started (a click, a key): `busy` is true while it runs, and `done` gets
/// its result. When `done` leaves the page ([`load`]), `busy` stays true until the next
/// page is there, so nothing is sent twice meanwhile. (Leaner in the bundle than an `Action`, whose
/// kept value and input these calls do not need.)
pub(crate) fn spawn_call<T: 'static>(
    busy: leptos::prelude::RwSignal<bool>,
    call: impl Future<Output = T> + 'static,
    done: impl FnOnce(T) + 'static,
) {
    use leptos::prelude::*;
    busy.set(true);
    leptos::task::spawn_local(async move {
        let result = call.await;
        done(result);
        if !LEAVING.get() {
            let _ = busy.try_set(false);
        }
    });
}

thread_local! {
    /// The page is being replaced (islands run on one thread; see [`spawn_call`]).
    static LEAVING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Loads `path` in this tab (islands call it in the browser only).
pub(crate) fn load(path: &str) {
    LEAVING.set(true);
    let _ = leptos::prelude::window().location().set_href(path);
}

pub use self::{
    api::*,
    audit::AuditPage,
    data::{
        AuditRecord, ConversationSummary, ConversationView, ElicitationRequest, ElicitationView,
        Entry, FieldKind, FormField, MAX_TITLE_CHARS, ToolCallView, clean_title,
    },
    error::ChatError,
    page::ChatPage,
    status::{ApprovalMode, CallStatus, DecidedBy, Decision, ElicitationAction, ElicitationStatus},
};
#[cfg(feature = "ssr")]
pub use self::{markdown::render_markdown, result::render_structured};
