//! `[backends.NAME]` tables (per-user sources) and a domain's `sources = [...]`: the file
//! form, the keys every type takes, and their checks; each type's own settings and checks are
//! in `sql.rs`, `ldap.rs`, `command.rs`, as `src/backend/` runs them. Config stage of the flow;
//! `backend` builds the live connections from these settings, `resolve` uses them. Secrets
//! are never stored here, only where to read them (a file or an environment variable).

mod command;
pub(crate) mod ldap;
mod sql;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use self::command::CommandSettings;
pub use self::ldap::{LdapScope, LdapSettings, is_loopback_host};
pub use self::sql::{SqlDatabase, SqlSettings, has_foreign_parameters};
use super::checker::Checker;
use crate::account::EmailAddress;
use crate::account::names::named_enum;

/// `[backends.NAME]` as written. One flat table for every type, so that a key given to the wrong
/// type gets a clear message instead of serde's "unknown variant".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackendFile {
    #[serde(rename = "type")]
    pub kind: Spanned<BackendType>,
    pub timeout: Option<Spanned<String>>,
    pub cache_ttl: Option<Spanned<String>>,
    pub negative_cache_ttl: Option<Spanned<String>>,
    pub cache_size: Option<Spanned<i64>>,
    #[serde(default)]
    pub on_failure: OnFailure,
    #[serde(default)]
    pub local_part: LocalPart,
    pub probe_address: Option<Spanned<String>>,
    // sql
    pub path: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<i64>>,
    // sql (postgres) and ldap
    pub url: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    // ldap
    pub bind_dn: Option<Spanned<String>>,
    pub base: Option<Spanned<String>>,
    pub filter: Option<Spanned<String>>,
    pub scope: Option<Spanned<LdapScope>>,
    pub starttls: Option<Spanned<bool>>,
    pub ca_file: Option<Spanned<String>>,
    pub attributes: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    // command
    pub command: Option<Spanned<Vec<String>>>,
    pub max_output: Option<Spanned<i64>>,
}

named_enum! {
    /// `type`: which kind of source a `[backends.NAME]` table is.
    pub enum BackendType {
        Sql = "sql",
        Ldap = "ldap",
        Command = "command",
    }
}

named_enum! {
    /// What to answer when a source is down, slow or returns garbage.
    #[derive(Default)]
    pub enum OnFailure {
        /// Leave the source out: the static settings (and the other sources) answer.
        #[default]
        Static = "static",
        /// Refuse the lookup: the server answers 503.
        Fail = "fail",
    }
}

/// How an address's local part is given to a source (docs/backends.md, "Address normal form").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalPart {
    /// `Jane@example.org` is looked up (and cached) as `jane@example.org`, as mail servers
    /// that fold case (Dovecot's `%Lu`) store it.
    #[default]
    Lowercase,
    /// As the client typed it, for a source whose data is case-sensitive on purpose.
    Exact,
}

impl LocalPart {
    /// The address a source is asked with, and cached under.
    pub fn lookup_form(self, email: &EmailAddress) -> Cow<'_, EmailAddress> {
        match self {
            LocalPart::Lowercase => email.with_lowercase_local_part(),
            LocalPart::Exact => Cow::Borrowed(email),
        }
    }
}

/// Where a password comes from. Read at connect time, never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

impl Secret {
    /// The password: the file's first line (its newline dropped) or the variable's value.
    /// Read when connecting, so a rotated password is used by the next connection; the error
    /// names the file or variable, never a password.
    pub fn read(&self) -> Result<String, String> {
        match self {
            Secret::File(path) => crate::files::read_small_text(path)
                .map(|text| text.lines().next().unwrap_or_default().to_owned())
                .map_err(|error| format!("cannot read password file {}: {error}", path.display())),
            Secret::Env(name) => {
                std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
            }
        }
    }
}

/// One validated `[backends.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSettings {
    pub name: String,
    pub kind: BackendKind,
    pub timeout: Duration,
    /// Zero disables caching for this source.
    pub cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    pub cache_size: u64,
    pub on_failure: OnFailure,
    pub local_part: LocalPart,
    /// What `check-config --backends` (and the server's probe) asks: `probe-address`, else
    /// `mxconf-probe@` a domain that lists the source (set once the domains are checked).
    pub probe_address: EmailAddress,
    /// `file:line` of the `[backends.NAME]` table, for messages about the live source.
    pub defined_at: String,
}

