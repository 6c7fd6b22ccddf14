//! The IdP's HTML pages as maud templates (every value escaped by the template engine): the sign-in
//! page with the dev users and the consent line, the consent page (permissions a user grants a client),
//! sign-in and sign-out errors, the signed-out page, and the device verification pages (enter the code,
//! choose the user, accept; RFC 8628).
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
.scopes{padding-left:1.25rem} .scopes li{margin:.5rem 0}
.accept{margin-top:1rem;padding:.6rem 1.5rem;font-size:1rem;border:none;border-radius:6px;background:#2f5bd3;color:#fff;cursor:pointer}
code{background:#f0f1f3;padding:0 .25rem;border-radius:3px}
.error{background:#fde8e8;border:1px solid #e4a1a1;padding:.5rem .75rem;border-radius:4px}
.code{display:block;width:100%;box-sizing:border-box;margin:.5rem 0;padding:.6rem;font-size:1.4rem;letter-spacing:.15rem;font-family:ui-monospace,monospace;text-transform:uppercase}";

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

/// "<client> asks for: <scope>, <scope>" (the sign-in and device pages).
fn asks_for(client: &str, scopes: &[&str]) -> Markup {
    html! {
        p data-testid="consent" {
            strong { (client) } " asks for: "
            @for (i, scope) in scopes.iter().enumerate() {
                @if i > 0 { ", " }
                code { (scope) }
            }
        }
    }
}

/// The request carried through a form.
fn hidden_fields(hidden: &[(&str, &str)]) -> Markup {
    html! {
        @for (name, value) in hidden {
            input type="hidden" name=(name) value=(value);
        }
    }
}

/// One submit button per dev user.
fn user_buttons(users: &[DevUser]) -> Markup {
    html! {
        @for user in users {
            button.user type="submit" name="user" value=(user.username)
                data-testid={ "dev-user-" (user.username) } {
                strong { (user.name) } br; small { (user.email) }
            }
        }
    }
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
        (asks_for(page.client, &page.scopes))
        form method="post" {
            (hidden_fields(&page.hidden))
            (user_buttons(page.users))
            button.cancel type="submit" name="action" value="cancel" { "Cancel" }
        }
    };
    layout("Sign in", body)
}

/// What the consent page shows and posts back.
pub struct Consent<'a> {
    /// The requesting application's display name.
    pub client: &'a str,
    pub user: &'a DevUser,
    /// Each permission asked for: `(scope as requested, plain description)`.
    pub scopes: Vec<(String, String)>,
    /// The authorization request, the chosen user and the page's ticket, as hidden fields.
    pub hidden: Vec<(&'static str, &'a str)>,
}

/// The consent page: who asks, for whom, for what; Accept or Cancel.
pub fn consent(page: &Consent<'_>) -> String {
    let body = html! {
        h1 { "Permissions requested" }
        p.warn { "Development identity provider: no passwords, not for production." }
        p data-testid="consent-client" {
            strong { (page.client) } " wants to use your account, "
            strong { (page.user.name) } " (" (page.user.email) "), to:"
        }
        ul.scopes data-testid="consent-scopes" {
            @for (scope, description) in &page.scopes {
                li data-testid={ "consent-scope-" (scope) } {
                    (description) br; small { code { (scope) } }
                }
            }
        }
        p { "If you accept, it can do this for you until the consent is removed. Cancel to go back \
             without granting anything." }
        form method="post" {
            (hidden_fields(&page.hidden))
            button.accept type="submit" name="action" value="consent" data-testid="consent-accept" {
                "Accept"
            }
            br;
            button.cancel type="submit" name="action" value="cancel" data-testid="consent-cancel" {
                "Cancel"
            }
        }
    };
    layout("Permissions requested", body)
}

/// The device verification page's first step: the code shown on the device.
pub struct DeviceCode<'a> {
    /// Where the form posts (the verification URI).
    pub action: &'a str,
    /// Prefilled (from `verification_uri_complete`, or what was typed before an error).
    pub user_code: &'a str,
    /// Why the last code was refused.
    pub error: Option<&'a str>,
}

/// "Enter the code shown on your device".
pub fn device_code(page: &DeviceCode<'_>) -> String {
    let body = html! {
        h1 { "Sign in on another device" }
        p.warn { "Development identity provider: no passwords, not for production." }
        @if let Some(error) = page.error {
            p.error role="alert" data-testid="device-error" { (error) }
        }
        form method="post" action=(page.action) {
            label for="user_code" { "Enter the code shown on your device:" }
            input.code id="user_code" type="text" name="user_code" value=(page.user_code)
                autocomplete="off" autocapitalize="characters" spellcheck="false" autofocus
                placeholder="XXXX-XXXX" data-testid="device-user-code";
            button.accept type="submit" name="action" value="code" data-testid="device-code-submit" {
                "Next"
            }
        }
    };
    layout("Enter code", body)
}

/// The second step: who signs in, for which application and scopes.
pub struct DeviceChoose<'a> {
    pub action: &'a str,
    /// The requesting application's display name.
    pub client: &'a str,
    /// The scopes it asks for, as requested.
    pub scopes: Vec<&'a str>,
    /// The user code and the step's ticket.
    pub hidden: Vec<(&'static str, &'a str)>,
    pub users: &'a [DevUser],
}

