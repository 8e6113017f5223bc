//! Prometheus metrics: every series mxconf exports, named once in [`SERIES`], and one function
//! per event that the modules along the flow call (a request answered, a backend asked, a
//! profile signed, a reload). Until [`install`] runs (`[metrics] listen` set) nothing is
//! recorded and every call is one branch. Labels are closed sets or names from the config
//! (routes, source names, certificate names): never an address or request text. A new series
//! is one row in [`SERIES`] (and in docs/operations.md) and one function here.
//! Serving the exposition is the server's job; this module knows nothing of HTTP.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// The kind of a series, as Prometheus's `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported series: its full name (units and `_total` in it), kind, labels and help.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const REQUESTS: &str = "mxconf_http_requests_total";
const REQUEST_DURATION: &str = "mxconf_http_request_duration_seconds";
const LOOKUPS: &str = "mxconf_backend_lookups_total";
const LOOKUP_DURATION: &str = "mxconf_backend_lookup_duration_seconds";
const LOOKUP_CACHE_HITS: &str = "mxconf_backend_cache_hits_total";
const LOOKUPS_SKIPPED: &str = "mxconf_backend_lookups_skipped_total";
const SIGNATURES: &str = "mxconf_signatures_total";
const SIGNING_DURATION: &str = "mxconf_signing_duration_seconds";
const SIGNING_CACHE_HITS: &str = "mxconf_signing_cache_hits_total";
const SIGNING_QUEUE_FULL: &str = "mxconf_signing_queue_full_total";
const LIMIT_REFUSALS: &str = "mxconf_limit_refusals_total";
const LIMIT_STORE_FAILURES: &str = "mxconf_limit_store_failures_total";
const CONNECTIONS_REFUSED: &str = "mxconf_connections_refused_total";
const RELOADS: &str = "mxconf_config_reloads_total";
const RELOAD_SUCCESS_TIME: &str = "mxconf_config_last_reload_success_timestamp_seconds";
const TLS_HANDSHAKE_FAILURES: &str = "mxconf_tls_handshake_failures_total";
const CERTIFICATE_EXPIRY: &str = "mxconf_certificate_expiry_timestamp_seconds";
const CERTIFICATE_FILE_REFUSED: &str = "mxconf_tls_certificate_file_refused";
const BUILD_INFO: &str = "mxconf_build_info";

/// Every series mxconf exports (docs/operations.md lists them from here).
pub const SERIES: &[Series] = &[
    Series {
        name: REQUESTS,
        kind: Kind::Counter,
        labels: &["endpoint", "status"],
        help: "HTTP requests answered, by route (\"-\" for paths that match none) and status class (2xx, 4xx, ...)",
    },
    Series {
        name: REQUEST_DURATION,
        kind: Kind::Histogram,
        labels: &["endpoint"],
        help: "Time from the request head to the response head, by route",
    },
    Series {
        name: LOOKUPS,
        kind: Kind::Counter,
        labels: &["source", "outcome"],
        help: "Queries to a per-user source, by source name and outcome (hit: an entry, miss: none, error, timeout)",
    },
    Series {
        name: LOOKUP_DURATION,
        kind: Kind::Histogram,
        labels: &["source"],
        help: "Time a per-user source took to answer (cache hits excluded)",
    },
    Series {
        name: LOOKUP_CACHE_HITS,
        kind: Kind::Counter,
        labels: &["source"],
        help: "Lookups answered from a per-user source's cache, or by a concurrent query for the same address",
    },
    Series {
        name: LOOKUPS_SKIPPED,
        kind: Kind::Counter,
        labels: &["source"],
        help: "Lookups answered by the on-failure policy without asking the source, its circuit breaker being open",
    },
    Series {
        name: SIGNATURES,
        kind: Kind::Counter,
        labels: &[],
        help: "Profiles signed (private-key operations)",
    },
    Series {
        name: SIGNING_DURATION,
        kind: Kind::Histogram,
        labels: &[],
        help: "Time one signature took on a signing thread",
    },
    Series {
        name: SIGNING_CACHE_HITS,
        kind: Kind::Counter,
        labels: &[],
        help: "Signed profiles served from the signature cache (or shared with a concurrent request)",
    },
    Series {
        name: SIGNING_QUEUE_FULL,
        kind: Kind::Counter,
        labels: &[],
        help: "Profiles refused because the signing queue was full",
    },
    Series {
        name: LIMIT_REFUSALS,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Requests refused (429) by [limits], by reason (client-errors, requests, profiles, store-unavailable)",
    },
    Series {
        name: LIMIT_STORE_FAILURES,
        kind: Kind::Counter,
        labels: &[],
        help: "Requests the [limits] Redis store did not count (no answer in time, or failed just before); on-store-failure decided them",
    },
    Series {
        name: CONNECTIONS_REFUSED,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Connections closed at accept, by reason (client-cap: the client already holds max-connections-per-client; busy: every connection is answering a request)",
    },
    Series {
        name: RELOADS,
        kind: Kind::Counter,
        labels: &["outcome"],
        help: "Configuration reloads (SIGHUP), by outcome (success, failure)",
    },
    Series {
        name: RELOAD_SUCCESS_TIME,
        kind: Kind::Gauge,
        labels: &[],
        help: "When the configuration in use was loaded (start or last good reload), Unix time",
    },
    Series {
        name: TLS_HANDSHAKE_FAILURES,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "TLS handshakes that did not complete, by reason (timeout, plain-http: an HTTP request on the TLS port, error: anything else)",
    },
    Series {
        name: CERTIFICATE_EXPIRY,
        kind: Kind::Gauge,
        labels: &["purpose", "name"],
        help: "notAfter of a certificate in use, Unix time, by purpose (signing, tls) and name",
    },
    Series {
        name: CERTIFICATE_FILE_REFUSED,
        kind: Kind::Gauge,
        labels: &["name"],
        help: "1 while the files of a [[tls.certificate]] hold something unusable and its previous certificate is served, else 0; by store slot (file:<path>)",
    },
    Series {
        name: BUILD_INFO,
        kind: Kind::Gauge,
        labels: &["version"],
        help: "Always 1; the version of the running binary",
    },
];

