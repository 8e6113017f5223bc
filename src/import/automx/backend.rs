//! An automx lookup section (`backend = ldap`, `sql`, `script`) → a `[backends.NAME]` table in
//! the backends' safer form: bound SQL parameters, escaped LDAP filters, an argv without a
//! shell, and passwords moved out of the config into a file the comment names.

use super::evaluate::Lookup;
use super::text::{is_true, macros, split_list};
use crate::account::Template;
use crate::config::backend::has_foreign_parameters;
use crate::import::{BackendOut, TableOut, TomlValue};

impl Lookup {
    fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `[backends.NAME]` for this lookup, and whether it can be switched on as it is. `Err`
    /// says why nothing usable can be written.
    pub(super) fn to_backend(
        &self,
        fields: &[(String, String)],
    ) -> Result<(BackendOut, bool), String> {
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
        let table = TableOut {
            notes,
            keys,
            commented_out: false,
        };
        Ok((BackendOut { name, table }, enabled))
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
                crate::import::bind_keys(name, dn, "automx's bindpw", keys, notes);
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
        if !crate::config::backend::ldap::is_usable_filter(&filter) {
            return Err(format!(
                "its filter {filter} is not a parenthesised LDAP filter with balanced parentheses"
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
            ("cert", "mxconf does not present a client certificate"),
            ("key", "mxconf does not present a client certificate"),
            ("cipher", "TLS parameters come from the system TLS library"),
        ] {
            if let Some(value) = self.setting(option) {
                notes.push(format!("automx {option} = {value}: {why}"));
            }
        }
        if let Some(file) = self.setting("cacert") {
            // mxconf reads `ca-file` when it loads the config, so a file this machine does
            // not have would make the output fail to load: it is then left as a comment.
            match ca_file_problem(file) {
                None => keys.push(("ca-file", TomlValue::Str(file.to_owned()))),
                Some(problem) => notes.push(format!(
                    "automx cacert = {file}: {problem}, so it is left out and the system trust \
                     store applies. Once the file is there, add  ca-file = \"{file}\""
                )),
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
            && let Some(family @ ("postgres" | "postgresql" | "mysql" | "mariadb")) =
                scheme.split('+').next()
        {
            let postgres = family.starts_with("postgres");
            let scheme = if postgres { "postgres" } else { "mysql" };
            // SQLAlchemy accepts a socket URL without a host (`mysql://u:p@/db?unix_socket=…`);
            // a URL with a password needs one, and the socket is used regardless.
            let rest = match rest.split_once('/') {
                Some((authority, path)) if authority.rsplit('@').next() == Some("") => {
                    format!("{authority}localhost/{path}")
                }
                _ => rest.to_owned(),
            };
            let mut url = url::Url::parse(&format!("{scheme}://{rest}"))
                .ok()
                .filter(|url| {
                    url.host_str().is_some_and(|h| !h.is_empty())
                        || url
                            .query_pairs()
                            .any(|(key, _)| key == "host" || key == "unix_socket")
                })
                .ok_or_else(|| {
                    format!("its host = {scheme}://… is not a database URL with a host")
                })?;
            if !postgres {
                // SQLAlchemy's MySQL drivers name the socket `unix_socket`; sqlx `socket`.
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(key, value)| match key.as_ref() {
                        "unix_socket" => ("socket".to_owned(), value.into_owned()),
                        _ => (key.into_owned(), value.into_owned()),
                    })
                    .collect();
                if !pairs.is_empty() {
                    url.query_pairs_mut().clear().extend_pairs(pairs);
                }
            }
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
                "host = {}://…: mxconf reads SQLite, PostgreSQL and MySQL/MariaDB only",
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
        let rewritten = format!(
            "SELECT {} FROM ({}) AS automx",
            select.join(", "),
            bind_parameters(query)
        );
        // The columns come from `${…}` names, so they are checked along with the query.
        if has_foreign_parameters(&rewritten) {
            return Err(format!(
                "its query or a column it names holds a `?` or a `$` number beyond $3 \
                 ({rewritten}), which mxconf's queries keep for bound parameters; rewrite it \
                 without them"
            ));
        }
        keys.push(("query", TomlValue::Str(rewritten)));
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

/// Why `file` cannot be an LDAP `ca-file` here (`None`: it can): mxconf wants PEM
/// certificates at an absolute path, in a regular file of bounded size (a device named there
/// would otherwise hang the import or read without end).
fn ca_file_problem(file: &str) -> Option<String> {
    if !file.starts_with('/') {
        return Some("not an absolute path".into());
    }
    match crate::files::read_small(std::path::Path::new(file)) {
        Err(error) => Some(format!("cannot be read here ({error})")),
        Ok(pem) => match openssl::x509::X509::stack_from_pem(&pem) {
            Ok(certificates) if !certificates.is_empty() => None,
            _ => Some("holds no PEM certificate".into()),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_commands_and_field_mappings() {
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
    }
}
