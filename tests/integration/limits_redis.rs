//! The abuse protection with a real Redis shared by two `mxconf serve` processes: one budget
//! for both, and the `on-store-failure` policy while Redis hangs or is gone, then counting
//! again when it is back; Redis over TLS with a CA and client certificate made by the test
//! (and a CA that does not fit); a password rotated in Redis and its file while mxconf runs.
//! Clients are told apart by `X-Forwarded-For` from the trusted loopback peer.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use super::limits::demo_text;
use super::metrics::{metrics_url, scrape};
use crate::support::cli::{mxconf, temp_file};
use crate::support::openssl::TestCa;
use crate::support::process::Served;
use crate::support::relay::Relay;
use crate::support::servers::Redis;

const GOOD: &str = "/mail/config-v1.1.xml?emailaddress=jane%40example.com";
const BAD: &str = "/mail/config-v1.1.xml?emailaddress=not-an-address";
const PROFILE: &str = "/mobileconfig?emailaddress=jane%40example.com";
/// Far above the store timeout (200 ms), far below a hang.
const BOUND: Duration = Duration::from_secs(2);

fn config(redis: &Redis, extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let limits = format!(
        "exempt = []\nclient-error-limit = 3\nprofiles-per-minute = 2\nstore = \"{}\"\n\
         password-file = \"{}\"\nstore-timeout = \"200ms\"\n{extra}",
        redis.url(),
        redis.password_file.display()
    );
    temp_file("mxconf.toml", &demo_text("\"127.0.0.1\"", &limits))
}

/// `[limits]` for a `rediss://` Redis: `ca-file`, and mxconf's client certificate from `ca`.
fn tls_config(
    redis: &Redis,
    ca_file: &std::path::Path,
    ca: &TestCa,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let (cert, key) = ca.issue_current("mxconf", "clientAuth", None);
    let extra = format!(
        "ca-file = \"{}\"\ncert-file = \"{}\"\nkey-file = \"{}\"",
        ca_file.display(),
        cert.display(),
        key.display()
    );
    let (dir, path) = config(redis, &extra);
    // With the metrics listener, to read the store failures off it, and time for a TLS
    // handshake in a debug build on a loaded machine.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("# listen = \"127.0.0.1:9154\"", "listen = \"127.0.0.1:0\"")
        .replace("store-timeout = \"200ms\"", "store-timeout = \"2s\"");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// `mxconf check-config --backends`: its exit code, stdout and stderr.
fn check_backends(path: &std::path::Path) -> (Option<i32>, String, String) {
    let output = mxconf()
        .args(["check-config", "--backends", "--config"])
        .arg(path)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn serve(path: &std::path::Path) -> Served {
    Served::start(&["--config", path.to_str().unwrap()], &[])
}

/// One GET as `client`: its status, and how long it took.
async fn get(served: &Served, path: &str, client: &str) -> (StatusCode, Duration, Option<u64>) {
    let started = Instant::now();
    let response = reqwest::Client::new()
        .get(served.url(path))
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .map(|value| value.to_str().unwrap().parse().unwrap());
    (response.status(), started.elapsed(), retry_after)
}

async fn status(served: &Served, path: &str, client: &str) -> StatusCode {
    get(served, path, client).await.0
}

#[tokio::test]
async fn two_instances_share_one_budget() {
    let redis = Redis::start();
    let (_dir, path) = config(&redis, "");
    let a = serve(&path);
    let b = serve(&path);
    // Errors made on A get the client refused on B, at exactly the limit.
    for _ in 0..3 {
        assert_eq!(status(&a, BAD, "192.0.2.70").await, 400);
    }
    let (code, _, retry_after) = get(&b, GOOD, "192.0.2.70").await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        (590..=600).contains(&retry_after.unwrap()),
        "{retry_after:?}"
    );
    assert_eq!(status(&a, GOOD, "192.0.2.70").await, 429);
    assert_eq!(status(&b, GOOD, "192.0.2.71").await, 200);
    // The profile budget is shared too: one on each, the third refused.
    assert_eq!(status(&a, PROFILE, "192.0.2.72").await, 200);
    assert_eq!(status(&b, PROFILE, "192.0.2.72").await, 200);
    let (code, _, retry_after) = get(&a, PROFILE, "192.0.2.72").await;
    assert_eq!(code, 429);
    assert!((29..=30).contains(&retry_after.unwrap()), "{retry_after:?}");
    // The refusal is logged once for the whole fleet (the script keeps the mark): B refused
    // .70 first and A refused .72, so each logs one line (waited for: the log is written by
    // another process, and may lag the answer on a loaded machine).
    b.wait_for("client refused");
    a.wait_for("client refused");
    assert_eq!(a.count("client refused") + b.count("client refused"), 2);
}

#[tokio::test]
async fn redis_failing_allows_uncounted_then_counting_resumes() {
    let mut redis = Redis::start();
    let (_dir, path) = config(&redis, "on-store-failure = \"allow\"");
    let served = serve(&path);
    for _ in 0..3 {
        assert_eq!(status(&served, BAD, "192.0.2.80").await, 400);
    }
    assert_eq!(status(&served, GOOD, "192.0.2.80").await, 429);
    // Redis hangs: no answer within the timeout, so the request is served uncounted, in
    // bounded time; so are the requests after it (the store is not asked for a moment).
    redis.signal("-STOP");
    for _ in 0..10 {
        let (code, took, _) = get(&served, GOOD, "192.0.2.80").await;
        assert_eq!(code, 200);
        assert!(took < BOUND, "{took:?}");
    }
    let ready = reqwest::get(served.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        ready
            .text()
            .await
            .unwrap()
            .contains("degraded: [limits] store")
    );
    // Redis gone altogether (it restarts empty, as a Redis without persistence would).
    redis.signal("-CONT");
    redis.stop();
    for _ in 0..10 {
        let (code, took, _) = get(&served, BAD, "192.0.2.81").await;
        assert_eq!(code, 400);
        assert!(took < BOUND, "{took:?}");
    }
    assert_eq!(
        served.count("[limits] store does not answer"),
        1,
        "{}",
        served.log()
    );
    redis.start_again();
    // Counting resumes once the manager has reconnected (within a few cooldowns).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for _ in 0..3 {
            status(&served, BAD, "192.0.2.82").await;
        }
        if status(&served, GOOD, "192.0.2.82").await == 429 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never counted again: {}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    served.wait_for("[limits] store answers again");
    let ready = reqwest::get(served.url("/readyz")).await.unwrap();
    assert_eq!(ready.text().await.unwrap(), "ready\n");
}

