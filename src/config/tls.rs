//! `[tls]`: HTTPS served by mxconf itself. The file form, the validated [`TlsSettings`] and
//! their check.

use serde::Deserialize;
use toml::Spanned;

use super::acme::{self, AcmeFile, AcmeSettings, ChallengeKind};
use super::checker::Checker;

/// `[tls]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsFile {
    pub acme: Option<Spanned<AcmeFile>>,
}

/// Validated `[tls]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `[tls.acme]`: certificates obtained from an ACME CA.
    pub acme: Option<AcmeSettings>,
}

pub(super) fn check(checker: &mut Checker<'_>, raw: &TlsFile) -> TlsSettings {
    let acme = raw.acme.as_ref().and_then(|table| {
        let settings = acme::check(checker, table)?;
        // The CA connects to port 443 for tls-alpn-01: only a TLS listener here can answer.
        if settings.challenge == ChallengeKind::TlsAlpn01 {
            checker.report(
                Some(&table.span()),
                "tls.acme.challenge".into(),
                "tls-alpn-01 (the default) is answered on a TLS listener, and [tls] has none; set challenge = \"http-01\"".into(),
            );
            return None;
        }
        Some(settings)
    });
    TlsSettings { acme }
}
