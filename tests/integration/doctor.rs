//! `mxconf doctor` against a real deployment started by the test (see `support::deployment`):
//! Knot serving the zones (the right ones are `mxconf dns`'s own output), Dovecot and Postfix
//! as the mail servers with a test CA's certificates, nginx terminating TLS in front of two
//! mxconf servers, one of them a stale copy with other settings. Three domains: one right,
//! one whose apex is served by the stale copy, one with every DNS and mail-server mistake the
//! doctor must catch. The report's JSON is checked against `docs/doctor.schema.json`, and
//! the sample report in `docs/doctor.md` against the real one.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::cli::mxconf;
use crate::support::deployment::{
    Dovecot, Knot, MAIL_IP, Nginx, Postfix, Site, SmtpService, TestCa, Validity, shared_dir,
};
use crate::support::servers::{free_port_on, wait_for};
use crate::support::{self, TestServer, config_from};

/// The mail servers' ports, as the configs name them.
struct Ports {
    imap: u16,
    imaps: u16,
    pop3: u16,
    pop3s: u16,
    submission: u16,
    smtps: u16,
    no_starttls: u16,
    auth_before_tls: u16,
    expired: u16,
    ending_soon: u16,
}

fn config_text(ports: &Ports, stale: bool) -> String {
    let Ports {
        imap,
        imaps,
        pop3,
        pop3s,
        submission,
        smtps,
        no_starttls,
        auth_before_tls,
        expired,
        ending_soon,
    } = ports;
    let imap_host = if stale {
        "old-imap.example.test"
    } else {
        "imap.example.test"
    };
    let broken = if stale {
        String::new()
    } else {
        format!(
            r#"
[domains."broken.test"]
pacc = true
# A STARTTLS-only port configured as implicit TLS, and the other way round.
[[domains."broken.test".imap]]
host = "imap.example.test"
port = {imap}
security = "tls"
[[domains."broken.test".imap]]
host = "imap.example.test"
port = {imaps}
security = "starttls"
# No STARTTLS offered at all.
[[domains."broken.test".smtp]]
host = "smtp.example.test"
port = {no_starttls}
security = "starttls"
# The certificate there is for smtp.example.test.
[[domains."broken.test".smtp]]
host = "wrongname.example.test"
port = {submission}
security = "starttls"
[[domains."broken.test".smtp]]
host = "expired.example.test"
port = {expired}
security = "tls"
# Valid for five more days: a warning.
[[domains."broken.test".smtp]]
host = "soon.example.test"
port = {ending_soon}
security = "tls"
# AUTH PLAIN offered before STARTTLS.
[[domains."broken.test".smtp]]
host = "smtp.example.test"
port = {auth_before_tls}
security = "starttls"
# Postfix offers PLAIN and LOGIN only.
[[domains."broken.test".smtp]]
host = "smtp.example.test"
port = {smtps}
security = "tls"
authentication = "password-encrypted"
"#
        )
    };
    // The stale copy also lists an address book, which changes the PACC document it serves.
    let stale_share = if stale {
        "carddav = \"https://old-dav.example.test/\"\n"
    } else {
        ""
    };
    format!(
        r#"[provider]
id = "example.test"
display-name = "Example Test Mail"
short-name = "Example"

[server]
trusted-proxies = ["127.0.0.1/32"]

[signing]
development-chain = true

[defaults]
caldav = "https://dav.example.test/"

[[defaults.imap]]
host = "{imap_host}"
port = {imaps}
security = "tls"
[[defaults.imap]]
host = "{imap_host}"
port = {imap}
security = "starttls"
[[defaults.pop3]]
host = "imap.example.test"
port = {pop3s}
security = "tls"
[[defaults.pop3]]
host = "imap.example.test"
port = {pop3}
security = "starttls"
[[defaults.smtp]]
host = "smtp.example.test"
port = {smtps}
security = "tls"
[[defaults.smtp]]
host = "smtp.example.test"
port = {submission}
security = "starttls"

[domains."example.test"]
pacc = true
[domains."stale.test"]
pacc = true
{stale_share}{broken}"#
    )
}

/// `mxconf dns DOMAIN` for `config`: the zone lines the doctor must find.
fn dns_lines(config: &Path, domain: &str) -> Vec<String> {
    let output = mxconf()
        .args([
            "dns",
            domain,
            "--web-host",
            "mxconf.example.test",
            "--config",
        ])
        .arg(config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with(';'))
        .map(str::to_owned)
        .collect()
}

