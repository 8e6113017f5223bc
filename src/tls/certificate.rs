//! One served certificate: a PEM chain (leaf first) and its private key, checked before it
//! can be served (the key matches the leaf, the leaf is valid now and names at least one DNS
//! host). Its names and dates are read once here, for the store's lookups, the expiry gauge and
//! warnings, and whoever renews it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use openssl::x509::X509;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::TlsError;
use crate::signing::{name_to_string, reason, unix_time};

/// A checked certificate chain with its key, ready for handshakes. Cloning shares the key.
#[derive(Clone)]
pub struct ServedCertificate {
    certified: Arc<CertifiedKey>,
    /// The leaf's DNS subjectAltNames, lower-case, in the certificate's order (`*.d` kept).
    names: Vec<String>,
    not_before: SystemTime,
    not_after: SystemTime,
    /// notAfter as OpenSSL prints it (`Dec  3 06:00:00 2027 GMT`), for messages.
    expires: String,
    origin: String,
    /// The expiry thresholds warned at; clones (the store's, the installer's) share them.
    warned: Arc<crate::expiry::Warnings>,
}

impl std::fmt::Debug for ServedCertificate {
    // The key must never be printed, not even by a stray `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedCertificate")
            .field("origin", &self.origin)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ServedCertificate {
    /// A chain (leaf first, then intermediates) and its private key (PKCS#8, SEC1 or PKCS#1
    /// PEM), both as PEM text; `origin` names them in errors and logs.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8], origin: &str) -> Result<Self, TlsError> {
        ServedCertificate::parse(chain_pem, key_pem, origin, origin)
    }

