//! Who and what the development IdP knows: its users and the resources (APIs) tokens can be issued for,
//! and how a requested `scope` string maps onto them (Entra v2 rules: OIDC scopes plus the scopes of at
//! most one resource, written `<app-id-uri>/<scope>` or `<app-id-uri>/.default`; a bare scope such as
//! `User.Read` is Microsoft Graph's, as Entra reads it).

use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::config::UserEntry;

/// A dev user. `oid` is derived from the tenant and the user name, so it is stable across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevUser {
    pub username: String,
    pub name: String,
    pub email: String,
    pub oid: String,
}

/// An API tokens can be issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// What clients put before `/scope` (the App ID URI).
    pub app_id_uri: String,
    /// The `aud` of its tokens.
    pub audience: String,
    pub scopes: Vec<String>,
    /// Whether each user must consent, per client, before tokens carry its scopes (Microsoft Graph,
    /// the sales server). Resources without it are granted on request, which is how a first-party API
    /// behaves in a tenant whose administrator consented for everyone (mcp-tools).
    pub consent: bool,
}

/// Audience of tokens minted for OIDC-only requests (Microsoft Graph's app id, as Entra does); the
/// userinfo endpoint accepts them.
pub const GRAPH_AUDIENCE: &str = "00000003-0000-0000-c000-000000000000";
/// Microsoft Graph's App ID URI, and the `aud` of the Graph tokens this IdP issues.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// The delegated Graph permissions the dev IdP knows.
pub const GRAPH_SCOPES: [&str; 2] = ["User.Read", "Calendars.Read"];
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

impl Resource {
    /// A resource whose audience is its App ID URI (how Entra v2 tokens for custom APIs look).
    pub fn new(app_id_uri: &str, scopes: &[&str]) -> Self {
        let uri = app_id_uri.trim().trim_end_matches('/').to_owned();
        Self {
            app_id_uri: uri.clone(),
            audience: uri,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            consent: false,
        }
    }

    /// Microsoft Graph with the delegated scopes the Graph stand-in serves; users consent per client.
    pub fn graph() -> Self {
        Self::new(GRAPH_RESOURCE, &GRAPH_SCOPES).with_consent()
    }

    /// The same resource, with each user's consent required per client before tokens carry its scopes.
    #[must_use]
    pub fn with_consent(self) -> Self {
        Self {
            consent: true,
            ..self
        }
    }

    /// `<app-id-uri>/<scope>`: how a scope of this resource is requested.
    pub fn qualified(&self, scope: &str) -> String {
        format!("{}/{scope}", self.app_id_uri)
    }
}

/// Marks a configured resource whose scopes each user must consent to per client.
const CONSENT_MARK: &str = ";consent";

/// `app-id-uri=scope scope`, or `app-id-uri=scope scope;consent` when each user must consent per
/// client (one entry of `APP_DEV_IDP__RESOURCES`).
impl FromStr for Resource {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let trimmed = entry.trim();
        let (body, consent) = match trimmed.strip_suffix(CONSENT_MARK) {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        let (uri, scopes) = body
            .split_once('=')
            .ok_or_else(|| format!("expected app-id-uri=scope …[;consent], got {entry:?}"))?;
        let scopes: Vec<&str> = scopes.split_whitespace().collect();
        if uri.trim().is_empty() || scopes.is_empty() {
            return Err(format!("{entry:?} needs a URI and at least one scope"));
        }
        // A scope name never holds `;`: a misspelt mark must not become a scope.
        if let Some(bad) = scopes.iter().find(|s| s.contains(';')) {
            return Err(format!(
                "{entry:?}: {bad:?} is not a scope; the only mark is {CONSENT_MARK} at the end"
            ));
        }
        let resource = Self::new(uri, &scopes);
        Ok(if consent {
            resource.with_consent()
        } else {
            resource
        })
    }
}