/// Everything the tests talk to; dropped (and stopped) at the end of the test.
struct Deployment {
    _knot: Knot,
    _dovecot: Dovecot,
    _postfix: Postfix,
    _nginx: Nginx,
    _right: TestServer,
    _stale: TestServer,
    _ca: TestCa,
    _dir: tempfile::TempDir,
    config: PathBuf,
    args: Vec<String>,
    ports: Ports,
}

impl Deployment {
    async fn start() -> Deployment {
        let ca = TestCa::new();
        let (mail_cert, mail_key) = ca.issue("imap", &["imap.example.test"], Validity::Current);
        let (smtp_cert, smtp_key) = ca.issue("smtp", &["smtp.example.test"], Validity::Current);
        let (expired_cert, expired_key) =
            ca.issue("expired", &["expired.example.test"], Validity::Expired);
        let (soon_cert, soon_key) = ca.issue("soon", &["soon.example.test"], Validity::EndingSoon);
        let web_names = [
            "mxconf.example.test",
            "autoconfig.example.test",
            "autodiscover.example.test",
            "ua-auto-config.example.test",
            "example.test",
            "dav.example.test",
            "autoconfig.stale.test",
            "autodiscover.stale.test",
            "autoconfig.broken.test",
            "autodiscover.broken.test",
            "ua-auto-config.broken.test",
            "broken.test",
        ];
        let (web_cert, web_key) = ca.issue("web", &web_names, Validity::Current);
        // The stale copy answers stale.test's apex and its PACC host.
        let stale_names = ["stale.test", "ua-auto-config.stale.test"];
        let (stale_cert, stale_key) = ca.issue("stale", &stale_names, Validity::Current);

        let dovecot = Dovecot::start(&mail_cert, &mail_key);
        let postfix = Postfix::start(
            &smtp_cert,
            &smtp_key,
            &dovecot.sasl_socket(),
            &[
                SmtpService { options: &[] },
                SmtpService {
                    options: &["smtpd_tls_wrappermode=yes".into()],
                },
                SmtpService {
                    options: &["smtpd_tls_security_level=none".into()],
                },
                SmtpService {
                    options: &["smtpd_tls_auth_only=no".into()],
                },
                SmtpService {
                    options: &[
                        "smtpd_tls_wrappermode=yes".into(),
                        format!("smtpd_tls_cert_file={}", expired_cert.display()),
                        format!("smtpd_tls_key_file={}", expired_key.display()),
                    ],
                },
                SmtpService {
                    options: &[
                        "smtpd_tls_wrappermode=yes".into(),
                        format!("smtpd_tls_cert_file={}", soon_cert.display()),
                        format!("smtpd_tls_key_file={}", soon_key.display()),
                    ],
                },
            ],
        );
        let ports = Ports {
            imap: dovecot.imap,
            imaps: dovecot.imaps,
            pop3: dovecot.pop3,
            pop3s: dovecot.pop3s,
            submission: postfix.ports[0],
            smtps: postfix.ports[1],
            no_starttls: postfix.ports[2],
            auth_before_tls: postfix.ports[3],
            expired: postfix.ports[4],
            ending_soon: postfix.ports[5],
        };

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("mxconf.toml");
        std::fs::write(&config, config_text(&ports, false)).unwrap();
        let right = TestServer::start(config_from(&config_text(&ports, false))).await;
        let stale = TestServer::start(config_from(&config_text(&ports, true))).await;

        let nginx = Nginx::start(&[
            Site {
                names: &web_names,
                cert: &web_cert,
                key: &web_key,
                upstream: right.addr,
            },
            Site {
                names: &stale_names,
                cert: &stale_cert,
                key: &stale_key,
                upstream: stale.addr,
            },
        ]);

        let hosts = format!(
            "@ A 127.0.0.1\nmxconf A 127.0.0.1\ndav A 127.0.0.1\n\
             imap A {MAIL_IP}\nsmtp A {MAIL_IP}\nwrongname A {MAIL_IP}\nexpired A {MAIL_IP}\n\
             soon A {MAIL_IP}\n"
        );
        let mx = "@ MX 10 imap.example.test.\n";
        let example = format!(
            "{}\n{hosts}{mx}",
            dns_lines(&config, "example.test").join("\n")
        );
        let stale_zone = format!(
            "{}\n@ A 127.0.0.1\n{mx}",
            dns_lines(&config, "stale.test").join("\n")
        );
        // broken.test: _submissions._tcp, the autoconfig name and the PACC digest missing, a
        // wrong port in _imaps._tcp, no MX.
        let broken: Vec<String> = dns_lines(&config, "broken.test")
            .into_iter()
            .filter(|line| {
                !line.starts_with("_submissions._tcp.")
                    && !line.starts_with("autoconfig.")
                    && !line.starts_with("_ua-auto-config.")
            })
            .map(|line| {
                if line.starts_with("_imaps._tcp.") {
                    line.replace(
                        &format!(" {} ", ports.imap),
                        &format!(" {} ", ports.imap + 1),
                    )
                } else {
                    line
                }
            })
            .collect();
        let broken = format!("{}\n@ A 127.0.0.1\n", broken.join("\n"));
        let knot = Knot::start(&[
            ("example.test", example),
            ("stale.test", stale_zone),
            ("broken.test", broken),
        ]);

        let args = vec![
            "--config".to_owned(),
            config.display().to_string(),
            "--resolver".to_owned(),
            knot.addr.to_string(),
            "--ca".to_owned(),
            ca.ca_file().display().to_string(),
            "--connect-to".to_owned(),
            format!(":443::{}", nginx.https),
            "--connect-to".to_owned(),
            format!(":80::{}", nginx.http),
            "--web-host".to_owned(),
            "mxconf.example.test".to_owned(),
            "--timeout".to_owned(),
            "3".to_owned(),
        ];
        Deployment {
            _knot: knot,
            _dovecot: dovecot,
            _postfix: postfix,
            _nginx: nginx,
            _right: right,
            _stale: stale,
            _ca: ca,
            _dir: dir,
            config,
            args,
            ports,
        }
    }

