//! `[domains."NAME"]` and `[defaults]`: a domain's servers, URLs and sources as written, the
//! merge of the defaults into each domain, and the validated [`DomainSettings`] with their
//! checks. The redirect keys are read here and checked by `redirect.rs`; `sources` are
//! resolved against the backends by `backend::check_sources`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::backend::check_sources;
use super::checker::Checker;
use super::redirect::{self, DomainRedirect, Hop};
use crate::account::{AuthMethod, Domain, MailServer, Security, ServerKind};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DomainFile {
    pub imap: Option<Vec<ServerEntryFile>>,
    pub pop3: Option<Vec<ServerEntryFile>>,
    pub smtp: Option<Vec<ServerEntryFile>>,
    pub activesync: Option<Spanned<String>>,
    pub caldav: Option<Spanned<String>>,
    pub carddav: Option<Spanned<String>>,
    pub documentation: Option<Spanned<String>>,
    /// Names of `[backends.NAME]` consulted in order for an address.
    pub sources: Option<Spanned<Vec<Spanned<String>>>>,
    /// Domain alias for Autodiscover (`redirect.rs`); never merged from `[defaults]`.
    pub redirect_to_domain: Option<Spanned<String>>,
    /// Settings on another Autodiscover server (`redirect.rs`); never merged from `[defaults]`.
    pub autodiscover_redirect_url: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerEntryFile {
    pub host: Spanned<String>,
    /// Wider than `u16` so that `0` and `70000` get our message, not a serde type error.
    pub port: Spanned<i64>,
    pub security: Security,
    #[serde(default)]
    pub authentication: Option<Spanned<AuthList>>,
    #[serde(default)]
    pub username: Option<Spanned<String>>,
}

/// One method or several in preference order (`"oauth2"` or `["oauth2", "password-cleartext"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AuthList {
    One(AuthMethod),
    Many(Vec<AuthMethod>),
}

/// One domain's settings after merging the defaults; usernames and URLs are still templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSettings {
    /// The name as configured: `example.org` or `*.example.org`.
    pub pattern: String,
    /// IMAP then POP3 servers, each group in preference order (implicit TLS first).
    pub incoming: Vec<MailServer>,
    pub outgoing: Vec<MailServer>,
    pub activesync_url: Option<String>,
    pub caldav_url: Option<String>,
    pub carddav_url: Option<String>,
    pub documentation_url: Option<String>,
    /// Indices into [`Config::backends`], consulted in order; empty for static-only domains.
    pub sources: Vec<usize>,
    /// Autodiscover redirect instead of settings; such a domain serves no settings itself.
    pub redirect: Option<DomainRedirect>,
}

