//! Signs Apple configuration profiles as CMS SignedData (DER, content attached, SHA-256,
//! `BINARY`, signer plus every intermediate) and verifies signed ones. Sits after the profile
//! renderer in the flow (render → sign → serve); it signs bytes and knows nothing of profiles,
//! HTTP or the terminal. The identity is loaded and checked once ([`Signer`]); only
//! [`Signer::sign`] can make a [`SignedProfile`], so an unsigned profile can never pass for one.

mod cache;
mod credentials;
mod template;
mod verify;
mod workers;

use std::path::Path;
use std::time::SystemTime;

use openssl::asn1::Asn1Time;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::md::Md;
use openssl::pkey::{Id, PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::stack::Stack;
use openssl::x509::{X509, X509NameRef};

pub use cache::{CachingSigner, LiveSigner};
pub use verify::{VerifyReport, signed_content, verify};

use crate::config::SigningSettings;
use template::SignedDataTemplate;

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
    #[error("too many profiles are waiting to be signed")]
    Busy,
    #[error("the signing certificate for {host} has not been obtained from the ACME CA yet")]
    Pending { host: String },
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
    /// This identity's SignedData as OpenSSL lays it out; `None` (then every signature goes
    /// through `CMS_sign`) for key types other than RSA and ECDSA.
    template: Option<SignedDataTemplate>,
    /// The certificate's notBefore and notAfter in Unix seconds: every signature checks the
    /// clock against them, which is cheaper than comparing OpenSSL's ASN.1 times each time.
    valid: (i64, i64),
    /// The expiry thresholds already warned at.
    warned: crate::expiry::Warnings,
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
    /// Loads the identity `[signing]` names (its paths were resolved when the config loaded).
    pub fn from_settings(settings: &SigningSettings) -> Result<Signer, SigningError> {
        match settings {
            SigningSettings::Pem { cert, chain, key } => {
                Signer::from_pem(cert, chain.as_deref(), key)
            }
            SigningSettings::Pkcs12 {
                file,
                password_file,
            } => Signer::from_pkcs12(file, password_file),
            SigningSettings::DevelopmentChain => Signer::development(),
            SigningSettings::Acme { cert, key, .. } => Signer::from_pem(cert, None, key),
        }
    }

    /// A PEM chain (signer first) and its PEM key held in memory, such as an ACME
    /// certificate just issued; `origin` names them in messages.
    pub fn from_pem_bytes(chain: &[u8], key: &[u8], origin: &str) -> Result<Signer, SigningError> {
        credentials::from_pem_bytes(chain, key, origin)
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
    /// start-up, since devices treat an expired signature as none
    /// (docs/profiles.md, "Which certificate").
    /// For many signatures on one thread, [`Signer::session`] saves the key set-up each time.
    pub fn sign(&self, content: &[u8]) -> Result<SignedProfile, SigningError> {
        self.session()?.sign(content)
    }

    /// A prepared private-key context for signing many profiles on one thread.
    pub fn session(&self) -> Result<SigningSession<'_>, SigningError> {
        Ok(self.resumed(self.prepared()?))
    }

    /// What a session keeps between signatures: its key context, when it signs from the
    /// template.
    fn prepared(&self) -> Result<Prepared, SigningError> {
        let context = match &self.template {
            Some(_) => Some(
                signature_context(&self.key).map_err(|error| SigningError::Sign(reason(&error)))?,
            ),
            None => None,
        };
        Ok(Prepared(context))
    }

    /// A session on a context [`Signer::prepared`] made for this signer.
    fn resumed(&self, prepared: Prepared) -> SigningSession<'_> {
        SigningSession {
            signer: self,
            context: prepared.0,
        }
    }

    /// OpenSSL's `CMS_sign`: the reference the template is taken from, and the path for key
    /// types the template does not cover.
    fn sign_with_cms(&self, content: &[u8]) -> Result<Vec<u8>, ErrorStack> {
        // BINARY: without it OpenSSL rewrites LF to CRLF inside the signed content
        // (docs/profiles.md, "Binary content").
        // No STREAM: Apple specifies DER, and streaming writes indefinite-length BER.
        // SMIMECapabilities are kept: that is the form `openssl smime -sign` (automx) produces and
        // iOS is known to accept (docs/profiles.md, "SMIMECapabilities kept").
        CmsContentInfo::sign(
            Some(&self.certificate),
            Some(&self.key),
            Some(&self.chain),
            Some(content),
            CMSOptions::BINARY,
        )
        .and_then(|cms| cms.to_der())
    }

    /// Learns the SignedData layout from one `CMS_sign` at load, and keeps it only if a
    /// signature assembled from it verifies.
    fn with_template(mut self) -> Self {
        if !matches!(self.key.id(), Id::RSA | Id::EC) {
            return self;
        }
        let reference = b"<plist version=\"1.0\"><dict/></plist>\n";
        let template = self
            .sign_with_cms(reference)
            .ok()
            .and_then(|der| SignedDataTemplate::from_reference(&der));
        self.template = template.filter(|template| {
            let assembled = signature_context(&self.key)
                .map_err(|error| SigningError::Sign(reason(&error)))
                .and_then(|mut context| {
                    let digest = openssl::sha::sha256(reference);
                    template.assemble(reference, &digest, SystemTime::now(), |digest| {
                        sign_digest(&mut context, digest)
                    })
                });
            assembled.is_ok_and(|der| verifies(&der, reference))
        });
        if self.template.is_none() {
            tracing::debug!(
                "signing through CMS_sign for every profile ({})",
                self.origin
            );
        }
        self
    }

    /// Refuses once the certificate has expired (or before it is valid): devices treat an
    /// expired signature as none.
    pub fn check_validity(&self) -> Result<(), SigningError> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .and_then(|since| i64::try_from(since.as_secs()).ok());
        match now {
            Some(now) if (self.valid.0..=self.valid.1).contains(&now) => Ok(()),
            // Outside (or a clock before 1970): OpenSSL's own comparison decides, and words
            // the refusal.
            _ => credentials::check_validity(&self.certificate, &self.origin),
        }
    }

    /// The signing certificate (its dates and names, for `mxconf doctor`).
    pub fn certificate(&self) -> &openssl::x509::X509Ref {
        &self.certificate
    }

    /// The certificate's notAfter in Unix seconds (the expiry gauge of the metrics).
    pub fn expires_at(&self) -> i64 {
        unix_time(self.certificate.not_after())
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

    /// The server's line about the signer it starts signing with (at start, on reload, after
    /// an ACME renewal): who signs and until when, and the expiry warning if one is due.
    pub fn announce(&self) {
        if self.development {
            tracing::warn!(
                "signing profiles with the DEVELOPMENT chain: profiles will show Not Verified on devices"
            );
        } else {
            tracing::info!("signing profiles as {}", self.describe());
        }
        self.warn_if_expiring();
    }

    /// Warns once the certificate is within one more of the expiry thresholds
    /// ([`crate::expiry::LOG_WARNING_DAYS`]) than when last called: once per threshold for
    /// this signer, however often it is called.
    pub fn warn_if_expiring(&self) {
        let Some(days) = self.warned.due(self.expires_at()) else {
            return;
        };
        tracing::warn!(
            "the signing certificate {} expires on {}, in {days} day(s) (from {}): renew it; devices show profiles signed by an expired certificate as unverified",
            name_to_string(self.certificate.subject_name()),
            self.certificate.not_after(),
            self.origin,
        );
    }
}

