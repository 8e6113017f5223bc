//! The abuse protection over real sockets: the exact client-error limit, the 429 every
//! protocol gets, the networks it leaves alone, and whose address counts behind proxies.
//! Clients are told apart by `X-Forwarded-For` from the loopback peer, which these configs
//! trust; the peer itself is not exempt here, as it is by default.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use crate::support::cli::temp_file;
use crate::support::process::Served;
use crate::support::{TestServer, config_from};

const GOOD: &str = "/mail/config-v1.1.xml?emailaddress=jane%40example.com";
const BAD_ADDRESS: &str = "/mail/config-v1.1.xml?emailaddress=not-an-address";
const UNKNOWN_DOMAIN: &str = "/mail/config-v1.1.xml?emailaddress=jane%40example.net";

/// The demo with `[server] trusted-proxies` and a `[limits]` table of its own.
pub(super) fn demo_text(trusted: &str, limits: &str) -> String {
    mxconf::config::DEMO_TOML
        .replace(
            "trusted-proxies = []",
            &format!("trusted-proxies = [{trusted}]"),
        )
        .replace("[limits]", &format!("[limits]\n{limits}"))
}

async fn server(trusted: &str, limits: &str) -> TestServer {
    TestServer::start(config_from(&demo_text(trusted, limits))).await
}

