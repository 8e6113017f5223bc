//! Abuse protection: per-client budgets from `[limits]` (client errors in a window, requests
//! and signed profiles per minute), counted in this process or in Redis shared by every
//! instance. The HTTP layer names the client ([`Limiter::client`]), asks [`Limiter::admit`]
//! before a request and calls [`Limiter::record_error`] after one that ended in a client
//! error. No HTTP types here; the rules themselves are in `rules.rs`, pure and clock-free.

mod memory;
mod redis;
mod rules;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use self::redis::RedisStore;
use crate::account::names::{PerName, named_enum};
use crate::config::LimitSettings;
use crate::config::limits::{Budgets, OnStoreFailure, StoreSettings};
use crate::incident::{Breaker, Incident};
use memory::MemoryStore;

named_enum! {
    /// Why a request was refused: the names the counters are read by.
    pub enum Reason {
        /// The client caused `client-error-limit` client errors within `error-window`.
        ClientErrors = "client-errors",
        /// Over `requests-per-minute`.
        Requests = "requests",
        /// Over `profiles-per-minute`.
        Profiles = "profiles",
        /// The shared store did not answer and `on-store-failure = "refuse"`.
        StoreUnavailable = "store-unavailable",
    }
}

/// What a request costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// One request from `requests-per-minute`.
    Request,
    /// One request and one profile (`/mobileconfig`, which may cost a signature).
    Profile,
}

/// A refused request: why, and when the client may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub reason: Reason,
    pub retry_after: Duration,
}

impl Refused {
    /// `Retry-After` in whole seconds, rounded up and at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        u64::try_from(self.retry_after.as_millis().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// What a store decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Admit,
    /// `first`: the first refusal of this client for this reason in this period, the one that
    /// is logged.
    Refuse {
        refused: Refused,
        first: bool,
    },
}

/// The unit clients are counted in: an IPv4 address, or the IPv6 network of the configured
/// prefix length around an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey {
    network: IpAddr,
    prefix: u8,
}

impl ClientKey {
    pub(crate) fn new(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey {
                network: IpAddr::V4(v4),
                prefix: 32,
            },
            IpAddr::V6(v6) => {
                let prefix = ipv6_prefix.min(128);
                let network = ipnet::Ipv6Net::new(v6, prefix)
                    .map(|net| net.network())
                    .unwrap_or(v6);
                ClientKey {
                    network: IpAddr::V6(network),
                    prefix,
                }
            }
        }
    }
}

/// `192.0.2.7`, or `2001:db8:1:2::/64` for an IPv6 client counted by its network.
impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.network {
            IpAddr::V6(network) if self.prefix < 128 => write!(f, "{network}/{}", self.prefix),
            address => write!(f, "{address}"),
        }
    }
}

/// The seam a metrics endpoint reads: refusals by reason and store failures, counted since
/// the process started (a reload keeps them).
#[derive(Debug, Default)]
pub struct LimitStats {
    refused: PerName<Reason, AtomicU64, { Reason::COUNT }>,
    store_failures: AtomicU64,
}

impl LimitStats {
    /// Requests refused so far, by reason.
    pub fn refused(&self) -> impl Iterator<Item = (Reason, u64)> + '_ {
        self.refused
            .iter()
            .map(|(reason, count)| (reason, count.load(Ordering::Relaxed)))
    }

    /// Requests the store did not count, because it did not answer in time or had failed
    /// just before (decided by `on-store-failure`).
    pub fn store_failures(&self) -> u64 {
        self.store_failures.load(Ordering::Relaxed)
    }
}

/// Why the limiter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("limits.store: {0}")]
    Store(String),
}

/// A store failure: the store did not answer in time, or answered with an error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StoreError(String);

/// The counting backend. The memory store answers at once and never fails; the Redis store
/// answers within its timeout or fails.
#[derive(Debug)]
enum Store {
    Memory(MemoryStore),
    /// Boxed: its client and scripts are large beside the memory store's handle.
    Redis(Box<RedisStore>),
}

impl Store {
    async fn admit(
        &self,
        client: ClientKey,
        budgets: &Budgets,
        cost: Cost,
    ) -> Result<Verdict, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.admit(client, budgets, cost, Instant::now())),
            // Boxed: the Redis round trip's future is large, and the memory store needs none.
            Store::Redis(store) => Box::pin(store.admit(client, budgets, cost)).await,
        }
    }

    async fn record_error(&self, client: ClientKey, budgets: &Budgets) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => {
                store.record_error(client, budgets, Instant::now());
                Ok(())
            }
            Store::Redis(store) => Box::pin(store.record_error(client, budgets)).await,
        }
    }
}

/// A store with what outlives a reload: its counters (or connection), and whether it is
/// failing right now (for one log line per incident, and the breaker).
#[derive(Debug)]
struct SharedStore {
    store: Store,
    /// What it was built from; a reload with the same keeps it and its counters.
    built_from: (StoreSettings, Duration),
    failing: Incident,
    /// Open after a failure: requests get the failure policy at once, without waiting for a
    /// store that just did not answer; one request a cooldown tries it again.
    breaker: Breaker,
}

