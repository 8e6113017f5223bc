//! The fast lane answers its requests with the very bytes hyper and the router answer, for
//! valid and invalid inputs alike: each request is sent on a fresh connection (where the fast
//! lane takes it) and on one that a `/healthz` request handed to hyper first, and the two
//! answers are compared byte for byte, the `date` value aside (a signed profile too: the second
//! download of the same bytes is the signature cache's, so its signing time is the first's).
//! Requests the lane hands over mid-way (a body that arrives later, a pipelined request for
//! another route) are answered in full, and the limiter counts the lane's requests, profiles
//! against their own budget.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestServer, config_from};

const POX_BODY: &str = include_str!("../../benches/load/pox-request.xml");

/// A socket to `addr` from the loopback address `from`.
async fn connect_from(from: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Reads one response (head, then `content-length` bytes of body), keeping what follows it.
async fn response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .map_or(0, |value| value.trim().parse().unwrap());
            let total = end + 4 + length;
            if pending.len() >= total {
                return pending.drain(..total).collect();
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "closed before a whole answer: {:?}",
            String::from_utf8_lossy(pending)
        );
        pending.extend_from_slice(&chunk[..n]);
    }
}

/// The answer with its `date` value checked for form and blanked; a body that is not text (a
/// signed profile) in hex.
fn without_date(answer: Vec<u8>) -> String {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (head, body) = answer.split_at(end);
    let text = String::from_utf8(head.to_vec()).unwrap()
        + &String::from_utf8(body.to_vec())
            .unwrap_or_else(|_| body.iter().map(|byte| format!("{byte:02x}")).collect());
    let mut lines: Vec<String> = Vec::new();
    for line in text.split("\r\n") {
        match line.strip_prefix("date: ") {
            Some(date) => {
                assert!(date.len() == 29 && date.ends_with(" GMT"), "{date}");
                lines.push("date: -".into());
            }
            None => lines.push(line.into()),
        }
    }
    lines.join("\r\n")
}

