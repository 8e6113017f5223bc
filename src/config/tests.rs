use std::path::PathBuf;

use super::*;
use crate::account::Domain;
use crate::account::{AuthMethod, Security, ServerKind, UrlService};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, ConfigSource::File(PathBuf::from("mxconf.toml")))
}

fn messages(error: ConfigError) -> Vec<String> {
    match error {
        ConfigError::Invalid(issues) => issues.iter().map(ToString::to_string).collect(),
        ConfigError::Read { .. } => vec![error.to_string()],
    }
}

const PROVIDER: &str =
    "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";

#[test]
fn demo_is_exactly_the_specified_demo() {
    let config = Config::demo().unwrap();
    assert_eq!(config.provider.id, "example.com");
    assert_eq!(config.provider.display_name, "Example Mail");
    assert_eq!(config.provider.short_name, "Example");
    let domain = config
        .domain(&Domain::parse("EXAMPLE.com").unwrap())
        .unwrap();
    let summary: Vec<_> = domain
        .incoming
        .iter()
        .chain(&domain.outgoing)
        .map(|s| (s.kind, s.host.as_str(), s.port, s.security))
        .collect();
    assert_eq!(
        summary,
        [
            (ServerKind::Imap, "imap.example.com", 993, Security::Tls),
            (
                ServerKind::Imap,
                "imap.example.com",
                143,
                Security::Starttls
            ),
            (ServerKind::Pop3, "pop.example.com", 995, Security::Tls),
            (ServerKind::Smtp, "smtp.example.com", 465, Security::Tls),
            (
                ServerKind::Smtp,
                "smtp.example.com",
                587,
                Security::Starttls
            ),
        ]
    );
    for server in domain.incoming.iter().chain(&domain.outgoing) {
        assert_eq!(server.authentication, [AuthMethod::PasswordCleartext]);
        assert_eq!(server.username, "%EMAILADDRESS%");
    }
    assert_eq!(
        domain.services.urls[UrlService::ActiveSync].as_deref(),
        Some("https://mail.example.com/Microsoft-Server-ActiveSync")
    );
    assert_eq!(
        domain.services.urls[UrlService::CalDav].as_deref(),
        Some("https://dav.example.com/")
    );
    assert_eq!(
        domain.services.urls[UrlService::CardDav].as_deref(),
        Some("https://dav.example.com/")
    );
}

#[test]
fn port_zero_names_file_line_and_field() {
    let text = format!(
        "{PROVIDER}\n[[domains.\"Example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 465\nsecurity = \"tls\"\n\n[[domains.\"Example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 0\nsecurity = \"starttls\"\n"
    );
    let errors = messages(load(&text).unwrap_err());
    assert_eq!(
        errors,
        ["mxconf.toml:13: domain \"Example.org\": smtp[1].port: 0 is not a port"]
    );
}

#[test]
fn syntax_and_unknown_keys_report_lines() {
    let errors = messages(
        load(&format!(
            "{PROVIDER}[server]\nlisten = [\"x\"]\nbogus = 1\n"
        ))
        .unwrap_err(),
    );
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("mxconf.toml:7:"), "{errors:?}");
    assert!(errors[0].contains("bogus"), "{errors:?}");

    let errors = messages(load(&format!("{PROVIDER}[[domains.\"a.org\".imap]]\nhost = \"h.a.org\"\nport = 993\nsecurity = \"ssl\"\n")).unwrap_err());
    assert!(errors[0].starts_with("mxconf.toml:8:"), "{errors:?}");
    assert!(errors[0].contains("ssl"), "{errors:?}");
}