/// The limiter of one configuration snapshot. Its store and statistics are shared with the
/// snapshots before and after it when the store settings stay the same.
#[derive(Debug)]
pub struct Limiter {
    enabled: bool,
    budgets: Budgets,
    exempt: Vec<IpNet>,
    ipv6_prefix: u8,
    on_store_failure: OnStoreFailure,
    store: Arc<SharedStore>,
    stats: Arc<LimitStats>,
}

/// How long a client refused because the store failed is told to wait.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How long a store that failed is not asked (the failure policy applies at once meanwhile).
const STORE_COOLDOWN: Duration = Duration::from_secs(1);

impl Limiter {
    pub fn new(settings: &LimitSettings) -> Result<Self, LimitError> {
        Limiter::build(settings, None)
    }

    /// The limiter for a reloaded configuration: the store (and every client's count) is kept
    /// when `store` and `error-window` did not change; the statistics always are.
    pub fn renewed(settings: &LimitSettings, previous: &Limiter) -> Result<Self, LimitError> {
        Limiter::build(settings, Some(previous))
    }

    fn build(settings: &LimitSettings, previous: Option<&Limiter>) -> Result<Self, LimitError> {
        let built_from = (settings.store.clone(), settings.budgets.error_window);
        let store = match previous {
            Some(previous) if previous.store.built_from == built_from => {
                Arc::clone(&previous.store)
            }
            _ => Arc::new(SharedStore {
                store: match &settings.store {
                    StoreSettings::Memory => Store::Memory(MemoryStore::new(&settings.budgets)),
                    StoreSettings::Redis(redis) => {
                        Store::Redis(Box::new(RedisStore::new(redis).map_err(LimitError::Store)?))
                    }
                },
                built_from,
                failing: Incident::default(),
                breaker: Breaker::new(STORE_COOLDOWN),
            }),
        };
        Ok(Limiter {
            enabled: settings.enabled,
            budgets: settings.budgets,
            exempt: settings.exempt.clone(),
            ipv6_prefix: settings.ipv6_prefix,
            on_store_failure: settings.on_store_failure,
            store,
            stats: previous.map_or_else(Arc::default, |previous| Arc::clone(&previous.stats)),
        })
    }

    /// Whether any client is counted at all (`[limits] enabled`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The client `ip` is counted as; `None` when it is exempt (or limits are off).
    pub fn client(&self, ip: IpAddr) -> Option<ClientKey> {
        self.enabled.then(|| self.counted_as(ip)).flatten()
    }

    /// The client `ip` is counted as by the rule of `[limits]` (`ipv6-prefix`, `exempt`),
    /// whether or not its budgets are enabled: the per-client connection cap counts by it
    /// too. `None` when exempt.
    pub fn counted_as(&self, ip: IpAddr) -> Option<ClientKey> {
        let ip = ip.to_canonical();
        if self.exempt.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        Some(ClientKey::new(ip, self.ipv6_prefix))
    }

    /// Takes `cost` from the client's budgets, or refuses the request. A refusal is logged
    /// once per client and reason for as long as it lasts, never once per request.
    pub async fn admit(&self, client: ClientKey, cost: Cost) -> Result<(), Refused> {
        // An open breaker: the store failed a moment ago, so the policy applies at once.
        if !self.store.breaker.admits() {
            return self.uncounted();
        }
        match self.store.store.admit(client, &self.budgets, cost).await {
            Ok(Verdict::Admit) => {
                self.store_answered();
                Ok(())
            }
            Ok(Verdict::Refuse { refused, first }) => {
                self.store_answered();
                if first {
                    tracing::warn!(
                        %client,
                        reason = refused.reason.name(),
                        retry_after_s = refused.retry_after_secs(),
                        "client refused (429); its further refusals are not logged until then"
                    );
                }
                Err(self.count(refused))
            }
            Err(error) => {
                self.store_failed(&error);
                self.uncounted()
            }
        }
    }

    /// A request the store could not count: `on-store-failure` decides, and it is counted
    /// as a store failure.
    fn uncounted(&self) -> Result<(), Refused> {
        self.stats.store_failures.fetch_add(1, Ordering::Relaxed);
        crate::metrics::limit_store_failure();
        match self.on_store_failure {
            OnStoreFailure::Allow => Ok(()),
            OnStoreFailure::Refuse => Err(self.count(Refused {
                reason: Reason::StoreUnavailable,
                retry_after: STORE_RETRY_AFTER,
            })),
        }
    }

    /// Counts a client error (a 4xx or an Autodiscover error document) against the client.
    pub async fn record_error(&self, client: ClientKey) {
        if self.budgets.client_error_limit == 0 {
            return;
        }
        // While the breaker is open the error goes uncounted, like the request was.
        if self.store.failing.count() > 0 {
            return;
        }
        match self.store.store.record_error(client, &self.budgets).await {
            Ok(()) => self.store_answered(),
            Err(error) => self.store_failed(&error),
        }
    }

