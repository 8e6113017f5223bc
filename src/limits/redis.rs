//! The Redis store: every instance counts into the same keys, so N instances behind a load
//! balancer enforce one budget. One hash per client (`mxconf:limits:<client>`) holds its error
//! count and when it began, one "theoretical arrival time" per token bucket (GCRA, the token
//! bucket of `rules.rs` kept as one number: a bucket is empty while that time is a minute or
//! more ahead), and until when each refusal has been logged. A Lua script reads and writes it
//! atomically on the server, one round trip per request (plus one for a request that ended
//! in a client error), on Redis's own clock so that instances with skewed clocks agree. Every
//! write renews the key's expiry, so an idle client's key vanishes by itself: no cleanup job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ClientTlsConfig, IntoConnectionInfo as _, Script, TlsCertificates};

use super::{ClientKey, Cost, Reason, Refused, StoreError, Verdict};
use crate::config::backend::Secret;
use crate::config::limits::{Budgets, RedisSettings};

/// Admits a request or refuses it; the same rules as `ClientState::admit`. Times in
/// microseconds (exact in a Lua number), written with `%.0f` (Lua's default number format
/// keeps 14 digits only). Returns `{reason, wait in ms, first}`, reason 0 for "admitted".
const ADMIT: &str = r"
local key = KEYS[1]
local limit, window, rpm, ppm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local profile, keep = ARGV[5] == '1', ARGV[6]
local clock = redis.call('TIME')
local now = clock[1] * 1000000 + clock[2]
local f = redis.call('HMGET', key, 'errors', 'since', 'requests', 'profiles', 'logged1', 'logged2', 'logged3')
local function refuse(reason, wait)
  local logged = tonumber(f[4 + reason])
  local first = 0
  if not logged or now >= logged then
    first = 1
    redis.call('HSET', key, 'logged' .. reason, string.format('%.0f', now + wait))
    redis.call('PEXPIRE', key, keep)
  end
  return {reason, math.ceil(wait / 1000), first}
end
if limit > 0 then
  local errors, since = tonumber(f[1]) or 0, tonumber(f[2]) or now
  if errors >= limit and now < since + window then
    return refuse(1, since + window - now)
  end
end
local minute = 60000000
local requests, profiles
if rpm > 0 then
  requests = math.max(tonumber(f[3]) or 0, now) + minute / rpm
  if requests - now > minute then return refuse(2, requests - now - minute) end
end
if profile and ppm > 0 then
  profiles = math.max(tonumber(f[4]) or 0, now) + minute / ppm
  if profiles - now > minute then return refuse(3, profiles - now - minute) end
end
-- Both budgets are checked before either is charged: a refused request costs nothing.
if requests then redis.call('HSET', key, 'requests', string.format('%.0f', requests)) end
if profiles then redis.call('HSET', key, 'profiles', string.format('%.0f', profiles)) end
if requests or profiles then redis.call('PEXPIRE', key, keep) end
return {0, 0, 0}
";

/// Counts one client error; the first of a window (or the first after one lapsed) starts it.
const RECORD_ERROR: &str = r"
local key, window, keep = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local clock = redis.call('TIME')
local now = clock[1] * 1000000 + clock[2]
local since = tonumber(redis.call('HGET', key, 'since'))
if not since or now >= since + window then
  redis.call('HSET', key, 'errors', 1, 'since', string.format('%.0f', now))
else
  redis.call('HINCRBY', key, 'errors', 1)
end
redis.call('PEXPIRE', key, keep)
return 1
";

pub struct RedisStore {
    url: url::Url,
    /// Read whenever a connection manager is made, so a rotated password is used by the next.
    password: Option<Secret>,
    tls: Option<TlsCertificates>,
    /// The manager of the moment and its generation, made at the first request after start
    /// or after a failure (the manager starts a task, which needs the runtime the requests run
    /// on; a configuration is built and checked outside any).
    manager: Mutex<Option<(u64, ConnectionManager)>>,
    generations: AtomicU64,
    timeout: Duration,
    admit: Script,
    record_error: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client's connection info holds the password.
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Checks the URL and reads the password once now, so that a file that cannot be read
    /// stops the start with its name.
    pub fn new(settings: &RedisSettings) -> Result<Self, String> {
        let tls =
            (settings.ca_pem.is_some() || settings.identity.is_some()).then(|| TlsCertificates {
                client_tls: settings.identity.as_ref().map(|identity| ClientTlsConfig {
                    client_cert: identity.cert_pem.clone(),
                    client_key: identity.key_pem.clone(),
                }),
                root_cert: settings.ca_pem.clone(),
            });
        let store = RedisStore {
            url: settings.url.clone(),
            password: settings.password.clone(),
            tls,
            manager: Mutex::new(None),
            generations: AtomicU64::new(0),
            timeout: settings.timeout,
            admit: Script::new(ADMIT),
            record_error: Script::new(RECORD_ERROR),
        };
        store.client().map_err(|StoreError(error)| error)?;
        Ok(store)
    }

