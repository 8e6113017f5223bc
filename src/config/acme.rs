//! `[tls.acme]`: certificates obtained at run time from an ACME CA (RFC 8555) such as Let's
//! Encrypt. The file form, the validated [`AcmeSettings`] and their check; `acme` runs them.
//! The CA file is read here, so `check-config` names it when it holds no certificate.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::checker::Checker;
use crate::account::Domain;
use crate::account::names::named_enum;

/// Let's Encrypt's production directory, `directory = "letsencrypt"`.
pub const LETSENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, generous rate limits).
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// Where the account, keys and certificates live when `state-dir` is not set: the systemd
/// unit's `StateDirectory`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/mxconf/acme";

/// Where certificate `name` (a domain or host) is kept under `state_dir`: its chain (leaf
/// first) and its key, certbot's file names. The one place that knows the layout.
pub fn stored_files(state_dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = state_dir.join("certificates").join(name);
    (dir.join("fullchain.pem"), dir.join("privkey.pem"))
}

named_enum! {
    /// How the CA checks that this server answers for a name.
    #[derive(Default)]
    pub enum ChallengeKind {
        /// A self-signed certificate on the TLS port, chosen by the `acme-tls/1` ALPN
        /// (RFC 8737): needs only port 443.
        #[default]
        TlsAlpn01 = "tls-alpn-01",
        /// A token under `/.well-known/acme-challenge/` on the plain HTTP port (80).
        Http01 = "http-01",
    }
}

/// `[tls.acme]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AcmeFile {
    pub directory: Option<Spanned<String>>,
    #[serde(default)]
    pub contact: Vec<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub state_dir: Option<Spanned<String>>,
    pub challenge: Option<ChallengeKind>,
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
}

/// Validated `[tls.acme]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The CA's directory URL (`https://…`), shorthands resolved.
    pub directory: String,
    /// `mailto:` addresses the CA may write to about expiring certificates or its terms.
    pub contact: Vec<String>,
    /// The PEM root the CA's own HTTPS certificate is checked against instead of the system's
    /// roots (a private CA, a test CA).
    pub ca_file: Option<PathBuf>,
    /// The account key, certificates and their keys.
    pub state_dir: PathBuf,
    pub challenge: ChallengeKind,
    /// Names beyond the served domains' `autoconfig.`/`autodiscover.`, one certificate each,
    /// lower-case.
    pub hosts: Vec<String>,
}

pub(super) fn check(checker: &mut Checker<'_>, table: &Spanned<AcmeFile>) -> Option<AcmeSettings> {
    let raw = table.get_ref();
    let directory = match &raw.directory {
        None => {
            checker.report(
                Some(&table.span()),
                "tls.acme.directory".into(),
                "missing: the ACME directory URL, or \"letsencrypt\" / \"letsencrypt-staging\""
                    .into(),
            );
            None
        }
        Some(value) => directory(checker, value),
    };
    let contact = raw
        .contact
        .iter()
        .enumerate()
        .filter_map(|(index, value)| contact(checker, index, value))
        .collect::<Vec<_>>();
    let ca_file = raw
        .ca_file
        .as_ref()
        .and_then(|value| ca_file(checker, value));
    let state_dir = match &raw.state_dir {
        Some(value) if value.get_ref().trim().is_empty() => {
            checker.report(
                Some(&value.span()),
                "tls.acme.state-dir".into(),
                "must be a directory path, not empty".into(),
            );
            None
        }
        Some(value) => Some(checker.path(value.get_ref())),
        None => Some(PathBuf::from(DEFAULT_STATE_DIR)),
    };
    let hosts = raw
        .hosts
        .iter()
        .enumerate()
        .filter_map(|(index, value)| host(checker, index, value))
        .collect::<Vec<_>>();
    Some(AcmeSettings {
        directory: directory?,
        contact,
        ca_file,
        state_dir: state_dir?,
        challenge: raw.challenge.unwrap_or_default(),
        hosts,
    })
}

fn directory(checker: &mut Checker<'_>, value: &Spanned<String>) -> Option<String> {
    let text = value.get_ref().trim();
    let url = match text {
        "letsencrypt" => return Some(LETSENCRYPT.to_owned()),
        "letsencrypt-staging" => return Some(LETSENCRYPT_STAGING.to_owned()),
        _ => url::Url::parse(text),
    };
    match url {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Some(text.to_owned()),
        _ => {
            checker.report(
                Some(&value.span()),
                "tls.acme.directory".into(),
                format!(
                    "{text:?} is not an https:// URL nor \"letsencrypt\" / \"letsencrypt-staging\""
                ),
            );
            None
        }
    }
}

fn contact(checker: &mut Checker<'_>, index: usize, value: &Spanned<String>) -> Option<String> {
    let text = value.get_ref().trim();
    let address = text.strip_prefix("mailto:").unwrap_or_default();
    if crate::account::EmailAddress::parse(address).is_ok() {
        return Some(text.to_owned());
    }
    checker.report(
        Some(&value.span()),
        format!("tls.acme.contact[{index}]"),
        format!("{text:?} is not a mailto: address like \"mailto:hostmaster@example.org\""),
    );
    None
}

