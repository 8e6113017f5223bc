//! automx2's rows onto the model: one `[domains."NAME"]` table per domain row with the
//! servers its link tables give it (in automx2's `prio` order), CalDAV/CardDAV URLs, and a
//! `[backends.NAME]` LDAP source for a domain with an `ldapserver`. What automx2 did that
//! mxconf does differently is a comment where it applies.

use super::{ADDRESS, DavRow, DomainRow, LdapRow, ServerRow, Source, Tables, invalid};
use crate::account::{Domain, PerKind, Security, ServerKind, Template, UrlService};
use crate::import::ispdb::auth_method;
use crate::import::{
    BackendOut, DomainOut, ImportError, Imported, ServerOut, TableOut, TomlValue, bind_keys, fit,
    is_host_template,
};

impl Tables {
    pub(super) fn translate(&self, source: Source, file: &str) -> Result<Imported, ImportError> {
        let main = self.main_provider().ok_or_else(|| {
            invalid(
                file,
                None,
                "no provider with a domain: nothing to import".into(),
            )
        })?;
        let what = match source {
            Source::Seed => "seed file",
            Source::Database => "database",
        };
        let mut header = vec![
            format!("Imported from the automx2 {what} {file} by `mxconf import automx2`."),
            "Check it with `mxconf check-config --config FILE` and read every comment below:"
                .into(),
            "each marks a setting that did not carry over as it was.".into(),
        ];
        let mut not_carried = Vec::new();
        let mut warnings = Vec::new();
        let mut backends: Vec<BackendOut> = Vec::new();
        let mut domains = Vec::new();
        for row in &self.domains {
            let Ok(name) = Domain::parse(row.name.trim()) else {
                not_carried.push(format!(
                    "{}: {:?} is not a domain name",
                    row.origin, row.name
                ));
                continue;
            };
            let name = name.to_string();
            if domains.iter().any(|(known, _)| *known == name) {
                not_carried.push(format!("{}: {name} appears twice", row.origin));
                continue;
            }
            let mut domain = self.domain(row, &name, &mut warnings);
            if row.provider_id != main.id {
                let theirs = self.providers.iter().find(|p| p.id == row.provider_id);
                let message = format!(
                    "automx2 answered for {name} as provider {:?}; mxconf has one [provider], \
                     so {name} is answered as {:?}",
                    theirs.map_or("(none)", |p| p.name.as_str()),
                    main.name
                );
                domain.notes.push(message.clone());
                warnings.push(message);
            }
            if let Some(id) = row.ldapserver_id {
                self.ldap_source(id, &name, &mut domain, &mut backends, &mut warnings);
            }
            domains.push((name, domain));
        }
        let served = |name: &String| domains.iter().any(|(known, _)| known == name);
        let Some(provider_id) = self
            .domains
            .iter()
            .filter(|row| row.provider_id == main.id)
            .filter_map(|row| Domain::parse(row.name.trim()).ok())
            .map(|name| name.to_string())
            .find(served)
            .or_else(|| domains.first().map(|(name, _)| name.clone()))
        else {
            return Err(invalid(
                file,
                None,
                "no row of table domain is a domain name".into(),
            ));
        };
        not_carried.extend(self.unused());
        if !not_carried.is_empty() {
            header.push(String::new());
            header.push("Not carried over:".into());
            header.extend(not_carried.into_iter().map(|item| format!("- {item}")));
        }

        let mut provider_notes = vec![format!(
            "automx2's provider {:?} (id automx2-{}); mxconf's id is a domain it serves.",
            main.name, main.id
        )];
        let display_name = fit(main.name.trim(), 60, "display-name", &mut provider_notes);
        let short = main.short_name.trim();
        let short = if short.is_empty() {
            &display_name
        } else {
            short
        };
        let short_name = fit(short, 20, "short-name", &mut provider_notes);
        let defaults = shared_defaults(&mut domains);
        Ok(Imported {
            header,
            provider_id,
            display_name,
            short_name,
            provider_notes,
            backends,
            defaults,
            domains,
            warnings,
            ..Imported::default()
        })
    }

