//! The checker every section's validation reports through: it knows the file being loaded
//! (its name for messages, its text for line numbers, its directory for relative paths) and
//! collects every problem rather than stopping at the first. A leaf: it imports no section.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use super::ConfigIssue;

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

    pub(super) fn report(&mut self, span: Option<&Range<usize>>, field: String, message: String) {
        let line = span.map(|span| self.line_of(span));
        self.issues.push(ConfigIssue {
            file: self.file.clone(),
            line,
            field,
            message,
        });
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
