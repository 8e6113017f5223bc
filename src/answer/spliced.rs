//! Answers rendered once per domain at load, with the address's local part spliced in per
//! request: for a static-only domain (no per-user source, no redirect) the autoconfig and POX
//! answers and the unsigned profile are a pure function of the address, and the address enters
//! them only as text (the profile's UUIDs, derived from it, are computed per request). So
//! each is rendered for a sentinel address, the sentinel's places are remembered, and a request
//! gets the document with its own local part escaped into those places: one copy instead of
//! resolving and rendering. A reload builds new [`Answers`](super::Answers), so these with it.
//!
//! A template is kept only when it reproduces the full rendering, byte for byte, for probe
//! addresses that need escaping and keep their case; a domain whose answers use the address in
//! any other way (a percent-encoded URL, say) is rendered per request as before.

use std::collections::HashMap;

use super::profile::built_profile;
use crate::account::{Account, Domain, EmailAddress};
use crate::profile::{self, PayloadKind, ProfileIdentity};
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

/// A rendering cut at the places where per-address text goes, each place of a kind `P`.
#[derive(Debug)]
struct Pieces<P> {
    /// The rendering without the sentinels.
    body: Vec<u8>,
    /// Offsets into `body` where text is inserted, ascending, with what goes there.
    places: Vec<(usize, P)>,
}

impl<P: Copy> Pieces<P> {
    /// `rendered` with every occurrence of each sentinel cut out and its place remembered.
    fn cut(rendered: &[u8], sentinels: &[(&[u8], P)]) -> Self {
        let mut body = Vec::with_capacity(rendered.len());
        let mut places = Vec::new();
        let (mut at, mut copied) = (0, 0);
        while at < rendered.len() {
            match sentinels
                .iter()
                .find(|(sentinel, _)| rendered[at..].starts_with(sentinel))
            {
                Some((sentinel, place)) => {
                    body.extend_from_slice(&rendered[copied..at]);
                    places.push((body.len(), *place));
                    at += sentinel.len();
                    copied = at;
                }
                None => at += 1,
            }
        }
        body.extend_from_slice(&rendered[copied..]);
        Pieces { body, places }
    }

    /// The rendering with `fill` writing each place's text; `extra` is a guess of their length.
    fn splice(&self, extra: usize, mut fill: impl FnMut(P, &mut Vec<u8>)) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.body.len() + extra);
        let mut from = 0;
        for &(place, kind) in &self.places {
            body.extend_from_slice(&self.body[from..place]);
            fill(kind, &mut body);
            from = place;
        }
        body.extend_from_slice(&self.body[from..]);
        body
    }

    fn size(&self) -> usize {
        self.body.len() + self.places.len() * size_of::<(usize, P)>()
    }
}

/// One answer with the places the local part goes.
#[derive(Debug)]
struct Template {
    pieces: Pieces<()>,
    status: u16,
    content_type: &'static str,
    error_document: bool,
}

