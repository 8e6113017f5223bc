//! `[backends.NAME]` tables (per-user sources: SQL, LDAP, a command) and a domain's
//! `sources = [...]`: the file form, the validated settings, and their checks. Config stage of
//! the flow; `backend` builds the live connections from these settings, `resolve` uses them.
//! Secrets are never stored here, only where to read them (a file or an environment variable).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::checker::Checker;
use crate::account::{EmailAddress, FIELD_NAMES, Field};

/// `[backends.NAME]` as written. One flat table for every type, so that a key given to the wrong
/// type gets a clear message instead of serde's "unknown variant".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackendFile {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub timeout: Option<Spanned<String>>,
    pub cache_ttl: Option<Spanned<String>>,
    pub negative_cache_ttl: Option<Spanned<String>>,
    pub cache_size: Option<Spanned<i64>>,
    pub on_failure: Option<Spanned<String>>,
    #[serde(default)]
    pub local_part: LocalPart,
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
    pub scope: Option<Spanned<String>>,
    pub starttls: Option<Spanned<bool>>,
    pub ca_file: Option<Spanned<String>>,
    pub attributes: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    // command
    pub command: Option<Spanned<Vec<String>>>,
    pub max_output: Option<Spanned<i64>>,
}

/// What to answer when a source is down, slow or returns garbage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Leave the source out: the static settings (and the other sources) answer.
    Static,
    /// Refuse the lookup: the server answers 503.
    Fail,
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

/// One validated `[backends.NAME]`.
#[derive(Debug, Clone)]
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
}

#[derive(Debug, Clone)]
pub enum BackendKind {
    Sql(SqlSettings),
    Ldap(LdapSettings),
    Command(CommandSettings),
}

