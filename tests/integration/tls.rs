//! HTTPS served by mxconf itself, as a process, against real clients: OpenSSL's `s_client`
//! for which certificate each SNI gets, curl for HTTP/2 over TLS, and raw sockets for what a
//! hostile or confused client sends (plain HTTP, garbage, a handshake that stalls). The
//! certificates come from a private test CA made with OpenSSL in each test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::cli::check_config;
use crate::support::deployment::{TestCa, Validity};
use crate::support::notify::NotifySocket;
use crate::support::openssl::presented;
use crate::support::pox::{OUTLOOK_REQUEST_NS, request_body};
use crate::support::process::Served;
use crate::support::servers::free_port;

const AUTOCONFIG: &str = "/mail/config-v1.1.xml?emailaddress=jane%40example.com";
/// Two certificates: the first (the default) for example.com's hosts, the second for
/// example.net's autoconfig host and everything directly under example.org.
const FIRST: [&str; 2] = ["autoconfig.example.com", "autodiscover.example.com"];
const SECOND: [&str; 2] = ["autoconfig.example.net", "*.example.org"];

/// The demo configuration with `[tls]` naming `certificates` (and `tls_keys`), metrics on
/// `metrics` if given.
fn config_text(
    certificates: &[(PathBuf, PathBuf)],
    tls_keys: &str,
    metrics: Option<SocketAddr>,
) -> String {
    let demo = match metrics {
        Some(addr) => mxconf::config::DEMO_TOML.replacen(
            "[metrics]\n",
            &format!("[metrics]\nlisten = \"{addr}\"\n"),
            1,
        ),
        None => mxconf::config::DEMO_TOML.to_owned(),
    };
    let mut text = format!("{demo}\n[tls]\n{tls_keys}\n");
    for (cert, key) in certificates {
        text.push_str(&format!(
            "[[tls.certificate]]\ncert = {:?}\nkey = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ));
    }
    text
}

/// A running `mxconf serve` with a TLS listener on a free port.
struct Https {
    served: Served,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Https {
    fn start(
        certificates: &[(PathBuf, PathBuf)],
        tls_keys: &str,
        metrics: Option<SocketAddr>,
    ) -> Https {
        Https::start_with(&config_text(certificates, tls_keys, metrics))
    }

    /// With this whole configuration text.
    fn start_with(text: &str) -> Https {
        Https::start_with_env(text, &[])
    }

    /// With this whole configuration text and `envs` added to the environment.
    fn start_with_env(text: &str, envs: &[(&str, &str)]) -> Https {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("mxconf.toml");
        std::fs::write(&config, text).unwrap();
        let served = Served::start(
            &[
                "--config",
                config.to_str().unwrap(),
                "--tls-listen",
                "127.0.0.1:0",
            ],
            envs,
        );
        let addr = served.listener("https");
        Https {
            served,
            addr,
            _dir: dir,
        }
    }
}

/// curl over HTTPS to `host` (resolved to the listener), HTTP/2 asked for: the body and the
/// HTTP version used. `post` sends a body as text/xml.
fn curl(https: &Https, ca: &Path, host: &str, path: &str, post: Option<&str>) -> (String, String) {
    let port = https.addr.port();
    let mut command = Command::new("curl");
    command.args([
        "-sS",
        "--fail",
        "--http2",
        "--max-time",
        "20",
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &format!("{host}:{port}:127.0.0.1"),
        "-w",
        "\n%{http_version}",
    ]);
    if let Some(body) = post {
        command.args(["-H", "Content-Type: text/xml", "--data-binary", body]);
    }
    let output = command
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "curl {path}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, version) = stdout.rsplit_once('\n').unwrap();
    (body.to_owned(), version.to_owned())
}

#[test]
fn sni_chooses_the_certificate_and_no_sni_gets_the_first() {
    let ca = TestCa::new();
    let first = ca.issue("first", &FIRST, Validity::Current);
    let second = ca.issue("second", &SECOND, Validity::Current);
    let https = Https::start(&[first, second], "", None);
    let ca_file = ca.ca_file();
    let cn = |name: &str| format!("CN = {name}");
    assert_eq!(
        presented(https.addr, Some("autodiscover.example.com"), &ca_file),
        cn(FIRST[0])
    );
    assert_eq!(
        presented(https.addr, Some("autoconfig.example.net"), &ca_file),
        cn(SECOND[0])
    );
    // The wildcard covers one label below example.org.
    assert_eq!(
        presented(https.addr, Some("autodiscover.example.org"), &ca_file),
        cn(SECOND[0])
    );
    // No SNI, or a name no certificate has: the first configured certificate.
    assert_eq!(presented(https.addr, None, &ca_file), cn(FIRST[0]));
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &https.addr.to_string()])
        .args(["-servername", "unknown.example", "-CAfile"])
        .arg(&ca_file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&format!("subject={}", cn(FIRST[0]))),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    https
        .served
        .wait_for("TLS certificate: autoconfig.example.net, *.example.org");
}

#[test]
fn http2_over_tls_for_autoconfig_and_pox() {
    let ca = TestCa::new();
    let https = Https::start(&[ca.issue("first", &FIRST, Validity::Current)], "", None);
    let ca_file = ca.ca_file();
    let (body, version) = curl(&https, &ca_file, FIRST[0], AUTOCONFIG, None);
    assert_eq!(version, "2");
    crate::support::validate_autoconfig(body.as_bytes());
    let request = request_body(
        "jane@example.com",
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a",
    );
    assert!(request.contains(OUTLOOK_REQUEST_NS));
    let (body, version) = curl(
        &https,
        &ca_file,
        FIRST[1],
        "/autodiscover/autodiscover.xml",
        Some(&request),
    );
    assert_eq!(version, "2");
    crate::support::xmllint(&[], body.as_bytes());
    assert!(body.contains("<Server>imap.example.com</Server>"), "{body}");
    // Over TLS terminated here, the URLs handed out are https ones.
    let (body, _) = curl(
        &https,
        &ca_file,
        FIRST[1],
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=AutodiscoverV1",
        None,
    );
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        value["Url"],
        format!(
            "https://{}:{}/autodiscover/autodiscover.xml",
            FIRST[1],
            https.addr.port()
        )
    );
    // HTTP/1.1 when the client asks for it, on the same port.
    let output = Command::new("curl")
        .args([
            "-sS",
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
        ])
        .arg("--cacert")
        .arg(&ca_file)
        .arg("--resolve")
        .arg(format!("{}:{}:127.0.0.1", FIRST[0], https.addr.port()))
        .arg(format!(
            "https://{}:{}/healthz",
            FIRST[0],
            https.addr.port()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1.1");
}

#[test]
fn broken_certificates_fail_check_config_and_start_naming_the_file() {
    let ca = TestCa::new();
    let (cert, key) = ca.issue("good", &FIRST, Validity::Current);
    let (expired, expired_key) = ca.issue("expired", &FIRST, Validity::Expired);
    let (_, other_key) = ca.issue("other", &SECOND, Validity::Current);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.path().join("missing.key");
    let cases: [(&str, (PathBuf, PathBuf), &Path, &str); 4] = [
        (
            "expired",
            (expired.clone(), expired_key),
            &expired,
            "the certificate for autoconfig.example.com, autodiscover.example.com expired on",
        ),
        (
            "mismatch",
            (cert.clone(), other_key.clone()),
            &other_key,
            "the private key does not match the certificate",
        ),
        (
            "empty",
            (empty.clone(), key.clone()),
            &empty,
            "no usable certificate (the file holds no PEM certificate)",
        ),
        (
            "unreadable",
            (cert.clone(), missing.clone()),
            &missing,
            "cannot read",
        ),
    ];
    for (case, files, named, reason) in cases {
        let config = dir.path().join(format!("{case}.toml"));
        // The good certificate first: a later broken one must still stop everything.
        let entries = [(cert.clone(), key.clone()), files];
        std::fs::write(&config, config_text(&entries, "", None)).unwrap();
        let output = check_config(&config);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{case}: {stderr}");
        let expected = format!("{}", named.display());
        assert!(
            stderr.contains(&expected) && stderr.contains(reason),
            "{case}: {stderr}"
        );
        // The line of the entry at fault, as every config error has.
        assert!(
            stderr.contains(&format!("{}:", config.display()))
                && stderr.contains("tls.certificate"),
            "{case}: {stderr}"
        );
        let started = crate::support::cli::mxconf()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tls-listen",
                "127.0.0.1:0",
            ])
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&started.stderr);
        assert!(!started.status.success(), "{case}: served with {log}");
        assert!(
            log.contains(&expected) && log.contains(reason),
            "{case}: {log}"
        );
        assert!(!log.contains("listening on"), "{case}: half-started: {log}");
    }
}

