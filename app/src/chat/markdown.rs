//! Assistant text as sanitized HTML (server only: the browser receives the HTML, so no Markdown parser
//! is in the WASM bundle).
//!
//! CommonMark with tables and strikethrough. The sanitizing is done on pulldown-cmark's event stream,
//! before any HTML exists, never by filtering HTML afterwards:
//! - raw HTML (blocks and inline) becomes escaped text, so it shows literally;
//! - a link keeps only an `http`, `https` or `mailto` destination and gets
//!   `rel="noopener noreferrer nofollow"`; any other link becomes its plain text;
//! - an image is never loaded: it becomes a link to its URL showing its alt text (or plain text when its
//!   URL is not allowed, or when it already sits inside a link).
//!
//! The only HTML this module writes itself is the `<a>` of an allowed link, with an escaped `href`.

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd, html};

use crate::html::escape as escape_attr;

/// What every link the model writes carries: no access to this page, no referrer, no endorsement.
const REL: &str = "noopener noreferrer nofollow";

/// The destinations a link may have, as the lowercased start of its URL.
const ALLOWED_SCHEMES: [&str; 3] = ["http://", "https://", "mailto:"];

/// `text` (CommonMark) as HTML that is safe to insert into the page.
pub fn render_markdown(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, Sanitize::new(Parser::new_ext(text, options)));
    out
}

/// What an opened link or image turned into, so its end event turns into the same.
enum Opened {
    /// Written as `<a …>`: its end writes `</a>`.
    Anchor {
        /// An image shown as a link: the URL is its text if it has no alt text.
        image_url: Option<String>,
        has_text: bool,
    },
    /// Dropped: its content stays as plain text.
    Dropped,
}

/// The event-stream filter (see the module docs).
struct Sanitize<'a, I> {
    events: I,
    opened: Vec<Opened>,
    /// A pending extra event (the URL of an image without alt text, before its `</a>`).
    queued: Option<Event<'a>>,
}

impl<'a, I: Iterator<Item = Event<'a>>> Sanitize<'a, I> {
    fn new(events: I) -> Self {
        Self {
            events,
            opened: Vec::new(),
            queued: None,
        }
    }

    /// Inside an `<a>` already (a nested one would be invalid HTML).
    fn in_anchor(&self) -> bool {
        self.opened
            .iter()
            .any(|o| matches!(o, Opened::Anchor { .. }))
    }

    fn open(&mut self, link_type: LinkType, dest_url: &str, image: bool) -> Option<Event<'a>> {
        let href = match link_type {
            LinkType::Email => format!("mailto:{dest_url}"),
            _ => dest_url.to_owned(),
        };
        if self.in_anchor() || !allowed(&href) {
            self.opened.push(Opened::Dropped);
            return None;
        }
        self.opened.push(Opened::Anchor {
            image_url: image.then(|| dest_url.to_owned()),
            has_text: false,
        });
        Some(Event::Html(
            format!("<a href=\"{}\" rel=\"{REL}\">", escape_attr(&href)).into(),
        ))
    }

    fn close(&mut self) -> Option<Event<'a>> {
        match self.opened.pop() {
            Some(Opened::Anchor {
                image_url: Some(url),
                has_text: false,
            }) => {
                self.queued = Some(Event::Html("</a>".into()));
                Some(Event::Text(url.into()))
            }
            Some(Opened::Anchor { .. }) => Some(Event::Html("</a>".into())),
            Some(Opened::Dropped) | None => None,
        }
    }

    fn saw_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Opened::Anchor { has_text, .. }) = self.opened.last_mut() {
            *has_text = true;
        }
    }
}

impl<'a, I: Iterator<Item = Event<'a>>> Iterator for Sanitize<'a, I> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        if let Some(event) = self.queued.take() {
            return Some(event);
        }
        loop {
            let event = match self.events.next()? {
                // Raw HTML shows as what it is: text.
                Event::Html(html) | Event::InlineHtml(html) => {
                    self.saw_text(&html);
                    Some(Event::Text(html))
                }
                // An HTML block's lines become a paragraph of that text.
                Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::Paragraph)),
                Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::Paragraph)),
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    ..
                }) => self.open(link_type, &dest_url, false),
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    ..
                }) => self.open(link_type, &dest_url, true),
                Event::End(TagEnd::Link | TagEnd::Image) => self.close(),
                Event::Text(text) => {
                    self.saw_text(&text);
                    Some(Event::Text(text))
                }
                Event::Code(code) => {
                    self.saw_text(&code);
                    Some(Event::Code(code))
                }
                other => Some(other),
            };
            if event.is_some() {
                return event;
            }
        }
    }
}

