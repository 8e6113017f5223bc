//! The `[backends.NAME]` checks, through `Config::from_toml` as the server loads them.
use std::path::Path;

use super::*;
use crate::config::{Config, ConfigError, ConfigSource};

const PROVIDER: &str =
    "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml(
        &format!("{PROVIDER}{text}"),
        ConfigSource::File("mxconf.toml".into()),
    ) {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
    for bad in ["", "5", "s", "1.5s", "-1s", "3 days"] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn valid_backends_and_sources_load() {
    let text = "[backends.users]\ntype = \"sql\"\npath = \"users.db\"\nquery = \"SELECT uid AS login_name FROM users WHERE address = $1\"\ncache-ttl = \"0s\"\non-failure = \"fail\"\n\
        [backends.dir]\ntype = \"ldap\"\nurl = \"ldap://127.0.0.1:3890\"\nstarttls = false\nbase = \"dc=example,dc=org\"\nfilter = \"(mail=%EMAILADDRESS%)\"\nattributes = { login_name = \"uid\" }\n\
        [backends.script]\ntype = \"command\"\ncommand = [\"/usr/local/bin/lookup\", \"--\", \"%EMAILADDRESS%\"]\n\
        [defaults]\nsources = [\"dir\"]\n[domains.\"example.org\"]\nsources = [\"users\", \"script\"]\n[domains.\"example.net\"]\n";
    let config = Config::from_toml(
        &format!("{PROVIDER}{text}"),
        ConfigSource::File("/etc/mxconf/mxconf.toml".into()),
    )
    .unwrap();
    let names: Vec<_> = config.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["dir", "script", "users"]);
    let org = config
        .domain(&crate::account::Domain::parse("example.org").unwrap())
        .unwrap();
    assert_eq!(org.sources, [2, 1]);
    let net = config
        .domain(&crate::account::Domain::parse("example.net").unwrap())
        .unwrap();
    assert_eq!(net.sources, [0]);
    match &config.backends[2].kind {
        BackendKind::Sql(sql) => match &sql.database {
            SqlDatabase::Sqlite(path) => assert_eq!(path, Path::new("/etc/mxconf/users.db")),
            SqlDatabase::Server { .. } => panic!("not sqlite"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(config.backends[2].on_failure, OnFailure::Fail);
}

#[test]
fn mistakes_name_file_line_and_field() {
    let errors = errors(
        "[backends.pg]\ntype = \"sql\"\nurl = \"postgres://mx:hunter2@db.example.org/mail\"\nquery = \"SELECT 1 WHERE $12 = 1\"\nfilter = \"(uid=x)\"\n\
         [backends.dir]\ntype = \"ldap\"\nurl = \"ldap://ldap.example.org\"\nstarttls = false\nbase = \"dc=x\"\nfilter = \"(mail=jane)\"\nattributes = { login = \"uid\" }\n\
         [backends.run]\ntype = \"command\"\ncommand = [\"lookup\"]\ntimeout = \"soon\"\n\
         [domains.\"example.org\"]\nsources = [\"nope\"]\n",
    );
    let expected = [
        "mxconf.toml:13: backends.dir.starttls: may be off only for a loopback server",
        "mxconf.toml:16: backends.dir.attributes.login: not a field",
        "mxconf.toml:15: backends.dir.filter: must be a parenthesised LDAP filter",
        "mxconf.toml:7: backends.pg.url: holds a password",
        "mxconf.toml:9: backends.pg.filter: not a key of type = \"sql\"",
        "mxconf.toml:8: backends.pg.query: must be one statement",
        "mxconf.toml:20: backends.run.timeout: \"soon\" is not a duration",
        "mxconf.toml:19: backends.run.command: must start with the program's absolute path",
        "mxconf.toml:22: domain \"example.org\": sources: no [backends.nope] table",
    ];
    for want in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {errors:#?}"
        );
    }
    assert!(!errors.iter().any(|e| e.contains("hunter2")), "{errors:#?}");
}

#[test]
fn a_password_in_the_query_string_is_refused_like_one_in_the_user_info() {
    let errors = errors(
        "[backends.pg]\ntype = \"sql\"\nurl = \"postgres://mx@db.example.org/mail?sslmode=require&password=hunter2\"\n\
         query = \"SELECT 1 AS imap_port\"\n",
    );
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with("mxconf.toml:7: backends.pg.url: holds a password"),
        "{errors:#?}"
    );
    assert!(!errors[0].contains("hunter2"), "{errors:#?}");
}

#[test]
fn mysql_urls_need_a_host_and_no_password() {
    let errors = errors(
        "[backends.a]\ntype = \"sql\"\nurl = \"mysql://mx:hunter2@db.example.org/mail\"\nquery = \"SELECT 1 AS imap_port\"\n\
         [backends.b]\ntype = \"sql\"\nurl = \"mariadb:///mail?socket=/run/mysqld/mysqld.sock\"\nquery = \"SELECT 1 AS imap_port\"\n\
         [backends.c]\ntype = \"sql\"\nurl = \"mariadb://mx@localhost/mail?socket=/run/mysqld/mysqld.sock\"\n\
         query = \"SELECT 1 AS imap_port FROM t WHERE a = ?\"\n\
         [backends.d]\ntype = \"sql\"\nurl = \"mysql://mx@db.example.org/mail?ssl-mode=VERIFY_IDENTITY\"\n\
         query = \"SELECT 1 AS imap_port FROM t WHERE a = $2\"\n",
    );
    let expected = [
        "mxconf.toml:7: backends.a.url: holds a password",
        "mxconf.toml:11: backends.b.url: expected a postgres:// or postgresql:// or mysql:// or mariadb:// URL with a host",
        "mxconf.toml:16: backends.c.query: must be one statement using only $1",
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for want in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {errors:#?}"
        );
    }
    assert!(!errors.iter().any(|e| e.contains("hunter2")), "{errors:#?}");
}

#[test]
fn probe_addresses_default_to_a_domain_listing_the_source() {
    let text = "[backends.a]\ntype = \"command\"\ncommand = [\"/bin/true\"]\n\
        [backends.b]\ntype = \"command\"\ncommand = [\"/bin/true\"]\nprobe-address = \"Probe.User@Example.NET\"\n\
        [backends.c]\ntype = \"command\"\ncommand = [\"/bin/true\"]\n\
        [backends.d]\ntype = \"command\"\ncommand = [\"/bin/true\"]\n\
        [domains.\"*.example.org\"]\nsources = [\"a\", \"c\"]\n[domains.\"b.example\"]\nsources = [\"a\"]\n\
        [domains.\"a.example\"]\nsources = [\"b\"]\n";
    let config = Config::from_toml(
        &format!("{PROVIDER}{text}"),
        ConfigSource::File("mxconf.toml".into()),
    )
    .unwrap();
    let probes: Vec<_> = config
        .backends
        .iter()
        .map(|b| {
            (
                b.name.as_str(),
                b.probe_address.as_str(),
                b.defined_at.as_str(),
            )
        })
        .collect();
    assert_eq!(
        probes,
        [
            ("a", "mxconf-probe@b.example", "mxconf.toml:5"),
            ("b", "Probe.User@example.net", "mxconf.toml:8"),
            ("c", "mxconf-probe@probe.example.org", "mxconf.toml:12"),
            ("d", "mxconf-probe@example.invalid", "mxconf.toml:15"),
        ]
    );
    let bad = errors(
        "[backends.a]\ntype = \"command\"\ncommand = [\"/bin/true\"]\nprobe-address = \"nobody\"\n",
    );
    assert!(
        bad[0].starts_with("mxconf.toml:8: backends.a.probe-address: not an address"),
        "{bad:#?}"
    );
}

#[test]
fn local_part_is_lowercase_unless_exact() {
    let text = |extra: &str| {
        format!("{PROVIDER}[backends.run]\ntype = \"command\"\ncommand = [\"/bin/true\"]\n{extra}")
    };
    let load = |extra: &str| {
        Config::from_toml(&text(extra), ConfigSource::File("mxconf.toml".into()))
            .map(|config| config.backends[0].local_part)
    };
    assert_eq!(load("").unwrap(), LocalPart::Lowercase);
    assert_eq!(load("local-part = \"exact\"\n").unwrap(), LocalPart::Exact);
    let error = errors(
        "[backends.run]\ntype = \"command\"\ncommand = [\"/bin/true\"]\nlocal-part = \"upper\"\n",
    );
    assert_eq!(
        error,
        [
            "mxconf.toml:8: backends.run.local-part: unknown variant `upper`, expected `lowercase` or `exact`"
        ]
    );
}

#[test]
fn password_files_are_relative_to_the_config_file() {
    let text = format!(
        "{PROVIDER}[backends.dir]\ntype = \"ldap\"\nurl = \"ldaps://ldap.example.org\"\n\
         bind-dn = \"cn=mxconf\"\npassword-file = \"ldap-password\"\nbase = \"dc=x\"\n\
         filter = \"(mail=%EMAILADDRESS%)\"\nattributes = {{ login_name = \"uid\" }}\n"
    );
    let config =
        Config::from_toml(&text, ConfigSource::File("/etc/mxconf/mxconf.toml".into())).unwrap();
    match &config.backends[0].kind {
        BackendKind::Ldap(settings) => assert_eq!(
            settings.bind.as_ref().map(|(_, secret)| secret),
            Some(&Secret::File("/etc/mxconf/ldap-password".into()))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ca_file_is_read_at_load_and_must_hold_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let root = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/certs/root.pem")).unwrap();
    std::fs::write(&ca, &root).unwrap();
    std::fs::write(dir.path().join("not.pem"), "hello").unwrap();
    let ldap = |ca_file: &str| {
        format!(
            "{PROVIDER}[backends.dir]\ntype = \"ldap\"\nurl = \"ldaps://ldap.example.org\"\n\
             ca-file = \"{ca_file}\"\nbase = \"dc=x\"\nfilter = \"(mail=%EMAILADDRESS%)\"\n\
             attributes = {{ login_name = \"uid\" }}\n"
        )
    };
    // Relative to the config file's directory, like every other path.
    let config = Config::from_toml(
        &ldap("ca.pem"),
        ConfigSource::File(dir.path().join("mxconf.toml")),
    )
    .unwrap();
    match &config.backends[0].kind {
        BackendKind::Ldap(settings) => assert_eq!(settings.ca_certificates.len(), 1),
        other => panic!("{other:?}"),
    }
    for (file, problem) in [
        ("missing.pem", "cannot read"),
        ("not.pem", "no PEM certificate"),
    ] {
        let error = Config::from_toml(
            &ldap(file),
            ConfigSource::File(dir.path().join("mxconf.toml")),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("mxconf.toml:8: backends.dir.ca-file: "),
            "{error}"
        );
        assert!(error.contains(problem), "{error}");
    }
    let sql = "[backends.db]\ntype = \"sql\"\npath = \"u.db\"\nquery = \"SELECT 1 WHERE $1 = $1\"\nca-file = \"ca.pem\"\n";
    assert!(
        errors(sql)
            .iter()
            .any(|e| e.contains("backends.db.ca-file: not a key of type = \"sql\""))
    );
}

/// `examples/mxconf.toml` documents every backend key in commented-out examples; with the
/// comment marks removed, they must load and mean what they say.
#[test]
fn example_file_documents_every_key_and_its_examples_load() {
    let demo = crate::config::DEMO_TOML;
    let start = demo.find("## ---- Per-user backends").unwrap();
    let uncomment = |line: &str| line.strip_prefix("# ").map(str::to_owned);
    let backends: Vec<String> = demo[start..].lines().filter_map(uncomment).collect();
    let defaults = demo[..start].replace("# sources = [", "sources = [");
    let text = format!("{defaults}\n{}\n", backends.join("\n"));
    let config = Config::from_toml(&text, ConfigSource::File("/etc/mxconf/mxconf.toml".into()))
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = config.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["directory", "pg", "script", "users"]);
    let domain = config
        .domain(&crate::account::Domain::parse("example.com").unwrap())
        .unwrap();
    assert_eq!(domain.sources, [3, 0]);
    let keys = [
        "type",
        "timeout",
        "cache-ttl",
        "negative-cache-ttl",
        "cache-size",
        "on-failure",
        "local-part",
        "probe-address",
    ];
    let any: BackendFile = toml::from_str("type = \"sql\"").unwrap();
    for key in keys
        .into_iter()
        .chain(typed_keys(&any).map(|(key, _, _)| key))
    {
        assert!(
            demo.contains(&format!("\n# {key} = "))
                || demo.contains(&format!("\n# # {key} = "))
                || demo.contains(&format!("\n# [backends.directory.{key}]")),
            "examples/mxconf.toml does not document {key}"
        );
    }
    // The demo itself serves without any backend.
    assert!(Config::demo().unwrap().backends.is_empty());
}

#[test]
fn spelled_values_are_checked_by_their_table_and_named_with_their_field() {
    // Line 11 holds the value under test; `type` follows unless it is the one tested.
    let ldap = "[backends.x]\nurl = \"ldaps://ldap.example.org\"\nbase = \"dc=x\"\n\
                filter = \"(mail=%EMAILADDRESS%)\"\nattributes = { login_name = \"uid\" }\n\
                # the value under test:\n";
    for (line, want) in [
        (
            "type = \"nosql\"\n",
            "backends.x.type: unknown variant `nosql`, expected one of `sql`, `ldap`, `command`",
        ),
        (
            "on-failure = \"retry\"\ntype = \"ldap\"\n",
            "backends.x.on-failure: unknown variant `retry`, expected `static` or `fail`",
        ),
        (
            "scope = \"subtree\"\ntype = \"ldap\"\n",
            "backends.x.scope: unknown variant `subtree`, expected one of `base`, `one`, `sub`",
        ),
    ] {
        assert_eq!(
            errors(&format!("{ldap}{line}")),
            [format!("mxconf.toml:11: {want}")]
        );
    }
    let config = Config::from_toml(
        &format!("{PROVIDER}{ldap}type = \"ldap\"\nscope = \"one\"\non-failure = \"fail\"\n"),
        ConfigSource::File("mxconf.toml".into()),
    )
    .unwrap();
    assert_eq!(config.backends[0].on_failure, OnFailure::Fail);
    match &config.backends[0].kind {
        BackendKind::Ldap(ldap) => assert_eq!(ldap.scope, LdapScope::One),
        other => panic!("{other:?}"),
    }
}