impl DomainFile {
    /// The settings keys this table sets itself: what a redirecting domain may not set.
    fn set_keys(&self) -> Vec<&'static str> {
        [
            ("imap", self.imap.is_some()),
            ("pop3", self.pop3.is_some()),
            ("smtp", self.smtp.is_some()),
            ("activesync", self.activesync.is_some()),
            ("caldav", self.caldav.is_some()),
            ("carddav", self.carddav.is_some()),
            ("documentation", self.documentation.is_some()),
            ("sources", self.sources.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }
}

/// A domain's own fields win over the defaults, field by field (server lists as a whole).
pub(super) fn merge(defaults: &DomainFile, domain: &DomainFile) -> DomainFile {
    DomainFile {
        imap: domain.imap.clone().or_else(|| defaults.imap.clone()),
        pop3: domain.pop3.clone().or_else(|| defaults.pop3.clone()),
        smtp: domain.smtp.clone().or_else(|| defaults.smtp.clone()),
        activesync: domain
            .activesync
            .clone()
            .or_else(|| defaults.activesync.clone()),
        caldav: domain.caldav.clone().or_else(|| defaults.caldav.clone()),
        carddav: domain.carddav.clone().or_else(|| defaults.carddav.clone()),
        documentation: domain
            .documentation
            .clone()
            .or_else(|| defaults.documentation.clone()),
        sources: domain.sources.clone().or_else(|| defaults.sources.clone()),
        redirect_to_domain: domain.redirect_to_domain.clone(),
        autodiscover_redirect_url: domain.autodiscover_redirect_url.clone(),
    }
}

pub(super) fn check(
    checker: &mut Checker<'_>,
    label: &str,
    pattern: &str,
    merged: &DomainFile,
) -> DomainSettings {
    let mut incoming = check_servers(checker, label, ServerKind::Imap, merged.imap.as_deref());
    incoming.extend(check_servers(
        checker,
        label,
        ServerKind::Pop3,
        merged.pop3.as_deref(),
    ));
    let outgoing = check_servers(checker, label, ServerKind::Smtp, merged.smtp.as_deref());
    let mut url = |field: &str, value: &Option<Spanned<String>>| {
        value
            .as_ref()
            .and_then(|value| check_url(checker, label, field, value))
    };
    DomainSettings {
        pattern: pattern.to_ascii_lowercase(),
        activesync_url: url("activesync", &merged.activesync),
        caldav_url: url("caldav", &merged.caldav),
        carddav_url: url("carddav", &merged.carddav),
        documentation_url: url("documentation", &merged.documentation),
        incoming,
        outgoing,
        sources: Vec::new(),
        redirect: None,
    }
}

fn check_servers(
    checker: &mut Checker<'_>,
    label: &str,
    kind: ServerKind,
    entries: Option<&[ServerEntryFile]>,
) -> Vec<MailServer> {
    let mut servers: Vec<MailServer> = entries
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let field = format!("{label}: {}[{index}]", kind.config_name());
            check_server(checker, &field, kind, entry)
        })
        .collect();
    // RFC 8314 and NOTES.md: implicit TLS before STARTTLS before plain. The sort is stable, so
    // the admin's order holds among servers of equal security.
    servers.sort_by_key(|server| server.security.preference());
    servers
}

fn check_server(
    checker: &mut Checker<'_>,
    field: &str,
    kind: ServerKind,
    entry: &ServerEntryFile,
) -> Option<MailServer> {
    let mut ok = true;
    let host = entry.host.get_ref().trim().to_ascii_lowercase();
    if Domain::parse(&host).is_err() {
        checker.report(
            Some(&entry.host.span()),
            format!("{field}.host"),
            format!("{:?} is not a host name", entry.host.get_ref()),
        );
        ok = false;
    }
    let port = *entry.port.get_ref();
    if !(1..=65535).contains(&port) {
        checker.report(
            Some(&entry.port.span()),
            format!("{field}.port"),
            format!("{port} is not a port"),
        );
        ok = false;
    }
    let authentication = match &entry.authentication {
        None => vec![AuthMethod::PasswordCleartext],
        Some(list) => match list.get_ref() {
            AuthList::One(method) => vec![*method],
            AuthList::Many(methods) if !methods.is_empty() => methods.clone(),
            AuthList::Many(_) => {
                checker.report(
                    Some(&list.span()),
                    format!("{field}.authentication"),
                    "needs at least one method".into(),
                );
                ok = false;
                Vec::new()
            }
        },
    };
    let username = entry
        .username
        .as_ref()
        .map_or_else(|| "%EMAILADDRESS%".to_owned(), |u| u.get_ref().clone());
    if username.trim().is_empty() {
        checker.report(
            entry.username.as_ref().map(Spanned::span).as_ref(),
            format!("{field}.username"),
            "must not be empty (clients need a login name)".into(),
        );
        ok = false;
    }
    ok.then(|| MailServer {
        kind,
        host,
        port: u16::try_from(port).unwrap_or_default(),
        security: entry.security,
        authentication,
        username,
    })
}