/// The answer to `request` on a fresh connection from `from`, and on one that answered a
/// `/healthz` request first (hyper's from then on).
async fn both_lanes(addr: SocketAddr, from: Ipv4Addr, request: &str) -> (String, String) {
    let mut fast = connect_from(from, addr).await;
    fast.write_all(request.as_bytes()).await.unwrap();
    let fast_answer = response(&mut fast, &mut Vec::new()).await;
    let mut full = connect_from(from, addr).await;
    full.write_all(b"GET /healthz HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .unwrap();
    let mut pending = Vec::new();
    let health = response(&mut full, &mut pending).await;
    assert!(health.starts_with(b"HTTP/1.1 200 OK\r\n"));
    full.write_all(request.as_bytes()).await.unwrap();
    let full_answer = response(&mut full, &mut pending).await;
    (without_date(fast_answer), without_date(full_answer))
}

fn get(target: &str, host: &str, extra: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\n{extra}\r\n")
}

fn post(target: &str, body: &str, extra: &str) -> String {
    format!(
        "POST {target} HTTP/1.1\r\nHost: autodiscover.example.com\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn the_fast_lane_answers_byte_for_byte_what_the_router_answers() {
    let config = config_from(&mxconf::config::DEMO_TOML.replace(
        "trusted-proxies = []",
        "trusted-proxies = [\"127.0.0.2/32\"]",
    ));
    let server = TestServer::start(config).await;
    let autoconfig = "/mail/config-v1.1.xml";
    let cases = [
        (
            get(
                &format!("{autoconfig}?emailaddress=jane@example.com"),
                "x",
                "",
            ),
            "200 OK",
        ),
        (
            get(
                &format!("{autoconfig}?emailaddress=Jane%2Blists%40Example.COM"),
                "x",
                "Connection: Keep-Alive\r\n",
            ),
            "200 OK",
        ),
        (
            get(
                "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=jane@example.com",
                "x",
                "",
            ),
            "200 OK",
        ),
        (get(autoconfig, "autoconfig.example.com", ""), "200 OK"),
        (get(autoconfig, "autoconfig.example.com:8080", ""), "200 OK"),
        // The same name written absolute, with the DNS root's dot.
        (get(autoconfig, "autoconfig.example.com.", ""), "200 OK"),
        (
            get(autoconfig, "autoconfig.example.com.:8080", ""),
            "200 OK",
        ),
        (get(autoconfig, "bad_host!", ""), "400 Bad Request"),
        // One authority, never a list.
        (
            get(autoconfig, "autoconfig.example.com,evil.example", ""),
            "400 Bad Request",
        ),
        (
            get(&format!("{autoconfig}?emailaddress=nobody@"), "x", ""),
            "400 Bad Request",
        ),
        (
            get(&format!("{autoconfig}?emailaddress=%ff%fe"), "x", ""),
            "400 Bad Request",
        ),
        (
            get(
                &format!("{autoconfig}?emailaddress=jane@unknown.example"),
                "x",
                "",
            ),
            "404 Not Found",
        ),
        (
            post("/autodiscover/autodiscover.xml", POX_BODY, ""),
            "200 OK",
        ),
        (
            post("/Autodiscover/Autodiscover.xml?x=1", POX_BODY, ""),
            "200 OK",
        ),
        (
            post("/autodiscover/autodiscover.xml", "<not xml", ""),
            "200 OK",
        ),
        (post("/autodiscover/autodiscover.xml", "", ""), "200 OK"),
        (
            get("/mobileconfig?emailaddress=jane@example.com", "x", ""),
            "200 OK",
        ),
        (
            get(
                "/mobileconfig?emailaddress=Jane.Doe%2Blists%40Example.COM&name=Jane%20D",
                "x",
                "Accept: application/x-apple-aspen-config, */*\r\n",
            ),
            "200 OK",
        ),
        (
            get(
                "/mobileconfig?emailaddress=j%C3%B6rg%26co@example.com",
                "x",
                "",
            ),
            "200 OK",
        ),
        (get("/mobileconfig", "x", ""), "400 Bad Request"),
        (
            get("/mobileconfig?emailaddress=nobody@", "x", ""),
            "400 Bad Request",
        ),
        (
            get("/mobileconfig?emailaddress=%ff%fe@example.com", "x", ""),
            "400 Bad Request",
        ),
        (
            get("/mobileconfig?emailaddress=jane@unknown.example", "x", ""),
            "404 Not Found",
        ),
        // A browser's refusal is the form again (the router's: the lane hands it over).
        (
            get(
                "/mobileconfig?emailaddress=nobody@",
                "x",
                "Accept: text/html,*/*\r\n",
            ),
            "400 Bad Request",
        ),
        (
            post(
                "/autodiscover/autodiscover.xml",
                &POX_BODY.replace("jane@example.com", "jane@unknown.example"),
                "",
            ),
            "200 OK",
        ),
    ];
    for (request, status) in &cases {
        for from in [Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 0, 0, 2)] {
            let (fast, full) = both_lanes(server.addr, from, request).await;
            assert_eq!(fast, full, "{request}");
            assert!(
                fast.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{request}: {fast}"
            );
            assert!(fast.contains("\r\nx-content-type-options: nosniff\r\n"));
        }
    }
    // Behind the trusted proxy the forwarded host decides the domain, in both lanes.
    let forwarded = get(
        autoconfig,
        "10.0.0.1",
        "X-Forwarded-Host: autoconfig.example.com\r\nX-Forwarded-For: 192.0.2.9\r\n",
    );
    let (fast, full) = both_lanes(server.addr, Ipv4Addr::new(127, 0, 0, 2), &forwarded).await;
    assert_eq!(fast, full);
    assert!(fast.starts_with("HTTP/1.1 200 OK\r\n"), "{fast}");
}

#[tokio::test]
async fn an_absolute_form_target_names_the_domain_not_the_host_header() {
    let server = TestServer::start(crate::support::demo_config()).await;
    let relative = get("/mail/config-v1.1.xml", "autoconfig.example.com", "");
    let absolute = get(
        "http://autoconfig.example.com/mail/config-v1.1.xml",
        "autoconfig.unknown.example",
        "",
    );
    let (expected, _) = both_lanes(server.addr, Ipv4Addr::LOCALHOST, &relative).await;
    assert!(expected.starts_with("HTTP/1.1 200 OK\r\n"), "{expected}");
    let (fast, full) = both_lanes(server.addr, Ipv4Addr::LOCALHOST, &absolute).await;
    assert_eq!(fast, full);
    assert_eq!(fast, expected);
}

#[tokio::test]
async fn requests_the_lane_hands_over_mid_way_are_answered_in_full() {
    let server = TestServer::start(crate::support::demo_config()).await;
    let pox = post("/autodiscover/autodiscover.xml", POX_BODY, "");
    let (head, body) = pox.split_at(pox.find("\r\n\r\n").unwrap() + 4);
    // The body after the head: hyper reads the rest.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut pending = Vec::new();
    let answer = without_date(response(&mut stream, &mut pending).await);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("<Server>"), "{answer}");
    // Pipelined: a hot request, then one for another route, then a hot one; in order.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let pipelined = format!(
        "{}{}{}",
        get(
            "/mail/config-v1.1.xml?emailaddress=jane@example.com",
            "x",
            ""
        ),
        get("/healthz", "x", ""),
        pox
    );
    stream.write_all(pipelined.as_bytes()).await.unwrap();
    let mut pending = Vec::new();
    let first = without_date(response(&mut stream, &mut pending).await);
    assert!(first.contains("<clientConfig"), "{first}");
    let second = without_date(response(&mut stream, &mut pending).await);
    assert!(second.ends_with("\r\n\r\nok\n"), "{second}");
    let third = without_date(response(&mut stream, &mut pending).await);
    assert!(third.contains("<Server>"), "{third}");
}

