//! What automx served for one section: its backend (static, static_append, file, filter, or a
//! per-user lookup), then the sections it `follow`s, then each enabled service. The result is
//! a template ([`Evaluation`]) that [`Evaluation::instantiate`] fills in per domain.

use super::text::{list, macros, split_list};
use super::{AutomxConf, GLOBAL, LDAP_OPTIONS, MAX_FOLLOW, SCRIPT_OPTIONS, SERVICES, SQL_OPTIONS};
use crate::account::{
    AuthMethod, PerKind, Security, ServerKind, Services, Template, UrlService, Urls,
};
use crate::import::{BackendOut, DomainOut, ImportError, ServerOut, is_host_template};

impl AutomxConf<'_> {
    /// What automx computes for `section` (its backend, then `follow`), as a template: host
    /// names may still hold `%EMAILDOMAIN%`.
    pub(super) fn evaluate(&self, section: &str) -> Result<Evaluation, ImportError> {
        let mut eval = Evaluation::default();
        self.evaluate_into(section, &mut eval, 0)?;
        Ok(eval)
    }

    fn evaluate_into(
        &self,
        section: &str,
        eval: &mut Evaluation,
        depth: usize,
    ) -> Result<(), ImportError> {
        if depth > MAX_FOLLOW {
            return Err(self.invalid(
                section,
                "follow",
                "follow chain loops (automx recursed until it crashed)".into(),
            ));
        }
        let Some(backend) = self.get(section, "backend") else {
            // automx silently contributes nothing for such a section.
            eval.notes.push(format!(
                "[{section}] has no `backend =`: automx took nothing from it"
            ));
            return Ok(());
        };
        let backend = backend.to_ascii_lowercase();
        let (kind, append) = match backend.strip_suffix("_append") {
            Some(kind) => (kind, true),
            None => (backend.as_str(), false),
        };
        match kind {
            "global" if !append => return self.evaluate_into(GLOBAL, eval, depth + 1),
            "static" => {}
            "file" => {
                for protocol in ["autoconfig", "autodiscover", "mobileconfig"] {
                    if let Some(path) = self.get(section, protocol) {
                        eval.notes.push(format!(
                            "[{section}] {protocol} = {path}: automx served this file verbatim; \
                             mxconf renders every answer from the settings below"
                        ));
                    }
                }
            }
            "ldap" | "sql" | "script" => {
                eval.lookups.push(self.lookup(section, kind)?);
            }
            "filter" if !append => {
                // The filter backend ran commands to pick another section; automx 3.0
                // dropped it too. Evaluate what it could lead to, loudly.
                let targets = self
                    .get(section, "section_filter")
                    .map(list)
                    .unwrap_or_default();
                eval.notes.push(format!(
                    "[{section}] backend = filter: automx ran a command per request to choose the \
                     section ({}); mxconf has no filter backend. The settings of [{}] are used \
                     unconditionally: review them.",
                    targets
                        .iter()
                        .map(|t| format!("{t} = {}", self.get(section, t).unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join("; "),
                    targets.first().map_or("?", String::as_str),
                ));
                if let Some(target) = targets.first().filter(|t| self.has_section(t)) {
                    return self.evaluate_into(target, eval, depth + 1);
                }
                return Ok(());
            }
            _ => {
                return Err(self.invalid(
                    section,
                    "backend",
                    format!("unknown backend {backend:?} (automx answered 500)"),
                ));
            }
        }
        self.evaluate_static(section, append, eval)?;
        if let Some(target) = self.get(section, "follow") {
            let target = target.to_ascii_lowercase();
            if !self.has_section(&target) {
                return Err(self.invalid(section, "follow", format!("no section [{target}]")));
            }
            self.evaluate_into(&target, eval, depth + 1)?;
        }
        Ok(())
    }

    /// automx's static evaluation: every enabled service replaces (or, `_append`, extends) the
    /// list for its kind.
    fn evaluate_static(
        &self,
        section: &str,
        append: bool,
        eval: &mut Evaluation,
    ) -> Result<(), ImportError> {
        let has_lookup = !eval.lookups.is_empty();
        for option in ["action", "account_type"] {
            let expected = if option == "action" {
                "settings"
            } else {
                "email"
            };
            if let Some(value) = self.get(section, option).filter(|v| *v != expected) {
                eval.notes.push(format!(
                    "[{section}] {option} = {value}: mxconf always answers {option} {expected}"
                ));
            }
        }
        if let Some(value) = self.get(section, "display_name") {
            if has_lookup && value.contains("${") {
                eval.add_field("display_name".into(), value);
            } else {
                eval.notes.push(format!(
                    "[{section}] display_name = {value}: mxconf sends a display name only when a \
                     backend supplies one"
                ));
            }
        }
        if let Some(url) = self.get(section, "server_url") {
            // automx's MobileSync <Url>: mxconf's `activesync`.
            eval.urls[UrlService::ActiveSync] =
                self.url(section, "server_url", url, &mut eval.notes);
        }
        if let Some(value) = self.get(section, "server_name") {
            eval.notes.push(format!(
                "[{section}] server_name = {value}: mxconf names the ActiveSync server by its URL"
            ));
        }
        for service in SERVICES {
            if !self.enabled(section, service) {
                if self.get(section, service).is_none()
                    && let Some(server) = self.get(section, &format!("{service}_server"))
                {
                    // A server without `service = yes` is easily meant to be announced.
                    eval.notes.push(format!(
                        "[{section}] {service}_server = {server} without {service} = yes: automx \
                         did not announce it, and neither does this configuration"
                    ));
                }
                if append && self.get(section, service).is_some() {
                    eval.notes.push(format!(
                        "[{section}] {service} = no under static_append: automx added an empty \
                         server entry here; mxconf adds nothing"
                    ));
                }
                continue;
            }
            let option = |name: &str| self.get(section, &format!("{service}_{name}"));
            for name in [
                "expiration_date",
                "refresh_ttl",
                "domain_required",
                "domain_name",
            ] {
                if let Some(value) = option(name) {
                    eval.notes.push(format!(
                        "[{section}] {service}_{name} = {value}: an Outlook-only knob mxconf does not send"
                    ));
                }
            }
            match service {
                "caldav" | "carddav" => {
                    let key = format!("{service}_server");
                    let url = option("server")
                        .and_then(|url| self.url(section, &key, url, &mut eval.notes));
                    let service = if service == "caldav" {
                        UrlService::CalDav
                    } else {
                        UrlService::CardDav
                    };
                    eval.urls[service] = url;
                }
                "ox" => eval.notes.push(format!(
                    "[{section}] ox = yes: mxconf does not announce OX App Suite (X-OX-APPSUITE)"
                )),
                _ => {
                    let server = self.server(section, service, has_lookup, eval)?;
                    let kind = match service {
                        "imap" => ServerKind::Imap,
                        "pop" => ServerKind::Pop3,
                        _ => ServerKind::Smtp,
                    };
                    let list = &mut eval.servers[kind];
                    if !append {
                        list.clear();
                    }
                    list.extend(server);
                }
            }
        }
        for option in ["smtp_author", "smtp_default"] {
            if let Some(value) = self.get(section, option) {
                let why = if option == "smtp_author" {
                    "Outlook's AutoDiscoverSMTPAddress is always the address asked about"
                } else {
                    // docs/protocols.md, "One outgoing server per account".
                    "mxconf never asks clients to use one SMTP server for all accounts"
                };
                eval.notes
                    .push(format!("[{section}] {option} = {value}: {why}"));
            }
        }
        Ok(())
    }

    /// An http(s) URL setting with macros translated, or `None` with a note.
    fn url(
        &self,
        section: &str,
        option: &str,
        value: &str,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        let url = macros(value);
        if Template::new(&url).is_web_url() {
            Some(url)
        } else {
            notes.push(format!(
                "[{section}] {option} = {value}: not an http(s) URL, left out"
            ));
            None
        }
    }

    /// One imap/pop/smtp service of a section as an mxconf server (`None` when it cannot be
    /// represented, with a note saying why).
    fn server(
        &self,
        section: &str,
        service: &str,
        has_lookup: bool,
        eval: &mut Evaluation,
    ) -> Result<Option<ServerOut>, ImportError> {
        let key = |name: &str| format!("{service}_{name}");
        let option = |name: &str| self.get(section, &key(name));
        let mut notes = Vec::new();
        let Some(host) = option("server") else {
            eval.notes.push(format!(
                "[{section}] {service} = yes without {service}_server: left out"
            ));
            return Ok(None);
        };
        if host.contains("${") || host.contains("%s") || host.contains("%u") {
            eval.notes.push(format!(
                "[{section}] {service}_server = {host}: mxconf host names are fixed per domain; \
                 this server was left out"
            ));
            return Ok(None);
        }
        if !is_host_template(&macros(host)) {
            return Err(self.invalid(
                section,
                &key("server"),
                format!("{host:?} is not a host name"),
            ));
        }
        let port_text = option("port").unwrap_or_default();
        let port = match port_text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ if port_text.contains("${") => {
                eval.notes.push(format!(
                    "[{section}] {service}_port = {port_text}: a per-user port cannot carry over; \
                     this server was left out"
                ));
                return Ok(None);
            }
            _ => {
                return Err(self.invalid(
                    section,
                    &key("port"),
                    format!("{port_text:?} is not a port number"),
                ));
            }
        };
        let security = match option("encryption").map(str::to_ascii_lowercase).as_deref() {
            Some("ssl") => Security::Tls,
            Some("starttls") => Security::Starttls,
            Some("none") => {
                // Thunderbird for Android rejects a whole answer holding one plain IMAP/SMTP
                // entry (docs/protocols.md, "Implicit TLS first, plain only when configured");
                // kept because the admin asked for it, but flagged.
                notes.push(format!(
                    "automx {service}_encryption = none: kept as plain. Thunderbird for Android \
                     rejects an answer with a plain IMAP or SMTP server; prefer TLS"
                ));
                Security::Plain
            }
            Some("auto") => {
                notes.push(format!(
                    "automx {service}_encryption = auto (\"try STARTTLS, then SSL, then none\"; \
                     Mozilla clients got `plain`): mxconf announces STARTTLS"
                ));
                Security::Starttls
            }
            other => {
                let security = match port {
                    465 | 993 | 995 => Security::Tls,
                    _ => Security::Starttls,
                };
                notes.push(format!(
                    "automx {service}_encryption = {}: guessed {} from the port",
                    other.unwrap_or("(not set)"),
                    security.name()
                ));
                security
            }
        };
        let auth_text = option("auth").map(str::to_ascii_lowercase);
        let authentication = match auth_text.as_deref() {
            Some("plaintext" | "cleartext") => AuthMethod::PasswordCleartext,
            Some("encrypted") => AuthMethod::PasswordEncrypted,
            Some("ntlm") => AuthMethod::Ntlm,
            Some("gssapi") => AuthMethod::Gssapi,
            Some("tls-client-cert") => AuthMethod::ClientCert,
            Some("none") => AuthMethod::None,
            Some(other @ ("client-ip-address" | "smtp-after-pop")) => {
                notes.push(format!(
                    "automx {service}_auth = {other}: the client sends no credentials, written as \"none\""
                ));
                AuthMethod::None
            }
            other => {
                notes.push(format!(
                    "automx {service}_auth = {}: written as password-cleartext",
                    other.unwrap_or("(not set)")
                ));
                AuthMethod::PasswordCleartext
            }
        };
        let username = match option("auth_identity") {
            // automx's default login is the local part, not the address.
            None => {
                notes.push(format!(
                    "no {service}_auth_identity: automx's default login was the local part (%u)"
                ));
                Some("%EMAILLOCALPART%".to_owned())
            }
            Some("") => {
                notes.push(format!(
                    "automx {service}_auth_identity is empty (clients got no login name): \
                     mxconf's default %EMAILADDRESS% applies"
                ));
                None
            }
            Some(identity) if identity.contains("${") => {
                if has_lookup {
                    let kind = if service == "pop" { "pop3" } else { service };
                    eval.add_field(format!("{kind}_username"), identity);
                    notes.push(format!(
                        "automx {service}_auth_identity = {identity}: per user from the lookup"
                    ));
                } else {
                    // Without a lookup automx sent the text `${…}` itself, which no client
                    // can log in with.
                    notes.push(format!(
                        "automx {service}_auth_identity = {identity}, but [{section}] does no lookup \
                         (automx sent the literal text): mxconf's default %EMAILADDRESS% applies"
                    ));
                }
                None
            }
            Some(identity) => Some(macros(identity)),
        };
        Ok(Some(ServerOut {
            notes,
            host: macros(host),
            port,
            security,
            authentication: vec![authentication],
            username,
        }))
    }

    /// A per-user lookup of `section` (ldap, sql or script), as far as mxconf can carry it.
    fn lookup(&self, section: &str, kind: &str) -> Result<Lookup, ImportError> {
        let options = match kind {
            "ldap" => &LDAP_OPTIONS[..],
            "sql" => &SQL_OPTIONS[..],
            _ => &SCRIPT_OPTIONS[..],
        };
        let settings = options
            .iter()
            .filter_map(|option| Some((*option, self.get(section, option)?.to_owned())))
            .collect();
        if kind == "ldap" {
            // automx (python-ldap) failed on such a URL at the first request; mxconf's config
            // refuses it, so it is refused here, where the line is known.
            for host in split_list(self.get(section, "host").unwrap_or_default()) {
                let url = url::Url::parse(&host).ok();
                let usable = url.as_ref().is_some_and(|url| {
                    matches!(url.scheme(), "ldap" | "ldaps")
                        && url.host_str().is_some_and(|h| !h.is_empty())
                        && url.password().is_none()
                });
                if !usable {
                    return Err(self.invalid(
                        section,
                        "host",
                        "not an ldap:// or ldaps:// URL with a host name (and no password)".into(),
                    ));
                }
            }
        }
        Ok(Lookup {
            section: section.to_owned(),
            kind: kind.to_owned(),
            settings,
        })
    }
}

