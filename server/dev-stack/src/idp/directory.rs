//! Who and what the development IdP knows: its users and the resources (APIs) tokens can be issued for,
//! and how a requested `scope` string maps onto them (Entra v2 rules: OIDC scopes plus the scopes of at
//! most one resource, written `<app-id-uri>/<scope>` or `<app-id-uri>/.default`).

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
}

/// Audience of tokens minted for OIDC-only requests (Microsoft Graph's app id, as Entra does); the
/// userinfo endpoint accepts them.
pub const GRAPH_AUDIENCE: &str = "00000003-0000-0000-c000-000000000000";
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

impl Resource {
    /// A resource whose audience is its App ID URI (how Entra v2 tokens for custom APIs look).
    pub fn new(app_id_uri: &str, scopes: &[&str]) -> Self {
        let uri = app_id_uri.trim().trim_end_matches('/').to_owned();
        Self {
            app_id_uri: uri.clone(),
            audience: uri,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// `app-id-uri=scope scope` (one entry of `APP_DEV_IDP__RESOURCES`).
impl FromStr for Resource {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let (uri, scopes) = entry
            .split_once('=')
            .ok_or_else(|| format!("expected app-id-uri=scope …, got {entry:?}"))?;
        let scopes: Vec<&str> = scopes.split_whitespace().collect();
        if uri.trim().is_empty() || scopes.is_empty() {
            return Err(format!("{entry:?} needs a URI and at least one scope"));
        }
        Ok(Self::new(uri, &scopes))
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
        let mut parts = self.oidc.clone();
        if let Some((resource, scopes)) = &self.resource {
            if self.default_scope {
                parts.push(format!("{}/.default", resource.app_id_uri));
            } else {
                parts.extend(
                    scopes
                        .iter()
                        .map(|s| format!("{}/{s}", resource.app_id_uri)),
                );
            }
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
        let (uri, name) = item
            .rsplit_once('/')
            .ok_or_else(|| format!("unknown scope {item}"))?;
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
}