    /// The provider with the most domains (the lowest id among equals): mxconf has one.
    fn main_provider(&self) -> Option<&super::ProviderRow> {
        let count = |id| self.domains.iter().filter(|d| d.provider_id == id).count();
        self.providers
            .iter()
            .filter(|p| count(p.id) > 0)
            .min_by_key(|p| (std::cmp::Reverse(count(p.id)), p.id))
    }

    fn domain(&self, row: &DomainRow, name: &str, warnings: &mut Vec<String>) -> DomainOut {
        let mut notes = Vec::new();
        let mut servers: Vec<&ServerRow> = self
            .servers
            .iter()
            .filter(|s| s.domain_ids.contains(&row.id))
            .collect();
        // automx2 sorts by prio (Python's sort is stable: table order among equals).
        servers.sort_by_key(|s| s.prio);
        if let Some(bad) = servers.iter().find(|s| kind(&s.kind).is_none()) {
            let message = format!(
                "automx2 refused every answer for {name} (400: {} has type {:?}); the other \
                 servers are carried over",
                bad.origin, bad.kind
            );
            notes.push(message.clone());
            warnings.push(message);
        }
        let mut out = DomainOut::default();
        let mut lists: PerKind<Vec<ServerOut>> = PerKind::from_fn(|_| Vec::new());
        for server in servers {
            if let Some((kind, entry)) = mail_server(server, name, &mut notes) {
                lists[kind].push(entry);
            }
        }
        for (kind, list) in lists.iter() {
            let ranks: Vec<u8> = list.iter().map(|s| s.security.preference()).collect();
            if !ranks.is_sorted() {
                notes.push(format!(
                    "automx2 offered these {} servers in prio order; mxconf offers implicit TLS \
                     first, then STARTTLS, then plain (RFC 8314)",
                    kind.name()
                ));
            }
        }
        out.servers = lists.map(|_, list| (!list.is_empty()).then(|| list.clone()));
        for (service, dav_kind) in [
            (UrlService::CalDav, "caldav"),
            (UrlService::CardDav, "carddav"),
        ] {
            let mut dav = self
                .davservers
                .iter()
                .filter(|d| d.kind == dav_kind && d.domain_ids.contains(&row.id));
            if let Some(first) = dav.next() {
                out.services.urls[service] = dav_url(first, &mut notes);
            }
            for other in dav {
                notes.push(format!(
                    "{} ({}): mxconf announces one {dav_kind} URL per domain; left out",
                    other.origin, other.url
                ));
            }
        }
        for other in self
            .davservers
            .iter()
            .filter(|d| !matches!(d.kind.as_str(), "caldav" | "carddav"))
            .filter(|d| d.domain_ids.contains(&row.id))
        {
            notes.push(format!(
                "{}: unknown DAV server type {:?}; left out",
                other.origin, other.kind
            ));
        }
        out.notes = notes;
        out
    }

    /// Adds the `[backends.NAME]` for LDAP server `id` (once) and puts it in the domain's
    /// `sources`; when it cannot be carried over, the domain says why.
    fn ldap_source(
        &self,
        id: i64,
        domain_name: &str,
        domain: &mut DomainOut,
        backends: &mut Vec<BackendOut>,
        warnings: &mut Vec<String>,
    ) {
        let Some(row) = self.ldapservers.iter().find(|l| l.id == id) else {
            domain.notes.push(format!(
                "automx2's ldapserver_id {id} names no row of table ldapserver (automx2 \
                 looked nobody up); the static settings apply"
            ));
            return;
        };
        let name = format!("automx2-ldap-{id}");
        if !backends.iter().any(|b| b.name == name) {
            match ldap_backend(row, &name) {
                Ok(backend) => {
                    if row
                        .bind_user
                        .as_deref()
                        .is_some_and(|u| !u.trim().is_empty())
                    {
                        warnings.push(format!(
                            "create /etc/mxconf/{name}.password with the bind password of {} \
                             (one line, mode 0600)",
                            row.origin
                        ));
                    }
                    backends.push(backend);
                }
                Err(why) => {
                    let message = format!(
                        "automx2 looked {domain_name}'s users up in {} ({}), which cannot be \
                         carried over: {why}. The domain answers with its static settings",
                        row.origin, row.name
                    );
                    domain.notes.push(message.clone());
                    warnings.push(message);
                    return;
                }
            }
        }
        domain.sources = Some(vec![name]);
    }

