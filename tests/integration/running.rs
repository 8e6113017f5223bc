//! `mxconf serve` as an admin runs it, as a process: what it logs (text or JSON lines, never a
//! query string, colour only on a terminal), how it answers signals (SIGHUP reloads, SIGTERM
//! drains and exits 0), and what it tells systemd.

use rustix::process::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::cli::temp_file;
use crate::support::notify::NotifySocket;
use crate::support::process::Served;

const AUTOCONFIG: &str = "/mail/config-v1.1.xml?emailaddress=jane%40example.com";

/// One GET on a kept-alive connection; the whole response (head and body) as text.
async fn exchange(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// A config file with the demo's IMAP host replaced by `host`.
fn demo_with_imap(host: &str) -> String {
    mxconf::config::DEMO_TOML.replace("host = \"imap.example.com\"", &format!("host = \"{host}\""))
}

async fn get(served: &Served, path: &str) -> reqwest::Response {
    reqwest::get(served.url(path)).await.unwrap()
}

#[tokio::test]
async fn request_lines_name_the_route_never_the_query_at_any_level() {
    let served = Served::start(&["--log-format", "text"], &[("RUST_LOG", "trace")]);
    let paths = [
        "/mail/config-v1.1.xml?emailaddress=jane%40example.com",
        "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=ActiveSync",
        "/nothing-here?emailaddress=jane%40example.com",
    ];
    for path in paths {
        get(&served, path).await;
    }
    served.wait_for_nth("mxconf::request", paths.len());
    let log = served.log();
    assert!(
        log.contains("endpoint=\"/autodiscover/autodiscover.json/v1.0/{email}\""),
        "{log}"
    );
    assert!(log.contains("endpoint=\"-\" status=404"), "{log}");
    for leak in [
        "emailaddress",
        "jane%40",
        "Protocol=",
        "/v1.0/jane",
        "nothing-here",
    ] {
        assert!(!log.contains(leak), "{leak:?} in the log:\n{log}");
    }
    // stderr is a pipe here, not a terminal.
    assert!(!log.contains('\u{1b}'), "colour escapes in a pipe:\n{log}");
}

#[tokio::test]
async fn json_lines_carry_the_request_fields_and_the_client_behind_the_proxy() {
    let (_dir, config) = temp_file(
        "mxconf.toml",
        &mxconf::config::DEMO_TOML
            .replace("trusted-proxies = []", "trusted-proxies = [\"127.0.0.1\"]")
            .replace("format = \"text\"", "format = \"json\""),
    );
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let response = reqwest::Client::new()
        .get(served.url("/mail/config-v1.1.xml?emailaddress=jane%40example.com"))
        .header("X-Forwarded-For", "203.0.113.50, 198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    served.wait_for("mxconf::request");
    let log = served.log();
    assert!(!log.contains("jane"), "an address at INFO:\n{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|line| line["target"] == "mxconf::request")
        .unwrap();
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["message"], "request");
    assert_eq!(request["method"], "GET");
    assert_eq!(request["endpoint"], "/mail/config-v1.1.xml");
    assert_eq!(request["status"], 200);
    assert_eq!(request["client"], "198.51.100.7");
    assert!(request["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(request["timestamp"].as_str().unwrap().starts_with("20"));
}

#[tokio::test]
async fn sighup_reloads_a_changed_file_without_dropping_the_connection() {
    let (_dir, config) = temp_file("mxconf.toml", &demo_with_imap("imap.example.com"));
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    assert!(
        exchange(&mut stream, AUTOCONFIG)
            .await
            .contains("imap.example.com")
    );
    std::fs::write(&config, demo_with_imap("imap2.example.com")).unwrap();
    served.signal(Signal::HUP);
    served.wait_for("reloaded");
    // The same connection, the new answer.
    assert!(
        exchange(&mut stream, AUTOCONFIG)
            .await
            .contains("imap2.example.com")
    );
}

#[tokio::test]
async fn a_reload_that_renames_the_served_domain_answers_for_the_new_one_at_once() {
    let (_dir, config) = temp_file("mxconf.toml", mxconf::config::DEMO_TOML);
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let jane_at = |domain: &str| format!("/mail/config-v1.1.xml?emailaddress=jane%40{domain}");
    assert_eq!(get(&served, &jane_at("example.com")).await.status(), 200);
    assert_eq!(get(&served, &jane_at("example.org")).await.status(), 404);
    let renamed =
        mxconf::config::DEMO_TOML.replace("domains.\"example.com\"", "domains.\"example.org\"");
    std::fs::write(&config, renamed).unwrap();
    served.signal(Signal::HUP);
    served.wait_for("reloaded");
    let body = get(&served, &jane_at("example.org"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("<emailProvider id=\"example.com\">"),
        "{body}"
    );
    assert!(body.contains("jane@example.org"), "{body}");
    assert_eq!(get(&served, &jane_at("example.com")).await.status(), 404);
}

#[tokio::test]
async fn a_broken_file_keeps_the_old_configuration_and_says_where() {
    let (_dir, config) = temp_file("mxconf.toml", &demo_with_imap("imap.example.com"));
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let broken = mxconf::config::DEMO_TOML.replacen("port = 993", "port = 70000", 1);
    let line = broken.lines().position(|l| l == "port = 70000").unwrap() + 1;
    std::fs::write(&config, broken).unwrap();
    served.signal(Signal::HUP);
    served.wait_for("reload failed");
    let expected = format!("{}:{line}: ", config.display());
    assert!(
        served.log().contains(&expected),
        "{expected} not in:\n{}",
        served.log()
    );
    // Until now SIGHUP ended the process (exit 129): it keeps serving the old answers.
    let body = get(&served, AUTOCONFIG).await.text().await.unwrap();
    assert!(body.contains("<port>993</port>"), "{body}");
}

#[tokio::test]
async fn the_embedded_demo_reloads_as_a_no_op() {
    let served = Served::start(&[], &[]);
    served.signal(Signal::HUP);
    served.wait_for("no file to read again");
    assert_eq!(get(&served, "/healthz").await.status(), 200);
}

#[tokio::test]
async fn requests_in_flight_during_reloads_all_succeed() {
    let (_dir, config) = temp_file("mxconf.toml", &demo_with_imap("imap.example.com"));
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let url = served.url(AUTOCONFIG);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for _ in 0..100 {
                    let response = client.get(&url).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    let body = response.text().await.unwrap();
                    assert!(body.contains("example.com</hostname>"), "{body}");
                }
            })
        })
        .collect();
    for n in 1..=5 {
        let host = if n % 2 == 0 {
            "imap.example.com"
        } else {
            "imap2.example.com"
        };
        std::fs::write(&config, demo_with_imap(host)).unwrap();
        served.signal(Signal::HUP);
        served.wait_for_nth("reloaded", n);
    }
    for client in clients {
        client.await.unwrap();
    }
}

#[tokio::test]
async fn sigterm_drains_a_request_in_flight_and_exits_0() {
    let mut served = Served::start(&[], &[]);
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/load/pox-request.xml"),
    )
    .unwrap();
    let mut stream = TcpStream::connect(served.addr).await.unwrap();
    let head = format!(
        "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: example.com\r\n\
         Content-Type: text/xml\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The interim answer comes when the handler asks for the body: the request is in
    // progress, waiting for it.
    let interim = read_response(&mut stream).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    served.signal(Signal::TERM);
    served.wait_for("stopping");
    stream.write_all(&body).await.unwrap();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("<Protocol>"), "{response}");
    assert!(served.wait_exit().success(), "{}", served.log());
    assert!(
        TcpStream::connect(served.addr).await.is_err(),
        "still accepting after the exit"
    );
}

