//! DNS part of the doctor: every record `mxconf dns` tells the admin to publish
//! ([`crate::dns::records`], the one source of that text) is looked up, and each missing or
//! different one is reported with the exact line to publish. The `autoconfig.` and
//! `autodiscover.` names only need to resolve (A/AAAA directly or through a CNAME), and the
//! domain needs an MX.

use hickory_resolver::proto::rr::RData;

use super::net::{Net, dns_reason};
use super::report::{Check, Section};
use crate::account::Account;
use crate::dns::Record;

/// One SRV record's data as the comparison needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    port: u16,
    /// Lower-case, with the trailing dot; `.` says "not offered".
    host: String,
}

impl Target {
    /// From `mxconf dns`'s `PRIORITY WEIGHT PORT TARGET` text.
    fn from_data(data: &str) -> Option<Target> {
        let fields: Vec<&str> = data.split_ascii_whitespace().collect();
        match fields.as_slice() {
            [_, _, port, host] => Some(Target {
                port: port.parse().ok()?,
                host: host.to_ascii_lowercase(),
            }),
            _ => None,
        }
    }

    fn show(&self) -> String {
        if self.host == "." {
            "\".\" (not offered)".into()
        } else {
            format!("{}:{}", self.host.trim_end_matches('.'), self.port)
        }
    }
}

/// The DNS checks for one domain; `account` is its domain-level account, `web_host` the
/// public name of this mxconf server and `pacc` its PACC document (as for `mxconf dns`).
pub async fn checks(
    net: &Net,
    account: &Account,
    web_host: &str,
    pacc: Option<&[u8]>,
) -> Vec<Check> {
    let domain = account.domain.as_str();
    let expected = crate::dns::records(account, web_host, pacc);
    // Records of one name and type are judged together, in `mxconf dns`'s order.
    let mut groups: Vec<(&str, &'static str, Vec<&Record>)> = Vec::new();
    for record in &expected {
        match groups
            .iter_mut()
            .find(|(name, kind, _)| *name == record.name && *kind == record.kind)
        {
            Some((_, _, list)) => list.push(record),
            None => groups.push((&record.name, record.kind, vec![record])),
        }
    }
    let lookups = groups.iter().map(|(name, kind, records)| async move {
        match *kind {
            "SRV" => srv_check(net, domain, name, records).await,
            "TXT" => txt_check(net, domain, name, records).await,
            _ => name_check(net, domain, name, records).await,
        }
    });
    let mut checks = futures_util::future::join_all(lookups).await;
    // The server's own name gets no CNAME from `mxconf dns`; it must still resolve.
    for label in ["autoconfig", "autodiscover"] {
        let name = format!("{label}.{domain}.");
        if !expected.iter().any(|r| r.name == name) {
            checks.push(name_check(net, domain, &name, &[]).await);
        }
    }
    checks.push(mx_check(net, domain).await);
    checks
}

async fn srv_check(net: &Net, domain: &str, name: &str, records: &[&Record]) -> Check {
    let line =
        Check::about(Section::Dns, format!("{} SRV", name.trim_end_matches('.'))).domain(domain);
    let wanted: Vec<Target> = records
        .iter()
        .filter_map(|r| Target::from_data(&r.data))
        .collect();
    let publish = publish(records);
    let found = match net.resolver().srv_lookup(name).await {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some(Target {
                    port: srv.port,
                    host: srv.target.to_ascii().to_ascii_lowercase(),
                }),
                _ => None,
            })
            .collect::<Vec<_>>(),
        Err(error) if error.is_nx_domain() || error.is_no_records_found() => Vec::new(),
        Err(error) => return line.fail(format!("lookup failed: {}", dns_reason(&error)), publish),
    };
    let not_offered = wanted.iter().all(|t| t.host == ".");
    if found.is_empty() {
        return if not_offered {
            // RFC 6186 §3.4: "." says "not offered"; without it clients only have to guess.
            line.warn("missing (the service is not offered)", publish)
        } else {
            line.fail("missing", publish)
        };
    }
    let missing: Vec<&Target> = wanted.iter().filter(|t| !found.contains(t)).collect();
    let extra: Vec<&Target> = found.iter().filter(|t| !wanted.contains(t)).collect();
    let shown = |targets: &[&Target]| {
        targets
            .iter()
            .map(|t| t.show())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if missing.is_empty() && extra.is_empty() {
        let all: Vec<&Target> = found.iter().collect();
        return line.pass(shown(&all));
    }
    let mut detail = Vec::new();
    if !extra.is_empty() {
        detail.push(format!("points at {}", shown(&extra)));
    }
    if !missing.is_empty() {
        detail.push(format!("the config says {}", shown(&missing)));
    }
    line.fail(
        detail.join("; "),
        format!(
            "replace the {name} SRV records with:\n{}",
            records_text(records)
        ),
    )
}

