//! Signs Apple configuration profiles as CMS SignedData (DER, content attached, SHA-256,
//! `BINARY`, signer plus every intermediate) and verifies signed ones. Sits after the profile
//! renderer in the flow (render → sign → serve); it signs bytes and knows nothing of profiles,
//! HTTP or the terminal. The identity is loaded and checked once ([`Signer`]); only
//! [`Signer::sign`] can make a [`SignedProfile`], so an unsigned profile can never pass for one.

mod credentials;
mod verify;

use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::{X509, X509NameRef};

pub use verify::{VerifyReport, verify};

use crate::config::SigningSettings;

/// Why a signing identity could not be loaded, a profile not signed, or a signature not verified.
/// Every message is one line and names the file it is about; none ever contains a password.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    // The I/O error is part of the message, not a `source`, so `{:#}` prints it once.
    #[error("cannot read {file}: {error}")]
    Read { file: String, error: std::io::Error },
    #[error("{file}: no PEM certificate found ({reason})")]
    Certificate { file: String, reason: String },
    #[error("{file}: no usable PEM private key found ({reason})")]
    Key { file: String, reason: String },
    #[error(
        "{file}: the private key is encrypted; mxconf needs it unencrypted (`openssl pkey -in {file} -out plain.key`) and readable only by the service user"
    )]
    EncryptedKey { file: String },
    #[error("{key}: the private key does not match the certificate {subject} in {cert}")]
    KeyMismatch {
        key: String,
        cert: String,
        subject: String,
    },
    #[error(
        "{file}: the key belongs to {subject}, which is not the first certificate in the file; put the signer first, then its intermediates"
    )]
    SignerNotFirst { file: String, subject: String },
    #[error(
        "{file}: the signing certificate {subject} expired on {not_after} (valid from {not_before})"
    )]
    Expired {
        file: String,
        subject: String,
        not_before: String,
        not_after: String,
    },
    #[error(
        "{file}: the signing certificate {subject} is not valid yet: valid from {not_before} until {not_after}"
    )]
    NotYetValid {
        file: String,
        subject: String,
        not_before: String,
        not_after: String,
    },
    #[error("{file}: wrong PKCS#12 password (read from {password_file})")]
    WrongPassword { file: String, password_file: String },
    #[error("{file}: the password in it contains {problem}")]
    BadPassword { file: String, problem: &'static str },
    #[error("{file}: not a readable PKCS#12 bundle ({reason})")]
    Pkcs12 { file: String, reason: String },
    #[error(
        "{file}: the PKCS#12 bundle uses legacy encryption (RC2/3DES) and OpenSSL's legacy provider could not be loaded ({reason}); re-export it with `openssl pkcs12 -export` (AES) or install the provider"
    )]
    LegacyProvider { file: String, reason: String },
    #[error("{file}: the PKCS#12 bundle has no {missing}")]
    Pkcs12Incomplete { file: String, missing: &'static str },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("not a CMS SignedData structure ({reason})")]
    NotSigned { reason: String },
    #[error("the signature does not verify: the content or signature was altered ({0})")]
    BadSignature(String),
    #[error("the certificate chain does not verify: {0}")]
    Chain(String),
    #[error("{file}: cannot use as CA certificates ({reason})")]
    TrustStore { file: String, reason: String },
}

/// A loaded, checked signing identity. Built once at start-up and shared read-only.
pub struct Signer {
    certificate: X509,
    key: PKey<Private>,
    /// The intermediates embedded in every signature, signer's issuer first.
    chain: Stack<X509>,
    /// Where the identity came from, for messages (`signer.pem`, `bundle.p12`, the dev chain).
    origin: String,
    development: bool,
}

impl std::fmt::Debug for Signer {
    // The key must never be printed, not even by a stray `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("signer", &self.describe())
            .finish_non_exhaustive()
    }
}

/// A profile signed by [`Signer::sign`]: CMS SignedData in DER. There is no other constructor,
/// so code that needs a `SignedProfile` cannot be handed unsigned bytes by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedProfile(Vec<u8>);

impl SignedProfile {
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }

    pub fn into_der(self) -> Vec<u8> {
        self.0
    }
}