impl BackendSettings {
    /// The type's name (`sql`, `ldap`, `command`), for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            BackendKind::Sql(_) => BackendType::Sql.name(),
            BackendKind::Ldap(_) => BackendType::Ldap.name(),
            BackendKind::Command(_) => BackendType::Command.name(),
        }
    }

    /// The same source as `other`, wherever it is written in the file: what a reload keeps.
    pub fn same_source(&self, other: &BackendSettings) -> bool {
        *self
            == BackendSettings {
                defined_at: self.defined_at.clone(),
                ..other.clone()
            }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendKind {
    Sql(SqlSettings),
    Ldap(LdapSettings),
    Command(CommandSettings),
}

/// A key only some types accept: its name, the types that take it, and where it was given.
type TypedKey = (&'static str, &'static [BackendType], Option<Range<usize>>);

fn typed_keys(raw: &BackendFile) -> [TypedKey; 15] {
    fn at<T>(value: Option<&Spanned<T>>) -> Option<Range<usize>> {
        value.map(Spanned::span)
    }
    [
        ("path", &[BackendType::Sql], at(raw.path.as_ref())),
        ("query", &[BackendType::Sql], at(raw.query.as_ref())),
        (
            "max-connections",
            &[BackendType::Sql],
            at(raw.max_connections.as_ref()),
        ),
        (
            "url",
            &[BackendType::Sql, BackendType::Ldap],
            at(raw.url.as_ref()),
        ),
        (
            "password-file",
            &[BackendType::Sql, BackendType::Ldap],
            at(raw.password_file.as_ref()),
        ),
        (
            "password-env",
            &[BackendType::Sql, BackendType::Ldap],
            at(raw.password_env.as_ref()),
        ),
        ("bind-dn", &[BackendType::Ldap], at(raw.bind_dn.as_ref())),
        ("base", &[BackendType::Ldap], at(raw.base.as_ref())),
        ("filter", &[BackendType::Ldap], at(raw.filter.as_ref())),
        ("scope", &[BackendType::Ldap], at(raw.scope.as_ref())),
        ("starttls", &[BackendType::Ldap], at(raw.starttls.as_ref())),
        ("ca-file", &[BackendType::Ldap], at(raw.ca_file.as_ref())),
        (
            "attributes",
            &[BackendType::Ldap],
            at(raw.attributes.as_ref()),
        ),
        ("command", &[BackendType::Command], at(raw.command.as_ref())),
        (
            "max-output",
            &[BackendType::Command],
            at(raw.max_output.as_ref()),
        ),
    ]
}

/// Checks every `[backends.NAME]`; returns the settings (in name order) and name → index.
pub(super) fn check_backends(
    checker: &mut Checker<'_>,
    raw: &BTreeMap<String, Spanned<BackendFile>>,
) -> (Vec<BackendSettings>, HashMap<String, usize>) {
    let mut settings = Vec::new();
    let mut names = HashMap::new();
    for (name, entry) in raw {
        let label = format!("backends.{name}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            checker.report(
                Some(&entry.span()),
                label.clone(),
                "names use letters, digits, - and _ only".into(),
            );
        }
        let defined_at = checker.location(&entry.span());
        if let Some(backend) = check_backend(checker, &label, name, entry.get_ref(), defined_at) {
            names.insert(name.clone(), settings.len());
            settings.push(backend);
        }
    }
    (settings, names)
}

/// Resolves a domain's `sources = [...]` to backend indices.
pub(super) fn check_sources(
    checker: &mut Checker<'_>,
    label: &str,
    sources: Option<&Spanned<Vec<Spanned<String>>>>,
    names: &HashMap<String, usize>,
) -> Vec<usize> {
    let Some(sources) = sources else {
        return Vec::new();
    };
    let mut indices = Vec::new();
    for source in sources.get_ref() {
        match names.get(source.get_ref()) {
            Some(&index) if indices.contains(&index) => checker.report(
                Some(&source.span()),
                format!("{label}: sources"),
                format!("{:?} is listed twice", source.get_ref()),
            ),
            Some(&index) => indices.push(index),
            None => checker.report(
                Some(&source.span()),
                format!("{label}: sources"),
                format!("no [backends.{}] table", source.get_ref()),
            ),
        }
    }
    indices
}

