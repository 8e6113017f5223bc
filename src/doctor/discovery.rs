//! The discovery URLs, in each client's own order, fetched over HTTPS with certificate
//! verification; each answer is compared with what this config renders for the same request
//! (the renderers themselves compute the expected bytes), so a stale second server or a proxy
//! rewriting answers shows up as a difference, not as a working setup.
//!
//! PACC is one more client group, for domains that publish it: the JSON at
//! `https://ua-auto-config.<domain>/.well-known/user-agent-configuration.json`, compared with
//! its renderer, then the fetched bytes' SHA-256 with the `_ua-auto-config.<domain>` TXT
//! records, as the client checks them (`pacc.rs`).

use hickory_resolver::proto::rr::RData;
use url::Url;

use super::http::{self, Answer, Request};
use super::net::{Net, ProbeError};
use super::pacc;
use super::report::{Check, Section, Status};
use crate::account::EmailAddress;
use crate::answer::{Answers, ProfileFailure, Refusal, Signing};
use crate::protocol::Rendered;
use crate::protocol::autodiscover::{self, PoxRequest, ResponseSchema};
use crate::protocol::autodiscover_json::JsonProtocol;
use crate::protocol::pacc::{HOST_LABEL as PACC_HOST, PATH as PACC_PATH};

/// What `encodeURIComponent` escapes (Thunderbird builds its URLs with it): all but
/// letters, digits and `-_.!~*'()`.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// What the right answer to one request is, by this config.
#[derive(Debug, Clone)]
enum Expected {
    /// Exactly this status and body.
    Exact(Rendered),
    /// This config does not serve the address: a 404 is right.
    NotServed,
    /// A profile with this XML, signed when `[signing]` is configured.
    Profile { xml: Vec<u8>, signed: bool },
    /// The download form: any 200 HTML page.
    Page,
    /// Not computable here (a per-user source is unavailable).
    Unknown(String),
}

/// One URL a client tries.
struct Probe {
    client: &'static str,
    /// Whether the client depends on it (the others are fallbacks a domain need not serve).
    required: bool,
    request: Request,
    expected: Expected,
    /// Whether the client trusts the answer only when a DNS digest vouches for its bytes
    /// (PACC), so the doctor checks the fetched body against the TXT records too.
    vouched_by_dns: bool,
}

enum Verdict {
    Right(String),
    /// No usable answer: the client goes on to its next URL.
    NoAnswer(String),
    Wrong(String, String),
    CannotTell(String),
}

