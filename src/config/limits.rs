//! `[limits]`: the abuse protection's budgets per client (client errors in a window, requests
//! and signed profiles per minute), the networks it leaves alone, and where it counts (in
//! memory, or in Redis shared by every instance). The file form, the validated
//! [`LimitSettings`] and their check; `limits` runs them.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use openssl::pkey::PKey;
use openssl::x509::{X509, X509Ref};
use serde::Deserialize;
use toml::Spanned;

use super::backend::{Secret, check_secret, duration_above_zero, read_ca_file};
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
    pub ca_file: Option<Spanned<String>>,
    pub cert_file: Option<Spanned<String>>,
    pub key_file: Option<Spanned<String>>,
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
    /// One Redis (or Valkey) server every instance counts into (boxed: its certificates and
    /// URL are large beside the memory store's nothing).
    Redis(Box<RedisSettings>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://HOST:PORT/DB` or `rediss://…`, never holding a password.
    pub url: url::Url,
    /// Read at every connection, so a rotated password is used from the next one on.
    pub password: Option<Secret>,
    /// `ca-file` of a `rediss://` store, as PEM: the authorities Redis's certificate is
    /// checked against, instead of the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// `cert-file` and `key-file`: the client certificate mxconf presents to a Redis that asks
    /// for one (Redis's `tls-auth-clients`).
    pub identity: Option<ClientIdentity>,
    /// Longest wait for one answer (and for a connection) before the failure policy applies.
    pub timeout: Duration,
    /// `file:line` of the `store` key, for `check-config --backends`.
    pub defined_at: String,
}

/// A client certificate chain and its key, both PEM, the key re-encoded as unencrypted PKCS#8
/// (the form the TLS library takes). Read at load (and on every reload).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Never prints the key.
impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").finish_non_exhaustive()
    }
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
    duration_above_zero(checker, format!("limits.{key}"), value, default)
}

/// `store`: `"memory"` or a Redis URL; the password and timeout keys belong to Redis only,
/// the certificate keys to `rediss://`.
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
        report_keys(
            checker,
            redis_only.into_iter().chain(tls_keys(raw)),
            "applies to a Redis store only (store = \"redis://…\")",
        );
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
    // redis-rs reads `#insecure` as "do not check the certificate"; mxconf always checks it.
    if url.fragment().is_some() {
        return report(
            checker,
            "takes no #fragment: Redis's certificate is always checked (a private CA goes in ca-file)",
        );
    }
    let (ca_pem, identity) = if url.scheme() == "rediss" {
        (
            raw.ca_file
                .as_ref()
                .and_then(|file| read_ca_file(checker, "limits", file, X509Ref::to_pem))
                .map(|certificates| certificates.concat()),
            client_identity(checker, raw),
        )
    } else {
        report_keys(
            checker,
            tls_keys(raw),
            "applies to a TLS store only (store = \"rediss://…\")",
        );
        (None, None)
    };
    StoreSettings::Redis(Box::new(RedisSettings {
        url,
        password: secret.flatten(),
        ca_pem,
        identity,
        timeout,
        defined_at: checker.location(&value.span()),
    }))
}

/// The TLS keys of a Redis store, with their values when given.
fn tls_keys(raw: &LimitsFile) -> [(&'static str, Option<&Spanned<String>>); 3] {
    [
        ("ca-file", raw.ca_file.as_ref()),
        ("cert-file", raw.cert_file.as_ref()),
        ("key-file", raw.key_file.as_ref()),
    ]
}

/// Reports every given key of `keys` as not applying.
fn report_keys<'a>(
    checker: &mut Checker<'_>,
    keys: impl IntoIterator<Item = (&'static str, Option<&'a Spanned<String>>)>,
    message: &str,
) {
    for (key, value) in keys {
        if let Some(value) = value {
            checker.report(Some(&value.span()), format!("limits.{key}"), message.into());
        }
    }
}

/// `cert-file` and `key-file`, both or neither: the chain, and the key that belongs to its
/// first certificate, read now so that a wrong file is a config error with its line.
fn client_identity(checker: &mut Checker<'_>, raw: &LimitsFile) -> Option<ClientIdentity> {
    let (cert_file, key_file) = match (&raw.cert_file, &raw.key_file) {
        (None, None) => return None,
        (Some(cert_file), Some(key_file)) => (cert_file, key_file),
        (Some(given), None) | (None, Some(given)) => {
            let key = if raw.cert_file.is_some() {
                "cert-file"
            } else {
                "key-file"
            };
            checker.report(
                Some(&given.span()),
                format!("limits.{key}"),
                "cert-file and key-file go together (the client certificate and its key)".into(),
            );
            return None;
        }
    };
    let cert_path = checker.path(cert_file.get_ref());
    let chain = match crate::files::read_small(&cert_path)
        .map_err(|error| format!("cannot read {}: {error}", cert_path.display()))
        .and_then(|pem| {
            X509::stack_from_pem(&pem)
                .ok()
                .filter(|chain| !chain.is_empty())
                .ok_or_else(|| format!("{}: no PEM certificate in it", cert_path.display()))
        }) {
        Ok(chain) => chain,
        Err(problem) => {
            checker.report(Some(&cert_file.span()), "limits.cert-file".into(), problem);
            return None;
        }
    };
    let key_path = checker.path(key_file.get_ref());
    // An empty passphrase: an encrypted key is refused instead of prompting on a terminal.
    let key = crate::files::read_small(&key_path)
        .map_err(|error| format!("cannot read {}: {error}", key_path.display()))
        .and_then(|pem| {
            PKey::private_key_from_pem_passphrase(&pem, b"").map_err(|_| {
                format!(
                    "{}: no unencrypted PEM private key in it",
                    key_path.display()
                )
            })
        })
        .and_then(|key| {
            let matches = chain[0]
                .public_key()
                .is_ok_and(|public| public.public_eq(&key));
            if matches {
                Ok(key)
            } else {
                Err(format!(
                    "{}: not the key of the first certificate in {}",
                    key_path.display(),
                    cert_path.display()
                ))
            }
        });
    let encoded = key.and_then(|key| {
        let cert_pem: Result<Vec<Vec<u8>>, _> = chain
            .iter()
            .map(|certificate| certificate.to_pem())
            .collect();
        cert_pem
            .and_then(|cert_pem| {
                let key_pem = key.private_key_to_pem_pkcs8()?;
                Ok((cert_pem.concat(), key_pem))
            })
            .map_err(|error| format!("{}: cannot re-encode: {error}", key_path.display()))
    });
    match encoded {
        Ok((cert_pem, key_pem)) => Some(ClientIdentity { cert_pem, key_pem }),
        Err(problem) => {
            checker.report(Some(&key_file.span()), "limits.key-file".into(), problem);
            None
        }
    }
}
