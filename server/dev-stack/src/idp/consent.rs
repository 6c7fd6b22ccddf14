//! Users' consent to resources that track it (`Resource::consent`: Microsoft Graph, the sales server):
//! which scopes a user has granted which client, the seeded consents (configuration: mcp-tools' Graph
//! consents) and their reset, the check the token grants make, and the single-use tickets that tie an
//! Accept on the consent page to the page this IdP rendered. Everything but the seeds works alike for
//! every consent-tracked resource.
//!
//! Entra semantics: a named scope needs the user's consent for the requesting client; `<resource>/.default`
//! means "whatever has been consented", so it is narrowed to the consented scopes and fails only when
//! there are none.

use std::{collections::HashMap, sync::Mutex};

use anyhow::bail;
use service_kit::sync::lock;

use super::{
    directory::{DevUser, GRAPH_RESOURCE, Resource, ScopeRequest},
    random_token,
    store::{ConsentRow, Store, digest, now},
};
use crate::config::ConsentEntry;

/// A consent page's Accept is honoured this long after the page was shown.
const TICKET_LIFETIME_SECS: i64 = 600;
/// Pending consent pages kept at most (a flood of sign-in attempts cannot grow memory without bound).
const MAX_TICKETS: usize = 10_000;

/// What the request asks for without the user's consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub resource: Resource,
    /// Scope names on `resource` (`Calendars.Read`).
    pub scopes: Vec<String>,
}

impl Missing {
    /// The missing scopes as they are requested (`https://graph.microsoft.com/Calendars.Read`).
    pub fn qualified(&self) -> Vec<String> {
        self.scopes
            .iter()
            .map(|s| self.resource.qualified(s))
            .collect()
    }
}

/// The configured consents of `client_id` as rows, checked against the users and the Graph resource.
/// Graph only on purpose: the seeds are what users already granted mcp-tools (the on-behalf-of client)
/// for Graph; other consent-tracked resources start with no consent, given on the consent page.
pub fn seed_rows(
    entries: &[ConsentEntry],
    users: &[DevUser],
    resources: &[Resource],
    client_id: &str,
) -> anyhow::Result<Vec<ConsentRow>> {
    let Some(graph) = resources.iter().find(|r| r.app_id_uri == GRAPH_RESOURCE) else {
        bail!("the Graph resource is missing");
    };
    let mut rows = Vec::new();
    for entry in entries {
        if !users.iter().any(|u| u.username == entry.username) {
            bail!(
                "APP_DEV_IDP__GRAPH_CONSENTS: {} is not one of APP_DEV_IDP__USERS",
                entry.username
            );
        }
        for scope in &entry.scopes {
            if !graph.scopes.contains(scope) {
                bail!(
                    "APP_DEV_IDP__GRAPH_CONSENTS: {scope} is not a Graph scope of the dev IdP ({})",
                    graph.scopes.join(", ")
                );
            }
            rows.push(ConsentRow {
                username: entry.username.clone(),
                client_id: client_id.to_owned(),
                resource: graph.app_id_uri.clone(),
                scope: scope.clone(),
            });
        }
    }
    Ok(rows)
}

/// Checks `request` against `username`'s consents for `client_id`. `Ok(Ok(request))` is what may be
/// issued (`.default` narrowed to the consented scopes); `Ok(Err(missing))` names what lacks consent.
pub async fn check(
    store: &Store,
    username: &str,
    client_id: &str,
    mut request: ScopeRequest,
) -> anyhow::Result<Result<ScopeRequest, Missing>> {
    let Some((resource, scopes)) = &mut request.resource else {
        return Ok(Ok(request));
    };
    if !resource.consent {
        return Ok(Ok(request));
    }
    let consented = store
        .consented(username, client_id, &resource.app_id_uri)
        .await?;
    if request.default_scope {
        scopes.retain(|s| consented.contains(s));
        if scopes.is_empty() {
            return Ok(Err(Missing {
                resource: resource.clone(),
                scopes: resource.scopes.clone(),
            }));
        }
        return Ok(Ok(request));
    }
    let missing: Vec<String> = scopes
        .iter()
        .filter(|s| !consented.contains(s))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(Ok(request))
    } else {
        Ok(Err(Missing {
            resource: resource.clone(),
            scopes: missing,
        }))
    }
}

