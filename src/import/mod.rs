//! Migration from foreign formats into `mxconf.toml` text: automx's INI (`automx`), automx2's
//! database or seed (`automx2`) and Thunderbird ISPDB provider files (`ispdb`). Each importer reads its format into the small
//! model below, and one writer turns the model into commented TOML, so the output always has
//! the same shape and quoting. Sits beside `config` (it writes what `config` reads); never
//! imports `server` or `cli`.

pub mod automx;
pub mod automx2;
pub mod ispdb;
mod model;
mod write;

pub use model::{BackendOut, DomainOut, Imported, Output, ServerOut, TableOut, TomlValue};

use crate::account::{Domain, Template};

/// Why a foreign file could not be imported. Every variant names the file and, where the
/// parser knows it, the line, so `mxconf import` errors read `file:line: what is wrong`.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not the format it claims to be (INI or XML syntax).
    #[error("{}: {message}", location(.file, *.line))]
    Syntax {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// The text parses, but a value cannot be carried over (e.g. a port that is not a number).
    #[error("{}: {message}", location(.file, *.line))]
    Invalid {
        file: String,
        line: Option<usize>,
        message: String,
    },
}

/// Larger inputs are refused before parsing: parsers are bounded. The biggest real
/// files are far below this: automx.conf a few KiB, ISPDB files under 10 KiB.
pub const MAX_INPUT: usize = 4 * 1024 * 1024;

/// Refuses input over [`MAX_INPUT`] before any parser sees it.
fn check_size(text: &str, file: &str) -> Result<(), ImportError> {
    if text.len() > MAX_INPUT {
        return Err(ImportError::Invalid {
            file: file.to_owned(),
            line: None,
            message: format!(
                "larger than {} MiB; not a configuration file",
                MAX_INPUT >> 20
            ),
        });
    }
    Ok(())
}

fn location(file: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

/// Adds `name` to `domains` in canonical form unless it is already there; `false` when it is
/// not a domain name (the caller says so in the output's comments).
fn add_domain(domains: &mut Vec<String>, name: &str) -> bool {
    match Domain::parse(name) {
        Ok(domain) => {
            let domain = domain.to_string();
            if !domains.contains(&domain) {
                domains.push(domain);
            }
            true
        }
        Err(_) => false,
    }
}

/// True when `host` is a host name once `%EMAILDOMAIN%` is filled in (the only placeholder a
/// host may hold before the importer writes it out per domain).
fn is_host_template(host: &str) -> bool {
    Domain::parse(&Template::new(host).probe_domain()).is_ok()
}

/// `bind-dn` and the `password-file` the admin creates for the LDAP source `name` that bound
/// as `dn`: passwords never go into mxconf.toml. `option` is the password's name in the
/// foreign format, for the note.
fn bind_keys(
    name: &str,
    dn: &str,
    option: &str,
    keys: &mut Vec<(&'static str, TomlValue)>,
    notes: &mut Vec<String>,
) {
    keys.push(("bind-dn", TomlValue::Str(dn.to_owned())));
    let file = format!("/etc/mxconf/{name}.password");
    notes.push(format!(
        "Put {option} into {file} (one line, mode 0600): passwords never go into mxconf.toml."
    ));
    keys.push(("password-file", TomlValue::Str(file)));
}

/// Cuts `text` to at most `limit` characters (the config's caps on provider names), saying so
/// in `notes` when it had to.
fn fit(text: &str, limit: usize, field: &str, notes: &mut Vec<String>) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let cut: String = text
        .chars()
        .take(limit)
        .collect::<String>()
        .trim_end()
        .to_owned();
    notes.push(format!(
        "{field} shortened to {limit} characters (autoconfig draft limit); was: {text}"
    ));
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = "#".repeat(MAX_INPUT + 1);
        for result in [automx::import(&big, "big"), ispdb::import(&big, "big")] {
            assert!(
                matches!(result, Err(ImportError::Invalid { line: None, .. })),
                "{result:?}"
            );
        }
    }

    #[test]
    fn fit_cuts_and_explains() {
        let mut notes = Vec::new();
        assert_eq!(fit("short", 20, "x", &mut notes), "short");
        assert!(notes.is_empty());
        assert_eq!(fit("abcdefghij klm", 11, "x", &mut notes), "abcdefghij");
        assert_eq!(notes.len(), 1);
    }
}
