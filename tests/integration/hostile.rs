//! Hostile inputs that must neither take the service down nor reach outside what they name:
//! planted files beside outputs, bodies built to cost CPU, nesting built to overflow a stack,
//! characters that make a signed profile unreadable.

use crate::support::cli::mxconf;
use crate::support::{TestServer, demo_config, raw_http};

/// Before: outputs went through `DIR/.NAME.PID.tmp`, opened without `O_EXCL`, so a symlink
/// planted at that name made `mxconf profile -o` overwrite whatever it pointed at. The shell
/// plants the link for its own PID and `exec`s mxconf, which keeps that PID.
#[test]
fn a_symlink_planted_at_the_temporary_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let output = dir.path().join("jane.mobileconfig");
    let binary = assert_cmd::cargo::cargo_bin("mxconf");
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"ln -s "$1" "$2/.jane.mobileconfig.$$.tmp" && exec "$3" profile jane@example.com --unsigned -o "$2/jane.mobileconfig""#)
        .arg("sh")
        .arg(&victim)
        .arg(dir.path())
        .arg(&binary)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let profile = std::fs::read(&output).unwrap();
    assert!(profile.starts_with(b"<?xml"), "the profile was written");
    // Nothing but the planted link and the output is left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
}

/// Two Host lines: before, the first won, so a proxy routing on the second and this server
/// could disagree on which site a request is for.
#[tokio::test]
async fn duplicate_host_headers_are_refused() {
    let server = TestServer::start(demo_config()).await;
    for path in [
        "/healthz",
        "/autodiscover/autodiscover.xml",
        "/mail/config-v1.1.xml",
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: autoconfig.example.com\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        );
        let response = raw_http(server.addr, request.as_bytes()).await;
        assert_eq!(response.status, 400, "{path}: {}", response.head);
    }
    let single = raw_http(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(single.status, 200);
}

/// Before: `check-config` read `/dev/zero` as a certificate until memory ran out. Devices and
/// FIFOs are refused at once, each message naming the file.
#[test]
fn signing_paths_to_devices_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("bundle.p12");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let provider = "[provider]\nid = \"example.org\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n";
    for (signing, file) in [
        ("cert = \"/dev/zero\"\nkey = \"/dev/zero\"", "/dev/zero"),
        (
            "pkcs12 = \"bundle.p12\"\npassword-file = \"/dev/urandom\"",
            "bundle.p12",
        ),
    ] {
        let config = dir.path().join("mxconf.toml");
        std::fs::write(&config, format!("{provider}[signing]\n{signing}\n")).unwrap();
        let output = mxconf()
            .args(["check-config", "--config"])
            .arg(&config)
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(file), "{stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
    }
}