    /// Whether the shared store is failing right now, and what requests get meanwhile (for
    /// `/readyz`); `None` while it answers, and always for the memory store.
    pub fn store_failing(&self) -> Option<&'static str> {
        (self.store.failing.count() > 0).then(|| self.on_store_failure.consequence())
    }

    /// Asks the store once (`check-config --backends`): what it is and how it answered.
    pub async fn probe_store(&self) -> Option<(String, Result<Duration, String>)> {
        let Store::Redis(store) = &self.store.store else {
            return None;
        };
        let StoreSettings::Redis(settings) = &self.store.built_from.0 else {
            return None;
        };
        let started = Instant::now();
        let result = store
            .ping()
            .await
            .map(|()| started.elapsed())
            .map_err(|error| error.to_string());
        Some((settings.defined_at.clone(), result))
    }

    /// The refusal and failure counters.
    pub fn stats(&self) -> &LimitStats {
        &self.stats
    }

    fn count(&self, refused: Refused) -> Refused {
        self.stats.refused[refused.reason].fetch_add(1, Ordering::Relaxed);
        crate::metrics::limit_refusal(refused.reason.name());
        refused
    }

    fn store_answered(&self) {
        if let Some(failures) = self.store.failing.cleared() {
            self.store.breaker.set_open(false);
            tracing::info!(
                failures,
                "[limits] store answers again: clients are counted again"
            );
        }
    }

    /// The store failed to answer (the request's policy is applied by the caller).
    fn store_failed(&self, error: &StoreError) {
        self.store.breaker.set_open(true);
        if self.store.failing.occurred() {
            let policy = self.on_store_failure.consequence();
            tracing::error!(%error, "[limits] store does not answer: {policy} until it does");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> LimitSettings {
        let toml = crate::config::DEMO_TOML.replace("[limits]", &format!("[limits]\n{text}"));
        crate::config::Config::from_toml(&toml, crate::config::ConfigSource::EmbeddedDemo)
            .unwrap()
            .limits
    }

    #[test]
    fn ipv6_clients_are_counted_by_prefix_and_ipv4_by_address() {
        let limiter = Limiter::new(&settings("exempt = []")).unwrap();
        let key = |text: &str| limiter.client(text.parse().unwrap()).unwrap();
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        // A dual-stack listener's mapped address is the IPv4 client.
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(key("::ffff:192.0.2.1").to_string(), "192.0.2.1");
        let limiter = Limiter::new(&settings("exempt = []\nipv6-prefix = 128")).unwrap();
        let key = |text: &str| limiter.client(text.parse().unwrap()).unwrap();
        assert_ne!(key("2001:db8::1"), key("2001:db8::2"));
        assert_eq!(key("2001:db8::1").to_string(), "2001:db8::1");
    }

    #[test]
    fn exempt_networks_are_not_counted() {
        let limiter = Limiter::new(&settings("")).unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(limiter.client(ip("127.0.0.1")), None);
        assert_eq!(limiter.client(ip("::1")), None);
        assert_eq!(limiter.client(ip("::ffff:127.0.0.9")), None);
        assert!(limiter.client(ip("192.0.2.1")).is_some());
        let limiter =
            Limiter::new(&settings("exempt = [\"192.0.2.0/24\", \"2001:db8::7\"]")).unwrap();
        assert_eq!(limiter.client(ip("192.0.2.200")), None);
        assert_eq!(limiter.client(ip("2001:db8::7")), None);
        assert!(limiter.client(ip("2001:db8::8")).is_some());
        assert!(limiter.client(ip("127.0.0.1")).is_some());
        let limiter = Limiter::new(&settings("enabled = false")).unwrap();
        assert_eq!(limiter.client(ip("192.0.2.1")), None);
        // The rule still names clients (for the connection cap), exemptions included.
        assert!(limiter.counted_as(ip("192.0.2.1")).is_some());
        assert_eq!(limiter.counted_as(ip("127.0.0.1")), None);
    }

    #[tokio::test]
    async fn refusals_are_counted_by_reason_and_survive_a_reload() {
        let settings = settings("exempt = []\nclient-error-limit = 2");
        let limiter = Limiter::new(&settings).unwrap();
        let client = limiter.client("192.0.2.1".parse().unwrap()).unwrap();
        limiter.record_error(client).await;
        limiter.record_error(client).await;
        let refused = limiter.admit(client, Cost::Request).await.unwrap_err();
        assert_eq!(refused.reason, Reason::ClientErrors);
        // A reload with the same store keeps the client's count and the statistics.
        let renewed = Limiter::renewed(&settings, &limiter).unwrap();
        assert!(renewed.admit(client, Cost::Request).await.is_err());
        let counts: Vec<_> = renewed.stats().refused().collect();
        assert_eq!(
            counts,
            [
                (Reason::ClientErrors, 2),
                (Reason::Requests, 0),
                (Reason::Profiles, 0),
                (Reason::StoreUnavailable, 0)
            ]
        );
        assert_eq!(renewed.stats().store_failures(), 0);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let refused = |millis| Refused {
            reason: Reason::Requests,
            retry_after: Duration::from_millis(millis),
        };
        assert_eq!(refused(0).retry_after_secs(), 1);
        assert_eq!(refused(1001).retry_after_secs(), 2);
        assert_eq!(refused(600_000).retry_after_secs(), 600);
    }
}