/// One GET as the client `forwarded_for` (no header when empty).
async fn get(server: &TestServer, path: &str, forwarded_for: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(server.url(path));
    if !forwarded_for.is_empty() {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    request.send().await.unwrap()
}

/// A POX request whose body is no Autodiscover request: error 600, sent as HTTP 200.
async fn garbled_pox(server: &TestServer, forwarded_for: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/autodiscover/autodiscover.xml"))
        .header("x-forwarded-for", forwarded_for)
        .header(CONTENT_TYPE, "text/xml")
        .body("<not-autodiscover/>")
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn twenty_client_errors_then_the_next_request_is_refused() {
    let server = server("\"127.0.0.1\"", "exempt = []").await;
    let client = "192.0.2.10";
    // Every kind of client error counts: bad input, unknown domains, unrouted paths, wrong
    // methods, and Autodiscover error documents although they are 200s.
    for _ in 0..5 {
        assert_eq!(get(&server, BAD_ADDRESS, client).await.status(), 400);
        assert_eq!(get(&server, UNKNOWN_DOMAIN, client).await.status(), 404);
        assert_eq!(get(&server, "/owa/auth/x.js", client).await.status(), 404);
        let pox = garbled_pox(&server, client).await;
        assert_eq!(pox.status(), 200);
        assert!(
            pox.text()
                .await
                .unwrap()
                .contains("<ErrorCode>600</ErrorCode>")
        );
    }
    // Good answers in between count for nothing.
    assert_eq!(get(&server, GOOD, "192.0.2.11").await.status(), 200);
    // The 21st request, a good one, is refused: the count is exact.
    let refused = get(&server, GOOD, client).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&refused);
    assert!((590..=600).contains(&wait), "Retry-After: {wait}");
    assert_eq!(refused.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(
        refused.text().await.unwrap(),
        "too many requests, try again later\n"
    );
    // POX clients get the 429 too, never a body they could read as settings.
    let pox = garbled_pox(&server, client).await;
    assert_eq!(pox.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(pox.headers().contains_key(RETRY_AFTER));
    // Another client is not affected.
    assert_eq!(get(&server, GOOD, "192.0.2.11").await.status(), 200);
    // Nor is the load balancer's health check.
    assert_eq!(get(&server, "/healthz", client).await.status(), 200);
}

#[tokio::test]
async fn exempt_networks_are_never_counted_nor_refused() {
    let server = server("\"127.0.0.1\"", "exempt = [\"198.51.100.0/24\"]").await;
    for _ in 0..30 {
        assert_eq!(
            get(&server, BAD_ADDRESS, "198.51.100.7").await.status(),
            400
        );
    }
    assert_eq!(get(&server, GOOD, "198.51.100.7").await.status(), 200);
    // Not exempt: the same errors get it refused.
    for _ in 0..20 {
        assert_eq!(get(&server, BAD_ADDRESS, "203.0.113.7").await.status(), 400);
    }
    assert_eq!(get(&server, GOOD, "203.0.113.7").await.status(), 429);
}

#[tokio::test]
async fn the_default_exempts_the_host_itself() {
    let server = server("", "").await;
    for _ in 0..30 {
        assert_eq!(get(&server, BAD_ADDRESS, "").await.status(), 400);
    }
    assert_eq!(get(&server, GOOD, "").await.status(), 200);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_counts_against_the_peer() {
    // The loopback peer is no trusted proxy here: its header names a new client each time,
    // and every error still counts against the peer.
    let server = server("", "exempt = []\nclient-error-limit = 5").await;
    for n in 0..5 {
        let spoofed = format!("198.51.100.{n}");
        assert_eq!(get(&server, BAD_ADDRESS, &spoofed).await.status(), 400);
    }
    assert_eq!(get(&server, GOOD, "198.51.100.99").await.status(), 429);
    assert_eq!(get(&server, GOOD, "").await.status(), 429);
}

#[tokio::test]
async fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
    let server = server(
        "\"127.0.0.1\", \"10.0.0.0/8\"",
        "exempt = []\nclient-error-limit = 3",
    )
    .await;
    // The client's own claim (leftmost) changes every time and proves nothing; the address our
    // proxy chain saw (192.0.2.50, written by the proxy at 10.1.1.1) is the one counted.
    for n in 0..3 {
        let chain = format!("203.0.113.{n}, 192.0.2.50, 10.1.1.1");
        assert_eq!(get(&server, BAD_ADDRESS, &chain).await.status(), 400);
    }
    assert_eq!(get(&server, GOOD, "192.0.2.50").await.status(), 429);
    assert_eq!(get(&server, GOOD, "192.0.2.51").await.status(), 200);
}

#[tokio::test]
async fn profiles_have_a_budget_of_their_own() {
    let server = server("\"127.0.0.1\"", "exempt = []\nprofiles-per-minute = 2").await;
    let profile = "/mobileconfig?emailaddress=jane%40example.com";
    let client = "192.0.2.20";
    for _ in 0..2 {
        assert_eq!(get(&server, profile, client).await.status(), 200);
    }
    let refused = get(&server, profile, client).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(retry_after(&refused), 30);
    // The other endpoints still answer the same client.
    assert_eq!(get(&server, GOOD, client).await.status(), 200);
}

#[tokio::test]
async fn requests_per_minute_bounds_every_endpoint() {
    let server = server("\"127.0.0.1\"", "exempt = []\nrequests-per-minute = 5").await;
    for _ in 0..5 {
        assert_eq!(get(&server, GOOD, "192.0.2.30").await.status(), 200);
    }
    let refused = get(&server, GOOD, "192.0.2.30").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(retry_after(&refused), 12);
}

#[tokio::test]
async fn turned_off_nothing_is_refused() {
    let server = server("\"127.0.0.1\"", "enabled = false\nexempt = []").await;
    for _ in 0..30 {
        assert_eq!(get(&server, BAD_ADDRESS, "192.0.2.40").await.status(), 400);
    }
    assert_eq!(get(&server, GOOD, "192.0.2.40").await.status(), 200);
}

#[tokio::test]
async fn a_flood_is_logged_once_per_client_not_once_per_request() {
    let text = demo_text("\"127.0.0.1\"", "exempt = []\nclient-error-limit = 2");
    let (_dir, path) = temp_file("mxconf.toml", &text);
    let served = Served::start(&["--config", path.to_str().unwrap()], &[]);
    let client = reqwest::Client::new();
    let status = async |forwarded_for: &str| {
        client
            .get(served.url(BAD_ADDRESS))
            .header("x-forwarded-for", forwarded_for)
            .send()
            .await
            .unwrap()
            .status()
    };
    for expected in [400, 400].into_iter().chain([429; 50]) {
        assert_eq!(status("192.0.2.60").await, expected);
    }
    for expected in [400, 400, 429] {
        assert_eq!(status("192.0.2.61").await, expected);
    }
    // The second client's refusal is the second line: the first client's 49 later refusals
    // wrote none.
    let line = served.wait_for_nth("client refused", 2);
    assert!(
        line.contains("192.0.2.61") && line.contains("client-errors"),
        "{line}"
    );
    assert_eq!(served.count("client refused"), 2, "{}", served.log());
}