fn check_backend(
    checker: &mut Checker<'_>,
    label: &str,
    name: &str,
    raw: &BackendFile,
    defined_at: String,
) -> Option<BackendSettings> {
    let kind = *raw.kind.get_ref();
    let mut ok = true;
    for (key, types, span) in typed_keys(raw) {
        if let Some(span) = span
            && !types.contains(&kind)
        {
            let types: Vec<&str> = types.iter().map(|kind| kind.name()).collect();
            checker.report(
                Some(&span),
                format!("{label}.{key}"),
                format!(
                    "not a key of type = {:?} (only of {})",
                    kind.name(),
                    types.join(", ")
                ),
            );
            ok = false;
        }
    }
    let mut duration = |key: &str, value: &Option<Spanned<String>>, default: Duration| {
        value.as_ref().map_or(Some(default), |value| {
            let parsed = parse_duration(value.get_ref());
            if parsed.is_none() {
                checker.report(
                    Some(&value.span()),
                    format!("{label}.{key}"),
                    format!(
                        "{:?} is not a duration like \"500ms\", \"3s\", \"5m\", \"1h\"",
                        value.get_ref()
                    ),
                );
            }
            parsed
        })
    };
    let timeout = duration("timeout", &raw.timeout, Duration::from_secs(3));
    let cache_ttl = duration("cache-ttl", &raw.cache_ttl, Duration::from_secs(300));
    let negative_cache_ttl = duration(
        "negative-cache-ttl",
        &raw.negative_cache_ttl,
        Duration::from_secs(30),
    );
    if timeout == Some(Duration::ZERO) {
        checker.report(
            raw.timeout.as_ref().map(Spanned::span).as_ref(),
            format!("{label}.timeout"),
            "must be more than zero".into(),
        );
        ok = false;
    }
    let cache_size = positive(
        checker,
        label,
        "cache-size",
        raw.cache_size.as_ref(),
        10_000,
    );
    // Until the domains are checked, a placeholder; `set_probe_addresses` replaces it.
    let probe_address = match &raw.probe_address {
        None => EmailAddress::parse(NO_DOMAIN_PROBE).ok(),
        Some(text) => {
            let parsed = EmailAddress::parse(text.get_ref());
            if let Err(error) = &parsed {
                checker.report(
                    Some(&text.span()),
                    format!("{label}.probe-address"),
                    format!("not an address: {error}"),
                );
            }
            parsed.ok()
        }
    };
    let backend = match kind {
        BackendType::Sql => sql::check(checker, label, raw).map(BackendKind::Sql),
        BackendType::Ldap => ldap::check(checker, label, raw).map(BackendKind::Ldap),
        BackendType::Command => command::check(checker, label, raw).map(BackendKind::Command),
    };
    Some(BackendSettings {
        name: name.to_owned(),
        kind: backend.filter(|_| ok)?,
        timeout: timeout?,
        cache_ttl: cache_ttl?,
        negative_cache_ttl: negative_cache_ttl?,
        cache_size: cache_size?,
        on_failure: raw.on_failure,
        local_part: raw.local_part,
        probe_address: probe_address?,
        defined_at,
    })
}

/// The local part of a default probe address: no mailbox is expected to have it.
const PROBE_LOCAL_PART: &str = "mxconf-probe";
/// The probe address of a source no domain lists.
const NO_DOMAIN_PROBE: &str = "mxconf-probe@example.invalid";

/// Gives every source without a `probe-address` the default one: `mxconf-probe@` the first
/// domain that lists it (a wildcard `*.example.org` gives `example.org`'s subdomain
/// `probe.example.org`), so a command that refuses foreign domains still gets one of its own.
pub(super) fn set_probe_addresses<'d>(
    backends: &mut [BackendSettings],
    raw: &BTreeMap<String, Spanned<BackendFile>>,
    domains: impl Iterator<Item = (&'d str, &'d [usize])> + Clone,
) {
    for (index, backend) in backends.iter_mut().enumerate() {
        let explicit = raw
            .get(&backend.name)
            .is_some_and(|entry| entry.get_ref().probe_address.is_some());
        if explicit {
            continue;
        }
        let probe = domains
            .clone()
            .find(|(_, sources)| sources.contains(&index))
            .and_then(|(pattern, _)| {
                let domain = match pattern.strip_prefix("*.") {
                    Some(parent) => format!("probe.{parent}"),
                    None => pattern.to_owned(),
                };
                EmailAddress::parse(&format!("{PROBE_LOCAL_PART}@{domain}")).ok()
            });
        if let Some(probe) = probe {
            backend.probe_address = probe;
        }
    }
}

/// `Some(None)` when both or a bad one is given (already reported), `None` when neither.
pub(super) fn check_secret(
    checker: &mut Checker<'_>,
    label: &str,
    file: Option<&Spanned<String>>,
    env: Option<&Spanned<String>>,
) -> Option<Option<Secret>> {
    match (file, env) {
        (None, None) => None,
        // Relative to the config file's directory, like every other path (a service's working
        // directory is usually `/`).
        (Some(file), None) => Some(Some(Secret::File(checker.path(file.get_ref())))),
        (None, Some(env)) => {
            let name = env.get_ref();
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                checker.report(
                    Some(&env.span()),
                    format!("{label}.password-env"),
                    "is the name of an environment variable".into(),
                );
                return Some(None);
            }
            Some(Some(Secret::Env(name.clone())))
        }
        (Some(file), Some(_)) => {
            checker.report(
                Some(&file.span()),
                format!("{label}.password-file"),
                "give password-file or password-env, not both".into(),
            );
            Some(None)
        }
    }
}

