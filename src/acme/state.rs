//! The state directory (`[tls.acme] state-dir`): the account's credentials and, per
//! certificate, its chain and private key. The directory is made private (0700) and every file
//! is written whole (a temporary file beside it, 0600, renamed over the old one), so a crash
//! or a full disk never leaves half a key behind.
//!
//! ```text
//! state-dir/account.json                       the ACME account: its key and URL, and the CA
//! state-dir/certificates/<name>/fullchain.pem  leaf first, then the intermediates
//! state-dir/certificates/<name>/privkey.pem    its key (PKCS#8 PEM)
//! ```

use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::acme::stored_files;

const ACCOUNT: &str = "account.json";

/// The state directory, created (private) by [`StateDir::open`].
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// What `account.json` holds: the CA it was made with, so a changed `directory` makes a
/// new account instead of presenting the old one to a CA that never heard of it.
#[derive(Serialize, Deserialize)]
pub struct StoredAccount {
    pub directory: String,
    pub credentials: instant_acme::AccountCredentials,
}

/// A certificate as stored: PEM chain and PEM key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificate {
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl StateDir {
    /// Creates `root` (and its parents) if needed and makes it 0700: it holds private keys.
    pub fn open(root: &Path) -> io::Result<StateDir> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .and_then(|()| private_dir(root))
            .map_err(|error| annotate(root, error))?;
        Ok(StateDir {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The stored account, if there is one for `directory`; a file that does not parse is
    /// reported (and then replaced by a new account).
    pub fn account(&self, directory: &str) -> io::Result<Option<StoredAccount>> {
        let path = self.root.join(ACCOUNT);
        let bytes = match crate::files::read_small(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(annotate(&path, error)),
        };
        let stored: StoredAccount = serde_json::from_slice(&bytes)
            .map_err(|error| annotate(&path, io::Error::new(io::ErrorKind::InvalidData, error)))?;
        Ok((stored.directory == directory).then_some(stored))
    }

    pub fn save_account(&self, account: &StoredAccount) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(account).map_err(io::Error::other)?;
        write_private(&self.root.join(ACCOUNT), &json)
    }

    /// Certificate `name` as stored, `None` when there is none (or only half of it).
    pub fn certificate(&self, name: &str) -> io::Result<Option<StoredCertificate>> {
        let (chain, key) = stored_files(&self.root, name);
        let read = |file: &Path| match crate::files::read_small(file) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(annotate(file, error)),
        };
        Ok(match (read(&chain)?, read(&key)?) {
            (Some(chain_pem), Some(key_pem)) => Some(StoredCertificate { chain_pem, key_pem }),
            _ => None,
        })
    }

    /// Stores certificate `name`: the key first, so a chain on disk always has its key (a
    /// crash between the two leaves a new key beside the old chain, which does not match and
    /// is ordered again).
    pub fn save_certificate(&self, name: &str, certificate: &StoredCertificate) -> io::Result<()> {
        let (chain, key) = stored_files(&self.root, name);
        let dir = chain.parent().unwrap_or(&self.root);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|error| annotate(dir, error))?;
        write_private(&key, &certificate.key_pem)?;
        write_private(&chain, &certificate.chain_pem)
    }
}

/// `bytes` as `path`, mode 0600, replacing the old file at once (rename).
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // tempfile creates its file 0600 with O_EXCL, never through a planted symlink.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|error| annotate(dir, error))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|error| annotate(path, error))?;
    file.persist(path)
        .map_err(|error| annotate(path, error.error))?;
    Ok(())
}

/// An existing directory is narrowed to 0700 too: it may have been made by hand.
fn private_dir(path: &Path) -> io::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn annotate(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_directory_and_files_replaced_whole() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("state/acme");
        let state = StateDir::open(&root).unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(state.certificate("example.org").unwrap(), None);
        let first = StoredCertificate {
            chain_pem: b"chain 1".to_vec(),
            key_pem: b"key 1".to_vec(),
        };
        state.save_certificate("example.org", &first).unwrap();
        let (chain, key) = stored_files(&root, "example.org");
        let dir = chain.parent().unwrap();
        assert_eq!(mode(dir), 0o700);
        assert_eq!(mode(&chain), 0o600);
        assert_eq!(mode(&key), 0o600);
        let second = StoredCertificate {
            chain_pem: b"chain 2".to_vec(),
            key_pem: b"key 2".to_vec(),
        };
        state.save_certificate("example.org", &second).unwrap();
        assert_eq!(state.certificate("example.org").unwrap(), Some(second));
        // No temporary files left beside them.
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 2);
    }

    #[test]
    fn an_existing_open_directory_is_narrowed() {
        let parent = tempfile::tempdir().unwrap();
        std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        StateDir::open(parent.path()).unwrap();
        assert_eq!(mode(parent.path()), 0o700);
    }

    #[test]
    fn a_half_stored_certificate_is_none() {
        let parent = tempfile::tempdir().unwrap();
        let state = StateDir::open(parent.path()).unwrap();
        let (chain, _) = stored_files(parent.path(), "example.org");
        std::fs::create_dir_all(chain.parent().unwrap()).unwrap();
        std::fs::write(&chain, "chain").unwrap();
        assert_eq!(state.certificate("example.org").unwrap(), None);
    }
}