    /// Rows no domain uses: automx2 never served them.
    fn unused(&self) -> Vec<String> {
        let linked = |ids: &[i64]| {
            ids.iter()
                .any(|id| self.domains.iter().any(|d| d.id == *id))
        };
        let mut unused = Vec::new();
        for provider in &self.providers {
            if !self.domains.iter().any(|d| d.provider_id == provider.id) {
                unused.push(format!("provider {:?}: no domain", provider.name));
            }
        }
        for server in self.servers.iter().filter(|s| !linked(&s.domain_ids)) {
            unused.push(format!("{} ({}): no domain", server.origin, server.name));
        }
        for dav in self.davservers.iter().filter(|d| !linked(&d.domain_ids)) {
            unused.push(format!("{} ({}): no domain", dav.origin, dav.url));
        }
        for ldap in &self.ldapservers {
            if !self
                .domains
                .iter()
                .any(|d| d.ldapserver_id == Some(ldap.id))
            {
                unused.push(format!("{} ({}): no domain", ldap.origin, ldap.name));
            }
        }
        unused
    }
}

fn kind(text: &str) -> Option<ServerKind> {
    match text {
        "imap" => Some(ServerKind::Imap),
        "pop" => Some(ServerKind::Pop3),
        "smtp" => Some(ServerKind::Smtp),
        _ => None,
    }
}

/// One `server` row as an mxconf server, or a note saying why it is left out.
fn mail_server(
    row: &ServerRow,
    domain: &str,
    notes: &mut Vec<String>,
) -> Option<(ServerKind, ServerOut)> {
    let kind = kind(&row.kind)?;
    let mut skip = |why: String| {
        notes.push(format!(
            "{} ({}:{}): {why}; left out",
            row.origin, row.name, row.port
        ));
        None
    };
    let mut server_notes = Vec::new();
    let raw_host = row.name.trim();
    // Thunderbird fills in %EMAILDOMAIN% in a host name; mxconf's host names are literal.
    let host = raw_host.replace("%EMAILDOMAIN%", domain);
    if host != raw_host {
        server_notes.push(format!(
            "automx2 host {raw_host} with %EMAILDOMAIN% filled in"
        ));
    }
    if !is_host_template(&host) {
        return skip(format!("{host:?} is not a host name"));
    }
    let Some(port) = u16::try_from(row.port).ok().filter(|port| *port != 0) else {
        return skip(format!("{} is not a port number", row.port));
    };
    let security = match row.socket_type.as_str() {
        "SSL" => Security::Tls,
        "STARTTLS" => Security::Starttls,
        "plain" | "None" => Security::Plain,
        other => {
            return skip(format!(
                "socket_type {other:?} is none of SSL, STARTTLS, plain (Thunderbird cannot use it)"
            ));
        }
    };
    let authentication = match auth_method(row.authentication.trim()) {
        Some(method) => vec![method],
        None => {
            server_notes.push(format!(
                "automx2 authentication {:?} has no mxconf equivalent: mxconf's default \
                 password-cleartext applies",
                row.authentication
            ));
            Vec::new()
        }
    };
    let user = row.user_name.trim();
    let username = if user.is_empty() {
        server_notes.push(
            "automx2 user_name is empty (clients need a login name): mxconf's default \
             %EMAILADDRESS% applies"
                .into(),
        );
        None
    } else {
        (user != ADDRESS).then(|| user.to_owned())
    };
    Some((
        kind,
        ServerOut {
            notes: server_notes,
            host,
            port,
            security,
            authentication,
            username,
        },
    ))
}

