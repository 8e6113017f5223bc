//! The per-user sources as the resolver runs them: each backend with its cache (moka: TTL,
//! size bound, shorter TTL for "no entry"), its timeout and its failure policy. Failures are
//! logged once per incident (first failure, then recovery), never per request, and never
//! reach a client as text.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;

use super::ResolveError;
use crate::account::{Account, AccountPatch, EmailAddress};
use crate::backend::{self, Backend, BackendError, LookupResult};
use crate::config::backend::{BackendSettings, OnFailure};

/// A cached answer: the patch, or `None` for "no entry".
type Cached = Option<Arc<AccountPatch>>;

/// All configured sources, indexed like `Config::backends`.
#[derive(Debug)]
pub(super) struct Sources(Vec<Source>);

#[derive(Debug)]
struct Source {
    name: String,
    backend: Box<dyn Backend>,
    timeout: Duration,
    on_failure: OnFailure,
    /// `None` when `cache-ttl = "0s"`.
    cache: Option<Cache<String, Cached>>,
    /// Set by the first failure of an incident, cleared by the next success.
    failing: AtomicBool,
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
        Sources(settings.iter().map(Source::new).collect())
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
            name: settings.name.clone(),
            backend: backend::build(settings),
            timeout: settings.timeout,
            on_failure: settings.on_failure,
            cache,
            failing: AtomicBool::new(false),
        }
    }

    /// The cached answer, or one fresh lookup. Concurrent lookups of one address share a single
    /// backend query (`try_get_with`); failures are not cached. `Err(())`: already logged.
    async fn lookup(&self, email: &EmailAddress) -> Result<Cached, ()> {
        match &self.cache {
            Some(cache) => cache
                .try_get_with(email.as_str().to_owned(), self.fetch(email))
                .await
                .map_err(|_| ()),
            None => self.fetch(email).await,
        }
    }

    async fn fetch(&self, email: &EmailAddress) -> Result<Cached, ()> {
        let result: LookupResult = tokio::time::timeout(self.timeout, self.backend.lookup(email))
            .await
            .unwrap_or(Err(BackendError::Timeout));
        match result {
            Ok(patch) => {
                if self.failing.load(Ordering::Relaxed)
                    && self.failing.swap(false, Ordering::Relaxed)
                {
                    tracing::info!(backend = %self.name, "per-user source recovered");
                }
                Ok(patch.map(Arc::new))
            }
            Err(error) => {
                let consequence = match self.on_failure {
                    OnFailure::Static => "answering with the static settings",
                    OnFailure::Fail => "answering 503",
                };
                if self.failing.swap(true, Ordering::Relaxed) {
                    tracing::debug!(backend = %self.name, %error, "per-user source still failing");
                } else {
                    tracing::warn!(
                        backend = %self.name,
                        %error,
                        "per-user source failed; {consequence} until it recovers"
                    );
                }
                Err(())
            }
        }
    }
}
