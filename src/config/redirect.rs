//! Per-domain Autodiscover redirects: `redirect-to-domain` (a domain alias: `user@this` is sent
//! to `user@TARGET`) and `autodiscover-redirect-url` (this domain's settings live on another
//! Autodiscover server). Both keys are read with the rest of a domain table (`domain.rs`); this
//! file checks them and, once every domain is known, that alias targets are served here without
//! chains or loops. It knows domains only through the lookup it is handed.

use toml::Spanned;

use super::checker::Checker;
use crate::account::{Domain, web_url};

const TO_DOMAIN: &str = "redirect-to-domain";
const TO_URL: &str = "autodiscover-redirect-url";

/// A domain's validated redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRedirect {
    /// Addresses move to this domain, which this config serves without a redirect of its own.
    Domain(Domain),
    /// An `https://` POX Autodiscover URL on another server.
    Url(String),
}

/// What the redirect check needs to know of a configured domain.
pub(super) struct Hop<'a> {
    pub pattern: &'a str,
    pub redirect: Option<&'a DomainRedirect>,
}

/// The redirect of one `[domains."…"]` table, from its own keys (not merged with the defaults,
/// which may not redirect); `own_settings` are the settings keys the table sets itself.
pub(super) fn check(
    checker: &mut Checker<'_>,
    label: &str,
    to_domain: Option<&Spanned<String>>,
    to_url: Option<&Spanned<String>>,
    own_settings: &[&str],
) -> Option<DomainRedirect> {
    let (value, key) = match (to_domain, to_url) {
        (None, None) => return None,
        (Some(_), Some(url)) => {
            checker.report(
                Some(&url.span()),
                format!("{label}: {TO_URL}"),
                format!("set either {TO_DOMAIN} or {TO_URL}, not both"),
            );
            return None;
        }
        (Some(domain), None) => (domain, TO_DOMAIN),
        (None, Some(url)) => (url, TO_URL),
    };
    // A redirecting domain answers with no settings of its own: anything set here would
    // silently do nothing.
    if !own_settings.is_empty() {
        checker.report(
            Some(&value.span()),
            format!("{label}: {key}"),
            format!(
                "a redirecting domain serves no settings of its own; remove {}",
                own_settings.join(", ")
            ),
        );
    }
    let text = value.get_ref().trim();
    if key == TO_DOMAIN {
        match Domain::parse(text) {
            Ok(domain) => Some(DomainRedirect::Domain(domain)),
            Err(_) => {
                report(
                    checker,
                    label,
                    key,
                    value,
                    format!("{text:?} is not a domain name"),
                );
                None
            }
        }
    } else {
        match web_url(text) {
            // Outlook re-POSTs the user's credentials to this URL: https only (MS-OXDSCLI
            // 3.1.5.1; Outlook itself refuses an http redirect target).
            Some(url) if url.scheme() == "https" => Some(DomainRedirect::Url(url.to_string())),
            _ => {
                report(
                    checker,
                    label,
                    key,
                    value,
                    format!("{text:?} is not an https:// URL"),
                );
                None
            }
        }
    }
}

/// `[defaults]` is merged into every domain; a redirect there would redirect everything.
pub(super) fn check_defaults(
    checker: &mut Checker<'_>,
    to_domain: Option<&Spanned<String>>,
    to_url: Option<&Spanned<String>>,
) {
    for (key, value) in [(TO_DOMAIN, to_domain), (TO_URL, to_url)] {
        if let Some(value) = value {
            report(
                checker,
                "defaults",
                key,
                value,
                "only allowed in a [domains.\"…\"] table".into(),
            );
        }
    }
}

/// An alias target must be served here and serve settings itself. Chains are refused, not
/// followed: Thunderbird follows `RedirectAddr` at most twice (docs/protocols.md, "One redirect
/// hop"), and one hop keeps every answer one lookup away. A loop is a chain that comes back; it
/// is named as such.
/// `start` is the aliasing domain's pattern; `lookup` finds a domain as requests find it.
pub(super) fn check_target<'a>(
    checker: &mut Checker<'_>,
    label: &str,
    start: &str,
    value: &Spanned<String>,
    lookup: impl Fn(&Domain) -> Option<Hop<'a>>,
) {
    // An unparsable target was reported by `check`.
    let Ok(target) = Domain::parse(value.get_ref()) else {
        return;
    };
    if let Err(message) = follow(start, &target, lookup) {
        report(checker, label, TO_DOMAIN, value, message);
    }
}

