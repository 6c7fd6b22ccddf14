//! The IdP's HTML pages as maud templates (every value escaped by the template engine): the sign-in
//! page with the dev users and the consent line, sign-in and sign-out errors, and the signed-out page.
//! Ids, names, labels and button texts are what the tests and Playwright's page objects click.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::directory::DevUser;

/// A constant style sheet (the page's CSP allows inline styles and nothing else).
const STYLE: &str = "
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;justify-content:center}
main{background:#fff;margin:3rem 1rem;padding:2rem;border-radius:8px;max-width:28rem;width:100%;box-shadow:0 1px 4px #0002}
.warn{background:#fff4d6;border:1px solid #e8c66a;padding:.5rem .75rem;border-radius:4px;font-size:.9rem}
.user{display:block;width:100%;margin:.5rem 0;padding:.75rem;font-size:1rem;text-align:left;cursor:pointer;border:1px solid #c9ccd3;border-radius:6px;background:#fafbfc}
.user:hover{background:#eef2fb} .cancel{margin-top:1rem;background:none;border:none;color:#555;cursor:pointer;text-decoration:underline}
code{background:#f0f1f3;padding:0 .25rem;border-radius:3px}";

fn layout(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
    .into_string()
}

/// What the sign-in page shows and posts back.
pub struct SignIn<'a> {
    /// The requesting application's display name.
    pub client: &'a str,
    /// The scopes it asks for, as granted.
    pub scopes: Vec<&'a str>,
    /// The authorization request, carried through the form as hidden fields.
    pub hidden: Vec<(&'static str, &'a str)>,
    pub users: &'a [DevUser],
}

/// The sign-in page: one button per dev user, and Cancel.
pub fn sign_in(page: &SignIn<'_>) -> String {
    let body = html! {
        h1 { "Sign in" }
        p.warn { "Development identity provider: no passwords, not for production." }
        p data-testid="consent" {
            strong { (page.client) } " asks for: "
            @for (i, scope) in page.scopes.iter().enumerate() {
                @if i > 0 { ", " }
                code { (scope) }
            }
        }
        form method="post" {
            @for (name, value) in &page.hidden {
                input type="hidden" name=(name) value=(value);
            }
            @for user in page.users {
                button.user type="submit" name="user" value=(user.username)
                    data-testid={ "dev-user-" (user.username) } {
                    strong { (user.name) } br; small { (user.email) }
                }
            }
            button.cancel type="submit" name="action" value="cancel" { "Cancel" }
        }
    };
    layout("Sign in", body)
}

/// A sign-in request that cannot be sent back to the client.
pub fn sign_in_error(message: &str) -> String {
    layout(
        "Sign-in error",
        html! { h1 { "Sign-in error" } p { (message) } },
    )
}

/// A logout request naming a redirect URI the client never registered.
pub fn sign_out_error(target: &str) -> String {
    layout(
        "Sign-out error",
        html! {
            h1 { "Sign-out error" }
            p { (target) " is not a registered post-logout redirect URI." }
        },
    )
}

/// Logout without a redirect.
pub fn signed_out() -> String {
    layout(
        "Signed out",
        html! { h1 { "You are signed out" } p { "You can close this window." } },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_text_and_attributes() {
        let users = [DevUser {
            username: "a".into(),
            name: "<b>Al</b>".into(),
            email: "a@x".into(),
            oid: "o".into(),
        }];
        let html = sign_in(&SignIn {
            client: "C&C",
            scopes: vec!["openid", "x\"y"],
            hidden: vec![("state", "s\"><script>")],
            users: &users,
        });
        assert!(html.contains("C&amp;C"));
        assert!(html.contains("&lt;b&gt;Al&lt;/b&gt;"));
        assert!(html.contains(r#"value="s&quot;&gt;&lt;script&gt;""#));
        assert!(html.contains(r#"data-testid="dev-user-a""#));
        assert!(!html.contains("<script>"));
        assert!(sign_out_error("<x>").contains("&lt;x&gt; is not a registered"));
    }
}