#[test]
fn collects_every_problem() {
    let text = format!(
        "{PROVIDER}[server]\nlisten = [\"nope\"]\ntrusted-proxies = [\"10.0.0.0/8\", \"bad\"]\n[domains.\"a.org\"]\ncaldav = \"ftp://x\"\n[[domains.\"a.org\".imap]]\nhost = \"bad host\"\nport = 70000\nsecurity = \"tls\"\nauthentication = []\n"
    );
    let errors = messages(load(&text).unwrap_err());
    assert_eq!(errors.len(), 6, "{errors:#?}");
    assert!(errors.iter().any(|e| e.contains("server.listen")));
    assert!(errors.iter().any(|e| e.contains("trusted-proxies")));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("caldav: \"ftp://x\" is not an http(s) URL"))
    );
    assert!(errors.iter().any(|e| e.contains("imap[0].host")));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("imap[0].port: 70000 is not a port"))
    );
    assert!(errors.iter().any(|e| e.contains("imap[0].authentication")));
}

#[test]
fn defaults_merge_and_wildcards_match() {
    let text = format!(
        "{PROVIDER}[defaults]\ncarddav = \"https://dav.example.org/\"\n[[defaults.imap]]\nhost = \"imap.example.org\"\nport = 143\nsecurity = \"starttls\"\n[[defaults.imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\nauthentication = [\"oauth2\", \"password-cleartext\"]\n\n[domains.\"example.org\"]\n[domains.\"*.example.org\"]\ncarddav = \"https://wild.example.org/\"\n[domains.\"*.deep.example.org\"]\n[domains.\"special.example.org\"]\nimap = []\n"
    );
    let config = load(&text).unwrap();
    let get = |name: &str| {
        config
            .domain(&Domain::parse(name).unwrap())
            .map(|d| d.pattern.clone())
    };
    assert_eq!(get("example.org").as_deref(), Some("example.org"));
    assert_eq!(get("a.example.org").as_deref(), Some("*.example.org"));
    assert_eq!(
        get("x.y.deep.example.org").as_deref(),
        Some("*.deep.example.org")
    );
    assert_eq!(
        get("special.example.org").as_deref(),
        Some("special.example.org")
    );
    assert_eq!(get("example.net"), None);
    assert_eq!(get("badexample.org"), None);

    let base = config
        .domain(&Domain::parse("example.org").unwrap())
        .unwrap();
    assert_eq!(
        base.services.urls[UrlService::CardDav].as_deref(),
        Some("https://dav.example.org/")
    );
    // implicit TLS sorted first even though configured second
    assert_eq!(base.incoming[0].port, 993);
    assert_eq!(
        base.incoming[0].authentication,
        [AuthMethod::OAuth2, AuthMethod::PasswordCleartext]
    );
    let wild = config
        .domain(&Domain::parse("a.example.org").unwrap())
        .unwrap();
    assert_eq!(
        wild.services.urls[UrlService::CardDav].as_deref(),
        Some("https://wild.example.org/")
    );
    let special = config
        .domain(&Domain::parse("special.example.org").unwrap())
        .unwrap();
    assert!(special.incoming.is_empty());
}

#[test]
fn duplicate_domains_differing_in_case_are_refused() {
    let errors = messages(
        load(&format!(
            "{PROVIDER}[domains.\"a.org\"]\n[domains.\"A.ORG\"]\n"
        ))
        .unwrap_err(),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("configured twice"));
}

/// A domain table's keys come from the vocabulary's tables: every URL service is a key, and
/// an unknown key is named with its line and the keys there are.
#[test]
fn domain_keys_are_the_vocabularys_names() {
    let urls: String = UrlService::ALL
        .iter()
        .map(|service| {
            format!(
                "{} = \"https://{}.example.org/\"\n",
                service.name(),
                service.name()
            )
        })
        .collect();
    let config = load(&format!("{PROVIDER}[domains.\"example.org\"]\n{urls}")).unwrap();
    let domain = config
        .domain(&Domain::parse("example.org").unwrap())
        .unwrap();
    for &service in UrlService::ALL {
        assert_eq!(
            domain.services.urls[service].as_deref(),
            Some(format!("https://{}.example.org/", service.name()).as_str())
        );
    }
    let errors = messages(
        load(&format!(
            "{PROVIDER}[domains.\"example.org\"]\ngraph = \"https://graph.example.org/\"\n"
        ))
        .unwrap_err(),
    );
    assert_eq!(
        errors,
        [
            "mxconf.toml:6: domain \"example.org\": graph: unknown field `graph`, expected one of \
             `imap`, `pop3`, `smtp`, `activesync`, `caldav`, `carddav`, `jmap`, `ews`, `webdav`, \
             `documentation`, `oauth2`, `sources`, `redirect-to-domain`, \
             `autodiscover-redirect-url`, `pacc`"
        ]
    );
}