/// Walks the redirects from `start` (a configured pattern) through `target`.
fn follow<'a>(
    start: &str,
    target: &Domain,
    lookup: impl Fn(&Domain) -> Option<Hop<'a>>,
) -> Result<(), String> {
    let Some(mut hop) = lookup(target) else {
        return Err(format!(
            "{target:?} is not a domain this config serves",
            target = target.as_str()
        ));
    };
    let mut path = vec![start.to_owned()];
    loop {
        let seen = path.iter().any(|pattern| pattern == hop.pattern);
        path.push(hop.pattern.to_owned());
        match hop.redirect {
            None => break,
            Some(DomainRedirect::Url(url)) => {
                path.push(url.clone());
                break;
            }
            Some(DomainRedirect::Domain(_)) if seen => {
                return Err(format!("redirect loop: {}", path.join(" → ")));
            }
            Some(DomainRedirect::Domain(next)) => match lookup(next) {
                Some(next) => hop = next,
                // Reported at that domain.
                None => break,
            },
        }
    }
    if path.len() > 2 {
        Err(format!(
            "{:?} redirects again ({}); point {TO_DOMAIN} at the final domain",
            path[1],
            path.join(" → ")
        ))
    } else {
        Ok(())
    }
}

fn report(
    checker: &mut Checker<'_>,
    label: &str,
    key: &str,
    value: &Spanned<String>,
    message: String,
) {
    checker.report(Some(&value.span()), format!("{label}: {key}"), message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError, ConfigSource};

    const PROVIDER: &str =
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";
    const SERVED: &str = "[[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n";

    fn load(rest: &str) -> Result<Config, ConfigError> {
        let text = format!("{PROVIDER}{SERVED}{rest}");
        Config::from_toml(&text, ConfigSource::File("mxconf.toml".into()))
    }

    fn errors(rest: &str) -> Vec<String> {
        match load(rest) {
            Err(ConfigError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    fn redirect_of(config: &Config, name: &str) -> Option<DomainRedirect> {
        config
            .domain(&Domain::parse(name).unwrap())
            .unwrap()
            .redirect
            .clone()
    }

    #[test]
    fn both_forms_load_in_exact_and_wildcard_domains() {
        let config = load(
            "[domains.\"old.example\"]\nredirect-to-domain = \"Example.ORG\"\n\
             [domains.\"*.legacy.example\"]\nredirect-to-domain = \"example.org\"\n\
             [domains.\"hosted.example\"]\n\
             autodiscover-redirect-url = \"https://Autodiscover.Other.example/autodiscover/autodiscover.xml\"\n",
        )
        .unwrap();
        let target = DomainRedirect::Domain(Domain::parse("example.org").unwrap());
        assert_eq!(redirect_of(&config, "old.example"), Some(target.clone()));
        assert_eq!(redirect_of(&config, "a.b.legacy.example"), Some(target));
        assert_eq!(
            redirect_of(&config, "hosted.example"),
            Some(DomainRedirect::Url(
                "https://autodiscover.other.example/autodiscover/autodiscover.xml".into()
            ))
        );
        assert_eq!(redirect_of(&config, "example.org"), None);
    }

    #[test]
    fn unknown_target_names_file_line_and_field() {
        assert_eq!(
            errors("[domains.\"old.example\"]\nredirect-to-domain = \"nowhere.example\"\n"),
            [
                "mxconf.toml:10: domain \"old.example\": redirect-to-domain: \
                 \"nowhere.example\" is not a domain this config serves"
            ]
        );
    }

    #[test]
    fn loops_and_chains_are_refused() {
        assert_eq!(
            errors("[domains.\"a.example\"]\nredirect-to-domain = \"A.example\"\n"),
            [
                "mxconf.toml:10: domain \"a.example\": redirect-to-domain: redirect loop: a.example → a.example"
            ]
        );
        assert_eq!(
            errors(
                "[domains.\"a.example\"]\nredirect-to-domain = \"b.example\"\n\
                 [domains.\"b.example\"]\nredirect-to-domain = \"a.example\"\n"
            ),
            [
                "mxconf.toml:10: domain \"a.example\": redirect-to-domain: redirect loop: a.example → b.example → a.example",
                "mxconf.toml:12: domain \"b.example\": redirect-to-domain: redirect loop: b.example → a.example → b.example",
            ]
        );
        // A wildcard whose target it matches itself.
        assert_eq!(
            errors("[domains.\"*.w.example\"]\nredirect-to-domain = \"x.w.example\"\n"),
            [
                "mxconf.toml:10: domain \"*.w.example\": redirect-to-domain: redirect loop: *.w.example → *.w.example"
            ]
        );
        assert_eq!(
            errors(
                "[domains.\"a.example\"]\nredirect-to-domain = \"b.example\"\n\
                 [domains.\"b.example\"]\nredirect-to-domain = \"example.org\"\n\
                 [domains.\"c.example\"]\nredirect-to-domain = \"d.example\"\n\
                 [domains.\"d.example\"]\nautodiscover-redirect-url = \"https://ad.other.example/autodiscover/autodiscover.xml\"\n"
            ),
            [
                "mxconf.toml:10: domain \"a.example\": redirect-to-domain: \"b.example\" redirects again \
                 (a.example → b.example → example.org); point redirect-to-domain at the final domain",
                "mxconf.toml:14: domain \"c.example\": redirect-to-domain: \"d.example\" redirects again \
                 (c.example → d.example → https://ad.other.example/autodiscover/autodiscover.xml); \
                 point redirect-to-domain at the final domain",
            ]
        );
    }

    #[test]
    fn bad_values_both_keys_defaults_and_dead_settings_are_refused() {
        assert_eq!(
            errors(
                "[domains.\"a.example\"]\nautodiscover-redirect-url = \"http://ad.other.example/autodiscover/autodiscover.xml\"\n\
                 [domains.\"b.example\"]\nredirect-to-domain = \"example.org\"\nautodiscover-redirect-url = \"https://ad.other.example/\"\n\
                 [domains.\"c.example\"]\nredirect-to-domain = \"not a domain\"\n\
                 [domains.\"d.example\"]\nredirect-to-domain = \"example.org\"\nactivesync = \"https://mail.example.org/Microsoft-Server-ActiveSync\"\n\
                 sources = []\n"
            ),
            [
                "mxconf.toml:10: domain \"a.example\": autodiscover-redirect-url: \
                 \"http://ad.other.example/autodiscover/autodiscover.xml\" is not an https:// URL",
                "mxconf.toml:13: domain \"b.example\": autodiscover-redirect-url: \
                 set either redirect-to-domain or autodiscover-redirect-url, not both",
                "mxconf.toml:15: domain \"c.example\": redirect-to-domain: \"not a domain\" is not a domain name",
                "mxconf.toml:17: domain \"d.example\": redirect-to-domain: \
                 a redirecting domain serves no settings of its own; remove activesync, sources",
            ]
        );
        let text = format!("{PROVIDER}[defaults]\nredirect-to-domain = \"example.org\"\n{SERVED}");
        let error = Config::from_toml(&text, ConfigSource::File("mxconf.toml".into())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "mxconf.toml:6: defaults: redirect-to-domain: only allowed in a [domains.\"…\"] table"
        );
    }

    #[test]
    fn the_commented_demo_examples_load() {
        let text = crate::config::DEMO_TOML
            .replace(
                "# [domains.\"old-name.example\"]",
                "[domains.\"old-name.example\"]",
            )
            .replace("# redirect-to-domain = ", "redirect-to-domain = ")
            .replace(
                "# [domains.\"hosted.example\"]",
                "[domains.\"hosted.example\"]",
            )
            .replace(
                "# autodiscover-redirect-url = ",
                "autodiscover-redirect-url = ",
            );
        assert_ne!(text, crate::config::DEMO_TOML);
        let config = Config::from_toml(&text, ConfigSource::EmbeddedDemo).unwrap();
        assert_eq!(
            redirect_of(&config, "old-name.example"),
            Some(DomainRedirect::Domain(
                Domain::parse("example.com").unwrap()
            ))
        );
        assert!(matches!(
            redirect_of(&config, "hosted.example"),
            Some(DomainRedirect::Url(_))
        ));
        let demo = Config::demo().unwrap();
        assert!(
            demo.domain(&Domain::parse("old-name.example").unwrap())
                .is_none()
        );
    }
}
