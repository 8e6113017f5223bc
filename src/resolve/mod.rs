//! Account resolution, the seam between configuration and protocols: an address (or a bare
//! domain) goes in, a fully expanded [`Account`] comes out. Static config is the base; each
//! of the domain's per-user sources (`backend`) patches it in order. This module owns the
//! sources' cache, timeouts and failure policy. Renderers never look at the config themselves.

mod sources;

use std::sync::Arc;

use crate::account::{Account, Domain, EmailAddress, MailServer, Redirect, Services, Template};
use crate::config::backend::OnFailure;
use crate::config::{Config, DomainRedirect, DomainSettings};
pub use sources::Asked;
use sources::Sources;

/// Why no account could be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The domain is not served here (not configured, or its settings live on the server its
    /// `autodiscover-redirect-url` names). Never answered with another domain's settings.
    #[error("domain not served here")]
    UnknownDomain,
    /// A per-user source with `on-failure = "fail"` is down, slow or answered garbage. The
    /// details went to the log; clients get a 503.
    #[error("a per-user settings source is unavailable")]
    BackendUnavailable,
}

/// What Autodiscover POX answers for an address: settings, or a redirect (the one protocol
/// that can express one; the others get [`Resolver::resolve`], which follows domain aliases).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once and consumed at once; boxing would add an allocation to every settings answer, the hot path"
)]
pub enum Resolution {
    Account(Account),
    Redirect(Redirect),
}

/// Every source of an address's domain asked directly, and the account they make together
/// (`mxconf lookup`).
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The address looked up: the one asked about, or where its domain alias moves it.
    pub address: EmailAddress,
    /// In the domain's order; every one is asked, even after a failure.
    pub asked: Vec<Asked>,
    /// What a client would get: the static settings patched by each answer in order, or
    /// the refusal a failing `on-failure = "fail"` source causes.
    pub account: Result<Account, ResolveError>,
}

impl Explanation {
    /// True when some source did not answer.
    pub fn failed(&self) -> bool {
        self.asked.iter().any(|asked| asked.result.is_err())
    }
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