#[test]
fn metrics_listen_on_an_address_of_their_own() {
    let config = load(&format!(
        "{PROVIDER}[metrics]\nlisten = \"127.0.0.1:9154\"\n"
    ))
    .unwrap();
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9154".parse().unwrap())
    );
    assert_eq!(Config::demo().unwrap().metrics.listen, None);
    let shared = format!(
        "{PROVIDER}[server]\nlisten = [\"127.0.0.1:8080\"]\n[metrics]\nlisten = \"127.0.0.1:8080\"\n"
    );
    assert_eq!(
        messages(load(&shared).unwrap_err()),
        [
            "mxconf.toml:8: metrics.listen: 127.0.0.1:8080 is also in [server] listen; the metrics need a listener of their own"
        ]
    );
    assert_eq!(
        messages(load(&format!("{PROVIDER}[metrics]\nlisten = \"localhost\"\n")).unwrap_err()),
        ["mxconf.toml:6: metrics.listen: \"localhost\" is not an IP:port address"]
    );
}

#[test]
fn limits_default_to_automx_budgets_and_check_every_key() {
    use std::time::Duration;

    use super::limits::{OnStoreFailure, StoreSettings};
    let defaults = load(PROVIDER).unwrap().limits;
    assert!(defaults.enabled);
    assert_eq!(defaults.budgets.client_error_limit, 20);
    assert_eq!(defaults.budgets.error_window, Duration::from_secs(600));
    assert_eq!(defaults.budgets.requests_per_minute, 600);
    assert_eq!(defaults.budgets.profiles_per_minute, 30);
    assert_eq!(defaults.ipv6_prefix, 64);
    assert_eq!(defaults.store, StoreSettings::Memory);
    assert_eq!(defaults.on_store_failure, OnStoreFailure::Allow);
    let exempt: Vec<_> = defaults.exempt.iter().map(ToString::to_string).collect();
    assert_eq!(exempt, ["127.0.0.0/8", "::1/128"]);

    let redis = load(&format!(
        "{PROVIDER}[limits]\nstore = \"rediss://cache.example.org:6380/2\"\npassword-env = \"REDIS_PW\"\n\
         store-timeout = \"250ms\"\non-store-failure = \"refuse\"\nexempt = [\"192.0.2.1\"]\n"
    ))
    .unwrap()
    .limits;
    let StoreSettings::Redis(settings) = &redis.store else {
        panic!("{:?}", redis.store);
    };
    assert_eq!(settings.url.as_str(), "rediss://cache.example.org:6380/2");
    assert_eq!(settings.timeout, Duration::from_millis(250));
    assert_eq!(redis.on_store_failure, OnStoreFailure::Refuse);
    assert_eq!(redis.exempt[0].to_string(), "192.0.2.1/32");

    let cases = [
        (
            "client-error-limit = -1",
            "mxconf.toml:6: limits.client-error-limit: must be a whole number from 0 (off) up",
        ),
        (
            "error-window = \"0s\"",
            "mxconf.toml:6: limits.error-window: \"0s\" is not a duration above zero like \"100ms\", \"30s\", \"10m\"",
        ),
        (
            "exempt = [\"10.0.0.0/33\"]",
            "mxconf.toml:6: limits.exempt: \"10.0.0.0/33\" is not an IP address or CIDR range",
        ),
        (
            "ipv6-prefix = 0",
            "mxconf.toml:6: limits.ipv6-prefix: must be a prefix length from 1 to 128",
        ),
        (
            "store = \"memcache://localhost:11211\"",
            "mxconf.toml:6: limits.store: expected \"memory\" or a redis:// or rediss:// URL with a host",
        ),
        (
            "store = \"redis://:secret@localhost\"",
            "mxconf.toml:6: limits.store: holds a password: move it to password-file or password-env (URLs end up in logs)",
        ),
        (
            "store = \"redis://localhost/x\"",
            "mxconf.toml:6: limits.store: the path must be a database number (redis://HOST:PORT/0)",
        ),
        (
            "store-timeout = \"1s\"",
            "mxconf.toml:6: limits.store-timeout: applies to a Redis store only (store = \"redis://…\")",
        ),
        (
            "ca-file = \"ca.pem\"",
            "mxconf.toml:6: limits.ca-file: applies to a Redis store only (store = \"redis://…\")",
        ),
        (
            "store = \"redis://localhost\"\nkey-file = \"k.pem\"",
            "mxconf.toml:7: limits.key-file: applies to a TLS store only (store = \"rediss://…\")",
        ),
        (
            "store = \"rediss://localhost/0#insecure\"",
            "mxconf.toml:6: limits.store: takes no #fragment: Redis's certificate is always checked (a private CA goes in ca-file)",
        ),
        (
            "store = \"rediss://localhost\"\ncert-file = \"c.pem\"",
            "mxconf.toml:7: limits.cert-file: cert-file and key-file go together (the client certificate and its key)",
        ),
    ];
    for (line, expected) in cases {
        let errors = messages(load(&format!("{PROVIDER}[limits]\n{line}\n")).unwrap_err());
        assert_eq!(errors, [expected], "{line}");
    }
    let errors = messages(
        load(&format!(
            "{PROVIDER}[limits]\non-store-failure = \"ignore\"\n"
        ))
        .unwrap_err(),
    );
    assert!(
        errors[0].contains("expected `allow` or `refuse`"),
        "{errors:?}"
    );
}