/// A stable GUID-shaped id from a seed.
pub fn stable_guid(seed: &str) -> String {
    let hex = hex::encode(&Sha256::digest(seed.as_bytes())[..16]);
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The configured users with their stable object ids; names must be unique and there must be one.
pub fn users(entries: &[UserEntry], tenant: &str) -> anyhow::Result<Vec<DevUser>> {
    let mut users: Vec<DevUser> = Vec::new();
    for entry in entries {
        let username = &entry.username;
        if users.iter().any(|u| &u.username == username) {
            anyhow::bail!("APP_DEV_IDP__USERS: {username} appears twice");
        }
        users.push(DevUser {
            username: username.clone(),
            name: entry.name.clone(),
            email: format!("{username}@portcullis.dev"),
            oid: stable_guid(&format!("user/{tenant}/{username}")),
        });
    }
    if users.is_empty() {
        anyhow::bail!("APP_DEV_IDP__USERS: at least one user is needed");
    }
    Ok(users)
}

/// A parsed `scope` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequest {
    pub oidc: Vec<String>,
    /// The one resource asked for, with the scopes granted on it (`None` for `.default` = all).
    pub resource: Option<(Resource, Vec<String>)>,
    /// `<uri>/.default` was used (client credentials require it).
    pub default_scope: bool,
}

impl ScopeRequest {
    pub fn has(&self, oidc_scope: &str) -> bool {
        self.oidc.iter().any(|s| s == oidc_scope)
    }

    /// The scopes as they were granted, in canonical order (stored with codes and refresh tokens).
    pub fn to_scope_string(&self) -> String {
        match &self.resource {
            Some((resource, _)) if self.default_scope => {
                let mut parts = self.oidc.clone();
                parts.push(format!("{}/.default", resource.app_id_uri));
                parts.join(" ")
            }
            _ => self.to_granted_string(),
        }
    }

    /// The scopes as issued, each named (a `.default` request lists what it resolved to): the `scope`
    /// of on-behalf-of and token-exchange responses.
    pub fn to_granted_string(&self) -> String {
        let mut parts = self.oidc.clone();
        if let Some((resource, scopes)) = &self.resource {
            parts.extend(scopes.iter().map(|s| resource.qualified(s)));
        }
        parts.join(" ")
    }
}