/// A `davserver` row as the URL mxconf announces (its `port` folded into the URL), or `None`
/// with a note.
fn dav_url(row: &DavRow, notes: &mut Vec<String>) -> Option<String> {
    let text = row.url.trim();
    let Some(url) = crate::account::web_url(&Template::new(text).probe()) else {
        notes.push(format!(
            "{}: {text:?} is not an http(s) URL; {} left out",
            row.origin, row.kind
        ));
        return None;
    };
    let mut out = text.to_owned();
    let port = u16::try_from(row.port).ok().filter(|port| *port != 0);
    if let Some(port) = port
        && Some(port) != url.port_or_known_default()
    {
        if url.port().is_some() {
            notes.push(format!(
                "{}: port {port} differs from the port in {text}; clients use the URL's",
                row.origin
            ));
        } else if let Some(start) = text.find("://").map(|at| at + 3) {
            // Into the text, not through the parsed URL: placeholders stay as written.
            let end = text[start..]
                .find(['/', '?', '#'])
                .map_or(text.len(), |at| start + at);
            out = format!("{}:{port}{}", &text[..end], &text[end..]);
        }
    }
    if row.use_ssl != (url.scheme() == "https") {
        notes.push(format!(
            "{}: use_ssl = {} but the URL is {}: mxconf goes by the URL",
            row.origin,
            row.use_ssl,
            url.scheme()
        ));
    }
    match row.user_name.as_deref().map(str::trim) {
        Some(ADDRESS) => {}
        None | Some("") => notes.push(format!(
            "{}: automx2 sent no login name for {}; mxconf sends the account's login name",
            row.origin, row.kind
        )),
        Some(other) => notes.push(format!(
            "{}: user_name {other:?} not carried over: mxconf sends the account's login name \
             (%EMAILADDRESS% unless a source gives login_name)",
            row.origin
        )),
    }
    if row.domain_required {
        notes.push(format!(
            "{}: automx2 told Outlook DomainRequired = on for {}; mxconf sends off (the login \
             name goes whole)",
            row.origin, row.kind
        ));
    }
    Some(out)
}

/// An `ldapserver` row as a `[backends.NAME]` table, or why it cannot be one.
fn ldap_backend(row: &LdapRow, name: &str) -> Result<BackendOut, String> {
    let mut notes = vec![
        format!("From automx2's {} ({}).", row.origin, row.name),
        "automx2 answered 204 (no settings) for an address the directory did not have, and \
         400 when the search failed; mxconf answers such an address with the domain's static \
         settings (on-failure = \"static\")."
            .into(),
    ];
    let host = row.name.trim();
    let url = if host.contains("://") {
        host.to_owned()
    } else {
        let (scheme, default) = if row.use_ssl {
            ("ldaps", 636)
        } else {
            ("ldap", 389)
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        match u16::try_from(row.port) {
            Ok(port) if port == default => format!("{scheme}://{host}"),
            Ok(port) if port != 0 => format!("{scheme}://{host}:{port}"),
            _ => return Err(format!("{} is not a port number", row.port)),
        }
    };
    let parsed = url::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "ldap" | "ldaps") && u.host_str().is_some())
        .ok_or_else(|| format!("{url:?} is not an ldap:// or ldaps:// server"))?;
    let mut keys = vec![
        ("type", TomlValue::Str("ldap".into())),
        ("url", TomlValue::Str(url.clone())),
    ];
    if parsed.scheme() == "ldap" {
        if crate::config::backend::is_loopback_host(&parsed) {
            keys.push(("starttls", TomlValue::Bool(false)));
        } else {
            notes.push(
                "automx2 searched this server without TLS (use_ssl off); mxconf upgrades \
                 ldap:// with StartTLS and verifies the certificate (or use ldaps://)"
                    .into(),
            );
        }
    }
    if let Some(dn) = row
        .bind_user
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        bind_keys(name, dn, "automx2's bind_password", &mut keys, &mut notes);
    }
    keys.push(("base", TomlValue::Str(row.search_base.trim().to_owned())));
    keys.push(("filter", TomlValue::Str(filter(&row.search_filter)?)));
    // ldap3's default search scope, which automx2 did not change.
    keys.push(("scope", TomlValue::Str("sub".into())));
    let mut attributes = vec![("login_name".to_owned(), row.attr_uid.trim().to_owned())];
    if let Some(cn) = row
        .attr_cn
        .as_deref()
        .map(str::trim)
        .filter(|cn| !cn.is_empty())
    {
        attributes.push(("display_name".into(), cn.to_owned()));
    }
    if attributes[0].1.is_empty() {
        return Err("attr_uid is empty".into());
    }
    notes.push(format!(
        "attr_uid {} replaced the login name on every server, as login_name does.",
        attributes[0].1
    ));
    keys.push(("attributes", TomlValue::Table(attributes)));
    Ok(BackendOut {
        name: name.to_owned(),
        table: TableOut {
            notes,
            keys,
            commented_out: false,
        },
    })
}

