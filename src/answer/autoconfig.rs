//! Mozilla autoconfig answers: for an address (usernames expanded, per-user sources applied)
//! or for a bare domain (usernames left as templates). A domain not served here is a
//! [`Refusal::UnknownDomain`] (404): Thunderbird then tries its next source.

use super::{Answers, Refusal};
use crate::account::{Domain, EmailAddress};
use crate::protocol::{Rendered, autoconfig};

impl Answers {
    /// The `config-v1.1.xml` for one address.
    pub async fn autoconfig(&self, email: &EmailAddress) -> Result<Rendered, Refusal> {
        if let Some(answer) = self.spliced.autoconfig(email) {
            return Ok(answer);
        }
        // Boxed: the resolver's future is large, and only this path needs it (a connection's
        // task would otherwise carry its room on every answer).
        let account = Box::pin(self.resolver.resolve(email)).await?;
        Ok(autoconfig::render(&account))
    }

    /// The domain-level `config-v1.1.xml` (no address in the request, or ISPDB `/v1.1/{domain}`).
    pub fn autoconfig_domain(&self, domain: &Domain) -> Result<Rendered, Refusal> {
        if let Some(answer) = self.spliced.autoconfig_domain(domain) {
            return Ok(answer);
        }
        let account = self.resolver.resolve_domain(domain)?;
        Ok(autoconfig::render(&account))
    }
}
