//! `mxconf import automx`: automx 1.x's `automx.conf` (Python `RawConfigParser` INI) → an
//! mxconf configuration, following automx's code where its man page differs (the mapping
//! table in docs/migration.md, "From automx (`mxconf import automx`)"). Lookup sections become
//! `[backends.NAME]` sources; anything without an mxconf equivalent becomes a `#` comment where
//! it would have applied.

use std::collections::HashSet;

use configparser::ini::Ini;

use super::{
    BackendOut, DomainOut, ImportError, Imported, ServerOut, TomlValue, fit, is_host_template,
};
use crate::account::{
    AuthMethod, Domain, PerKind, Security, ServerKind, Services, Template, UrlService, Urls,
};

/// Sections with a fixed meaning in automx.
const AUTOMX: &str = "automx";
const DEFAULT: &str = "default";
const GLOBAL: &str = "global";

/// Follow chains deeper than this are a loop (automx itself recursed until Python gave up).
const MAX_FOLLOW: usize = 16;

/// Options automx reads from `[automx]`, and why mxconf does not need them.
const AUTOMX_OPTIONS: [(&str, &str); 10] = [
    ("provider", ""),
    ("domains", ""),
    ("debug", "mxconf logs to stderr; set RUST_LOG=debug"),
    (
        "logfile",
        "mxconf logs to stderr; redirect it or use the journal",
    ),
    (
        "homedir",
        "mxconf signs in-process, without an openssl child",
    ),
    (
        "openssl",
        "mxconf signs in-process, without an openssl child",
    ),
    ("memcache", "rate limiting belongs at the reverse proxy"),
    ("memcache_ttl", "rate limiting belongs at the reverse proxy"),
    (
        "client_error_limit",
        "rate limiting belongs at the reverse proxy",
    ),
    (
        "rate_limit_exception_networks",
        "rate limiting belongs at the reverse proxy",
    ),
];

/// Section options automx reads outside the per-service ones.
const SECTION_OPTIONS: [&str; 17] = [
    "backend",
    "action",
    "account_type",
    "account_name",
    "account_name_short",
    "display_name",
    "server_url",
    "server_name",
    "follow",
    "sign_mobileconfig",
    "sign_cert",
    "sign_key",
    "sign_more_certs",
    "autoconfig",
    "autodiscover",
    "mobileconfig",
    "section_filter",
];

/// Options of the ldap, sql and script backends (automx_ldap(5), automx_sql(5), automx_script(5)).
const LDAP_OPTIONS: [&str; 16] = [
    "host",
    "base",
    "bindmethod",
    "binddn",
    "bindpw",
    "saslmech",
    "authzid",
    "filter",
    "result_attrs",
    "scope",
    "usetls",
    "cipher",
    "reqcert",
    "cert",
    "key",
    "cacert",
];
const SQL_OPTIONS: [&str; 3] = ["host", "query", "result_attrs"];
const SCRIPT_OPTIONS: [&str; 3] = ["script", "result_attrs", "separator"];

const SERVICES: [&str; 6] = ["smtp", "imap", "pop", "caldav", "carddav", "ox"];
const SERVICE_OPTIONS: [&str; 9] = [
    "server",
    "port",
    "encryption",
    "auth",
    "auth_identity",
    "expiration_date",
    "refresh_ttl",
    "domain_required",
    "domain_name",
];

/// Parses automx.conf `text` read from `file` (the name is only used in messages).
///
/// automx's semantics kept: `[DEFAULT]` is merged into every section, a served domain without
/// its own section uses `[global]`, a missing `_auth_identity` means `%u`, `follow` chains
/// sections, `static_append` adds servers.
pub fn import(text: &str, file: &str) -> Result<Imported, ImportError> {
    super::check_size(text, file)?;
    let conf = AutomxConf::parse(text, file)?;
    conf.translate()
}

/// The parsed INI plus where each section and option was written, for messages.
struct AutomxConf<'t> {
    ini: Ini,
    file: &'t str,
    /// `(section, option or "", line)`, in file order.
    lines: Vec<(String, String, usize)>,
}

impl<'t> AutomxConf<'t> {
    fn parse(text: &str, file: &'t str) -> Result<Self, ImportError> {
        // RawConfigParser: keys case-insensitive, `=` or `:`, indented continuation lines, and
        // (Python 3) no inline comments, so `#` and `;` inside values are kept.
        let mut defaults = Ini::new().defaults();
        defaults.enable_inline_comments = false;
        defaults.multiline = true;
        let mut ini = Ini::new_from_defaults(defaults);
        ini.read(text.to_owned())
            .map_err(|message| ImportError::Syntax {
                file: file.to_owned(),
                line: message
                    .strip_prefix("line ")
                    .and_then(|rest| rest.split([':', ' ']).next())
                    .and_then(|n| n.parse().ok()),
                message,
            })?;
        Ok(AutomxConf {
            ini,
            file,
            lines: line_index(text),
        })
    }