/// Maps a `scope` string onto OIDC scopes and one resource. `Err` carries an `invalid_scope` description.
pub fn parse_scope(scope: &str, resources: &[Resource]) -> Result<ScopeRequest, String> {
    let mut request = ScopeRequest {
        oidc: Vec::new(),
        resource: None,
        default_scope: false,
    };
    for item in scope.split_whitespace() {
        if OIDC_SCOPES.contains(&item) {
            if !request.oidc.iter().any(|s| s == item) {
                request.oidc.push(item.to_owned());
            }
            continue;
        }
        // Entra reads a scope without a resource prefix as Microsoft Graph's (`User.Read`).
        let (uri, name) = match item.rsplit_once('/') {
            Some(split) => split,
            None if resources.iter().any(|r| r.app_id_uri == GRAPH_RESOURCE) => {
                (GRAPH_RESOURCE, item)
            }
            None => return Err(format!("unknown scope {item}")),
        };
        let resource = resources
            .iter()
            .find(|r| r.app_id_uri == uri)
            .ok_or_else(|| format!("unknown resource {uri}"))?;
        if let Some((chosen, _)) = &request.resource
            && chosen.app_id_uri != resource.app_id_uri
        {
            return Err("scopes of more than one resource were requested".to_owned());
        }
        let granted = if name == ".default" {
            request.default_scope = true;
            resource.scopes.clone()
        } else if resource.scopes.iter().any(|s| s == name) {
            vec![name.to_owned()]
        } else {
            return Err(format!("{uri} has no scope {name}"));
        };
        match &mut request.resource {
            Some((_, scopes)) => {
                for s in granted {
                    if !scopes.contains(&s) {
                        scopes.push(s);
                    }
                }
            }
            None => request.resource = Some((resource.clone(), granted)),
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Vec<Resource> {
        ["api://portcullis-mcp=mcp:tools", "api://other=read write"]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect()
    }

    fn entries(list: &[&str]) -> Vec<UserEntry> {
        list.iter().map(|e| e.parse().unwrap()).collect()
    }

    #[test]
    fn users_get_stable_guid_oids() {
        let a = users(&entries(&["alice:Alice Smith", "bob"]), "t").unwrap();
        let b = users(&entries(&["alice:Alice Smith"]), "t").unwrap();
        assert_eq!(a[0].oid, b[0].oid);
        assert_ne!(a[0].oid, a[1].oid);
        assert_eq!(a[1].name, "Bob");
        assert_eq!(a[0].oid.len(), 36);
        assert!("bad user".parse::<UserEntry>().is_err());
        assert!(users(&entries(&["bob", "bob"]), "t").is_err());
        assert!("api://x=".parse::<Resource>().is_err());
    }

    #[test]
    fn configured_resources_may_require_consent() {
        let plain: Resource = "api://a=read write".parse().unwrap();
        assert!(!plain.consent);
        let tracked: Resource = " api://portcullis-sales=sales:read;consent "
            .parse()
            .unwrap();
        assert!(tracked.consent);
        assert_eq!(tracked.app_id_uri, "api://portcullis-sales");
        assert_eq!(tracked.scopes, ["sales:read"]);
        assert_eq!(
            tracked,
            Resource::new("api://portcullis-sales", &["sales:read"]).with_consent()
        );
        for bad in [
            "api://a=read;consnet",
            "api://a=;consent",
            "api://a=read; consent",
        ] {
            assert!(bad.parse::<Resource>().is_err(), "{bad}");
        }
    }

    #[test]
    fn guids_keep_their_shape() {
        // The oids of existing data folders and tokens depend on this exact derivation.
        let guid = stable_guid("user/t/alice");
        let hex = hex::encode(&Sha256::digest(b"user/t/alice")[..16]);
        assert_eq!(&guid[..8], &hex[..8]);
        assert_eq!(&guid[14..15], "4");
        assert_eq!(&guid[19..20], "a");
        assert_eq!(&guid[24..], &hex[20..32]);
    }

    #[test]
    fn scopes_map_to_oidc_and_one_resource() {
        let r = parse_scope(
            "openid profile offline_access api://portcullis-mcp/mcp:tools",
            &resources(),
        )
        .unwrap();
        assert!(r.has("openid") && r.has("offline_access"));
        let (resource, scopes) = r.resource.clone().unwrap();
        assert_eq!(resource.audience, "api://portcullis-mcp");
        assert_eq!(scopes, ["mcp:tools"]);
        assert_eq!(
            r.to_scope_string(),
            "openid profile offline_access api://portcullis-mcp/mcp:tools"
        );

        let d = parse_scope("api://other/.default", &resources()).unwrap();
        assert!(d.default_scope);
        assert_eq!(d.resource.unwrap().1, ["read", "write"]);

        assert!(
            parse_scope(
                "api://portcullis-mcp/mcp:tools api://other/read",
                &resources()
            )
            .is_err()
        );
        assert!(parse_scope("api://portcullis-mcp/admin", &resources()).is_err());
        assert!(parse_scope("api://unknown/x", &resources()).is_err());
        assert!(parse_scope("User.Read", &resources()).is_err());
    }

    #[test]
    fn graph_scopes_may_be_qualified_or_bare() {
        let mut with_graph = resources();
        with_graph.push(Resource::graph());
        let qualified = parse_scope(
            "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Calendars.Read",
            &with_graph,
        )
        .unwrap();
        let bare = parse_scope("User.Read Calendars.Read", &with_graph).unwrap();
        assert_eq!(qualified, bare);
        let (resource, scopes) = bare.resource.clone().unwrap();
        assert_eq!(resource.audience, GRAPH_RESOURCE);
        assert!(resource.consent);
        assert_eq!(scopes, ["User.Read", "Calendars.Read"]);
        assert_eq!(
            bare.to_scope_string(),
            "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Calendars.Read"
        );
        // Mixed forms are one resource; OIDC scopes stay apart.
        let mixed = parse_scope(
            "openid User.Read https://graph.microsoft.com/Calendars.Read",
            &with_graph,
        )
        .unwrap();
        assert_eq!(mixed.oidc, ["openid"]);
        assert_eq!(mixed.resource.unwrap().1, ["User.Read", "Calendars.Read"]);
        let all = parse_scope("https://graph.microsoft.com/.default", &with_graph).unwrap();
        assert!(all.default_scope);
        assert_eq!(all.resource.unwrap().1, GRAPH_SCOPES);
        // Still one resource per request, and only known Graph scopes.
        assert!(parse_scope("User.Read api://portcullis-mcp/mcp:tools", &with_graph).is_err());
        assert!(parse_scope("Mail.Send", &with_graph).is_err());
        assert!(parse_scope("https://graph.microsoft.com/Mail.Send", &with_graph).is_err());
        // OIDC-only requests are unchanged.
        let oidc = parse_scope("openid profile", &with_graph).unwrap();
        assert!(oidc.resource.is_none());
        assert!(
            !resources()[0].consent,
            "configured resources track no consent"
        );
    }
}