/// Histogram buckets in seconds: from a cached answer (~0.1 ms) to a request's 10 s limit.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether metrics are recorded (checked first by every call, so a server without
/// `[metrics]` builds no keys).
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// Installs the process-wide recorder and describes every series. Once per process; a second
/// call changes nothing.
pub fn install() -> Result<(), BuildError> {
    if enabled() {
        return Ok(());
    }
    let mut builder = PrometheusBuilder::new();
    for series in SERIES.iter().filter(|s| s.kind == Kind::Histogram) {
        builder = builder.set_buckets_for_metric(Matcher::Full(series.name.into()), BUCKETS)?;
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    for series in SERIES {
        match series.kind {
            Kind::Counter => metrics::describe_counter!(series.name, series.help),
            Kind::Gauge => metrics::describe_gauge!(series.name, series.help),
            Kind::Histogram => metrics::describe_histogram!(series.name, series.help),
        }
    }
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::gauge!(RELOAD_SUCCESS_TIME).set(unix_now());
    let _ = HANDLE.set(handle);
    Ok(())
}

/// The Prometheus text exposition of everything recorded; `None` before [`install`].
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

/// Drains histogram buffers; run every few seconds while metrics are served.
pub fn upkeep() {
    if let Some(handle) = HANDLE.get() {
        handle.run_upkeep();
    }
}

/// A request answered with `status` on `endpoint` (the route as the router writes it).
pub fn request(endpoint: &str, status: u16, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let endpoint = endpoint.to_owned();
    metrics::counter!(REQUESTS, "endpoint" => endpoint.clone(), "status" => class).increment(1);
    metrics::histogram!(REQUEST_DURATION, "endpoint" => endpoint).record(elapsed);
}

/// What a per-user source answered one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupOutcome {
    /// An entry for the user.
    Hit,
    /// No entry.
    Miss,
    Error,
    Timeout,
}

impl LookupOutcome {
    fn label(self) -> &'static str {
        match self {
            LookupOutcome::Hit => "hit",
            LookupOutcome::Miss => "miss",
            LookupOutcome::Error => "error",
            LookupOutcome::Timeout => "timeout",
        }
    }
}

/// One query to the per-user source `source` (its config name), past its cache.
pub fn backend_lookup(source: &str, outcome: LookupOutcome, elapsed: Duration) {
    if !enabled() {
        return;
    }
    let source = source.to_owned();
    metrics::counter!(LOOKUPS, "source" => source.clone(), "outcome" => outcome.label())
        .increment(1);
    metrics::histogram!(LOOKUP_DURATION, "source" => source).record(elapsed);
}

/// A lookup of `source` answered from its cache.
pub fn backend_cache_hit(source: &str) {
    if enabled() {
        metrics::counter!(LOOKUP_CACHE_HITS, "source" => source.to_owned()).increment(1);
    }
}

