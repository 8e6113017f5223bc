//! The checker every section's validation reports through: it knows the file being loaded
//! (its name for messages, its text for line numbers, its directory for relative paths) and
//! collects every problem rather than stopping at the first. A leaf: it imports no section.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use super::error::ConfigIssue;

/// Collects issues while walking the file form.
pub(super) struct Checker<'a> {
    file: String,
    text: &'a str,
    /// Absolute and lexically clean; relative paths in the file are joined to it.
    dir: PathBuf,
    issues: Vec<ConfigIssue>,
}

impl<'a> Checker<'a> {
    /// `path` is the config file as named (`None` for the embedded demo, whose relative paths
    /// are taken from the working directory).
    pub(super) fn new(file: String, text: &'a str, path: Option<&Path>) -> Self {
        let dir = path
            .and_then(Path::parent)
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // `absolute` fails only without a working directory; paths then stay relative, which
        // is all that can be done and what the messages will show.
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        Checker {
            file,
            text,
            dir: normalize(&dir),
            issues: Vec::new(),
        }
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// `file:line` of a span, as messages about the live configuration name a definition.
    pub(super) fn location(&self, span: &Range<usize>) -> String {
        format!("{}:{}", self.file, self.line_of(span))
    }

    /// The 1-based column of the span's start, counted in characters.
    fn column_of(&self, span: &Range<usize>) -> usize {
        let mut end = span.start.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let line_start = self.text[..end]
            .rfind('\n')
            .map_or(0, |newline| newline + 1);
        self.text[line_start..end].chars().count() + 1
    }

    pub(super) fn report(&mut self, span: Option<&Range<usize>>, field: String, message: String) {
        let line = span.map(|span| self.line_of(span));
        self.issues.push(ConfigIssue {
            file: self.file.clone(),
            line,
            column: None,
            field,
            message,
        });
    }

    /// Every TOML syntax error of the text, each with its line and column (the parser
    /// recovers and goes on after an error); `false` when the text is TOML. Type errors (a
    /// string where a number belongs) are serde's and come one at a time, through
    /// [`Checker::report_toml_error`].
    pub(super) fn report_syntax_errors(&mut self) -> bool {
        let (_, mut errors) = toml::de::DeTable::parse_recoverable(self.text);
        // In the order of the file, which is not always the order they were found in.
        errors.sort_by_key(|error| error.span().map(|span| span.start));
        for error in &errors {
            let span = error.span();
            self.issues.push(ConfigIssue {
                file: self.file.clone(),
                line: span.as_ref().map(|span| self.line_of(span)),
                column: span.as_ref().map(|span| self.column_of(span)),
                field: String::new(),
                message: error.message().trim().to_owned(),
            });
        }
        !errors.is_empty()
    }

    /// A TOML syntax or type error (serde's: unknown key, unknown variant, wrong type), with
    /// the field it sits in when the text parses as TOML at all.
    pub(super) fn report_toml_error(&mut self, error: &toml::de::Error) {
        let span = error.span();
        let field = span
            .as_ref()
            .and_then(|span| field_at(self.text, span.start))
            .unwrap_or_default();
        self.report(span.as_ref(), field, error.message().trim().to_owned());
    }

    /// A path from the file, resolved once, here: relative to the config file's directory,
    /// with `.` and `..` taken in the text (docs/configuration.md, "Paths").
    pub(super) fn path(&self, text: &str) -> PathBuf {
        normalize(&self.dir.join(text.trim()))
    }

    /// Everything reported, in order; empty when the file is valid.
    pub(super) fn into_issues(self) -> Vec<ConfigIssue> {
        self.issues
    }

    pub(super) fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }
}

/// One step of a key path: a key, or an index into an array.
enum Step<'t> {
    Key(&'t str),
    Index(usize),
}

/// The field at byte `at` of `text`, labelled the way the checks label fields.
fn field_at(text: &str, at: usize) -> Option<String> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find(document.get_ref(), at, &mut path).then(|| label(&path))
}

