//! `mxconf import automx`: automx 1.x's `automx.conf` (Python `RawConfigParser` INI) → an
//! mxconf configuration, following automx's code where its man page differs. Lookup sections
//! become `[backends.NAME]` sources; anything without an mxconf equivalent becomes a `#`
//! comment where it would have applied.
//!
//! One file per job: this one reads the INI (and knows where each option was written);
//! `translate` maps the whole file onto the model (provider, domains, defaults, signing);
//! `evaluate` computes what automx served for one section (backends, `follow`, services);
//! `backend` turns a lookup section into a `[backends.NAME]` table; `signing` carries profile
//! signing over to `[signing]`; `text` holds automx's
//! small text conventions (lists, booleans, macros).

mod backend;
mod evaluate;
mod limits;
mod signing;
mod text;
mod translate;

use configparser::ini::Ini;

use super::{ImportError, Imported};
use text::is_true;

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
    // Carried into [limits] (limits.rs).
    ("memcache", ""),
    ("memcache_ttl", ""),
    ("client_error_limit", ""),
    ("rate_limit_exception_networks", ""),
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
pub(super) struct AutomxConf<'t> {
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
        let conf = AutomxConf {
            ini,
            file,
            lines: line_index(text),
        };
        conf.refuse_control_characters()?;
        Ok(conf)
    }

    /// A value with a control character (other than the tabs and the line breaks of
    /// continuation lines in the options that may take several lines, such as SQL queries) is
    /// no setting automx could use, and most of mxconf's keys refuse one: it is refused here,
    /// with its line, rather than carried into the output. Names, servers, ports and login
    /// identities are one line each, without tabs: clients show names and send logins as they
    /// are, and `check-config` refuses a tab in either.
    fn refuse_control_characters(&self) -> Result<(), ImportError> {
        for section in self.ini.get_map_ref().keys() {
            for (key, value) in self.own(section) {
                let one_line = matches!(key, "account_name" | "account_name_short")
                    || ["_server", "_port", "_encryption", "_auth", "_auth_identity"]
                        .iter()
                        .any(|suffix| key.ends_with(suffix));
                if let Some(c) = value
                    .chars()
                    .find(|c| c.is_control() && (one_line || !matches!(c, '\t' | '\n')))
                {
                    return Err(self.invalid(
                        section,
                        key,
                        format!("contains the control character U+{:04X}", u32::from(c)),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) fn line(&self, section: &str, option: &str) -> Option<usize> {
        self.lines
            .iter()
            .rev()
            .find(|(s, o, _)| s == section && o == option)
            .map(|(_, _, line)| *line)
    }

    pub(super) fn invalid(&self, section: &str, option: &str, message: String) -> ImportError {
        ImportError::Invalid {
            file: self.file.to_owned(),
            line: self
                .line(section, option)
                .or_else(|| self.line(DEFAULT, option)),
            message: format!("[{section}] {option}: {message}"),
        }
    }

    pub(super) fn has_section(&self, section: &str) -> bool {
        self.ini.get_map_ref().contains_key(section)
    }

    /// A section's own options (without `[DEFAULT]`), in file order.
    pub(super) fn own(&self, section: &str) -> Vec<(&str, &str)> {
        self.ini
            .get_map_ref()
            .get(section)
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.as_str(), value.as_deref()?)))
            .collect()
    }

    /// An option as automx sees it: the section's own value, else `[DEFAULT]`'s.
    pub(super) fn get(&self, section: &str, option: &str) -> Option<&str> {
        let map = self.ini.get_map_ref();
        [section, DEFAULT]
            .into_iter()
            .find_map(|s| map.get(s)?.get(option)?.as_deref())
            .map(str::trim)
    }

    pub(super) fn enabled(&self, section: &str, option: &str) -> bool {
        self.get(section, option).is_some_and(is_true)
    }
}

/// An option automx reads somewhere (a typo or another tool's option is not).
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
    use crate::account::{AuthMethod, Domain, Security};
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
    fn known_options() {
        assert!(known_option("imap_auth_identity"));
        assert!(!known_option("imap_colour"));
    }
}
