//! The Redis store: every instance counts into the same keys, so N instances behind a load
//! balancer enforce one budget. One hash per client (`mxconf:limits:<client>`) holds its error
//! count and when it began, one "theoretical arrival time" per token bucket (GCRA, the token
//! bucket of `rules.rs` kept as one number: a bucket is empty while that time is a minute or
//! more ahead), and until when each refusal has been logged. A Lua script reads and writes it
//! atomically on the server, one round trip per request (plus one for a request that ended
//! in a client error), on Redis's own clock so that instances with skewed clocks agree. Every
//! write renews the key's expiry, so an idle client's key vanishes by itself: no cleanup job.
//!
//! The connection is made by a task of its own, bounded by [`CONNECT_TIMEOUT`] rather than by
//! the store timeout: setting up a `rediss://` connection (loading the trust store, the
//! handshake, AUTH) takes longer than the 100 ms a request waits for an answer (measured
//! 150-420 ms in a release build on a loaded machine, docs/performance.md), so a connection
//! made inside a request's timeout never came up. A request waits for it only as long as for
//! an answer; the connection keeps coming up for the requests after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ClientTlsConfig, IntoConnectionInfo as _, Script, TlsCertificates};
use tokio::sync::watch;
use tokio::time::Instant;

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

/// How long a new connection to Redis may take to come up (TCP, TLS, AUTH), in the background.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RedisStore {
    /// What a connection is made from.
    params: Arc<Params>,
    /// The connection of the moment, as the connecting task and the requests see it.
    link: Arc<watch::Sender<Link>>,
    timeout: Duration,
}

struct Params {
    url: url::Url,
    /// Read whenever a connection is made, so a rotated password is used by the next.
    password: Option<Secret>,
    tls: Option<TlsCertificates>,
    /// Numbers the connections, so that a failure drops only the one that failed.
    generations: AtomicU64,
    admit: Script,
    record_error: Script,
}

/// Where the connection stands. A connection manager starts a task, which needs the runtime
/// the requests run on (a configuration is built and checked outside any), so the first
/// request after start, or after a failure, starts the connecting.
#[derive(Clone)]
enum Link {
    Idle,
    Connecting,
    Ready(u64, ConnectionManager),
    /// The last attempt's reason, reported by the next request, which leaves it `Idle`.
    Failed(String),
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
        let params = Params {
            url: settings.url.clone(),
            password: settings.password.clone(),
            tls,
            generations: AtomicU64::new(0),
            admit: Script::new(ADMIT),
            record_error: Script::new(RECORD_ERROR),
        };
        params.client().map_err(|StoreError(error)| error)?;
        Ok(RedisStore {
            params: Arc::new(params),
            link: Arc::new(watch::channel(Link::Idle).0),
            timeout: settings.timeout,
        })
    }

    /// The connection, waited for until `deadline`; a connection still coming up then is a
    /// failure of this request only. Starts the connecting when there is none.
    async fn connection(&self, deadline: Instant) -> Result<(u64, ConnectionManager), StoreError> {
        let mut start = false;
        self.link.send_if_modified(|link| match link {
            Link::Idle => {
                *link = Link::Connecting;
                start = true;
                true
            }
            _ => false,
        });
        if start {
            let (params, link, timeout) = (
                Arc::clone(&self.params),
                Arc::clone(&self.link),
                self.timeout,
            );
            tokio::spawn(async move {
                let outcome = match params.connect(timeout).await {
                    Ok(manager) => {
                        Link::Ready(params.generations.fetch_add(1, Ordering::Relaxed), manager)
                    }
                    Err(StoreError(error)) => Link::Failed(error),
                };
                link.send_replace(outcome);
            });
        }
        let mut link = self.link.subscribe();
        let settled = tokio::time::timeout_at(
            deadline,
            link.wait_for(|link| !matches!(link, Link::Connecting)),
        )
        .await;
        let current = match settled {
            Ok(Ok(current)) => current.clone(),
            Ok(Err(_)) => return Err(StoreError("the Redis connection task ended".into())),
            Err(_) => {
                return Err(StoreError(format!(
                    "no connection to Redis within {} ms (still connecting)",
                    self.timeout.as_millis()
                )));
            }
        };
        match current {
            Link::Ready(generation, manager) => Ok((generation, manager)),
            Link::Failed(error) => {
                // Reported once; the next attempt (after the limiter's cooldown) connects anew.
                self.link.send_if_modified(|link| match link {
                    Link::Failed(_) => {
                        *link = Link::Idle;
                        true
                    }
                    _ => false,
                });
                Err(StoreError(error))
            }
            Link::Idle | Link::Connecting => Err(StoreError("not connected to Redis".into())),
        }
    }

    /// Drops the connection of `generation` after it failed, so the next attempt makes a new
    /// one with the password read again. The manager's own reconnection would keep the old
    /// password, and would never try again after a refused password or certificate.
    fn forget(&self, generation: u64) {
        self.link.send_if_modified(|link| match link {
            Link::Ready(current, _) if *current == generation => {
                *link = Link::Idle;
                true
            }
            _ => false,
        });
    }

    /// Runs one command against Redis within the store timeout, whatever the connection is
    /// doing (coming up, reconnecting, waiting for an answer).
    async fn bounded<T>(
        &self,
        call: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        self.bounded_until(Instant::now() + self.timeout, call)
            .await
    }

    async fn bounded_until<T>(
        &self,
        deadline: Instant,
        call: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let (generation, connection) = self.connection(deadline).await?;
        let result = match tokio::time::timeout_at(deadline, call(connection)).await {
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
                self.params
                    .admit
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
            self.params
                .record_error
                .key(key(client))
                .arg(micros(budgets.error_window))
                .arg(keep_ms(budgets))
                .invoke_async::<()>(&mut connection)
                .await
        })
        .await
    }

    /// One `PING` (`check-config --backends`), waiting for the connection to come up.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let deadline = Instant::now() + CONNECT_TIMEOUT.max(self.timeout);
        self.bounded_until(deadline, async |mut connection| {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }
}

impl Params {
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

    /// A connection manager with its connection up. No retries inside it: a failure comes
    /// back with its own reason (refused, certificate, password), and the limiter's breaker is
    /// what tries again.
    async fn connect(&self, timeout: Duration) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        let client = self.client()?;
        // The scripts are loaded with the connection, so that the first request's call is one
        // round trip (EVALSHA), not three (EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA).
        let connecting = async {
            let mut manager = ConnectionManager::new_with_config(client, config).await?;
            self.admit.load_async(&mut manager).await?;
            self.record_error.load_async(&mut manager).await?;
            Ok::<_, redis::RedisError>(manager)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(made) => made.map_err(|error| StoreError(error.to_string())),
            Err(_) => Err(StoreError(format!(
                "no connection to Redis within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
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