/// The discovery checks for one domain, asked as `email` would ask.
pub async fn checks(net: &Net, answers: &Answers, email: &EmailAddress) -> Vec<Check> {
    let domain = email.domain().as_str();
    let probes = probes(net, answers, email).await;
    let fetched =
        futures_util::future::join_all(probes.iter().map(|probe| http::fetch(net, &probe.request)))
            .await;
    let verdicts: Vec<Verdict> = probes
        .iter()
        .zip(&fetched)
        .map(|(probe, answer)| match answer {
            Ok(answer) => judge(&probe.expected, answer),
            Err(error) => Verdict::NoAnswer(error.to_string()),
        })
        .collect();
    let mut checks = Vec::new();
    for (index, (probe, verdict)) in probes.iter().zip(&verdicts).enumerate() {
        let client_works = probes
            .iter()
            .zip(&verdicts)
            .any(|(other, v)| other.client == probe.client && matches!(v, Verdict::Right(_)));
        let step = probes[..=index]
            .iter()
            .filter(|p| p.client == probe.client)
            .count();
        let steps = probes.iter().filter(|p| p.client == probe.client).count();
        let subject = if steps > 1 {
            format!("{} {step}/{steps} {}", probe.client, probe.request.url)
        } else {
            format!("{} {}", probe.client, probe.request.url)
        };
        let line = Check::about(Section::Discovery, subject).domain(domain);
        let serve_it = || {
            vec![
                "serve this URL from mxconf: its DNS name, a certificate that covers it, the proxy in front"
                    .to_owned(),
            ]
        };
        let (mut status, mut detail, mut fixes) = match verdict {
            Verdict::Right(detail) => (Status::Pass, detail.clone(), Vec::new()),
            Verdict::Wrong(detail, fix) => (Status::Fail, detail.clone(), vec![fix.clone()]),
            Verdict::CannotTell(detail) => (
                Status::Warn,
                detail.clone(),
                vec!["run the doctor where the per-user sources are reachable".into()],
            ),
            Verdict::NoAnswer(detail) if probe.required && !client_works => (
                Status::Fail,
                format!(
                    "{detail}; {} finds this config's settings at none of its URLs",
                    probe.client
                ),
                serve_it(),
            ),
            Verdict::NoAnswer(detail) if probe.required => (
                Status::Warn,
                format!("{detail}; {} falls back to another URL", probe.client),
                serve_it(),
            ),
            Verdict::NoAnswer(detail) => (
                Status::Pass,
                format!(
                    "no answer ({detail}), a fallback {} can do without",
                    probe.client
                ),
                Vec::new(),
            ),
        };
        if let Ok(answer) = &fetched[index] {
            if let Some(url) = &answer.redirected_to {
                detail = format!("{detail} (redirected to {url})");
            }
            if let Some(certificate) = &answer.certificate {
                let (cert_status, cert_detail, cert_fix) = certificate.summary();
                if cert_status != Status::Pass || status == Status::Pass {
                    detail = format!("{detail}; {cert_detail}");
                }
                status = worst(status, cert_status);
                fixes.extend(cert_fix);
            }
        }
        let fix = (!fixes.is_empty()).then(|| fixes.join("\n"));
        checks.push(line.status(status, detail, fix));
        if let (true, Ok(answer), Expected::Exact(document)) =
            (probe.vouched_by_dns, &fetched[index], &probe.expected)
            && answer.status == 200
        {
            checks.push(pacc::digest_check(net, domain, &answer.body, &document.body).await);
        }
    }
    checks
}

fn worst(a: Status, b: Status) -> Status {
    match (a, b) {
        (Status::Fail, _) | (_, Status::Fail) => Status::Fail,
        (Status::Warn, _) | (_, Status::Warn) => Status::Warn,
        (Status::Pass, Status::Pass) => Status::Pass,
    }
}