#[derive(Debug, Clone)]
pub struct SqlSettings {
    pub database: SqlDatabase,
    /// The admin's query; `$1` address, `$2` local part, `$3` domain, always bound.
    pub query: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub enum SqlDatabase {
    /// Opened read-only.
    Sqlite(PathBuf),
    /// A URL without a password; the password comes from `password`.
    Postgres {
        url: url::Url,
        password: Option<Secret>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapScope {
    Base,
    One,
    Sub,
}

#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub struct CommandSettings {
    pub program: PathBuf,
    /// Arguments after the program, placeholders expanded per argument (no shell).
    pub args: Vec<String>,
    pub max_output: usize,
}

/// A key only some types accept: its name, the types that take it, and where it was given.
type TypedKey = (&'static str, &'static [&'static str], Option<Range<usize>>);

fn typed_keys(raw: &BackendFile) -> [TypedKey; 15] {
    fn at<T>(value: Option<&Spanned<T>>) -> Option<Range<usize>> {
        value.map(Spanned::span)
    }
    [
        ("path", &["sql"], at(raw.path.as_ref())),
        ("query", &["sql"], at(raw.query.as_ref())),
        (
            "max-connections",
            &["sql"],
            at(raw.max_connections.as_ref()),
        ),
        ("url", &["sql", "ldap"], at(raw.url.as_ref())),
        (
            "password-file",
            &["sql", "ldap"],
            at(raw.password_file.as_ref()),
        ),
        (
            "password-env",
            &["sql", "ldap"],
            at(raw.password_env.as_ref()),
        ),
        ("bind-dn", &["ldap"], at(raw.bind_dn.as_ref())),
        ("base", &["ldap"], at(raw.base.as_ref())),
        ("filter", &["ldap"], at(raw.filter.as_ref())),
        ("scope", &["ldap"], at(raw.scope.as_ref())),
        ("starttls", &["ldap"], at(raw.starttls.as_ref())),
        ("ca-file", &["ldap"], at(raw.ca_file.as_ref())),
        ("attributes", &["ldap"], at(raw.attributes.as_ref())),
        ("command", &["command"], at(raw.command.as_ref())),
        ("max-output", &["command"], at(raw.max_output.as_ref())),
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
        if let Some(backend) = check_backend(checker, &label, name, entry.get_ref()) {
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
) -> Option<BackendSettings> {
    let kind = raw.kind.get_ref().as_str();
    if !matches!(kind, "sql" | "ldap" | "command") {
        checker.report(
            Some(&raw.kind.span()),
            format!("{label}.type"),
            format!("{kind:?} is not one of \"sql\", \"ldap\", \"command\""),
        );
        return None;
    }
    let mut ok = true;
    for (key, types, span) in typed_keys(raw) {
        if let Some(span) = span
            && !types.contains(&kind)
        {
            checker.report(
                Some(&span),
                format!("{label}.{key}"),
                format!(
                    "not a key of type = {kind:?} (only of {})",
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
    let on_failure = match raw
        .on_failure
        .as_ref()
        .map(|v| (v.get_ref().as_str(), v.span()))
    {
        None | Some(("static", _)) => Some(OnFailure::Static),
        Some(("fail", _)) => Some(OnFailure::Fail),
        Some((other, span)) => {
            checker.report(
                Some(&span),
                format!("{label}.on-failure"),
                format!("{other:?} is not \"static\" or \"fail\""),
            );
            None
        }
    };
    let backend = match kind {
        "sql" => check_sql(checker, label, raw).map(BackendKind::Sql),
        "ldap" => check_ldap(checker, label, raw).map(BackendKind::Ldap),
        _ => check_command(checker, label, raw).map(BackendKind::Command),
    };
    Some(BackendSettings {
        name: name.to_owned(),
        kind: backend.filter(|_| ok)?,
        timeout: timeout?,
        cache_ttl: cache_ttl?,
        negative_cache_ttl: negative_cache_ttl?,
        cache_size: cache_size?,
        on_failure: on_failure?,
        local_part: raw.local_part,
    })
}

fn check_sql(checker: &mut Checker<'_>, label: &str, raw: &BackendFile) -> Option<SqlSettings> {
    let secret = check_secret(checker, label, raw);
    let database = match (&raw.path, &raw.url) {
        (Some(path), None) => {
            if secret.is_some() {
                report_at(
                    checker,
                    &raw.kind,
                    label,
                    "password-file",
                    "SQLite takes no password",
                );
            }
            Some(SqlDatabase::Sqlite(checker.path(path.get_ref())))
        }
        (None, Some(url)) => {
            check_url(checker, label, url, &["postgres", "postgresql"]).map(|url| {
                SqlDatabase::Postgres {
                    url,
                    password: secret.flatten(),
                }
            })
        }
        _ => {
            report_at(
                checker,
                &raw.kind,
                label,
                "path",
                "give exactly one of path (SQLite file) or url (postgres://…)",
            );
            None
        }
    };
    let query = match &raw.query {
        None => {
            report_at(checker, &raw.kind, label, "query", "is required");
            None
        }
        Some(query) => {
            let text = query.get_ref().trim();
            // $1..$3 are the only values there are; a $4 would bind to nothing. `?` would be
            // SQLite's positional form, read differently by PostgreSQL.
            let bad_parameter = text.split('$').skip(1).any(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                !digits.is_empty() && !matches!(digits.as_str(), "1" | "2" | "3")
            }) || text.contains('?');
            if text.is_empty() || bad_parameter {
                checker.report(
                    Some(&query.span()),
                    format!("{label}.query"),
                    "must be one statement using only $1 (address), $2 (local part), $3 (domain) as parameters"
                        .into(),
                );
                None
            } else {
                Some(text.to_owned())
            }
        }
    };
    let max_connections = positive(
        checker,
        label,
        "max-connections",
        raw.max_connections.as_ref(),
        4,
    )?;
    Some(SqlSettings {
        database: database?,
        query: query?,
        max_connections: u32::try_from(max_connections).unwrap_or(u32::MAX),
    })
}

fn check_ldap(checker: &mut Checker<'_>, label: &str, raw: &BackendFile) -> Option<LdapSettings> {
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
    let secret = check_secret(checker, label, raw);
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
            let depth_ok = text.chars().try_fold(0i32, |depth, c| {
                let depth = depth + i32::from(c == '(') - i32::from(c == ')');
                (depth >= 0).then_some(depth)
            }) == Some(0);
            if !text.starts_with('(')
                || !depth_ok
                || !crate::account::username::has_placeholder(text)
            {
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
    let scope = match raw.scope.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("sub", _)) => Some(LdapScope::Sub),
        Some(("one", _)) => Some(LdapScope::One),
        Some(("base", _)) => Some(LdapScope::Base),
        Some((other, span)) => {
            checker.report(
                Some(&span),
                format!("{label}.scope"),
                format!("{other:?} is not one of \"sub\", \"one\", \"base\""),
            );
            None
        }
    };
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
                            format!("not a field (known: {FIELD_NAMES})"),
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
        Some(file) => Some(read_ca_file(checker, label, file)?),
        None => Some(Vec::new()),
    };
    Some(LdapSettings {
        url,
        starttls,
        ca_certificates: ca_certificates?,
        bind: bind?,
        base: base?,
        filter: filter?,
        scope: scope?,
        attributes: attributes?,
    })
}

/// The PEM certificates in `ca-file`, read at load so a wrong path or file is a config error
/// (with its line), not a lookup failure at the first request.
fn read_ca_file(
    checker: &mut Checker<'_>,
    label: &str,
    file: &Spanned<String>,
) -> Option<Vec<Vec<u8>>> {
    let path = checker.path(file.get_ref());
    let problem = match std::fs::read(&path) {
        Err(error) => format!("cannot read {}: {error}", path.display()),
        Ok(pem) => match openssl::x509::X509::stack_from_pem(&pem) {
            Ok(certificates) if !certificates.is_empty() => {
                let der: Result<Vec<Vec<u8>>, _> = certificates
                    .iter()
                    .map(|certificate| certificate.to_der())
                    .collect();
                if let Ok(der) = der {
                    return Some(der);
                }
                format!("{}: a certificate could not be re-encoded", path.display())
            }
            _ => format!("{}: no PEM certificate in it", path.display()),
        },
    };
    checker.report(Some(&file.span()), format!("{label}.ca-file"), problem);
    None
}

fn check_command(
    checker: &mut Checker<'_>,
    label: &str,
    raw: &BackendFile,
) -> Option<CommandSettings> {
    let Some(command) = &raw.command else {
        report_at(
            checker,
            &raw.kind,
            label,
            "command",
            "is required: [\"/path/to/program\", \"%EMAILADDRESS%\"]",
        );
        return None;
    };
    let (program, args) = match command.get_ref().split_first() {
        // An absolute path: no PATH search, so what runs is what the admin named.
        Some((program, args)) if Path::new(program).is_absolute() => {
            (checker.path(program), args.to_vec())
        }
        _ => {
            checker.report(
                Some(&command.span()),
                format!("{label}.command"),
                "must start with the program's absolute path".into(),
            );
            return None;
        }
    };
    let max_output = positive(
        checker,
        label,
        "max-output",
        raw.max_output.as_ref(),
        64 * 1024,
    )?;
    Some(CommandSettings {
        program,
        args,
        max_output: usize::try_from(max_output).unwrap_or(usize::MAX),
    })
}

/// `Some(None)` when both or a bad one is given (already reported), `None` when neither.
fn check_secret(
    checker: &mut Checker<'_>,
    label: &str,
    raw: &BackendFile,
) -> Option<Option<Secret>> {
    match (&raw.password_file, &raw.password_env) {
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

fn check_url(
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
    // PostgreSQL over a Unix socket names no host but `?host=/run/postgresql`.
    let socket = url.query_pairs().any(|(key, _)| key == "host");
    if !schemes.contains(&url.scheme()) || (url.host_str().is_none_or(str::is_empty) && !socket) {
        return report(
            checker,
            format!("expected a {}:// URL with a host", schemes.join(":// or ")),
        );
    }
    if url.password().is_some() {
        return report(
            checker,
            "holds a password: move it to password-file or password-env (URLs end up in logs)"
                .into(),
        );
    }
    Some(url)
}

fn positive(
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

fn report_at(
    checker: &mut Checker<'_>,
    anchor: &Spanned<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError, ConfigSource};

    const PROVIDER: &str =
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";

    fn errors(text: &str) -> Vec<String> {
        match Config::from_toml(
            &format!("{PROVIDER}{text}"),
            ConfigSource::File("mxconf.toml".into()),
        ) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
            Err(other) => vec![other.to_string()],
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        for bad in ["", "5", "s", "1.5s", "-1s", "3 days"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn valid_backends_and_sources_load() {
        let text = "[backends.users]\ntype = \"sql\"\npath = \"users.db\"\nquery = \"SELECT uid AS login_name FROM users WHERE address = $1\"\ncache-ttl = \"0s\"\non-failure = \"fail\"\n\
            [backends.dir]\ntype = \"ldap\"\nurl = \"ldap://127.0.0.1:3890\"\nstarttls = false\nbase = \"dc=example,dc=org\"\nfilter = \"(mail=%EMAILADDRESS%)\"\nattributes = { login_name = \"uid\" }\n\
            [backends.script]\ntype = \"command\"\ncommand = [\"/usr/local/bin/lookup\", \"--\", \"%EMAILADDRESS%\"]\n\
            [defaults]\nsources = [\"dir\"]\n[domains.\"example.org\"]\nsources = [\"users\", \"script\"]\n[domains.\"example.net\"]\n";
        let config = Config::from_toml(
            &format!("{PROVIDER}{text}"),
            ConfigSource::File("/etc/mxconf/mxconf.toml".into()),
        )
        .unwrap();
        let names: Vec<_> = config.backends.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["dir", "script", "users"]);
        let org = config
            .domain(&crate::account::Domain::parse("example.org").unwrap())
            .unwrap();
        assert_eq!(org.sources, [2, 1]);
        let net = config
            .domain(&crate::account::Domain::parse("example.net").unwrap())
            .unwrap();
        assert_eq!(net.sources, [0]);
        match &config.backends[2].kind {
            BackendKind::Sql(sql) => match &sql.database {
                SqlDatabase::Sqlite(path) => assert_eq!(path, Path::new("/etc/mxconf/users.db")),
                SqlDatabase::Postgres { .. } => panic!("not sqlite"),
            },
            other => panic!("{other:?}"),
        }
        assert_eq!(config.backends[2].on_failure, OnFailure::Fail);
    }

    #[test]
    fn mistakes_name_file_line_and_field() {
        let errors = errors(
            "[backends.pg]\ntype = \"sql\"\nurl = \"postgres://mx:hunter2@db.example.org/mail\"\nquery = \"SELECT 1 WHERE $12 = 1\"\nfilter = \"(uid=x)\"\n\
             [backends.dir]\ntype = \"ldap\"\nurl = \"ldap://ldap.example.org\"\nstarttls = false\nbase = \"dc=x\"\nfilter = \"(mail=jane)\"\nattributes = { login = \"uid\" }\n\
             [backends.run]\ntype = \"command\"\ncommand = [\"lookup\"]\ntimeout = \"soon\"\n\
             [domains.\"example.org\"]\nsources = [\"nope\"]\n",
        );
        let expected = [
            "mxconf.toml:13: backends.dir.starttls: may be off only for a loopback server",
            "mxconf.toml:16: backends.dir.attributes.login: not a field",
            "mxconf.toml:15: backends.dir.filter: must be a parenthesised LDAP filter",
            "mxconf.toml:7: backends.pg.url: holds a password",
            "mxconf.toml:9: backends.pg.filter: not a key of type = \"sql\"",
            "mxconf.toml:8: backends.pg.query: must be one statement",
            "mxconf.toml:20: backends.run.timeout: \"soon\" is not a duration",
            "mxconf.toml:19: backends.run.command: must start with the program's absolute path",
            "mxconf.toml:22: domain \"example.org\": sources: no [backends.nope] table",
        ];
        for want in expected {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "missing {want:?} in {errors:#?}"
            );
        }
        assert!(!errors.iter().any(|e| e.contains("hunter2")), "{errors:#?}");
    }

    #[test]
    fn local_part_is_lowercase_unless_exact() {
        let text = |extra: &str| {
            format!(
                "{PROVIDER}[backends.run]\ntype = \"command\"\ncommand = [\"/bin/true\"]\n{extra}"
            )
        };
        let load = |extra: &str| {
            Config::from_toml(&text(extra), ConfigSource::File("mxconf.toml".into()))
                .map(|config| config.backends[0].local_part)
        };
        assert_eq!(load("").unwrap(), LocalPart::Lowercase);
        assert_eq!(load("local-part = \"exact\"\n").unwrap(), LocalPart::Exact);
        let error = errors(
            "[backends.run]\ntype = \"command\"\ncommand = [\"/bin/true\"]\nlocal-part = \"upper\"\n",
        );
        assert_eq!(
            error,
            [
                "mxconf.toml:8: backends.run.local-part: unknown variant `upper`, expected `lowercase` or `exact`"
            ]
        );
    }

    #[test]
    fn password_files_are_relative_to_the_config_file() {
        let text = format!(
            "{PROVIDER}[backends.dir]\ntype = \"ldap\"\nurl = \"ldaps://ldap.example.org\"\n\
             bind-dn = \"cn=mxconf\"\npassword-file = \"ldap-password\"\nbase = \"dc=x\"\n\
             filter = \"(mail=%EMAILADDRESS%)\"\nattributes = {{ login_name = \"uid\" }}\n"
        );
        let config =
            Config::from_toml(&text, ConfigSource::File("/etc/mxconf/mxconf.toml".into())).unwrap();
        match &config.backends[0].kind {
            BackendKind::Ldap(settings) => assert_eq!(
                settings.bind.as_ref().map(|(_, secret)| secret),
                Some(&Secret::File("/etc/mxconf/ldap-password".into()))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ca_file_is_read_at_load_and_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let root = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/certs/root.pem")).unwrap();
        std::fs::write(&ca, &root).unwrap();
        std::fs::write(dir.path().join("not.pem"), "hello").unwrap();
        let ldap = |ca_file: &str| {
            format!(
                "{PROVIDER}[backends.dir]\ntype = \"ldap\"\nurl = \"ldaps://ldap.example.org\"\n\
                 ca-file = \"{ca_file}\"\nbase = \"dc=x\"\nfilter = \"(mail=%EMAILADDRESS%)\"\n\
                 attributes = {{ login_name = \"uid\" }}\n"
            )
        };
        // Relative to the config file's directory, like every other path.
        let config = Config::from_toml(
            &ldap("ca.pem"),
            ConfigSource::File(dir.path().join("mxconf.toml")),
        )
        .unwrap();
        match &config.backends[0].kind {
            BackendKind::Ldap(settings) => assert_eq!(settings.ca_certificates.len(), 1),
            other => panic!("{other:?}"),
        }
        for (file, problem) in [
            ("missing.pem", "cannot read"),
            ("not.pem", "no PEM certificate"),
        ] {
            let error = Config::from_toml(
                &ldap(file),
                ConfigSource::File(dir.path().join("mxconf.toml")),
            )
            .unwrap_err()
            .to_string();
            assert!(
                error.contains("mxconf.toml:8: backends.dir.ca-file: "),
                "{error}"
            );
            assert!(error.contains(problem), "{error}");
        }
        let sql = "[backends.db]\ntype = \"sql\"\npath = \"u.db\"\nquery = \"SELECT 1 WHERE $1 = $1\"\nca-file = \"ca.pem\"\n";
        assert!(
            errors(sql)
                .iter()
                .any(|e| e.contains("backends.db.ca-file: not a key of type = \"sql\""))
        );
    }

    /// `examples/mxconf.toml` documents every backend key in commented-out examples; with the
    /// comment marks removed, they must load and mean what they say.
    #[test]
    fn example_file_documents_every_key_and_its_examples_load() {
        let demo = crate::config::DEMO_TOML;
        let start = demo.find("## ---- Per-user backends").unwrap();
        let uncomment = |line: &str| line.strip_prefix("# ").map(str::to_owned);
        let backends: Vec<String> = demo[start..].lines().filter_map(uncomment).collect();
        let defaults = demo[..start].replace("# sources = [", "sources = [");
        let text = format!("{defaults}\n{}\n", backends.join("\n"));
        let config = Config::from_toml(&text, ConfigSource::File("/etc/mxconf/mxconf.toml".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<_> = config.backends.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["directory", "pg", "script", "users"]);
        let domain = config
            .domain(&crate::account::Domain::parse("example.com").unwrap())
            .unwrap();
        assert_eq!(domain.sources, [3, 0]);
        let keys = [
            "type",
            "timeout",
            "cache-ttl",
            "negative-cache-ttl",
            "cache-size",
            "on-failure",
            "local-part",
        ];
        let any: BackendFile = toml::from_str("type = \"sql\"").unwrap();
        for key in keys
            .into_iter()
            .chain(typed_keys(&any).map(|(key, _, _)| key))
        {
            assert!(
                demo.contains(&format!("\n# {key} = "))
                    || demo.contains(&format!("\n# # {key} = "))
                    || demo.contains(&format!("\n# [backends.directory.{key}]")),
                "examples/mxconf.toml does not document {key}"
            );
        }
        // The demo itself serves without any backend.
        assert!(Config::demo().unwrap().backends.is_empty());
    }
}
