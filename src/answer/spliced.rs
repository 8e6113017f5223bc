//! Answers rendered once per domain at load, with the address's local part spliced in per
//! request: for a static-only domain (no per-user source, no redirect) the autoconfig and POX
//! answers are a pure function of the address, and the address enters them only as text. So
//! each is rendered for a sentinel address, the sentinel's places are remembered, and a request
//! gets the document with its own local part escaped into those places: one copy instead of
//! resolving and rendering. A reload builds new [`Answers`](super::Answers), so these with it.
//!
//! A template is kept only when it reproduces the full rendering, byte for byte, for probe
//! addresses that need escaping and keep their case; a domain whose answers use the address in
//! any other way (a percent-encoded URL, say) is rendered per request as before.

use std::collections::HashMap;

use crate::account::{Account, Domain, EmailAddress};
use crate::protocol::autodiscover::ResponseSchema;
use crate::protocol::autodiscover::outlook;
use crate::protocol::xml::push_escaped;
use crate::protocol::{Rendered, autoconfig, autodiscover};
use crate::resolve::Resolver;

/// Stands for the local part while rendering; letters and digits only, so it is never escaped.
const SENTINEL: &str = "mxconf0sentinel0local0part";
/// Local parts the templates are checked with: mixed case, markup characters, one character.
const PROBES: [&str; 3] = ["Jane.Doe+Tag", "o'neil&co", "x"];
/// Templates kept in all; the domains beyond (a very large configuration) render per request.
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// One answer with the places the local part goes.
#[derive(Debug)]
struct Template {
    /// The rendering without the sentinel.
    body: Vec<u8>,
    /// Offsets into `body` where the local part is inserted, ascending.
    places: Vec<usize>,
    status: u16,
    content_type: &'static str,
    error_document: bool,
}

impl Template {
    /// Renders `render` for the sentinel address at `domain` and keeps the result when it
    /// splices back to the full rendering for every probe.
    fn build(domain: &Domain, render: impl Fn(&EmailAddress) -> Option<Rendered>) -> Option<Self> {
        let at = |local: &str| EmailAddress::parse(&format!("{local}@{domain}")).ok();
        let rendered = render(&at(SENTINEL)?)?;
        let mut body = Vec::with_capacity(rendered.body.len());
        let mut places = Vec::new();
        let mut rest = rendered.body.as_slice();
        while let Some(found) = find(rest, SENTINEL.as_bytes()) {
            body.extend_from_slice(&rest[..found]);
            places.push(body.len());
            rest = &rest[found + SENTINEL.len()..];
        }
        body.extend_from_slice(rest);
        let template = Template {
            body,
            places,
            status: rendered.status,
            content_type: rendered.content_type,
            error_document: rendered.error_document,
        };
        let reproduces = |local: &str| {
            at(local)
                .and_then(|email| render(&email))
                .is_some_and(|full| {
                    let spliced = template.splice(local);
                    full.body == spliced.body
                        && full.status == spliced.status
                        && full.content_type == spliced.content_type
                        && full.error_document == spliced.error_document
                })
        };
        PROBES
            .iter()
            .all(|probe| reproduces(probe))
            .then_some(template)
    }

    fn splice(&self, local_part: &str) -> Rendered {
        let mut escaped = String::with_capacity(local_part.len());
        push_escaped(&mut escaped, local_part);
        let mut body = Vec::with_capacity(self.body.len() + self.places.len() * escaped.len());
        let mut from = 0;
        for &place in &self.places {
            body.extend_from_slice(&self.body[from..place]);
            body.extend_from_slice(escaped.as_bytes());
            from = place;
        }
        body.extend_from_slice(&self.body[from..]);
        Rendered {
            status: self.status,
            content_type: self.content_type,
            body,
            error_document: self.error_document,
        }
    }

