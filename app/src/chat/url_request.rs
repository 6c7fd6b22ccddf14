//! A URL-mode elicitation: an MCP server asks the user to open a page and complete a step there (e.g.
//! consent for a downstream API). The whole URL is shown as text with its host highlighted, so the user
//! sees where the link goes before following it; the link opens only on a click, in a new tab, with
//! neither opener nor referrer; nothing is prefetched, framed or opened on its own. Accept, Decline and
//! Cancel are the same answer row as a form's, sending no values.

use leptos::prelude::*;

use super::answer::AnswerRow;

/// The URL split around its host: (`scheme://`, host, the rest). A URL that does not start with
/// `scheme://host` (which the server's check rules out) gives no split.
pub(super) fn host_split<'a>(url: &'a str, host: &str) -> Option<(&'a str, &'a str, &'a str)> {
    if host.is_empty() {
        return None;
    }
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    if !rest.starts_with(host) {
        return None;
    }
    Some((&url[..scheme_end], &rest[..host.len()], &rest[host.len()..]))
}

/// Only http(s) links are ever rendered as links (the server admits nothing else; this is the second
/// lock on the door).
pub(super) fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

#[component]
pub fn UrlElicitation(
    conversation_id: String,
    request_id: String,
    message: String,
    url: String,
    host: String,
) -> impl IntoView {
    let shown = match host_split(&url, &host) {
        Some((scheme, host, rest)) => view! {
            {scheme.to_owned()}
            <mark class="url-host" data-testid="url-elicitation-host">{host.to_owned()}</mark>
            {rest.to_owned()}
        }
        .into_any(),
        None => view! { {url.clone()} }.into_any(),
    };
    let link = is_web_url(&url).then(|| {
        view! {
            <a
                class="url-link"
                data-testid="url-elicitation-link"
                href=url.clone()
                target="_blank"
                rel="noopener noreferrer"
                referrerpolicy="no-referrer"
            >
                {format!("Open {host} in a new tab")}
            </a>
        }
    });
    view! {
        <section
            class="elicitation url-elicitation"
            data-testid="url-elicitation"
            aria-label="A tool asks you to open a link"
        >
            <p class="question" data-testid="url-elicitation-message">{message}</p>
            <p class="url-full">
                <span class="muted">"Link: "</span>
                <code data-testid="url-elicitation-url">{shown}</code>
            </p>
            {link}
            <p class="muted" data-testid="url-elicitation-note">
                "Check the highlighted site. Open the link, complete the step there, then choose Accept. "
                "Decline if you do not want to; Cancel to stop the tool."
            </p>
            <AnswerRow
                conversation_id
                request_id
                prefix="url-elicitation"
                accepted=Callback::new(|()| Vec::new())
            />
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_split_out_of_the_url() {
        assert_eq!(
            host_split("https://login.example.com/consent?x=1", "login.example.com"),
            Some(("https://", "login.example.com", "/consent?x=1"))
        );
        assert_eq!(
            host_split("http://127.0.0.1:3400/c", "127.0.0.1"),
            Some(("http://", "127.0.0.1", ":3400/c"))
        );
        assert_eq!(
            host_split("http://[::1]:8080/", "[::1]"),
            Some(("http://", "[::1]", ":8080/"))
        );
        // A host that is not where the URL says it is: no highlight rather than a wrong one.
        assert_eq!(
            host_split(
                "https://evil.example/login.example.com",
                "login.example.com"
            ),
            None
        );
        assert_eq!(host_split("https://a.example/", ""), None);
        assert_eq!(host_split("no scheme", "a"), None);
    }

    #[test]
    fn only_web_urls_become_links() {
        assert!(is_web_url("https://a.example/"));
        assert!(is_web_url("http://127.0.0.1/"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("data:text/html,x"));
        assert!(!is_web_url("HTTPS://a.example/"));
    }
}

/// Server-side rendering of the component: what the browser receives before any script runs.
#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use leptos::prelude::*;

    use super::UrlElicitation;

    fn render(message: &str, url: &str, host: &str) -> String {
        let (message, url, host) = (message.to_owned(), url.to_owned(), host.to_owned());
        Owner::new()
            .with(move || {
                view! {
                    <UrlElicitation
                        conversation_id="c1".to_owned()
                        request_id="e1".to_owned()
                        message
                        url
                        host
                    />
                }
                .to_html()
            })
            // Without the hydration markers (`<!>`), which are not part of what is asserted.
            .replace("<!>", "")
    }

    #[test]
    fn the_link_is_shown_whole_with_its_host_marked_and_opens_only_in_a_new_tab() {
        let html = render(
            "Grant <b>Calendars.Read</b>",
            "https://login.example.com/consent?scope=a&x=<y>",
            "login.example.com",
        );
        assert!(html.contains(r#"data-testid="url-elicitation""#), "{html}");
        // The message and the URL are text, escaped.
        assert!(
            html.contains("Grant &lt;b&gt;Calendars.Read&lt;/b&gt;"),
            "{html}"
        );
        assert!(!html.contains("<b>"), "{html}");
        // The whole URL as text, the host marked: `https://<mark …>login.example.com</mark>/consent…`.
        let shown = html
            .split(r#"<code data-testid="url-elicitation-url">"#)
            .nth(1)
            .and_then(|rest| rest.split("</code>").next())
            .unwrap_or_else(|| panic!("{html}"));
        assert!(shown.starts_with("https://<mark "), "{shown}");
        assert!(
            shown.contains(r#"data-testid="url-elicitation-host""#),
            "{shown}"
        );
        assert!(
            shown.ends_with(">login.example.com</mark>/consent?scope=a&amp;x=&lt;y&gt;"),
            "{shown}"
        );
        // One link, opened by a click only, in a new tab, without opener or referrer.
        assert_eq!(html.matches("<a ").count(), 1, "{html}");
        assert!(html.contains(r#"target="_blank""#), "{html}");
        assert!(html.contains(r#"rel="noopener noreferrer""#), "{html}");
        assert!(
            html.contains("Open login.example.com in a new tab"),
            "{html}"
        );
        for never in [
            "<iframe",
            "prefetch",
            "preload",
            "prerender",
            "http-equiv",
            "<script",
        ] {
            assert!(!html.contains(never), "{never}: {html}");
        }
        for label in ["Accept", "Decline", "Cancel"] {
            assert!(
                html.contains(&format!(">{label}</button>")),
                "{label}: {html}"
            );
        }
        assert!(html.contains("then choose Accept"), "{html}");
    }

    #[test]
    fn a_url_that_is_not_a_web_url_is_never_a_link() {
        let html = render("Go", "javascript:alert(1)", "");
        assert!(!html.contains("<a "), "{html}");
        assert!(
            html.contains("javascript:alert(1)"),
            "shown as text: {html}"
        );
        assert!(!html.contains("<mark"), "{html}");
    }
}
