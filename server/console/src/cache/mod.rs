//! The console's token cache: per issuer, the signed-in user, the client the grant belongs to, the
//! refresh token, and access tokens per resource and scope; plus the client ids dynamic registration
//! gave. One file (`<home>/tokens.bin`, mode 0600, written through a rename), ChaCha20-Poly1305 with a
//! random nonce per write and a 32-byte key from [`key`]; the plaintext never touches the disk, so the
//! file holds no token text. A file that does not decrypt (the key is gone, e.g. a kernel keyring after
//! a reboot, or the file was altered) counts as empty: the user signs in again.

pub mod key;

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use chacha20poly1305::{
    ChaCha20Poly1305, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::{
    auth::oidc::{Identity, Issued},
    config::{Home, KeyStoreChoice},
};
use key::{CacheKey, KeyStore};

/// The file starts with this (and it is the AEAD's associated data, so the version is authenticated).
const MAGIC: &[u8; 8] = b"PCTC\x00\x00\x00\x01";
/// A token without `expires_in` is trusted this long (seconds).
const DEFAULT_LIFETIME: i64 = 300;
/// Tokens are renewed this long before they expire (seconds), or at half their lifetime when that is
/// shorter, so a token handed out is never expired by the time the server checks it.
const REFRESH_MARGIN: i64 = 60;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

fn expose_option<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_some(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

/// An access token for one resource and scope.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessToken {
    pub resource: String,
    pub scope: String,
    #[serde(serialize_with = "expose")]
    token: SecretString,
    /// Unix seconds.
    pub expires_at: i64,
    /// Seconds it was issued for.
    pub lifetime: i64,
}

impl AccessToken {
    fn new(resource: &str, scope: &str, issued: &Issued) -> Self {
        let lifetime = issued.expires_in.map_or(DEFAULT_LIFETIME, |d| {
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
        });
        Self {
            resource: resource.to_owned(),
            scope: scope.to_owned(),
            token: issued.access_token.clone(),
            expires_at: now().saturating_add(lifetime),
            lifetime,
        }
    }

    /// Still good for a while: past the refresh margin.
    pub fn usable(&self) -> bool {
        let margin = REFRESH_MARGIN.min(self.lifetime / 2);
        self.expires_at - margin > now()
    }

    pub fn secret(&self) -> &SecretString {
        &self.token
    }
}

/// A user's grant at one issuer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Grant {
    pub issuer: String,
    /// The client the grant was given to (its refresh token works for that client only).
    pub client_id: String,
    pub identity: Identity,
    #[serde(default, serialize_with = "expose_option")]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    pub tokens: Vec<AccessToken>,
}

impl Grant {
    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.refresh_token.as_ref()
    }

    pub fn token(&self, resource: &str, scope: &str) -> Option<&AccessToken> {
        self.tokens
            .iter()
            .find(|t| t.resource == resource && t.scope == scope)
    }

    /// Stores a token for `resource` and `scope`, and a rotated refresh token when one came.
    pub fn put(&mut self, resource: &str, scope: &str, issued: &Issued) {
        self.tokens
            .retain(|t| !(t.resource == resource && t.scope == scope));
        self.tokens.push(AccessToken::new(resource, scope, issued));
        if let Some(refresh) = &issued.refresh_token {
            self.refresh_token = Some(refresh.clone());
        }
    }

    pub fn forget(&mut self, resource: &str, scope: &str) {
        self.tokens
            .retain(|t| !(t.resource == resource && t.scope == scope));
    }
}

/// A client id dynamic registration gave at an issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub issuer: String,
    pub client_id: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    #[serde(default)]
    grants: Vec<Grant>,
    #[serde(default)]
    registrations: Vec<Registration>,
}

/// The cache, loaded; [`TokenCache::save`] writes it back.
pub struct TokenCache {
    path: PathBuf,
    keys: KeyStore,
    key: Option<CacheKey>,
    contents: Contents,
}

