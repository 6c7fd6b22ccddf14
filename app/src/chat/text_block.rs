//! A block of a tool call's text in its card (the arguments, a result as text): a `<pre>` of text nodes
//! (never markup), a copy button, and, when long, folded in a native `<details>` whose summary previews
//! the text and gives its size. A native disclosure opens and closes before (and without) the WASM
//! bundle, keyboards and screen readers know it, and no state of ours can reset it on a live update.

use leptos::prelude::*;

use super::pretty::fold;

/// What a block holds: its name on the copy button and its test ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlockKind {
    Arguments,
    Result,
}

impl BlockKind {
    fn copy_name(self) -> &'static str {
        match self {
            Self::Arguments => "Copy arguments",
            Self::Result => "Copy result",
        }
    }

    fn test_id(self) -> &'static str {
        match self {
            Self::Arguments => "tool-args",
            Self::Result => "tool-result",
        }
    }

    fn copy_test_id(self) -> &'static str {
        match self {
            Self::Arguments => "copy-args",
            Self::Result => "copy-result",
        }
    }

    fn fold_test_id(self) -> &'static str {
        match self {
            Self::Arguments => "tool-args-fold",
            Self::Result => "tool-result-fold",
        }
    }
}

/// `text` as the card shows it. `class` is the `<pre>`'s; `foldable` is false where the block already
/// sits in a fold (a structured result's text form).
pub(super) fn text_block(
    kind: BlockKind,
    text: String,
    class: &'static str,
    foldable: bool,
) -> impl IntoView {
    let copy = view! { <CopyButton kind text=text.clone() /> };
    let pre = view! { <pre class=class data-testid=kind.test_id()>{text.clone()}</pre> };
    let body = match fold(&text).filter(|_| foldable) {
        Some(folded) => view! {
            <details class="fold" data-testid=kind.fold_test_id()>
                <summary data-testid="fold-summary">
                    <code class="fold-preview">{folded.preview.clone()}</code>
                    " "
                    <span class="muted fold-size">{folded.size()}</span>
                </summary>
                {pre}
            </details>
        }
        .into_any(),
        None => pre.into_any(),
    };
    view! { <div class="text-block">{copy}{body}</div> }
}

/// How long "Copied" (or "Copy failed") shows before the button says "Copy" again.
#[cfg(feature = "hydrate")]
const COPIED_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// Copies `text` exactly as shown. Its accessible name stays "Copy arguments" / "Copy result"; the
/// outcome shows on the button for a moment and is announced through a status region.
#[component]
fn CopyButton(kind: BlockKind, text: String) -> impl IntoView {
    // The last click's outcome while it shows: copied, or not.
    let outcome = RwSignal::new(None::<bool>);
    // Which click the outcome belongs to: an older click's timer leaves a newer outcome alone.
    let clicks = StoredValue::new(0u32);
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            clicks.update_value(|n| *n = n.wrapping_add(1));
            let click = clicks.get_value();
            leptos::task::spawn_local(async move {
                let copied = clipboard::write_text(&text).await;
                // The card may be gone by now (a live update re-rendered it): the `try_` forms then
                // do nothing instead of panicking.
                let _ = outcome.try_set(Some(copied));
                set_timeout(
                    move || {
                        if clicks.try_get_value() == Some(click) {
                            let _ = outcome.try_set(None);
                        }
                    },
                    COPIED_FOR,
                );
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&text, clicks);
    };
    let label = move || match outcome.get() {
        None => "Copy",
        Some(true) => "Copied",
        Some(false) => "Copy failed",
    };
    let announced = move || match outcome.get() {
        None => "",
        Some(true) => "Copied",
        Some(false) => "Copy failed",
    };
    view! {
        <button
            type="button"
            class="link copy"
            aria-label=kind.copy_name()
            data-testid=kind.copy_test_id()
            on:click=on_click
        >
            {label}
        </button>
        <span class="visually-hidden" role="status">{announced}</span>
    }
}

#[cfg(feature = "hydrate")]
mod clipboard {
    use wasm_bindgen::{JsValue, prelude::wasm_bindgen};

    #[wasm_bindgen]
    extern "C" {
        /// `navigator.clipboard.writeText`: rejects when the page may not write the clipboard, throws
        /// when there is none (outside a secure context); both are an `Err`.
        #[wasm_bindgen(js_namespace = ["navigator", "clipboard"], js_name = writeText, catch)]
        async fn write_text_js(text: &str) -> Result<JsValue, JsValue>;
    }

    /// Puts `text` on the clipboard; false when the browser refused.
    pub async fn write_text(text: &str) -> bool {
        write_text_js(text).await.is_ok()
    }
}

/// Server-side rendering: escaped text, folded only when long, a copy button per block.
#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use leptos::prelude::*;

    use super::{BlockKind, text_block};
    use crate::chat::pretty::FOLD_LINES;

    fn render(kind: BlockKind, text: &str, foldable: bool) -> String {
        let text = text.to_owned();
        // Without the hydration markers (`<!>`), which are not part of what is asserted.
        Owner::new()
            .with(move || text_block(kind, text, "result", foldable).to_html())
            .replace("<!>", "")
    }

    #[test]
    fn a_short_block_is_open_escaped_and_copyable() {
        let html = render(BlockKind::Arguments, "{\n  \"text\": \"<b>x</b>\"\n}", true);
        assert!(!html.contains("<details"), "{html}");
        assert!(html.contains(r#"data-testid="tool-args""#), "{html}");
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains(r#"aria-label="Copy arguments""#), "{html}");
        assert!(html.contains(r#"data-testid="copy-args""#), "{html}");
        assert!(html.contains(">Copy</button>"), "{html}");
    }

    #[test]
    fn a_long_block_is_folded_with_its_preview_and_size() {
        let lines: Vec<String> = (1..=FOLD_LINES + 1)
            .map(|i| format!("#{i} <i>n</i>"))
            .collect();
        let html = render(BlockKind::Result, &lines.join("\n"), true);
        assert!(
            html.contains(r#"<details data-testid="tool-result-fold" class="fold">"#),
            "{html}"
        );
        assert!(!html.contains(" open"), "{html}");
        assert!(html.contains("#1 &lt;i&gt;n&lt;/i&gt;</code>"), "{html}");
        assert!(
            html.contains(&format!("{} lines,", FOLD_LINES + 1)),
            "{html}"
        );
        assert!(html.contains(r#"aria-label="Copy result""#), "{html}");
        // Already inside a fold: not folded again.
        let html = render(BlockKind::Result, &lines.join("\n"), false);
        assert!(!html.contains("<details"), "{html}");
    }
}