/// The outcome of evaluating a section: servers with host templates, plus what could not be
/// carried over.
#[derive(Debug, Default, Clone)]
pub(super) struct Evaluation {
    servers: PerKind<Vec<ServerOut>>,
    urls: Urls<String>,
    notes: Vec<String>,
    /// Per-user lookups (ldap/sql/script sections) in evaluation order.
    lookups: Vec<Lookup>,
    /// Account fields automx filled from lookup variables: (mxconf field, automx template).
    fields: Vec<(String, String)>,
}

/// One automx per-user lookup section.
#[derive(Debug, Clone)]
pub(super) struct Lookup {
    pub(super) section: String,
    pub(super) kind: String,
    pub(super) settings: Vec<(&'static str, String)>,
}

impl Evaluation {
    fn add_field(&mut self, field: String, template: &str) {
        if !self
            .fields
            .iter()
            .any(|(f, t)| *f == field && t == template)
        {
            self.fields.push((field, template.to_owned()));
        }
    }

    /// The evaluation for one domain (`%EMAILDOMAIN%` in host names filled in), or for
    /// `[defaults]` (`None`: such servers cannot be shared and are left out).
    pub(super) fn instantiate(&self, domain: Option<&str>) -> (DomainOut, Vec<BackendOut>) {
        let mut notes = self.notes.clone();
        let mut servers = |list: &[ServerOut]| -> Option<Vec<ServerOut>> {
            let servers: Vec<ServerOut> = list
                .iter()
                .filter_map(|server| {
                    if !server.host.contains("%EMAILDOMAIN%") {
                        return Some(server.clone());
                    }
                    let Some(domain) = domain else {
                        notes.push(format!(
                            "{}:{} depends on the domain: it is written into each domain's table instead",
                            server.host, server.port
                        ));
                        return None;
                    };
                    let mut server = server.clone();
                    server.notes.push(format!("automx host {} with %d filled in", server.host));
                    server.host = server.host.replace("%EMAILDOMAIN%", domain);
                    Some(server)
                })
                .collect();
            (!list.is_empty()).then_some(servers)
        };
        let servers = self.servers.map(|_, list| servers(list));
        let mut backends = Vec::new();
        let mut sources = Vec::new();
        for lookup in &self.lookups {
            match lookup.to_backend(&self.fields) {
                Ok((backend, enabled)) => {
                    notes.push(format!(
                        "automx looked users up in [{}] (backend = {}): see [backends.{}].",
                        lookup.section, lookup.kind, backend.name
                    ));
                    if enabled {
                        sources.push(backend.name.clone());
                    } else {
                        notes.push(format!(
                            "Enable it with  sources = [\"{}\"]  once it fits (see its comments).",
                            backend.name
                        ));
                    }
                    backends.push(backend);
                }
                Err(why) => notes.push(format!(
                    "automx looked users up in [{}] (backend = {}), which cannot carry over: {why}. \
                     Every user gets the static settings below.",
                    lookup.section, lookup.kind
                )),
            }
        }
        let out = DomainOut {
            notes,
            servers,
            services: Services {
                urls: self.urls.clone(),
                oauth2: None,
            },
            sources: (!sources.is_empty()).then_some(sources),
        };
        (out, backends)
    }
}