    fn size(&self) -> usize {
        self.body.len() + self.places.len() * size_of::<usize>()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A domain's precomputed answers: autoconfig, POX in the Outlook and MobileSync schemas, and
/// the domain-level autoconfig and POX answers (no address, so nothing to splice).
#[derive(Debug)]
struct DomainTemplates {
    autoconfig: Option<Template>,
    outlook: Option<Template>,
    mobilesync: Option<Template>,
    domain_autoconfig: Option<Rendered>,
    domain_pox: Option<Rendered>,
}

/// Every static-only exact domain's precomputed answers.
#[derive(Debug, Default)]
pub struct Spliced {
    domains: HashMap<Domain, DomainTemplates>,
}

impl Spliced {
    /// Renders the templates of every exact, static-only domain (wildcards render per
    /// request: their `<domain>` is the name asked for), up to [`MAX_BYTES`] in all.
    pub fn build(resolver: &Resolver) -> Self {
        let mut domains = HashMap::new();
        let mut bytes = 0;
        let mut skipped = 0;
        let config = resolver.config();
        for settings in config.domain_patterns() {
            let Ok(domain) = Domain::parse(&settings.pattern) else {
                continue; // a wildcard pattern
            };
            if domain.as_str() != settings.pattern {
                continue;
            }
            if bytes > MAX_BYTES {
                skipped += 1;
                continue;
            }
            let account = |email: &EmailAddress| resolver.resolve_static(email);
            // Only for the static-only domains the templates are for.
            let domain_level = resolver
                .is_static(&domain)
                .then(|| resolver.resolve_domain(&domain).ok())
                .flatten();
            let with = |render: fn(&Account) -> Rendered| {
                Template::build(&domain, |email| account(email).map(|a| render(&a)))
            };
            let templates = DomainTemplates {
                autoconfig: with(autoconfig::render),
                outlook: with(|a| autodiscover::render(ResponseSchema::Outlook, a)),
                mobilesync: with(|a| autodiscover::render(ResponseSchema::MobileSync, a)),
                domain_autoconfig: domain_level.as_ref().map(autoconfig::render),
                domain_pox: domain_level.as_ref().map(outlook::render),
            };
            bytes += [
                &templates.autoconfig,
                &templates.outlook,
                &templates.mobilesync,
            ]
            .into_iter()
            .flatten()
            .map(Template::size)
            .sum::<usize>();
            bytes += [&templates.domain_autoconfig, &templates.domain_pox]
                .into_iter()
                .flatten()
                .map(|rendered| rendered.body.len())
                .sum::<usize>();
            domains.insert(domain, templates);
        }
        if skipped > 0 {
            tracing::info!(
                "{skipped} domain(s) beyond the first {} MiB of precomputed answers are rendered per request",
                MAX_BYTES >> 20
            );
        }
        Spliced { domains }
    }

    /// The autoconfig answer for `email`, when its domain has a template.
    pub fn autoconfig(&self, email: &EmailAddress) -> Option<Rendered> {
        let templates = self.domains.get(email.domain())?;
        Some(templates.autoconfig.as_ref()?.splice(email.local_part()))
    }

    /// The domain-level autoconfig answer for `domain`, when it was rendered at load.
    pub fn autoconfig_domain(&self, domain: &Domain) -> Option<Rendered> {
        self.domains.get(domain)?.domain_autoconfig.clone()
    }

    /// The domain-level POX answer (Outlook schema) for `domain`, when it was rendered at load.
    pub fn pox_domain(&self, domain: &Domain) -> Option<Rendered> {
        self.domains.get(domain)?.domain_pox.clone()
    }

    /// The POX answer for `email` in `schema`, when its domain has a template.
    pub fn pox(&self, email: &EmailAddress, schema: ResponseSchema) -> Option<Rendered> {
        let templates = self.domains.get(email.domain())?;
        let template = match schema {
            ResponseSchema::Outlook => &templates.outlook,
            ResponseSchema::MobileSync => &templates.mobilesync,
        };
        Some(template.as_ref()?.splice(email.local_part()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;

    #[tokio::test]
    async fn spliced_answers_are_the_rendered_ones() {
        let resolver = Resolver::new(Arc::new(Config::demo().unwrap()));
        let spliced = Spliced::build(&resolver);
        assert!(!spliced.domains.is_empty());
        for address in [
            "jane@example.com",
            "O'Neil&Co@EXAMPLE.com",
            "a.b+c@example.com",
        ] {
            let email = EmailAddress::parse(address).unwrap();
            let account = resolver.resolve(&email).await.unwrap();
            let answer = spliced.autoconfig(&email).unwrap();
            assert_eq!(answer, autoconfig::render(&account), "{address}");
            for schema in [ResponseSchema::Outlook, ResponseSchema::MobileSync] {
                let answer = spliced.pox(&email, schema).unwrap();
                assert_eq!(answer, autodiscover::render(schema, &account), "{address}");
            }
        }
        let domain = Domain::parse("example.com").unwrap();
        let account = resolver.resolve_domain(&domain).unwrap();
        let answer = spliced.autoconfig_domain(&domain);
        assert_eq!(answer, Some(autoconfig::render(&account)));
        assert_eq!(spliced.pox_domain(&domain), Some(outlook::render(&account)));
    }

    #[test]
    fn a_template_that_does_not_reproduce_the_rendering_is_not_kept() {
        let domain = Domain::parse("example.com").unwrap();
        // The local part percent-encoded: splicing it in escaped would differ.
        let encoded = |email: &EmailAddress| {
            Some(Rendered {
                status: 200,
                content_type: "text/plain",
                body: email.local_part().replace('&', "%26").into_bytes(),
                error_document: false,
            })
        };
        assert!(Template::build(&domain, encoded).is_none());
    }
}