    /// [`ServedCertificate::from_pem`] with the chain and the key named apart in errors.
    pub(super) fn parse(
        chain_pem: &[u8],
        key_pem: &[u8],
        cert_name: &str,
        key_name: &str,
    ) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| TlsError::Certificate {
                file: cert_name.to_owned(),
                reason: pem_reason(&error),
            })?;
        let Some(leaf) = chain.first() else {
            return Err(TlsError::Certificate {
                file: cert_name.to_owned(),
                reason: "the file holds no PEM certificate".into(),
            });
        };
        let leaf = X509::from_der(leaf).map_err(|error| TlsError::Certificate {
            file: cert_name.to_owned(),
            reason: reason(&error),
        })?;
        let names = dns_names(&leaf);
        if names.is_empty() {
            return Err(TlsError::NoNames {
                file: cert_name.to_owned(),
                subject: name_to_string(leaf.subject_name()),
            });
        }
        let not_before = system_time(unix_time(leaf.not_before()));
        let not_after = system_time(unix_time(leaf.not_after()));
        let now = SystemTime::now();
        if not_after < now {
            return Err(TlsError::Expired {
                file: cert_name.to_owned(),
                names: names.join(", "),
                not_after: leaf.not_after().to_string(),
            });
        }
        if not_before > now {
            return Err(TlsError::NotYetValid {
                file: cert_name.to_owned(),
                names: names.join(", "),
                not_before: leaf.not_before().to_string(),
            });
        }
        let key = parse_key(key_pem, key_name)?;
        let provider = provider();
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|error| TlsError::Key {
                file: key_name.to_owned(),
                reason: error.to_string(),
            })?;
        // The key's SubjectPublicKeyInfo against the leaf's, compared as DER. Not rustls'
        // `keys_match`: it parses the leaf with webpki, which refuses the unknown critical
        // extension of a tls-alpn-01 challenge certificate (RFC 8737 acmeIdentifier).
        let leaf_spki = leaf
            .public_key()
            .and_then(|key| key.public_key_to_der())
            .map_err(|error| TlsError::Certificate {
                file: cert_name.to_owned(),
                reason: reason(&error),
            })?;
        // ring derives the public key of every key type it loads.
        let matches = signing_key
            .public_key()
            .is_none_or(|spki| spki.as_ref() == leaf_spki.as_slice());
        if !matches {
            return Err(TlsError::KeyMismatch {
                key: key_name.to_owned(),
                cert: cert_name.to_owned(),
                names: names.join(", "),
            });
        }
        let certified = CertifiedKey::new(chain, signing_key);
        Ok(ServedCertificate {
            certified: Arc::new(certified),
            names,
            not_before,
            not_after,
            expires: leaf.not_after().to_string(),
            origin: cert_name.to_owned(),
            warned: Arc::default(),
        })
    }

    /// The leaf's DNS names, lower-case (wildcards as `*.example.org`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// The leaf's notAfter: when it must have been replaced.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// [`ServedCertificate::not_after`] in Unix seconds (the expiry gauge).
    pub fn not_after_unix(&self) -> i64 {
        self.not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            })
    }

    /// The file (or the name its installer gave) it was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The leaf certificate, DER.
    pub fn leaf(&self) -> &[u8] {
        self.certified.cert[0].as_ref()
    }

    pub(super) fn certified(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified)
    }

    /// One line for the log: names, expiry, origin.
    pub fn describe(&self) -> String {
        format!(
            "{} (valid until {}, from {})",
            self.names.join(", "),
            self.expires,
            self.origin
        )
    }

    /// `self` taking over from `previous` in its slot: the same leaf (a reload, a chain file
    /// written again with it) is the same certificate to its expiry warnings, so none is
    /// repeated.
    pub(super) fn succeeding(mut self, previous: &ServedCertificate) -> Self {
        if self.leaf() == previous.leaf() {
            self.warned = Arc::clone(&previous.warned);
        }
        self
    }

    /// The server's lines about a certificate it starts serving (at start, on reload, when a
    /// renewal replaced it): `event: names (valid until …)`, and the expiry warning if due.
    pub fn announce(&self, event: &str) {
        tracing::info!("{event}: {}", self.describe());
        self.warn_if_expiring();
    }

    /// Warns once the certificate is within one more of the expiry thresholds
    /// ([`crate::expiry::LOG_WARNING_DAYS`]) than when last called: once per threshold for
    /// this certificate, however often it is called. A renewal (certbot's or ACME's) that
    /// keeps failing shows here, in the log, before clients refuse the connection.
    pub fn warn_if_expiring(&self) {
        let Some(days) = self.warned.due(self.not_after_unix()) else {
            return;
        };
        tracing::warn!(
            "the TLS certificate for {} expires on {}, in {days} day(s) (from {}): renew it; clients refuse the HTTPS connection once it has expired",
            self.names.join(", "),
            self.expires,
            self.origin,
        );
    }
}

/// The one crypto provider (ring) for the server's TLS.
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn parse_key(key_pem: &[u8], file: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    // An encrypted key has a PEM label of its own, which the parser skips as unknown.
    if key_pem
        .windows(b"ENCRYPTED PRIVATE KEY".len())
        .any(|window| window == b"ENCRYPTED PRIVATE KEY")
    {
        return Err(TlsError::EncryptedKey {
            file: file.to_owned(),
        });
    }
    PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| TlsError::Key {
        file: file.to_owned(),
        reason: match error {
            pem::Error::NoItemsFound => "the file holds no PEM private key".into(),
            other => pem_reason(&other),
        },
    })
}

fn pem_reason(error: &pem::Error) -> String {
    match error {
        pem::Error::NoItemsFound => "the file holds no PEM certificate".into(),
        pem::Error::Base64Decode(_) => "its PEM text is damaged (not base64)".into(),
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        other => format!("not PEM ({other:?})"),
    }
}

/// The DNS subjectAltNames, lower-case. The subject's CN is not a name: clients ignore it
/// when a SAN is present and every public CA writes SANs.
fn dns_names(leaf: &X509) -> Vec<String> {
    let mut names: Vec<String> = leaf
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|san| san.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    names.dedup();
    names
}

fn system_time(unix: i64) -> SystemTime {
    match u64::try_from(unix) {
        Ok(seconds) => SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}
