//! `[tls.acme]` end to end against a real ACME CA (pebble, with pebble-challtestsrv as its
//! DNS): certificates ordered in the background for every served domain, one each, proved
//! by http-01 on the plain listener or by tls-alpn-01 on the TLS listener (pebble validates
//! against mxconf's own ports), checked with openssl against pebble's issuing root, stored
//! and served by SNI on the TLS listener;
//! a restart reuses them without a new order;
//! a short validity is renewed; a CA that goes away leaves the server serving.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use crate::support::openssl::presented;
use crate::support::pebble::Pebble;
use crate::support::process::Served;
use crate::support::servers::{free_port, run};

const DOMAINS: [&str; 2] = ["example.com", "example.net"];

fn config(dir: &Path, pebble: &Pebble) -> std::path::PathBuf {
    config_with(dir, &pebble.directory(), &pebble.https_root(), HTTP01)
}

/// http-01, and profiles signed by the certificate of autoconfig.example.com.
fn signing_config(dir: &Path, pebble: &Pebble) -> std::path::PathBuf {
    config_with(
        dir,
        &pebble.directory(),
        &pebble.https_root(),
        &format!("{HTTP01}[signing]\nacme = \"autoconfig.example.com\"\n"),
    )
}

/// The `[tls.acme]` line choosing http-01; without one, tls-alpn-01 (the default) is used.
const HTTP01: &str = "challenge = \"http-01\"\n";

fn config_with(dir: &Path, directory: &str, ca: &Path, more: &str) -> std::path::PathBuf {
    let domains: String = DOMAINS
        .iter()
        .map(|domain| {
            format!(
                "[domains.\"{domain}\"]\n[[domains.\"{domain}\".imap]]\nhost = \"imap.{domain}\"\nport = 993\nsecurity = \"tls\"\n\
                 [[domains.\"{domain}\".smtp]]\nhost = \"smtp.{domain}\"\nport = 465\nsecurity = \"tls\"\n"
            )
        })
        .collect();
    let text = format!(
        "[provider]\nid = \"example.com\"\ndisplay-name = \"Example Mail\"\nshort-name = \"Example\"\n\
         {domains}[domains.\"*.hosted.example.com\"]\n\
         [tls.acme]\ndirectory = \"{}\"\nca-file = \"{}\"\nstate-dir = \"state\"\n\
         contact = [\"mailto:hostmaster@example.com\"]\n{more}",
        directory,
        ca.display()
    );
    let file = dir.join("mxconf.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn serve(config: &Path, http_port: u16) -> Served {
    serve_on(config, http_port, 0)
}

/// `mxconf serve` with plain HTTP on `http_port` and HTTPS on `tls_port` (0: any).
fn serve_on(config: &Path, http_port: u16, tls_port: u16) -> Served {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("mxconf"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{http_port}")])
        .args(["--tls-listen", &format!("127.0.0.1:{tls_port}")])
        .env("RUST_LOG", "info")
        .env_remove("MXCONF_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    Served::spawn(command)
}

/// The stored chain of `domain` verifies against pebble's issuing root and covers exactly
/// its two host names; returns the leaf's serial.
fn verify_stored(state: &Path, domain: &str, root: &Path) -> String {
    let dir = state.join("certificates").join(domain);
    let chain = std::fs::read_to_string(dir.join("fullchain.pem")).unwrap();
    let split = chain.find("-----END CERTIFICATE-----").unwrap() + 26;
    std::fs::write(dir.join("leaf.pem"), &chain[..split]).unwrap();
    std::fs::write(dir.join("intermediates.pem"), &chain[split..]).unwrap();
    run(Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(root)
        .arg("-untrusted")
        .arg(dir.join("intermediates.pem"))
        .arg(dir.join("leaf.pem")));
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-ext", "subjectAltName", "-in"])
        .arg(dir.join("leaf.pem"))
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "DNS:autoconfig.{domain}, DNS:autodiscover.{domain}"
        )) || text.contains(&format!(
            "DNS:autodiscover.{domain}, DNS:autoconfig.{domain}"
        )),
        "{text}"
    );
    std::fs::remove_file(dir.join("leaf.pem")).unwrap();
    std::fs::remove_file(dir.join("intermediates.pem")).unwrap();
    text.lines().next().unwrap().to_owned()
}