const OAUTH2: &str = "[domains.\"example.org\".oauth2]\nissuer = \"login.example.org\"\n\
scope = \"IMAP SMTP  offline_access\"\nauth-url = \"https://login.example.org/auth\"\n\
token-url = \"https://login.example.org/token\"\n";

#[test]
fn oauth2_table_loads_with_the_open_client_id_and_merges_from_defaults() {
    let config = load(&format!("{PROVIDER}[domains.\"example.org\"]\n{OAUTH2}")).unwrap();
    let domain = config
        .domain(&Domain::parse("example.org").unwrap())
        .unwrap();
    let oauth2 = domain.services.oauth2.as_ref().unwrap();
    assert_eq!(oauth2.client_id, "open");
    assert_eq!(oauth2.scope, "IMAP SMTP offline_access");
    assert_eq!(oauth2.client_secret, None);
    let defaults = OAUTH2.replace("[domains.\"example.org\".oauth2]", "[defaults.oauth2]");
    let config = load(&format!(
        "{PROVIDER}{defaults}client-id = \"mail-apps\"\n[domains.\"example.org\"]\n"
    ))
    .unwrap();
    let domain = config
        .domain(&Domain::parse("example.org").unwrap())
        .unwrap();
    assert_eq!(
        domain.services.oauth2.as_ref().unwrap().client_id,
        "mail-apps"
    );
}