impl TokenCache {
    /// Loads the cache (empty when there is none, or it cannot be decrypted).
    pub fn open(home: &Home, choice: KeyStoreChoice) -> anyhow::Result<Self> {
        let keys = KeyStore::new(home, choice);
        let path = home.token_cache();
        let sealed = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
        };
        let key = match &sealed {
            Some(_) => keys.load()?.map(|(key, _)| key),
            None => None,
        };
        let contents = match (&sealed, &key) {
            (Some(sealed), Some(key)) => match open(key, sealed) {
                Ok(contents) => contents,
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "the token cache could not be read; sign in again"
                    );
                    Contents::default()
                }
            },
            (Some(_), None) => {
                tracing::warn!("the token cache's key is gone; sign in again");
                Contents::default()
            }
            _ => Contents::default(),
        };
        Ok(Self {
            path,
            keys,
            key,
            contents,
        })
    }

    /// Encrypts and writes the cache, creating the key on first use.
    pub fn save(&mut self) -> anyhow::Result<()> {
        if self.key.is_none() {
            self.key = Some(match self.keys.load()? {
                Some((key, _)) => key,
                None => self.keys.create()?.0,
            });
        }
        let key = self.key.as_ref().context("the cache key was just set")?;
        let sealed = seal(key, &self.contents)?;
        key::write_private(&self.path, &sealed)
    }

    /// Deletes the cache file and its key (`logout`); whether there was a cache file.
    pub fn delete(home: &Home, choice: KeyStoreChoice) -> anyhow::Result<bool> {
        let path = home.token_cache();
        let existed = match std::fs::remove_file(&path) {
            Ok(()) => true,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
            Err(error) => {
                return Err(error).with_context(|| format!("deleting {}", path.display()));
            }
        };
        KeyStore::new(home, choice).delete()?;
        Ok(existed)
    }

    pub fn grant(&self, issuer: &str) -> Option<&Grant> {
        self.contents.grants.iter().find(|g| g.issuer == issuer)
    }

    pub fn grant_mut(&mut self, issuer: &str) -> Option<&mut Grant> {
        self.contents.grants.iter_mut().find(|g| g.issuer == issuer)
    }

    /// Stores a sign-in: the issuer's grant is replaced (another user, or the same one afresh).
    pub fn signed_in(
        &mut self,
        issuer: &str,
        client_id: &str,
        identity: Identity,
        resource: &str,
        scope: &str,
        issued: &Issued,
    ) {
        self.contents.grants.retain(|g| g.issuer != issuer);
        let mut grant = Grant {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            identity,
            refresh_token: None,
            tokens: Vec::new(),
        };
        grant.put(resource, scope, issued);
        self.contents.grants.push(grant);
    }

    /// Drops the issuer's grant (its refresh token no longer works).
    pub fn drop_grant(&mut self, issuer: &str) {
        self.contents.grants.retain(|g| g.issuer != issuer);
    }

    pub fn registration(&self, issuer: &str) -> Option<&str> {
        self.contents
            .registrations
            .iter()
            .find(|r| r.issuer == issuer)
            .map(|r| r.client_id.as_str())
    }

    pub fn register(&mut self, issuer: &str, client_id: &str) {
        self.contents.registrations.retain(|r| r.issuer != issuer);
        self.contents.registrations.push(Registration {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
        });
    }
}

fn cipher(key: &CacheKey) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(key.expose_secret()))
}

fn seal(key: &CacheKey, contents: &Contents) -> anyhow::Result<Vec<u8>> {
    let plain = serde_json::to_vec(contents)?;
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = cipher(key)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: MAGIC,
            },
        )
        .map_err(|_| anyhow!("encrypting the token cache failed"))?;
    let mut sealed = Vec::with_capacity(MAGIC.len() + nonce.len() + ciphertext.len());
    sealed.extend_from_slice(MAGIC);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