/// One button per dev user (as on the sign-in page), and Cancel.
pub fn device_choose(page: &DeviceChoose<'_>) -> String {
    let body = html! {
        h1 { "Sign in on another device" }
        p.warn { "Development identity provider: no passwords, not for production." }
        (asks_for(page.client, &page.scopes))
        p { "Continue only if you started this sign-in yourself, on a device you trust." }
        form method="post" action=(page.action) {
            (hidden_fields(&page.hidden))
            (user_buttons(page.users))
            button.cancel type="submit" name="action" value="cancel" data-testid="device-cancel" {
                "Cancel"
            }
        }
    };
    layout("Sign in on another device", body)
}

/// The last step: Accept or Cancel, naming the application, the user and each permission.
pub struct DeviceConfirm<'a> {
    pub action: &'a str,
    pub client: &'a str,
    pub user: &'a DevUser,
    /// Each permission asked for: `(scope as requested, plain description)`.
    pub scopes: Vec<(String, String)>,
    /// The user code, the chosen user and the step's ticket.
    pub hidden: Vec<(&'static str, &'a str)>,
}

pub fn device_confirm(page: &DeviceConfirm<'_>) -> String {
    let body = html! {
        h1 { "Are you trying to sign in to " (page.client) "?" }
        p.warn { "Development identity provider: no passwords, not for production." }
        p data-testid="consent-client" {
            strong { (page.client) } " on another device wants to use your account, "
            strong { (page.user.name) } " (" (page.user.email) "), to:"
        }
        ul.scopes data-testid="consent-scopes" {
            @for (scope, description) in &page.scopes {
                li data-testid={ "consent-scope-" (scope) } {
                    (description) br; small { code { (scope) } }
                }
            }
        }
        p { "Cancel if you did not start this sign-in yourself: someone may be trying to get your \
             account onto their device." }
        form method="post" action=(page.action) {
            (hidden_fields(&page.hidden))
            button.accept type="submit" name="action" value="approve" data-testid="device-accept" {
                "Accept"
            }
            br;
            button.cancel type="submit" name="action" value="cancel" data-testid="device-cancel" {
                "Cancel"
            }
        }
    };
    layout("Confirm sign-in", body)
}

/// The end of the device verification: approved or cancelled.
pub fn device_done(client: &str, approved: bool) -> String {
    let body = html! {
        @if approved {
            h1 { "You are signed in" }
            p data-testid="device-done" {
                "You have signed in to " strong { (client) } " on your other device. You can close this window."
            }
        } @else {
            h1 { "Sign-in cancelled" }
            p data-testid="device-done" {
                "Nothing was granted to " strong { (client) } ". You can close this window."
            }
        }
    };
    layout(
        if approved {
            "Signed in"
        } else {
            "Sign-in cancelled"
        },
        body,
    )
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

    #[test]
    fn device_pages_escape_prefill_and_carry_their_fields() {
        let html = device_code(&DeviceCode {
            action: "http://127.0.0.1:1/t/oauth2/v2.0/deviceauth",
            user_code: "\"><script>",
            error: Some("That <code> is not valid."),
        });
        assert!(html.contains(r#"name="user_code" value="&quot;&gt;&lt;script&gt;""#));
        assert!(html.contains("That &lt;code&gt; is not valid."));
        assert!(html.contains(r#"action="http://127.0.0.1:1/t/oauth2/v2.0/deviceauth""#));
        assert!(!html.contains("<script>"));
        let users = [DevUser {
            username: "bob".into(),
            name: "Bob".into(),
            email: "bob@x".into(),
            oid: "o".into(),
        }];
        let html = device_choose(&DeviceChoose {
            action: "/d",
            client: "C&C",
            scopes: vec!["openid"],
            hidden: vec![("user_code", "BCDF-GHJK"), ("ticket", "t\"x")],
            users: &users,
        });
        assert!(html.contains("C&amp;C"));
        assert!(html.contains(r#"name="ticket" value="t&quot;x""#));
        assert!(html.contains(r#"name="user" value="bob""#));
        let html = device_confirm(&DeviceConfirm {
            action: "/d",
            client: "C",
            user: &users[0],
            scopes: vec![("openid".into(), "Sign you in".into())],
            hidden: vec![("user_code", "BCDF-GHJK"), ("user", "bob")],
        });
        assert!(html.contains(r#"name="action" value="approve""#));
        assert!(html.contains(r#"name="action" value="cancel""#));
        assert!(device_done("<C>", true).contains("&lt;C&gt;"));
    }

    #[test]
    fn the_consent_page_escapes_and_carries_its_ticket() {
        let user = DevUser {
            username: "bob".into(),
            name: "Bob <Jones>".into(),
            email: "bob@x".into(),
            oid: "o".into(),
        };
        let html = consent(&Consent {
            client: "Tools & co",
            user: &user,
            scopes: vec![(
                "https://graph.microsoft.com/Calendars.Read".into(),
                "Read your calendars".into(),
            )],
            hidden: vec![("user", "bob"), ("consent_ticket", "t\"x")],
        });
        assert!(html.contains("Tools &amp; co"));
        assert!(html.contains("Bob &lt;Jones&gt;"));
        assert!(
            html.contains(
                r#"data-testid="consent-scope-https://graph.microsoft.com/Calendars.Read""#
            )
        );
        assert!(html.contains("Read your calendars"));
        assert!(html.contains(r#"name="consent_ticket" value="t&quot;x""#));
        assert!(html.contains(r#"name="action" value="consent""#));
        assert!(html.contains(r#"name="action" value="cancel""#));
    }
}