impl Template {
    /// Renders `render` for the sentinel address at `domain` and keeps the result when it
    /// splices back to the full rendering for every probe.
    fn build(domain: &Domain, render: impl Fn(&EmailAddress) -> Option<Rendered>) -> Option<Self> {
        let rendered = render(&at(SENTINEL, domain)?)?;
        let template = Template {
            pieces: Pieces::cut(&rendered.body, &[(SENTINEL.as_bytes(), ())]),
            status: rendered.status,
            content_type: rendered.content_type,
            error_document: rendered.error_document,
        };
        let reproduces = |local: &str| {
            at(local, domain)
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
        let extra = self.pieces.places.len() * escaped.len();
        Rendered {
            status: self.status,
            content_type: self.content_type,
            body: self
                .pieces
                .splice(extra, |(), body| body.extend_from_slice(escaped.as_bytes())),
            error_document: self.error_document,
        }
    }

    fn size(&self) -> usize {
        self.pieces.size()
    }
}

/// `local@domain`, when that is an address.
fn at(local: &str, domain: &Domain) -> Option<EmailAddress> {
    EmailAddress::parse(&format!("{local}@{domain}")).ok()
}

/// Stand for the local part and the visitor's name in a profile: mixed case, so that the places
/// of the identifier's lower-cased local part are told apart from the local part as given.
const PROFILE_SENTINEL: &str = "MxconfSentinelLocalPart";
const NAME_SENTINEL: &str = "MxconfSentinelVisitorName";

/// What goes into one place of a profile.
#[derive(Debug, Clone, Copy)]
enum ProfilePlace {
    LocalPart,
    /// As the identifier writes it.
    LowerLocalPart,
    /// The profile's `PayloadUUID` (`None`) or an inner payload's, derived from the identifier.
    Uuid(Option<PayloadKind>),
    Name,
}

const PAYLOAD_UUIDS: [Option<PayloadKind>; 5] = [
    None,
    Some(PayloadKind::Mail),
    Some(PayloadKind::Eas),
    Some(PayloadKind::CalDav),
    Some(PayloadKind::CardDav),
];

/// A domain's unsigned profile, for no visitor's name or for any, with the places the
/// address's parts and the name go. Only for plain local parts (ASCII letters, digits, `.`,
/// `+`, `-`, `_`) and plain names (those and spaces and commas, at most [`profile::MAX_NAME`],
/// nothing to trim), which the property list writes as they are: anything else is built in
/// full, so escaping and cleaning stay the profile builder's alone.
#[derive(Debug)]
struct ProfileTemplate {
    pieces: Pieces<ProfilePlace>,
    identifier_prefix: String,
    named: bool,
}

impl ProfileTemplate {
    /// Builds `build` for the sentinel address at `domain` (with the sentinel name when
    /// `named`) and keeps the result when it splices back to the full build for every probe:
    /// mixed case, every character beyond letters and digits a plain local part or name may
    /// hold, one character, and the longest local part and name (a part of the profile that
    /// cuts long text would differ there).
    fn build(
        domain: &Domain,
        identifier_prefix: &str,
        named: bool,
        build: impl Fn(&EmailAddress, Option<&str>) -> Option<Vec<u8>>,
    ) -> Option<Self> {
        let sentinel = at(PROFILE_SENTINEL, domain)?;
        let identity = ProfileIdentity::new(identifier_prefix, &sentinel);
        let uuids = PAYLOAD_UUIDS.map(|kind| (uuid(&identity, kind), ProfilePlace::Uuid(kind)));
        let lower = PROFILE_SENTINEL.to_lowercase();
        let mut sentinels = vec![
            (PROFILE_SENTINEL.as_bytes(), ProfilePlace::LocalPart),
            (lower.as_bytes(), ProfilePlace::LowerLocalPart),
            (NAME_SENTINEL.as_bytes(), ProfilePlace::Name),
        ];
        sentinels.extend(uuids.iter().map(|(text, place)| (text.as_bytes(), *place)));
        let name = named.then_some(NAME_SENTINEL);
        let template = ProfileTemplate {
            pieces: Pieces::cut(&build(&sentinel, name)?, &sentinels),
            identifier_prefix: identifier_prefix.to_owned(),
            named,
        };
        let longest = format!("Jane.Doe+Tag-1_x{}", "Y".repeat(48));
        let longest_name = format!(
            "Jane Q. Doe-Smith_+1, x{}",
            "z".repeat(profile::MAX_NAME - 23)
        );
        [
            ("Jane.Doe+Tag-1_x", "Jane Q. Doe-Smith_+1, x"),
            ("x", "x"),
            (&longest, &longest_name),
        ]
        .into_iter()
        .all(|(local, name)| {
            let name = named.then_some(name);
            at(local, domain).is_some_and(|email| {
                build(&email, name).is_some_and(|full| template.splice(&email, name) == Some(full))
            })
        })
        .then_some(template)
    }

    /// The profile for `email` and `name`; `None` when either is not plain, or the name is not
    /// this template's (given to one without a name place, or missing for one with).
    fn splice(&self, email: &EmailAddress, name: Option<&str>) -> Option<Vec<u8>> {
        let local = email.local_part();
        let plain = |text: &str, more: &[u8]| {
            text.bytes().all(|byte| {
                byte.is_ascii_alphanumeric() || b".+-_".contains(&byte) || more.contains(&byte)
            })
        };
        let name = match (self.named, name) {
            (false, None) => "",
            (true, Some(name))
                if plain(name, b" ,")
                    && name.len() <= profile::MAX_NAME
                    && name.trim() == name
                    && !name.is_empty() =>
            {
                name
            }
            _ => return None,
        };
        if !plain(local, b"") {
            return None;
        }
        let identity = ProfileIdentity::new(&self.identifier_prefix, email);
        let extra = self.pieces.places.len() * local.len().max(name.len()).max(36);
        Some(self.pieces.splice(extra, |place, body| match place {
            ProfilePlace::LocalPart => body.extend_from_slice(local.as_bytes()),
            ProfilePlace::LowerLocalPart => {
                body.extend(local.bytes().map(|byte| byte.to_ascii_lowercase()));
            }
            ProfilePlace::Uuid(kind) => body.extend_from_slice(uuid(&identity, kind).as_bytes()),
            ProfilePlace::Name => body.extend_from_slice(name.as_bytes()),
        }))
    }