/// Descends to the key, or the value, whose span holds `at`. Table spans are not relied on
/// (a `[header]` table's span is its header), so every table is searched.
fn find<'t>(table: &'t toml::de::DeTable<'_>, at: usize, path: &mut Vec<Step<'t>>) -> bool {
    for (key, value) in table {
        path.push(Step::Key(key.get_ref()));
        if key.span().contains(&at) || holds(value, at, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn holds<'t>(
    value: &'t toml::Spanned<toml::de::DeValue<'_>>,
    at: usize,
    path: &mut Vec<Step<'t>>,
) -> bool {
    match value.get_ref() {
        toml::de::DeValue::Table(table) => find(table, at, path),
        toml::de::DeValue::Array(items) => {
            items.iter().enumerate().any(|(index, item)| {
                path.push(Step::Index(index));
                let found = holds(item, at, path);
                if !found {
                    path.pop();
                }
                found
            }) || value.span().contains(&at)
        }
        _ => value.span().contains(&at),
    }
}

/// The complaint about a name or login that holds a control character (a line break, a tab,
/// NUL...): clients show names on one line and send a login name byte for byte, and a CR/LF
/// pair would start a new line in every answer that carries it.
pub(super) fn control_character(text: &str) -> Option<String> {
    text.chars().find(|c| c.is_control()).map(|c| {
        format!(
            "contains the control character U+{:04X}; write it on one line, without control characters",
            u32::from(c)
        )
    })
}

/// `domain "example.org": smtp[1].port`, `defaults: imap[0].security`, `backends.dir.scope`.
fn label(path: &[Step<'_>]) -> String {
    let dotted = |steps: &[Step<'_>]| {
        let mut out = String::new();
        for step in steps {
            match step {
                Step::Key(key) if out.is_empty() => out.push_str(key),
                Step::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                Step::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    };
    let (head, rest) = match path {
        [Step::Key("domains"), Step::Key(name), rest @ ..] => (format!("domain {name:?}"), rest),
        [Step::Key("defaults"), rest @ ..] => ("defaults".to_owned(), rest),
        _ => return dotted(path),
    };
    if rest.is_empty() {
        head
    } else {
        format!("{head}: {}", dotted(rest))
    }
}

/// Lexical clean-up: `.` dropped, `..` removes the component before it (never climbing above
/// the root). Symlinks are not looked at: the kernel follows them when the file is opened, so
/// a certificate behind a re-pointed `live/` link is read anew at the next load.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                // Only when the working directory was unknown: a relative path stays relative.
                Some(Component::CurDir | Component::ParentDir) | None => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(config: &str, value: &str) -> PathBuf {
        Checker::new(String::new(), "", Some(Path::new(config))).path(value)
    }

    fn toml_error(text: &str) -> String {
        let error = toml::from_str::<super::super::file::ConfigFile>(text).unwrap_err();
        let mut checker = Checker::new("mxconf.toml".into(), text, None);
        checker.report_toml_error(&error);
        checker.into_issues()[0].to_string()
    }

    #[test]
    fn toml_errors_name_their_field() {
        let provider = "[provider]\nid = \"e.org\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n";
        assert_eq!(
            toml_error(&format!(
                "{provider}[[domains.\"a.org\".imap]]\nhost = \"h.a.org\"\nport = 993\n\
                 security = \"tls\"\n[[domains.\"a.org\".imap]]\nhost = \"h.a.org\"\n\
                 port = 143\nsecurity = \"ssl\"\n"
            )),
            "mxconf.toml:12: domain \"a.org\": imap[1].security: unknown variant `ssl`, \
             expected one of `tls`, `starttls`, `plain`"
        );
        let unknown = toml_error(&format!("{provider}[server]\nbogus = 1\n"));
        assert!(
            unknown.starts_with("mxconf.toml:6: server.bogus: unknown field `bogus`"),
            "{unknown}"
        );
        let wrong_type = toml_error(&format!("{provider}[defaults]\ncaldav = 1\n"));
        assert!(
            wrong_type.starts_with("mxconf.toml:6: defaults: caldav: invalid type"),
            "{wrong_type}"
        );
        // Not TOML at all: the line, without a field.
        let syntax = toml_error(&format!("{provider}[server\n"));
        assert!(syntax.starts_with("mxconf.toml:5: "), "{syntax}");
    }

    /// The parser recovers after a syntax error, so one run names every broken line, each with
    /// its column; serde's type errors come one at a time, with their field.
    #[test]
    fn every_syntax_error_is_reported_with_line_and_column() {
        let text = "[provider]\nid = \"e.org\ndisplay-name = \"E\"\n[server\nlisten = [\"a\"\n\
                    short = 1 2\n";
        let source = crate::config::ConfigSource::File("mxconf.toml".into());
        let Err(crate::config::ConfigError::Invalid(issues)) =
            crate::config::Config::from_toml(text, source)
        else {
            panic!("broken TOML loads");
        };
        let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert!(lines.len() >= 3, "{lines:#?}");
        assert!(lines[0].starts_with("mxconf.toml:2:12: "), "{lines:#?}");
        for (line, column) in [(2, 12), (4, 8)] {
            let at = format!("mxconf.toml:{line}:{column}: ");
            assert!(
                lines.iter().any(|issue| issue.starts_with(&at)),
                "{at} in {lines:#?}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|issue| issue.starts_with("mxconf.toml:6:")),
            "{lines:#?}"
        );
    }

    #[test]
    fn paths_are_joined_to_the_config_dir_and_cleaned_lexically() {
        assert_eq!(
            resolve(
                "/etc/mxconf/mxconf.toml",
                "../../var/lib/mxconf/users.sqlite"
            ),
            Path::new("/var/lib/mxconf/users.sqlite")
        );
        assert_eq!(
            resolve("/etc/mxconf/mxconf.toml", "./tls/./key.pem"),
            Path::new("/etc/mxconf/tls/key.pem")
        );
        // Absolute paths ignore the config's directory, and are cleaned the same way.
        assert_eq!(
            resolve("/etc/mxconf/mxconf.toml", "/srv/mail/../db/users.sqlite"),
            Path::new("/srv/db/users.sqlite")
        );
        assert_eq!(resolve("/etc/mxconf.toml", "../../../x"), Path::new("/x"));
        // A relative config path is made absolute against the working directory.
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            resolve("etc/mxconf/mxconf.toml", "../../users.sqlite"),
            cwd.join("users.sqlite")
        );
        assert_eq!(
            resolve("mxconf.toml", "users.sqlite"),
            cwd.join("users.sqlite")
        );
    }
}
