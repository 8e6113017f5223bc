//! `[domains."NAME"]` and `[defaults]`: a domain's servers, services and sources as written,
//! the merge of the defaults into each domain, and the validated [`DomainSettings`] with their
//! checks. The keys of a domain table come from the vocabulary's tables (`ServerKind`,
//! `UrlService`), so a new service needs no new field here. The redirect keys are read here and
//! checked by `redirect.rs`; `sources` are resolved against the backends by
//! `backend::check_sources`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

use super::backend::check_sources;
use super::checker::Checker;
use super::redirect::{self, DomainRedirect, Hop};
use crate::account::{
    AuthMethod, Domain, MailServer, OAUTH2_KEY, OAuth2, OPEN_CLIENT_ID, PerKind, SaslMechanism,
    Security, ServerKind, Services, Stage, Template, UrlService, web_url,
};

/// A `[domains."NAME"]` (or `[defaults]`) table as written.
#[derive(Debug, Default, Clone)]
pub struct DomainFile {
    /// `[[domains."NAME".imap]]`…: the servers of each kind, `None` when not given.
    pub servers: PerKind<Option<Vec<ServerEntryFile>>>,
    /// `activesync = "https://…"`…: the URL services, with their spans.
    pub services: Services<Written>,
    /// Names of `[backends.NAME]` consulted in order for an address.
    pub sources: Option<Spanned<Vec<Spanned<String>>>>,
    /// Domain alias for Autodiscover (`redirect.rs`); never merged from `[defaults]`.
    pub redirect_to_domain: Option<Spanned<String>>,
    /// Settings on another Autodiscover server (`redirect.rs`); never merged from `[defaults]`.
    pub autodiscover_redirect_url: Option<Spanned<String>>,
    /// Publish the PACC document (`pacc = true`); off unless set.
    pub pacc: Option<bool>,
}

/// Services as written: each URL with its span, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written;

impl Stage for Written {
    type Url = Spanned<String>;
    type OAuth2 = Spanned<OAuth2File>;
}

/// `[domains."NAME".oauth2]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OAuth2File {
    pub issuer: Spanned<String>,
    pub scope: Spanned<String>,
    pub auth_url: Spanned<String>,
    pub token_url: Spanned<String>,
    #[serde(default)]
    pub client_id: Option<Spanned<String>>,
    #[serde(default)]
    pub client_secret: Option<Spanned<String>>,
}

/// Services validated: URLs that are http(s) once their placeholders are filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked;

impl Stage for Checked {
    type Url = String;
    type OAuth2 = OAuth2;
}

/// A key of a domain table.
#[derive(Debug, Clone, Copy)]
enum Key {
    Servers(ServerKind),
    Url(UrlService),
    OAuth2,
    Sources,
    RedirectToDomain,
    AutodiscoverRedirectUrl,
    Pacc,
}

const SOURCES: &str = "sources";
const REDIRECT_TO_DOMAIN: &str = "redirect-to-domain";
const AUTODISCOVER_REDIRECT_URL: &str = "autodiscover-redirect-url";
const PACC: &str = "pacc";

/// Every key, for "unknown field `x`, expected one of …".
static KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys = ServerKind::NAMES.to_vec();
    keys.extend(UrlService::NAMES);
    keys.extend([
        OAUTH2_KEY,
        SOURCES,
        REDIRECT_TO_DOMAIN,
        AUTODISCOVER_REDIRECT_URL,
        PACC,
    ]);
    keys
});

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a domain setting")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                let key = match name {
                    OAUTH2_KEY => Key::OAuth2,
                    SOURCES => Key::Sources,
                    REDIRECT_TO_DOMAIN => Key::RedirectToDomain,
                    AUTODISCOVER_REDIRECT_URL => Key::AutodiscoverRedirectUrl,
                    PACC => Key::Pacc,
                    _ => ServerKind::from_name(name)
                        .map(Key::Servers)
                        .or_else(|| UrlService::from_name(name).map(Key::Url))
                        .ok_or_else(|| E::unknown_field(name, KEYS.as_slice()))?,
                };
                Ok(key)
            }
        }
        // Read in the key position, so an unknown key's error points at its line.
        deserializer.deserialize_identifier(Name)
    }
}

