//! The Prometheus endpoint of a real `mxconf serve` process: known traffic in, exact counts
//! out, read by Prometheus's own tools (Python `prometheus_client`'s parser, `promtool check
//! metrics`). Each test runs its own process, so no other test's traffic is counted.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use rustix::process::Signal;

use crate::support::cli::temp_file;
use crate::support::process::Served;

/// Answers jane (an entry), nobody (none), broken (fails) and hang (times out).
const LOOKUP: &str = r#"case "$1" in
  jane@example.com) echo '{"login_name": "jdoe"}' ;;
  broken@example.com) exit 3 ;;
  hang@example.com) sleep 5 ;;
  *) echo null ;;
esac
"#;

/// The demo with metrics on port 0 and the lookup script as every domain's source.
fn config_text(script: &std::path::Path) -> String {
    let text = mxconf::config::DEMO_TOML
        .replace("# listen = \"127.0.0.1:9154\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "# sources = [\"users\", \"directory\"]",
            "sources = [\"script\"]",
        );
    format!(
        "{text}\n[backends.script]\ntype = \"command\"\ncommand = [\"/bin/sh\", \"{}\", \"%EMAILADDRESS%\"]\ntimeout = \"300ms\"\n",
        script.display()
    )
}

/// The metrics endpoint's URL, from its start-up line.
pub(super) fn metrics_url(served: &Served) -> String {
    let line = served.wait_for("metrics on http://");
    let url = line.rsplit("metrics on ").next().unwrap();
    url.split(['"', ' ']).next().unwrap().to_owned()
}

/// A scrape parsed by `prometheus_client`: each sample as `name{label="value",…}` (labels
/// sorted) → value, and each family's type.
pub(super) struct Scrape {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    /// `sample`'s value; 0 for a counter not yet counted (it appears at its first count).
    pub(super) fn count(&self, sample: &str) -> f64 {
        self.samples.get(sample).copied().unwrap_or(0.0)
    }

    pub(super) fn value(&self, sample: &str) -> f64 {
        *self
            .samples
            .get(sample)
            .unwrap_or_else(|| panic!("no {sample} in {:#?}", self.samples))
    }
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples, types = {}, {}
for family in text_string_to_metric_families(sys.stdin.read()):
    types[family.name] = family.type
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        samples[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps({"samples": samples, "types": types}))
"#;

/// Runs `program args` with `input` on stdin; its output, or a panic with its report.
fn pipe(program: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}\non:\n{input}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Scrapes `url`, has `promtool` lint the text and `prometheus_client` parse it.
pub(super) async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    pipe("promtool", &["check", "metrics"], &text);
    let parsed: serde_json::Value =
        serde_json::from_str(&pipe("python3", &["-c", PARSE], &text)).unwrap();
    let map = |key: &str| {
        parsed[key]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    Scrape {
        samples: map("samples")
            .into_iter()
            .map(|(k, v)| (k, v.as_f64().unwrap()))
            .collect(),
        types: map("types")
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
            .collect(),
    }
}

#[tokio::test]
async fn a_scrape_after_known_traffic_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lookup.sh");
    std::fs::write(&script, LOOKUP).unwrap();
    let config = dir.path().join("mxconf.toml");
    std::fs::write(&config, config_text(&script)).unwrap();
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let metrics = metrics_url(&served);
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(served.url(path));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let autoconfig =
        |user: &str| format!("/mail/config-v1.1.xml?emailaddress={user}%40example.com");
    // Five autoconfig answers: jane twice (asked once, then cached), one per other outcome.
    for user in ["jane", "jane", "nobody", "broken", "hang"] {
        assert_eq!(get(&autoconfig(user)).await, 200, "{user}");
    }
    // The public listener has no /metrics: it is one more unrouted path.
    assert_eq!(get("/metrics").await, 404);
    assert_eq!(get("/no-such-page?emailaddress=x%40example.com").await, 404);
    // One profile downloaded twice: one signature, one cache hit (and jane from the cache).
    for _ in 0..2 {
        assert_eq!(
            get("/mobileconfig?emailaddress=jane%40example.com").await,
            200
        );
    }

    let before_reloads = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    std::fs::write(&config, "[provider]\nid = 1\n").unwrap();
    served.signal(Signal::HUP);
    served.wait_for("reload failed");
    std::fs::write(&config, config_text(&script)).unwrap();
    served.signal(Signal::HUP);
    served.wait_for("reloaded");