async fn probes(net: &Net, answers: &Answers, email: &EmailAddress) -> Vec<Probe> {
    let domain = email.domain().as_str();
    let address = percent_encoding::utf8_percent_encode(email.as_str(), QUERY_VALUE).to_string();
    let url = |text: String| Url::parse(&text).ok();
    let mut probes = Vec::new();

    // Thunderbird and K-9: https autoconfig, https well-known, then both over http.
    let autoconfig_expected = expected(answers.autoconfig(email).await);
    for (required, base) in [
        (
            true,
            format!("https://autoconfig.{domain}/mail/config-v1.1.xml"),
        ),
        (
            false,
            format!("https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml"),
        ),
        (
            false,
            format!("http://autoconfig.{domain}/mail/config-v1.1.xml"),
        ),
        (
            false,
            format!("http://{domain}/.well-known/autoconfig/mail/config-v1.1.xml"),
        ),
    ] {
        if let Some(url) = url(format!("{base}?emailaddress={address}")) {
            probes.push(Probe {
                client: "Thunderbird",
                required,
                request: Request { url, body: None },
                expected: autoconfig_expected.clone(),
                vouched_by_dns: false,
            });
        }
    }

    // Outlook: the domain, autodiscover.<domain>, then the _autodiscover._tcp SRV target.
    let pox = PoxRequest {
        email: email.clone(),
        schema: ResponseSchema::Outlook,
    };
    let pox_expected = expected(answers.pox(&pox).await);
    let mut outlook = vec![
        (
            false,
            format!("https://{domain}/autodiscover/autodiscover.xml"),
        ),
        (
            true,
            format!("https://autodiscover.{domain}/autodiscover/autodiscover.xml"),
        ),
    ];
    if let Some((host, port)) = autodiscover_srv(net, domain).await {
        outlook.push((
            false,
            format!("https://{host}:{port}/autodiscover/autodiscover.xml"),
        ));
    }
    for (required, text) in outlook {
        if let Some(url) = url(text) {
            probes.push(Probe {
                client: "Outlook",
                required,
                request: Request {
                    url,
                    body: Some((pox.to_xml(), autodiscover::CONTENT_TYPE)),
                },
                expected: pox_expected.clone(),
                vouched_by_dns: false,
            });
        }
    }

    // Outlook 2016+ and macOS: v2 JSON, asking for the POX endpoint.
    let host = format!("autodiscover.{domain}");
    let pox_url = format!("https://{host}/autodiscover/autodiscover.xml");
    let json_expected = expected(
        answers
            .json(email, JsonProtocol::AutodiscoverV1, &pox_url)
            .await,
    );
    if let Some(url) = url(format!(
        "https://{host}/autodiscover/autodiscover.json/v1.0/{address}?Protocol=AutodiscoverV1"
    )) {
        probes.push(Probe {
            client: "Autodiscover v2",
            required: true,
            request: Request { url, body: None },
            expected: json_expected,
            vouched_by_dns: false,
        });
    }

    // iPhone and Mac: the signed profile and the form that offers it.
    // The XML the server signs: the same pipeline, left unsigned.
    let profile_expected = match answers.profile(email, None, Signing::Unsigned).await {
        Ok(xml) => Expected::Profile {
            xml,
            signed: answers.config.signing.is_some(),
        },
        Err(ProfileFailure::Resolve { error, .. }) => not_served(&error.into()),
        Err(error) => Expected::Unknown(format!("this config builds no profile ({error})")),
    };
    for (client, text, expected) in [
        (
            "Apple profile",
            format!("https://autoconfig.{domain}/mobileconfig?emailaddress={address}"),
            profile_expected,
        ),
        (
            "Web form",
            format!("https://autoconfig.{domain}/"),
            Expected::Page,
        ),
    ] {
        if let Some(url) = url(text) {
            probes.push(Probe {
                client,
                required: true,
                request: Request { url, body: None },
                expected,
                vouched_by_dns: false,
            });
        }
    }

    // PACC clients, where the domain publishes a document: one URL, no fallback.
    if let Ok(document) = answers.pacc(email.domain())
        && let Some(url) = url(format!("https://{PACC_HOST}.{domain}{PACC_PATH}"))
    {
        probes.push(Probe {
            client: "PACC",
            required: true,
            request: Request { url, body: None },
            expected: Expected::Exact(document),
            vouched_by_dns: true,
        });
    }
    probes
}

/// The expected answer, or why there is none to compare with.
fn expected(answer: Result<Rendered, Refusal>) -> Expected {
    match answer {
        Ok(rendered) => Expected::Exact(rendered),
        Err(refusal) => not_served(&refusal),
    }
}

fn not_served(refusal: &Refusal) -> Expected {
    match refusal {
        Refusal::UnknownDomain => Expected::NotServed,
        Refusal::BackendUnavailable => Expected::Unknown(
            "a per-user settings source is unavailable from here, so the right answer is unknown"
                .into(),
        ),
        other => Expected::Unknown(format!("this config refuses the request ({other})")),
    }
}

/// The best `_autodiscover._tcp` target (lowest priority, then highest weight), if any.
async fn autodiscover_srv(net: &Net, domain: &str) -> Option<(String, u16)> {
    let lookup = net
        .bounded(async {
            net.resolver()
                .srv_lookup(format!("_autodiscover._tcp.{domain}."))
                .await
                .map_err(|error| ProbeError::Protocol(error.to_string()))
        })
        .await
        .ok()?;
    lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) if srv.target.to_ascii() != "." => Some(srv),
            _ => None,
        })
        .min_by_key(|srv| (srv.priority, std::cmp::Reverse(srv.weight)))
        .map(|srv| {
            (
                srv.target.to_ascii().trim_end_matches('.').to_owned(),
                srv.port,
            )
        })
}

