//! `[tls]`: HTTPS served by mxconf itself. The file form, the validated [`TlsSettings`] and
//! their check. Only addresses, durations and paths are validated here; the certificate files
//! are read and checked (key matches, dates, names) by `tls::load` at start-up, while serving and in
//! `check-config`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::acme::{self, AcmeFile, AcmeSettings};
use super::backend::duration_above_zero;
use super::checker::Checker;

/// Where `[tls]` listens when it names no address: `[::]:443`, every address, the HTTPS port.
const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 443);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsFile {
    /// Addresses for HTTPS; `--tls-listen` on the command line replaces them.
    pub listen: Option<Vec<Spanned<String>>>,
    pub handshake_timeout: Option<Spanned<String>>,
    /// The HTTPS port clients reach when a NAT, load balancer or container mapping forwards it
    /// to `listen`: the port plain-HTTP redirects name.
    pub public_port: Option<Spanned<i64>>,
    /// `[[tls.certificate]]`, any number; the first is the default certificate.
    #[serde(default)]
    pub certificate: Vec<Spanned<CertificateFile>>,
    /// `[tls.acme]`: certificates from an ACME CA, besides or instead of files.
    pub acme: Option<Spanned<AcmeFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CertificateFile {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

/// Validated `[tls]`; without the table, no listener and no certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub listen: Vec<SocketAddr>,
    /// From accept until the TLS handshake is complete.
    pub handshake_timeout: Duration,
    /// `public-port`; `None`: redirects name the first listener's bound port.
    pub public_port: Option<u16>,
    pub certificates: Vec<CertificateFiles>,
    /// `[tls.acme]`: certificates obtained from an ACME CA.
    pub acme: Option<AcmeSettings>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            listen: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            public_port: None,
            certificates: Vec::new(),
            acme: None,
        }
    }
}

/// One `[[tls.certificate]]`: the chain (leaf first) and its key, paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `file:line` of the entry, for messages about it.
    pub defined_at: String,
}

pub(super) fn check(
    checker: &mut Checker<'_>,
    raw: Option<&Spanned<TlsFile>>,
    plain: &[SocketAddr],
) -> TlsSettings {
    let defaults = TlsSettings::default();
    let Some(table) = raw else {
        return defaults;
    };
    let file = table.get_ref();
    let listen = match &file.listen {
        None => vec![DEFAULT_LISTEN],
        Some(addresses) => {
            if addresses.is_empty() {
                checker.report(
                    Some(&table.span()),
                    "tls.listen".into(),
                    "is empty; name an address (default [\"[::]:443\"]) or remove [tls] to serve plain HTTP only".into(),
                );
            }
            addresses
                .iter()
                .filter_map(|addr| listen_address(checker, addr, plain))
                .collect()
        }
    };
    let handshake_timeout = duration_above_zero(
        checker,
        "tls.handshake-timeout".into(),
        file.handshake_timeout.as_ref(),
        defaults.handshake_timeout,
    );
    let public_port = file.public_port.as_ref().and_then(|value| {
        let port = u16::try_from(*value.get_ref())
            .ok()
            .filter(|&port| port != 0);
        if port.is_none() {
            checker.report(
                Some(&value.span()),
                "tls.public-port".into(),
                format!("{} is not a port (1-65535)", value.get_ref()),
            );
        }
        port
    });
    let acme = file
        .acme
        .as_ref()
        .and_then(|table| acme::check(checker, table));
    if file.certificate.is_empty() && file.acme.is_none() {
        checker.report(
            Some(&table.span()),
            "tls".into(),
            "names no certificate; add [[tls.certificate]] with cert = \"fullchain.pem\" and key = \"privkey.pem\", or [tls.acme]".into(),
        );
    }
    let certificates = file
        .certificate
        .iter()
        .enumerate()
        .filter_map(|(n, entry)| {
            let cert = path(checker, n, "cert", &entry.get_ref().cert);
            let key = path(checker, n, "key", &entry.get_ref().key);
            Some(CertificateFiles {
                cert: cert?,
                key: key?,
                defined_at: checker.location(&entry.span()),
            })
        })
        .collect();
    TlsSettings {
        listen,
        handshake_timeout,
        public_port,
        certificates,
        acme,
    }
}

