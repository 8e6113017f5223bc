//! Account resolution, the seam between configuration and protocols: an address (or a bare
//! domain) goes in, a fully expanded [`Account`] comes out. Static config is the base; each
//! of the domain's per-user sources (`backend`) patches it in order. This module owns the
//! sources' cache, timeouts and failure policy. Renderers never look at the config themselves.

mod sources;

use std::sync::Arc;

use crate::account::{Account, Domain, EmailAddress, MailServer, username};
use crate::config::{Config, DomainSettings};
use sources::Sources;

/// Why no account could be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The domain is not served here. Never answered with another domain's settings.
    #[error("domain not served here")]
    UnknownDomain,
    /// A per-user source with `on-failure = "fail"` is down, slow or answered garbage. The
    /// details went to the log; clients get a 503.
    #[error("a per-user settings source is unavailable")]
    BackendUnavailable,
}

/// Turns addresses into accounts using the configuration.
#[derive(Debug, Clone)]
pub struct Resolver {
    config: Arc<Config>,
    sources: Arc<Sources>,
}

impl Resolver {
    /// Builds the backends too; none connects before its first lookup.
    pub fn new(config: Arc<Config>) -> Self {
        let sources = Arc::new(Sources::new(&config.backends));
        Resolver { config, sources }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The account for one address. A known domain answers every local part alike (the
    /// domain's generic settings), so the answer never reveals whether a mailbox exists;
    /// the domain's sources then patch it for this user, in order.
    pub async fn resolve(&self, email: &EmailAddress) -> Result<Account, ResolveError> {
        let settings = self.settings(email.domain())?;
        let mut account = self.account(email.domain(), Some(email), settings);
        // The fast path: a static-only domain touches no cache and allocates nothing more.
        if !settings.sources.is_empty() {
            self.sources
                .apply(&settings.sources, email, &mut account)
                .await?;
        }
        Ok(account)
    }

    /// Domain-level settings, for clients that do not send an address (usernames stay
    /// templates such as `%EMAILADDRESS%`; URLs that need the address are left out).
    pub fn resolve_domain(&self, domain: &Domain) -> Result<Account, ResolveError> {
        let settings = self.settings(domain)?;
        Ok(self.account(domain, None, settings))
    }

    fn settings(&self, domain: &Domain) -> Result<&Arc<DomainSettings>, ResolveError> {
        self.config
            .domain(domain)
            .ok_or(ResolveError::UnknownDomain)
    }

    fn account(
        &self,
        domain: &Domain,
        email: Option<&EmailAddress>,
        settings: &DomainSettings,
    ) -> Account {
        let expand_server = |server: &MailServer| match email {
            Some(email) => MailServer {
                username: username::expand(&server.username, email),
                ..server.clone()
            },
            None => server.clone(),
        };
        // NOTES.md: never leave a placeholder in a URL we built; without an address a URL
        // that needs one is dropped rather than sent half-expanded.
        let expand_url = |url: &Option<String>| {
            url.as_ref().and_then(|url| match email {
                Some(email) => Some(username::expand(url, email)),
                None => {
                    let url = username::expand_domain(url, domain);
                    (!username::has_placeholder(&url)).then_some(url)
                }
            })
        };
        Account {
            provider: self.config.provider.clone(),
            domain: domain.clone(),
            email: email.cloned(),
            display_name: None,
            incoming: settings.incoming.iter().map(expand_server).collect(),
            outgoing: settings.outgoing.iter().map(expand_server).collect(),
            activesync_url: expand_url(&settings.activesync_url),
            caldav_url: expand_url(&settings.caldav_url),
            carddav_url: expand_url(&settings.carddav_url),
            documentation_url: expand_url(&settings.documentation_url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> Resolver {
        Resolver::new(Arc::new(Config::demo().unwrap()))
    }

    #[tokio::test]
    async fn expands_usernames_for_an_address() {
        let email = EmailAddress::parse("Jane@EXAMPLE.com").unwrap();
        let account = resolver().resolve(&email).await.unwrap();
        assert_eq!(account.login_name(), Some("Jane@example.com"));
        assert!(
            account
                .incoming
                .iter()
                .all(|s| s.username == "Jane@example.com")
        );
    }

    #[tokio::test]
    async fn unknown_domain_is_an_error_not_another_domains_settings() {
        let email = EmailAddress::parse("jane@example.net").unwrap();
        assert_eq!(
            resolver().resolve(&email).await,
            Err(ResolveError::UnknownDomain)
        );
    }

    #[test]
    fn domain_level_keeps_templates() {
        let account = resolver()
            .resolve_domain(&Domain::parse("example.com").unwrap())
            .unwrap();
        assert_eq!(account.login_name(), Some("%EMAILADDRESS%"));
        assert!(account.email.is_none());
    }
}
