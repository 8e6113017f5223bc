//! The per-user sources as the resolver runs them: each backend with its cache (moka: TTL,
//! size bound, shorter TTL for "no entry"), its timeout and its failure policy. Failures are
//! logged once per incident (first failure, then recovery), never per request, and never
//! reach a client as text. Concurrent lookups of one address share one query, with a cache or
//! without.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use tokio::sync::{OnceCell, Semaphore};

use super::ResolveError;
use crate::account::{Account, AccountPatch, EmailAddress};
use crate::backend::{self, Backend, BackendError, LookupResult};
use crate::config::backend::{
    BackendKind, BackendSettings, LocalPart, OnFailure, Secret, SqlDatabase,
};
use crate::incident::{Breaker, Incident};
use crate::metrics::LookupOutcome;

/// Queries one source may have running at once; more wait (within the timeout) rather than
/// pile up forks or connection attempts on a source that is already slow.
const MAX_IN_FLIGHT: usize = 32;
/// Consecutive failures after which a source is no longer asked for every lookup.
const BREAKER_THRESHOLD: u64 = 5;
/// How long an open breaker answers without asking; then one lookup tries the source again.
const BREAKER_COOLDOWN: Duration = Duration::from_secs(5);

/// A cached answer: the patch, or `None` for "no entry".
type Cached = Option<Arc<AccountPatch>>;

/// All configured sources, indexed like `Config::backends`.
#[derive(Debug)]
pub(super) struct Sources(Vec<Arc<Source>>);

#[derive(Debug)]
struct Source {
    /// What it was built from, to tell at a reload whether it can be kept (with its cache
    /// and connections).
    settings: BackendSettings,
    /// SHA-256 of its password file's contents when built: a new password is a change too.
    secret: Option<[u8; 32]>,
    name: String,
    backend: Box<dyn Backend>,
    timeout: Duration,
    on_failure: OnFailure,
    local_part: LocalPart,
    /// `None` when `cache-ttl = "0s"`.
    cache: Option<Cache<String, Cached>>,
    /// Without a cache: the lookups in flight, which concurrent lookups of the same address
    /// join (with a cache, moka's entry API does the same).
    in_flight: InFlight,
    /// Failures since the last success: logged at the first, counted at the recovery.
    failing: Incident,
    /// Bounds the source's queries in flight ([`MAX_IN_FLIGHT`]).
    permits: Semaphore,
    /// Open: the source is not asked until its cooldown is over.
    breaker: Breaker,
}

/// One query's outcome, shared by every lookup that joined it; `Err(())`: already logged.
type Outcome = Result<Cached, ()>;

/// The queries in flight of a source without a cache, by address (normal form). An entry
/// lives as long as its query: it goes when the query ends (an answer or a failure is shared
/// by those waiting, never kept for later lookups) or when every lookup waiting on it has
/// given up.
#[derive(Debug, Default)]
struct InFlight(Mutex<HashMap<String, Query>>);

#[derive(Debug)]
struct Query {
    outcome: Arc<OnceCell<Outcome>>,
    /// Lookups waiting on it.
    waiting: usize,
}

impl InFlight {
    /// The outcome of the query in flight for `key`, or of `fetch` run as that query; with
    /// whether this lookup ran it (`false`: it shared another's).
    async fn share(&self, key: &str, fetch: impl Future<Output = Outcome>) -> (Outcome, bool) {
        let flight = Flight::join(self, key);
        let mut ran = false;
        let outcome = flight
            .outcome
            .get_or_init(|| {
                ran = true;
                fetch
            })
            .await
            .clone();
        (outcome, ran)
    }

    fn queries(&self) -> MutexGuard<'_, HashMap<String, Query>> {
        // Nothing is left half-done under this lock (one counter, one insert or remove).
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One lookup's part in a query in flight. If the lookup that runs the query is dropped (its
/// request timed out, its client left), one of the others runs it in its place.
struct Flight<'a> {
    in_flight: &'a InFlight,
    key: String,
    outcome: Arc<OnceCell<Outcome>>,
}