    let scrape = scrape(&metrics).await;
    let autoconfig = "endpoint=\"/mail/config-v1.1.xml\"";
    for (sample, value) in [
        (
            format!("mxconf_http_requests_total{{{autoconfig},status=\"2xx\"}}"),
            5.0,
        ),
        (
            "mxconf_http_requests_total{endpoint=\"-\",status=\"4xx\"}".into(),
            2.0,
        ),
        (
            "mxconf_http_requests_total{endpoint=\"/mobileconfig\",status=\"2xx\"}".into(),
            2.0,
        ),
        (
            format!("mxconf_http_request_duration_seconds_count{{{autoconfig}}}"),
            5.0,
        ),
        (
            format!("mxconf_http_request_duration_seconds_bucket{{{autoconfig},le=\"+Inf\"}}"),
            5.0,
        ),
        (
            "mxconf_backend_lookups_total{outcome=\"hit\",source=\"script\"}".into(),
            1.0,
        ),
        (
            "mxconf_backend_lookups_total{outcome=\"miss\",source=\"script\"}".into(),
            1.0,
        ),
        (
            "mxconf_backend_lookups_total{outcome=\"error\",source=\"script\"}".into(),
            1.0,
        ),
        (
            "mxconf_backend_lookups_total{outcome=\"timeout\",source=\"script\"}".into(),
            1.0,
        ),
        (
            "mxconf_backend_lookup_duration_seconds_count{source=\"script\"}".into(),
            4.0,
        ),
        // jane's second autoconfig and both profile downloads.
        (
            "mxconf_backend_cache_hits_total{source=\"script\"}".into(),
            3.0,
        ),
        ("mxconf_signatures_total{}".into(), 1.0),
        ("mxconf_signing_duration_seconds_count{}".into(), 1.0),
        ("mxconf_signing_cache_hits_total{}".into(), 1.0),
        (
            "mxconf_config_reloads_total{outcome=\"failure\"}".into(),
            1.0,
        ),
        (
            "mxconf_config_reloads_total{outcome=\"success\"}".into(),
            1.0,
        ),
        (
            format!(
                "mxconf_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            ),
            1.0,
        ),
    ] {
        assert_eq!(scrape.value(&sample), value, "{sample}");
    }
    // The timed-out lookup took its whole 300 ms: above the 0.25 s bucket, within 0.5 s.
    let bucket = |le: &str| {
        scrape.value(&format!(
            "mxconf_backend_lookup_duration_seconds_bucket{{le=\"{le}\",source=\"script\"}}"
        ))
    };
    assert_eq!(bucket("0.25"), 3.0);
    assert_eq!(bucket("0.5"), 4.0);
    let reloaded = scrape.value("mxconf_config_last_reload_success_timestamp_seconds{}");
    assert!(reloaded >= before_reloads.floor(), "{reloaded}");
    // The signer's notAfter, as the openssl command line reads it.
    let end = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/certs/signer.pem"))
        .output()
        .unwrap();
    let end = String::from_utf8(end.stdout).unwrap();
    let epoch = Command::new("date")
        .args([
            "-u",
            "+%s",
            "-d",
            end.trim().trim_start_matches("notAfter="),
        ])
        .output()
        .unwrap();
    let epoch: f64 = String::from_utf8(epoch.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        scrape.value(
            "mxconf_certificate_expiry_timestamp_seconds{name=\"signer\",purpose=\"signing\"}"
        ),
        epoch
    );
    assert_eq!(scrape.types["mxconf_http_requests"], "counter");
    assert_eq!(
        scrape.types["mxconf_http_request_duration_seconds"],
        "histogram"
    );
    assert_eq!(
        scrape.types["mxconf_certificate_expiry_timestamp_seconds"],
        "gauge"
    );
    // No label value anywhere holds an address or anything a client typed.
    for sample in scrape.samples.keys() {
        for leak in ["jane", "nobody", "example.com", "no-such-page", "%40", "@"] {
            assert!(!sample.contains(leak), "{leak:?} in {sample}");
        }
    }
}

/// A source that keeps failing is asked five times, then skipped while its breaker is open:
/// the skipped lookups are counted, /readyz names the source, and the log (stderr, not a
/// terminal) says so once, without colour and without the addresses looked up.
#[tokio::test]
async fn a_dead_source_is_skipped_counted_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lookup.sh");
    std::fs::write(&script, LOOKUP).unwrap();
    let config = dir.path().join("mxconf.toml");
    std::fs::write(&config, config_text(&script)).unwrap();
    let served = Served::start(
        &["--config", config.to_str().unwrap()],
        &[("RUST_LOG", "info")],
    );
    let metrics = metrics_url(&served);
    for _ in 0..8 {
        let url = served.url("/mail/config-v1.1.xml?emailaddress=broken%40example.com");
        assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
    }
    let ready = reqwest::get(served.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.text().await.unwrap(), "failing: script\n");

    let scrape = scrape(&metrics).await;
    assert_eq!(
        scrape.value("mxconf_backend_lookups_total{outcome=\"error\",source=\"script\"}"),
        5.0
    );
    assert_eq!(
        scrape.value("mxconf_backend_lookups_skipped_total{source=\"script\"}"),
        3.0
    );
    served.wait_for("circuit open");
    let log = served.log();
    assert_eq!(served.count("per-user source failed"), 1, "{log}");
    assert_eq!(served.count("circuit open"), 1, "{log}");
    assert!(!log.contains('\x1b'), "colour in a log file: {log}");
    assert!(!log.contains("broken"), "an address in the log: {log}");
}

