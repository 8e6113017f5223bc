//! The Redis store: every instance counts into the same keys, so N instances behind a load
//! balancer enforce one budget. One hash per client (`mxconf:limits:<client>`) holds its error
//! count and when it began, one "theoretical arrival time" per token bucket (GCRA, the token
//! bucket of `rules.rs` kept as one number: a bucket is empty while that time is a minute or
//! more ahead), and until when each refusal has been logged. A Lua script reads and writes it
//! atomically on the server, one round trip per request (plus one for a request that ended
//! in a client error), on Redis's own clock so that instances with skewed clocks agree. Every
//! write renews the key's expiry, so an idle client's key vanishes by itself: no cleanup job.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo as _, Script};
use tokio::sync::OnceCell;

use super::{ClientKey, Cost, Reason, Refused, StoreError, Verdict};
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

/// Reconnection attempts per reconnection; requests keep their own timeout meanwhile.
const RECONNECT_RETRIES: usize = 2;

pub struct RedisStore {
    client: redis::Client,
    /// Made at the first request: the manager starts a task, which needs the runtime the
    /// requests run on (a configuration is built and checked outside any).
    manager: OnceCell<ConnectionManager>,
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
    /// Reads the password now (a file that cannot be read stops the start, with its name).
    pub fn new(settings: &RedisSettings) -> Result<Self, String> {
        let mut info = settings
            .url
            .clone()
            .into_connection_info()
            .map_err(|error| format!("Redis URL: {error}"))?;
        if let Some(secret) = &settings.password {
            let password = secret.read()?;
            let redis = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(redis);
        }
        let client = redis::Client::open(info).map_err(|error| format!("Redis: {error}"))?;
        Ok(RedisStore {
            client,
            manager: OnceCell::new(),
            timeout: settings.timeout,
            admit: Script::new(ADMIT),
            record_error: Script::new(RECORD_ERROR),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(self.timeout);
        self.manager
            .get_or_try_init(|| async {
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .cloned()
            .map_err(|error| StoreError(error.to_string()))
    }

    /// Runs one command against Redis, bounded by the store timeout whatever the connection
    /// manager is doing (connecting, reconnecting, waiting for an answer).
    async fn bounded<T>(
        &self,
        call: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let connection = self.connection().await?;
        match tokio::time::timeout(self.timeout, call(connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError(error.to_string())),
            Err(_) => Err(StoreError(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
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