/// Written by hand so that the keys come from the vocabulary's tables; otherwise what
/// `#[derive(Deserialize)]` with `deny_unknown_fields` would do.
impl<'de> Deserialize<'de> for DomainFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Table;
        impl<'de> Visitor<'de> for Table {
            type Value = DomainFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a domain table")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<DomainFile, M::Error> {
                let mut domain = DomainFile::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Servers(kind) => domain.servers[kind] = Some(map.next_value()?),
                        Key::Url(service) => {
                            domain.services.urls[service] = Some(map.next_value()?);
                        }
                        Key::OAuth2 => domain.services.oauth2 = Some(map.next_value()?),
                        Key::Sources => domain.sources = Some(map.next_value()?),
                        Key::RedirectToDomain => {
                            domain.redirect_to_domain = Some(map.next_value()?);
                        }
                        Key::AutodiscoverRedirectUrl => {
                            domain.autodiscover_redirect_url = Some(map.next_value()?);
                        }
                        Key::Pacc => domain.pacc = Some(map.next_value()?),
                    }
                }
                Ok(domain)
            }
        }
        deserializer.deserialize_map(Table)
    }
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
    /// SASL mechanisms to recommend before the generic `authentication` methods.
    #[serde(default)]
    pub sasl: Option<Vec<Spanned<String>>>,
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
    /// URL templates of the services the domain offers.
    pub services: Services<Checked>,
    /// Indices into [`super::Config::backends`], consulted in order; empty for static-only
    /// domains.
    pub sources: Vec<usize>,
    /// Autodiscover redirect instead of settings; such a domain serves no settings itself.
    pub redirect: Option<DomainRedirect>,
    /// Whether `ua-auto-config.<domain>` serves the PACC document.
    pub pacc: bool,
}

impl DomainFile {
    /// The settings keys this table sets itself: what a redirecting domain may not set.
    fn set_keys(&self) -> Vec<&'static str> {
        let servers = self
            .servers
            .iter()
            .filter(|(_, servers)| servers.is_some())
            .map(|(kind, _)| kind.name());
        let sources = self.sources.is_some().then_some(SOURCES);
        servers
            .chain(self.services.set_keys())
            .chain(sources)
            .collect()
    }
}

/// A domain's own fields win over the defaults, field by field (server lists as a whole).
pub(super) fn merge(defaults: &DomainFile, domain: &DomainFile) -> DomainFile {
    DomainFile {
        servers: domain
            .servers
            .map(|kind, own| own.clone().or_else(|| defaults.servers[kind].clone())),
        services: domain.services.or(&defaults.services),
        sources: domain.sources.clone().or_else(|| defaults.sources.clone()),
        redirect_to_domain: domain.redirect_to_domain.clone(),
        autodiscover_redirect_url: domain.autodiscover_redirect_url.clone(),
        pacc: domain.pacc.or(defaults.pacc),
    }
}

