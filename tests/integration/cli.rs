//! The `mxconf` binary itself: subcommands, exit codes, messages.

use crate::support::cli::{check_config, mxconf, temp_file};

#[test]
fn check_config_accepts_the_shipped_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mxconf.toml");
    mxconf()
        .args(["check-config", "--config", example])
        .assert()
        .success();
}

#[test]
fn check_config_names_file_line_and_field() {
    let (_dir, path) = temp_file(
        "mxconf.toml",
        "[provider]\nid = \"example.org\"\ndisplay-name = \"X\"\nshort-name = \"X\"\n[[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 0\nsecurity = \"tls\"\n",
    );
    let output = check_config(&path);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("mxconf.toml:7: domain \"example.org\": smtp[0].port: 0 is not a port"),
        "{stderr}"
    );
}

/// Names and logins go into answers as they are: a CR/LF or another control character in one
/// is refused with file, line and field, as a TOML escape (`\r\n`, `\u0000`) can write it.
#[test]
fn check_config_refuses_control_characters_in_names_and_logins() {
    let (_dir, path) = temp_file(
        "mxconf.toml",
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Evil\\r\\nName\"\nshort-name = \"E\\u0000\"\n\
         [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n\
         username = \"%EMAILADDRESS%\\nX-Header: 1\"\n",
    );
    let output = check_config(&path);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for expected in [
        "mxconf.toml:3: provider.display-name: contains the control character U+000D",
        "mxconf.toml:4: provider.short-name: contains the control character U+0000",
        "mxconf.toml:9: domain \"example.org\": imap[0].username: contains the control character U+000A",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
}

#[test]
fn missing_config_file_is_a_usage_error() {
    mxconf()
        .args(["check-config", "--config", "/nonexistent/mxconf.toml"])
        .assert()
        .code(2);
}

#[test]
fn dns_prints_srv_records_for_a_served_domain() {
    let output = mxconf()
        .args(["dns", "EXAMPLE.com", "--web-host", "mx.example.net"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("_submissions._tcp.example.com."),
        "{stdout}"
    );
    assert!(
        stdout.contains("autoconfig.example.com.                  3600 IN CNAME mx.example.net."),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "; The HTTPS certificate for example.com must cover: autoconfig.example.com autodiscover.example.com\n"
        ),
        "{stdout}"
    );
    let output = mxconf().args(["dns", "example.net"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("example.net is not configured")
    );
}

/// What `mxconf dns DOMAIN --config CONFIG` prints, asserting it succeeds.
fn dns_with(config: &std::path::Path, domain: &str) -> String {
    let output = mxconf()
        .args(["dns", domain, "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `[web] host` is the server's public name: the CNAME target, and a certificate of its own.
#[test]
fn dns_points_at_the_web_host_and_lists_its_certificate() {
    let (_dir, config) = temp_file(
        "mxconf.toml",
        &mxconf::config::DEMO_TOML.replacen(
            "\n[web]\n",
            "\n[web]\nhost = \"setup.example.net\"\n",
            1,
        ),
    );
    let stdout = dns_with(&config, "example.com");
    assert!(
        stdout
            .contains("autodiscover.example.com.                3600 IN CNAME setup.example.net."),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "; The HTTPS certificate for example.com must cover: autoconfig.example.com autodiscover.example.com\n\
             ; This server's own names, a certificate each ([tls.acme] obtains them): setup.example.net\n"
        ),
        "{stdout}"
    );
}

/// A host under a wildcard entry gets no certificate of its own from the plan: `mxconf dns`
/// says which names the admin's certificate must cover instead.
#[test]
fn dns_names_the_certificate_a_wildcard_host_needs() {
    let (_dir, config) = temp_file(
        "mxconf.toml",
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Org\"\nshort-name = \"Org\"\n\
         [domains.\"*.hosted.example\"]\n[[domains.\"*.hosted.example\".imap]]\n\
         host = \"imap.hosted.example\"\nport = 993\nsecurity = \"tls\"\n",
    );
    let stdout = dns_with(&config, "shop.hosted.example");
    assert!(
        stdout.ends_with(
            "; shop.hosted.example is served by a wildcard entry: provide a certificate covering autoconfig.shop.hosted.example autodiscover.shop.hosted.example\n"
        ),
        "{stdout}"
    );
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    // The reading end is closed before the command starts, as `mxconf … | head -0` leaves it.
    for args in [
        &["render", "autoconfig", "jane@example.com"][..],
        &["dns", "example.com"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mxconf"))
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {:?}", output.status);
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "",
            "{args:?} complained"
        );
    }
}
