//! PACC, the user-agent auto-configuration document (draft-ietf-mailmaint-pacc, the revision
//! named in docs/protocols.md): one JSON document per domain, fetched from
//! `https://ua-auto-config.<domain>/.well-known/user-agent-configuration.json` and trusted only
//! when its SHA-256 matches the `_ua-auto-config.<domain>` TXT record. Clients hash the bytes
//! they receive, so the document is rendered once per configuration and served (and hashed for
//! `mxconf dns`) as those same bytes: fields in a fixed order, compact, no timestamps.
//!
//! The document names hosts, not ports or TLS modes: a client connects to the protocol's
//! implicit-TLS port (IMAP 993, POP3 995, submission 465) and logs in with the full address.
//! So only servers reachable exactly that way are published; the others stay in the domain's
//! autoconfig and Autodiscover answers.

use std::borrow::Cow;

use serde::Serialize;

use super::Rendered;
use crate::account::{Account, MailServer, Security, ServerKind, Template, UrlService};

/// The host label clients put in front of the mail domain.
pub const HOST_LABEL: &str = "ua-auto-config";
/// The path of the document on that host.
pub const PATH: &str = "/.well-known/user-agent-configuration.json";
/// The owner label of the digest record: `_ua-auto-config.<domain>`.
pub const TXT_LABEL: &str = "_ua-auto-config";
pub const CONTENT_TYPE: &str = "application/json";

/// The draft's limits on the provider's names, in characters.
const NAME_LIMIT: usize = 60;
const SHORT_NAME_LIMIT: usize = 20;

/// Why a domain's settings make no PACC document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaccError {
    #[error(
        "nothing to publish: PACC names only IMAP on 993, POP3 on 995 and SMTP on 465 with tls and the full address as username, or jmap/caldav/carddav/webdav URLs"
    )]
    NoProtocol,
    #[error("provider.{field} {name:?} is longer than PACC's {limit} characters")]
    NameTooLong {
        field: &'static str,
        name: String,
        limit: usize,
    },
}

#[derive(Serialize)]
struct Document<'a> {
    protocols: Protocols<'a>,
    authentication: Authentication<'a>,
    info: Info<'a>,
}

#[derive(Serialize, Default)]
struct Protocols<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    imap: Option<HostEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pop3: Option<HostEntry<'a>>,
    /// Message submission (RFC 8314 implicit TLS); the key of draft -03.
    #[serde(skip_serializing_if = "Option::is_none")]
    submit: Option<HostEntry<'a>>,
    /// The same server under draft -02's key, which the clients that exist read; -03 clients
    /// are expected to skip a member they do not know (docs/protocols.md, "Which revision").
    #[serde(skip_serializing_if = "Option::is_none")]
    smtp: Option<HostEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jmap: Option<UrlEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caldav: Option<UrlEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    carddav: Option<UrlEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webdav: Option<UrlEntry<'a>>,
}

#[derive(Serialize)]
struct HostEntry<'a> {
    host: &'a str,
}

#[derive(Serialize)]
struct UrlEntry<'a> {
    url: &'a str,
}

#[derive(Serialize)]
struct Authentication<'a> {
    password: bool,
    #[serde(rename = "oauth-public", skip_serializing_if = "Option::is_none")]
    oauth_public: Option<Issuer<'a>>,
}

#[derive(Serialize)]
struct Issuer<'a> {
    issuer: Cow<'a, str>,
}

/// The issuer as the RFC 8414 identifier PACC wants: an https URL as configured, or
/// `https://<host>` for the bare host name the autoconfig draft's `<issuer>` holds.
fn issuer_url(issuer: &str) -> Cow<'_, str> {
    if issuer.starts_with("https://") {
        Cow::Borrowed(issuer)
    } else {
        Cow::Owned(format!("https://{issuer}"))
    }
}

#[derive(Serialize)]
struct Info<'a> {
    provider: ProviderInfo<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<Help<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderInfo<'a> {
    name: &'a str,
    short_name: &'a str,
}

#[derive(Serialize)]
struct Help<'a> {
    documentation: &'a str,
}

/// The implicit-TLS port a PACC client connects to for `kind` (RFC 8314 §7).
fn default_port(kind: ServerKind) -> u16 {
    match kind {
        ServerKind::Imap => 993,
        ServerKind::Pop3 => 995,
        ServerKind::Smtp => 465,
    }
}

/// Whether a client that knows only the host reaches `server` as configured.
fn publishable(server: &MailServer) -> bool {
    server.security == Security::Tls
        && server.port == default_port(server.kind)
        && server.username == "%EMAILADDRESS%"
}

