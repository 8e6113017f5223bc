//! `[limits]`: the abuse protection's budgets per client (client errors in a window, requests
//! and signed profiles per minute), the networks it leaves alone, and where it counts (in
//! memory, or in Redis shared by every instance). The file form, the validated
//! [`LimitSettings`] and their check; `limits` runs them.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::backend::{Secret, check_secret, parse_duration};
use super::checker::Checker;
use crate::account::names::named_enum;

named_enum! {
    /// `on-store-failure`: what a request gets while the shared store does not answer.
    #[derive(Default)]
    pub enum OnStoreFailure {
        /// Serve it uncounted: an outage of the store never becomes an outage of the service.
        #[default]
        Allow = "allow",
        /// Refuse it (429): no request goes uncounted, at the price of serving nobody.
        Refuse = "refuse",
    }
}

impl OnStoreFailure {
    /// What requests get while the store does not answer, for the log and `/readyz`.
    pub fn consequence(self) -> &'static str {
        match self {
            OnStoreFailure::Allow => "requests are served uncounted",
            OnStoreFailure::Refuse => "every counted client is refused (429)",
        }
    }
}

/// `[limits]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsFile {
    pub enabled: Option<bool>,
    pub client_error_limit: Option<Spanned<i64>>,
    pub error_window: Option<Spanned<String>>,
    pub requests_per_minute: Option<Spanned<i64>>,
    pub profiles_per_minute: Option<Spanned<i64>>,
    pub exempt: Option<Vec<Spanned<String>>>,
    pub ipv6_prefix: Option<Spanned<i64>>,
    pub store: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub store_timeout: Option<Spanned<String>>,
    pub on_store_failure: Option<OnStoreFailure>,
}

/// Validated `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    /// `false`: no client is counted or refused, and the server installs no limiter at all.
    pub enabled: bool,
    pub budgets: Budgets,
    /// Clients in these networks are never counted nor refused.
    pub exempt: Vec<IpNet>,
    /// IPv6 clients are counted per network of this length, so one host cannot rotate through
    /// the addresses of its /64.
    pub ipv6_prefix: u8,
    pub store: StoreSettings,
    pub on_store_failure: OnStoreFailure,
}

/// The counting rules, the part of [`LimitSettings`] every store applies. A zero turns that
/// budget off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Client errors a client may cause in one `error_window`; one more request is refused.
    pub client_error_limit: u32,
    /// How long a client's error count lasts, from its first error.
    pub error_window: Duration,
    /// Requests a minute per client (a token bucket holding one minute's worth).
    pub requests_per_minute: u32,
    /// `/mobileconfig` requests a minute per client: each may cost a signature.
    pub profiles_per_minute: u32,
}

/// Where the counters live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// In this process: each instance counts on its own.
    Memory,
    /// One Redis (or Valkey) server every instance counts into.
    Redis(RedisSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://HOST:PORT/DB` or `rediss://…`, never holding a password.
    pub url: url::Url,
    pub password: Option<Secret>,
    /// Longest wait for one answer (and for a connection) before the failure policy applies.
    pub timeout: Duration,
    /// `file:line` of the `store` key, for `check-config --backends`.
    pub defined_at: String,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            enabled: true,
            budgets: Budgets::default(),
            exempt: DEFAULT_EXEMPT
                .iter()
                .filter_map(|net| net.parse().ok())
                .collect(),
            ipv6_prefix: 64,
            store: StoreSettings::Memory,
            on_store_failure: OnStoreFailure::Allow,
        }
    }
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            client_error_limit: 20,
            error_window: Duration::from_secs(600),
            requests_per_minute: 600,
            profiles_per_minute: 30,
        }
    }
}

/// The loopback networks: the host itself (health checks, a local proxy's own requests).
const DEFAULT_EXEMPT: [&str; 2] = ["127.0.0.0/8", "::1/128"];
/// Long enough for a Redis across a data centre, short enough that a request never hangs on it.
const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(100);