/// The consent rows `request` grants when the user accepts it (consent-tracked scopes only).
pub fn rows_for(username: &str, client_id: &str, request: &ScopeRequest) -> Vec<ConsentRow> {
    match &request.resource {
        Some((resource, scopes)) if resource.consent => scopes
            .iter()
            .map(|scope| ConsentRow {
                username: username.to_owned(),
                client_id: client_id.to_owned(),
                resource: resource.app_id_uri.clone(),
                scope: scope.clone(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A plain-language description of a scope, for the consent page.
pub fn describe(resource: Option<&Resource>, scope: &str) -> String {
    match (resource.map(|r| r.app_id_uri.as_str()), scope) {
        (None, "openid") => "Sign you in".to_owned(),
        (None, "profile") => "View your basic profile (name and user name)".to_owned(),
        (None, "email") => "View your email address".to_owned(),
        (None, "offline_access") => {
            "Maintain access to data you have given it access to".to_owned()
        }
        (Some(GRAPH_RESOURCE), "User.Read") => "Sign you in and read your profile".to_owned(),
        (Some(GRAPH_RESOURCE), "Calendars.Read") => "Read your calendars".to_owned(),
        (Some(uri), scope) => format!("Use {uri} as you ({scope})"),
        (None, scope) => format!("Use {scope}"),
    }
}

/// Every scope of `request` as `(scope as requested, plain description)`: what a consent page lists when
/// it asks for all of them (`prompt=consent`, the device verification page).
pub fn describe_request(request: &ScopeRequest) -> Vec<(String, String)> {
    let mut scopes: Vec<(String, String)> = request
        .oidc
        .iter()
        .map(|s| (s.clone(), describe(None, s)))
        .collect();
    if let Some((resource, names)) = &request.resource {
        scopes.extend(
            names
                .iter()
                .map(|s| (resource.qualified(s), describe(Some(resource), s))),
        );
    }
    scopes
}

/// What an Accept must match: the consent page was shown for this user, client, redirect and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFor {
    pub username: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
}

/// Single-use tickets, one per consent page rendered. A page on another site can post the sign-in form
/// (it needs nothing it cannot know), but it cannot read the consent page, so it cannot Accept for the
/// user. Kept in memory: a restart only means starting the consent again. `T` is what a ticket is bound
/// to: a consent page (`TicketFor`) or a step of the device verification page (`device::Step`).
pub struct Tickets<T = TicketFor> {
    pending: Mutex<HashMap<String, (T, i64)>>,
}

// Not derived: the derive would require `T: Default`.
impl<T> Default for Tickets<T> {
    fn default() -> Self {
        Self {
            pending: Mutex::default(),
        }
    }
}

impl<T: PartialEq> Tickets<T> {
    /// A new ticket for `page`, or `None` when too many are pending.
    pub fn issue(&self, page: T) -> Option<String> {
        let mut pending = lock(&self.pending);
        let now = now();
        pending.retain(|_, (_, expires)| *expires > now);
        if pending.len() >= MAX_TICKETS {
            return None;
        }
        let ticket = random_token();
        pending.insert(digest(&ticket), (page, now + TICKET_LIFETIME_SECS));
        Some(ticket)
    }

    /// Consumes `ticket`; `true` when it was issued for exactly `page` and has not expired.
    pub fn redeem(&self, ticket: &str, page: &T) -> bool {
        let taken = lock(&self.pending).remove(&digest(ticket));
        taken.is_some_and(|(issued, expires)| expires > now() && &issued == page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::directory::{parse_scope, users};

    fn page(user: &str) -> TicketFor {
        TicketFor {
            username: user.to_owned(),
            client_id: "c".to_owned(),
            redirect_uri: "http://127.0.0.1/cb".to_owned(),
            scope: "https://graph.microsoft.com/Calendars.Read".to_owned(),
        }
    }

    #[test]
    fn tickets_are_single_use_and_bound_to_their_page() {
        let tickets = Tickets::default();
        let ticket = tickets.issue(page("bob")).unwrap();
        assert!(!tickets.redeem(&ticket, &page("alice")), "another user");
        // A failed redemption used it up as well.
        assert!(!tickets.redeem(&ticket, &page("bob")));
        let ticket = tickets.issue(page("bob")).unwrap();
        assert!(tickets.redeem(&ticket, &page("bob")));
        assert!(!tickets.redeem(&ticket, &page("bob")), "single use");
        assert!(!tickets.redeem("made-up", &page("bob")));
    }

    #[test]
    fn seeds_name_known_users_and_graph_scopes() {
        let entries: Vec<ConsentEntry> = ["alice=User.Read Calendars.Read", "bob=User.Read"]
            .iter()
            .map(|e| e.parse().unwrap())
            .collect();
        let people = users(&["alice".parse().unwrap(), "bob".parse().unwrap()], "t").unwrap();
        let resources = [Resource::new("api://x", &["y"]), Resource::graph()];
        let rows = seed_rows(&entries, &people, &resources, "mcp").unwrap();
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter()
                .all(|r| r.client_id == "mcp" && r.resource == GRAPH_RESOURCE)
        );
        let carol = ["carol=User.Read".parse().unwrap()];
        assert!(seed_rows(&carol, &people, &resources, "mcp").is_err());
        let mail = ["bob=Mail.Send".parse().unwrap()];
        assert!(seed_rows(&mail, &people, &resources, "mcp").is_err());
        assert!("bob".parse::<ConsentEntry>().is_err());
        assert!("bob=".parse::<ConsentEntry>().is_err());
    }

    #[test]
    fn rows_and_descriptions_cover_consent_tracked_scopes_only() {
        let resources = [Resource::new("api://x", &["y"]), Resource::graph()];
        let graph = parse_scope("openid User.Read Calendars.Read", &resources).unwrap();
        let rows = rows_for("bob", "mcp", &graph);
        let scopes: Vec<_> = rows.iter().map(|r| r.scope.as_str()).collect();
        assert_eq!(scopes, ["User.Read", "Calendars.Read"]);
        let other = parse_scope("openid api://x/y", &resources).unwrap();
        assert!(rows_for("bob", "mcp", &other).is_empty());
        assert_eq!(
            describe(Some(&resources[1]), "Calendars.Read"),
            "Read your calendars"
        );
        assert_eq!(describe(None, "openid"), "Sign you in");
        assert_eq!(describe(Some(&resources[0]), "y"), "Use api://x as you (y)");
    }
}