/// The document for a domain-level `account`.
pub fn render(account: &Account) -> Result<Rendered, PaccError> {
    let host = |kind| {
        account
            .servers(kind)
            .find(|server| publishable(server))
            .map(|server| HostEntry { host: &server.host })
    };
    // A URL that still holds a per-user placeholder is not one address-free URL.
    let url = |service| {
        account
            .url(service)
            .filter(|url| !Template::new(url).has_placeholder())
            .map(|url| UrlEntry { url })
    };
    let protocols = Protocols {
        imap: host(ServerKind::Imap),
        pop3: host(ServerKind::Pop3),
        submit: host(ServerKind::Smtp),
        smtp: host(ServerKind::Smtp),
        jmap: url(UrlService::Jmap),
        caldav: url(UrlService::CalDav),
        carddav: url(UrlService::CardDav),
        webdav: url(UrlService::WebDav),
    };
    let published: Vec<&MailServer> = [ServerKind::Imap, ServerKind::Pop3, ServerKind::Smtp]
        .into_iter()
        .filter_map(|kind| account.servers(kind).find(|server| publishable(server)))
        .collect();
    let any_url = [
        &protocols.jmap,
        &protocols.caldav,
        &protocols.carddav,
        &protocols.webdav,
    ]
    .iter()
    .any(|entry| entry.is_some());
    if published.is_empty() && !any_url {
        return Err(PaccError::NoProtocol);
    }
    let provider = &account.provider;
    for (field, name, limit) in [
        ("display-name", &provider.display_name, NAME_LIMIT),
        ("short-name", &provider.short_name, SHORT_NAME_LIMIT),
    ] {
        if name.chars().count() > limit {
            return Err(PaccError::NameTooLong {
                field,
                name: name.clone(),
                limit,
            });
        }
    }
    let document = Document {
        protocols,
        authentication: Authentication {
            // The URL services log in with the account's password (HTTP Basic).
            password: published.is_empty()
                || published
                    .iter()
                    .any(|server| server.authentication.iter().any(|auth| auth.is_password())),
            oauth_public: account.services.oauth2.as_ref().map(|oauth2| Issuer {
                issuer: issuer_url(&oauth2.issuer),
            }),
        },
        info: Info {
            provider: ProviderInfo {
                name: &provider.display_name,
                short_name: &provider.short_name,
            },
            help: account
                .url(UrlService::Documentation)
                .map(|documentation| Help { documentation }),
        },
    };
    // Serializing borrowed strings and booleans into a Vec cannot fail.
    let body = serde_json::to_vec(&document).unwrap_or_default();
    Ok(Rendered {
        status: 200,
        content_type: CONTENT_TYPE,
        body,
        error_document: false,
    })
}

/// The base64 SHA-256 of `body`: what the digest record carries.
pub fn digest(body: &[u8]) -> String {
    openssl::base64::encode_block(&openssl::sha::sha256(body))
}

/// The TXT data that vouches for `body`.
pub fn txt_record(body: &[u8]) -> String {
    format!("v=UAAC1; a=sha256; d={}", digest(body))
}

/// The SHA-256 a TXT record's text vouches for, when it is a well-formed `v=UAAC1` record
/// with `a=sha256`. Tags are `name=value` separated by `;`, in any order, with optional
/// whitespace; unknown tags are ignored.
pub fn vouched_digest(text: &str) -> Option<Vec<u8>> {
    let (mut version, mut algorithm, mut data) = (None, None, None);
    for tag in text.split(';') {
        let Some((name, value)) = tag.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match name.trim() {
            "v" => version = Some(value),
            "a" => algorithm = Some(value),
            "d" => data = Some(value),
            _ => {}
        }
    }
    if version? != "UAAC1" || algorithm? != "sha256" {
        return None;
    }
    let digest = openssl::base64::decode_block(data?).ok()?;
    (digest.len() == 32).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_accounts::demo_domain_account;

    #[test]
    fn demo_domain_document_in_draft_shape() {
        let rendered = render(&demo_domain_account()).unwrap();
        assert_eq!(rendered.content_type, "application/json");
        let document: serde_json::Value = serde_json::from_slice(&rendered.body).unwrap();
        assert_eq!(document["protocols"]["imap"]["host"], "imap.example.com");
        assert_eq!(document["protocols"]["submit"]["host"], "smtp.example.com");
        assert_eq!(document["protocols"]["smtp"]["host"], "smtp.example.com");
        assert_eq!(document["authentication"]["password"], true);
        assert!(document["info"]["provider"]["name"].is_string());
        // Compact and stable: the same account gives the same bytes.
        assert!(!rendered.body.contains(&b'\n'));
        assert_eq!(render(&demo_domain_account()).unwrap().body, rendered.body);
    }

    #[test]
    fn servers_a_host_alone_cannot_reach_are_left_out() {
        let mut account = demo_domain_account();
        for server in account.incoming.iter_mut().chain(&mut account.outgoing) {
            server.port = 10_000;
        }
        account.services.urls = Default::default();
        assert_eq!(render(&account), Err(PaccError::NoProtocol));
    }

    #[test]
    fn digest_record_round_trips() {
        let body = br#"{"protocols":{}}"#;
        let record = txt_record(body);
        assert!(record.starts_with("v=UAAC1; a=sha256; d="));
        let expected = openssl::sha::sha256(body).to_vec();
        assert_eq!(vouched_digest(&record), Some(expected.clone()));
        // Tag order, spacing and unknown tags do not matter; version and algorithm do.
        let d = digest(body);
        assert_eq!(
            vouched_digest(&format!("a=sha256;x=1; d={d} ;v=UAAC1;")),
            Some(expected)
        );
        assert_eq!(vouched_digest(&format!("v=UAAC2; a=sha256; d={d}")), None);
        assert_eq!(vouched_digest(&format!("v=UAAC1; a=sha1; d={d}")), None);
        assert_eq!(vouched_digest("v=UAAC1; a=sha256; d=AAAA"), None);
    }
}