    fn size(&self) -> usize {
        self.pieces.size()
    }
}

fn uuid(identity: &ProfileIdentity, kind: Option<PayloadKind>) -> String {
    match kind {
        None => identity.uuid(),
        Some(kind) => identity.payload_uuid(kind),
    }
}

/// A domain's precomputed answers: autoconfig, POX in the Outlook and MobileSync schemas, the
/// unsigned profile, and the domain-level autoconfig and POX answers (no address, so nothing to
/// splice).
#[derive(Debug)]
struct DomainTemplates {
    autoconfig: Option<Template>,
    outlook: Option<Template>,
    mobilesync: Option<Template>,
    profile: Option<ProfileTemplate>,
    named_profile: Option<ProfileTemplate>,
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
            let profile_template = |named| {
                let prefix = &config.profile.identifier_prefix;
                ProfileTemplate::build(&domain, prefix, named, |email, name| {
                    built_profile(account(email)?, name, &config.profile).ok()
                })
            };
            let templates = DomainTemplates {
                autoconfig: with(autoconfig::render),
                outlook: with(|a| autodiscover::render(ResponseSchema::Outlook, a)),
                mobilesync: with(|a| autodiscover::render(ResponseSchema::MobileSync, a)),
                profile: profile_template(false),
                named_profile: profile_template(true),
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
            bytes += [&templates.profile, &templates.named_profile]
                .into_iter()
                .flatten()
                .map(ProfileTemplate::size)
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

    /// The unsigned profile for `email` with the visitor's `name`, when its domain has a
    /// template and both are plain.
    pub fn profile(&self, email: &EmailAddress, name: Option<&str>) -> Option<Vec<u8>> {
        let templates = self.domains.get(email.domain())?;
        let template = match name {
            None => &templates.profile,
            Some(_) => &templates.named_profile,
        };
        template.as_ref()?.splice(email, name)
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

    #[tokio::test]
    async fn spliced_profiles_are_the_built_ones() {
        let config = Config::demo().unwrap();
        let resolver = Resolver::new(Arc::new(config.clone()));
        let spliced = Spliced::build(&resolver);
        let long_name = "N".repeat(profile::MAX_NAME);
        let long_local = format!("{}@example.com", "Q".repeat(64));
        for address in [
            "jane@example.com",
            "Jane.Doe+Lists@EXAMPLE.com",
            "a_b-c.9@example.com",
            &long_local,
        ] {
            let email = EmailAddress::parse(address).unwrap();
            for name in [
                None,
                Some("Jane Doe"),
                Some("J. Doe-Smith, Jr_+2"),
                Some(&long_name),
            ] {
                let account = resolver.resolve(&email).await.unwrap();
                let built = built_profile(account, name, &config.profile).unwrap();
                let spliced = spliced.profile(&email, name);
                assert_eq!(spliced, Some(built), "{address} {name:?}");
            }
            // Names the builder cleans, or the property list might escape: built in full.
            let over = "N".repeat(profile::MAX_NAME + 1);
            for name in ["", " Jane", "Jane\t", "O'Neil", "J&D <x>", "Jörg", &over] {
                assert_eq!(spliced.profile(&email, Some(name)), None, "{name:?}");
            }
        }
        // Local parts the property list might escape: built in full.
        for address in [
            "o'neil&co@example.com",
            "jörg@example.com",
            "a=b@example.com",
        ] {
            let email = EmailAddress::parse(address).unwrap();
            assert_eq!(spliced.profile(&email, None), None, "{address}");
            assert_eq!(spliced.profile(&email, Some("Jane")), None, "{address}");
        }
    }

    #[test]
    fn a_profile_template_that_does_not_reproduce_the_build_is_not_kept() {
        let domain = Domain::parse("example.com").unwrap();
        let kept = |build: fn(&EmailAddress, Option<&str>) -> String| {
            [false, true].map(|named| {
                let build = |email: &EmailAddress, name: Option<&str>| {
                    Some(build(email, name).into_bytes())
                };
                ProfileTemplate::build(&domain, "com.example", named, build).is_some()
            })
        };
        assert_eq!(
            kept(|email, name| {
                let identity = ProfileIdentity::new("com.example", email);
                format!(
                    "<{email}|{}|{}|{name:?}>",
                    identity.identifier(),
                    identity.uuid()
                )
            }),
            [true, true]
        );
        // The address cut to 40 characters, the local part upper-cased, `+` percent-encoded, a
        // UUID derived some other way, the name cut or upper-cased: each differs for a probe.
        assert_eq!(
            kept(|email, _| email.as_str().chars().take(40).collect()),
            [false; 2]
        );
        assert_eq!(
            kept(|email, _| email.local_part().to_uppercase()),
            [false; 2]
        );
        assert_eq!(
            kept(|email, _| email.local_part().replace('+', "%2B")),
            [false; 2]
        );
        assert_eq!(
            kept(|email, _| ProfileIdentity::new("com.other", email).uuid()),
            [false; 2]
        );
        let cut = |_: &EmailAddress, name: Option<&str>| {
            format!(
                "{:?}",
                name.map(|name| name.chars().take(60).collect::<String>())
            )
        };
        assert_eq!(kept(cut), [true, false]);
        assert_eq!(
            kept(|_, name| format!("{:?}", name.map(str::to_uppercase))),
            [true, false]
        );
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