#[tokio::test]
async fn limit_refusals_are_counted_by_reason() {
    let text = mxconf::config::DEMO_TOML
        .replace("# listen = \"127.0.0.1:9154\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "[limits]",
            "[limits]\nexempt = []\nclient-error-limit = 2\nprofiles-per-minute = 1",
        );
    let (_dir, config) = temp_file("mxconf.toml", &text);
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    let metrics = metrics_url(&served);
    let get = |path: &str| {
        let url = served.url(path);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    let profile = "/mobileconfig?emailaddress=jane%40example.com";
    assert_eq!(get(profile).await, 200);
    assert_eq!(get(profile).await, 429);
    for _ in 0..2 {
        assert_eq!(get("/no-such-page").await, 404);
    }
    for _ in 0..3 {
        assert_eq!(
            get("/mail/config-v1.1.xml?emailaddress=jane%40example.com").await,
            429
        );
    }
    let scrape = scrape(&metrics).await;
    assert_eq!(
        scrape.value("mxconf_limit_refusals_total{reason=\"profiles\"}"),
        1.0
    );
    assert_eq!(
        scrape.value("mxconf_limit_refusals_total{reason=\"client-errors\"}"),
        3.0
    );
    assert_eq!(scrape.types["mxconf_limit_refusals"], "counter");
    // The 429s are answered requests too, and hold no address in any label.
    assert!(
        scrape
            .samples
            .keys()
            .all(|sample| !sample.contains("127.0.0.1"))
    );
}

/// An overrun signing queue: `mxconf_signing_queue_full_total` is exactly the number of 503s
/// answered, and the incident's end counts the same refusals in the log. The server runs on
/// one core (taskset), so it has one signing thread and a queue of 256, and signs with an RSA
/// 4096 key (about 5 ms a signature): a thousand requests for distinct profiles at once
/// arrive faster than it signs.
#[tokio::test]
async fn signing_queue_refusals_are_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::openssl::openssl_ok(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:4096",
            "-nodes",
            "-keyout",
            "signer.key",
            "-out",
            "signer.pem",
            "-days",
            "1",
            "-subj",
            "/CN=slow signer",
        ],
    );
    crate::support::openssl::restrict(&dir.path().join("signer.key"));
    let text = mxconf::config::DEMO_TOML
        .replace("# listen = \"127.0.0.1:9154\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "\ndevelopment-chain = true",
            "\ncert = \"signer.pem\"\nkey = \"signer.key\"",
        );
    let config = dir.path().join("mxconf.toml");
    std::fs::write(&config, text).unwrap();
    let served = Served::start_under(
        &["taskset", "-c", "0"],
        &["--config", config.to_str().unwrap()],
        &[("RUST_LOG", "info,mxconf::request=off")],
    );
    let metrics = metrics_url(&served);
    let client = reqwest::Client::new();
    let profile = |n: usize| {
        let request = client
            .get(served.url(&format!("/mobileconfig?emailaddress=user{n}%40example.com")))
            .send();
        async move { request.await.unwrap().status().as_u16() }
    };
    let statuses = futures_util::future::join_all((0..1000).map(profile)).await;
    let refused = statuses.iter().filter(|status| **status == 503).count();
    let signed = statuses.iter().filter(|status| **status == 200).count();
    assert_eq!(refused + signed, statuses.len(), "{statuses:?}");
    assert!(refused > 0, "the queue held every request");
    // The next request finds room, which ends the (last) incident and logs its count.
    assert_eq!(profile(1000).await, 200);

    let scrape = scrape(&metrics).await;
    assert_eq!(
        scrape.value("mxconf_signing_queue_full_total{}"),
        refused as f64
    );
    let logged = || -> usize {
        served
            .log()
            .lines()
            .filter(|line| line.contains("the signing queue has room again"))
            .map(|line| {
                let count = line.rsplit("refused=").next().unwrap();
                count
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .sum()
    };
    // Bounded wait for the log reader to catch up with the server's stderr.
    for _ in 0..200 {
        if logged() == refused {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(logged(), refused, "{}", served.log());
}

#[tokio::test]
async fn without_a_metrics_listener_nothing_is_served_or_recorded() {
    let (_dir, config) = temp_file("mxconf.toml", mxconf::config::DEMO_TOML);
    let served = Served::start(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(
        reqwest::get(served.url("/metrics")).await.unwrap().status(),
        404
    );
    assert_eq!(served.count("metrics on"), 0, "{}", served.log());
}

#[test]
fn the_operations_page_lists_every_series_and_no_other() {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let documented: Vec<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix("| `mxconf_"))
        .map(|rest| rest.split('`').next().unwrap())
        .collect();
    let exported: Vec<&str> = mxconf::metrics::SERIES
        .iter()
        .map(|series| series.name.strip_prefix("mxconf_").unwrap())
        .collect();
    assert_eq!(documented, exported);
    for series in mxconf::metrics::SERIES {
        let row = page
            .lines()
            .find(|line| line.starts_with(&format!("| `{}`", series.name)))
            .unwrap();
        let labels: Vec<String> = series.labels.iter().map(|l| format!("`{l}`")).collect();
        assert!(
            row.contains(&format!("| {} |", labels.join(", "))) || labels.is_empty(),
            "{row}"
        );
    }
}
