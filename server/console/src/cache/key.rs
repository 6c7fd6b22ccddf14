//! The token cache's key: 32 random bytes, kept in the OS keyring (macOS Keychain, Windows Credential
//! Manager, the Linux kernel keyring) when one answers, else in a key file beside the cache (mode 0600).
//! `APP_CONSOLE__KEY_STORE` forces one or the other (`keyring`, `file`); `auto` prefers an existing key
//! file, then an existing keyring entry, and for a new key tries the keyring and checks it reads back.
//! The keyring entry is named after the console's folder, so two folders never share a key.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;
use secrecy::SecretBox;

use crate::config::{Home, KeyStoreChoice};

const SERVICE: &str = "portcullis-console";

/// The key, wiped from memory when dropped.
pub type CacheKey = SecretBox<[u8; 32]>;

/// Where a key was found or put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPlace {
    Keyring,
    File(PathBuf),
}

/// Reads and writes the key where the configuration says.
pub struct KeyStore {
    choice: KeyStoreChoice,
    file: PathBuf,
    account: String,
}

impl KeyStore {
    pub fn new(home: &Home, choice: KeyStoreChoice) -> Self {
        Self {
            choice,
            file: home.key_file(),
            account: format!("token-cache-key:{}", home.dir().display()),
        }
    }

    /// The existing key, if any.
    pub fn load(&self) -> anyhow::Result<Option<(CacheKey, KeyPlace)>> {
        if self.choice != KeyStoreChoice::Keyring
            && let Some(key) = read_file(&self.file)?
        {
            return Ok(Some((key, KeyPlace::File(self.file.clone()))));
        }
        if self.choice != KeyStoreChoice::File {
            match keyring_get(&self.account) {
                Ok(Some(key)) => return Ok(Some((key, KeyPlace::Keyring))),
                Ok(None) => {}
                Err(error) if self.choice == KeyStoreChoice::Keyring => return Err(error),
                Err(error) => {
                    tracing::debug!(error = format!("{error:#}"), "no OS keyring");
                }
            }
        }
        Ok(None)
    }

    /// A new random key, stored.
    pub fn create(&self) -> anyhow::Result<(CacheKey, KeyPlace)> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let encoded = STANDARD.encode(bytes);
        let key = CacheKey::new(Box::new(bytes));
        bytes.fill(0);
        if self.choice != KeyStoreChoice::File {
            match keyring_put(&self.account, &encoded) {
                Ok(()) => return Ok((key, KeyPlace::Keyring)),
                Err(error) if self.choice == KeyStoreChoice::Keyring => return Err(error),
                Err(error) => {
                    tracing::debug!(
                        error = format!("{error:#}"),
                        "no OS keyring; using a key file"
                    );
                }
            }
        }
        write_private(&self.file, encoded.as_bytes())?;
        Ok((key, KeyPlace::File(self.file.clone())))
    }

    /// Deletes the key wherever it is (both places under `auto`).
    pub fn delete(&self) -> anyhow::Result<()> {
        if self.choice != KeyStoreChoice::Keyring {
            match std::fs::remove_file(&self.file) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(error).with_context(|| format!("deleting {}", self.file.display()));
                }
            }
        }
        if self.choice != KeyStoreChoice::File
            && let Err(error) = keyring_delete(&self.account)
        {
            if self.choice == KeyStoreChoice::Keyring {
                return Err(error);
            }
            tracing::debug!(error = format!("{error:#}"), "no OS keyring entry deleted");
        }
        Ok(())
    }
}

fn decode(encoded: &str) -> anyhow::Result<CacheKey> {
    let bytes = STANDARD
        .decode(encoded.trim())
        .context("the token cache key is not base64")?;
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .ok()
        .context("the token cache key is not 32 bytes")?;
    Ok(CacheKey::new(Box::new(key)))
}

fn read_file(path: &Path) -> anyhow::Result<Option<CacheKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode(&text)
            .with_context(|| format!("reading {}", path.display()))
            .map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a file only its owner can read, through a temporary file and a rename (never half written).
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let parent = path.parent().context("a file path has a folder")?;
    create_private_dir(parent)?;
    let temporary = parent.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

/// Creates the console's folder, owner-only on Unix.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Runs a keyring operation on a thread of its own: the Secret Service client blocks on D-Bus and
/// must not run on (or start) an async runtime's thread.
fn off_runtime<T: Send>(operation: impl FnOnce() -> anyhow::Result<T> + Send) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(operation)
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the OS keyring client panicked")))
    })
}

fn keyring_get(account: &str) -> anyhow::Result<Option<CacheKey>> {
    off_runtime(|| keyring_get_here(account))
}

fn keyring_put(account: &str, encoded: &str) -> anyhow::Result<()> {
    off_runtime(|| keyring_put_here(account, encoded))
}

fn keyring_delete(account: &str) -> anyhow::Result<()> {
    off_runtime(|| keyring_delete_here(account))
}

fn keyring_get_here(account: &str) -> anyhow::Result<Option<CacheKey>> {
    let entry = keyring::Entry::new(SERVICE, account).context("opening the OS keyring")?;
    match entry.get_password() {
        Ok(encoded) => decode(&encoded).map(Some),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(error) => Err(error).context("reading the OS keyring"),
    }
}

fn keyring_put_here(account: &str, encoded: &str) -> anyhow::Result<()> {
    let entry = keyring::Entry::new(SERVICE, account).context("opening the OS keyring")?;
    entry
        .set_password(encoded)
        .context("writing the OS keyring")?;
    // Some keyrings accept a write they cannot give back (a locked or absent secret service).
    match entry.get_password() {
        Ok(read) if read == encoded => Ok(()),
        Ok(_) => bail!("the OS keyring gave back another value"),
        Err(error) => Err(error).context("reading back the OS keyring"),
    }
}

fn keyring_delete_here(account: &str) -> anyhow::Result<()> {
    let entry = keyring::Entry::new(SERVICE, account).context("opening the OS keyring")?;
    match entry.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(error) => Err(error).context("deleting from the OS keyring"),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_file_key_is_owner_only_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home"));
        let store = KeyStore::new(&home, KeyStoreChoice::File);
        assert!(store.load().unwrap().is_none());
        let (key, place) = store.create().unwrap();
        assert_eq!(place, KeyPlace::File(home.key_file()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.key_file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(home.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let (again, _) = store.load().unwrap().unwrap();
        assert_eq!(key.expose_secret(), again.expose_secret());
        store.delete().unwrap();
        assert!(store.load().unwrap().is_none());
        assert!(!home.key_file().exists());
    }
}