fn judge(expected: &Expected, answer: &Answer) -> Verdict {
    let status = answer.status;
    let stale = "a stale server or a rewriting proxy answers here: point this name at mxconf, or update that server".to_owned();
    if status >= 500 {
        return Verdict::Wrong(
            format!("{status}: server error"),
            "see that server's log".into(),
        );
    }
    match expected {
        Expected::Exact(rendered) => {
            if status == rendered.status && answer.body == rendered.body {
                return Verdict::Right(format!("{status}, the answer is this config's"));
            }
            let same_kind = http::essence(rendered.content_type) == answer.content_type
                || (rendered.content_type.contains("xml") && answer.content_type.contains("xml"));
            if (200..300).contains(&status) && same_kind {
                Verdict::Wrong(
                    format!(
                        "{status}, the answer differs from this config's ({})",
                        first_difference(&rendered.body, &answer.body)
                    ),
                    stale,
                )
            } else {
                Verdict::NoAnswer(describe(answer))
            }
        }
        Expected::NotServed => {
            if status == 404 {
                Verdict::Right("404: this config does not serve this domain".into())
            } else if (200..300).contains(&status) {
                Verdict::Wrong(
                    format!("{status}: answers although this config does not serve the domain"),
                    stale,
                )
            } else {
                Verdict::NoAnswer(describe(answer))
            }
        }
        Expected::Profile { xml, signed } => {
            if status != 200 || answer.content_type != "application/x-apple-aspen-config" {
                return Verdict::NoAnswer(describe(answer));
            }
            let content = if crate::signing::is_signed_data(&answer.body) {
                match crate::signing::signed_content(&answer.body) {
                    Ok(content) => content,
                    Err(error) => {
                        return Verdict::Wrong(
                            format!("200, the profile's signature is broken ({error})"),
                            stale,
                        );
                    }
                }
            } else if *signed {
                return Verdict::Wrong(
                    "200, an unsigned profile although [signing] is configured".into(),
                    stale,
                );
            } else {
                answer.body.clone()
            };
            if content == *xml {
                Verdict::Right(format!(
                    "200, a{} profile with this config's settings",
                    if *signed { " signed" } else { "n unsigned" }
                ))
            } else {
                Verdict::Wrong(
                    format!(
                        "200, the profile differs from this config's ({})",
                        first_difference(xml, &content)
                    ),
                    stale,
                )
            }
        }
        Expected::Page => {
            if status == 200 && answer.content_type == "text/html" {
                Verdict::Right("200, the download form".into())
            } else {
                Verdict::NoAnswer(describe(answer))
            }
        }
        Expected::Unknown(reason) => Verdict::CannotTell(format!("{status}; {reason}")),
    }
}

fn describe(answer: &Answer) -> String {
    if answer.content_type.is_empty() {
        answer.status.to_string()
    } else {
        format!("{} {}", answer.status, answer.content_type)
    }
}

/// The first line that differs, shortened: enough to see *what* a stale server says.
fn first_difference(expected: &[u8], got: &[u8]) -> String {
    let expected = String::from_utf8_lossy(expected);
    let got = String::from_utf8_lossy(got);
    let short = |line: &str| {
        let line = line.trim();
        if line.chars().count() > 80 {
            format!("{}…", line.chars().take(80).collect::<String>())
        } else {
            line.to_owned()
        }
    };
    let mut got_lines = got.lines();
    for want in expected.lines() {
        match got_lines.next() {
            Some(line) if line == want => continue,
            Some(line) => return format!("expected `{}`, got `{}`", short(want), short(line)),
            None => return format!("expected `{}`, got the end", short(want)),
        }
    }
    match got_lines.next() {
        Some(line) => format!("unexpected `{}` at the end", short(line)),
        None => "the bytes differ".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_changed_line() {
        assert_eq!(
            first_difference(
                b"<a>\n<host>imap.example.com</host>\n</a>",
                b"<a>\n<host>old.example.com</host>\n</a>"
            ),
            "expected `<host>imap.example.com</host>`, got `<host>old.example.com</host>`"
        );
        assert_eq!(first_difference(b"a\nb", b"a"), "expected `b`, got the end");
    }
}
