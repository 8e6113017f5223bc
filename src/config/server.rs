//! `[server]`: where to listen and which proxies to believe. The file form, the validated
//! [`ServerSettings`] and their check.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::checker::Checker;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerFile {
    /// Addresses to listen on; `--listen` on the command line replaces them.
    pub listen: Option<Vec<Spanned<String>>>,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-Proto`/`X-Forwarded-Host` are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
}

/// Validated `[server]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSettings {
    /// Listen addresses from the file; empty when the file names none.
    pub listen: Vec<SocketAddr>,
    pub trusted_proxies: Vec<IpNet>,
}

pub(super) fn check(checker: &mut Checker<'_>, raw: &ServerFile) -> ServerSettings {
    let listen = raw
        .listen
        .iter()
        .flatten()
        .filter_map(|addr| {
            addr.get_ref()
                .parse::<SocketAddr>()
                .map_err(|_| {
                    checker.report(
                        Some(&addr.span()),
                        "server.listen".into(),
                        format!("{:?} is not an IP:port address", addr.get_ref()),
                    )
                })
                .ok()
        })
        .collect();
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .filter_map(|entry| {
            let text = entry.get_ref();
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    checker.report(
                        Some(&entry.span()),
                        "server.trusted-proxies".into(),
                        format!("{text:?} is not an IP address or CIDR range"),
                    )
                })
                .ok()
        })
        .collect();

    ServerSettings {
        listen,
        trusted_proxies,
    }
}
