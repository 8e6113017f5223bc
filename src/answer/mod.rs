//! Request → answer: the one place that decides what a client gets for an address or a
//! domain, used alike by the HTTP handlers and the command line (`mxconf render`, `profile`,
//! `export`). It holds the domain policy (unknown domains get each protocol's own "no
//! settings" answer, redirects, the profile pipeline) on top of `resolve`, the renderers and
//! `signing`. No HTTP types here and nothing of `server` or `cli`: callers bring parsed input
//! and turn the [`Rendered`](crate::protocol::Rendered) answer or the [`Refusal`] into bytes.

mod autoconfig;
mod autodiscover;
mod pacc;
mod profile;
mod refusal;
mod spliced;

use std::sync::Arc;

pub use profile::{ProfileFailure, ProfileFields, ProfileRefusal, Signing};
pub use refusal::Refusal;

use crate::account::EmailAddress;
use crate::config::{Config, SigningSettings};
use crate::resolve::Resolver;
use crate::signing::{CachingSigner, LiveSigner, Signer, SigningError};
use pacc::PaccDocuments;
use spliced::Spliced;

/// Everything answers are computed from, built once from one configuration and then only
/// read. Every answer function takes it explicitly, so a request that holds one `Answers`
/// (one snapshot of the configuration) sees one configuration from start to end.
#[derive(Debug)]
pub struct Answers {
    pub config: Arc<Config>,
    pub resolver: Resolver,
    /// The profile signer named by `[signing]`, with its cache of recent signatures; `None`
    /// without `[signing]`, or when the caller signs by itself (the command line). With
    /// `[signing] acme` it is empty until the certificate exists, and replaced on renewal.
    pub signer: Option<Arc<LiveSigner>>,
    /// The static-only domains' autoconfig and POX answers, rendered at load.
    spliced: Spliced,
    /// The PACC documents, rendered at load.
    pacc: PaccDocuments,
}

impl Answers {
    /// Answers without a signer: with `[signing]` configured, [`Answers::signing`] then
    /// refuses rather than leave profiles unsigned.
    pub fn new(config: Config) -> Self {
        Answers::shared(Arc::new(config))
    }

    /// [`Answers::new`] for a configuration the caller keeps too.
    pub fn shared(config: Arc<Config>) -> Self {
        let resolver = Resolver::new(Arc::clone(&config));
        Answers {
            spliced: Spliced::build(&resolver),
            pacc: PaccDocuments::build(&config, &resolver),
            resolver,
            config,
            signer: None,
        }
    }

    /// Answers with the signer `[signing]` names, loaded and checked now (with its signing
    /// threads): an unusable identity (expired, key does not match, unreadable) is an error
    /// here, with the reason, never a failing request later.
    pub fn load(config: Config) -> Result<Self, SigningError> {
        Answers::load_after(config, None)
    }

    /// [`Answers::load`] for a reloaded configuration: the signer is read again from its
    /// files; the per-user sources that did not change keep their caches.
    pub fn reload(config: Config, previous: &Answers) -> Result<Self, SigningError> {
        Answers::load_after(config, Some(previous))
    }

    fn load_after(config: Config, previous: Option<&Answers>) -> Result<Self, SigningError> {
        let signer = match &config.signing {
            Some(SigningSettings::Acme { host, cert, key }) => {
                Some(acme_signer(host, cert, key, previous)?)
            }
            Some(settings) => {
                let signer = Signer::from_settings(settings)?;
                signer.announce();
                Some(Arc::new(LiveSigner::new(Some(CachingSigner::new(
                    Arc::new(signer),
                )?))))
            }
            None => {
                tracing::warn!("no [signing] configured: profiles are served UNSIGNED");
                None
            }
        };
        let config = Arc::new(config);
        let resolver = match previous {
            Some(previous) => Resolver::renewed(Arc::clone(&config), &previous.resolver),
            None => Resolver::new(Arc::clone(&config)),
        };
        Ok(Answers {
            spliced: Spliced::build(&resolver),
            pacc: PaccDocuments::build(&config, &resolver),
            config,
            resolver,
            signer,
        })
    }
}

/// The signer of `[signing] acme = "HOST"`: the previous one across a reload (the ACME task
/// replaces it), else the stored certificate if there is one. Without one, the server starts
/// anyway and refuses profiles (503) until the certificate is issued.
fn acme_signer(
    host: &str,
    cert: &std::path::Path,
    key: &std::path::Path,
    previous: Option<&Answers>,
) -> Result<Arc<LiveSigner>, SigningError> {
    let kept = previous.and_then(|previous| match &previous.config.signing {
        Some(SigningSettings::Acme { host: old, .. }) if old == host => previous.signer.clone(),
        _ => None,
    });
    if let Some(kept) = kept {
        return Ok(kept);
    }
    if !cert.exists() {
        tracing::warn!(
            "[signing] acme: no certificate for {host} yet; profiles are refused (503) until the ACME CA has issued it"
        );
        return Ok(Arc::new(LiveSigner::default()));
    }
    let signer = Signer::from_pem(cert, None, key)?;
    signer.announce();
    Ok(Arc::new(LiveSigner::new(Some(CachingSigner::new(
        Arc::new(signer),
    )?))))
}

/// Far above any real address (254 characters, at most 12 bytes each when percent-encoded);
/// longer input is refused before any decoding or parsing work.
pub const MAX_PARAMETER: usize = 3 * 1024;

/// An address as a client sent it (already percent-decoded), parsed.
pub fn parse_address(text: &str) -> Result<EmailAddress, Refusal> {
    if text.len() > MAX_PARAMETER {
        return Err(Refusal::BadParameter);
    }
    Ok(EmailAddress::parse(text)?)
}
