//! Loading a signing identity (PEM files, a PKCS#12 bundle, or the embedded development chain)
//! and the start-up checks on it: the key matches the certificate, the certificate is valid
//! now, the key file is private. Runs once, before the first profile is signed.

use std::path::Path;
use std::sync::OnceLock;

use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::provider::Provider;
use openssl::stack::Stack;
use openssl::x509::{X509, X509Ref, X509VerifyResult};

use super::{Signer, SigningError, name_to_string, now, reason, unix_time};

/// The development chain from `certs/` (made by `certs/make-dev-chain.sh`). Public on purpose:
/// profiles signed with it prove nothing and show "Not Verified" on devices.
const DEV_SIGNER_PEM: &[u8] = include_bytes!("../../certs/signer.pem");
const DEV_SIGNER_KEY: &[u8] = include_bytes!("../../certs/signer.key");
const DEV_CHAIN_PEM: &[u8] = include_bytes!("../../certs/chain.pem");
const DEV_ORIGIN: &str = "the development chain (certs/)";

pub(super) fn from_pem(
    cert: &Path,
    chain: Option<&Path>,
    key: &Path,
) -> Result<Signer, SigningError> {
    let cert_name = cert.display().to_string();
    let mut intermediates = Vec::new();
    if let Some(chain) = chain {
        let chain_name = chain.display().to_string();
        intermediates = parse_certificates(&read(chain)?, &chain_name)?;
    }
    warn_if_exposed(key);
    let key_name = key.display().to_string();
    identity(
        &read(cert)?,
        intermediates,
        &cert_name,
        &read(key)?,
        &key_name,
    )
}

pub(super) fn from_pem_bytes(
    chain: &[u8],
    key: &[u8],
    origin: &str,
) -> Result<Signer, SigningError> {
    identity(chain, Vec::new(), origin, key, origin)
}

/// `cert_pem`'s first certificate signs with `key_pem`; its further certificates, then
/// `more`, are the intermediates.
fn identity(
    cert_pem: &[u8],
    more: Vec<X509>,
    cert_name: &str,
    key_pem: &[u8],
    key_name: &str,
) -> Result<Signer, SigningError> {
    let mut certificates = parse_certificates(cert_pem, cert_name)?.into_iter();
    let certificate = certificates
        .next()
        .ok_or_else(|| SigningError::Certificate {
            file: cert_name.to_owned(),
            reason: "the file holds no certificate".into(),
        })?;
    let mut intermediates: Vec<X509> = certificates.collect();
    intermediates.extend(more);
    let key = parse_key(key_pem, key_name)?;
    // A file in root-first order would otherwise read as "key does not match".
    if !key_matches(&certificate, &key)
        && let Some(signer) = intermediates.iter().find(|c| key_matches(c, &key))
    {
        return Err(SigningError::SignerNotFirst {
            file: cert_name.to_owned(),
            subject: name_to_string(signer.subject_name()),
        });
    }
    Signer::checked(
        certificate,
        key,
        intermediates,
        cert_name.to_owned(),
        key_name,
        false,
    )
}