fn check_url(
    checker: &mut Checker<'_>,
    label: &str,
    field: &str,
    value: &Spanned<String>,
) -> Option<String> {
    let text = value.get_ref().trim();
    // Placeholders are substituted before parsing so `https://dav.example.org/%EMAILLOCALPART%/`
    // is checked as the URL it becomes.
    let probe = text
        .replace("%EMAILADDRESS%", "user@example.org")
        .replace("%EMAILLOCALPART%", "user")
        .replace("%EMAILDOMAIN%", "example.org");
    match url::Url::parse(&probe) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host_str().is_some() => {
            Some(text.to_owned())
        }
        _ => {
            checker.report(
                Some(&value.span()),
                format!("{label}: {field}"),
                format!("{text:?} is not an http(s) URL"),
            );
            None
        }
    }
}

/// Every configured domain, found as requests find them.
#[derive(Debug, Clone, Default)]
pub struct Domains {
    exact: HashMap<String, Arc<DomainSettings>>,
    /// `(".example.org", settings)`, longest suffix first so the most specific wildcard wins.
    wildcards: Vec<(String, Arc<DomainSettings>)>,
}

impl Domains {
    /// An exact entry, else the most specific wildcard. `*.example.org` matches
    /// `a.example.org` and `a.b.example.org`, not `example.org`.
    pub fn get(&self, domain: &Domain) -> Option<&Arc<DomainSettings>> {
        let name = domain.as_str();
        self.exact.get(name).or_else(|| {
            self.wildcards
                .iter()
                .find(|(suffix, _)| name.ends_with(suffix.as_str()))
                .map(|(_, settings)| settings)
        })
    }

    /// Every configured domain pattern, exact names first.
    pub fn iter(&self) -> impl Iterator<Item = &DomainSettings> {
        self.exact
            .values()
            .chain(self.wildcards.iter().map(|(_, settings)| settings))
            .map(AsRef::as_ref)
    }
}

/// Checks `[defaults]` and every `[domains."…"]` (each merged with the defaults), then the
/// alias targets, which need every domain: they are looked up as requests would look them up.
pub(super) fn check_all(
    checker: &mut Checker<'_>,
    defaults: &DomainFile,
    domains: &BTreeMap<String, Spanned<DomainFile>>,
    backends: &HashMap<String, usize>,
) -> Domains {
    redirect::check_defaults(
        checker,
        defaults.redirect_to_domain.as_ref(),
        defaults.autodiscover_redirect_url.as_ref(),
    );
    let mut exact = HashMap::new();
    let mut wildcards = Vec::new();
    for (name, entry) in domains {
        let label = format!("domain {name:?}");
        let merged = merge(defaults, entry.get_ref());
        let (pattern, wildcard) = match name.strip_prefix("*.") {
            Some(rest) => (rest, true),
            None => (name.as_str(), false),
        };
        let domain = match Domain::parse(pattern) {
            Ok(domain) => domain,
            Err(_) => {
                checker.report(
                    Some(&entry.span()),
                    label,
                    "not a domain name or *.wildcard".into(),
                );
                continue;
            }
        };
        let mut settings = check(checker, &label, name, &merged);
        settings.sources = check_sources(checker, &label, merged.sources.as_ref(), backends);
        let own = entry.get_ref();
        settings.redirect = redirect::check(
            checker,
            &label,
            own.redirect_to_domain.as_ref(),
            own.autodiscover_redirect_url.as_ref(),
            &own.set_keys(),
        );
        let settings = Arc::new(settings);
        if wildcard {
            wildcards.push((format!(".{domain}"), settings));
        } else if exact.insert(domain.to_string(), settings).is_some() {
            checker.report(
                Some(&entry.span()),
                label,
                "the same domain is configured twice (names are case-insensitive)".into(),
            );
        }
    }
    wildcards.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
    let table = Domains { exact, wildcards };
    for (name, entry) in domains {
        if let Some(target) = &entry.get_ref().redirect_to_domain {
            redirect::check_target(
                checker,
                &format!("domain {name:?}"),
                &name.to_ascii_lowercase(),
                target,
                |domain| {
                    table.get(domain).map(|settings| Hop {
                        pattern: &settings.pattern,
                        redirect: settings.redirect.as_ref(),
                    })
                },
            );
        }
    }
    table
}