impl<'a> Flight<'a> {
    fn join(in_flight: &'a InFlight, key: &str) -> Self {
        let mut queries = in_flight.queries();
        let query = queries.entry(key.to_owned()).or_insert_with(|| Query {
            outcome: Arc::default(),
            waiting: 0,
        });
        query.waiting += 1;
        Flight {
            in_flight,
            key: key.to_owned(),
            outcome: Arc::clone(&query.outcome),
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut queries = self.in_flight.queries();
        // The entry may already be another query's: this one's ended and a new one started.
        let Some(query) = queries
            .get_mut(&self.key)
            .filter(|query| Arc::ptr_eq(&query.outcome, &self.outcome))
        else {
            return;
        };
        query.waiting -= 1;
        // Ended, or abandoned by every lookup: a later lookup starts a query of its own.
        if self.outcome.initialized() || query.waiting == 0 {
            queries.remove(&self.key);
        }
    }
}

/// Positive answers live `cache-ttl`, "no entry" lives `negative-cache-ttl`.
struct PatchExpiry {
    positive: Duration,
    negative: Duration,
}

impl Expiry<String, Cached> for PatchExpiry {
    fn expire_after_create(&self, _key: &String, value: &Cached, _at: Instant) -> Option<Duration> {
        Some(if value.is_some() {
            self.positive
        } else {
            self.negative
        })
    }
}

impl Sources {
    pub(super) fn new(settings: &[BackendSettings]) -> Self {
        Sources(settings.iter().map(|s| Arc::new(Source::new(s))).collect())
    }

    /// The sources for a reloaded configuration: each one whose settings (and password file)
    /// are unchanged is kept, cache and connections included; the others start afresh.
    pub(super) fn renewed(settings: &[BackendSettings], previous: &Sources) -> Self {
        Sources(
            settings
                .iter()
                .map(|settings| {
                    let secret = secret_digest(settings);
                    let same = previous
                        .0
                        .iter()
                        .find(|old| old.settings.same_source(settings) && old.secret == secret);
                    match same {
                        Some(old) => Arc::clone(old),
                        None => {
                            tracing::info!(backend = %settings.name, "per-user source (re)built: its cache starts empty");
                            Arc::new(Source::new(settings))
                        }
                    }
                })
                .collect(),
        )
    }

    /// Applies the listed sources' patches to `account`, in order.
    pub(super) async fn apply(
        &self,
        indices: &[usize],
        email: &EmailAddress,
        account: &mut Account,
    ) -> Result<(), ResolveError> {
        for source in indices.iter().filter_map(|&index| self.0.get(index)) {
            match source.lookup(email).await {
                Ok(Some(patch)) => patch.apply(account),
                Ok(None) => {}
                Err(()) => match source.on_failure {
                    OnFailure::Static => {}
                    OnFailure::Fail => return Err(ResolveError::BackendUnavailable),
                },
            }
        }
        Ok(())
    }

    /// Asks each listed source for `email` afresh (no cache), for `mxconf lookup`.
    pub(super) async fn explain(&self, indices: &[usize], email: &EmailAddress) -> Vec<Asked> {
        let mut asked = Vec::with_capacity(indices.len());
        for source in indices.iter().filter_map(|&index| self.0.get(index)) {
            asked.push(source.ask(email).await);
        }
        asked
    }

    /// The names of the sources failing now (failed since their last success), for /readyz.
    pub(super) fn failing(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|source| source.failing.count() > 0)
            .map(|source| source.name.as_str())
            .collect()
    }

    /// Asks every source for its probe address, for `check-config --backends`.
    pub(super) async fn probe_all(&self) -> Vec<Asked> {
        let mut asked = Vec::with_capacity(self.0.len());
        for source in &self.0 {
            asked.push(source.ask(&source.settings.probe_address).await);
        }
        asked
    }
}

/// One source asked directly for one address: what it answered, and how long it took.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The source's settings: name, type, `defined_at`, `on-failure`.
    pub source: BackendSettings,
    /// The address in the source's normal form (`local-part`), as it was asked.
    pub address: EmailAddress,
    pub result: LookupResult,
    pub elapsed: Duration,
}

/// The password file's contents, hashed (the password itself is not kept here).
fn secret_digest(settings: &BackendSettings) -> Option<[u8; 32]> {
    let secret = match &settings.kind {
        BackendKind::Sql(sql) => match &sql.database {
            SqlDatabase::Server { password, .. } => password.as_ref(),
            SqlDatabase::Sqlite(_) => None,
        },
        BackendKind::Ldap(ldap) => ldap.bind.as_ref().map(|(_, secret)| secret),
        BackendKind::Command(_) => None,
    }?;
    match secret {
        Secret::File(path) => crate::files::read_small(path)
            .ok()
            .map(|bytes| openssl::sha::sha256(&bytes)),
        Secret::Env(_) => None,
    }
}