/// A lookup of `source` not asked, its circuit breaker being open.
pub fn backend_lookup_skipped(source: &str) {
    if enabled() {
        metrics::counter!(LOOKUPS_SKIPPED, "source" => source.to_owned()).increment(1);
    }
}

/// One signature made, in `elapsed` on a signing thread.
pub fn signature(elapsed: Duration) {
    if enabled() {
        metrics::counter!(SIGNATURES).increment(1);
        metrics::histogram!(SIGNING_DURATION).record(elapsed);
    }
}

/// A signed profile served without a signature of its own.
pub fn signing_cache_hit() {
    if enabled() {
        metrics::counter!(SIGNING_CACHE_HITS).increment(1);
    }
}

/// A profile refused because the signing queue was full.
pub fn signing_queue_full() {
    if enabled() {
        metrics::counter!(SIGNING_QUEUE_FULL).increment(1);
    }
}

/// A request refused by `[limits]`; `reason` is one of the closed set the limiter names.
pub fn limit_refusal(reason: &'static str) {
    if enabled() {
        metrics::counter!(LIMIT_REFUSALS, "reason" => reason).increment(1);
    }
}

/// A request the `[limits]` store did not count.
pub fn limit_store_failure() {
    if enabled() {
        metrics::counter!(LIMIT_STORE_FAILURES).increment(1);
    }
}

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRefusal {
    /// Its client already holds `max-connections-per-client`.
    ClientCap,
    /// At `max-connections` with every connection answering a request.
    Busy,
}

/// A connection closed at accept.
pub fn connection_refused(reason: ConnectionRefusal) {
    if !enabled() {
        return;
    }
    let reason = match reason {
        ConnectionRefusal::ClientCap => "client-cap",
        ConnectionRefusal::Busy => "busy",
    };
    metrics::counter!(CONNECTIONS_REFUSED, "reason" => reason).increment(1);
}

/// A configuration reload ended: `true` when the new configuration took over.
pub fn config_reload(success: bool) {
    if !enabled() {
        return;
    }
    let outcome = if success { "success" } else { "failure" };
    metrics::counter!(RELOADS, "outcome" => outcome).increment(1);
    if success {
        metrics::gauge!(RELOAD_SUCCESS_TIME).set(unix_now());
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// `[tls] handshake-timeout` passed first.
    Timeout,
    /// The client spoke plain HTTP to the TLS port (and was told so).
    PlainHttp,
    /// Anything else: no shared protocol or cipher, garbage, a client that gave up.
    Error,
}

/// A TLS handshake failed.
pub fn tls_handshake_failure(failure: HandshakeFailure) {
    if !enabled() {
        return;
    }
    let reason = match failure {
        HandshakeFailure::Timeout => "timeout",
        HandshakeFailure::PlainHttp => "plain-http",
        HandshakeFailure::Error => "error",
    };
    metrics::counter!(TLS_HANDSHAKE_FAILURES, "reason" => reason).increment(1);
}

/// What a certificate in use is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The profile signer (`name` is `signer`).
    Signing,
    /// A certificate the TLS listeners serve (`name` is its store slot, `file:<path>` …).
    Tls,
}

/// The notAfter (Unix seconds) of a certificate in use.
pub fn certificate_expiry(purpose: Purpose, name: &str, not_after: i64) {
    if !enabled() {
        return;
    }
    let purpose = match purpose {
        Purpose::Signing => "signing",
        Purpose::Tls => "tls",
    };
    // Exact: Unix seconds stay far below 2^53.
    metrics::gauge!(CERTIFICATE_EXPIRY, "purpose" => purpose, "name" => name.to_owned())
        .set(not_after as f64);
}

/// Whether the files of the `[[tls.certificate]]` in slot `name` are refused now.
pub fn certificate_file_refused(name: &str, refused: bool) {
    if !enabled() {
        return;
    }
    metrics::gauge!(CERTIFICATE_FILE_REFUSED, "name" => name.to_owned()).set(if refused {
        1.0
    } else {
        0.0
    });
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_follow_prometheus_naming() {
        for series in SERIES {
            assert!(series.name.starts_with("mxconf_"), "{}", series.name);
            match series.kind {
                Kind::Counter => assert!(series.name.ends_with("_total"), "{}", series.name),
                Kind::Histogram => assert!(series.name.ends_with("_seconds"), "{}", series.name),
                Kind::Gauge => assert!(!series.name.ends_with("_total"), "{}", series.name),
            }
            for label in series.labels {
                assert!(
                    !["email", "address", "user", "query", "path"].contains(label),
                    "{}: {label}",
                    series.name
                );
            }
        }
    }
}