impl Signer {
    /// Loads the identity `[signing]` names; relative paths are taken from `base_dir` (the
    /// config file's directory).
    pub fn from_settings(
        settings: &SigningSettings,
        base_dir: &Path,
    ) -> Result<Signer, SigningError> {
        match settings {
            SigningSettings::Pem { cert, chain, key } => Signer::from_pem(
                &base_dir.join(cert),
                chain.as_ref().map(|chain| base_dir.join(chain)).as_deref(),
                &base_dir.join(key),
            ),
            SigningSettings::Pkcs12 {
                file,
                password_file,
            } => Signer::from_pkcs12(&base_dir.join(file), &base_dir.join(password_file)),
            SigningSettings::DevelopmentChain => Signer::development(),
        }
    }

    /// A PEM certificate file (its first certificate signs, the rest are intermediates), an
    /// optional PEM file of further intermediates, and a PEM private key.
    pub fn from_pem(cert: &Path, chain: Option<&Path>, key: &Path) -> Result<Signer, SigningError> {
        credentials::from_pem(cert, chain, key)
    }

    /// A PKCS#12 bundle and a file holding its password (first line).
    pub fn from_pkcs12(file: &Path, password_file: &Path) -> Result<Signer, SigningError> {
        credentials::from_pkcs12(file, password_file)
    }

    /// The development chain committed in `certs/` (embedded in the binary). Profiles signed
    /// with it show "Not Verified" on devices: its root is trusted nowhere.
    pub fn development() -> Result<Signer, SigningError> {
        credentials::development()
    }

    /// Signs `content` byte for byte: CMS SignedData, DER, attached, SHA-256, signer and chain
    /// embedded. Fails (never falls back to unsigned) when the certificate has expired since
    /// start-up, since devices treat an expired signature as none (NOTES.md, Apple section).
    pub fn sign(&self, content: &[u8]) -> Result<SignedProfile, SigningError> {
        credentials::check_validity(&self.certificate, &self.origin)?;
        // BINARY: without it OpenSSL rewrites LF to CRLF inside the signed content (crates.md G1).
        // No STREAM: Apple specifies DER, and streaming writes indefinite-length BER.
        // SMIMECapabilities are kept: that is the form `openssl smime -sign` (automx) produces and
        // iOS is known to accept (crates.md §17).
        let cms = CmsContentInfo::sign(
            Some(&self.certificate),
            Some(&self.key),
            Some(&self.chain),
            Some(content),
            CMSOptions::BINARY,
        )
        .and_then(|cms| cms.to_der())
        .map_err(|error| SigningError::Sign(reason(&error)))?;
        Ok(SignedProfile(cms))
    }

    /// One line for the start-up log: subject, issuer, expiry, origin.
    pub fn describe(&self) -> String {
        format!(
            "{} (issuer {}, valid until {}, from {}, {} intermediate(s))",
            name_to_string(self.certificate.subject_name()),
            name_to_string(self.certificate.issuer_name()),
            self.certificate.not_after(),
            self.origin,
            self.chain.len(),
        )
    }

    /// True for the committed development chain: the server warns that devices will show
    /// "Not Verified".
    pub fn is_development(&self) -> bool {
        self.development
    }
}

/// True when `bytes` parse as CMS (e.g. an already signed profile): for clearer refusals.
pub fn is_signed_data(bytes: &[u8]) -> bool {
    CmsContentInfo::from_der(bytes).is_ok()
}

/// `CN=…, O=…` in the certificate's own order, for messages and reports.
pub(crate) fn name_to_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let field = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_else(|_| "?".to_owned());
            format!("{field}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// OpenSSL's reasons from an error stack, one line, without its source file names and codes.
pub(crate) fn reason(error: &ErrorStack) -> String {
    let mut reasons: Vec<String> = Vec::new();
    for error in error.errors() {
        let text = match (error.reason(), error.data()) {
            (Some(reason), Some(data)) if !data.is_empty() => format!("{reason}: {data}"),
            (Some(reason), _) => reason.to_owned(),
            (None, _) => continue,
        };
        if !reasons.contains(&text) {
            reasons.push(text);
        }
    }
    if reasons.is_empty() {
        "unknown OpenSSL error".to_owned()
    } else {
        reasons.join("; ")
    }
}

/// The current time as OpenSSL compares it with certificate dates.
pub(crate) fn now() -> Result<Asn1Time, SigningError> {
    Asn1Time::days_from_now(0).map_err(|error| SigningError::Sign(reason(&error)))
}

#[cfg(test)]
mod tests;