#[tokio::test]
async fn the_limiter_counts_the_lanes_requests() {
    let text = mxconf::config::DEMO_TOML
        .replace("[limits]", "[limits]\nexempt = []\nclient-error-limit = 2");
    let server = TestServer::start(config_from(&text)).await;
    let bad = get("/mail/config-v1.1.xml?emailaddress=nobody@", "x", "");
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut pending = Vec::new();
    for _ in 0..2 {
        stream.write_all(bad.as_bytes()).await.unwrap();
        let answer = without_date(response(&mut stream, &mut pending).await);
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    }
    let (fast, full) = both_lanes(server.addr, Ipv4Addr::LOCALHOST, &bad).await;
    assert!(fast.starts_with("HTTP/1.1 429 "), "{fast}");
    assert!(fast.contains("\r\nretry-after: "), "{fast}");
    // The Retry-After seconds may tick between the two.
    let cut = |answer: &str| answer.split("retry-after").next().unwrap().to_owned();
    assert_eq!(cut(&fast), cut(&full));
}

#[tokio::test]
async fn the_lanes_profiles_count_against_the_profile_budget() {
    let text = mxconf::config::DEMO_TOML
        .replace("[limits]", "[limits]\nexempt = []\nprofiles-per-minute = 2");
    let server = TestServer::start(config_from(&text)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut pending = Vec::new();
    for index in 0..2 {
        let request = get(
            &format!("/mobileconfig?emailaddress=user{index}@example.com"),
            "x",
            "",
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = without_date(response(&mut stream, &mut pending).await);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    }
    let third = get("/mobileconfig?emailaddress=user2@example.com", "x", "");
    let (fast, full) = both_lanes(server.addr, Ipv4Addr::LOCALHOST, &third).await;
    assert!(fast.starts_with("HTTP/1.1 429 "), "{fast}");
    let cut = |answer: &str| answer.split("retry-after").next().unwrap().to_owned();
    assert_eq!(cut(&fast), cut(&full));
    // Other requests have their own budget.
    let autoconfig = get(
        "/mail/config-v1.1.xml?emailaddress=jane@example.com",
        "x",
        "",
    );
    stream.write_all(autoconfig.as_bytes()).await.unwrap();
    let answer = without_date(response(&mut stream, &mut pending).await);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
}

/// A fresh connection (the fast lane's), or with `after_healthz` one that answered a
/// `/healthz` request first (hyper's from then on), with the bytes read past that answer.
async fn connection(addr: SocketAddr, after_healthz: bool) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut pending = Vec::new();
    if after_healthz {
        stream
            .write_all(get("/healthz", "x", "").as_bytes())
            .await
            .unwrap();
        response(&mut stream, &mut pending).await;
    }
    (stream, pending)
}

/// Everything the server sends on `stream` until it closes the connection, within 10 s.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut bytes),
    )
    .await
    .expect("the server closes within 10 s")
    .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Before: a client that shut its sending side after its request (`nc -N`, some health
/// checkers) was answered by the fast lane but not by hyper, which closed the connection at the
/// end of the stream with the answer still being made. Both lanes answer it now, then close.
#[tokio::test]
async fn a_request_followed_by_a_half_close_is_answered_in_both_lanes() {
    let server = TestServer::start(crate::support::demo_config()).await;
    for request in [
        get(
            "/mail/config-v1.1.xml?emailaddress=jane@example.com",
            "x",
            "",
        ),
        post("/autodiscover/autodiscover.xml", POX_BODY, ""),
        get("/mobileconfig?emailaddress=jane@example.com", "x", ""),
        get("/healthz", "x", ""),
    ] {
        for after_healthz in [false, true] {
            let (mut stream, _) = connection(server.addr, after_healthz).await;
            stream.write_all(request.as_bytes()).await.unwrap();
            stream.shutdown().await.unwrap();
            let answer = until_closed(&mut stream).await;
            assert!(
                answer.starts_with("HTTP/1.1 200 OK\r\n"),
                "after /healthz: {after_healthz}: {request}: {answer:?}"
            );
        }
    }
}

/// Before: after the fast lane had answered a request, the bytes it handed to hyper were
/// sniffed for the HTTP/2 preface as if they began the connection, so a `PRI * HTTP/2.0`
/// pipelined behind an HTTP/1.1 request turned the connection into HTTP/2. A connection's
/// protocol is chosen by its first bytes only: hyper's HTTP/1 closes it, in both lanes.
#[tokio::test]
async fn an_http2_preface_behind_an_http1_request_does_not_switch_protocols() {
    let server = TestServer::start(crate::support::demo_config()).await;
    let request = get(
        "/mail/config-v1.1.xml?emailaddress=jane@example.com",
        "x",
        "",
    );
    for after_healthz in [false, true] {
        let (mut stream, mut pending) = connection(server.addr, after_healthz).await;
        // The preface and an empty SETTINGS frame: an HTTP/2 server answers with its own.
        let mut bytes = request.clone().into_bytes();
        bytes.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0");
        stream.write_all(&bytes).await.unwrap();
        let answer = response(&mut stream, &mut pending).await;
        assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
        let rest = until_closed(&mut stream).await;
        assert!(
            pending.is_empty() && rest.is_empty(),
            "after /healthz: {after_healthz}: {pending:?} {rest:?}"
        );
    }
}

/// Before: a head the lane could not parse went to hyper-util's protocol sniffing, which reads
/// the first 24 bytes on their own; hyper then parsed those alone (incomplete), and from then
/// on parsed only once a blank line arrived, so a head broken by a bare CR was never refused:
/// no answer, and the connection held until its header-read time was up. hyper refused the same
/// bytes at once on a connection it had already. Now it gets them whole: 400 at once, in both
/// lanes, for the lane's routes and the others.
#[tokio::test]
async fn a_head_broken_by_a_bare_cr_is_refused_at_once_in_both_lanes() {
    let server = TestServer::start(crate::support::demo_config()).await;
    for request in [
        "GET /mail/config-v1.1.xml?emailaddress=jane@example.com HTTP/1.1\r\nHost: x\r\n\r\r",
        "GET /mobileconfig?emailaddress=jane@example.com HTTP/1.1\r\nHost: x\r@\n",
        "GET /healthz HTTP/1.1\r\r",
    ] {
        for after_healthz in [false, true] {
            let (mut stream, _) = connection(server.addr, after_healthz).await;
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = [0u8; 64];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(3), stream.read(&mut answer))
                    .await;
            let answer = match read {
                Ok(Ok(n)) => String::from_utf8_lossy(&answer[..n]).into_owned(),
                _ => "no answer within 3 s".into(),
            };
            assert!(
                answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "after /healthz: {after_healthz}: {request:?}: {answer}"
            );
        }
    }
}
