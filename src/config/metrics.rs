//! `[metrics]`: where the Prometheus endpoint listens. Its own listener, never one of the
//! public ones: the file form, the validated [`MetricsSettings`] and their check.

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use super::checker::Checker;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MetricsFile {
    pub listen: Option<Spanned<String>>,
}

/// Validated `[metrics]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `None`: no metrics endpoint, and nothing is recorded.
    pub listen: Option<SocketAddr>,
}

pub(super) fn check(
    checker: &mut Checker<'_>,
    raw: &MetricsFile,
    public: &[SocketAddr],
) -> MetricsSettings {
    let Some(listen) = &raw.listen else {
        return MetricsSettings::default();
    };
    let report = |checker: &mut Checker<'_>, message: String| {
        checker.report(Some(&listen.span()), "metrics.listen".into(), message);
    };
    match listen.get_ref().parse::<SocketAddr>() {
        Ok(addr) if public.contains(&addr) => {
            report(
                checker,
                format!(
                    "{addr} is also in [server] listen; the metrics need a listener of their own"
                ),
            );
            MetricsSettings::default()
        }
        Ok(addr) => MetricsSettings { listen: Some(addr) },
        Err(_) => {
            report(
                checker,
                format!("{:?} is not an IP:port address", listen.get_ref()),
            );
            MetricsSettings::default()
        }
    }
}