fn listen_address(
    checker: &mut Checker<'_>,
    addr: &Spanned<String>,
    plain: &[SocketAddr],
) -> Option<SocketAddr> {
    let report = |checker: &mut Checker<'_>, message: String| {
        checker.report(Some(&addr.span()), "tls.listen".into(), message);
    };
    match addr.get_ref().parse::<SocketAddr>() {
        Ok(parsed) if plain.contains(&parsed) => {
            report(
                checker,
                format!("{parsed} is also in [server] listen; HTTPS needs a port of its own"),
            );
            None
        }
        Ok(parsed) => Some(parsed),
        Err(_) => {
            report(
                checker,
                format!("{:?} is not an IP:port address", addr.get_ref()),
            );
            None
        }
    }
}

fn path(
    checker: &mut Checker<'_>,
    n: usize,
    field: &str,
    value: &Spanned<String>,
) -> Option<PathBuf> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        checker.report(
            Some(&value.span()),
            format!("tls.certificate[{n}].{field}"),
            "must be a file path, not empty".into(),
        );
        return None;
    }
    Some(checker.path(text))
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, ConfigSource};

    const BASE: &str =
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";

    fn load(tls: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            &format!("{BASE}{tls}"),
            ConfigSource::File("mxconf.toml".into()),
        )
    }

    fn errors(tls: &str) -> Vec<String> {
        match load(tls) {
            Err(ConfigError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn absent_means_no_tls() {
        let config = load("").unwrap();
        assert!(config.tls.listen.is_empty());
        assert!(config.tls.certificates.is_empty());
    }

    #[test]
    fn defaults_and_paths() {
        let config = load(
            "[tls]\n[[tls.certificate]]\ncert = \"a/fullchain.pem\"\nkey = \"a/privkey.pem\"\n\
             [[tls.certificate]]\ncert = \"b.pem\"\nkey = \"b.key\"\n",
        )
        .unwrap();
        assert_eq!(config.tls.listen, ["[::]:443".parse().unwrap()]);
        assert_eq!(
            config.tls.handshake_timeout,
            std::time::Duration::from_secs(10)
        );
        assert_eq!(config.tls.public_port, None);
        let here = std::env::current_dir().unwrap();
        assert_eq!(config.tls.certificates.len(), 2);
        assert_eq!(
            config.tls.certificates[0].cert,
            here.join("a/fullchain.pem")
        );
        assert_eq!(config.tls.certificates[1].key, here.join("b.key"));
        assert_eq!(config.tls.certificates[1].defined_at, "mxconf.toml:9");
    }

    #[test]
    fn bad_values_name_file_line_and_field() {
        assert_eq!(
            errors(
                "[server]\nlisten = [\"127.0.0.1:80\"]\n[tls]\nlisten = [\"127.0.0.1:80\", \"nowhere\"]\n\
                 handshake-timeout = \"0s\"\n[[tls.certificate]]\ncert = \" \"\nkey = \"k.pem\"\n"
            ),
            [
                "mxconf.toml:8: tls.listen: 127.0.0.1:80 is also in [server] listen; HTTPS needs a port of its own",
                "mxconf.toml:8: tls.listen: \"nowhere\" is not an IP:port address",
                "mxconf.toml:9: tls.handshake-timeout: \"0s\" is not a duration above zero like \"100ms\", \"30s\", \"10m\"",
                "mxconf.toml:11: tls.certificate[0].cert: must be a file path, not empty",
            ]
        );
        for port in ["0", "65536", "-443"] {
            assert_eq!(
                errors(&format!(
                    "[tls]\npublic-port = {port}\n[[tls.certificate]]\ncert = \"c.pem\"\nkey = \"k.pem\"\n"
                )),
                [format!(
                    "mxconf.toml:6: tls.public-port: {port} is not a port (1-65535)"
                )]
            );
        }
        let public = load(
            "[tls]\npublic-port = 443\n[[tls.certificate]]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        )
        .unwrap();
        assert_eq!(public.tls.public_port, Some(443));
        let none = errors("[tls]\nlisten = [\"127.0.0.1:443\"]\n");
        assert!(
            none[0].starts_with("mxconf.toml:5: tls: names no certificate"),
            "{none:?}"
        );
        let missing = errors("[tls]\n[[tls.certificate]]\ncert = \"c.pem\"\n");
        assert!(missing[0].contains("missing field `key`"), "{missing:?}");
    }
}