pub(super) fn check(checker: &mut Checker<'_>, raw: &LimitsFile) -> LimitSettings {
    let defaults = LimitSettings::default();
    let error_window = duration(
        checker,
        "error-window",
        raw.error_window.as_ref(),
        defaults.budgets.error_window,
    );
    let mut count = |key: &str, value: &Option<Spanned<i64>>, default: u32| {
        let Some(value) = value else {
            return default;
        };
        u32::try_from(*value.get_ref()).unwrap_or_else(|_| {
            checker.report(
                Some(&value.span()),
                format!("limits.{key}"),
                "must be a whole number from 0 (off) up".into(),
            );
            default
        })
    };
    let budgets = Budgets {
        client_error_limit: count(
            "client-error-limit",
            &raw.client_error_limit,
            defaults.budgets.client_error_limit,
        ),
        error_window,
        requests_per_minute: count(
            "requests-per-minute",
            &raw.requests_per_minute,
            defaults.budgets.requests_per_minute,
        ),
        profiles_per_minute: count(
            "profiles-per-minute",
            &raw.profiles_per_minute,
            defaults.budgets.profiles_per_minute,
        ),
    };
    let exempt = match &raw.exempt {
        None => defaults.exempt,
        Some(entries) => entries
            .iter()
            .filter_map(|entry| network(checker, entry))
            .collect(),
    };
    let ipv6_prefix = match &raw.ipv6_prefix {
        None => defaults.ipv6_prefix,
        Some(value) => match u8::try_from(*value.get_ref()) {
            Ok(bits @ 1..=128) => bits,
            _ => {
                checker.report(
                    Some(&value.span()),
                    "limits.ipv6-prefix".into(),
                    "must be a prefix length from 1 to 128".into(),
                );
                defaults.ipv6_prefix
            }
        },
    };
    LimitSettings {
        enabled: raw.enabled.unwrap_or(defaults.enabled),
        budgets,
        exempt,
        ipv6_prefix,
        store: store(checker, raw),
        on_store_failure: raw.on_store_failure.unwrap_or_default(),
    }
}

/// One `exempt` entry: a CIDR network or a single address.
fn network(checker: &mut Checker<'_>, entry: &Spanned<String>) -> Option<IpNet> {
    let text = entry.get_ref().trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            checker.report(
                Some(&entry.span()),
                "limits.exempt".into(),
                format!("{text:?} is not an IP address or CIDR range"),
            );
        })
        .ok()
}

fn duration(
    checker: &mut Checker<'_>,
    key: &str,
    value: Option<&Spanned<String>>,
    default: Duration,
) -> Duration {
    let Some(value) = value else {
        return default;
    };
    match parse_duration(value.get_ref()) {
        Some(duration) if !duration.is_zero() => duration,
        _ => {
            checker.report(
                Some(&value.span()),
                format!("limits.{key}"),
                format!(
                    "{:?} is not a duration above zero like \"100ms\", \"30s\", \"10m\"",
                    value.get_ref()
                ),
            );
            default
        }
    }
}

/// `store`: `"memory"` or a Redis URL; the password and timeout keys belong to Redis only.
fn store(checker: &mut Checker<'_>, raw: &LimitsFile) -> StoreSettings {
    let secret = check_secret(
        checker,
        "limits",
        raw.password_file.as_ref(),
        raw.password_env.as_ref(),
    );
    let timeout = duration(
        checker,
        "store-timeout",
        raw.store_timeout.as_ref(),
        DEFAULT_STORE_TIMEOUT,
    );
    let memory = |checker: &mut Checker<'_>| {
        let redis_only = [
            ("password-file", raw.password_file.as_ref()),
            ("password-env", raw.password_env.as_ref()),
            ("store-timeout", raw.store_timeout.as_ref()),
        ];
        for (key, value) in redis_only {
            if let Some(value) = value {
                checker.report(
                    Some(&value.span()),
                    format!("limits.{key}"),
                    "applies to a Redis store only (store = \"redis://…\")".into(),
                );
            }
        }
        StoreSettings::Memory
    };
    let Some(value) = &raw.store else {
        return memory(checker);
    };
    let text = value.get_ref().trim();
    if text == "memory" {
        return memory(checker);
    }
    let report = |checker: &mut Checker<'_>, message: &str| {
        checker.report(Some(&value.span()), "limits.store".into(), message.into());
        StoreSettings::Memory
    };
    // The message never repeats the URL: it may hold a password the admin pasted in.
    let Ok(url) = url::Url::parse(text) else {
        return report(
            checker,
            "is \"memory\" or a redis://HOST:PORT/DB (or rediss://) URL",
        );
    };
    if !matches!(url.scheme(), "redis" | "rediss") || url.host_str().is_none_or(str::is_empty) {
        return report(
            checker,
            "expected \"memory\" or a redis:// or rediss:// URL with a host",
        );
    }
    if url.password().is_some() {
        return report(
            checker,
            "holds a password: move it to password-file or password-env (URLs end up in logs)",
        );
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u16>().is_err() {
        return report(
            checker,
            "the path must be a database number (redis://HOST:PORT/0)",
        );
    }
    StoreSettings::Redis(RedisSettings {
        url,
        password: secret.flatten(),
        timeout,
        defined_at: checker.location(&value.span()),
    })
}