/// The certificates in the PEM file `ca-file` of `label`, each encoded by `encode` (DER for
/// the LDAP source, PEM for Redis), read at load so a wrong path or file is a config error
/// (with its line), not a connection failure at the first request.
pub(super) fn read_ca_file(
    checker: &mut Checker<'_>,
    label: &str,
    file: &Spanned<String>,
    encode: fn(&openssl::x509::X509Ref) -> Result<Vec<u8>, openssl::error::ErrorStack>,
) -> Option<Vec<Vec<u8>>> {
    let path = checker.path(file.get_ref());
    let problem = match crate::files::read_small(&path) {
        Err(error) => format!("cannot read {}: {error}", path.display()),
        Ok(pem) => match openssl::x509::X509::stack_from_pem(&pem) {
            Ok(certificates) if !certificates.is_empty() => {
                let encoded: Result<Vec<Vec<u8>>, _> = certificates
                    .iter()
                    .map(|certificate| encode(certificate))
                    .collect();
                if let Ok(encoded) = encoded {
                    return Some(encoded);
                }
                format!("{}: a certificate could not be re-encoded", path.display())
            }
            _ => format!("{}: no PEM certificate in it", path.display()),
        },
    };
    checker.report(Some(&file.span()), format!("{label}.ca-file"), problem);
    None
}

pub(super) fn check_url(
    checker: &mut Checker<'_>,
    label: &str,
    value: &Spanned<String>,
    schemes: &[&str],
) -> Option<url::Url> {
    let report = |checker: &mut Checker<'_>, message: String| {
        checker.report(Some(&value.span()), format!("{label}.url"), message);
        None
    };
    // The message never repeats the URL: it may hold a password the admin pasted in.
    let Ok(url) = url::Url::parse(value.get_ref()) else {
        return report(
            checker,
            format!("not a URL (expected {})", schemes.join(":// or ")),
        );
    };
    // PostgreSQL over a Unix socket names no host but `?host=/run/postgresql`. MySQL's socket
    // form keeps a host (`mysql://mxconf@localhost/mail?socket=…`): sqlx reads its password
    // only from the user-info part, which needs one.
    let socket =
        url.scheme().starts_with("postgres") && url.query_pairs().any(|(key, _)| key == "host");
    if !schemes.contains(&url.scheme()) || (url.host_str().is_none_or(str::is_empty) && !socket) {
        return report(
            checker,
            format!("expected a {}:// URL with a host", schemes.join(":// or ")),
        );
    }
    // sqlx (like libpq) also reads `?password=` from the query string.
    if url.password().is_some() || url.query_pairs().any(|(key, _)| key == "password") {
        return report(
            checker,
            "holds a password: move it to password-file or password-env (URLs end up in logs)"
                .into(),
        );
    }
    Some(url)
}

pub(super) fn positive(
    checker: &mut Checker<'_>,
    label: &str,
    key: &str,
    value: Option<&Spanned<i64>>,
    default: u64,
) -> Option<u64> {
    let Some(value) = value else {
        return Some(default);
    };
    match u64::try_from(*value.get_ref()) {
        Ok(n) if n > 0 => Some(n),
        _ => {
            checker.report(
                Some(&value.span()),
                format!("{label}.{key}"),
                "must be a positive number".into(),
            );
            None
        }
    }
}

pub(super) fn report_at<T>(
    checker: &mut Checker<'_>,
    anchor: &Spanned<T>,
    label: &str,
    key: &str,
    message: &str,
) {
    checker.report(
        Some(&anchor.span()),
        format!("{label}.{key}"),
        message.into(),
    );
}

/// An optional duration key that must be above zero: `default` when absent, reported (and
/// `default`) when it is not such a duration. `field` is the key's full path.
pub(super) fn duration_above_zero(
    checker: &mut Checker<'_>,
    field: String,
    value: Option<&Spanned<String>>,
    default: Duration,
) -> Duration {
    let Some(value) = value else {
        return default;
    };
    match parse_duration(value.get_ref()) {
        Some(duration) if !duration.is_zero() => duration,
        _ => {
            checker.report(
                Some(&value.span()),
                field,
                format!(
                    "{:?} is not a duration above zero like \"100ms\", \"30s\", \"10m\"",
                    value.get_ref()
                ),
            );
            default
        }
    }
}

/// `"500ms"`, `"3s"`, `"5m"`, `"1h"`, `"0s"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let millis = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.checked_mul(millis).map(Duration::from_millis)
}

#[cfg(test)]
mod tests;