/// Reads until the server closes `stream` or `limit` passes; what it sent, and when it closed.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let start = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (received, Some(start.elapsed())),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => return (received, None),
        }
    }
}

/// The value of the metric line starting with `series` (0 when absent).
async fn metric(metrics: SocketAddr, series: &str) -> f64 {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn plain_http_garbage_and_stalled_handshakes_on_the_tls_port() {
    let ca = TestCa::new();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (cert, key) = ca.issue("first", &FIRST, Validity::Current);
    let https = Https::start(
        &[(cert.clone(), key)],
        "handshake-timeout = \"1s\"",
        Some(metrics),
    );
    let failures = "mxconf_tls_handshake_failures_total{reason=";
    // Plain HTTP: told in words to use https, then closed.
    let mut plain = TcpStream::connect(https.addr).await.unwrap();
    plain
        .write_all(b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.com\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = until_closed(&mut plain, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("This port speaks HTTPS: use https:// to reach it.\n"),
        "{answer}"
    );
    assert!(closed.is_some());
    // A TLS record header followed by garbage: closed at once, long before the timeout.
    let mut garbage = TcpStream::connect(https.addr).await.unwrap();
    garbage
        .write_all(b"\x16\x03\x01\x00\x10garbage-garbage!")
        .await
        .unwrap();
    let (_, closed) = until_closed(&mut garbage, Duration::from_secs(10)).await;
    assert!(
        closed.is_some_and(|after| after < Duration::from_millis(900)),
        "{closed:?}"
    );
    // Silent, and a ClientHello that never ends: both closed by the 1 s handshake timeout.
    let opened = Instant::now();
    let mut silent = TcpStream::connect(https.addr).await.unwrap();
    let mut stalled = TcpStream::connect(https.addr).await.unwrap();
    stalled
        .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01")
        .await
        .unwrap();
    for stream in [&mut silent, &mut stalled] {
        let (_, closed) = until_closed(stream, Duration::from_secs(10)).await;
        assert!(closed.is_some(), "not closed by the handshake timeout");
        let after = opened.elapsed();
        assert!(after >= Duration::from_millis(900), "{after:?}");
    }
    // Meanwhile, and after, real clients are answered.
    assert_eq!(
        presented(https.addr, Some(FIRST[0]), &ca.ca_file()),
        format!("CN = {}", FIRST[0])
    );
    assert_eq!(
        metric(metrics, &format!("{failures}\"plain-http\"}}")).await,
        1.0
    );
    assert_eq!(
        metric(metrics, &format!("{failures}\"error\"}}")).await,
        1.0
    );
    assert_eq!(
        metric(metrics, &format!("{failures}\"timeout\"}}")).await,
        2.0
    );
    // The certificate's notAfter (30 days from now) in the expiry gauge.
    let expiry = metric(
        metrics,
        &format!(
            "mxconf_certificate_expiry_timestamp_seconds{{purpose=\"tls\",name=\"file:{}\"}}",
            cert.display()
        ),
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((expiry - now - 30.0 * 86_400.0).abs() < 600.0, "{expiry}");
}

/// Points `link` at `target` in one step, as a certbot renewal moves `live/` into `archive/`.
fn link(target: &Path, link: &Path) {
    let next = link.with_extension("next");
    let _ = std::fs::remove_file(&next);
    std::os::unix::fs::symlink(target, &next).unwrap();
    std::fs::rename(&next, link).unwrap();
}

/// The body of `GET /readyz` on the plain listener.
async fn readiness(https: &Https) -> String {
    reqwest::get(https.served.url("/readyz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn renewed_certificate_files_are_served_at_once_and_a_broken_renewal_keeps_the_last() {
    let ca = TestCa::new();
    let ca_file = ca.ca_file();
    let (first_cert, first_key) = ca.issue("first", &FIRST, Validity::Current);
    // The renewal's subject is its first name: the other host, so the two tell apart.
    let (renewed_cert, renewed_key) = ca.issue("renewed", &[FIRST[1], FIRST[0]], Validity::Current);
    let live = tempfile::tempdir().unwrap();
    let (cert, key) = (
        live.path().join("fullchain.pem"),
        live.path().join("privkey.pem"),
    );
    link(&first_cert, &cert);
    link(&first_key, &key);
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let https = Https::start(&[(cert.clone(), key.clone())], "", Some(metrics));
    let cn = |name: &str| format!("CN = {name}");
    assert_eq!(
        presented(https.addr, Some(FIRST[0]), &ca_file),
        cn(FIRST[0])
    );

    // certbot renews: both links point at the new files, one after the other.
    link(&renewed_key, &key);
    link(&renewed_cert, &cert);
    https
        .served
        .wait_for("TLS certificate replaced: autodiscover.example.com, autoconfig.example.com");
    assert_eq!(
        presented(https.addr, Some(FIRST[0]), &ca_file),
        cn(FIRST[1])
    );

    // A broken renewal (a key that belongs to another certificate, renamed over the old
    // one): refused with the entry's line and the file, the last good certificate served.
    let (_, stranger) = ca.issue("stranger", &SECOND, Validity::Current);
    let next = live.path().join("privkey.next");
    std::fs::copy(&stranger, &next).unwrap();
    std::fs::rename(&next, &key).unwrap();
    let refused = https
        .served
        .wait_for("still serving the previous certificate");
    assert!(
        refused.contains("mxconf.toml:")
            && refused.contains("tls.certificate")
            && refused.contains(&key.display().to_string())
            && refused.contains("does not match"),
        "{refused}"
    );
    assert_eq!(
        presented(https.addr, Some(FIRST[0]), &ca_file),
        cn(FIRST[1])
    );
    let ready = readiness(&https).await;
    assert!(
        ready.starts_with("ready\n")
            && ready.contains("degraded: ")
            && ready.contains("does not match"),
        "{ready}"
    );
    let gauge = format!(
        "mxconf_tls_certificate_file_refused{{name=\"file:{}\"}}",
        cert.display()
    );
    assert_eq!(metric(metrics, &gauge).await, 1.0);
    assert_eq!(
        https.served.count("still serving the previous certificate"),
        1
    );

    // Repaired, and the server told to reload: served again, nothing degraded.
    let next = live.path().join("privkey.next");
    std::fs::copy(&first_key, &next).unwrap();
    link(&first_cert, &cert);
    std::fs::rename(&next, &key).unwrap();
    https.served.signal(rustix::process::Signal::HUP);
    https
        .served
        .wait_for("TLS certificate replaced: autoconfig.example.com, autodiscover.example.com");
    assert_eq!(
        presented(https.addr, Some(FIRST[0]), &ca_file),
        cn(FIRST[0])
    );
    assert!(!readiness(&https).await.contains("degraded"));
    assert_eq!(metric(metrics, &gauge).await, 0.0);
}

#[test]
fn a_reload_serves_a_changed_certificate_list_and_refuses_a_broken_one_whole() {
    let ca = TestCa::new();
    let ca_file = ca.ca_file();
    let first = ca.issue("first", &FIRST, Validity::Current);
    let second = ca.issue("second", &SECOND, Validity::Current);
    let https = Https::start(std::slice::from_ref(&first), "", None);
    let config = https._dir.path().join("mxconf.toml");
    let reload = |certificates: &[(PathBuf, PathBuf)], outcome: &str, nth: usize| {
        std::fs::write(&config, config_text(certificates, "", None)).unwrap();
        https.served.signal(rustix::process::Signal::HUP);
        https.served.wait_for_nth(outcome, nth)
    };
    let cn = |name: &str| format!("CN = {name}");
    assert_eq!(presented(https.addr, None, &ca_file), cn(FIRST[0]));

    // A second certificate in front: it serves its names and is the default now.
    reload(&[second.clone(), first.clone()], "reloaded ", 1);
    assert_eq!(
        presented(https.addr, Some(SECOND[0]), &ca_file),
        cn(SECOND[0])
    );
    assert_eq!(presented(https.addr, None, &ca_file), cn(SECOND[0]));
    assert_eq!(
        presented(https.addr, Some(FIRST[1]), &ca_file),
        cn(FIRST[0])
    );

    // A list with one unusable entry is refused whole, naming it; the list before serves on.
    let expired = ca.issue("expired", &["autoconfig.example.info"], Validity::Expired);
    let refused = reload(&[first.clone(), expired.clone()], "expired on", 1);
    assert!(
        refused.contains("tls.certificate") && refused.contains(&expired.0.display().to_string()),
        "{refused}"
    );
    https
        .served
        .wait_for("reload failed; still serving the previous configuration");
    assert_eq!(presented(https.addr, None, &ca_file), cn(SECOND[0]));

    // An entry taken out is no longer served: its names get the default.
    reload(std::slice::from_ref(&first), "reloaded ", 2);
    assert_eq!(presented_unverified(https.addr, SECOND[0]), cn(FIRST[0]));
}

/// How often the server reads the certificate files by itself: 5 s, less a margin for when
/// its check runs after the tick and for the log line reaching the test.
const BEFORE_THE_NEXT_POLL: Duration = Duration::from_secs(4);

#[test]
fn a_reload_reads_the_certificate_files_itself_without_waiting_for_the_poll() {
    let ca = TestCa::new();
    let ca_file = ca.ca_file();
    // The renewal's subject is its first name: the other host, so the two tell apart.
    let first = (ca.issue("first", &FIRST, Validity::Current), FIRST);
    let renewed_names = [FIRST[1], FIRST[0]];
    let renewed = (
        ca.issue("renewed", &renewed_names, Validity::Current),
        renewed_names,
    );
    let live = tempfile::tempdir().unwrap();
    let (cert, key) = (
        live.path().join("fullchain.pem"),
        live.path().join("privkey.pem"),
    );
    let point_at = |((chain, private), _): &((PathBuf, PathBuf), [&str; 2])| {
        link(private, &key);
        link(chain, &cert);
    };
    point_at(&first);
    let notify = NotifySocket::bind();
    let https = Https::start_with_env(
        &config_text(&[(cert.clone(), key.clone())], "", None),
        &[("NOTIFY_SOCKET", notify.path())],
    );
    assert!(notify.receive().starts_with("READY=1\n"));
    // The poll would serve any change within 5 s anyway, so the reload proves itself only
    // when it is over before the next poll. Each round starts just after a poll: a change
    // made without a signal is logged by the poll, and the next poll is a whole interval
    // later. A round the machine was too slow for proves nothing either way: run another.
    let mut rounds = [(&renewed, &first), (&first, &renewed), (&renewed, &first)].into_iter();
    loop {
        let (polled, reloaded) = rounds.next().expect(
            "no reload was over before the next poll in three rounds: the machine is too slow to tell",
        );
        let polled_line = format!("TLS certificate replaced: {}", polled.1.join(", "));
        let seen = https.served.count(&polled_line);
        point_at(polled);
        https.served.wait_for_nth(&polled_line, seen + 1);
        let after_the_poll = Instant::now();
        point_at(reloaded);
        https.served.signal(rustix::process::Signal::HUP);
        assert!(notify.receive().starts_with("RELOADING=1\n"));
        let ready = notify.receive();
        assert!(
            ready.starts_with("READY=1\nSTATUS=serving (reloaded)"),
            "{ready}"
        );
        // READY comes after the reload read the files: served from the next handshake.
        assert_eq!(
            presented(https.addr, Some(FIRST[0]), &ca_file),
            format!("CN = {}", reloaded.1[0])
        );
        if after_the_poll.elapsed() < BEFORE_THE_NEXT_POLL {
            break;
        }
    }
}

const DAY: i64 = 86_400;

/// The certificate in `cert`'s notAfter, as OpenSSL prints it (and the server's log).
fn not_after(cert: &Path) -> String {
    let pem = std::fs::read(cert).unwrap();
    openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .not_after()
        .to_string()
}

/// The server's start-up line about the certificate in `cert`, exactly.
fn serving_line(cert: &Path, names: &[&str]) -> String {
    format!(
        "TLS certificate: {} (valid until {}, from {})",
        names.join(", "),
        not_after(cert),
        cert.display()
    )
}

/// The server's warning before the certificate in `cert` expires, exactly.
fn expiry_warning(cert: &Path, names: &[&str], days: i64) -> String {
    format!(
        "the TLS certificate for {} expires on {}, in {days} day(s) (from {}): renew it; clients refuse the HTTPS connection once it has expired",
        names.join(", "),
        not_after(cert),
        cert.display()
    )
}

/// The one line of `served`'s log that ends with `message`, at WARN.
fn warned_once(served: &Served, message: &str) {
    let log = served.log();
    let lines: Vec<&str> = log.lines().filter(|line| line.ends_with(message)).collect();
    assert_eq!(lines.len(), 1, "{message:?} once in:\n{log}");
    assert!(lines[0].contains("WARN"), "{}", lines[0]);
}

#[test]
fn served_certificates_warn_once_per_threshold_before_they_expire() {
    let ca = TestCa::new();
    // An hour past whole days, so that the day counts logged are exact however slow the run.
    let ending = |days: i64| Validity::EndingIn(days * DAY + 3600);
    let third = ["autoconfig.example.info"];
    // Certificates a renewal did not replace (certbot renews with 30 days left).
    let live = tempfile::tempdir().unwrap();
    let files = |stem: &str, names: &[&str], validity: Validity| {
        let (chain, private) = ca.issue(stem, names, validity);
        let (cert, key) = (
            live.path().join(format!("{stem}.pem")),
            live.path().join(format!("{stem}.key")),
        );
        link(&chain, &cert);
        link(&private, &key);
        (cert, key)
    };
    let ten = files("ten", &FIRST, ending(10));
    let twenty = files("twenty", &SECOND, ending(20));
    let forty = files("forty", &third, ending(40));
    let listed = [ten.clone(), twenty.clone(), forty.clone()];
    let text = config_text(&listed, "", None);

    // check-config says until when each is valid, as it does for the signer.
    let (_dir, config) = crate::support::cli::temp_file("mxconf.toml", &text);
    let checked = check_config(&config);
    let stdout = String::from_utf8_lossy(&checked.stdout);
    for (cert, names) in [
        (&ten.0, &FIRST[..]),
        (&twenty.0, &SECOND),
        (&forty.0, &third),
    ] {
        let line = serving_line(cert, names);
        let line = line.replacen("TLS certificate: ", "tls: ", 1);
        assert!(stdout.lines().any(|l| l == line), "{line:?} in:\n{stdout}");
    }

    let https = Https::start_with(&text);
    let served = &https.served;
    served.wait_for("at most");
    for (cert, names) in [
        (&ten.0, &FIRST[..]),
        (&twenty.0, &SECOND),
        (&forty.0, &third),
    ] {
        let line = serving_line(cert, names);
        assert_eq!(served.count(&line), 1, "{line:?} in:\n{}", served.log());
    }
    // 10 days left: the 14-day threshold (not 30 as well); 20 days: the 30-day one; 40: none.
    let warnings = [
        expiry_warning(&ten.0, &FIRST, 10),
        expiry_warning(&twenty.0, &SECOND, 20),
    ];
    for warning in &warnings {
        warned_once(served, warning);
    }
    assert_eq!(
        served.count("the TLS certificate for autoconfig.example.info"),
        0
    );

    // A reload that re-reads the list (in another order) serves the same certificates: no
    // threshold is warned at twice.
    std::fs::write(
        https._dir.path().join("mxconf.toml"),
        config_text(&[twenty.clone(), ten.clone(), forty.clone()], "", None),
    )
    .unwrap();
    served.signal(rustix::process::Signal::HUP);
    served.wait_for("reloaded ");
    assert_eq!(served.count(&serving_line(&ten.0, &FIRST)), 2);

    // certbot renews one (90 days: nothing to warn of) and the third is replaced by one that
    // ends in 25 days: a certificate of its own, warned at the 30-day threshold once.
    let (chain, private) = ca.issue("renewed", &SECOND, ending(90));
    link(&private, &twenty.1);
    link(&chain, &twenty.0);
    let (chain, private) = ca.issue("short", &third, ending(25));
    link(&private, &forty.1);
    link(&chain, &forty.0);
    served.wait_for(&format!(
        "TLS certificate replaced: {} (valid until {}",
        SECOND.join(", "),
        not_after(&twenty.0)
    ));
    served.wait_for(&format!("TLS certificate replaced: {}", third[0]));
    let short = expiry_warning(&forty.0, &third, 25);
    served.wait_for(&short);
    served.signal(rustix::process::Signal::HUP);
    served.wait_for_nth("reloaded ", 2);
    for warning in warnings.iter().chain([&short]) {
        warned_once(served, warning);
    }
    assert_eq!(
        served.count("the TLS certificate for "),
        3,
        "{}",
        served.log()
    );
}

/// The subject of the certificate presented for `sni`, whether or not it names that host.
fn presented_unverified(addr: SocketAddr, sni: &str) -> String {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            sni,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("subject="))
        .unwrap_or_else(|| panic!("no subject in {stdout}"))
        .to_owned()
}

/// curl to `url` with `args`, the names in `resolve` pointed at loopback: what `-w` printed
/// last, after the body.
fn curl_plain(args: &[&str], resolve: &[String], url: &str) -> String {
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "20"]).args(args);
    for entry in resolve {
        command.args(["--resolve", entry]);
    }
    let output = command.arg(url).output().expect("curl runs");
    assert!(
        output.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn plain_http_beside_https_redirects_credentials_and_pages_and_keeps_answering_autoconfig() {
    let ca = TestCa::new();
    let https = Https::start(&[ca.issue("first", &FIRST, Validity::Current)], "", None);
    let (plain, tls) = (https.served.addr.port(), https.addr.port());
    https.served.wait_for(&format!(
        "plain HTTP beside HTTPS: autoconfig, ACME http-01 and health checks answered; Autodiscover, PACC, the web form and profiles redirected to https://HOST:{tls}/ for a host a certificate names, else to https://autoconfig.example.com:{tls}/ ([web] host)"
    ));
    let ca_file = ca.ca_file();
    let ca_file = ca_file.to_str().unwrap();
    let resolve = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .flat_map(|name| {
                [
                    format!("{name}:{plain}:127.0.0.1"),
                    format!("{name}:{tls}:127.0.0.1"),
                ]
            })
            .collect()
    };
    let status = ["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"];
    // Autoconfig is answered over plain HTTP, as Thunderbird asks for it.
    assert_eq!(
        curl_plain(
            &status,
            &resolve(&[FIRST[0]]),
            &format!("http://{}:{plain}{AUTOCONFIG}", FIRST[0])
        ),
        "200 "
    );
    // ACME http-01 is never redirected: the CA would not follow to another port.
    assert_eq!(
        curl_plain(
            &status,
            &[],
            &format!("http://127.0.0.1:{plain}/.well-known/acme-challenge/x")
        ),
        "404 "
    );
    // A POX POST: 307 to the same host over HTTPS, and curl, following it, posts the body
    // again and gets the answer.
    let request = request_body(
        "jane@example.com",
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a",
    );
    let pox = format!("http://{}:{plain}/autodiscover/autodiscover.xml", FIRST[1]);
    let post = ["-H", "Content-Type: text/xml", "--data-binary", &request];
    assert_eq!(
        curl_plain(
            &[&post[..], &status[..]].concat(),
            &resolve(&[FIRST[1]]),
            &pox
        ),
        format!(
            "307 https://{}:{tls}/autodiscover/autodiscover.xml",
            FIRST[1]
        )
    );
    let followed = curl_plain(
        &[
            &post[..],
            &[
                "-L",
                "--cacert",
                ca_file,
                "-w",
                "\n%{num_redirects} %{url_effective}",
            ],
        ]
        .concat(),
        &resolve(&[FIRST[1]]),
        &pox,
    );
    let (body, followed) = followed.rsplit_once('\n').unwrap();
    assert_eq!(
        followed,
        format!("1 https://{}:{tls}/autodiscover/autodiscover.xml", FIRST[1])
    );
    assert!(body.contains("<Server>imap.example.com</Server>"), "{body}");
    // A Host no certificate names is not echoed: the profile comes from the [web] host.
    let profile = "/mobileconfig?emailaddress=jane%40example.com";
    assert_eq!(
        curl_plain(
            &status,
            &resolve(&["evil.example"]),
            &format!("http://evil.example:{plain}{profile}")
        ),
        format!("302 https://{}:{tls}{profile}", FIRST[0])
    );
    let downloaded = curl_plain(
        &[
            "-L",
            "--cacert",
            ca_file,
            "-o",
            "/dev/null",
            "-w",
            "%{content_type} %{url_effective}",
        ],
        &resolve(&["evil.example", FIRST[0]]),
        &format!("http://evil.example:{plain}{profile}"),
    );
    assert_eq!(
        downloaded,
        format!(
            "application/x-apple-aspen-config https://{}:{tls}{profile}",
            FIRST[0]
        )
    );
}

/// Behind a port forward (public 443 to the listener's test port) `[tls] public-port` is the
/// port redirects name, left out as 443; without it they name the bound port (above).
#[test]
fn a_public_port_is_the_one_plain_http_redirects_name_and_the_log_shows_it() {
    let ca = TestCa::new();
    let https = Https::start(
        &[ca.issue("first", &FIRST, Validity::Current)],
        "public-port = 443",
        None,
    );
    let (plain, tls) = (https.served.addr.port(), https.addr.port());
    https.served.wait_for(&format!(
        "redirected to https://HOST/ for a host a certificate names, else to https://autoconfig.example.com/ ([web] host); port 443 from [tls] public-port (the listener's own: {tls})"
    ));
    let status = ["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"];
    let resolve = [format!("{}:{plain}:127.0.0.1", FIRST[1])];
    assert_eq!(
        curl_plain(
            &status,
            &resolve,
            &format!("http://{}:{plain}/autodiscover/autodiscover.xml", FIRST[1])
        ),
        format!("302 https://{}/autodiscover/autodiscover.xml", FIRST[1])
    );
    let profile = "/mobileconfig?emailaddress=jane%40example.com";
    assert_eq!(
        curl_plain(&status, &[], &format!("http://127.0.0.1:{plain}{profile}")),
        format!("302 https://{}{profile}", FIRST[0])
    );
    // check-config says the same from the file alone.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxconf.toml");
    let certificate = ca.issue("again", &FIRST, Validity::Current);
    std::fs::write(
        &config,
        config_text(
            &[certificate],
            "listen = [\"127.0.0.1:8443\"]\npublic-port = 443",
            None,
        ),
    )
    .unwrap();
    let output = check_config(&config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("else to https://autoconfig.example.com/ ([web] host); port 443 from [tls] public-port (the listener's own: 8443)"),
        "{stdout}"
    );
}

#[test]
fn check_config_prints_the_plain_http_rule_and_warns_of_an_uncovered_web_host() {
    let ca = TestCa::new();
    let certificate = ca.issue("first", &FIRST, Validity::Current);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mxconf.toml");
    std::fs::write(
        &config,
        config_text(std::slice::from_ref(&certificate), "", None),
    )
    .unwrap();
    let output = check_config(&config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("else to https://autoconfig.example.com/ ([web] host)"),
        "{stdout}"
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("warning"));
    let text = config_text(&[certificate], "", None).replacen(
        "\n[web]\n",
        "\n[web]\nhost = \"setup.example.com\"\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let output = check_config(&config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: warning: web.host: no certificate names setup.example.com",
            config.display()
        )),
        "{stderr}"
    );
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: rustix::process::Pid) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.as_raw_nonzero())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A TLS client (rustls) that trusts only the test CA `ca`.
fn connector(ca: &Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

type TlsClient = tokio_rustls::client::TlsStream<TcpStream>;

/// A completed handshake for `name`, verified against the test CA.
async fn tls_connect(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    name: &str,
) -> TlsClient {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// One HTTP/1.1 autoconfig request on `stream`: the status line of the answer.
async fn status_line(stream: &mut TlsClient, close: bool) -> String {
    let connection = if close { "close" } else { "keep-alive" };
    stream
        .write_all(
            format!(
                "GET {AUTOCONFIG} HTTP/1.1\r\nHost: {}\r\nConnection: {connection}\r\n\r\n",
                FIRST[0]
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "closed before an answer"
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().trim_end().to_owned()
}

/// 1,000 clients that finished their handshake and sit idle, and 200 that never finish it,
/// all held open (long timeouts here, so only the server's capacity is under test) while
/// another client keeps opening TLS connections and getting answers. Prints the server's
/// resident memory at rest and with them open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_tls_connections_and_stalled_handshakes_leave_others_answered() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // This test process holds 1,200 sockets itself.
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .unwrap();
    let ca = TestCa::new();
    let certificate = ca.issue("first", &FIRST, Validity::Current);
    let text = config_text(&[certificate], "handshake-timeout = \"120s\"", None).replacen(
        "trusted-proxies = []\n",
        "trusted-proxies = []\nheader-read-timeout = \"120s\"\nidle-timeout = \"120s\"\n",
        1,
    );
    let https = Https::start_with(&text);
    let connector = connector(&ca.ca_file());
    let mut first = tls_connect(&connector, https.addr, FIRST[0]).await;
    assert_eq!(status_line(&mut first, true).await, "HTTP/1.1 200 OK");
    let at_rest = rss_kib(https.served.pid());

    let mut idle = Vec::new();
    for _ in 0..10 {
        let batch = (0..100).map(|_| tls_connect(&connector, https.addr, FIRST[0]));
        idle.extend(futures_util::future::join_all(batch).await);
    }
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(https.addr).await.unwrap();
        // A ClientHello record header promising 512 bytes, and the first four of them.
        stream
            .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01")
            .await
            .unwrap();
        stalled.push(stream);
    }
    // Another client, meanwhile: new connections, each handshake verified, each answered.
    // The accept loop takes connections in order, so once these are answered every socket
    // above is the server's.
    for _ in 0..50 {
        let mut other = tls_connect(&connector, https.addr, FIRST[1]).await;
        assert_eq!(status_line(&mut other, true).await, "HTTP/1.1 200 OK");
    }
    let held = rss_kib(https.served.pid());
    // The idle ones were held, not dropped: a sample of them is answered too.
    for stream in idle.iter_mut().step_by(97) {
        assert_eq!(status_line(stream, false).await, "HTTP/1.1 200 OK");
    }
    let per_connection = (held.saturating_sub(at_rest)) as f64 / 1_200.0;
    eprintln!(
        "mxconf RSS: {at_rest} KiB at rest, {held} KiB with 1,000 idle TLS connections and 200 stalled handshakes open ({per_connection:.1} KiB each)"
    );
    drop(stalled);
}
