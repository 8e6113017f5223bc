//! `[server]`: where to listen, which proxies to believe, and how many connections to hold
//! for how long. The file form, the validated [`ServerSettings`] and their check.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::backend::{duration_above_zero, positive};
use super::checker::Checker;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerFile {
    /// Addresses to listen on; `--listen` on the command line replaces them.
    pub listen: Option<Vec<Spanned<String>>>,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-For`/`-Proto`/`-Host` are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_connections_per_client: Option<Spanned<i64>>,
    pub header_read_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
}

/// Validated `[server]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSettings {
    /// Listen addresses from the file; empty when the file names none.
    pub listen: Vec<SocketAddr>,
    pub trusted_proxies: Vec<IpNet>,
    pub connections: ConnectionSettings,
}

/// How many connections the server holds open, and for how long a client may keep one
/// without a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Open connections at most, over all listeners; at the cap, the connection idle the
    /// longest is closed for a new one.
    pub max_connections: usize,
    /// Open connections at most from one client (counted as `[limits]` counts clients: an
    /// IPv4 address or an IPv6 network; `[limits] exempt` networks and trusted proxies are
    /// not capped); beyond it, the client's new connections are closed at once.
    pub max_connections_per_client: usize,
    /// From accept, or from the first byte of a later request, until its head is complete.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress and no bytes arriving is closed after this.
    pub idle_timeout: Duration,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max_connections: 4096,
            // Far above what one mail client or browser opens (a handful), far below the cap:
            // one client cannot hold the server's connections alone.
            max_connections_per_client: 64,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
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
    let defaults = ConnectionSettings::default();
    let max_connections = positive(
        checker,
        "server",
        "max-connections",
        raw.max_connections.as_ref(),
        defaults.max_connections as u64,
    )
    .and_then(|n| usize::try_from(n).ok())
    .unwrap_or(defaults.max_connections);
    let max_connections_per_client = positive(
        checker,
        "server",
        "max-connections-per-client",
        raw.max_connections_per_client.as_ref(),
        defaults.max_connections_per_client as u64,
    )
    .and_then(|n| usize::try_from(n).ok())
    .unwrap_or(defaults.max_connections_per_client);
    let mut timeout = |key: &str, value: &Option<Spanned<String>>, default: Duration| {
        duration_above_zero(checker, format!("server.{key}"), value.as_ref(), default)
    };
    let connections = ConnectionSettings {
        max_connections,
        max_connections_per_client,
        header_read_timeout: timeout(
            "header-read-timeout",
            &raw.header_read_timeout,
            defaults.header_read_timeout,
        ),
        idle_timeout: timeout("idle-timeout", &raw.idle_timeout, defaults.idle_timeout),
    };
    ServerSettings {
        listen,
        trusted_proxies,
        connections,
    }
}