async fn txt_check(net: &Net, domain: &str, name: &str, records: &[&Record]) -> Check {
    let line =
        Check::about(Section::Dns, format!("{} TXT", name.trim_end_matches('.'))).domain(domain);
    let publish = publish(records);
    let found = match txt_texts(net, name).await {
        Ok(found) => found,
        Err(reason) => return line.fail(format!("lookup failed: {reason}"), publish),
    };
    let wanted: Vec<String> = records
        .iter()
        .map(|r| r.data.trim_matches('"').to_owned())
        .collect();
    if wanted.iter().all(|w| found.contains(w)) {
        line.pass(found.join(", "))
    } else if found.is_empty() {
        line.fail("missing", publish)
    } else {
        line.fail(format!("says {}", found.join(", ")), publish)
    }
}

/// The texts of the TXT records at `name` (each record's strings joined, RFC 7208 §3.3),
/// none when the name or the records do not exist; `Err` with the reason when the lookup
/// failed.
pub(super) async fn txt_texts(net: &Net, name: &str) -> Result<Vec<String>, String> {
    match net.resolver().txt_lookup(name).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(error) if error.is_nx_domain() || error.is_no_records_found() => Ok(Vec::new()),
        Err(error) => Err(dns_reason(&error)),
    }
}

/// A host name clients connect to: it must resolve to an address.
async fn name_check(net: &Net, domain: &str, name: &str, records: &[&Record]) -> Check {
    let line = Check::about(Section::Dns, name.trim_end_matches('.')).domain(domain);
    let publish = if records.is_empty() {
        format!("publish A/AAAA records for {name} pointing at this server")
    } else {
        publish(records)
    };
    match net.resolver().lookup_ip(name).await {
        Ok(lookup) => {
            let addresses: Vec<String> = lookup.iter().map(|ip| ip.to_string()).collect();
            if addresses.is_empty() {
                line.fail("has no address", publish)
            } else {
                line.pass(format!("resolves to {}", addresses.join(", ")))
            }
        }
        Err(error) => line.fail(
            format!("does not resolve ({})", dns_reason(&error)),
            publish,
        ),
    }
}

async fn mx_check(net: &Net, domain: &str) -> Check {
    let line = Check::about(Section::Dns, format!("{domain} MX")).domain(domain);
    let fix =
        format!("publish an MX record for {domain}. naming the server that receives its mail");
    match net.resolver().mx_lookup(format!("{domain}.")).await {
        Ok(lookup) => {
            let hosts: Vec<String> = lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::MX(mx) => Some(mx.exchange.to_ascii().trim_end_matches('.').to_owned()),
                    _ => None,
                })
                .collect();
            if hosts.is_empty() {
                line.fail("missing", fix)
            } else {
                line.pass(hosts.join(", "))
            }
        }
        Err(error) => line.fail(format!("missing ({})", dns_reason(&error)), fix),
    }
}

fn records_text(records: &[&Record]) -> String {
    records
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn publish(records: &[&Record]) -> String {
    format!("publish:\n{}", records_text(records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_data_from_mxconf_dns_text() {
        assert_eq!(
            Target::from_data("0 1 993 IMAP.example.com."),
            Some(Target {
                port: 993,
                host: "imap.example.com.".into()
            })
        );
        assert_eq!(
            Target::from_data("0 0 0 .").map(|t| t.show()).as_deref(),
            Some("\".\" (not offered)")
        );
        assert_eq!(Target::from_data("\"path=/\""), None);
    }
}