#[tokio::test]
async fn redis_failing_refuses_when_told_to() {
    let mut redis = Redis::start();
    let (_dir, path) = config(&redis, "on-store-failure = \"refuse\"");
    let served = serve(&path);
    assert_eq!(status(&served, GOOD, "192.0.2.90").await, 200);
    redis.stop();
    for _ in 0..10 {
        let (code, took, retry_after) = get(&served, GOOD, "192.0.2.90").await;
        assert_eq!(code, 429);
        assert_eq!(retry_after, Some(10));
        assert!(took < BOUND, "{took:?}");
    }
    // The health check is never counted, so never refused.
    assert_eq!(status(&served, "/healthz", "192.0.2.90").await, 200);
}

#[tokio::test]
async fn check_config_pings_the_store() {
    let mut redis = Redis::start();
    let (_dir, path) = config(&redis, "");
    let check = || {
        mxconf()
            .args(["check-config", "--backends", "--config"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let output = check();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("limits.store: Redis answers"), "{stdout}");
    // A wrong password is named, never printed.
    std::fs::write(&redis.password_file, "wrong\n").unwrap();
    let output = check();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mxconf.toml:") && stderr.contains("limits.store:"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong"), "{stderr}");
    redis.stop();
    let output = check();
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn rediss_store_trusts_its_ca_file_and_presents_a_client_certificate() {
    let ca = TestCa::new();
    let redis = Redis::start_tls(&ca);
    let (_dir, path) = tls_config(&redis, &ca.path("ca.pem"), &ca);
    let (code, stdout, stderr) = check_backends(&path);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("limits.store: Redis answers"), "{stdout}");
    // Counted in the TLS Redis: errors made on A get the client refused on B.
    let a = serve(&path);
    let b = serve(&path);
    for _ in 0..3 {
        assert_eq!(status(&a, BAD, "192.0.2.110").await, 400);
    }
    assert_eq!(status(&b, GOOD, "192.0.2.110").await, 429);
    assert_eq!(status(&b, GOOD, "192.0.2.111").await, 200);
    assert_eq!(a.count("[limits] store does not answer"), 0, "{}", a.log());
}

/// With the default store-timeout (100 ms), shorter than a new TLS connection takes to come up
/// over a network (TCP, the handshake, AUTH: several round trips): Redis 20 ms away each way
/// (a relay), so one command takes 40 ms but connecting well over 100. The connection comes
/// up in the background and the requests after it are counted. Before, every attempt was cut
/// off at 100 ms and the store never counted a request (on loopback too, in a release build
/// on a loaded machine: 150-420 ms to connect).
#[tokio::test]
async fn rediss_store_comes_up_with_the_default_store_timeout() {
    let ca = TestCa::new();
    let redis = Redis::start_tls(&ca);
    let relay = Relay::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], redis.port)),
        Duration::from_millis(20),
    );
    let (_dir, path) = tls_config(&redis, &ca.path("ca.pem"), &ca);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("store-timeout = \"2s\"\n", "")
        .replace(
            &format!("127.0.0.1:{}/", redis.port),
            &format!("127.0.0.1:{}/", relay.port),
        );
    std::fs::write(&path, text).unwrap();
    let served = serve(&path);
    let metrics = metrics_url(&served);
    let failures = async || {
        scrape(&metrics)
            .await
            .count("mxconf_limit_store_failures_total{}")
    };
    // The first requests start the connection, and are served uncounted meanwhile; one that
    // leaves the store failures as they were was counted (its error too).
    let started = Instant::now();
    for probe in 0.. {
        let before = failures().await;
        let client = format!("192.0.2.{}", 140 + probe % 100);
        assert_eq!(status(&served, BAD, &client).await, 400);
        if failures().await == before {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never counted: {}",
            served.log()
        );
        // Past the limiter's one-second cooldown after a failure, then one more try.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for _ in 0..3 {
        assert_eq!(status(&served, BAD, "192.0.2.131").await, 400);
    }
    assert_eq!(
        status(&served, GOOD, "192.0.2.131").await,
        429,
        "{}",
        served.log()
    );
}