    /// `mxconf doctor ARGS… <the deployment's options>`, off the runtime the servers run on.
    async fn doctor(&self, args: &[&str]) -> Output {
        let mut command = mxconf();
        command.arg("doctor").args(args).args(&self.args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The check whose subject starts with `subject` (and is about `domain`, when given).
fn check<'a>(checks: &'a [Value], domain: Option<&str>, subject: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| {
            c["subject"].as_str().unwrap().starts_with(subject)
                && domain.is_none_or(|d| c["domain"] == d)
        })
        .unwrap_or_else(|| panic!("no check {subject:?} for {domain:?} in {checks:#?}"))
}

fn assert_check(checks: &[Value], domain: Option<&str>, subject: &str, status: &str, says: &str) {
    let found = check(checks, domain, subject);
    assert_eq!(found["status"], status, "{found:#}");
    let text = format!("{} {}", found["detail"], found["fix"]);
    assert!(text.contains(says), "{subject}: {says:?} not in {found:#}");
}

/// Validates `document` against docs/doctor.schema.json.
fn validate_against_schema(document: &str) {
    support::validate_json_schema("docs/doctor.schema.json", document.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_a_real_deployment() {
    let deployment = Deployment::start().await;

    // The right domain: nothing fails (the development signer is a warning), exit 0.
    let right = deployment.doctor(&["example.test"]).await;
    let text = stdout(&right);
    assert_eq!(right.status.code(), Some(0), "{text}");
    assert!(!text.contains('✗'), "{text}");
    assert!(text.contains("\n0 failed, "), "{text}");

    // Every domain, as monitoring would ask: exit 1, a document of the documented shape.
    let all = deployment.doctor(&["--all", "--json"]).await;
    let json = stdout(&all);
    assert_eq!(all.status.code(), Some(1), "{json}");
    validate_against_schema(&json);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["domains"],
        serde_json::json!(["broken.test", "example.test", "stale.test"])
    );
    let checks = report["checks"].as_array().unwrap();
    let failed = checks.iter().filter(|c| c["status"] == "fail").count();
    assert_eq!(report["summary"]["fail"], failed);

    // DNS: complete zones pass; each missing or different record comes with the exact line
    // `mxconf dns` prints.
    let broken_lines = dns_lines(&deployment.config, "broken.test");
    let line_of = |prefix: &str| {
        broken_lines
            .iter()
            .find(|line| line.starts_with(prefix))
            .unwrap()
            .clone()
    };
    for domain in ["example.test", "stale.test"] {
        for record in checks
            .iter()
            .filter(|c| c["section"] == "dns" && c["domain"] == domain)
        {
            assert_ne!(record["status"], "fail", "{record:#}");
        }
    }
    assert_check(
        checks,
        Some("example.test"),
        "_imaps._tcp.example.test SRV",
        "pass",
        &format!("imap.example.test:{}", deployment.ports.imaps),
    );
    assert_check(
        checks,
        Some("broken.test"),
        "_submissions._tcp.broken.test SRV",
        "fail",
        &line_of("_submissions._tcp."),
    );
    assert_check(
        checks,
        Some("broken.test"),
        "_imaps._tcp.broken.test SRV",
        "fail",
        &format!("points at imap.example.test:{}", deployment.ports.imap + 1),
    );
    assert_check(
        checks,
        Some("broken.test"),
        "_imaps._tcp.broken.test SRV",
        "fail",
        &line_of("_imaps._tcp."),
    );
    assert_check(
        checks,
        Some("broken.test"),
        "autoconfig.broken.test",
        "fail",
        &line_of("autoconfig.broken.test."),
    );
    assert_check(
        checks,
        Some("broken.test"),
        "broken.test MX",
        "fail",
        "publish an MX",
    );

    // Discovery: the right server passes at every URL; the stale copy behind stale.test's
    // apex is caught by its different answer, in Thunderbird's and Outlook's order alike.
    for client in [
        "Thunderbird 1/4 https://autoconfig.example.test/",
        "Thunderbird 2/4 https://example.test/",
        "Thunderbird 3/4 http://autoconfig.example.test/",
        "Outlook 1/3 https://example.test/",
        "Outlook 2/3 https://autodiscover.example.test/",
        "Outlook 3/3 https://mxconf.example.test/",
        "Autodiscover v2 https://autodiscover.example.test/",
        "Apple profile https://autoconfig.example.test/",
        "Web form https://autoconfig.example.test/",
    ] {
        assert_check(checks, Some("example.test"), client, "pass", "200");
    }
    assert_check(
        checks,
        Some("stale.test"),
        "Thunderbird 2/4 https://stale.test/",
        "fail",
        "old-imap.example.test",
    );
    assert_check(
        checks,
        Some("stale.test"),
        "Outlook 1/3 https://stale.test/",
        "fail",
        "the answer differs from this config's",
    );
    assert_check(
        checks,
        Some("stale.test"),
        "Thunderbird 1/4 https://autoconfig.stale.test/",
        "pass",
        "this config's",
    );
    // PACC, fetched as a client fetches it: the right server's document is vouched for by
    // the published digest (the d= of `mxconf dns`'s record); the stale copy's other document
    // is not, and broken.test publishes no digest at all.
    let example_lines = dns_lines(&deployment.config, "example.test");
    let published = example_lines
        .iter()
        .find(|line| line.starts_with("_ua-auto-config.example.test."))
        .expect("mxconf dns prints the PACC digest record");
    let digest = published
        .split("d=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the record carries d=");
    assert_check(
        checks,
        Some("example.test"),
        "PACC https://ua-auto-config.example.test/.well-known/user-agent-configuration.json",
        "pass",
        "200, the answer is this config's",
    );
    assert_check(
        checks,
        Some("example.test"),
        "PACC digest _ua-auto-config.example.test TXT",
        "pass",
        &format!("vouches for the served document (SHA-256 {digest})"),
    );
    assert_check(
        checks,
        Some("stale.test"),
        "PACC https://ua-auto-config.stale.test/",
        "fail",
        "the answer differs from this config's",
    );
    assert_check(
        checks,
        Some("stale.test"),
        "PACC digest _ua-auto-config.stale.test TXT",
        "fail",
        "vouches for other bytes than the served document's",
    );
    assert_check(
        checks,
        Some("stale.test"),
        "PACC digest _ua-auto-config.stale.test TXT",
        "fail",
        "serve this config's document",
    );
    assert_check(
        checks,
        Some("broken.test"),
        "PACC digest _ua-auto-config.broken.test TXT",
        "fail",
        "missing: clients ignore the served document",
    );
    assert_check(
        checks,
        Some("broken.test"),
        "PACC digest _ua-auto-config.broken.test TXT",
        "fail",
        // The record `mxconf dns` prints (quotes escaped in the JSON text compared).
        &line_of("_ua-auto-config.broken.test.").replace('"', "\\\""),
    );
    assert_check(
        checks,
        Some("broken.test"),
        "Thunderbird 1/4 https://autoconfig.broken.test/",
        "warn",
        "does not resolve (no such name); Thunderbird falls back",
    );

    // Mail servers: right ones pass; each mistake fails with what to change.
    let p = &deployment.ports;
    for subject in [
        format!("imap.example.test:{} (IMAP, implicit TLS)", p.imaps),
        format!("imap.example.test:{} (IMAP, STARTTLS)", p.imap),
        format!("imap.example.test:{} (POP3, implicit TLS)", p.pop3s),
        format!("imap.example.test:{} (POP3, STLS)", p.pop3),
        format!("smtp.example.test:{} (SMTP, STARTTLS)", p.submission),
    ] {
        let lines: Vec<&Value> = checks
            .iter()
            .filter(|c| c["subject"] == subject.as_str())
            .collect();
        assert!(!lines.is_empty(), "{subject}");
        for line in lines {
            assert_eq!(line["status"], "pass", "{line:#}");
        }
    }
    let mail = |port: u16, host: &str, what: &str| format!("{host}:{port} ({what})");
    assert_check(
        checks,
        None,
        &mail(p.imap, "imap.example.test", "IMAP, implicit TLS"),
        "fail",
        "greets in plain text",
    );
    assert_check(
        checks,
        None,
        &mail(p.no_starttls, "smtp.example.test", "SMTP, STARTTLS"),
        "fail",
        "STARTTLS is not offered",
    );
    assert_check(
        checks,
        None,
        &mail(p.submission, "wrongname.example.test", "SMTP, STARTTLS"),
        "fail",
        "is not valid for wrongname.example.test (it names smtp.example.test)",
    );
    assert_check(
        checks,
        None,
        &mail(p.expired, "expired.example.test", "SMTP, implicit TLS"),
        "fail",
        "expired on",
    );
    assert_check(
        checks,
        None,
        &mail(p.ending_soon, "soon.example.test", "SMTP, implicit TLS"),
        "warn",
        "certificate for soon.example.test expires on",
    );
    assert_check(
        checks,
        None,
        &mail(p.imaps, "imap.example.test", "IMAP, STARTTLS"),
        "fail",
        "the port expects TLS from the first byte, but the config says starttls",
    );
    let before_tls = checks
        .iter()
        .filter(|c| c["subject"] == mail(p.auth_before_tls, "smtp.example.test", "SMTP, STARTTLS"))
        .find(|c| c["status"] == "fail")
        .expect("a failure for AUTH before STARTTLS");
    assert!(
        before_tls["detail"]
            .as_str()
            .unwrap()
            .contains("offers AUTH PLAIN, AUTH LOGIN before STARTTLS"),
        "{before_tls:#}"
    );
    let smtps = mail(p.smtps, "smtp.example.test", "SMTP, implicit TLS");
    let promised = checks
        .iter()
        .filter(|c| c["subject"] == smtps.as_str())
        .find(|c| c["status"] == "fail")
        .expect("a failure for the mechanism that is not offered");
    assert!(
        promised["detail"]
            .as_str()
            .unwrap()
            .contains("promise password-encrypted but the server offers PLAIN, LOGIN"),
        "{promised:#}"
    );
    assert_check(
        checks,
        None,
        "CalDAV https://dav.example.test/",
        "pass",
        "certificate valid for dav.example.test",
    );
    let signing: Vec<&Value> = checks
        .iter()
        .filter(|c| c["section"] == "signing")
        .collect();
    assert_eq!(signing[0]["status"], "pass", "{signing:#?}");
    assert!(
        signing[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("valid until 20")
    );
    assert_eq!(signing[1]["status"], "warn", "{signing:#?}");
    assert!(
        signing[1]["detail"]
            .as_str()
            .unwrap()
            .contains("iOS shows \"Not Verified\""),
        "{signing:#?}"
    );
    sample_in_the_docs_is_real_output(&text, &deployment);
}

/// docs/doctor.md's sample report is this run's, with its random ports and dates replaced.
fn sample_in_the_docs_is_real_output(text: &str, deployment: &Deployment) {
    let p = &deployment.ports;
    let mut normal = text.to_owned();
    for (port, standard) in [
        (p.imaps, "993"),
        (p.imap, "143"),
        (p.pop3s, "995"),
        (p.pop3, "110"),
        (p.smtps, "465"),
        (p.submission, "587"),
    ] {
        normal = normal.replace(&format!(":{port} "), &format!(":{standard} "));
        normal = normal.replace(&format!(" {port} "), &format!(" {standard} "));
        normal = normal.replace(&format!(":{port},"), &format!(":{standard},"));
        normal = normal.replace(&format!(":{port}\n"), &format!(":{standard}\n"));
    }
    let date = regex::Regex::new(r"\d{4}-\d\d-\d\d").unwrap();
    let normal = date.replace_all(&normal, "2027-03-01").into_owned();
    let addresses = regex::Regex::new(r"resolves to [0-9., ]+").unwrap();
    let normal = addresses.replace_all(&normal, "resolves to 192.0.2.10");
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/doctor.md"))
            .unwrap();
    let sample = docs
        .split("```text\nmxconf doctor: example.test\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .map(|body| format!("mxconf doctor: example.test\n{body}\n"))
        .expect("docs/doctor.md has the sample report");
    assert_eq!(
        sample, normal,
        "docs/doctor.md's sample differs from the real report (normalised):\n{normal}"
    );
}

#[test]
fn doctor_all_says_which_wildcards_it_cannot_list() {
    let (_dir, config) = crate::support::cli::temp_file(
        "mxconf.toml",
        &format!(
            "{}\n[domains.\"*.wild.example\"]\n[[domains.\"*.wild.example\".imap]]\nhost = \"imap.wild.example\"\nport = 993\nsecurity = \"tls\"\n",
            mxconf::config::DEMO_TOML
        ),
    );
    // Nothing answers here; only what the command says before it checks matters.
    let output = mxconf()
        .args([
            "doctor",
            "--all",
            "--json",
            "--timeout",
            "1",
            "--resolver",
            "127.0.0.1:9",
        ])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("*.wild.example is not checked"), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["domains"], serde_json::json!(["example.com"]));
}

#[test]
fn doctor_usage_errors_exit_2() {
    let (_dir, config) = crate::support::cli::temp_file("mxconf.toml", mxconf::config::DEMO_TOML);
    for args in [
        vec!["doctor", "not-served.example"],
        vec!["doctor", "not a domain"],
        vec!["doctor"],
        vec!["doctor", "example.com", "--resolver", "nowhere"],
        vec!["doctor", "example.com", "--ca", "/nonexistent.pem"],
        vec!["doctor", "example.com", "--timeout", "0"],
    ] {
        let output = mxconf()
            .args(&args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// The harness's readiness wait, which every test with Knot relies on: knotd binds its port
/// before it has read its zones. Here the zone file is a FIFO, so knotd cannot load the zone
/// before the test writes it: the port accepts, the wait still fails (with knotd's log), and
/// it succeeds once the zone is written.
#[test]
fn knot_is_ready_once_its_zone_answers_not_once_its_port_accepts() {
    let dir = shared_dir();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port_on("127.0.0.1")));
    Knot::configure(dir.path(), addr, &[("example.test", String::new())]);
    let zone_file = dir.path().join("example.test.zone");
    let zone = std::fs::read_to_string(&zone_file).unwrap();
    std::fs::remove_file(&zone_file).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &zone_file,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o666),
        0,
    )
    .unwrap();
    // knotd (as nobody when we are root) opens it for reading; the umask took the bits away.
    std::fs::set_permissions(
        &zone_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let knot = Knot::spawn(dir, addr, vec!["example.test".into()]);

    wait_for(addr);
    let early = knot.serving(std::time::Duration::from_secs(1));
    // Written before anything can fail: a knotd left waiting in the FIFO would not stop. Not
    // blocking, so a knotd that is not reading fails here instead of hanging the test.
    let fifo = rustix::fs::open(
        &zone_file,
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .expect("knotd has the zone file open for reading");
    let written = rustix::io::write(&fifo, zone.as_bytes()).unwrap();
    assert_eq!(written, zone.len());
    drop(fifo);

    let early = early.expect_err("no zone to serve yet");
    assert!(
        early.contains("did not answer SOA example.test authoritatively"),
        "{early}"
    );
    assert!(
        early.contains("[example.test.] zone will be loaded"),
        "{early}"
    );
    knot.serving(std::time::Duration::from_secs(20)).unwrap();
}
