//! `type = "ldap"`: the directory, its TLS, the bind, the search and the attribute mapping.
//! The settings and their check (the `ca-file` is read here, at load); `backend::ldap` runs
//! them.

use std::net::IpAddr;

use openssl::x509::X509Ref;

use super::{BackendFile, Secret, check_secret, check_url, read_ca_file, report_at};
use crate::account::{FIELD_NAMES, Field, Template};
use crate::config::checker::Checker;

/// `scope`: how deep below `base` the search goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LdapScope {
    Base,
    One,
    #[default]
    Sub,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapSettings {
    pub url: url::Url,
    /// StartTLS on an `ldap://` URL (on by default; off only towards loopback).
    pub starttls: bool,
    /// DER certificates of a private CA trusted besides the system store (`ca-file`).
    pub ca_certificates: Vec<Vec<u8>>,
    pub bind: Option<(String, Secret)>,
    pub base: String,
    /// Filter template with `%EMAILADDRESS%`, `%EMAILLOCALPART%`, `%EMAILDOMAIN%`.
    pub filter: String,
    pub scope: LdapScope,
    /// `(field, attribute)` pairs.
    pub attributes: Vec<(String, String)>,
}

pub(super) fn check(
    checker: &mut Checker<'_>,
    label: &str,
    raw: &BackendFile,
) -> Option<LdapSettings> {
    let Some(url_raw) = &raw.url else {
        report_at(
            checker,
            &raw.kind,
            label,
            "url",
            "is required (ldaps://… or ldap://…)",
        );
        return None;
    };
    let url = check_url(checker, label, url_raw, &["ldap", "ldaps"])?;
    let starttls = raw.starttls.as_ref().is_none_or(|v| *v.get_ref());
    if let Some(flag) = &raw.starttls
        && !*flag.get_ref()
    {
        let loopback = is_loopback_host(&url);
        // A bind password and users' addresses must not cross a network in clear text.
        if url.scheme() == "ldap" && !loopback {
            checker.report(
                Some(&flag.span()),
                format!("{label}.starttls"),
                "may be off only for a loopback server (127.0.0.1, ::1, localhost); use ldaps:// or StartTLS".into(),
            );
        }
    }
    let secret = check_secret(
        checker,
        label,
        raw.password_file.as_ref(),
        raw.password_env.as_ref(),
    );
    // Outer `None`: a mistake already reported; `Some(None)`: an anonymous bind.
    let bind = match (&raw.bind_dn, secret) {
        (Some(dn), Some(Some(secret))) => Some(Some((dn.get_ref().clone(), secret))),
        (None, None) => Some(None),
        (Some(_), None) => {
            report_at(
                checker,
                &raw.kind,
                label,
                "password-file",
                "bind-dn needs password-file or password-env",
            );
            None
        }
        (None, Some(_)) => {
            report_at(
                checker,
                &raw.kind,
                label,
                "bind-dn",
                "a password was given without bind-dn",
            );
            None
        }
        (Some(_), Some(None)) => None,
    };
    let base = raw.base.as_ref().map(|b| b.get_ref().clone());
    if base.is_none() {
        report_at(
            checker,
            &raw.kind,
            label,
            "base",
            "is required (the search base DN)",
        );
    }
    let filter = match &raw.filter {
        Some(filter) => {
            let text = filter.get_ref().trim();
            if !is_usable_filter(text) {
                checker.report(
                    Some(&filter.span()),
                    format!("{label}.filter"),
                    "must be a parenthesised LDAP filter using %EMAILADDRESS%, %EMAILLOCALPART% or %EMAILDOMAIN%, e.g. \"(mail=%EMAILADDRESS%)\"".into(),
                );
                None
            } else {
                Some(text.to_owned())
            }
        }
        None => {
            report_at(
                checker,
                &raw.kind,
                label,
                "filter",
                "is required, e.g. \"(mail=%EMAILADDRESS%)\"",
            );
            None
        }
    };
    let scope = raw
        .scope
        .as_ref()
        .map(|scope| *scope.get_ref())
        .unwrap_or_default();
    let attributes = match &raw.attributes {
        Some(map) if !map.get_ref().is_empty() => {
            let mut ok = true;
            let pairs = map
                .get_ref()
                .iter()
                .map(|(field, attribute)| {
                    if Field::parse(field).is_none() {
                        checker.report(
                            Some(&attribute.span()),
                            format!("{label}.attributes.{field}"),
                            format!("not a field (known: {})", *FIELD_NAMES),
                        );
                        ok = false;
                    }
                    (field.clone(), attribute.get_ref().clone())
                })
                .collect();
            ok.then_some(pairs)
        }
        _ => {
            report_at(
                checker,
                &raw.kind,
                label,
                "attributes",
                "is required: a table field = \"ldapAttribute\"",
            );
            None
        }
    };
    let ca_certificates = match &raw.ca_file {
        Some(file) => Some(read_ca_file(checker, label, file, X509Ref::to_der)?),
        None => Some(Vec::new()),
    };
    Some(LdapSettings {
        url,
        starttls,
        ca_certificates: ca_certificates?,
        bind: bind?,
        base: base?,
        filter: filter?,
        scope,
        attributes: attributes?,
    })
}

/// True when `url` names this machine (127.0.0.0/8, ::1, `localhost`): the one place plain
/// LDAP is allowed, since nothing crosses a network.
pub fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        // Non-special schemes (ldap:) keep IP literals as opaque host text.
        Some(url::Host::Domain(name)) => {
            name == "localhost"
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// What `filter` must be (the importers check their output by it too): parenthesised, its
/// parentheses balanced, and using a placeholder of the address.
pub fn is_usable_filter(text: &str) -> bool {
    let text = text.trim();
    let balanced = text.chars().try_fold(0i32, |depth, c| {
        let depth = depth + i32::from(c == '(') - i32::from(c == ')');
        (depth >= 0).then_some(depth)
    }) == Some(0);
    text.starts_with('(') && balanced && Template::new(text).has_placeholder()
}
