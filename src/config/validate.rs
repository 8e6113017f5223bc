//! File form → [`Config`]: every check happens here, once, and every problem is collected
//! (not just the first) with its file, line and field path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use ipnet::IpNet;
use toml::Spanned;

use super::checker::Checker;
use super::file::{AuthList, ConfigFile, DomainFile, ServerEntryFile};
use super::{Config, ConfigError, ConfigSource, DEMO_NAME, DomainSettings};
use crate::account::{Domain, MailServer, Provider, ServerKind};

pub(super) fn validate(text: &str, source: ConfigSource) -> Result<Config, ConfigError> {
    let mut checker = match &source {
        ConfigSource::File(path) => Checker::new(path.display().to_string(), text, Some(path)),
        ConfigSource::EmbeddedDemo => Checker::new(DEMO_NAME.to_owned(), text, None),
    };
    let raw: ConfigFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            checker.report_toml_error(&error);
            return Err(ConfigError::Invalid(checker.into_issues()));
        }
    };

    let provider = check_provider(&mut checker, &raw);
    let profile = super::profile::check(&mut checker, &raw.profile, &provider);
    let listen = raw
        .server
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
        .server
        .trusted_proxies
        .iter()
        .filter_map(|entry| {
            let text = entry.get_ref();
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
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

    let (backends, backend_names) = super::backend::check_backends(&mut checker, &raw.backends);
    let web = super::web::check(&mut checker, &raw.web);

    super::redirect::check_defaults(&mut checker, &raw.defaults);
    let mut exact = HashMap::new();
    let mut wildcards = Vec::new();
    for (name, entry) in &raw.domains {
        let label = format!("domain {name:?}");
        let merged = merge(&raw.defaults, entry.get_ref());
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
        let mut settings = check_domain(&mut checker, &label, name, &merged);
        settings.sources = super::backend::check_sources(
            &mut checker,
            &label,
            merged.sources.as_ref(),
            &backend_names,
        );
        settings.redirect = super::redirect::check(&mut checker, &label, entry.get_ref());
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
    let signing = super::signing::check(&mut checker, raw.signing.as_ref());

    let config = Config {
        source,
        provider,
        listen,
        trusted_proxies,
        web,
        profile,
        signing,
        backends,
        exact,
        wildcards,
    };
    // Needs every domain: alias targets are looked up as requests would look them up.
    super::redirect::check_targets(&mut checker, &raw, &config);
    if checker.is_clean() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(checker.into_issues()))
    }
}

fn check_provider(checker: &mut Checker<'_>, raw: &ConfigFile) -> Provider {
    let provider = &raw.provider;
    if Domain::parse(provider.id.get_ref()).is_err() {
        checker.report(
            Some(&provider.id.span()),
            "provider.id".into(),
            // Thunderbird and K-9 require emailProvider id to be a real host name.
            format!("{:?} is not a domain name", provider.id.get_ref()),
        );
    }
    for (field, value, limit) in [
        ("provider.display-name", &provider.display_name, 60),
        ("provider.short-name", &provider.short_name, 20),
    ] {
        let length = value.get_ref().chars().count();
        // The autoconfig draft caps displayName at 60 and displayShortName at 20 characters.
        if length == 0 || length > limit {
            checker.report(
                Some(&value.span()),
                field.into(),
                format!("must be 1 to {limit} characters, not {length}"),
            );
        }
    }
    Provider {
        id: provider.id.get_ref().to_ascii_lowercase(),
        display_name: provider.display_name.get_ref().clone(),
        short_name: provider.short_name.get_ref().clone(),
    }
}

/// A domain's own fields win over the defaults, field by field (server lists as a whole).
fn merge(defaults: &DomainFile, domain: &DomainFile) -> DomainFile {
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

fn check_domain(
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
        None => vec![crate::account::AuthMethod::PasswordCleartext],
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