fn open(key: &CacheKey, sealed: &[u8]) -> anyhow::Result<Contents> {
    let Some(rest) = sealed.strip_prefix(MAGIC.as_slice()) else {
        bail!("not a token cache of this version");
    };
    if rest.len() < 12 {
        bail!("the token cache is truncated");
    }
    let (nonce, ciphertext) = rest.split_at(12);
    let plain = cipher(key)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: MAGIC,
            },
        )
        .map_err(|_| anyhow!("the token cache does not decrypt with its key"))?;
    serde_json::from_slice(&plain).context("the token cache's contents are not understood")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn identity() -> Identity {
        Identity {
            subject: "s".into(),
            oid: Some("o".into()),
            tid: Some("t".into()),
            name: "Alice".into(),
            username: None,
        }
    }

    fn issued(access: &str, refresh: Option<&str>, secs: u64) -> Issued {
        Issued {
            access_token: access.into(),
            refresh_token: refresh.map(SecretString::from),
            expires_in: Some(Duration::from_secs(secs)),
        }
    }

    #[test]
    fn the_file_is_encrypted_owner_only_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home"));
        let mut cache = TokenCache::open(&home, KeyStoreChoice::File).unwrap();
        cache.register("https://issuer", "dyn-client");
        cache.signed_in(
            "https://issuer",
            "dyn-client",
            identity(),
            "http://h/mcp",
            "api://x/mcp:tools",
            &issued("ACCESS-SECRET-TEXT", Some("REFRESH-SECRET-TEXT"), 3600),
        );
        cache.save().unwrap();
        let bytes = std::fs::read(home.token_cache()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [
            "ACCESS-SECRET-TEXT",
            "REFRESH-SECRET-TEXT",
            "dyn-client",
            "Alice",
        ] {
            assert!(!text.contains(secret), "{secret} is in the file");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.token_cache())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = TokenCache::open(&home, KeyStoreChoice::File).unwrap();
        let grant = again.grant("https://issuer").unwrap();
        assert_eq!(grant.identity, identity());
        assert_eq!(
            grant.refresh_token().unwrap().expose_secret(),
            "REFRESH-SECRET-TEXT"
        );
        let token = grant.token("http://h/mcp", "api://x/mcp:tools").unwrap();
        assert!(token.usable());
        assert_eq!(token.secret().expose_secret(), "ACCESS-SECRET-TEXT");
        assert_eq!(again.registration("https://issuer"), Some("dyn-client"));
    }

    #[test]
    fn a_cache_without_its_key_or_altered_counts_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let mut cache = TokenCache::open(&home, KeyStoreChoice::File).unwrap();
        cache.signed_in("i", "c", identity(), "r", "s", &issued("a", None, 60));
        cache.save().unwrap();
        let mut bytes = std::fs::read(home.token_cache()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(home.token_cache(), &bytes).unwrap();
        assert!(
            TokenCache::open(&home, KeyStoreChoice::File)
                .unwrap()
                .grant("i")
                .is_none()
        );
        std::fs::remove_file(home.key_file()).unwrap();
        assert!(
            TokenCache::open(&home, KeyStoreChoice::File)
                .unwrap()
                .grant("i")
                .is_none()
        );
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let fresh = AccessToken::new("r", "s", &issued("a", None, 3600));
        assert!(fresh.usable());
        let short = AccessToken::new("r", "s", &issued("a", None, 10));
        assert!(short.usable(), "a 10 s token is good for its first 5 s");
        let mut nearly = AccessToken::new("r", "s", &issued("a", None, 3600));
        nearly.expires_at = now() + 30;
        assert!(
            !nearly.usable(),
            "within the minute before expiry it is renewed"
        );
        let mut expired = AccessToken::new("r", "s", &issued("a", None, 3600));
        expired.expires_at = now() - 1;
        assert!(!expired.usable());
    }

    #[test]
    fn delete_removes_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let mut cache = TokenCache::open(&home, KeyStoreChoice::File).unwrap();
        cache.signed_in("i", "c", identity(), "r", "s", &issued("a", Some("r"), 60));
        cache.save().unwrap();
        assert!(TokenCache::delete(&home, KeyStoreChoice::File).unwrap());
        assert!(!home.token_cache().exists());
        assert!(!home.key_file().exists());
        assert!(!TokenCache::delete(&home, KeyStoreChoice::File).unwrap());
    }
}