#[test]
fn bad_oauth2_values_are_named_with_line_and_field() {
    let bad = OAUTH2
        .replace(
            "https://login.example.org/auth",
            "http://login.example.org/auth",
        )
        .replace("IMAP SMTP  offline_access", " ");
    let errors =
        messages(load(&format!("{PROVIDER}[domains.\"example.org\"]\n{bad}")).unwrap_err());
    assert_eq!(
        errors,
        [
            "mxconf.toml:8: domain \"example.org\": oauth2.scope: \"\" must name at least one \
             scope (space-separated)",
            "mxconf.toml:9: domain \"example.org\": oauth2.auth-url: \
             \"http://login.example.org/auth\" is not an https URL",
        ]
    );
    let missing = OAUTH2.replace("token-url = \"https://login.example.org/token\"\n", "");
    let errors =
        messages(load(&format!("{PROVIDER}[domains.\"example.org\"]\n{missing}")).unwrap_err());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("missing field `token-url`"),
        "{errors:?}"
    );
}

#[test]
fn sasl_names_are_checked_and_kept_upper_case() {
    let server = "[[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\n\
                  security = \"tls\"\n";
    let config = load(&format!(
        "{PROVIDER}{server}sasl = [\"scram-sha-256-plus\", \"SCRAM-SHA-256\"]\n"
    ))
    .unwrap();
    let domain = config
        .domain(&Domain::parse("example.org").unwrap())
        .unwrap();
    let names: Vec<_> = domain.incoming[0].sasl.iter().map(|m| m.as_str()).collect();
    assert_eq!(names, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
    let errors = messages(
        load(&format!(
            "{PROVIDER}{server}sasl = [\"PLAIN\", \"SCRAM SHA\"]\n"
        ))
        .unwrap_err(),
    );
    assert_eq!(
        errors,
        [
            "mxconf.toml:9: domain \"example.org\": imap[0].sasl[1]: \"SCRAM SHA\" is not a SASL \
          mechanism name (RFC 4422: 1-20 of A-Z 0-9 - _)"
        ]
    );
}

#[test]
fn redis_tls_files_are_read_at_load_and_checked() {
    use super::limits::StoreSettings;
    let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/certs");
    let limits = |keys: &str| {
        Config::from_toml(
            &format!("{PROVIDER}[limits]\nstore = \"rediss://cache.example.org/0\"\n{keys}\n"),
            ConfigSource::File(PathBuf::from(certs).join("mxconf.toml")),
        )
    };
    let config =
        limits("ca-file = \"root.pem\"\ncert-file = \"signer.pem\"\nkey-file = \"signer.key\"")
            .unwrap();
    let StoreSettings::Redis(settings) = &config.limits.store else {
        panic!("{:?}", config.limits.store);
    };
    let ca = settings.ca_pem.as_deref().unwrap();
    assert!(ca.starts_with(b"-----BEGIN CERTIFICATE-----"));
    let identity = settings.identity.as_ref().unwrap();
    assert!(identity.key_pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
    // The key never shows in a debug print of the settings.
    assert!(!format!("{settings:?}").contains("PRIVATE"));
    let cases = [
        (
            "ca-file = \"missing.pem\"",
            "mxconf.toml:7: limits.ca-file: cannot read",
        ),
        (
            "ca-file = \"signer.key\"",
            "mxconf.toml:7: limits.ca-file: ",
        ),
        (
            "cert-file = \"signer.pem\"\nkey-file = \"signer-ec.key\"",
            "mxconf.toml:8: limits.key-file: ",
        ),
        (
            "cert-file = \"signer.key\"\nkey-file = \"signer.key\"",
            "mxconf.toml:7: limits.cert-file: ",
        ),
        (
            "cert-file = \"signer.pem\"\nkey-file = \"signer.pem\"",
            "mxconf.toml:8: limits.key-file: ",
        ),
    ];
    for (keys, expected) in cases {
        let errors = messages(limits(keys).unwrap_err());
        assert!(
            errors.len() == 1 && errors[0].contains(expected),
            "{keys}: {errors:?}"
        );
    }
    let errors =
        messages(limits("cert-file = \"signer.pem\"\nkey-file = \"signer-ec.key\"").unwrap_err());
    assert!(
        errors[0].ends_with(&format!(
            "not the key of the first certificate in {certs}/signer.pem"
        )),
        "{errors:?}"
    );
}
