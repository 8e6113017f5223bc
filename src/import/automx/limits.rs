//! automx's memcache error counter (`client_error_limit`, `memcache_ttl`,
//! `rate_limit_exception_networks`, `memcache`) → `[limits]`. automx counted only with
//! `memcache` set; mxconf counts by default, so the table is written either way, with
//! automx's numbers when it had them.

use ipnet::IpNet;

use super::text::split_list;
use super::{AUTOMX, AutomxConf};
use crate::import::{ImportError, TableOut, TomlValue};

impl AutomxConf<'_> {
    /// `[limits]` from the `[automx]` options, or `None` when none of them is written.
    pub(super) fn limits(&self) -> Result<Option<TableOut>, ImportError> {
        let memcache = self.get(AUTOMX, "memcache");
        let limit = self.get(AUTOMX, "client_error_limit");
        let ttl = self.get(AUTOMX, "memcache_ttl");
        let networks = self.get(AUTOMX, "rate_limit_exception_networks");
        if memcache.is_none() && limit.is_none() && ttl.is_none() && networks.is_none() {
            return Ok(None);
        }
        let mut notes = vec![
            "From automx client_error_limit, memcache_ttl and rate_limit_exception_networks. \
             mxconf's window runs from a client's first error (automx renewed it with every \
             counted error), the request after the limit is refused (automx let one more through), \
             and requests and profiles per minute have budgets too (docs/security.md)."
                .to_owned(),
        ];
        let mut keys = Vec::new();
        if let Some(limit) = limit {
            let count = limit.trim().parse::<u32>().map_err(|_| {
                self.invalid(
                    AUTOMX,
                    "client_error_limit",
                    format!("{limit:?} is not a whole number of errors"),
                )
            })?;
            keys.push(("client-error-limit", TomlValue::Int(i64::from(count))));
        }
        if let Some(ttl) = ttl {
            let seconds = ttl.trim().parse::<u32>().ok().filter(|s| *s > 0);
            let seconds = seconds.ok_or_else(|| {
                self.invalid(
                    AUTOMX,
                    "memcache_ttl",
                    format!("{ttl:?} is not a positive number of seconds"),
                )
            })?;
            let window = if seconds % 60 == 0 {
                format!("{}m", seconds / 60)
            } else {
                format!("{seconds}s")
            };
            keys.push(("error-window", TomlValue::Str(window)));
        }
        if let Some(networks) = networks {
            let mut exempt = Vec::new();
            for item in split_list(networks) {
                let parsed = item
                    .parse::<IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from));
                let net = parsed.map_err(|_| {
                    self.invalid(
                        AUTOMX,
                        "rate_limit_exception_networks",
                        format!("{item:?} is not an address or a network"),
                    )
                })?;
                exempt.push(net.to_string());
            }
            keys.push(("exempt", TomlValue::Strings(exempt)));
        }
        match memcache {
            Some(server) => {
                let host = server
                    .trim()
                    .rsplit_once(':')
                    .map_or(server.trim(), |(host, _)| host);
                notes.push(format!(
                    "automx counted in memcache at {server}; memcache became Redis. Each \
                     instance counts in its own memory unless they share a Redis server:"
                ));
                notes.push(format!("store = \"redis://{host}:6379/0\""));
            }
            None => notes.push(
                "automx had no memcache option and so counted nothing; mxconf counts by \
                 default (enabled = false turns it off)."
                    .into(),
            ),
        }
        Ok(Some(TableOut {
            notes,
            keys,
            commented_out: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::import;
    use crate::config::{Config, ConfigSource};

    const BASE: &str = "[automx]\nprovider = x.org\ndomains = x.org\n";

    fn imported(options: &str) -> (String, crate::config::LimitSettings) {
        let conf = format!(
            "{BASE}{options}[global]\nbackend = static\nsmtp = yes\nsmtp_server = smtp.x.org\n\
             smtp_port = 587\n"
        );
        let text = import(&conf, "a.conf").unwrap().to_toml();
        let config = Config::from_toml(&text, ConfigSource::File("x.toml".into()))
            .unwrap_or_else(|error| panic!("{error}\n{text}"));
        (text, config.limits)
    }

    #[test]
    fn automx_limit_keys_become_limits() {
        let (text, limits) = imported(
            "memcache = 10.0.0.5:11211\nmemcache_ttl = 90\nclient_error_limit = 7\n\
             rate_limit_exception_networks = 192.0.2.0/24, 2001:db8::1 10.1.0.0/16\n",
        );
        assert_eq!(limits.budgets.client_error_limit, 7, "{text}");
        assert_eq!(
            limits.budgets.error_window,
            std::time::Duration::from_secs(90)
        );
        let exempt: Vec<String> = limits.exempt.iter().map(ToString::to_string).collect();
        assert_eq!(exempt, ["192.0.2.0/24", "2001:db8::1/128", "10.1.0.0/16"]);
        // memcache is not Redis: the store stays in memory, with the line to enable.
        assert_eq!(limits.store, crate::config::limits::StoreSettings::Memory);
        assert!(
            text.contains("# store = \"redis://10.0.0.5:6379/0\"\n"),
            "{text}"
        );
        assert!(!text.contains("rate limiting belongs"), "{text}");
    }

    #[test]
    fn without_memcache_the_defaults_apply_and_say_so() {
        let (text, limits) = imported("");
        assert!(!text.contains("[limits]"), "{text}");
        assert!(limits.enabled);
        let (text, limits) = imported("client_error_limit = 3\n");
        assert_eq!(limits.budgets.client_error_limit, 3);
        assert!(text.contains("automx had no memcache option"), "{text}");
    }

    #[test]
    fn bad_values_name_the_option_and_line() {
        for (option, value) in [
            ("client_error_limit", "many"),
            ("memcache_ttl", "0"),
            ("rate_limit_exception_networks", "10.0.0.0/99"),
        ] {
            let conf = format!("{BASE}{option} = {value}\n");
            let error = import(&conf, "a.conf").unwrap_err().to_string();
            assert!(
                error.contains("a.conf") && error.contains(option) && error.contains(":4"),
                "{error}"
            );
        }
    }
}