/// Before: on a connection hyper had, a request whose head was arriving when SIGTERM came got
/// no answer: told to shut down before it had begun the request, hyper closed the connection
/// as idle. Now it is told once the request has begun: the request is answered, then the
/// connection closed, as the fast lane does on a fresh connection (which also says
/// `connection: close`; hyper has usually written its head by then).
#[tokio::test]
async fn sigterm_answers_a_request_whose_head_is_arriving_in_both_lanes() {
    for after_healthz in [false, true] {
        let mut served = Served::start(&[], &[]);
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        if after_healthz {
            assert!(
                exchange(&mut stream, "/healthz")
                    .await
                    .ends_with("\r\n\r\nok\n")
            );
        }
        let request = format!("GET {AUTOCONFIG} HTTP/1.1\r\nHost: example.com\r\n\r\n");
        let (head, rest) = request.split_at(30);
        stream.write_all(head.as_bytes()).await.unwrap();
        // The server has read those bytes before the signal (a head begun), not after it.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        served.signal(Signal::TERM);
        served.wait_for("stopping");
        stream.write_all(rest.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut answer),
        )
        .await
        .expect("answered and closed within 10 s")
        .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("</clientConfig>\n"),
            "after /healthz: {after_healthz}: {answer:?}"
        );
        assert!(served.wait_exit().success(), "{}", served.log());
    }
}

#[tokio::test]
async fn systemd_hears_ready_reloading_and_stopping() {
    let notify = NotifySocket::bind();
    let receive = || notify.receive();
    let (_config_dir, config) = temp_file("mxconf.toml", mxconf::config::DEMO_TOML);
    let mut served = Served::start(
        &["--config", config.to_str().unwrap()],
        &[("NOTIFY_SOCKET", notify.path())],
    );
    assert!(receive().starts_with("READY=1\n"));
    // Answering by then: READY comes after the listeners are bound.
    assert_eq!(get(&served, "/healthz").await.status(), 200);
    served.signal(Signal::HUP);
    let reloading = receive();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    let usec: u64 = reloading.lines().nth(1).unwrap()["MONOTONIC_USEC=".len()..]
        .parse()
        .unwrap();
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    assert!(usec <= u64::try_from(now.tv_sec).unwrap() * 1_000_000 + 1_000_000);
    let ready = receive();
    assert!(
        ready.starts_with("READY=1\nSTATUS=serving (reloaded)"),
        "{ready}"
    );
    served.signal(Signal::TERM);
    assert!(receive().starts_with("STOPPING=1\n"));
    assert!(served.wait_exit().success());
}