    /// The resolver for a reloaded configuration: sources whose settings did not change keep
    /// their cache and connections, the others are built afresh.
    pub fn renewed(config: Arc<Config>, previous: &Resolver) -> Self {
        let sources = Arc::new(Sources::renewed(&config.backends, &previous.sources));
        Resolver { config, sources }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The account for one address. A known domain answers every local part alike (the
    /// domain's generic settings), so the answer never reveals whether a mailbox exists;
    /// the domain's sources then patch it for this user, in order. A domain alias
    /// (`redirect-to-domain`) answers with its target's account for the moved address, for
    /// the protocols that have no redirect (autoconfig, v2 JSON, profiles); a domain whose
    /// settings live elsewhere (`autodiscover-redirect-url`) is not served here.
    pub async fn resolve(&self, email: &EmailAddress) -> Result<Account, ResolveError> {
        match self.lookup(email).await? {
            Resolution::Account(account) => Ok(account),
            // Validation guarantees one hop: the target serves settings itself.
            Resolution::Redirect(Redirect::Address(moved)) => {
                let settings = self.settings(moved.domain())?;
                self.served(&moved, settings).await
            }
            Resolution::Redirect(Redirect::Url(_)) => Err(ResolveError::UnknownDomain),
        }
    }

    /// The Autodiscover POX view of one address: its account, or the domain's redirect.
    pub async fn lookup(&self, email: &EmailAddress) -> Result<Resolution, ResolveError> {
        let settings = self.settings(email.domain())?;
        match &settings.redirect {
            None => self.served(email, settings).await.map(Resolution::Account),
            Some(DomainRedirect::Domain(target)) => {
                // Built from the parsed local part and the configured domain only. A local
                // part too long for the target cannot exist there: not served.
                let moved = email
                    .with_domain(target)
                    .map_err(|_| ResolveError::UnknownDomain)?;
                Ok(Resolution::Redirect(Redirect::Address(moved)))
            }
            Some(DomainRedirect::Url(url)) => Ok(Resolution::Redirect(Redirect::Url(url.clone()))),
        }
    }

    /// The account of an address in a domain that serves settings itself.
    async fn served(
        &self,
        email: &EmailAddress,
        settings: &DomainSettings,
    ) -> Result<Account, ResolveError> {
        let mut account = self.account(email.domain(), email.domain(), Some(email), settings);
        // The fast path: a static-only domain touches no cache and allocates nothing more.
        if !settings.sources.is_empty() {
            self.sources
                .apply(&settings.sources, email, &mut account)
                .await?;
        }
        Ok(account)
    }

    /// Whether `domain` answers from the configuration alone: served here, no per-user
    /// source, no redirect.
    pub fn is_static(&self, domain: &Domain) -> bool {
        self.settings(domain)
            .is_ok_and(|settings| settings.sources.is_empty() && settings.redirect.is_none())
    }

    /// The account of an address whose domain answers from the configuration alone (no
    /// per-user source, no redirect); `None` for any other. Never consults a source.
    pub fn resolve_static(&self, email: &EmailAddress) -> Option<Account> {
        let settings = self.settings(email.domain()).ok()?;
        self.is_static(email.domain())
            .then(|| self.account(email.domain(), email.domain(), Some(email), settings))
    }

    /// Asks every source of `email`'s domain afresh (no cache) and keeps each answer beside
    /// the merged account, for `mxconf lookup`. A domain alias is followed as [`Self::resolve`]
    /// follows it.
    pub async fn explain(&self, email: &EmailAddress) -> Result<Explanation, ResolveError> {
        let address = match &self.settings(email.domain())?.redirect {
            None => email.clone(),
            Some(DomainRedirect::Domain(target)) => email
                .with_domain(target)
                .map_err(|_| ResolveError::UnknownDomain)?,
            Some(DomainRedirect::Url(_)) => return Err(ResolveError::UnknownDomain),
        };
        let settings = self.settings(address.domain())?;
        let mut account =
            self.account(address.domain(), address.domain(), Some(&address), settings);
        let asked = self.sources.explain(&settings.sources, &address).await;
        let mut refused = false;
        for answer in &asked {
            match &answer.result {
                Ok(Some(patch)) => patch.apply(&mut account),
                Ok(None) => {}
                Err(_) => refused |= answer.source.on_failure == OnFailure::Fail,
            }
        }
        Ok(Explanation {
            address,
            asked,
            account: if refused {
                Err(ResolveError::BackendUnavailable)
            } else {
                Ok(account)
            },
        })
    }

    /// The per-user sources failing now (none answered since their last failure), by name.
    pub fn failing_sources(&self) -> Vec<&str> {
        self.sources.failing()
    }

    /// Asks every configured source once for its probe address (`check-config --backends`).
    pub async fn probe_all(&self) -> Vec<Asked> {
        self.sources.probe_all().await
    }

    /// The domain's generic settings for `email`, as if no source knew it (sources are not
    /// asked): the template an MDM profile is built from. Only a domain that serves its
    /// settings itself has them.
    pub fn resolve_generic(&self, email: &EmailAddress) -> Result<Account, ResolveError> {
        let settings = self.settings(email.domain())?;
        if settings.redirect.is_some() {
            return Err(ResolveError::UnknownDomain);
        }
        Ok(self.account(email.domain(), email.domain(), Some(email), settings))
    }

    /// Domain-level settings, for clients that do not send an address (usernames stay
    /// templates such as `%EMAILADDRESS%`; URLs that need the address are left out). A domain
    /// alias answers with its target's settings under its own name (the name the client
    /// asked about, e.g. autoconfig's `<domain>`); a URL redirect is not served here.
    pub fn resolve_domain(&self, domain: &Domain) -> Result<Account, ResolveError> {
        match self.lookup_domain(domain)? {
            Resolution::Account(account) => Ok(account),
            Resolution::Redirect(_) => Err(ResolveError::UnknownDomain),
        }
    }

    /// The Autodiscover POX view of a domain (GET without an address): with no address to
    /// move, only a URL redirect can be expressed; an alias answers like [`Self::resolve_domain`].
    pub fn lookup_domain(&self, domain: &Domain) -> Result<Resolution, ResolveError> {
        let settings = self.settings(domain)?;
        let (home, settings) = match &settings.redirect {
            None => (domain, settings),
            Some(DomainRedirect::Domain(target)) => (target, self.settings(target)?),
            Some(DomainRedirect::Url(url)) => {
                return Ok(Resolution::Redirect(Redirect::Url(url.clone())));
            }
        };
        Ok(Resolution::Account(
            self.account(domain, home, None, settings),
        ))
    }

    fn settings(&self, domain: &Domain) -> Result<&Arc<DomainSettings>, ResolveError> {
        self.config
            .domain(domain)
            .ok_or(ResolveError::UnknownDomain)
    }

    /// The account answered for `domain` (the name the client asked about) from `settings`,
    /// which belong to `home`: the domain itself, or an alias's target, where the address
    /// is moved. Without an address, placeholders are filled in for `home` as far as they can
    /// be, so that an alias's domain-level answer says what its address-level one says
    /// (`%EMAILDOMAIN%` is the target in both).
    fn account(
        &self,
        domain: &Domain,
        home: &Domain,
        email: Option<&EmailAddress>,
        settings: &DomainSettings,
    ) -> Account {
        let expand_server = |server: &MailServer| match email {
            Some(email) => MailServer {
                username: Template::new(&server.username).expand(email),
                ..server.clone()
            },
            // The client fills in its own address; for an alias that is not the address
            // whose account it gets, so the target's domain is written in.
            None if home != domain => MailServer {
                username: Template::new(&server.username)
                    .expand_domain(home)
                    .replace("%EMAILADDRESS%", &format!("%EMAILLOCALPART%@{home}")),
                ..server.clone()
            },
            None => server.clone(),
        };
        // Never a placeholder left in a URL we built; without an address a URL that needs one
        // is dropped rather than sent half-expanded (docs/protocols.md, "No placeholder left in
        // a URL").
        let expand_url = |url: &Option<String>| {
            let url = Template::new(url.as_deref()?);
            match email {
                Some(email) => Some(url.expand(email)),
                None => {
                    let url = url.expand_domain(home);
                    (!Template::new(&url).has_placeholder()).then_some(url)
                }
            }
        };
        let Services { urls, oauth2 } = &settings.services;
        Account {
            provider: self.config.provider.clone(),
            domain: domain.clone(),
            email: email.cloned(),
            display_name: None,
            incoming: settings.incoming.iter().map(expand_server).collect(),
            outgoing: settings.outgoing.iter().map(expand_server).collect(),
            services: Services {
                urls: urls.map(|_, url| expand_url(url)),
                oauth2: oauth2.clone(),
            },
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

    fn redirecting() -> Resolver {
        let text = "[provider]\nid = \"example.com\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n\
            [[domains.\"example.com\".imap]]\nhost = \"imap.example.com\"\nport = 993\nsecurity = \"tls\"\n\
            [domains.\"old.example\"]\nredirect-to-domain = \"example.com\"\n\
            [domains.\"hosted.example\"]\n\
            autodiscover-redirect-url = \"https://ad.other.example/autodiscover/autodiscover.xml\"\n";
        let config = Config::from_toml(text, crate::config::ConfigSource::File("t.toml".into()));
        Resolver::new(Arc::new(config.unwrap()))
    }

    #[tokio::test]
    async fn an_alias_redirects_pox_and_answers_others_with_the_target() {
        let resolver = redirecting();
        let email = EmailAddress::parse("Jane@OLD.example").unwrap();
        let moved = EmailAddress::parse("Jane@example.com").unwrap();
        assert_eq!(
            resolver.lookup(&email).await,
            Ok(Resolution::Redirect(Redirect::Address(moved.clone())))
        );
        let account = resolver.resolve(&email).await.unwrap();
        assert_eq!(account, resolver.resolve(&moved).await.unwrap());
        assert_eq!(account.login_name(), Some("Jane@example.com"));
        let domain_level = resolver
            .resolve_domain(&Domain::parse("old.example").unwrap())
            .unwrap();
        assert_eq!(domain_level.domain.as_str(), "old.example");
        let target = resolver
            .resolve_domain(&Domain::parse("example.com").unwrap())
            .unwrap();
        assert_eq!(domain_level.incoming[0].host, target.incoming[0].host);
        assert_eq!(domain_level.incoming[0].port, target.incoming[0].port);
    }

    /// An alias's domain-level answer (no address: the client fills placeholders in with its
    /// own) and its address-level answer agree: `%EMAILDOMAIN%` is the target in both, and
    /// the login the client fills in is the moved address.
    #[tokio::test]
    async fn an_alias_fills_in_its_target_with_or_without_an_address() {
        let text = "[provider]\nid = \"example.com\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n\
            [domains.\"example.com\"]\ncaldav = \"https://dav.%EMAILDOMAIN%/cal/\"\n\
            [[domains.\"example.com\".imap]]\nhost = \"imap.example.com\"\nport = 993\nsecurity = \"tls\"\n\
            [[domains.\"example.com\".smtp]]\nhost = \"smtp.example.com\"\nport = 465\nsecurity = \"tls\"\n\
            username = \"%EMAILLOCALPART%+%EMAILDOMAIN%\"\n\
            [domains.\"old.example\"]\nredirect-to-domain = \"example.com\"\n";
        let config = Config::from_toml(text, crate::config::ConfigSource::File("t.toml".into()));
        let resolver = Resolver::new(Arc::new(config.unwrap()));
        let email = EmailAddress::parse("jane@old.example").unwrap();
        let with_address = resolver.resolve(&email).await.unwrap();
        let without = resolver
            .resolve_domain(&Domain::parse("old.example").unwrap())
            .unwrap();
        assert_eq!(
            without.services.urls[crate::account::UrlService::CalDav],
            with_address.services.urls[crate::account::UrlService::CalDav]
        );
        assert_eq!(
            without.services.urls[crate::account::UrlService::CalDav].as_deref(),
            Some("https://dav.example.com/cal/")
        );
        // What the client makes of the domain-level template with its own address.
        for (template, filled) in without
            .incoming
            .iter()
            .chain(&without.outgoing)
            .zip(with_address.incoming.iter().chain(&with_address.outgoing))
        {
            assert_eq!(
                Template::new(&template.username).expand(&email),
                filled.username
            );
        }
        assert_eq!(with_address.outgoing[0].username, "jane+example.com");
    }

    #[tokio::test]
    async fn a_url_redirect_is_pox_only() {
        let resolver = redirecting();
        let email = EmailAddress::parse("jane@hosted.example").unwrap();
        let url = Redirect::Url("https://ad.other.example/autodiscover/autodiscover.xml".into());
        assert_eq!(
            resolver.lookup(&email).await,
            Ok(Resolution::Redirect(url.clone()))
        );
        assert_eq!(
            resolver.resolve(&email).await,
            Err(ResolveError::UnknownDomain)
        );
        let domain = Domain::parse("hosted.example").unwrap();
        assert_eq!(
            resolver.lookup_domain(&domain),
            Ok(Resolution::Redirect(url))
        );
        assert_eq!(
            resolver.resolve_domain(&domain),
            Err(ResolveError::UnknownDomain)
        );
    }
}