pub(super) fn check(
    checker: &mut Checker<'_>,
    label: &str,
    pattern: &str,
    merged: &DomainFile,
) -> DomainSettings {
    let mut servers =
        |kind: ServerKind| check_servers(checker, label, kind, merged.servers[kind].as_deref());
    let mut incoming = servers(ServerKind::Imap);
    incoming.extend(servers(ServerKind::Pop3));
    let outgoing = servers(ServerKind::Smtp);
    let Services { urls, oauth2 } = &merged.services;
    let urls = urls.map(|service, value| {
        value
            .as_ref()
            .and_then(|value| check_url(checker, label, service.name(), value))
    });
    let oauth2 = oauth2
        .as_ref()
        .and_then(|table| check_oauth2(checker, label, table.get_ref()));
    DomainSettings {
        pattern: pattern.to_ascii_lowercase(),
        incoming,
        outgoing,
        services: Services { urls, oauth2 },
        sources: Vec::new(),
        redirect: None,
        pacc: merged.pacc.unwrap_or(false),
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
            let field = format!("{label}: {}[{index}]", kind.name());
            check_server(checker, &field, kind, entry)
        })
        .collect();
    // Implicit TLS before STARTTLS before plain (RFC 8314; docs/protocols.md, "Implicit TLS
    // first, plain only when configured"). The sort is stable, so the admin's order holds among
    // servers of equal security.
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
    } else if let Some(problem) = super::checker::control_character(&username) {
        checker.report(
            entry.username.as_ref().map(Spanned::span).as_ref(),
            format!("{field}.username"),
            problem,
        );
        ok = false;
    }
    let sasl: Vec<SaslMechanism> = entry
        .sasl
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, name)| {
            let parsed = SaslMechanism::parse(name.get_ref());
            if parsed.is_none() {
                checker.report(
                    Some(&name.span()),
                    format!("{field}.sasl[{index}]"),
                    format!(
                        "{:?} is not a SASL mechanism name (RFC 4422: 1-20 of A-Z 0-9 - _)",
                        name.get_ref()
                    ),
                );
                ok = false;
            }
            parsed
        })
        .collect();
    ok.then(|| MailServer {
        kind,
        host,
        port: u16::try_from(port).unwrap_or_default(),
        security: entry.security,
        sasl,
        authentication,
        username,
    })
}

/// The `[oauth2]` table: https endpoints, a scope, the open client ID unless one is named.
fn check_oauth2(checker: &mut Checker<'_>, label: &str, table: &OAuth2File) -> Option<OAuth2> {
    let mut ok = true;
    let mut text = |key: &str, value: &Spanned<String>, rule: fn(&str) -> Option<&'static str>| {
        let trimmed = value.get_ref().trim();
        if let Some(problem) = rule(trimmed) {
            checker.report(
                Some(&value.span()),
                format!("{label}: {OAUTH2_KEY}.{key}"),
                format!("{trimmed:?} {problem}"),
            );
            ok = false;
        }
        trimmed.to_owned()
    };
    let https = |url: &str| -> Option<&'static str> {
        match web_url(url) {
            Some(parsed) if parsed.scheme() == "https" => None,
            _ => Some("is not an https URL"),
        }
    };
    let word = |value: &str| -> Option<&'static str> {
        if value.is_empty() || value.chars().any(char::is_whitespace) {
            Some("must be one non-empty word")
        } else {
            None
        }
    };
    let scope = |value: &str| -> Option<&'static str> {
        value
            .is_empty()
            .then_some("must name at least one scope (space-separated)")
    };
    let issuer = text("issuer", &table.issuer, word);
    let scope = text("scope", &table.scope, scope);
    let auth_url = text("auth-url", &table.auth_url, https);
    let token_url = text("token-url", &table.token_url, https);
    let client_id = table.client_id.as_ref().map_or_else(
        || OPEN_CLIENT_ID.to_owned(),
        |id| text("client-id", id, word),
    );
    let client_secret = table
        .client_secret
        .as_ref()
        .map(|secret| text("client-secret", secret, word));
    ok.then_some(OAuth2 {
        issuer,
        // One space between scopes, as clients send them.
        scope: scope.split_whitespace().collect::<Vec<_>>().join(" "),
        auth_url,
        token_url,
        client_id,
        client_secret,
    })
}

fn check_url(
    checker: &mut Checker<'_>,
    label: &str,
    field: &str,
    value: &Spanned<String>,
) -> Option<String> {
    let text = value.get_ref().trim();
    if Template::new(text).is_web_url() {
        Some(text.to_owned())
    } else {
        checker.report(
            Some(&value.span()),
            format!("{label}: {field}"),
            format!("{text:?} is not an http(s) URL"),
        );
        None
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