/// Waits until every domain has its certificate, one order each; checks that each stored
/// chain verifies against pebble's root, that they differ, and that the TLS listener serves
/// each host one that verifies for that very name. The leaves' serials, and the listener.
fn one_certificate_per_domain_served_by_sni(
    served: &Served,
    pebble: &Pebble,
    state: &Path,
) -> (Vec<String>, std::net::SocketAddr) {
    for domain in DOMAINS {
        served.wait_for(&format!(
            "obtained the certificate for autoconfig.{domain}, autodiscover.{domain}"
        ));
    }
    assert_eq!(pebble.orders(), 2, "{}", pebble.log());
    let root = pebble.issuing_root();
    let serials: Vec<String> = DOMAINS
        .iter()
        .map(|domain| verify_stored(state, domain, &root))
        .collect();
    assert_ne!(serials[0], serials[1]);
    let https = served.listener("https");
    for domain in DOMAINS {
        for host in [
            format!("autoconfig.{domain}"),
            format!("autodiscover.{domain}"),
        ] {
            presented(https, Some(&host), &root);
        }
    }
    (serials, https)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn http01_one_certificate_per_domain_reused_after_a_restart() {
    let http_port = free_port();
    let pebble = Pebble::start(http_port, free_port(), None);
    let dir = tempfile::tempdir().unwrap();
    let config = signing_config(dir.path(), &pebble);
    let state = dir.path().join("state");
    let served = serve(&config, http_port);
    // The server answers at once, while the certificates are being ordered.
    run(Command::new("curl").args(["-sSf", &served.url("/healthz")]));
    let (serials, _) = one_certificate_per_domain_served_by_sni(&served, &pebble, &state);
    served.wait_for("*.hosted.example.com is a wildcard entry");
    let root = pebble.issuing_root();
    assert_eq!(mode(&state), 0o700);
    for file in ["account.json", "certificates/example.com/privkey.pem"] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
    let log = served.log();
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    drop(served);

    // A restart serves the stored certificates and orders nothing.
    let served = serve(&config, http_port);
    for domain in DOMAINS {
        served.wait_for(&format!(
            "serving the stored certificate for autoconfig.{domain}, autodiscover.{domain}"
        ));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(pebble.orders(), 2, "{}", served.log());
    // The stored certificate signs from the start, loaded once (not again when the ACME task
    // hands over the same certificate).
    assert_eq!(served.count("signing profiles as"), 1, "{}", served.log());
    let again: Vec<String> = DOMAINS
        .iter()
        .map(|domain| verify_stored(&state, domain, &root))
        .collect();
    assert_eq!(again, serials);
}

#[test]
fn tls_alpn01_by_default_one_certificate_per_domain_served_by_sni() {
    // Pebble validates on mxconf's TLS port; nothing listens on its http-01 port.
    let tls_port = free_port();
    let pebble = Pebble::start(free_port(), tls_port, None);
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), &pebble.directory(), &pebble.https_root(), "");
    let checked = crate::support::cli::check_config(&config);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let state = dir.path().join("state");
    let served = serve_on(&config, free_port(), tls_port);
    served.wait_for("tls-alpn-01 challenge");
    let (_, https) = one_certificate_per_domain_served_by_sni(&served, &pebble, &state);
    assert_eq!(https.port(), tls_port);
    // Once the orders are done, `acme-tls/1` is refused again: no challenge is left behind.
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &https.to_string()])
        .args([
            "-servername",
            "autoconfig.example.com",
            "-alpn",
            "acme-tls/1",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn short_lived_certificates_are_renewed_and_a_ca_outage_keeps_the_server_up() {
    let http_port = free_port();
    let mut pebble = Pebble::start(http_port, free_port(), Some(12));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &pebble);
    let state = dir.path().join("state");
    let served = serve(&config, http_port);
    let first = "obtained the certificate for autoconfig.example.com";
    served.wait_for(first);
    let root = pebble.issuing_root();
    let serial = verify_stored(&state, "example.com", &root);
    // Renewed at two thirds of 12 s.
    served.wait_for_nth(first, 2);
    let renewed = verify_stored(&state, "example.com", &root);
    assert_ne!(serial, renewed);

    // The CA goes away: the next renewal fails, logged once with the reason, and the server
    // goes on answering.
    pebble.stop();
    served.wait_for("cannot obtain the certificate for autoconfig.example.com");
    run(Command::new("curl").args(["-sSf", &served.url("/healthz")]));
    assert_eq!(
        served.count("cannot obtain the certificate for autoconfig.example.com"),
        1
    );
    // Each certificate obtained (12 s) was inside every expiry threshold when it came: one
    // warning each, as it was installed, none repeated by later checks.
    let warning = "in 0 day(s) (from the ACME certificate for example.com): renew it; clients refuse the HTTPS connection once it has expired";
    let obtained = served.count(first);
    assert!(obtained >= 2, "{}", served.log());
    assert_eq!(served.count(warning), obtained, "{}", served.log());
    let line = served.wait_for(warning);
    assert!(
        line.contains(" WARN ") && line.contains("the TLS certificate for autoconfig.example.com, autodiscover.example.com expires on "),
        "{line}"
    );
    assert!(
        state
            .join("certificates/example.com/fullchain.pem")
            .exists()
    );
}

/// The profile for jane@example.com as served, and the leaf it was signed with.
fn profile(served: &Served, dir: &Path, root: &Path) -> (Vec<u8>, String) {
    let file = dir.join("profile.der");
    // Asked over plain HTTP, redirected to HTTPS on the [web] host (autoconfig.example.com),
    // which the ACME certificate covers.
    let tls = served.listener("https").port();
    run(Command::new("curl")
        .args(["-sSfL", "--cacert"])
        .arg(root)
        .args([
            "--resolve",
            &format!("autoconfig.example.com:{tls}:127.0.0.1"),
        ])
        .arg("-o")
        .arg(&file)
        .arg(served.url("/mobileconfig?emailaddress=jane@example.com")));
    let der = std::fs::read(&file).unwrap();
    let content = crate::support::openssl::cms_verify(dir, &der, root).expect("verifies");
    assert!(String::from_utf8_lossy(&content).contains("imap.example.com"));
    let certificates = Command::new("openssl")
        .args(["pkcs7", "-inform", "DER", "-print_certs", "-in"])
        .arg(&file)
        .output()
        .unwrap();
    (der, String::from_utf8(certificates.stdout).unwrap())
}

/// The stored leaf of `domain`, as PEM text.
fn stored_leaf(state: &Path, domain: &str) -> String {
    let chain = std::fs::read_to_string(
        state
            .join("certificates")
            .join(domain)
            .join("fullchain.pem"),
    )
    .unwrap();
    let end = chain.find("-----END CERTIFICATE-----").unwrap() + 25;
    chain[..end].to_owned()
}

#[test]
fn profiles_signed_by_the_acme_certificate_and_by_its_successor_after_renewal() {
    let http_port = free_port();
    let pebble = Pebble::start(http_port, free_port(), Some(12));
    let dir = tempfile::tempdir().unwrap();
    let config = signing_config(dir.path(), &pebble);
    let state = dir.path().join("state");
    let served = serve(&config, http_port);
    let obtained = "obtained the certificate for autoconfig.example.com";
    served.wait_for(obtained);
    served.wait_for("signing profiles as");
    let signer_warning = "the signing certificate ";
    let warning = served.wait_for(signer_warning);
    assert!(warning.contains("in 0 day(s)"), "{warning}");
    let root = pebble.issuing_root();
    let leaf = stored_leaf(&state, "example.com");
    let (first, signers) = profile(&served, dir.path(), &root);
    assert!(signers.contains(leaf.trim()), "{signers}\n{leaf}");
    // Renewed at two thirds of 12 s: the next request is signed by the new certificate,
    // not served from the signatures the old one made.
    served.wait_for_nth(obtained, 2);
    served.wait_for_nth("signing profiles as", 2);
    // A 12-second certificate is inside every expiry threshold: one warning per signer.
    served.wait_for_nth(signer_warning, 2);
    let renewed = stored_leaf(&state, "example.com");
    assert_ne!(renewed, leaf);
    let (second, signers) = profile(&served, dir.path(), &root);
    assert_ne!(second, first);
    assert!(signers.contains(renewed.trim()), "{signers}");
    assert!(!signers.contains(leaf.trim()));
}

#[test]
fn until_the_acme_certificate_exists_profiles_fail_closed_and_readiness_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::support::deployment::TestCa::new();
    // A CA that does not answer: the certificate never comes.
    let config = config_with(
        dir.path(),
        &format!("https://127.0.0.1:{}/dir", free_port()),
        &ca.ca_file(),
        &format!(
            "{HTTP01}[signing]\nacme = \"autodiscover.example.net\"\n\
             [server]\ntrusted-proxies = [\"127.0.0.1\"]\n"
        ),
    );
    let served = serve(&config, free_port());
    served.wait_for("[signing] acme: no certificate for autodiscover.example.net yet");
    // As if over HTTPS at a proxy: plain HTTP would be redirected to HTTPS, which has no
    // certificate yet.
    let status = |path: &str| {
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-H", "X-Forwarded-Proto: https"])
            .arg(served.url(path))
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(status("/mobileconfig?emailaddress=jane@example.net"), "503");
    let ready = Command::new("curl")
        .args(["-s"])
        .arg(served.url("/readyz"))
        .output()
        .unwrap();
    let ready = String::from_utf8(ready.stdout).unwrap();
    assert!(
        ready.contains("degraded: [signing] acme: no certificate for autodiscover.example.net yet"),
        "{ready}"
    );
    served.wait_for("cannot obtain the certificate for autoconfig.example.net");
}
