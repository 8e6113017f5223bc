//! Placeholders in config text: `%EMAILADDRESS%`, `%EMAILLOCALPART%`, `%EMAILDOMAIN%` (the
//! Mozilla autoconfig vocabulary, also automx's `%s %u %d`), in login names, URLs, LDAP
//! filters, command arguments and profile labels. [`Template`] is the one expansion and the
//! one probe the checks use; [`web_url`] is the one rule for a URL a client is sent. Pure
//! string work; knows nothing of protocols.

use std::borrow::Cow;

use super::{Domain, EmailAddress};

/// The placeholders mxconf understands, in the form admins write them.
pub const PLACEHOLDERS: [&str; 3] = ["%EMAILADDRESS%", "%EMAILLOCALPART%", "%EMAILDOMAIN%"];

/// The address checks fill templates with, to see what they become.
const PROBE_LOCAL_PART: &str = "user";
const PROBE_DOMAIN: &str = "example.org";

/// Text that may hold placeholders. A view over the text as configured (or as a renderer
/// holds it), so expanding needs no copy of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template<'a>(&'a str);

impl<'a> Template<'a> {
    pub fn new(text: &'a str) -> Self {
        Template(text)
    }

    /// Every placeholder replaced with the parts of `address`.
    pub fn expand(self, address: &EmailAddress) -> String {
        self.expand_escaped(address, Cow::Borrowed)
    }

    /// Every placeholder replaced with the parts of `address`, each inserted value passed
    /// through `escape` (RFC 4515 for an LDAP filter). One left-to-right pass: a local part
    /// may itself contain `%EMAILDOMAIN%`, and a second pass would expand text the user chose.
    pub fn expand_escaped<'v>(
        self,
        address: &'v EmailAddress,
        escape: impl Fn(&'v str) -> Cow<'v, str>,
    ) -> String {
        self.fill(
            address.as_str(),
            address.local_part(),
            address.domain().as_str(),
            escape,
        )
    }

    /// Only `%EMAILDOMAIN%` replaced: what a domain-level answer can know.
    pub fn expand_domain(self, domain: &Domain) -> String {
        self.0.replace("%EMAILDOMAIN%", domain.as_str())
    }

    /// True when the text still holds a placeholder that needs a full address.
    pub fn has_placeholder(self) -> bool {
        // Every placeholder starts with '%'; one byte scan settles nearly every call.
        self.0.contains('%') && PLACEHOLDERS.iter().any(|p| self.0.contains(p))
    }

    /// The text as it becomes for `user@example.org`: what the checks parse, so that
    /// `https://dav.example.org/%EMAILLOCALPART%/` is checked as the URL it becomes.
    pub fn probe(self) -> String {
        let address = format!("{PROBE_LOCAL_PART}@{PROBE_DOMAIN}");
        self.fill(&address, PROBE_LOCAL_PART, PROBE_DOMAIN, Cow::Borrowed)
    }

    /// The text as it becomes for any address at `example.org`, when only `%EMAILDOMAIN%` may
    /// appear (a host name written per domain).
    pub fn probe_domain(self) -> String {
        self.0.replace("%EMAILDOMAIN%", PROBE_DOMAIN)
    }

    /// True when the text becomes an http(s) URL ([`web_url`]) once placeholders are filled.
    pub fn is_web_url(self) -> bool {
        web_url(&self.probe()).is_some()
    }

    fn fill<'v>(
        self,
        address: &'v str,
        local_part: &'v str,
        domain: &'v str,
        escape: impl Fn(&'v str) -> Cow<'v, str>,
    ) -> String {
        // One pass and one allocation: this runs for every server and URL of every answer.
        let mut out = String::with_capacity(self.0.len() + address.len());
        let mut rest = self.0;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            let hit = [
                ("%EMAILADDRESS%", address),
                ("%EMAILLOCALPART%", local_part),
                ("%EMAILDOMAIN%", domain),
            ]
            .into_iter()
            .find(|(placeholder, _)| tail.starts_with(placeholder));
            match hit {
                Some((placeholder, value)) => {
                    out.push_str(&escape(value));
                    rest = &tail[placeholder.len()..];
                }
                None => {
                    out.push('%');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// The one rule for a URL a client is sent (a domain's services, a source's URL fields, an
/// imported URL): it parses, its scheme is http or https, and it names a host.
pub fn web_url(text: &str) -> Option<url::Url> {
    url::Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "https" | "http") && url.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_all_placeholders() {
        let a = EmailAddress::parse("Jane.Doe@Example.COM").unwrap();
        let expand = |text| Template::new(text).expand(&a);
        assert_eq!(
            expand("%EMAILLOCALPART%+%EMAILDOMAIN%/%EMAILADDRESS%"),
            "Jane.Doe+example.com/Jane.Doe@example.com"
        );
        assert_eq!(expand("fixed"), "fixed");
        // An address is inserted literally, never expanded again.
        let tricky = EmailAddress::parse("%EMAILDOMAIN%@example.com").unwrap();
        assert_eq!(
            Template::new("%EMAILADDRESS%").expand(&tricky),
            "%EMAILDOMAIN%@example.com"
        );
        assert_eq!(expand("50%% %EMAILDOMAIN"), "50%% %EMAILDOMAIN");
        assert!(Template::new("%EMAILLOCALPART%").has_placeholder());
        assert!(!Template::new("%EMAILADDRESS").has_placeholder());
    }

    #[test]
    fn placeholders_expand_once_and_escaped() {
        let address = EmailAddress::parse("%EMAILDOMAIN%*@example.org").unwrap();
        let filter = Template::new("(&(uid=%EMAILLOCALPART%)(mail=%EMAILADDRESS%)) 100%")
            .expand_escaped(&address, ::ldap3::ldap_escape);
        assert_eq!(
            filter,
            "(&(uid=%EMAILDOMAIN%\\2a)(mail=%EMAILDOMAIN%\\2a@example.org)) 100%"
        );
    }

    #[test]
    fn probes_and_the_url_rule() {
        let dav = Template::new("https://dav.%EMAILDOMAIN%/%EMAILLOCALPART%/");
        assert_eq!(dav.probe(), "https://dav.example.org/user/");
        assert!(dav.is_web_url());
        assert_eq!(
            Template::new("imap.%EMAILDOMAIN%").probe_domain(),
            "imap.example.org"
        );
        assert_eq!(
            Template::new("%EMAILLOCALPART%.x").probe_domain(),
            "%EMAILLOCALPART%.x"
        );
        for bad in [
            "ftp://x.example.org/",
            "javascript:alert(1)",
            "https://",
            "/path",
        ] {
            assert!(web_url(bad).is_none(), "{bad}");
        }
        assert!(web_url("http://x.example.org/a?b=1").is_some());
    }
}
