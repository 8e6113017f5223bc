//! The Apple profile pipeline, one for `/mobileconfig`, `mxconf profile` and `mxconf export`:
//! resolve the address → the visitor's name → `profile::build` → sign (the server's signing
//! threads, a command-line thread's own session, or not at all). Fail closed: with
//! `[signing]` configured the server never hands out an unsigned profile.

use super::Answers;
use crate::account::{Account, AddressError, Domain, EmailAddress};
use crate::config::{ProfileSettings, SigningSettings};
use crate::profile::mdm::{self, Mdm};
use crate::profile::{self, ProfileError};
use crate::resolve::ResolveError;
use crate::signing::{CachingSigner, SignedProfile, SigningError, SigningSession};
use crate::webform::FormProblem;

/// How the pipeline signs the profile it built.
pub enum Signing<'a, 'k> {
    /// Leave it unsigned: no `[signing]` is configured, or the admin asked (`--unsigned`).
    Unsigned,
    /// The server's signing threads, behind their cache of recent signatures.
    Threads(std::sync::Arc<CachingSigner>),
    /// A command-line thread's prepared key (`export` signs on every core).
    Session(&'a mut SigningSession<'k>),
    /// `[signing]` is configured but no signer is loaded: refuse rather than hand out an
    /// unsigned profile.
    Missing,
    /// `[signing] acme`: the certificate for this host is not issued yet.
    Pending(&'a str),
}

/// Why the pipeline made no profile, for the log and the command line: each message names
/// what failed (`example.net: domain not served here`).
#[derive(Debug, thiserror::Error)]
pub enum ProfileFailure {
    #[error("{domain}: {error}")]
    Resolve { domain: Domain, error: ResolveError },
    #[error(transparent)]
    Build(ProfileError),
    #[error(transparent)]
    Signing(SigningError),
}

impl Answers {
    /// The server's way to sign: its signer, or unsigned without `[signing]`; with
    /// `[signing]` configured but no signer loaded (an [`Answers::new`] state),
    /// [`Signing::Missing`], never unsigned.
    pub fn signing(&self) -> Signing<'_, 'static> {
        let current = self.signer.as_ref().and_then(|live| live.current());
        match (current, &self.config.signing) {
            (Some(signer), _) => Signing::Threads(signer),
            (None, None) => Signing::Unsigned,
            (None, Some(SigningSettings::Acme { host, .. })) if self.signer.is_some() => {
                Signing::Pending(host)
            }
            (None, Some(_)) => Signing::Missing,
        }
    }

    /// One unsigned profile for every user of `domain`, with `mdm`'s per-user variables
    /// where each user's address, local part and name go (the MDM signs it). Built from
    /// the domain's generic settings: per-user sources are not asked for a stand-in.
    pub fn mdm_profile(&self, mdm: Mdm, domain: &Domain) -> Result<Vec<u8>, ProfileFailure> {
        let resolve = |error| ProfileFailure::Resolve {
            domain: domain.clone(),
            error,
        };
        let stand_in = mdm::stand_in(domain).ok_or_else(|| resolve(ResolveError::UnknownDomain))?;
        let mut account = self.resolver.resolve_generic(&stand_in).map_err(resolve)?;
        account.display_name = Some(mdm::stand_in_name().to_owned());
        let identity =
            profile::ProfileIdentity::for_domain(&self.config.profile.identifier_prefix, domain);
        let xml = profile::build_as(&account, &self.config.profile, &identity)
            .map_err(ProfileFailure::Build)?;
        Ok(mdm::substitute(&String::from_utf8_lossy(&xml), &stand_in, mdm).into_bytes())
    }

    /// The profile for `address`: signed DER, or the XML plist with [`Signing::Unsigned`].
    /// `name` (the visitor's, cleaned to a label) replaces the one a per-user source gave.
    pub async fn profile(
        &self,
        address: &EmailAddress,
        name: Option<&str>,
        signing: Signing<'_, '_>,
    ) -> Result<Vec<u8>, ProfileFailure> {
        let xml = match self.spliced.profile(address, name) {
            Some(xml) => xml,
            None => self.build_profile(address, name).await?,
        };
        match signing {
            Signing::Unsigned => Ok(xml),
            Signing::Threads(signer) => signer.sign(xml).await.map(SignedProfile::into_der),
            Signing::Session(session) => session.sign(&xml).map(SignedProfile::into_der),
            Signing::Missing => Err(SigningError::Sign(
                "signing is configured but no signer is loaded".into(),
            )),
            Signing::Pending(host) => Err(SigningError::Pending {
                host: host.to_owned(),
            }),
        }
        .map_err(ProfileFailure::Signing)
    }

    /// The unsigned profile for `address`, resolved and built in full.
    async fn build_profile(
        &self,
        address: &EmailAddress,
        name: Option<&str>,
    ) -> Result<Vec<u8>, ProfileFailure> {
        let account =
            self.resolver
                .resolve(address)
                .await
                .map_err(|error| ProfileFailure::Resolve {
                    domain: address.domain().clone(),
                    error,
                })?;
        built_profile(account, name, &self.config.profile).map_err(ProfileFailure::Build)
    }
}

/// The profile for `account` with the visitor's `name` (cleaned to a label) instead of the one a
/// per-user source gave. Takes tens of microseconds, like rendering any other protocol; only
/// the signature leaves the async workers, on the signing threads.
pub(super) fn built_profile(
    mut account: Account,
    name: Option<&str>,
    settings: &ProfileSettings,
) -> Result<Vec<u8>, ProfileError> {
    if let Some(name) = name {
        account.display_name = profile::clean_name(name);
    }
    profile::build(&account, settings)
}

/// A profile request's fields, from a query string or a form. automx-web posts `cn` for the
/// name and a `_mobileconfig=true` marker, which is accepted and ignored.
#[derive(Debug, Default)]
pub struct ProfileFields {
    pub emailaddress: Option<String>,
    pub name: Option<String>,
    pub cn: Option<String>,
}

impl ProfileFields {
    pub fn address(&self) -> Result<EmailAddress, ProfileRefusal> {
        let text = self
            .emailaddress
            .as_deref()
            .filter(|text| !text.trim().is_empty())
            .ok_or(ProfileRefusal::MissingAddress)?;
        EmailAddress::parse(text).map_err(ProfileRefusal::InvalidAddress)
    }