pub(super) fn from_pkcs12(file: &Path, password_file: &Path) -> Result<Signer, SigningError> {
    let name = file.display().to_string();
    let password_name = password_file.display().to_string();
    warn_if_exposed(file);
    warn_if_exposed(password_file);
    let der = read(file)?;
    let password = read_password(password_file)?;
    let bundle = Pkcs12::from_der(&der).map_err(|error| SigningError::Pkcs12 {
        file: name.clone(),
        reason: reason(&error),
    })?;
    let parsed = match bundle.parse2(&password) {
        Ok(parsed) => parsed,
        Err(error) if is_wrong_password(&error) => {
            return Err(SigningError::WrongPassword {
                file: name,
                password_file: password_name,
            });
        }
        // Bundles exported before OpenSSL 3 (and by many tools still) encrypt with RC2/3DES,
        // which OpenSSL 3 only has in its "legacy" provider
        // (docs/profiles.md, "Legacy PKCS#12 bundles").
        Err(_) => {
            legacy_provider().map_err(|reason| SigningError::LegacyProvider {
                file: name.clone(),
                reason,
            })?;
            bundle.parse2(&password).map_err(|error| {
                if is_wrong_password(&error) {
                    SigningError::WrongPassword {
                        file: name.clone(),
                        password_file: password_name.clone(),
                    }
                } else {
                    SigningError::Pkcs12 {
                        file: name.clone(),
                        reason: reason(&error),
                    }
                }
            })?
        }
    };
    let certificate = parsed.cert.ok_or_else(|| SigningError::Pkcs12Incomplete {
        file: name.clone(),
        missing: "certificate",
    })?;
    let key = parsed.pkey.ok_or_else(|| SigningError::Pkcs12Incomplete {
        file: name.clone(),
        missing: "private key",
    })?;
    let intermediates = parsed
        .ca
        .map(|stack| stack.into_iter().collect())
        .unwrap_or_default();
    Signer::checked(certificate, key, intermediates, name.clone(), &name, false)
}

pub(super) fn development() -> Result<Signer, SigningError> {
    let certificate = parse_certificates(DEV_SIGNER_PEM, DEV_ORIGIN)?
        .into_iter()
        .next()
        .ok_or_else(|| SigningError::Certificate {
            file: DEV_ORIGIN.into(),
            reason: "the file holds no certificate".into(),
        })?;
    let key = parse_key(DEV_SIGNER_KEY, DEV_ORIGIN)?;
    let intermediates = parse_certificates(DEV_CHAIN_PEM, DEV_ORIGIN)?;
    Signer::checked(
        certificate,
        key,
        intermediates,
        DEV_ORIGIN.into(),
        DEV_ORIGIN,
        true,
    )
}

impl Signer {
    /// Every identity passes through here: the checks that make a signer usable.
    fn checked(
        certificate: X509,
        key: PKey<Private>,
        intermediates: Vec<X509>,
        origin: String,
        key_name: &str,
        development: bool,
    ) -> Result<Signer, SigningError> {
        if !key_matches(&certificate, &key) {
            return Err(SigningError::KeyMismatch {
                key: key_name.to_owned(),
                cert: origin,
                subject: name_to_string(certificate.subject_name()),
            });
        }
        check_validity(&certificate, &origin)?;
        let mut chain = Stack::new().map_err(|error| SigningError::Sign(reason(&error)))?;
        for intermediate in intermediates {
            // The signer itself is embedded anyway; listing it twice only bloats the profile.
            let duplicate = intermediate == certificate || chain.iter().any(|c| *c == intermediate);
            if !duplicate {
                chain
                    .push(intermediate)
                    .map_err(|error| SigningError::Sign(reason(&error)))?;
            }
        }
        let valid = (
            unix_time(certificate.not_before()),
            unix_time(certificate.not_after()),
        );
        let signer = Signer {
            valid,
            certificate,
            key,
            chain,
            origin,
            development,
            template: None,
            warned: crate::expiry::Warnings::default(),
        };
        signer.warn_if_chain_incomplete();
        Ok(signer.with_template())
    }

    /// Devices need every intermediate in the profile to reach a trusted root; a missing one
    /// turns "Verified" into "Not Verified". Not an error: the profile is still signed and
    /// tamper-evident (docs/profiles.md, "Incomplete chain is a warning").
    fn warn_if_chain_incomplete(&self) {
        let leaf: &X509Ref = &self.certificate;
        let issued_by = |issuer: &X509Ref| issuer.issued(leaf) == X509VerifyResult::OK;
        if issued_by(leaf) || self.chain.iter().any(issued_by) {
            return;
        }
        tracing::warn!(
            "no certificate in the chain from {} issued the signer {}; unless its issuer {} is a root the devices trust, they will show \"Not Verified\"",
            self.origin,
            name_to_string(leaf.subject_name()),
            name_to_string(leaf.issuer_name()),
        );
    }
}

fn key_matches(certificate: &X509Ref, key: &PKey<Private>) -> bool {
    certificate
        .public_key()
        .map(|public| public.public_eq(key))
        .unwrap_or(false)
}

