//! `[[tls.certificate]]` kept in step with its files. Each entry is read again on every
//! [`FileCertificates::check`] (the server calls it every few seconds and on reload) and
//! compared with what was read last, by content: a renewal that writes new files, points a
//! symlink elsewhere (certbot's `live/` into `archive/`) or renames a file over the old one is
//! seen alike, whatever the timestamps say. A changed entry that checks out replaces its slot
//! in one store. One that does not is given one more reading first: a renewal replaces the
//! chain and the key one after the other, and a reading between the two sees a key that does
//! not match. Still refused then, it is logged once with the reason, the previous certificate
//! goes on serving, and [`FileCertificates::refused`] names it for readiness and metrics until
//! the files are good again. A reload that changes the list itself has every entry read and
//! checked first ([`FileCertificates::prepare`]); only a list that is good throughout is then
//! served ([`FileCertificates::apply`]), in its order, in one swap.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use super::{CertificateStore, ServedCertificate, TlsError, file_slot, is_file_slot};
use crate::config::{CertificateFiles, TlsSettings};

/// The `[[tls.certificate]]` entries of the running server and what their files held.
#[derive(Debug)]
pub struct FileCertificates {
    store: Arc<CertificateStore>,
    entries: Mutex<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    files: CertificateFiles,
    /// SHA-256 of what the files held (or of why they could not be read) when last settled:
    /// served, or refused and reported.
    seen: [u8; 32],
    /// A changed reading that was refused once, waiting for the second reading.
    unsettled: Option<[u8; 32]>,
    /// Why what the files hold now is not served, while it is not.
    refused: Option<String>,
}

impl FileCertificates {
    /// Reads and checks every entry into a new store, in order (the first is the default);
    /// the first unusable one stops it, so the server never starts half-configured.
    pub fn load(settings: &TlsSettings) -> Result<FileCertificates, TlsError> {
        let files = FileCertificates {
            store: Arc::new(CertificateStore::new()),
            entries: Mutex::new(Vec::new()),
        };
        files.apply(FileCertificates::prepare(settings)?);
        Ok(files)
    }

    /// Reads and checks every entry of `settings` (at start, or a reloaded list): the first
    /// unusable one refuses the whole list, and nothing changes.
    pub fn prepare(settings: &TlsSettings) -> Result<Prepared, TlsError> {
        settings
            .certificates
            .iter()
            .map(|files| {
                let read = read(files);
                let seen = fingerprint(&read);
                let served = read
                    .and_then(|(chain, key)| parse(files, &chain, &key))
                    .map_err(|error| entry_error(files, error))?;
                Ok((
                    Entry {
                        files: files.clone(),
                        seen,
                        unsettled: None,
                        refused: None,
                    },
                    served,
                ))
            })
            .collect::<Result<_, _>>()
            .map(Prepared)
    }

    /// Serves exactly the prepared entries from the next handshake on, ahead of the other
    /// slots (ACME's); the entries no longer listed are no longer served.
    pub fn apply(&self, prepared: Prepared) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut first = Vec::new();
        entries.clear();
        for (entry, served) in prepared.0 {
            let slot = file_slot(&entry.files.cert);
            let served = self.succeeding(&slot, served);
            first.push((slot, served));
            entries.push(entry);
        }
        self.store.replace_leading(is_file_slot, first);
    }

    /// The store the entries are served from (ACME adds its certificates to it).
    pub fn store(&self) -> &Arc<CertificateStore> {
        &self.store
    }

    /// Reads every entry's files again and serves each one that changed and checks out;
    /// the number replaced. A changed entry that is refused is reported at the second call
    /// that still finds it so. Blocking (file reads): run it off the async workers.
    pub fn check(&self) -> usize {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut replaced = 0;
        for entry in entries.iter_mut() {
            let read = read(&entry.files);
            let seen = fingerprint(&read);
            if seen == entry.seen {
                entry.unsettled = None;
                continue;
            }
            let slot = file_slot(&entry.files.cert);
            match read.and_then(|(chain, key)| parse(&entry.files, &chain, &key)) {
                Ok(served) => {
                    let served = self.succeeding(&slot, served);
                    served.announce("TLS certificate replaced");
                    self.store.install(&slot, served);
                    entry.seen = seen;
                    entry.unsettled = None;
                    entry.refused = None;
                    replaced += 1;
                }
                Err(_) if entry.unsettled != Some(seen) => entry.unsettled = Some(seen),
                Err(error) => {
                    entry.seen = seen;
                    entry.unsettled = None;
                    let error = entry_error(&entry.files, error);
                    let kept = self
                        .store
                        .get(&slot)
                        .map_or_else(|| "nothing".to_owned(), |kept| kept.describe());
                    tracing::error!("{error}; still serving the previous certificate: {kept}");
                    entry.refused = Some(error.to_string());
                }
            }
        }
        replaced
    }

    /// `served` as the successor of what `slot` serves now, if anything.
    fn succeeding(&self, slot: &str, served: ServedCertificate) -> ServedCertificate {
        match self.store.get(slot) {
            Some(current) => served.succeeding(&current),
            None => served,
        }
    }

    /// Every entry whose files on disk are refused now: its slot and why.
    pub fn refused(&self) -> Vec<(String, String)> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|entry| (file_slot(&entry.files.cert), entry.refused.clone()))
            .filter_map(|(slot, refused)| Some((slot, refused?)))
            .collect()
    }

    /// Every entry's slot, refused or not (the metrics list each one).
    pub fn slots(&self) -> Vec<String> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|entry| file_slot(&entry.files.cert))
            .collect()
    }
}