    /// The visitor's name, as our form (`name`) or automx-web (`cn`) sends it.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref().or(self.cn.as_deref())
    }
}

/// Why a visitor got no profile. `Display` is the short, fixed message for them (never their
/// input, never internal detail); the `source` goes to the log. The web form shows
/// [`ProfileRefusal::form_problem`] next to the field instead.
#[derive(Debug, thiserror::Error)]
pub enum ProfileRefusal {
    #[error("please give an email address")]
    MissingAddress,
    #[error("{0}")]
    InvalidAddress(AddressError),
    #[error("the request could not be read")]
    Malformed,
    #[error("the request is not valid UTF-8 text")]
    Encoding,
    #[error("this domain is not served here")]
    UnknownDomain(Domain),
    #[error("no profile can be made for this domain")]
    NothingToConfigure(Domain),
    #[error("the profile could not be signed; please try again later")]
    Signing(#[source] SigningError),
    #[error("the profile could not be built; please try again later")]
    Build(#[source] ProfileError),
    /// A per-user source set to `on-failure = "fail"` is down (the resolver logged it).
    #[error("settings are temporarily unavailable; please try again later")]
    BackendUnavailable,
}

impl ProfileRefusal {
    /// The visitor's view of a pipeline failure for `address`.
    pub fn new(failure: ProfileFailure, address: &EmailAddress) -> Self {
        match failure {
            ProfileFailure::Resolve {
                error: ResolveError::UnknownDomain,
                domain,
            } => ProfileRefusal::UnknownDomain(domain),
            ProfileFailure::Resolve {
                error: ResolveError::BackendUnavailable,
                ..
            } => ProfileRefusal::BackendUnavailable,
            ProfileFailure::Build(ProfileError::NothingToConfigure | ProfileError::NoAddress) => {
                ProfileRefusal::NothingToConfigure(address.domain().clone())
            }
            ProfileFailure::Build(error) => ProfileRefusal::Build(error),
            ProfileFailure::Signing(error) => ProfileRefusal::Signing(error),
        }
    }

    /// The HTTP status it goes out with.
    pub fn status(&self) -> u16 {
        match self {
            ProfileRefusal::MissingAddress
            | ProfileRefusal::InvalidAddress(_)
            | ProfileRefusal::Malformed
            | ProfileRefusal::Encoding => 400,
            ProfileRefusal::UnknownDomain(_) | ProfileRefusal::NothingToConfigure(_) => 404,
            ProfileRefusal::Signing(_)
            | ProfileRefusal::Build(_)
            | ProfileRefusal::BackendUnavailable => 503,
        }
    }

    /// Refusals logged once per incident where they arise (a source that is down, a full
    /// signing queue), never per request: under overload that would flood the log.
    pub fn is_incident(&self) -> bool {
        matches!(
            self,
            ProfileRefusal::BackendUnavailable
                | ProfileRefusal::Signing(SigningError::Busy | SigningError::Pending { .. })
        )
    }

    /// What the web form says about it, in the visitor's language.
    pub fn form_problem(&self) -> FormProblem {
        match self {
            ProfileRefusal::MissingAddress => FormProblem::Address(AddressError::Empty),
            ProfileRefusal::InvalidAddress(error) => FormProblem::Address(*error),
            ProfileRefusal::Malformed | ProfileRefusal::Encoding => FormProblem::Rejected,
            ProfileRefusal::UnknownDomain(domain) | ProfileRefusal::NothingToConfigure(domain) => {
                FormProblem::UnknownDomain(domain.to_unicode())
            }
            ProfileRefusal::Signing(_)
            | ProfileRefusal::Build(_)
            | ProfileRefusal::BackendUnavailable => FormProblem::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[tokio::test]
    async fn configured_signing_without_a_signer_fails_closed() {
        let answers = Answers::new(Config::demo().unwrap());
        assert!(answers.config.signing.is_some());
        let address = EmailAddress::parse("jane@example.com").unwrap();
        let failure = answers
            .profile(&address, None, answers.signing())
            .await
            .unwrap_err();
        assert!(matches!(failure, ProfileFailure::Signing(_)), "{failure}");
        assert_eq!(ProfileRefusal::new(failure, &address).status(), 503);
    }

    #[tokio::test]
    async fn a_domain_not_served_here_names_the_domain() {
        let answers = Answers::new(Config::demo().unwrap());
        let address = EmailAddress::parse("jane@example.net").unwrap();
        let failure = answers
            .profile(&address, None, Signing::Unsigned)
            .await
            .unwrap_err();
        assert_eq!(failure.to_string(), "example.net: domain not served here");
        let refusal = ProfileRefusal::new(failure, &address);
        assert_eq!(refusal.status(), 404);
        assert_eq!(
            refusal.form_problem(),
            FormProblem::UnknownDomain("example.net".into())
        );
    }
}
