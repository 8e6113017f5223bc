//! `mxconf import`: automx's own sample configurations and every ISPDB file in
//! `../shared/spec/` go through the real binary, and what comes out must load with
//! `mxconf check-config` and say what the original said.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mxconf::account::{AuthMethod, Domain, Security};
use mxconf::config::{Config, ConfigSource, DomainSettings};

use crate::support::spec_dir;

fn mxconf() -> Command {
    Command::cargo_bin("mxconf").expect("binary builds")
}

/// Runs `mxconf import FORMAT FILE`, saves stdout to a temp file, and checks that
/// `mxconf check-config` accepts it. Returns the text and the loaded config.
fn import_and_check(format: &str, file: &Path) -> (String, Config) {
    let output = mxconf()
        .args(["import", format])
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", file.display());
    let text = String::from_utf8(output.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mxconf.toml");
    std::fs::write(&path, &text).unwrap();
    mxconf()
        .args(["check-config", "--config"])
        .arg(&path)
        .assert()
        .success();
    let config = Config::from_toml(&text, ConfigSource::File(path)).unwrap();
    (text, config)
}

fn automx_sample(name: &str) -> PathBuf {
    spec_dir().join("automx").join(name)
}

fn domain<'c>(config: &'c Config, name: &str) -> &'c DomainSettings {
    config
        .domain(&Domain::parse(name).unwrap())
        .unwrap_or_else(|| panic!("{name} is not served"))
}

/// (host, port, security, authentication, username) of each server, in answer order.
fn summary(
    servers: &[mxconf::account::MailServer],
) -> Vec<(&str, u16, Security, Vec<AuthMethod>, &str)> {
    servers
        .iter()
        .map(|s| {
            (
                s.host.as_str(),
                s.port,
                s.security,
                s.authentication.clone(),
                s.username.as_str(),
            )
        })
        .collect()
}

#[test]
fn automx_shipped_sample_translates_and_loads() {
    let (text, config) = import_and_check("automx", &automx_sample("automx.conf"));
    assert_eq!(config.provider.id, "example.com");
    // account_name / account_name_short come from [DEFAULT], merged into [global].
    assert_eq!(config.provider.display_name, "Example Incorporated");
    assert_eq!(config.provider.short_name, "Example Inc.");
    let example = domain(&config, "example.com");
    let pw = vec![AuthMethod::PasswordCleartext];
    // automx's default login is the local part (%u) when no _auth_identity is set.
    assert_eq!(
        summary(&example.incoming),
        vec![
            (
                "mail.example.com",
                143,
                Security::Starttls,
                pw.clone(),
                "%EMAILLOCALPART%"
            ),
            (
                "mail.example.com",
                110,
                Security::Plain,
                pw.clone(),
                "%EMAILLOCALPART%"
            ),
        ]
    );
    assert_eq!(
        summary(&example.outgoing),
        vec![(
            "mail.example.com",
            587,
            Security::Starttls,
            pw,
            "%EMAILLOCALPART%"
        )]
    );
    // Only listed domains are served, as in automx.
    assert!(
        config
            .domain(&Domain::parse("example.org").unwrap())
            .is_none()
    );
    for dropped in [
        "# - [automx] memcache = 127.0.0.1:11211: rate limiting belongs at the reverse proxy",
        "# [global] smtp_default = yes:",
        "# [global] imap_refresh_ttl = 6: an Outlook-only knob",
        "automx pop_encryption = none: kept as plain",
    ] {
        assert!(text.contains(dropped), "no {dropped:?} in\n{text}");
    }
    assert!(text.starts_with("# Imported from the automx configuration "));
}

#[test]
fn automx_complex_sample_translates_and_loads() {
    let (text, config) = import_and_check("automx", &automx_sample("automx.conf.example-complex"));
    assert_eq!(config.provider.id, "example.com");
    // "Foobar - ${cn}" is per user in automx; the provider name is the fixed part.
    assert_eq!(config.provider.display_name, "Foobar");
    assert_eq!(config.provider.short_name, "Whatever you like");
    assert!(text.contains("automx had `domains = *`"), "{text}");

    // `backend = file`: the static part (from [DEFAULT]) carries over; the verbatim XML file
    // does not. Its ${deliverToAddress} logins had no lookup behind them.
    let lululala = domain(&config, "lululala.net");
    assert_eq!(lululala.outgoing.len(), 1);
    assert_eq!(lululala.outgoing[0].host, "mail.example.com");
    assert_eq!(lululala.outgoing[0].port, 587);
    assert_eq!(lululala.outgoing[0].username, "%EMAILADDRESS%");
    assert!(
        text.contains("/var/www/automx/templates/autoconfig.xml: automx served this file verbatim")
    );

    // `backend = filter` is gone: foobar.org gets the settings of the section the filter
    // chose, with POP switched off there (so not inherited from [defaults] either).
    let foobar = domain(&config, "foobar.org");
    let hosts: Vec<_> = foobar
        .incoming
        .iter()
        .map(|s| (s.host.as_str(), s.port))
        .collect();
    assert_eq!(hosts, [("mail.somewhere.org", 143)]);
    assert_eq!(foobar.outgoing[0].host, "mail.somewhere.org");
    assert!(text.contains("backend = filter: automx ran a command per request"));
    // The section reached only through section_filter is not a domain of its own.
    assert!(
        config
            .domain(&Domain::parse("filter.foobar.org").unwrap())
            .is_none()
    );
    // The SQL query's %s became a placeholder; no automx macro survives anywhere.
    assert!(text.contains("mailaddr='%EMAILADDRESS%'"), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains("%s") && !line.contains("%u") && !line.contains("${"),
            "{line}"
        );
    }
}

#[test]
fn automx_errors_name_file_and_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("automx.conf");
    std::fs::write(
        &path,
        "[automx]\nprovider = example.org\ndomains = example.org\n\n[example.org]\nbackend = static\n\
         smtp = yes\nsmtp_server = mail.example.org\nsmtp_port = 5870000\n",
    )
    .unwrap();
    let output = mxconf()
        .args(["import", "automx"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}:9: [example.org] smtp_port: \"5870000\" is not a port number",
            path.display()
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    mxconf()
        .args(["import", "automx", "/nonexistent/automx.conf"])
        .assert()
        .code(2);
}

#[test]
fn import_output_flag_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mxconf.toml");
    mxconf()
        .args(["import", "ispdb"])
        .arg(spec_dir().join("ispdb/posteo.de.xml"))
        .arg("--output")
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    let config = Config::load(&out).unwrap();
    assert_eq!(config.provider.id, "posteo.de");
}
