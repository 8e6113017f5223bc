//! The accept loop against hostile clients: idle sockets and slow request heads beyond the
//! connection cap (and beyond the open-files limit) never lock out a client that sends real
//! requests, and heads and idle connections that take too long are closed. One client
//! beyond its own connection cap does not keep another client out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::cli::temp_file;
use crate::support::process::Served;
use crate::support::{TestServer, config_from};

/// What a slowloris sends before it stalls: a request line and one header, never the end.
const SLOW_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: example.com\r\n";

/// Opens `count` sockets: every other one sits idle, the rest start a head and stall.
async fn hold(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for n in 0..count {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            continue; // the backlog is full: what the fix must prevent, caught below
        };
        if n % 2 == 1 {
            let _ = stream.write_all(SLOW_HEAD).await;
        }
        held.push(stream);
    }
    held
}

/// `requests` answers in a row, each on a fresh connection (no pooling), each bounded.
async fn keeps_answering(addr: SocketAddr, requests: usize) {
    keeps_answering_from(Ipv4Addr::LOCALHOST, addr, requests).await;
}

/// The same, from the loopback address `from` (Linux routes all of 127/8 to `lo`).
async fn keeps_answering_from(from: Ipv4Addr, addr: SocketAddr, requests: usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .local_address(IpAddr::V4(from))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for n in 0..requests {
        let response = client
            .get(format!(
                "http://{addr}/mail/config-v1.1.xml?emailaddress=jane%40example.com"
            ))
            .send()
            .await
            .unwrap_or_else(|error| panic!("request {n} while the sockets are held: {error}"));
        assert_eq!(response.status(), 200);
    }
}

/// Bounded wait for the server to close `stream` (end of file or reset).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue, // a response (408) before the close
            Err(_) => return false,
        }
    }
}

/// The demo with `lines` added to its `[server]` table.
fn demo_with(lines: &str) -> mxconf::config::Config {
    config_from(&mxconf::config::DEMO_TOML.replace(
        "trusted-proxies = []",
        &format!("trusted-proxies = []\n{lines}"),
    ))
}

#[tokio::test]
async fn sockets_beyond_the_open_files_limit_do_not_lock_out_a_client() {
    // 200 descriptors in all: before the accept loop, the server stopped accepting at ~190
    // held sockets (EMFILE) and every later client waited in the backlog for ever.
    let served = Served::start_under(&["prlimit", "--nofile=200:200", "--"], &[], &[]);
    let held = hold(served.addr, 300).await;
    keeps_answering(served.addr, 20).await;
    served.wait_for("at most 72 connections at once");
    drop(held);
}

#[tokio::test]
async fn sockets_beyond_max_connections_make_room_oldest_first() {
    let config = demo_with("max-connections = 8");
    let server = TestServer::start(config).await;
    let mut held = hold(server.addr, 40).await;
    keeps_answering(server.addr, 10).await;
    // The first sockets waited longest: they made room.
    assert!(closed_by_server(&mut held[0]).await);
    assert!(closed_by_server(&mut held[1]).await);
}

/// A socket to `addr` from the loopback address `from`.
async fn connect_from(from: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test]
async fn one_client_beyond_its_connection_cap_does_not_keep_another_out() {
    let text = mxconf::config::DEMO_TOML
        .replace(
            "trusted-proxies = []",
            // A long header-read time: only the cap can close the idle sockets in this test.
            "trusted-proxies = []\nmax-connections-per-client = 8\nheader-read-timeout = \"60s\"",
        )
        .replace("# listen = \"127.0.0.1:9154\"", "listen = \"127.0.0.1:0\"")
        // Loopback is exempt by default; here it stands for two clients on the network.
        .replace("[limits]", "[limits]\nexempt = []");
    let (_dir, config) = temp_file("mxconf.toml", &text);
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let greedy = Ipv4Addr::new(127, 0, 0, 3);
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(connect_from(greedy, served.addr).await);
    }
    // Beyond its cap, its connections are closed at once (before the fix they stayed open
    // until the idle timeout, and enough of them pushed every other client out at the cap).
    for stream in &mut held[8..] {
        assert!(closed_by_server(stream).await, "a connection over the cap");
    }
    keeps_answering_from(Ipv4Addr::new(127, 0, 0, 2), served.addr, 10).await;
    // The client's own first eight still work.
    for stream in &mut held[..8] {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: example.com\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    assert_eq!(served.count("client holds max-connections-per-client"), 1);
    assert!(served.log().contains("127.0.0.3"), "{}", served.log());
    let metrics = served.wait_for("metrics on http://");
    let url = metrics.rsplit("metrics on ").next().unwrap();
    let url = url.split(['"', ' ']).next().unwrap();
    let scrape = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(
        scrape
            .lines()
            .any(|line| line == "mxconf_connections_refused_total{reason=\"client-cap\"} 32"),
        "{scrape}"
    );
    // Once it has closed them all, the incident's count is logged.
    drop(held);
    served.wait_for("refused=32");
}

#[tokio::test]
async fn slow_heads_and_idle_keep_alives_are_closed_when_their_time_is_up() {
    let config = demo_with("header-read-timeout = \"200ms\"\nidle-timeout = \"200ms\"");
    let server = TestServer::start(config).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(SLOW_HEAD).await.unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut kept_alive = TcpStream::connect(server.addr).await.unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut slow).await,
        "a stalled head stays open"
    );
    assert!(
        closed_by_server(&mut silent).await,
        "a silent socket stays open"
    );
    assert!(
        closed_by_server(&mut kept_alive).await,
        "an idle keep-alive stays open"
    );
}

#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let served = Served::start_under(&["prlimit", "--nofile=256:4096", "--"], &[], &[]);
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", served.pid().as_raw_nonzero())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{open_files}");
    served.wait_for("at most 3968 connections at once");
}

/// Before: hyper's read buffer grew to its default of ~400 KiB for one request head, so each
/// connection under the cap could hold that much until its header-read time was up (1,000
/// connections sending 300 KB heads: 290 MB more resident). Now a head beyond 32 KiB (nginx's
/// default total) is refused with 431 and the connection closed, in both lanes. hyper looks at
/// the buffer's size after each read, so the refusal is certain from twice that.
#[tokio::test]
async fn a_request_head_beyond_32_kib_is_refused_in_both_lanes() {
    let server = TestServer::start(crate::support::demo_config()).await;
    let start =
        "GET /mail/config-v1.1.xml?emailaddress=jane@example.com HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    for (size, status) in [(30 * 1024, "200 OK"), (64 * 1024, "431 ")] {
        let mut head = start.to_owned();
        head.push_str(&"a".repeat(size - start.len() - 4));
        head.push_str("\r\n\r\n");
        assert_eq!(head.len(), size);
        for after_healthz in [false, true] {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            if after_healthz {
                stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
                let mut answer = [0u8; 1024];
                let n = stream.read(&mut answer).await.unwrap();
                assert!(answer[..n].ends_with(b"\r\n\r\nok\n"));
            }
            // A refused head may be answered before all of it is read.
            let _ = stream.write_all(head.as_bytes()).await;
            let mut answer = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
                .await
                .expect("an answer within 10 s")
                .unwrap();
            let answer = String::from_utf8_lossy(&answer[..n]);
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{size} bytes, after /healthz: {after_healthz}: {answer}"
            );
        }
    }
}