impl Source {
    fn new(settings: &BackendSettings) -> Self {
        let cache = (!settings.cache_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(settings.cache_size)
                .expire_after(PatchExpiry {
                    positive: settings.cache_ttl,
                    negative: settings.negative_cache_ttl,
                })
                .build()
        });
        Source {
            settings: settings.clone(),
            secret: secret_digest(settings),
            name: settings.name.clone(),
            backend: backend::build(settings),
            timeout: settings.timeout,
            on_failure: settings.on_failure,
            local_part: settings.local_part,
            cache,
            in_flight: InFlight::default(),
            failing: Incident::default(),
            permits: Semaphore::new(MAX_IN_FLIGHT),
            breaker: Breaker::new(BREAKER_COOLDOWN),
        }
    }

    /// The cached answer, or one fresh lookup. The source is asked with, and caches under, the
    /// address's normal form, so `Jane@` and `jane@` are one entry and one answer. Concurrent
    /// lookups of one address share a single backend query, with a cache or without (the
    /// others count as cache hits); failures are shared with them but not cached.
    async fn lookup(&self, email: &EmailAddress) -> Outcome {
        let email = self.local_part.lookup_form(email);
        match &self.cache {
            Some(cache) => {
                let entry = cache
                    .entry(email.as_str().to_owned())
                    .or_try_insert_with(self.fetch(&email))
                    .await
                    .map_err(|_| ())?;
                if !entry.is_fresh() {
                    crate::metrics::backend_cache_hit(&self.name);
                }
                Ok(entry.into_value())
            }
            None => {
                let (outcome, ran) = self
                    .in_flight
                    .share(email.as_str(), self.fetch(&email))
                    .await;
                if !ran {
                    crate::metrics::backend_cache_hit(&self.name);
                }
                outcome
            }
        }
    }

    /// One lookup within the timeout, past cache and policy; counted for the metrics.
    async fn query(&self, email: &EmailAddress) -> LookupResult {
        let started = Instant::now();
        // Waiting for a permit counts against the timeout: a queue never outlasts it.
        let bounded = async {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| BackendError::Unavailable("shut down".into()))?;
            self.backend
                .lookup(email)
                .await
                .map_err(|error| error.redacted(email))
        };
        let result = tokio::time::timeout(self.timeout, bounded)
            .await
            .unwrap_or(Err(BackendError::Timeout));
        let outcome = match &result {
            Ok(Some(_)) => LookupOutcome::Hit,
            Ok(None) => LookupOutcome::Miss,
            Err(BackendError::Timeout) => LookupOutcome::Timeout,
            Err(_) => LookupOutcome::Error,
        };
        crate::metrics::backend_lookup(&self.name, outcome, started.elapsed());
        result
    }

    async fn ask(&self, email: &EmailAddress) -> Asked {
        let address = self.local_part.lookup_form(email).into_owned();
        let started = Instant::now();
        let result = self.query(&address).await;
        Asked {
            source: self.settings.clone(),
            address,
            result,
            elapsed: started.elapsed(),
        }
    }

    fn consequence(&self) -> &'static str {
        match self.on_failure {
            OnFailure::Static => "answering with the static settings",
            OnFailure::Fail => "answering 503",
        }
    }

    async fn fetch(&self, email: &EmailAddress) -> Outcome {
        if !self.breaker.admits() {
            crate::metrics::backend_lookup_skipped(&self.name);
            return Err(());
        }
        let result = self.query(email).await;
        match result {
            Ok(patch) => {
                if let Some(failures) = self.failing.cleared() {
                    self.breaker.set_open(false);
                    tracing::info!(backend = %self.name, failures, "per-user source recovered");
                }
                Ok(patch.map(Arc::new))
            }
            Err(error) => {
                let consequence = self.consequence();
                if self.failing.occurred() {
                    tracing::warn!(
                        backend = %self.name,
                        %error,
                        "per-user source failed; {consequence} until it recovers"
                    );
                } else {
                    tracing::debug!(backend = %self.name, %error, "per-user source still failing");
                }
                if self.failing.count() >= BREAKER_THRESHOLD && self.breaker.set_open(true) {
                    tracing::warn!(
                        backend = %self.name,
                        failures = self.failing.count(),
                        "per-user source circuit open: asked once every {}s until it answers, {consequence} meanwhile",
                        BREAKER_COOLDOWN.as_secs()
                    );
                }
                Err(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSource};
    use crate::incident::tests::Logs;

    #[test]
    fn a_reload_keeps_unchanged_sources_and_rebuilds_changed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "one\n").unwrap();
        let config = |query: &str| {
            // A comment that moves every table down a line is no change.
            let moved = if query.contains('2') { "# moved\n" } else { "" };
            let text = format!(
                "{moved}[provider]\nid = \"example.org\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n\
                 [backends.a]\ntype = \"sql\"\npath = \"users.sqlite\"\nquery = \"{query}\"\n\
                 [backends.b]\ntype = \"ldap\"\nurl = \"ldap://127.0.0.1\"\nbase = \"dc=x\"\n\
                 bind-dn = \"cn=x\"\npassword-file = \"password\"\n\
                 filter = \"(mail=%EMAILADDRESS%)\"\nattributes = {{ imap_host = \"host\" }}\n"
            );
            let file = dir.path().join("mxconf.toml");
            Config::from_toml(&text, ConfigSource::File(file)).unwrap()
        };
        let first = Sources::new(&config("SELECT 1 WHERE $1 = $1").backends);
        let same = Sources::renewed(&config("SELECT 1 WHERE $1 = $1").backends, &first);
        assert!(Arc::ptr_eq(&first.0[0], &same.0[0]));
        assert!(Arc::ptr_eq(&first.0[1], &same.0[1]));
        let changed = Sources::renewed(&config("SELECT 2 WHERE $1 = $1").backends, &same);
        assert!(!Arc::ptr_eq(&same.0[0], &changed.0[0]), "a changed query");
        assert!(Arc::ptr_eq(&same.0[1], &changed.0[1]));
        std::fs::write(&password, "two\n").unwrap();
        let rotated = Sources::renewed(&config("SELECT 2 WHERE $1 = $1").backends, &changed);
        assert!(Arc::ptr_eq(&changed.0[0], &rotated.0[0]));
        assert!(!Arc::ptr_eq(&changed.0[1], &rotated.0[1]), "a new password");
    }

    #[tokio::test]
    async fn failures_are_logged_once_per_incident() {
        let logs = Logs::default();
        let _guard = logs.capture();

        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("lookup");
        let text = format!(
            "[provider]\nid = \"example.org\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n\
             [backends.run]\ntype = \"command\"\ncommand = [\"/bin/sh\", \"{}\"]\n\
             [domains.\"example.org\"]\nsources = [\"run\"]\n",
            program.display()
        );
        let config = Config::from_toml(&text, ConfigSource::File("t.toml".into())).unwrap();
        let sources = Sources::new(&config.backends);
        let domain = config
            .domain(&crate::account::Domain::parse("example.org").unwrap())
            .unwrap();
        let resolver = super::super::Resolver::new(Arc::new(config.clone()));
        let lookup = |n: usize| {
            let email = EmailAddress::parse(&format!("user{n}@example.org")).unwrap();
            let mut account =
                resolver.account(email.domain(), email.domain(), Some(&email), domain);
            let sources = &sources;
            let indices = domain.sources.clone();
            async move { sources.apply(&indices, &email, &mut account).await }
        };

        // Fewer than the breaker's threshold: every lookup asks.
        for n in 0..4 {
            assert_eq!(
                lookup(n).await,
                Ok(()),
                "on-failure = static answers anyway"
            );
        }
        assert_eq!(logs.count("per-user source failed"), 1);

        // Run through /bin/sh rather than exec'd: exec right after writing a file races with
        // forks in other test threads (ETXTBSY).
        std::fs::write(&program, "echo null\n").unwrap();
        for n in 5..8 {
            assert_eq!(lookup(n).await, Ok(()));
        }
        assert_eq!(logs.count("per-user source recovered"), 1);

        std::fs::remove_file(&program).unwrap();
        for n in 8..10 {
            assert_eq!(lookup(n).await, Ok(()));
        }
        assert_eq!(
            logs.count("per-user source failed"),
            2,
            "a new incident is logged again"
        );
    }

    /// A dead source is asked `BREAKER_THRESHOLD` times, then not again until the cooldown is
    /// over; meanwhile lookups get the policy's answer at once, /readyz names it, and one
    /// trial after the cooldown closes the breaker when the source is back.
    #[tokio::test]
    async fn a_dead_source_is_not_hammered() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        let program = dir.path().join("lookup");
        std::fs::write(&program, format!("echo x >> {}\nexit 3\n", calls.display())).unwrap();
        let text = format!(
            "[provider]\nid = \"example.org\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n\
             [backends.run]\ntype = \"command\"\ncommand = [\"/bin/sh\", \"{}\"]\n\
             on-failure = \"fail\"\n\
             [domains.\"example.org\"]\nsources = [\"run\"]\n",
            program.display()
        );
        let config = Config::from_toml(&text, ConfigSource::File("t.toml".into())).unwrap();
        let resolver = super::super::Resolver::new(Arc::new(config));
        let asked = || {
            std::fs::read_to_string(&calls)
                .unwrap_or_default()
                .lines()
                .count()
        };
        let lookup = |n: usize| {
            let resolver = resolver.clone();
            async move {
                let email = EmailAddress::parse(&format!("user{n}@example.org")).unwrap();
                resolver.resolve(&email).await.map(|_| ())
            }
        };

        assert!(resolver.failing_sources().is_empty());
        for n in 0..20 {
            assert_eq!(lookup(n).await, Err(ResolveError::BackendUnavailable));
        }
        assert_eq!(
            asked(),
            BREAKER_THRESHOLD as usize,
            "open after the threshold"
        );
        assert_eq!(resolver.failing_sources(), ["run"]);
        assert_eq!(logs.count("per-user source failed"), 1);
        assert_eq!(logs.count("circuit open"), 1);

        std::fs::write(
            &program,
            format!("echo x >> {}\necho null\n", calls.display()),
        )
        .unwrap();
        assert_eq!(
            lookup(20).await,
            Err(ResolveError::BackendUnavailable),
            "still open"
        );
        tokio::time::sleep(BREAKER_COOLDOWN + Duration::from_millis(100)).await;
        assert_eq!(lookup(21).await, Ok(()), "the trial finds it back");
        assert_eq!(asked(), BREAKER_THRESHOLD as usize + 1);
        assert!(resolver.failing_sources().is_empty());
        assert_eq!(lookup(22).await, Ok(()));
        assert_eq!(asked(), BREAKER_THRESHOLD as usize + 2, "closed again");
        assert_eq!(logs.count("per-user source recovered"), 1);
    }

    /// No more than `MAX_IN_FLIGHT` queries of one source run at once, however many lookups
    /// of different addresses arrive together.
    #[tokio::test]
    async fn queries_in_flight_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("lookup");
        // Each run notes its start and end; overlapping runs show as starts before ends.
        let log = dir.path().join("log");
        std::fs::write(
            &program,
            format!(
                "echo start >> {0}\nsleep 0.3\necho end >> {0}\necho null\n",
                log.display()
            ),
        )
        .unwrap();
        let text = format!(
            "[provider]\nid = \"example.org\"\ndisplay-name = \"E\"\nshort-name = \"E\"\n\
             [backends.run]\ntype = \"command\"\ncommand = [\"/bin/sh\", \"{}\"]\n\
             timeout = \"20s\"\n\
             [domains.\"example.org\"]\nsources = [\"run\"]\n",
            program.display()
        );
        let config = Config::from_toml(&text, ConfigSource::File("t.toml".into())).unwrap();
        let resolver = super::super::Resolver::new(Arc::new(config));
        let lookups = (0..MAX_IN_FLIGHT + 8).map(|n| {
            let resolver = resolver.clone();
            tokio::spawn(async move {
                let email = EmailAddress::parse(&format!("user{n}@example.org")).unwrap();
                resolver.resolve(&email).await.map(|_| ())
            })
        });
        for lookup in lookups.collect::<Vec<_>>() {
            assert_eq!(lookup.await.unwrap(), Ok(()));
        }
        let mut running = 0usize;
        let mut most = 0;
        for line in std::fs::read_to_string(&log).unwrap().lines() {
            if line == "start" {
                running += 1;
                most = most.max(running);
            } else {
                running -= 1;
            }
        }
        assert!(most <= MAX_IN_FLIGHT, "{most} at once");
        assert!(most > 1, "lookups do run concurrently");
    }
}