    /// A client for the URL, the TLS settings and the password as its file has it now.
    fn client(&self) -> Result<redis::Client, StoreError> {
        let mut info = self
            .url
            .clone()
            .into_connection_info()
            .map_err(|error| StoreError(format!("Redis URL: {error}")))?;
        if let Some(secret) = &self.password {
            let password = secret.read().map_err(StoreError)?;
            let redis = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(redis);
        }
        match &self.tls {
            Some(tls) => redis::Client::build_with_tls(info, tls.clone()),
            None => redis::Client::open(info),
        }
        .map_err(|error| StoreError(format!("Redis: {error}")))
    }

    /// The manager of the moment, made if there is none. No retries inside it: a failure
    /// comes back at once with its own reason (refused, certificate, password), and the
    /// limiter's breaker is what tries again.
    fn connection(&self) -> Result<(u64, ConnectionManager), StoreError> {
        let mut manager = self.manager.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = &*manager {
            return Ok(current.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(0);
        let made = ConnectionManager::new_lazy_with_config(self.client()?, config)
            .map_err(|error| StoreError(error.to_string()))?;
        let current = (self.generations.fetch_add(1, Ordering::Relaxed), made);
        *manager = Some(current.clone());
        Ok(current)
    }

    /// Drops the manager of `generation` after it failed, so the next attempt makes a new one
    /// with the password read again. Its own reconnection would keep the old password, and
    /// would never try again after a refused password or certificate.
    fn forget(&self, generation: u64) {
        let mut manager = self.manager.lock().unwrap_or_else(PoisonError::into_inner);
        if manager
            .as_ref()
            .is_some_and(|(current, _)| *current == generation)
        {
            *manager = None;
        }
    }

    /// Runs one command against Redis, bounded by the store timeout whatever the connection
    /// manager is doing (connecting, reconnecting, waiting for an answer).
    async fn bounded<T>(
        &self,
        call: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let (generation, connection) = self.connection()?;
        let result = match tokio::time::timeout(self.timeout, call(connection)).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => StoreError(error.to_string()),
            Err(_) => StoreError(format!("no answer within {} ms", self.timeout.as_millis())),
        };
        self.forget(generation);
        Err(result)
    }

    pub async fn admit(
        &self,
        client: ClientKey,
        budgets: &Budgets,
        cost: Cost,
    ) -> Result<Verdict, StoreError> {
        let (reason, wait_ms, first): (u8, u64, u8) = self
            .bounded(async |mut connection| {
                self.admit
                    .key(key(client))
                    .arg(budgets.client_error_limit)
                    .arg(micros(budgets.error_window))
                    .arg(budgets.requests_per_minute)
                    .arg(budgets.profiles_per_minute)
                    .arg(u8::from(cost == Cost::Profile))
                    .arg(keep_ms(budgets))
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        let reason = match reason {
            0 => return Ok(Verdict::Admit),
            1 => Reason::ClientErrors,
            2 => Reason::Requests,
            3 => Reason::Profiles,
            other => return Err(StoreError(format!("unexpected answer {other} from Redis"))),
        };
        Ok(Verdict::Refuse {
            refused: Refused {
                reason,
                retry_after: Duration::from_millis(wait_ms),
            },
            first: first == 1,
        })
    }

    pub async fn record_error(
        &self,
        client: ClientKey,
        budgets: &Budgets,
    ) -> Result<(), StoreError> {
        self.bounded(async |mut connection| {
            self.record_error
                .key(key(client))
                .arg(micros(budgets.error_window))
                .arg(keep_ms(budgets))
                .invoke_async::<()>(&mut connection)
                .await
        })
        .await
    }

    /// One `PING` (`check-config --backends`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(async |mut connection| {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }
}

fn key(client: ClientKey) -> String {
    format!("mxconf:limits:{client}")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// How long a client's key outlives its last write: its error window, and at least the
/// minute in which its buckets refill. Anything older holds nothing the rules still use.
fn keep_ms(budgets: &Budgets) -> u64 {
    let keep = budgets.error_window.max(Duration::from_secs(60));
    u64::try_from(keep.as_millis()).unwrap_or(u64::MAX)
}