    fn line(&self, section: &str, option: &str) -> Option<usize> {
        self.lines
            .iter()
            .rev()
            .find(|(s, o, _)| s == section && o == option)
            .map(|(_, _, line)| *line)
    }

    fn invalid(&self, section: &str, option: &str, message: String) -> ImportError {
        ImportError::Invalid {
            file: self.file.to_owned(),
            line: self
                .line(section, option)
                .or_else(|| self.line(DEFAULT, option)),
            message: format!("[{section}] {option}: {message}"),
        }
    }

    fn has_section(&self, section: &str) -> bool {
        self.ini.get_map_ref().contains_key(section)
    }

    /// A section's own options (without `[DEFAULT]`), in file order.
    fn own(&self, section: &str) -> Vec<(&str, &str)> {
        self.ini
            .get_map_ref()
            .get(section)
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.as_str(), value.as_deref()?)))
            .collect()
    }

    /// An option as automx sees it: the section's own value, else `[DEFAULT]`'s.
    fn get(&self, section: &str, option: &str) -> Option<&str> {
        let map = self.ini.get_map_ref();
        [section, DEFAULT]
            .into_iter()
            .find_map(|s| map.get(s)?.get(option)?.as_deref())
            .map(str::trim)
    }

    fn enabled(&self, section: &str, option: &str) -> bool {
        self.get(section, option).is_some_and(is_true)
    }

    fn translate(&self) -> Result<Imported, ImportError> {
        if !self.has_section(AUTOMX) {
            return Err(ImportError::Invalid {
                file: self.file.to_owned(),
                line: None,
                message: "no [automx] section (automx refuses to run without one)".into(),
            });
        }
        let provider_text = self.get(AUTOMX, "provider").ok_or_else(|| {
            self.invalid(AUTOMX, "provider", "missing (automx requires it)".into())
        })?;
        let provider_id = Domain::parse(provider_text)
            .map_err(|_| {
                self.invalid(
                    AUTOMX,
                    "provider",
                    format!("{provider_text:?} is not a domain name"),
                )
            })?
            .to_string();
        let domains_text = self.get(AUTOMX, "domains").ok_or_else(|| {
            self.invalid(AUTOMX, "domains", "missing (automx requires it)".into())
        })?;

        let mut header = vec![
            format!(
                "Imported from the automx configuration {} by `mxconf import automx`.",
                self.file
            ),
            "Check it with `mxconf check-config --config FILE` and read every comment below:"
                .into(),
            "each marks a setting that did not carry over as it was.".into(),
        ];
        let mut unhandled = self.automx_section_notes();
        unhandled.extend(self.unknown_option_notes());

        let items = list(domains_text);
        let wildcard = items.first().is_some_and(|first| first == "*");
        let mut provider_notes = Vec::new();
        let mut domain_names = Vec::new();
        if wildcard {
            header.push(String::new());
            header.extend([
                "automx had `domains = *`: it answered for ANY domain, using a domain's own section"
                    .to_owned(),
                "or else [global]. mxconf answers only for domains it lists, so [global] became"
                    .into(),
                "[defaults] below: add an empty table per domain you serve to give it those settings,"
                    .into(),
                "e.g.  [domains.\"example.org\"]".into(),
            ]);
            domain_names.extend(self.domain_sections(&mut unhandled));
        } else {
            for item in &items {
                if !super::add_domain(&mut domain_names, item) {
                    unhandled.push(format!("[automx] domains: {item:?} is not a domain name"));
                }
            }
            if domains_text.contains(',') && domains_text.split_whitespace().count() < items.len() {
                unhandled.push(
                    "[automx] domains: a comma without a space after it made automx read two names as one; \
                     both are served here"
                        .into(),
                );
            }
        }

        let uses_global = wildcard
            || domain_names
                .iter()
                .any(|d| !self.has_section(d) || self.get(d, "backend") == Some(GLOBAL));
        let mut backends: Vec<BackendOut> = Vec::new();
        let mut collect = |found: Vec<BackendOut>| {
            for backend in found {
                if !backends.iter().any(|b| b.name == backend.name) {
                    backends.push(backend);
                }
            }
        };
        let defaults = if uses_global && self.has_section(GLOBAL) {
            let eval = self.evaluate(GLOBAL)?;
            let (out, found) = eval.instantiate(None);
            collect(found);
            Some((out, eval))
        } else {
            if uses_global {
                unhandled.push(
                    "automx needed a [global] section for some domain but there is none (it answered 500)"
                        .into(),
                );
            }
            None
        };

        let name_source = if self.has_section(GLOBAL) {
            GLOBAL
        } else {
            DEFAULT
        };
        let (display_name, short_name) =
            self.provider_names(name_source, &provider_id, &mut provider_notes);

        let mut domains = Vec::new();
        for name in &domain_names {
            let section = if self.has_section(name) {
                name.as_str()
            } else {
                GLOBAL
            };
            if section == GLOBAL && !self.has_section(GLOBAL) {
                // automx answered 500 for such a domain; mxconf serves it with no servers
                // until the admin fills the table in.
                let mut out = DomainOut::default();
                out.notes.push(format!(
                    "automx had no section for {name} and no [global]: it answered 500. Fill this in."
                ));
                domains.push((name.clone(), out));
                continue;
            }
            let from_global = section == GLOBAL || self.get(section, "backend") == Some(GLOBAL);
            let (mut out, found) = match (&defaults, from_global) {
                (Some((_, global)), true) => global.instantiate(Some(name)),
                _ => self.evaluate(section)?.instantiate(Some(name)),
            };
            collect(found);
            if from_global {
                // [global]'s own notes are already above [defaults].
                out.notes = vec![format!("automx served {name} from [global].")];
            } else {
                out.notes
                    .insert(0, format!("From automx section [{section}]."));
            }
            if let Some((default_out, _)) = &defaults {
                if default_out.same_settings(&out) {
                    out = DomainOut {
                        notes: out.notes,
                        ..DomainOut::default()
                    };
                    out.notes.push("Same settings as [defaults].".into());
                } else {
                    // automx did not fall back to [global] for a domain with its own
                    // section; an empty list keeps mxconf's [defaults] from filling in.
                    for (kind, theirs) in default_out.servers.iter() {
                        let mine = &mut out.servers[kind];
                        if mine.is_none() && theirs.is_some() {
                            *mine = Some(Vec::new());
                        }
                    }
                    if out.sources.is_none() && default_out.sources.is_some() {
                        out.sources = Some(Vec::new());
                    }
                }
            }
            out.notes.retain(|note| !note.is_empty());
            domains.push((name.clone(), out));
        }

        if !unhandled.is_empty() {
            header.push(String::new());
            header.push("Not carried over:".into());
            header.extend(unhandled.into_iter().map(|note| format!("- {note}")));
        }
        let defaults = defaults.map(|(mut out, _)| {
            out.notes.insert(
                0,
                "From automx section [global] (with [DEFAULT] merged in).".into(),
            );
            out
        });
        Ok(Imported {
            header,
            provider_id,
            display_name,
            short_name,
            provider_notes,
            backends,
            defaults,
            domains,
        })
    }

    /// `[automx]` options mxconf handles differently, each with the reason.
    fn automx_section_notes(&self) -> Vec<String> {
        self.own(AUTOMX)
            .into_iter()
            .filter_map(
                |(key, value)| match AUTOMX_OPTIONS.iter().find(|(name, _)| *name == key) {
                    Some((_, "")) => None,
                    Some((_, why)) => Some(format!("[automx] {key} = {value}: {why}")),
                    None => Some(format!("[automx] {key} = {value}: not an automx option")),
                },
            )
            .collect()
    }

    /// Options automx would not read at all (typos, options of other tools).
    fn unknown_option_notes(&self) -> Vec<String> {
        let filter_commands: HashSet<String> = self
            .ini
            .get_map_ref()
            .keys()
            .flat_map(|section| {
                self.get(section, "section_filter")
                    .map(list)
                    .unwrap_or_default()
            })
            .collect();
        let mut notes = Vec::new();
        for section in self.ini.get_map_ref().keys() {
            if section == AUTOMX {
                continue;
            }
            for (key, _) in self.own(section) {
                if !known_option(key) && !filter_commands.contains(key) {
                    notes.push(format!("[{section}] {key}: not an automx option, ignored"));
                }
            }
        }
        notes
    }

    /// With `domains = *`: the sections named like a domain that automx would pick for it.
    /// Sections only reached through `follow` or a filter are not domains of their own.
    fn domain_sections(&self, notes: &mut Vec<String>) -> Vec<String> {
        let mut reached: HashSet<String> = HashSet::new();
        for section in self.ini.get_map_ref().keys() {
            if let Some(target) = self.get(section, "follow") {
                reached.insert(target.to_ascii_lowercase());
            }
            if let Some(filters) = self.get(section, "section_filter") {
                reached.extend(list(filters));
            }
        }
        let mut names = Vec::new();
        for section in self.ini.get_map_ref().keys() {
            if [AUTOMX, DEFAULT, GLOBAL].contains(&section.as_str()) || reached.contains(section) {
                continue;
            }
            match Domain::parse(section) {
                Ok(domain) => names.push(domain.to_string()),
                Err(_) => notes.push(format!(
                    "[{section}]: not a domain name and not reached by follow/section_filter, so never used"
                )),
            }
        }
        names
    }

    /// `account_name` / `account_name_short` → the provider's names. mxconf has one provider
    /// name for all domains, and no per-user part, so `${…}` variables are cut out.
    fn provider_names(
        &self,
        section: &str,
        provider_id: &str,
        notes: &mut Vec<String>,
    ) -> (String, String) {
        let mut pick = |option: &str| {
            let raw = self.get(section, option)?;
            let stripped = strip_variables(raw);
            if stripped != raw {
                notes.push(format!(
                    "automx {option} = {raw}: mxconf's provider names are the same for every user, \
                     so the ${{…}} part was dropped"
                ));
            }
            (!stripped.is_empty()).then_some(stripped)
        };
        let display = pick("account_name").unwrap_or_else(|| provider_id.to_owned());
        let short = pick("account_name_short").unwrap_or_else(|| display.clone());
        (
            fit(&display, 60, "display-name", notes),
            fit(&short, 20, "short-name", notes),
        )
    }

    /// What automx computes for `section` (its backend, then `follow`), as a template: host
    /// names may still hold `%EMAILDOMAIN%`.
    fn evaluate(&self, section: &str) -> Result<Evaluation, ImportError> {
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
                eval.lookups.push(self.lookup(section, kind));
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
        for option in [
            "server_name",
            "sign_mobileconfig",
            "sign_cert",
            "sign_key",
            "sign_more_certs",
        ] {
            if let Some(value) = self.get(section, option) {
                let why = if option.starts_with("sign") {
                    "profile signing is configured once, in [signing]"
                } else {
                    "mxconf names the ActiveSync server by its URL"
                };
                eval.notes
                    .push(format!("[{section}] {option} = {value}: {why}"));
            }
        }
        for service in SERVICES {
            if !self.enabled(section, service) {
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
    fn lookup(&self, section: &str, kind: &str) -> Lookup {
        let options = match kind {
            "ldap" => &LDAP_OPTIONS[..],
            "sql" => &SQL_OPTIONS[..],
            _ => &SCRIPT_OPTIONS[..],
        };
        let settings = options
            .iter()
            .filter_map(|option| Some((*option, self.get(section, option)?.to_owned())))
            .collect();
        Lookup {
            section: section.to_owned(),
            kind: kind.to_owned(),
            settings,
        }
    }
}

/// The outcome of evaluating a section: servers with host templates, plus what could not be
/// carried over.
#[derive(Debug, Default, Clone)]
struct Evaluation {
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
struct Lookup {
    section: String,
    kind: String,
    settings: Vec<(&'static str, String)>,
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
    fn instantiate(&self, domain: Option<&str>) -> (DomainOut, Vec<BackendOut>) {
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
            },
            sources: (!sources.is_empty()).then_some(sources),
        };
        (out, backends)
    }
}

impl Lookup {
    fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `[backends.NAME]` for this lookup, and whether it can be switched on as it is. `Err`
    /// says why nothing usable can be written.
    fn to_backend(&self, fields: &[(String, String)]) -> Result<(BackendOut, bool), String> {
        let section: String = self
            .section
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let kind = match self.kind.as_str() {
            "script" => "command",
            other => other,
        };
        let name = format!("{section}-{kind}");
        let mut notes = vec![format!(
            "From automx section [{}] (backend = {}).",
            self.section, self.kind
        )];
        let (mapping, unmapped) = field_mapping(fields);
        notes.extend(unmapped);
        let mut keys = vec![("type", TomlValue::Str(kind.into()))];
        let enabled = match kind {
            "ldap" => {
                self.ldap(&name, &mapping, &mut keys, &mut notes)?;
                true
            }
            "sql" => {
                self.sql(&name, &mapping, &mut keys, &mut notes)?;
                true
            }
            _ => {
                // Not switched on: the script's output format must change first.
                self.script(&mapping, &mut keys, &mut notes)?;
                false
            }
        };
        Ok((BackendOut { name, notes, keys }, enabled))
    }

    /// The first of automx's `host` list (`default` without one); mxconf takes one `what`, so
    /// any fallbacks are named in `notes` as dropped.
    fn first_host(&self, default: &str, what: &str, notes: &mut Vec<String>) -> String {
        let hosts = split_list(self.setting("host").unwrap_or(default));
        if hosts.len() > 1 {
            notes.push(format!(
                "automx host = {}: mxconf takes one {what}; the fallbacks were dropped",
                hosts.join(", ")
            ));
        }
        hosts.first().cloned().unwrap_or_default()
    }

    fn ldap(
        &self,
        name: &str,
        mapping: &[(String, String)],
        keys: &mut Vec<(&'static str, TomlValue)>,
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        let url = self.first_host("ldap://127.0.0.1/", "URL", notes);
        keys.push(("url", TomlValue::Str(url.clone())));
        if url.starts_with("ldap://") && !self.setting("usetls").is_some_and(is_true) {
            let loopback =
                url::Url::parse(&url).is_ok_and(|u| crate::config::backend::is_loopback_host(&u));
            if loopback {
                // The one case mxconf allows plain LDAP: nothing crosses a network.
                keys.push(("starttls", TomlValue::Bool(false)));
            } else {
                notes.push(
                    "automx usetls = no: mxconf uses StartTLS on ldap:// to anything but \
                     loopback (or use ldaps://)"
                        .into(),
                );
            }
        }
        let bindmethod = self
            .setting("bindmethod")
            .unwrap_or("simple")
            .to_ascii_lowercase();
        match (bindmethod.as_str(), self.setting("binddn")) {
            ("simple", Some(dn)) => {
                keys.push(("bind-dn", TomlValue::Str(dn.to_owned())));
                let file = format!("/etc/mxconf/{name}.password");
                notes.push(format!(
                    "Put automx's bindpw into {file} (one line, mode 0600): passwords never go \
                     into mxconf.toml."
                ));
                keys.push(("password-file", TomlValue::Str(file)));
            }
            ("simple", None) => {}
            (method, _) => notes.push(format!(
                "automx bindmethod = {method} (saslmech = {}): mxconf binds with a DN and \
                 password only; this writes an anonymous bind",
                self.setting("saslmech").unwrap_or("none")
            )),
        }
        let base = self.setting("base").unwrap_or_default();
        keys.push(("base", TomlValue::Str(base.to_owned())));
        let filter = macros(self.setting("filter").unwrap_or("(objectClass=*)"));
        if !Template::new(&filter).has_placeholder() {
            return Err(format!(
                "its filter {filter} does not depend on the address, so every user would get \
                 the same entry"
            ));
        }
        keys.push(("filter", TomlValue::Str(filter)));
        let scope = match self
            .setting("scope")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("one" | "onelevel") => "one",
            Some("base" | "exact") => "base",
            _ => "sub",
        };
        keys.push(("scope", TomlValue::Str(scope.into())));
        for (option, why) in [
            ("reqcert", "mxconf always verifies the server certificate"),
            (
                "cacert",
                "mxconf verifies against the system trust store: add this CA there",
            ),
            ("cert", "mxconf does not present a client certificate"),
            ("key", "mxconf does not present a client certificate"),
            ("cipher", "TLS parameters come from the system TLS library"),
        ] {
            if let Some(value) = self.setting(option) {
                notes.push(format!("automx {option} = {value}: {why}"));
            }
        }
        if mapping.is_empty() {
            return Err("no setting took a single ${attribute} from it".into());
        }
        keys.push(("attributes", TomlValue::Table(mapping.to_vec())));
        Ok(())
    }

    fn sql(
        &self,
        name: &str,
        mapping: &[(String, String)],
        keys: &mut Vec<(&'static str, TomlValue)>,
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        let host = self.first_host("", "database", notes);
        if let Some(path) = host.strip_prefix("sqlite:///") {
            let absolute = if path.starts_with('/') {
                path.to_owned()
            } else {
                // SQLAlchemy reads three slashes as a path relative to automx's working
                // directory, which was / under mod_wsgi and uWSGI by default.
                notes.push(format!(
                    "automx host = {host}: SQLAlchemy reads this relative to automx's working \
                     directory; written as /{path}"
                ));
                format!("/{path}")
            };
            keys.push(("path", TomlValue::Str(absolute)));
        } else if let Some((scheme, rest)) = host.split_once("://")
            && matches!(scheme.split('+').next(), Some("postgres" | "postgresql"))
        {
            let mut url = url::Url::parse(&format!("postgres://{rest}"))
                .map_err(|_| format!("{host} is not a URL"))?;
            if url.password().is_some() {
                let _ = url.set_password(None);
                let file = format!("/etc/mxconf/{name}.password");
                notes.push(format!(
                    "The password in automx's URL goes into {file} (one line, mode 0600)."
                ));
                keys.push(("url", TomlValue::Str(url.to_string())));
                keys.push(("password-file", TomlValue::Str(file)));
            } else {
                keys.push(("url", TomlValue::Str(url.to_string())));
            }
        } else {
            return Err(format!(
                "host = {}: mxconf speaks SQLite and PostgreSQL only",
                host.split("://").next().unwrap_or_default()
            ));
        }
        let query = self.setting("query").unwrap_or_default();
        if mapping.is_empty() {
            return Err("no setting took a single ${column} from it".into());
        }
        notes.push(format!(
            "automx query: {query}\nautomx pasted the address into that text; mxconf binds it \
             ($1 address, $2 local part, $3 domain) and names columns after fields."
        ));
        let select: Vec<String> = mapping
            .iter()
            .map(|(field, column)| format!("{column} AS {field}"))
            .collect();
        keys.push((
            "query",
            TomlValue::Str(format!(
                "SELECT {} FROM ({}) AS automx",
                select.join(", "),
                bind_parameters(query)
            )),
        ));
        Ok(())
    }

    fn script(
        &self,
        mapping: &[(String, String)],
        keys: &mut Vec<(&'static str, TomlValue)>,
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        let script = self.setting("script").unwrap_or_default();
        let argv: Vec<String> = shell_words(script).iter().map(|w| macros(w)).collect();
        if !argv.first().is_some_and(|p| p.starts_with('/')) {
            return Err(format!(
                "script = {script}: mxconf runs a program by its absolute path"
            ));
        }
        keys.push(("command", TomlValue::Strings(argv)));
        let attrs = split_list(self.setting("result_attrs").unwrap_or_default());
        let example: Vec<String> = mapping
            .iter()
            .map(|(field, attr)| format!("\"{field}\": <{attr}>"))
            .collect();
        notes.push(format!(
            "automx read whitespace-separated values ({}) from this script's stdout; mxconf \
             reads one JSON object of fields, e.g. {{{}}}. Adapt the script, then list this \
             backend in `sources`.",
            attrs.join(", "),
            example.join(", ")
        ));
        Ok(())
    }
}

/// automx `${var}` templates → mxconf field → attribute/column pairs. A login taken from the
/// same variable for every service becomes `login_name`. Templates that are more than one
/// variable cannot be a field; they come back as notes.
fn field_mapping(fields: &[(String, String)]) -> (Vec<(String, String)>, Vec<String>) {
    let usernames: Vec<&String> = fields
        .iter()
        .filter(|(f, _)| f.ends_with("_username"))
        .map(|(_, t)| t)
        .collect();
    let one_login = usernames
        .first()
        .filter(|first| usernames.iter().all(|t| t == *first));
    let mut mapping: Vec<(String, String)> = Vec::new();
    let mut notes = Vec::new();
    for (field, template) in fields {
        let field = if field.ends_with("_username") && one_login.is_some() {
            "login_name".to_owned()
        } else {
            field.clone()
        };
        let variable = template
            .trim()
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .filter(|name| !name.is_empty() && !name.contains(['$', '}', ':', ' ']));
        match variable {
            Some(variable) => {
                if !mapping.iter().any(|(f, _)| *f == field) {
                    mapping.push((field, variable.to_owned()));
                }
            }
            None => notes.push(format!(
                "automx {field} <- {template}: only a single ${{name}} maps to a field; \
                 return it ready-made from the directory or database"
            )),
        }
    }
    (mapping, notes)
}

/// automx's `'%s'`-style interpolation → bound parameters `$1` (address), `$2` (local part),
/// `$3` (domain); the quotes around a macro go, since a parameter is a value already.
fn bind_parameters(query: &str) -> String {
    let mut query = query.trim().trim_end_matches(';').trim().to_owned();
    for (macro_, parameter) in [("%s", "$1"), ("%u", "$2"), ("%d", "$3")] {
        for quote in ["'", "\""] {
            query = query.replace(&format!("{quote}{macro_}{quote}"), parameter);
        }
        query = query.replace(macro_, parameter);
    }
    query
}

/// Python `shlex.split` for the cases automx configs use: whitespace-separated words, single
/// quotes literal, double quotes with backslash escapes, backslash escapes outside quotes.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (Some(q), c) if c == q => quote = None,
            (None | Some('"'), '\\') => {
                let next = chars.next().unwrap_or('\\');
                word.get_or_insert_with(String::new).push(next);
            }
            (_, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// automx's macros → mxconf placeholders. `%%` is documented but automx never implemented it,
/// so it is left as it is.
fn macros(text: &str) -> String {
    // One pass, so a placeholder's own `%` never pairs with the next character.
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let placeholder = match (c, chars.peek()) {
            ('%', Some('s')) => "%EMAILADDRESS%",
            ('%', Some('u')) => "%EMAILLOCALPART%",
            ('%', Some('d')) => "%EMAILDOMAIN%",
            _ => {
                out.push(c);
                continue;
            }
        };
        chars.next();
        out.push_str(placeholder);
    }
    out
}

/// Removes `${…}` variables and the separators they leave behind (`Foobar - ${cn}` → `Foobar`).
fn strip_variables(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .find('}')
            .map_or("", |end| &rest[start + end + 1..]);
    }
    out.push_str(rest);
    out.trim()
        .trim_end_matches(|c: char| c.is_whitespace() || "-:,|/".contains(c))
        .trim()
        .to_owned()
}

/// automx's list syntax: names separated by whitespace and/or commas, lower-cased.
fn list(text: &str) -> Vec<String> {
    split_list(text)
        .iter()
        .map(|item| item.to_ascii_lowercase())
        .collect()
}

/// A list as written (case kept: URLs and attribute names).
fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// automx's `is_true`: `1 y yes t true on`, case-insensitive.
fn is_true(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "y" | "yes" | "t" | "true" | "on"
    )
}

fn known_option(key: &str) -> bool {
    if SECTION_OPTIONS.contains(&key)
        || LDAP_OPTIONS.contains(&key)
        || SQL_OPTIONS.contains(&key)
        || SCRIPT_OPTIONS.contains(&key)
        || SERVICES.contains(&key)
        || matches!(key, "smtp_author" | "smtp_default")
    {
        return true;
    }
    key.split_once('_').is_some_and(|(service, option)| {
        SERVICES.contains(&service) && SERVICE_OPTIONS.contains(&option)
    })
}

/// Where each section header and option is, as configparser reads them (lower-cased names,
/// `=`/`:` delimiters, `#`/`;` comment lines, indented continuation lines).
fn line_index(text: &str) -> Vec<(String, String, usize)> {
    let mut index = Vec::new();
    let mut section = DEFAULT.to_owned();
    for (number, raw) in (1..).zip(text.lines()) {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) || raw.starts_with([' ', '\t']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            section = name.trim().to_lowercase();
            index.push((section.clone(), String::new(), number));
        } else if let Some(end) = line.find(['=', ':']) {
            index.push((section.clone(), line[..end].trim().to_lowercase(), number));
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSource};

    fn load(text: &str) -> Config {
        Config::from_toml(text, ConfigSource::File("out.toml".into()))
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn domain<'c>(config: &'c Config, name: &str) -> &'c crate::config::DomainSettings {
        config.domain(&Domain::parse(name).unwrap()).unwrap()
    }

    #[test]
    fn default_merges_and_missing_identity_is_the_local_part() {
        let conf = "[automx]\nprovider = example.org\ndomains = example.org, other.example\n\
            [DEFAULT]\naccount_name = Example Org\nimap = yes\nimap_server = imap.%d\n\
            imap_port = 993\nimap_encryption = ssl\nimap_auth = plaintext\n\
            [global]\nbackend = static\n\
            [other.example]\nbackend = static\nimap = no\nsmtp = yes\nsmtp_server = smtp.example.org\n\
            smtp_port = 465\nsmtp_encryption = SSL\nsmtp_auth = encrypted\nsmtp_auth_identity = %s\n";
        let text = import(conf, "automx.conf").unwrap().to_toml();
        let config = load(&text);
        assert_eq!(config.provider.display_name, "Example Org");
        let org = domain(&config, "example.org");
        assert_eq!(org.incoming[0].host, "imap.example.org");
        assert_eq!(org.incoming[0].username, "%EMAILLOCALPART%");
        assert_eq!(org.incoming[0].security, Security::Tls);
        let other = domain(&config, "other.example");
        // Its own section: [global]'s IMAP must not leak in through [defaults].
        assert!(other.incoming.is_empty(), "{text}");
        assert_eq!(other.outgoing[0].username, "%EMAILADDRESS%");
        assert_eq!(
            other.outgoing[0].authentication,
            vec![AuthMethod::PasswordEncrypted]
        );
    }

    #[test]
    fn static_append_and_follow_add_servers() {
        let conf = "[automx]\nprovider = example.org\ndomains = example.org\n\
            [example.org]\nbackend = static\nfollow = more\nimap = yes\nimap_server = a.example.org\n\
            imap_port = 143\nimap_encryption = starttls\nimap_auth = plaintext\n\
            [more]\nbackend = static_append\nimap = yes\nimap_server = b.example.org\nimap_port = 993\n\
            imap_encryption = ssl\nimap_auth = plaintext\n";
        let config = load(&import(conf, "automx.conf").unwrap().to_toml());
        let hosts: Vec<_> = domain(&config, "example.org")
            .incoming
            .iter()
            .map(|s| s.host.as_str())
            .collect();
        assert_eq!(hosts, ["b.example.org", "a.example.org"]);
    }

    #[test]
    fn errors_name_file_line_and_option() {
        let conf = "[automx]\nprovider = example.org\ndomains = example.org\n[example.org]\n\
            backend = static\nimap = yes\nimap_server = x.example.org\nimap_port = many\n";
        let error = import(conf, "a.conf").unwrap_err().to_string();
        assert_eq!(
            error,
            "a.conf:8: [example.org] imap_port: \"many\" is not a port number"
        );
        let error = import("[automx]\ndomains = x.org\n", "b.conf")
            .unwrap_err()
            .to_string();
        assert!(error.contains("provider: missing"), "{error}");
        let error = import(
            "[automx]\nprovider = x.org\ndomains = x.org\n[x.org]\nbackend = magic\n",
            "c.conf",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("c.conf:5: [x.org] backend: unknown backend"),
            "{error}"
        );
    }

    #[test]
    fn listed_domain_without_section_or_global_gets_an_empty_table() {
        let conf = "[automx]\nprovider = x.org\ndomains = x.org\n[DEFAULT]\nbackend = static\n\
            smtp = yes\nsmtp_server = smtp.x.org\nsmtp_port = 587\n";
        let text = import(conf, "a.conf").unwrap().to_toml();
        let config = load(&text);
        assert!(domain(&config, "x.org").outgoing.is_empty(), "{text}");
        assert!(text.contains("no [global]: it answered 500"), "{text}");
    }

    #[test]
    fn follow_loops_are_refused() {
        let conf = "[automx]\nprovider = x.org\ndomains = x.org\n[x.org]\nbackend = static\nfollow = x.org\n";
        assert!(
            import(conf, "loop.conf")
                .unwrap_err()
                .to_string()
                .contains("loops")
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(strip_variables("Foobar - ${cn}"), "Foobar");
        assert_eq!(strip_variables("${a}"), "");
        assert_eq!(
            list("a.com, b.com c.com,d.com"),
            ["a.com", "b.com", "c.com", "d.com"]
        );
        assert_eq!(macros("%sd"), "%EMAILADDRESS%d");
        assert_eq!(
            macros("%u@%d (%s) 100%"),
            "%EMAILLOCALPART%@%EMAILDOMAIN% (%EMAILADDRESS%) 100%"
        );
        assert_eq!(
            bind_parameters("SELECT a FROM t WHERE m='%s' AND d = \"%d\" OR u=%u ;"),
            "SELECT a FROM t WHERE m=$1 AND d = $3 OR u=$2"
        );
        assert_eq!(
            shell_words(r#"/bin/x "a b" 'c "d"' e\ f "g\"h""#),
            ["/bin/x", "a b", "c \"d\"", "e f", "g\"h"]
        );
        let fields = [
            ("imap_username".to_owned(), "${uid}".to_owned()),
            ("smtp_username".to_owned(), "${uid}".to_owned()),
            ("display_name".to_owned(), "${givenName} ${sn}".to_owned()),
        ];
        let (mapping, notes) = field_mapping(&fields);
        assert_eq!(mapping, [("login_name".to_owned(), "uid".to_owned())]);
        assert_eq!(notes.len(), 1);
        let (mapping, _) = field_mapping(&[
            ("imap_username".to_owned(), "${a}".to_owned()),
            ("smtp_username".to_owned(), "${b}".to_owned()),
        ]);
        assert_eq!(
            mapping,
            [
                ("imap_username".to_owned(), "a".to_owned()),
                ("smtp_username".to_owned(), "b".to_owned())
            ]
        );
        assert!(known_option("imap_auth_identity"));
        assert!(!known_option("imap_colour"));
    }
}