/// Whether a link may point at `url` (pulldown-cmark has already decoded entities in it).
fn allowed(url: &str) -> bool {
    let start: String = url
        .chars()
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    ALLOWED_SCHEMES.iter().any(|s| start.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

    #[test]
    fn lists_tables_and_code_render() {
        assert_eq!(
            render_markdown("Notes:\n\n- one\n- two"),
            "<p>Notes:</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
        );
        let table = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |");
        assert!(table.starts_with("<table>"), "{table}");
        assert!(table.contains("<th>a</th>"), "{table}");
        assert!(table.contains("<td>2</td>"), "{table}");
        assert_eq!(
            render_markdown("```rust\nlet x = 1 < 2;\n```"),
            "<pre><code class=\"language-rust\">let x = 1 &lt; 2;\n</code></pre>\n"
        );
        assert_eq!(
            render_markdown("call `list_notes` ~~now~~"),
            "<p>call <code>list_notes</code> <del>now</del></p>\n"
        );
    }

    #[test]
    fn raw_html_is_inert_text() {
        let block = render_markdown("<script>alert(1)</script>");
        assert!(!block.contains("<script"), "{block}");
        assert!(
            block.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{block}"
        );

        let inline = render_markdown("see <img src=x onerror=alert(1)> and <b>bold</b>");
        assert!(!inline.contains("<img"), "{inline}");
        assert!(!inline.contains("<b>"), "{inline}");
        assert!(
            inline.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{inline}"
        );
        assert!(inline.contains("&lt;b&gt;bold&lt;/b&gt;"), "{inline}");

        let div = render_markdown("<div onclick=\"x()\">\nhi\n</div>");
        assert!(!div.contains("<div"), "{div}");
        assert!(div.starts_with("<p>&lt;div"), "{div}");
    }

    #[test]
    fn only_web_and_mail_links_and_they_carry_rel() {
        assert_eq!(
            render_markdown("[docs](https://example.com/a?b=1&c=\"2\")"),
            "<p><a href=\"https://example.com/a?b=1&amp;c=&quot;2&quot;\" rel=\"noopener noreferrer nofollow\">docs</a></p>\n"
        );
        assert_eq!(
            render_markdown("<someone@example.com>"),
            "<p><a href=\"mailto:someone@example.com\" rel=\"noopener noreferrer nofollow\">someone@example.com</a></p>\n"
        );
        for bad in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](&#106;avascript:alert(1))",
            "[x](data:text/html,hi)",
            "[x](/relative)",
            "<javascript:alert(1)>",
        ] {
            let html = render_markdown(bad);
            assert!(!html.contains("<a"), "{bad}: {html}");
            assert!(!html.contains("href"), "{bad}: {html}");
        }
        assert_eq!(render_markdown("[x](javascript:alert(1))"), "<p>x</p>\n");
    }

    #[test]
    fn images_become_links_and_are_never_loaded() {
        assert_eq!(
            render_markdown("![a](https://evil/img.png)"),
            "<p><a href=\"https://evil/img.png\" rel=\"noopener noreferrer nofollow\">a</a></p>\n"
        );
        // Without alt text the URL is the link's text.
        assert_eq!(
            render_markdown("![](https://evil/img.png)"),
            "<p><a href=\"https://evil/img.png\" rel=\"noopener noreferrer nofollow\">https://evil/img.png</a></p>\n"
        );
        // Inside a link, the image is its alt text (no nested anchor).
        assert_eq!(
            render_markdown("[![a](https://evil/i.png)](https://example.com)"),
            "<p><a href=\"https://example.com\" rel=\"noopener noreferrer nofollow\">a</a></p>\n"
        );
        let bad = render_markdown("![a](javascript:alert(1))");
        assert_eq!(bad, "<p>a</p>\n");
        for text in [
            "![a](https://evil/img.png)",
            "![a](data:image/png;base64,AAAA)",
        ] {
            assert!(!render_markdown(text).contains("<img"), "{text}");
        }
    }
}
