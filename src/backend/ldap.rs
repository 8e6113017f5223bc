//! The LDAP source (ldap3): one search per address with the admin's filter template, every
//! inserted value RFC 4515-escaped (`ldap_escape`), and an attribute → field mapping. One
//! multiplexed connection is shared and re-opened after an error. TLS (ldaps:// or StartTLS)
//! verifies the server certificate against the system trust store, plus the admin's private
//! CA (`ca-file`) when given; there is no opt-out.

use std::time::Duration;

use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions, ldap_escape,
};
use tokio::sync::Mutex;

use super::{Backend, BackendError, Lookup, LookupResult, patch_from, read_secret};
use crate::account::{EmailAddress, Template};
use crate::config::backend::{LdapScope, LdapSettings};

/// LDAP result code 4: more entries than the size limit, i.e. the filter is ambiguous.
const SIZE_LIMIT_EXCEEDED: u32 = 4;

#[derive(Debug)]
pub struct LdapBackend {
    settings: LdapSettings,
    timeout: Duration,
    /// The shared, bound connection; `None` until first use and after an error.
    connection: Mutex<Option<Ldap>>,
}

impl LdapBackend {
    pub fn new(settings: LdapSettings, timeout: Duration) -> Self {
        LdapBackend {
            settings,
            timeout,
            connection: Mutex::new(None),
        }
    }

    async fn connection(&self) -> Result<Ldap, BackendError> {
        let mut slot = self.connection.lock().await;
        if let Some(ldap) = slot.as_mut()
            && !ldap.is_closed()
        {
            return Ok(ldap.clone());
        }
        *slot = None;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.settings.starttls && self.settings.url.scheme() == "ldap");
        if !self.settings.ca_certificates.is_empty() {
            settings = settings.set_connector(self.tls_connector()?);
        }
        let (connection, mut ldap) =
            LdapConnAsync::with_settings(settings, self.settings.url.as_str())
                .await
                .map_err(|error| {
                    BackendError::Unavailable(format!(
                        "cannot connect to {}: {error}",
                        self.where_()
                    ))
                })?;
        ldap3::drive!(connection);
        if let Some((dn, secret)) = &self.settings.bind {
            let password = read_secret(secret)?;
            let result = ldap
                .with_timeout(self.timeout)
                .simple_bind(dn, &password)
                .await
                .and_then(ldap3::LdapResult::success);
            if let Err(error) = result {
                return Err(BackendError::Unavailable(format!(
                    "bind as {dn} failed: {error}"
                )));
            }
        }
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    /// The system trust store plus the `ca-file` certificates (checked at load).
    fn tls_connector(&self) -> Result<native_tls::TlsConnector, BackendError> {
        let mut builder = native_tls::TlsConnector::builder();
        for der in &self.settings.ca_certificates {
            let certificate = native_tls::Certificate::from_der(der).map_err(|error| {
                BackendError::Unavailable(format!("ca-file certificate: {error}"))
            })?;
            builder.add_root_certificate(certificate);
        }
        builder
            .build()
            .map_err(|error| BackendError::Unavailable(format!("TLS set-up: {error}")))
    }

    /// The server for messages: scheme, host and port only.
    fn where_(&self) -> String {
        let url = &self.settings.url;
        format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        )
    }

    async fn search(&self, address: &EmailAddress) -> LookupResult {
        let filter = Template::new(&self.settings.filter).expand_escaped(address, ldap_escape);
        let scope = match self.settings.scope {
            LdapScope::Base => Scope::Base,
            LdapScope::One => Scope::OneLevel,
            LdapScope::Sub => Scope::Subtree,
        };
        let attributes: Vec<&str> = self
            .settings
            .attributes
            .iter()
            .map(|(_, a)| a.as_str())
            .collect();
        let mut ldap = self.connection().await?;
        let mut guard = ResetOnDrop {
            slot: &self.connection,
            armed: true,
        };
        let result = ldap
            .with_timeout(self.timeout)
            .with_search_options(SearchOptions::new().sizelimit(2))
            .search(&self.settings.base, scope, &filter, attributes)
            .await
            .map_err(|error| {
                BackendError::Unavailable(format!("search on {} failed: {error}", self.where_()))
            })?;
        // The server answered: the connection is fine, keep it.
        guard.armed = false;
        if result.1.rc == SIZE_LIMIT_EXCEEDED || result.0.len() > 1 {
            return Err(BackendError::BadOutput(
                "the filter matches more than one entry".into(),
            ));
        }
        let (entries, _) = result
            .success()
            .map_err(|error| BackendError::Failed(format!("search failed: {error}")))?;
        let Some(entry) = entries.into_iter().next() else {
            return Ok(None);
        };
        let entry = SearchEntry::construct(entry);
        let fields = self
            .settings
            .attributes
            .iter()
            .filter_map(|(field, attribute)| {
                // Attribute names are case-insensitive; the server may spell them differently.
                entry
                    .attrs
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
                    .and_then(|(_, values)| values.first())
                    .map(|value| (field.as_str(), value.as_str()))
            });
        patch_from(fields).map(Some)
    }
}

/// Forgets the shared connection unless the search completed: a failed search, or one the
/// resolver's timeout cancelled (a silently dead TCP connection looks like a slow server), may
/// have left it unusable, so the next lookup connects afresh.
struct ResetOnDrop<'a> {
    slot: &'a Mutex<Option<Ldap>>,
    armed: bool,
}

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        // When the lock is taken, its holder is connecting and will store a fresh connection.
        if self.armed
            && let Ok(mut slot) = self.slot.try_lock()
        {
            *slot = None;
        }
    }
}

impl Backend for LdapBackend {
    fn lookup<'a>(&'a self, address: &'a EmailAddress) -> Lookup<'a> {
        Box::pin(self.search(address))
    }
}