/// A signer's private-key operations on one thread. Made by [`Signer::session`].
pub struct SigningSession<'a> {
    signer: &'a Signer,
    /// Initialised for SHA-256 signatures (PKCS#1 v1.5 for RSA); `None` without a template.
    context: Option<PkeyCtx<Private>>,
}

/// A session's key context, kept while no session uses it (the signing workers' pool).
struct Prepared(Option<PkeyCtx<Private>>);

impl SigningSession<'_> {
    /// Its context, for the next session on the same signer.
    fn suspend(self) -> Prepared {
        Prepared(self.context)
    }

    /// Exactly [`Signer::sign`].
    pub fn sign(&mut self, content: &[u8]) -> Result<SignedProfile, SigningError> {
        self.sign_digested(content, &openssl::sha::sha256(content))
    }

    /// [`SigningSession::sign`] for a caller that already has the SHA-256 of `content` (the
    /// signature cache's key), so that it is not computed twice.
    pub(super) fn sign_digested(
        &mut self,
        content: &[u8],
        content_digest: &[u8; 32],
    ) -> Result<SignedProfile, SigningError> {
        self.signer.check_validity()?;
        let der = match (&self.signer.template, &mut self.context) {
            (Some(template), Some(context)) => {
                template.assemble(content, content_digest, SystemTime::now(), |digest| {
                    sign_digest(context, digest)
                })
            }
            _ => self
                .signer
                .sign_with_cms(content)
                .map_err(|error| SigningError::Sign(reason(&error))),
        };
        der.map(SignedProfile)
    }
}

/// A key context prepared once for SHA-256 signatures as `CMS_sign` makes them.
fn signature_context(key: &PKey<Private>) -> Result<PkeyCtx<Private>, ErrorStack> {
    let mut context = PkeyCtx::new(key)?;
    context.sign_init()?;
    if key.id() == Id::RSA {
        context.set_rsa_padding(Padding::PKCS1)?;
    }
    context.set_signature_md(Md::sha256())?;
    Ok(context)
}

fn sign_digest(context: &mut PkeyCtx<Private>, digest: &[u8; 32]) -> Result<Vec<u8>, ErrorStack> {
    let mut signature = Vec::new();
    context.sign_to_vec(digest, &mut signature)?;
    Ok(signature)
}

/// The signature over `content` holds (the chain is not this check's business).
fn verifies(der: &[u8], content: &[u8]) -> bool {
    let mut signed = Vec::new();
    CmsContentInfo::from_der(der)
        .and_then(|mut cms| {
            cms.verify(
                None,
                None,
                None,
                Some(&mut signed),
                CMSOptions::BINARY | CMSOptions::NOVERIFY,
            )
        })
        .is_ok()
        && signed == content
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

/// A certificate date in Unix seconds (0 if OpenSSL cannot compute it).
pub(crate) fn unix_time(time: &openssl::asn1::Asn1TimeRef) -> i64 {
    Asn1Time::from_unix(0)
        .and_then(|epoch| epoch.diff(time))
        .map_or(0, |diff| {
            i64::from(diff.days) * 86_400 + i64::from(diff.secs)
        })
}

/// The current time as OpenSSL compares it with certificate dates.
pub(crate) fn now() -> Result<Asn1Time, SigningError> {
    Asn1Time::days_from_now(0).map_err(|error| SigningError::Sign(reason(&error)))
}

#[cfg(test)]
mod tests;