/// automx2's `search_filter.format(address)` as an mxconf filter: `{0}` is the address, `{{`
/// and `}}` are braces. mxconf escapes the address (RFC 4515), which automx2 did not.
fn filter(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text.trim();
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (piece, skip) = if tail.starts_with("{0}") {
            ("%EMAILADDRESS%", 3)
        } else if tail.starts_with("{{") {
            ("{", 2)
        } else if tail.starts_with("}}") {
            ("}", 2)
        } else {
            return Err(format!(
                "its search_filter {text} has a format field other than {{0}}"
            ));
        };
        out.push_str(piece);
        rest = &tail[skip..];
    }
    out.push_str(rest);
    if !Template::new(&out).has_placeholder() {
        return Err(format!(
            "its search_filter {text} does not depend on the address, so every user would get \
             the same entry"
        ));
    }
    Ok(out)
}

/// When every domain got the same settings (a seed links every server to every domain), they
/// go to `[defaults]` once and the domain tables keep only their notes.
fn shared_defaults(domains: &mut [(String, DomainOut)]) -> Option<DomainOut> {
    let (first, rest) = domains.split_first()?;
    if rest.is_empty() || !rest.iter().all(|(_, d)| d.same_settings(&first.1)) {
        return None;
    }
    let shared = DomainOut {
        notes: vec!["Every automx2 domain had these servers.".into()],
        ..first.1.clone()
    };
    for (_, domain) in domains.iter_mut() {
        *domain = DomainOut {
            notes: std::mem::take(&mut domain.notes),
            ..DomainOut::default()
        };
    }
    Some(shared)
}

#[cfg(test)]
mod tests {
    use super::super::import_seed;
    use super::*;
    use crate::account::AuthMethod;
    use crate::config::{Config, ConfigSource};