/// The CA file must hold at least one PEM certificate; read now so a wrong path is a config
/// error, not a failing order an hour after start.
fn ca_file(checker: &mut Checker<'_>, value: &Spanned<String>) -> Option<PathBuf> {
    let path = checker.path(value.get_ref());
    let problem = match crate::files::read_small(&path) {
        Err(error) => format!("cannot read {}: {error}", path.display()),
        Ok(pem) => match openssl::x509::X509::stack_from_pem(&pem) {
            Ok(certificates) if !certificates.is_empty() => return Some(path),
            _ => format!("{}: no PEM certificate in it", path.display()),
        },
    };
    checker.report(Some(&value.span()), "tls.acme.ca-file".into(), problem);
    None
}

/// A host name a CA can issue for: a domain, no wildcard (http-01 and tls-alpn-01 cannot
/// prove one).
fn host(checker: &mut Checker<'_>, index: usize, value: &Spanned<String>) -> Option<String> {
    let text = value.get_ref().trim();
    let problem = if text.starts_with("*.") {
        "is a wildcard; ACME issues wildcards only to DNS challenges, which mxconf does not answer"
            .to_owned()
    } else {
        match Domain::parse(text) {
            Ok(domain) => return Some(domain.as_str().to_owned()),
            Err(error) => format!("{text:?}: {error}"),
        }
    };
    checker.report(
        Some(&value.span()),
        format!("tls.acme.hosts[{index}]"),
        problem,
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError, ConfigSource};

    const BASE: &str =
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";

    fn load(acme: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            &format!("{BASE}[tls.acme]\n{acme}"),
            ConfigSource::File("/etc/mxconf/mxconf.toml".into()),
        )
    }

    fn errors(acme: &str) -> Vec<String> {
        match load(acme) {
            Err(ConfigError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn shorthands_defaults_and_paths() {
        let config = load("directory = \"letsencrypt\"\n").unwrap();
        let acme = config.tls.acme.unwrap();
        assert_eq!(acme.directory, LETSENCRYPT);
        assert_eq!(acme.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(acme.challenge, ChallengeKind::TlsAlpn01);
        let config = load(
            "directory = \"letsencrypt-staging\"\nstate-dir = \"acme\"\nchallenge = \"http-01\"\n\
             contact = [\"mailto:hostmaster@example.org\"]\nhosts = [\"Mail.Example.org\"]\n",
        )
        .unwrap();
        let acme = config.tls.acme.unwrap();
        assert_eq!(acme.directory, LETSENCRYPT_STAGING);
        assert_eq!(acme.state_dir, PathBuf::from("/etc/mxconf/acme"));
        assert_eq!(acme.challenge, ChallengeKind::Http01);
        assert_eq!(acme.contact, ["mailto:hostmaster@example.org"]);
        assert_eq!(acme.hosts, ["mail.example.org"]);
        assert!(
            Config::from_toml(BASE, ConfigSource::EmbeddedDemo)
                .unwrap()
                .tls
                .acme
                .is_none()
        );
    }

    #[test]
    fn every_bad_value_is_named_with_its_line() {
        assert_eq!(
            errors(
                "directory = \"http://ca.example/dir\"\ncontact = [\"hostmaster@example.org\"]\n\
                 ca-file = \"/nonexistent/root.pem\"\nhosts = [\"*.example.org\", \"not a name\"]\n\
                 state-dir = \"\"\n"
            ),
            [
                "/etc/mxconf/mxconf.toml:6: tls.acme.directory: \"http://ca.example/dir\" is not an https:// URL nor \"letsencrypt\" / \"letsencrypt-staging\"",
                "/etc/mxconf/mxconf.toml:7: tls.acme.contact[0]: \"hostmaster@example.org\" is not a mailto: address like \"mailto:hostmaster@example.org\"",
                "/etc/mxconf/mxconf.toml:8: tls.acme.ca-file: cannot read /nonexistent/root.pem: No such file or directory (os error 2)",
                "/etc/mxconf/mxconf.toml:10: tls.acme.state-dir: must be a directory path, not empty",
                "/etc/mxconf/mxconf.toml:9: tls.acme.hosts[0]: is a wildcard; ACME issues wildcards only to DNS challenges, which mxconf does not answer",
                "/etc/mxconf/mxconf.toml:9: tls.acme.hosts[1]: \"not a name\": the domain is not a valid host name",
            ]
        );
        let missing = errors("challenge = \"dns-01\"\n");
        assert!(missing[0].contains("tls.acme.challenge"), "{missing:?}");
        assert!(
            missing[0].contains("expected `tls-alpn-01` or `http-01`"),
            "{missing:?}"
        );
        assert_eq!(
            errors(""),
            [
                "/etc/mxconf/mxconf.toml:5: tls.acme.directory: missing: the ACME directory URL, or \"letsencrypt\" / \"letsencrypt-staging\""
            ]
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("root.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        let problems = errors(&format!(
            "directory = \"https://localhost:14000/dir\"\nca-file = {:?}\n",
            file.display().to_string()
        ));
        assert_eq!(
            problems,
            [format!(
                "/etc/mxconf/mxconf.toml:7: tls.acme.ca-file: {}: no PEM certificate in it",
                file.display()
            )]
        );
    }
}