/// Expired or not-yet-valid signers are refused: devices treat such a profile as unsigned.
pub(super) fn check_validity(certificate: &X509Ref, origin: &str) -> Result<(), SigningError> {
    let now = now()?;
    let not_before = certificate.not_before();
    let not_after = certificate.not_after();
    let details = || {
        (
            origin.to_owned(),
            name_to_string(certificate.subject_name()),
            not_before.to_string(),
            not_after.to_string(),
        )
    };
    if not_after < now {
        let (file, subject, not_before, not_after) = details();
        return Err(SigningError::Expired {
            file,
            subject,
            not_before,
            not_after,
        });
    }
    if not_before > now {
        let (file, subject, not_before, not_after) = details();
        return Err(SigningError::NotYetValid {
            file,
            subject,
            not_before,
            not_after,
        });
    }
    Ok(())
}

/// Regular files only, size-capped: a path to `/dev/zero` must not hang the start.
fn read(path: &Path) -> Result<Vec<u8>, SigningError> {
    crate::files::read_small(path).map_err(|error| SigningError::Read {
        file: path.display().to_string(),
        error,
    })
}

fn parse_certificates(pem: &[u8], file: &str) -> Result<Vec<X509>, SigningError> {
    X509::stack_from_pem(pem)
        .map_err(|error| SigningError::Certificate {
            file: file.to_owned(),
            reason: reason(&error),
        })
        .and_then(|certificates| {
            if certificates.is_empty() {
                Err(SigningError::Certificate {
                    file: file.to_owned(),
                    reason: "the file holds no certificate".into(),
                })
            } else {
                Ok(certificates)
            }
        })
}

fn parse_key(pem: &[u8], file: &str) -> Result<PKey<Private>, SigningError> {
    // Never let OpenSSL prompt for a passphrase on the terminal: a server would hang at start.
    // An empty passphrase makes an encrypted key fail here, with our own message.
    let is_encrypted = pem.windows(9).any(|window| window == b"ENCRYPTED");
    PKey::private_key_from_pem_callback(pem, |_passphrase| Ok(0)).map_err(|error| {
        if is_encrypted {
            SigningError::EncryptedKey {
                file: file.to_owned(),
            }
        } else {
            SigningError::Key {
                file: file.to_owned(),
                reason: reason(&error),
            }
        }
    })
}

/// The first line of the password file, without its line ending. Never logged.
fn read_password(path: &Path) -> Result<String, SigningError> {
    let name = path.display().to_string();
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| SigningError::BadPassword {
        file: name.clone(),
        problem: "bytes that are not UTF-8",
    })?;
    let password = text.lines().next().unwrap_or_default().to_owned();
    if password.contains('\0') {
        // The openssl crate turns the password into a C string and would panic on a NUL.
        return Err(SigningError::BadPassword {
            file: name,
            problem: "a NUL byte",
        });
    }
    Ok(password)
}

fn is_wrong_password(error: &openssl::error::ErrorStack) -> bool {
    error
        .errors()
        .iter()
        .any(|error| error.reason() == Some("mac verify failure"))
}

/// OpenSSL's legacy provider, loaded once for the life of the process (dropping the handle
/// would unload it). The default provider stays available beside it.
fn legacy_provider() -> Result<(), String> {
    static LEGACY: OnceLock<Result<Provider, String>> = OnceLock::new();
    LEGACY
        .get_or_init(|| Provider::try_load(None, "legacy", true).map_err(|error| reason(&error)))
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// Group or other permission bits on a secret file, if any (Unix only).
pub(super) fn exposed_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o044 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A key others can read is a key others may have copied; warn, since the admin may rely on
/// group access deliberately.
fn warn_if_exposed(path: &Path) {
    if let Some(mode) = exposed_mode(path) {
        tracing::warn!(
            file = %path.display(),
            "{} is readable by users other than its owner (mode {mode:03o}); make it readable only by the mxconf service user (chmod 600)",
            path.display()
        );
    }
}