/// A reloaded list of `[[tls.certificate]]`, every entry read and checked, not served yet.
#[derive(Debug)]
pub struct Prepared(Vec<(Entry, ServedCertificate)>);

/// Both files' bytes, each error naming its file.
fn read(files: &CertificateFiles) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |path: &Path| {
        crate::files::read_small(path).map_err(|error| TlsError::Read {
            file: path.display().to_string(),
            error,
        })
    };
    Ok((read(&files.cert)?, read(&files.key)?))
}

fn parse(
    files: &CertificateFiles,
    chain: &[u8],
    key: &[u8],
) -> Result<ServedCertificate, TlsError> {
    ServedCertificate::parse(
        chain,
        key,
        &files.cert.display().to_string(),
        &files.key.display().to_string(),
    )
}

fn entry_error(files: &CertificateFiles, error: TlsError) -> TlsError {
    TlsError::Entry {
        defined_at: files.defined_at.clone(),
        error: Box::new(error),
    }
}

/// What was read, reduced to compare with the next reading: the lengths keep the two files
/// apart, and an error counts by its message (the same failure is not logged again).
fn fingerprint(read: &Result<(Vec<u8>, Vec<u8>), TlsError>) -> [u8; 32] {
    let mut hasher = openssl::sha::Sha256::new();
    match read {
        Ok((chain, key)) => {
            hasher.update(&(chain.len() as u64).to_be_bytes());
            hasher.update(chain);
            hasher.update(key);
        }
        Err(error) => hasher.update(format!("error: {error}").as_bytes()),
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::tests::self_signed_pem;

    fn leaf(store: &CertificateStore, slot: &str) -> Vec<String> {
        store.get(slot).unwrap().names().to_vec()
    }

    #[test]
    fn a_changed_file_replaces_its_slot_and_a_broken_one_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (
            dir.path().join("fullchain.pem"),
            dir.path().join("privkey.pem"),
        );
        let write = |names: &[&str]| {
            let (chain, private) = self_signed_pem(names, -60, 86_400);
            std::fs::write(&cert, chain).unwrap();
            std::fs::write(&key, private).unwrap();
        };
        write(&["autoconfig.a.example"]);
        let settings = TlsSettings {
            certificates: vec![CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
                defined_at: "mxconf.toml:12".into(),
            }],
            ..TlsSettings::default()
        };
        let files = FileCertificates::load(&settings).unwrap();
        let slot = file_slot(&cert);
        assert_eq!(files.check(), 0);
        write(&["autoconfig.b.example"]);
        assert_eq!(files.check(), 1);
        assert_eq!(leaf(files.store(), &slot), ["autoconfig.b.example"]);
        assert_eq!(files.check(), 0);
        // A key that belongs to another certificate: refused, named, the old one kept.
        let (_, other) = self_signed_pem(&["autoconfig.c.example"], -60, 86_400);
        std::fs::write(&key, other).unwrap();
        assert_eq!(files.check(), 0);
        // Not yet reported: the chain may be on its way.
        assert!(files.refused().is_empty());
        assert_eq!(files.check(), 0);
        assert_eq!(leaf(files.store(), &slot), ["autoconfig.b.example"]);
        let refused = files.refused();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, slot);
        assert!(
            refused[0]
                .1
                .starts_with("mxconf.toml:12: tls.certificate: ")
                && refused[0].1.contains("does not match"),
            "{refused:?}"
        );
        write(&["autoconfig.d.example"]);
        assert_eq!(files.check(), 1);
        assert!(files.refused().is_empty());
        assert_eq!(leaf(files.store(), &slot), ["autoconfig.d.example"]);
    }
}
