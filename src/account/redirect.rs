//! Where a redirecting domain sends Autodiscover clients instead of giving settings: produced
//! by `resolve` from a domain's `redirect-to-domain` / `autodiscover-redirect-url`, rendered by
//! the POX renderers as `redirectAddr` / `redirectUrl` (MobileSync: `Redirect`).

use super::EmailAddress;

/// A redirect answer for one address (or, for `Url`, one domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// Restart discovery with this address: the asked local part at the configured target
    /// domain (never text from the request beyond the parsed local part).
    Address(EmailAddress),
    /// Re-POST the request to this `https://` Autodiscover URL (validated at load).
    Url(String),
}