    fn load(text: &str) -> Config {
        Config::from_toml(text, ConfigSource::File("out.toml".into()))
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn filters_become_templates() {
        assert_eq!(filter("(mail={0})").unwrap(), "(mail=%EMAILADDRESS%)");
        assert_eq!(
            filter("(&(x={{a}})(uid={0}))").unwrap(),
            "(&(x={a})(uid=%EMAILADDRESS%))"
        );
        assert!(filter("(mail={1})").is_err());
        assert!(filter("(objectClass=*)").is_err());
    }

    #[test]
    fn seed_with_ldap_and_dav_translates_and_loads() {
        let seed = r#"{"version": 2, "provider": "Example Inc.",
            "domains": [{"name": "example.com"}, {"name": "example.org", "ldapserver_id": 42}],
            "ldapservers": [{"id": 42, "name": "ldap.example.com", "port": 636,
                "search_base": "ou=people,dc=example,dc=com", "bind_user": "cn=svc",
                "bind_password": "CLEARTEXT"}],
            "servers": [{"type": "imap", "name": "imap.example.com", "port": 143, "prio": 1},
                        {"type": "imap", "name": "imap.example.com"},
                        {"type": "smtp", "name": "smtp.example.com", "port": 587},
                        {"type": "caldav", "port": 8443,
                         "url": "https://dav.example.net/SOGo/dav/%EMAILADDRESS%/Calendar/"}]}"#;
        let imported = import_seed(seed, "seed.json").unwrap();
        let text = imported.to_toml();
        assert!(!text.contains("CLEARTEXT"), "{text}");
        assert!(text.contains("in prio order"), "{text}");
        assert!(
            imported
                .warnings
                .iter()
                .any(|w| w.contains("automx2-ldap-42.password")),
            "{:?}",
            imported.warnings
        );
        let config = load(&text);
        assert_eq!(config.provider.id, "example.com");
        assert_eq!(config.provider.short_name, "Example");
        let org = config
            .domain(&Domain::parse("example.org").unwrap())
            .unwrap();
        assert_eq!(org.incoming.len(), 2);
        assert_eq!(
            org.incoming[0].port, 993,
            "mxconf orders implicit TLS first"
        );
        assert_eq!(
            org.outgoing[0].authentication,
            vec![AuthMethod::PasswordCleartext]
        );
        assert_eq!(org.outgoing[0].username, ADDRESS);
        let table: toml::Table = toml::from_str(&text).unwrap();
        let ldap = &table["backends"]["automx2-ldap-42"];
        assert_eq!(ldap["url"].as_str(), Some("ldaps://ldap.example.com"));
        assert_eq!(ldap["filter"].as_str(), Some("(mail=%EMAILADDRESS%)"));
        assert_eq!(ldap["attributes"]["display_name"].as_str(), Some("cn"));
        let domains = &table["domains"];
        assert_eq!(
            domains["example.org"]["sources"].as_array().map(Vec::len),
            Some(1)
        );
        assert!(domains["example.com"].get("sources").is_none());
        assert!(
            table.get("defaults").is_none(),
            "with the LDAP source the domains differ: no shared [defaults]"
        );
        assert_eq!(
            domains["example.com"]["caldav"].as_str(),
            Some("https://dav.example.net:8443/SOGo/dav/%EMAILADDRESS%/Calendar/")
        );
    }

    #[test]
    fn rows_automx2_could_not_serve_are_named() {
        let tables = Tables {
            providers: vec![super::super::ProviderRow {
                id: 1,
                name: "P".into(),
                short_name: "P".into(),
            }],
            domains: vec![DomainRow {
                origin: "table domain, id 1".into(),
                id: 1,
                name: "eggs.example".into(),
                provider_id: 1,
                ldapserver_id: None,
            }],
            servers: vec![
                ServerRow {
                    origin: "table server, id 6".into(),
                    prio: 10,
                    name: "x.eggs.example".into(),
                    port: 123,
                    kind: "INVALID".into(),
                    socket_type: "STARTTLS".into(),
                    user_name: ADDRESS.into(),
                    authentication: "plain".into(),
                    domain_ids: vec![1],
                },
                ServerRow {
                    origin: "table server, id 7".into(),
                    prio: 10,
                    name: "imap.eggs.example".into(),
                    port: 993,
                    kind: "imap".into(),
                    socket_type: "Auto".into(),
                    user_name: "%EMAILLOCALPART%".into(),
                    authentication: "plain".into(),
                    domain_ids: vec![9],
                },
            ],
            ..Tables::default()
        };
        let imported = tables.translate(Source::Database, "db.sqlite").unwrap();
        let text = imported.to_toml();
        assert!(
            text.contains("400: table server, id 6 has type \"INVALID\""),
            "{text}"
        );
        assert!(
            text.contains("table server, id 7 (imap.eggs.example): no domain"),
            "{text}"
        );
        assert_eq!(imported.warnings.len(), 1);
        load(&text);
    }
}