#[tokio::test]
async fn rediss_store_with_a_ca_that_does_not_fit_fails_visibly() {
    let ca = TestCa::new();
    let redis = Redis::start_tls(&ca);
    let other = TestCa::new();
    let (_dir, path) = tls_config(&redis, &other.path("ca.pem"), &ca);
    // check-config names the store and the certificate problem.
    let (code, stdout, stderr) = check_backends(&path);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("mxconf.toml:") && stderr.contains("limits.store:"),
        "{stderr}"
    );
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
    // The server runs by on-store-failure (allow: served uncounted, never counted in memory
    // instead), and says so: log, /readyz, metrics.
    let served = serve(&path);
    let metrics = metrics_url(&served);
    for _ in 0..5 {
        let (code, took, _) = get(&served, BAD, "192.0.2.120").await;
        assert_eq!(code, 400);
        assert!(took < BOUND, "{took:?}");
    }
    assert_eq!(status(&served, GOOD, "192.0.2.120").await, 200);
    let line = served.wait_for("[limits] store does not answer");
    assert!(line.contains("certificate verify failed"), "{line}");
    assert_eq!(served.count("[limits] store does not answer"), 1);
    let ready = reqwest::get(served.url("/readyz")).await.unwrap();
    assert!(
        ready
            .text()
            .await
            .unwrap()
            .contains("degraded: [limits] store")
    );
    let scrape = scrape(&metrics).await;
    assert_eq!(scrape.value("mxconf_limit_store_failures_total{}"), 6.0);
}

#[tokio::test]
async fn a_rotated_password_is_used_from_the_next_connection() {
    let mut redis = Redis::start();
    let (_dir, path) = config(&redis, "");
    let served = serve(&path);
    let refused_after_errors = async |client: &str| {
        for _ in 0..3 {
            status(&served, BAD, client).await;
        }
        status(&served, GOOD, client).await == 429
    };
    assert!(refused_after_errors("192.0.2.130").await);
    // The admin rotates the password in Redis and in the file; mxconf's connection stays
    // authenticated, so counting goes on.
    redis.set_password("n3w s3cret");
    std::fs::write(&redis.password_file, "n3w s3cret\n").unwrap();
    assert!(refused_after_errors("192.0.2.131").await);
    // The connection drops (a restart, a failover, a network cut): the next one is made with
    // the new password, without a reload, within a few store cooldowns.
    redis.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = 140;
    while !refused_after_errors(&format!("192.0.2.{client}")).await {
        assert!(
            Instant::now() < deadline,
            "never counted again: {}",
            served.log()
        );
        client += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(!served.log().contains("n3w"), "{}", served.log());
}

#[tokio::test]
async fn a_password_file_rewritten_after_redis_changed_is_picked_up() {
    let mut redis = Redis::start();
    let (_dir, path) = config(&redis, "");
    let served = serve(&path);
    let refused_after_errors = async |client: &str| {
        for _ in 0..3 {
            status(&served, BAD, client).await;
        }
        status(&served, GOOD, client).await == 429
    };
    assert!(refused_after_errors("192.0.2.150").await);
    // Redis restarts with a new password before the file has it: requests are served
    // uncounted, the incident is logged, and check-config names the refusal.
    redis.stop();
    redis.password = "n3w s3cret".into();
    redis.start_again();
    assert!(!refused_after_errors("192.0.2.151").await);
    served.wait_for("[limits] store does not answer");
    let (code, _, stderr) = check_backends(&path);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("limits.store: Password authentication failed"),
        "{stderr}"
    );
    // The file gets the new password: counting resumes without a reload.
    std::fs::write(&redis.password_file, "n3w s3cret\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = 160;
    while !refused_after_errors(&format!("192.0.2.{client}")).await {
        assert!(
            Instant::now() < deadline,
            "never counted again: {}",
            served.log()
        );
        client += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    served.wait_for("[limits] store answers again");
}
