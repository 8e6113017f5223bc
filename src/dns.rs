//! The DNS records an admin publishes so clients find mxconf and the mail servers:
//! RFC 6186/8314 SRV for IMAP/POP3/submission, RFC 6764 SRV+TXT for CalDAV/CardDAV,
//! `_autodiscover._tcp` for Outlook, the `autoconfig.`/`autodiscover.` host names and, for a
//! domain that publishes PACC, `ua-auto-config.` and the `_ua-auto-config` digest record.
//! Pure: a resolved domain-level `Account` (and its PACC document) in, zone-file lines out.

use std::fmt;

use crate::account::{Account, MailServer, Security, ServerKind, UrlService};
use crate::protocol::pacc;

/// One resource record in zone-file form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub kind: &'static str,
    pub data: String,
    /// Why the record is there, printed as a zone-file comment.
    pub comment: &'static str,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<40} 3600 IN {:<5} {:<40} ; {}",
            self.name, self.kind, self.data, self.comment
        )
    }
}

/// The SRV service names per kind: (implicit TLS, STARTTLS/plain).
fn srv_services(kind: ServerKind) -> (&'static str, &'static str) {
    match kind {
        ServerKind::Imap => ("_imaps", "_imap"),
        ServerKind::Pop3 => ("_pop3s", "_pop3"),
        ServerKind::Smtp => ("_submissions", "_submission"),
    }
}

/// Every record to publish for `account.domain`, with `web_host` the public name of this
/// mxconf server (the target of autoconfig./autodiscover. and `_autodiscover._tcp`), and `pacc`
/// the PACC document the domain serves, if any (its digest goes into the TXT record).
pub fn records(account: &Account, web_host: &str, pacc: Option<&[u8]>) -> Vec<Record> {
    let domain = account.domain.as_str();
    let web_host = web_host.trim_end_matches('.');
    let mut records = Vec::new();
    for kind in [ServerKind::Imap, ServerKind::Pop3, ServerKind::Smtp] {
        let (tls_service, plain_service) = srv_services(kind);
        let servers: Vec<&MailServer> = account.servers(kind).collect();
        for (service, wants_tls) in [(tls_service, true), (plain_service, false)] {
            let matching: Vec<&&MailServer> = servers
                .iter()
                .filter(|server| (server.security == Security::Tls) == wants_tls)
                .collect();
            let name = format!("{service}._tcp.{domain}.");
            if matching.is_empty() {
                // RFC 6186 §4: a target of "." says the service is not offered here.
                records.push(Record {
                    name: name.clone(),
                    kind: "SRV",
                    data: "0 0 0 .".into(),
                    comment: "service not offered",
                });
            }
            for (rank, server) in matching.iter().enumerate() {
                // RFC 8314 §5.1: implicit TLS gets the better (lower) priority.
                let priority = if wants_tls { 0 } else { 10 } + rank;
                records.push(Record {
                    name: name.clone(),
                    kind: "SRV",
                    data: format!("{priority} 1 {} {}.", server.port, server.host),
                    comment: srv_comment(server.security),
                });
            }
        }
    }
    for (service, url) in [
        ("_caldavs", account.url(UrlService::CalDav)),
        ("_carddavs", account.url(UrlService::CardDav)),
    ] {
        let Some(url) = url.and_then(|u| url::Url::parse(u).ok()) else {
            continue;
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            continue;
        };
        // RFC 6764 §4: the SRV finds the host, the TXT "path=" the context path.
        records.push(Record {
            name: format!("{service}._tcp.{domain}."),
            kind: "SRV",
            data: format!("0 1 {port} {host}."),
            comment: "RFC 6764 DAV service",
        });
        records.push(Record {
            name: format!("{service}._tcp.{domain}."),
            kind: "TXT",
            data: format!("\"path={}\"", url.path()),
            comment: "RFC 6764 context path",
        });
    }
    records.push(Record {
        name: format!("_autodiscover._tcp.{domain}."),
        kind: "SRV",
        data: format!("0 0 443 {web_host}."),
        comment: "Outlook Autodiscover (HTTPS)",
    });
    for (label, comment) in crate::hostnames::labels(pacc.is_some()) {
        let name = format!("{label}.{domain}.");
        if name.trim_end_matches('.') == web_host {
            // The server itself: it needs A/AAAA records, which only the admin knows.
            continue;
        }
        records.push(Record {
            name,
            kind: "CNAME",
            data: format!("{web_host}."),
            comment,
        });
    }
    if let Some(document) = pacc {
        records.push(pacc_record(domain, document));
    }
    records
}

/// The `_ua-auto-config.<domain>` TXT record that vouches for `document`.
pub fn pacc_record(domain: &str, document: &[u8]) -> Record {
    Record {
        name: format!("{}.{domain}.", pacc::TXT_LABEL),
        kind: "TXT",
        data: format!("\"{}\"", pacc::txt_record(document)),
        comment: "PACC: SHA-256 of the served document",
    }
}

fn srv_comment(security: Security) -> &'static str {
    match security {
        Security::Tls => "implicit TLS (RFC 8314)",
        Security::Starttls => "STARTTLS",
        Security::Plain => "plain text (configured explicitly)",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::account::Domain;
    use crate::config::Config;
    use crate::resolve::Resolver;

    fn demo_records() -> Vec<String> {
        let resolver = Resolver::new(Arc::new(Config::demo().unwrap()));
        let account = resolver
            .resolve_domain(&Domain::parse("example.com").unwrap())
            .unwrap();
        records(&account, "mxconf.example.com", None)
            .iter()
            .map(|r| format!("{} {} {}", r.name, r.kind, r.data))
            .collect()
    }

    #[test]
    fn demo_records_prefer_implicit_tls() {
        let records = demo_records();
        for expected in [
            "_imaps._tcp.example.com. SRV 0 1 993 imap.example.com.",
            "_imap._tcp.example.com. SRV 10 1 143 imap.example.com.",
            "_pop3s._tcp.example.com. SRV 0 1 995 pop.example.com.",
            "_pop3._tcp.example.com. SRV 0 0 0 .",
            "_submissions._tcp.example.com. SRV 0 1 465 smtp.example.com.",
            "_submission._tcp.example.com. SRV 10 1 587 smtp.example.com.",
            "_caldavs._tcp.example.com. SRV 0 1 443 dav.example.com.",
            "_carddavs._tcp.example.com. TXT \"path=/\"",
            "_autodiscover._tcp.example.com. SRV 0 0 443 mxconf.example.com.",
            "autoconfig.example.com. CNAME mxconf.example.com.",
            "autodiscover.example.com. CNAME mxconf.example.com.",
        ] {
            assert!(
                records.iter().any(|r| r == expected),
                "missing {expected}: {records:#?}"
            );
        }
    }
}
