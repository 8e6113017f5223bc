//! `mxconf import`: automx's own sample configurations and every ISPDB file in
//! `tests/fixtures/` go through the real binary, and what comes out must load with
//! `mxconf check-config` and say what the original said.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use mxconf::account::{Account, AuthMethod, Domain, EmailAddress, Security};
use mxconf::config::{Config, ConfigSource, DomainSettings};
use mxconf::resolve::Resolver;

use crate::support::cli::{assert_success, check_config, fifo, mxconf, temp_file};
use crate::support::{fixtures, validate_autoconfig};

/// `mxconf import FORMAT FILE`, run to completion.
fn import(format: &str, file: &Path) -> Output {
    mxconf()
        .args(["import", format])
        .arg(file)
        .output()
        .unwrap()
}

/// Runs `mxconf import FORMAT FILE`, saves stdout to a temp file, and checks that
/// `mxconf check-config` accepts it. Returns the text and the loaded config.
fn import_and_check(format: &str, file: &Path) -> (String, Config) {
    let output = import(format, file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", file.display());
    let text = String::from_utf8(output.stdout).unwrap();
    let (_dir, path) = temp_file("mxconf.toml", &text);
    assert_success(&check_config(&path));
    let config = Config::from_toml(&text, ConfigSource::File(path)).unwrap();
    (text, config)
}

/// What the imported config answers for `email`.
async fn resolve(resolver: &Resolver, email: &str) -> Account {
    resolver
        .resolve(&EmailAddress::parse(email).unwrap())
        .await
        .unwrap_or_else(|error| panic!("{email}: {error}"))
}

fn automx_sample(name: &str) -> PathBuf {
    fixtures().join("automx").join(name)
}

fn domain<'c>(config: &'c Config, name: &str) -> &'c DomainSettings {
    config
        .domain(&Domain::parse(name).unwrap())
        .unwrap_or_else(|| panic!("{name} is not served"))
}

/// (host, port, security, authentication, username) of each server, in answer order.
fn summary(
    servers: &[mxconf::account::MailServer],
) -> Vec<(&str, u16, Security, Vec<AuthMethod>, &str)> {
    servers
        .iter()
        .map(|s| {
            (
                s.host.as_str(),
                s.port,
                s.security,
                s.authentication.clone(),
                s.username.as_str(),
            )
        })
        .collect()
}

#[test]
fn automx_shipped_sample_translates_and_loads() {
    let (text, config) = import_and_check("automx", &automx_sample("automx.conf"));
    assert_eq!(config.provider.id, "example.com");
    // account_name / account_name_short come from [DEFAULT], merged into [global].
    assert_eq!(config.provider.display_name, "Example Incorporated");
    assert_eq!(config.provider.short_name, "Example Inc.");
    let example = domain(&config, "example.com");
    let pw = vec![AuthMethod::PasswordCleartext];
    // automx's default login is the local part (%u) when no _auth_identity is set.
    assert_eq!(
        summary(&example.incoming),
        vec![
            (
                "mail.example.com",
                143,
                Security::Starttls,
                pw.clone(),
                "%EMAILLOCALPART%"
            ),
            (
                "mail.example.com",
                110,
                Security::Plain,
                pw.clone(),
                "%EMAILLOCALPART%"
            ),
        ]
    );
    assert_eq!(
        summary(&example.outgoing),
        vec![(
            "mail.example.com",
            587,
            Security::Starttls,
            pw,
            "%EMAILLOCALPART%"
        )]
    );
    // Only listed domains are served, as in automx.
    assert!(
        config
            .domain(&Domain::parse("example.org").unwrap())
            .is_none()
    );
    for dropped in [
        "# store = \"redis://127.0.0.1:6379/0\"\n",
        "# [global] smtp_default = yes:",
        "# [global] imap_refresh_ttl = 6: an Outlook-only knob",
        "automx pop_encryption = none: kept as plain",
    ] {
        assert!(text.contains(dropped), "no {dropped:?} in\n{text}");
    }
    assert!(text.starts_with("# Imported from the automx configuration "));
    // automx's memcache error counter: the same numbers in [limits], Redis offered commented.
    assert_eq!(config.limits.budgets.client_error_limit, 20);
    assert_eq!(
        config.limits.budgets.error_window,
        std::time::Duration::from_secs(600)
    );
    assert!(text.contains("error-window = \"10m\"\n"), "{text}");
    let exempt: Vec<String> = config
        .limits
        .exempt
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(exempt, ["127.0.0.0/8", "::1/128"]);
}

#[test]
fn automx_complex_sample_translates_and_loads() {
    let (text, config) = import_and_check("automx", &automx_sample("automx.conf.example-complex"));
    assert_eq!(config.provider.id, "example.com");
    // "Foobar - ${cn}" is per user in automx; the provider name is the fixed part.
    assert_eq!(config.provider.display_name, "Foobar");
    assert_eq!(config.provider.short_name, "Whatever you like");
    assert!(text.contains("automx had `domains = *`"), "{text}");

    // `backend = file`: the static part (from [DEFAULT]) carries over; the verbatim XML file
    // does not. Its ${deliverToAddress} logins had no lookup behind them.
    let lululala = domain(&config, "lululala.net");
    assert_eq!(lululala.outgoing.len(), 1);
    assert_eq!(lululala.outgoing[0].host, "mail.example.com");
    assert_eq!(lululala.outgoing[0].port, 587);
    assert_eq!(lululala.outgoing[0].username, "%EMAILADDRESS%");
    assert!(
        text.contains("/var/www/automx/templates/autoconfig.xml: automx served this file verbatim")
    );

    // `backend = filter` is gone: foobar.org gets the settings of the section the filter
    // chose, with POP switched off there (so not inherited from [defaults] either).
    let foobar = domain(&config, "foobar.org");
    let hosts: Vec<_> = foobar
        .incoming
        .iter()
        .map(|s| (s.host.as_str(), s.port))
        .collect();
    assert_eq!(hosts, [("mail.somewhere.org", 143)]);
    assert_eq!(foobar.outgoing[0].host, "mail.somewhere.org");
    assert!(text.contains("backend = filter: automx ran a command per request"));
    // The section reached only through section_filter is not a domain of its own.
    assert!(
        config
            .domain(&Domain::parse("filter.foobar.org").unwrap())
            .is_none()
    );
    // The LDAP filter's %s became a placeholder and the SQL query's '%s' a bound parameter,
    // each in a [backends] table the domain uses; no automx macro survives anywhere.
    assert!(
        text.contains("filter = \"(&(objectClass=*)(recipientAddress=%EMAILADDRESS%))\""),
        "{text}"
    );
    assert!(text.contains("WHERE mailaddr=$1) AS automx\""), "{text}");
    assert_eq!(config.backends.len(), 2);
    assert_eq!(foobar.sources.len(), 1);
    // lululala.net did no lookup in automx, so it must not inherit [global]'s LDAP source.
    assert!(lululala.sources.is_empty());
    // automx took the login from LDAP's deliverToAddress, for every service.
    assert!(
        text.contains("attributes = { login_name = \"deliverToAddress\" }"),
        "{text}"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains("%s") && !line.contains("%u") && !line.contains("${"),
            "{line}"
        );
    }
}

#[test]
fn automx_errors_name_file_and_line_and_exit_1() {
    let (_dir, path) = temp_file(
        "automx.conf",
        "[automx]\nprovider = example.org\ndomains = example.org\n\n[example.org]\nbackend = static\n\
         smtp = yes\nsmtp_server = mail.example.org\nsmtp_port = 5870000\n",
    );
    let output = import("automx", &path);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}:9: [example.org] smtp_port: \"5870000\" is not a port number",
            path.display()
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    mxconf()
        .args(["import", "automx", "/nonexistent/automx.conf"])
        .assert()
        .code(2);
}

#[test]
fn import_output_flag_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mxconf.toml");
    mxconf()
        .args(["import", "ispdb"])
        .arg(fixtures().join("ispdb/posteo.de.xml"))
        .arg("--output")
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    let config = Config::load(&out).unwrap();
    assert_eq!(config.provider.id, "posteo.de");
}

/// One server section of an autoconfig document, as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerSection {
    element: String,
    kind: String,
    hostname: String,
    port: String,
    socket_type: String,
    authentication: Vec<String>,
    /// `None` when the element is absent.
    username: Option<String>,
}

fn server_sections(provider: roxmltree::Node<'_, '_>) -> Vec<ServerSection> {
    provider
        .children()
        .filter(|n| n.has_tag_name("incomingServer") || n.has_tag_name("outgoingServer"))
        .map(|n| {
            let text = |name: &str| {
                n.children()
                    .find(|c| c.has_tag_name(name))
                    .map(|c| c.text().unwrap_or_default().trim().to_owned())
            };
            ServerSection {
                element: n.tag_name().name().to_owned(),
                kind: n.attribute("type").unwrap_or_default().to_owned(),
                hostname: text("hostname").unwrap_or_default(),
                port: text("port").unwrap_or_default(),
                socket_type: text("socketType").unwrap_or_default(),
                authentication: n
                    .children()
                    .filter(|c| c.has_tag_name("authentication"))
                    .map(|c| c.text().unwrap_or_default().trim().to_owned())
                    .collect(),
                username: text("username"),
            }
        })
        .collect()
}

fn socket_rank(socket_type: &str) -> u8 {
    match socket_type {
        "SSL" => 0,
        "STARTTLS" => 1,
        _ => 2,
    }
}

/// What mxconf is meant to answer for `domain`, derived from the ISPDB original. Each change
/// is a deliberate difference, with its reason:
fn expected_sections(original: &[ServerSection], domain: &str) -> Vec<ServerSection> {
    let mut expected: Vec<ServerSection> = original
        .iter()
        // Exchange/EWS/OWA/Graph sections (office365.com) are not IMAP/POP3/SMTP; mxconf's
        // Exchange story is the `activesync` URL. The `%EMAILADDRESS` typo lives only in
        // these sections, so it never reaches an mxconf answer.
        .filter(|s| matches!(s.kind.as_str(), "imap" | "pop3" | "smtp"))
        .map(|s| {
            let mut s = s.clone();
            // mxconf host names are literal (a host cannot be a template), so the importer
            // fills `%EMAILDOMAIN%` in per domain (mail.ee, tiki.ne.jp); config lower-cases.
            s.hostname = s
                .hostname
                .replace("%EMAILDOMAIN%", domain)
                .to_ascii_lowercase();
            // client-IP-address / SMTP-after-POP are not modelled: the client sends no
            // credentials, which mxconf says with `none`.
            let before = s.authentication.len();
            s.authentication
                .retain(|a| !matches!(a.as_str(), "client-IP-address" | "SMTP-after-POP"));
            if s.authentication.is_empty() && before > 0 {
                s.authentication.push("none".into());
            }
            // After OAuth2 also a password method (the renderer adds it: docs/protocols.md,
            // "Password method after OAuth2").
            let has_password = s.authentication.iter().any(|a| a.starts_with("password-"));
            if s.authentication.iter().any(|a| a == "OAuth2") && !has_password {
                s.authentication.push("password-cleartext".into());
            }
            // Always a <username>; mxconf's default is %EMAILADDRESS% (kokuyou.ne.jp's SMTP has
            // none; docs/protocols.md, "Always a username").
            s.username.get_or_insert_with(|| "%EMAILADDRESS%".into());
            s
        })
        .collect();
    // mxconf answers IMAP, then POP3, then SMTP, each kind implicit TLS first (RFC 8314;
    // docs/protocols.md, "Implicit TLS first, plain only when configured"); the sort is stable
    // so the ISPDB order holds within a rank.
    expected.sort_by_key(|s| {
        let kind = match s.kind.as_str() {
            "imap" => 0,
            "pop3" => 1,
            _ => 2,
        };
        (kind, socket_rank(&s.socket_type))
    });
    expected
}

/// Every ISPDB file: import through the CLI, load, resolve each `<domain>` at domain level,
/// render autoconfig, and compare the servers a client reads with the original's.
#[test]
fn ispdb_files_round_trip_through_autoconfig() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("ispdb"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "xml"))
        .collect();
    files.sort();
    assert!(files.len() >= 47, "ISPDB sample missing: {files:?}");
    let mut domains_checked = 0;
    for file in &files {
        let original_text = std::fs::read_to_string(file).unwrap();
        let original_doc = roxmltree::Document::parse(&original_text).unwrap();
        let original_provider = original_doc
            .root_element()
            .children()
            .find(|n| n.has_tag_name("emailProvider"))
            .unwrap();
        let original = server_sections(original_provider);
        let original_documentation = original_provider
            .children()
            .find(|n| n.has_tag_name("documentation"))
            .and_then(|n| n.attribute("url"));
        let domains: Vec<String> = original_provider
            .children()
            .filter(|n| n.has_tag_name("domain"))
            .map(|n| n.text().unwrap().trim().to_ascii_lowercase())
            .collect();

        let (_, config) = import_and_check("ispdb", file);
        let resolver = Resolver::new(Arc::new(config));
        for (index, name) in domains.iter().enumerate() {
            let account = resolver
                .resolve_domain(&Domain::parse(name).unwrap())
                .unwrap_or_else(|e| panic!("{}: {name}: {e}", file.display()));
            let rendered = mxconf::protocol::autoconfig::render(&account);
            let xml = String::from_utf8(rendered.body).unwrap();
            if index == 0 {
                validate_autoconfig(xml.as_bytes());
            }
            let doc = roxmltree::Document::parse(&xml).unwrap();
            let provider = doc.root_element().first_element_child().unwrap();
            let context = format!("{} / {name}", file.display());
            assert_eq!(
                server_sections(provider),
                expected_sections(&original, name),
                "{context}\n{xml}"
            );
            let text_of = |name: &str| {
                provider
                    .children()
                    .find(|n| n.has_tag_name(name))
                    .and_then(|n| n.text())
            };
            assert_eq!(text_of("domain"), Some(name.as_str()), "{context}");
            // The first documentation URL is kept (mxconf has one per domain).
            assert_eq!(
                provider
                    .children()
                    .find(|n| n.has_tag_name("documentation"))
                    .and_then(|n| n.attribute("url")),
                original_documentation,
                "{context}"
            );
            domains_checked += 1;
        }
    }
    // posteo.de, hotmail.com and mail.com alone list 344 domains.
    assert!(domains_checked > 500, "{domains_checked}");
}

#[test]
fn ispdb_office365_keeps_mail_servers_and_names_what_it_dropped() {
    let (text, config) = import_and_check("ispdb", &fixtures().join("ispdb/office365.com.xml"));
    let settings = domain(&config, "onmicrosoft.com");
    assert_eq!(settings.incoming.len(), 2);
    assert_eq!(
        settings.incoming[0].authentication,
        vec![AuthMethod::OAuth2]
    );
    for dropped in [
        "<oAuth2> (issuer login.microsoftonline.com)",
        "<incomingServer type=\"ews\">",
        "<incomingServer type=\"exchange\">",
        "ISPDB <pop3><leaveMessagesOnServer>true</leaveMessagesOnServer></pop3> is not carried over",
    ] {
        assert!(text.contains(dropped), "no {dropped:?} in\n{text}");
    }
}

#[test]
fn ispdb_provider_id_that_is_not_a_domain_becomes_the_first_domain() {
    // Thunderbird rejects an emailProvider id that is not a domain (docs/protocols.md,
    // "Provider id is a real domain").
    let (text, config) = import_and_check("ispdb", &fixtures().join("ispdb/oxcloud-eu.xml"));
    assert_eq!(config.provider.id, "cloudeu.xion.oxcs.net");
    assert!(text.contains("The ISPDB id \"OXCloud-EU\" is not a domain name"));
}

#[test]
fn ispdb_errors_name_file_and_line() {
    let (_dir, path) = temp_file(
        "broken.xml",
        "<?xml version=\"1.0\"?>\n<clientConfig>\n<emailProvider id=\"x.example\">\n</clientConfig>\n",
    );
    let output = import("ispdb", &path);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!("mxconf: {}:4:", path.display())),
        "{stderr}"
    );
}

/// A line break (or any control character) in a name or login would go into every answer: the
/// importer refuses it with the file and line of the element, whichever of the three it is in.
#[test]
fn ispdb_control_characters_in_names_and_logins_are_refused_with_the_line() {
    let server = "<incomingServer type=\"imap\"><hostname>imap.x.example</hostname><port>993</port>\
                  <socketType>SSL</socketType>";
    for (tag, element, line) in [
        (
            "displayName",
            "<displayName>Evil&#13;&#10;Name</displayName>".to_owned(),
            3,
        ),
        (
            "displayShortName",
            "<displayShortName>Ev&#9;il</displayShortName>".to_owned(),
            3,
        ),
        (
            "username",
            format!("{server}\n<username>%EMAILADDRESS%&#10;x</username></incomingServer>"),
            4,
        ),
    ] {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<clientConfig><emailProvider id=\"x.example\">\n<domain>x.example</domain>{element}\n\
             </emailProvider></clientConfig>\n"
        );
        let (_dir, path) = temp_file("evil.xml", &xml);
        let output = import("ispdb", &path);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{element}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "mxconf: {}:{line}: <{tag}> contains the control character U+",
                path.display()
            )),
            "{element}: {stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}

/// An automx `backend = sql` section becomes a `[backends.…]` SQL source that really runs:
/// the translated query finds the user in SQLite through bound parameters, and the address
/// can no longer rewrite the query the way automx's string interpolation let it.
#[tokio::test]
async fn automx_sql_section_becomes_a_working_sqlite_source() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("users.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    for statement in [
        "CREATE TABLE mail (mailaddr TEXT, login TEXT, displayname TEXT)",
        "INSERT INTO mail VALUES ('jane@example.org', 'jdoe', 'Jane Doe')",
        "INSERT INTO mail VALUES ('max@example.org', 'mmuster', 'Max Muster')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let conf = dir.path().join("automx.conf");
    std::fs::write(
        &conf,
        format!(
            "[automx]\nprovider = example.org\ndomains = example.org\n\n\
             [example.org]\nbackend = sql\naction = settings\nhost = sqlite:///{}\n\
             query = SELECT displayname, login FROM mail WHERE mailaddr='%s';\n\
             result_attrs = displayname, login\ndisplay_name = ${{displayname}}\n\
             imap = yes\nimap_server = imap.example.org\nimap_port = 993\nimap_encryption = ssl\n\
             imap_auth = plaintext\nimap_auth_identity = ${{login}}\n\
             smtp = yes\nsmtp_server = smtp.example.org\nsmtp_port = 465\nsmtp_encryption = ssl\n\
             smtp_auth = plaintext\nsmtp_auth_identity = ${{login}}\n",
            db.display()
        ),
    )
    .unwrap();
    let (text, config) = import_and_check("automx", &conf);
    assert!(
        text.contains(
            "query = \"SELECT displayname AS display_name, login AS login_name FROM \
             (SELECT displayname, login FROM mail WHERE mailaddr=$1) AS automx\""
        ),
        "{text}"
    );
    let resolver = Resolver::new(Arc::new(config));
    let account = resolve(&resolver, "jane@example.org").await;
    assert_eq!(account.display_name.as_deref(), Some("Jane Doe"));
    assert!(
        account
            .incoming
            .iter()
            .chain(&account.outgoing)
            .all(|s| s.username == "jdoe"),
        "{account:?}"
    );
    // automx spliced this into `mailaddr='…'` and matched every row; bound, it matches none,
    // and the static settings answer (the address itself as login).
    let account = resolve(&resolver, "x'OR'1'='1@example.org").await;
    assert_eq!(account.display_name, None);
    assert_eq!(account.incoming[0].username, "x'OR'1'='1@example.org");
}

#[test]
fn automx_ldap_and_script_sections_become_backends() {
    let (_dir, conf) = temp_file(
        "automx.conf",
        "[automx]\nprovider = example.org\ndomains = example.org, example.net\n\n\
         [example.org]\nbackend = ldap\nhost = ldaps://ldap.example.org\nbase = dc=example,dc=org\n\
         bindmethod = simple\nbinddn = cn=automx,dc=example,dc=org\nbindpw = s3cret!\n\
         filter = (&(mail=%s)(objectClass=inetOrgPerson))\nscope = one\nresult_attrs = uid, cn\n\
         display_name = ${cn}\nimap = yes\nimap_server = imap.example.org\nimap_port = 143\n\
         imap_encryption = starttls\nimap_auth = plaintext\nimap_auth_identity = ${uid}\n\n\
         [example.net]\nbackend = script\nscript = /usr/local/bin/lookup --user \"%u\" --domain %d\n\
         result_attrs = login\nimap = yes\nimap_server = imap.example.net\nimap_port = 993\n\
         imap_encryption = ssl\nimap_auth = plaintext\nimap_auth_identity = ${login}\n",
    );
    let (text, config) = import_and_check("automx", &conf);
    for expected in [
        "[backends.example-org-ldap]\ntype = \"ldap\"\nurl = \"ldaps://ldap.example.org\"\n\
         bind-dn = \"cn=automx,dc=example,dc=org\"\n\
         password-file = \"/etc/mxconf/example-org-ldap.password\"\nbase = \"dc=example,dc=org\"\n\
         filter = \"(&(mail=%EMAILADDRESS%)(objectClass=inetOrgPerson))\"\nscope = \"one\"\n\
         attributes = { display_name = \"cn\", login_name = \"uid\" }\n",
        "[backends.example-net-command]\ntype = \"command\"\n\
         command = [\"/usr/local/bin/lookup\", \"--user\", \"%EMAILLOCALPART%\", \"--domain\", \"%EMAILDOMAIN%\"]\n",
        // The script's output format differs, so it is not switched on by the import.
        "Enable it with  sources = [\"example-net-command\"]",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    // The bind password never reaches mxconf.toml.
    assert!(!text.contains("s3cret"), "{text}");
    let org = domain(&config, "example.org");
    assert_eq!(org.sources.len(), 1);
    assert!(domain(&config, "example.net").sources.is_empty());
}

/// Parsers are strict and bounded: every prefix of real files either imports into
/// a config that loads, or is refused with an error. Never a panic, never invalid output.
#[test]
fn truncated_inputs_import_cleanly_or_fail_cleanly() {
    let cases = [
        ("automx", automx_sample("automx.conf")),
        ("automx", automx_sample("automx.conf.example-complex")),
        ("ispdb", fixtures().join("ispdb/office365.com.xml")),
        ("ispdb", fixtures().join("ispdb/mx1.tiki.ne.jp.xml")),
    ];
    for (format, path) in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut cut = 0;
        while cut < text.len() {
            let prefix = &text[..cut];
            let result = match format {
                "automx" => mxconf::import::automx::import(prefix, "cut"),
                _ => mxconf::import::ispdb::import(prefix, "cut"),
            };
            if let Ok(imported) = result {
                let toml = imported.to_toml();
                if let Err(error) = Config::from_toml(&toml, ConfigSource::File("cut.toml".into()))
                {
                    panic!("{} cut at {cut}: {error}\n{toml}", path.display());
                }
            }
            cut = text.ceil_char_boundary(cut + 7);
        }
    }
}

/// An automx `backend = ldap` section against a real slapd: after the one manual step the
/// import asks for (the bind password into the named file), the translated source finds the
/// user by the filter automx used, and a wildcard in the address is escaped, not obeyed.
#[tokio::test]
async fn automx_ldap_section_becomes_a_working_ldap_source() {
    use crate::support::servers::Slapd;
    let slapd = Slapd::start(
        "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: uid=jdoe,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n\
         uid: jdoe\ncn: Jane Doe\nsn: Doe\nmail: jane@example.org\n",
    );
    let (_dir, conf) = temp_file(
        "automx.conf",
        &format!(
            "[automx]\nprovider = example.org\ndomains = example.org\n\n\
             [DEFAULT]\nhost = {}\nbase = ou=people,dc=example,dc=org\nbindmethod = simple\n\
             binddn = {}\nbindpw = {}\nfilter = (mail=%s)\nresult_attrs = uid, cn\nusetls = no\n\n\
             [example.org]\nbackend = ldap\ndisplay_name = ${{cn}}\n\
             imap = yes\nimap_server = imap.example.org\nimap_port = 993\nimap_encryption = ssl\n\
             imap_auth = plaintext\nimap_auth_identity = ${{uid}}\n\
             smtp = yes\nsmtp_server = smtp.example.org\nsmtp_port = 587\n\
             smtp_encryption = starttls\nsmtp_auth = plaintext\nsmtp_auth_identity = ${{uid}}\n",
            slapd.url(),
            Slapd::BIND_DN,
            Slapd::PASSWORD
        ),
    );
    let (text, _) = import_and_check("automx", &conf);
    assert!(!text.contains(Slapd::PASSWORD), "{text}");
    // The manual step the comment asks for.
    let text = text.replace(
        "/etc/mxconf/example-org-ldap.password",
        &slapd.password_file.display().to_string(),
    );
    let config = Config::from_toml(&text, ConfigSource::File("mxconf.toml".into())).unwrap();
    let resolver = Resolver::new(Arc::new(config));
    let account = resolve(&resolver, "jane@example.org").await;
    assert_eq!(account.display_name.as_deref(), Some("Jane Doe"), "{text}");
    assert_eq!(account.login_name(), Some("jdoe"));
    assert_eq!(account.outgoing[0].username, "jdoe");
    // automx put `*` into (mail=*@example.org) and matched any entry; escaped, it matches none.
    let account = resolve(&resolver, "*@example.org").await;
    assert_eq!(account.display_name, None);
    assert_eq!(account.login_name(), Some("*@example.org"));
}

/// The repository's development chain, as automx's sign_* options would name it.
fn dev_cert(name: &str) -> String {
    fixtures()
        .join("../../certs")
        .join(name)
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}

/// automx signed its profiles: the import carries that over to `[signing]`, and
/// `mxconf check-config` opens the same files automx signed with.
#[test]
fn automx_signing_becomes_a_signing_table() {
    let (_dir, conf) = temp_file(
        "automx.conf",
        &format!(
            "[automx]\nprovider = example.org\ndomains = example.org, example.net\n\n\
             [DEFAULT]\nsign_mobileconfig = yes\nsign_cert = {}\nsign_key = {}\nsign_more_certs = {}\n\n\
             [global]\nbackend = static\nsmtp = yes\nsmtp_server = mail.example.org\nsmtp_port = 587\n\
             smtp_encryption = starttls\nsmtp_auth = plaintext\n\n\
             [example.net]\nbackend = static\nsign_mobileconfig = no\n",
            dev_cert("signer.pem"),
            dev_cert("signer.key"),
            dev_cert("chain.pem"),
        ),
    );
    let output = import("automx", &conf);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "[signing]\ncert = \"{}\"\nkey = \"{}\"\nchain = \"{}\"\n",
            dev_cert("signer.pem"),
            dev_cert("signer.key"),
            dev_cert("chain.pem")
        )),
        "{text}"
    );
    // mxconf signs every profile; automx left example.net's unsigned, which the note says.
    assert!(
        text.contains("# automx profiles for example.net: sign_mobileconfig was off"),
        "{text}"
    );
    let (_out, path) = temp_file("mxconf.toml", &text);
    let check = check_config(&path);
    assert_success(&check);
    let stdout = String::from_utf8(check.stdout).unwrap();
    assert!(stdout.starts_with("signing: "), "{stdout}");
}

/// Signing files this machine does not have: the table is written commented out (so the
/// output still loads), and stderr says profiles will be unsigned until it is enabled.
#[test]
fn automx_signing_with_missing_files_is_commented_out_and_warned_about() {
    let (_dir, conf) = temp_file(
        "automx.conf",
        "[automx]\nprovider = example.org\ndomains = example.org\n\n\
         [global]\nbackend = static\nsign_mobileconfig = yes\nsign_cert = /nonexistent/cert.pem\n\
         sign_key = etc/automx/key.pem\nsmtp = yes\nsmtp_server = mail.example.org\n\
         smtp_port = 587\nsmtp_encryption = starttls\nsmtp_auth = plaintext\n",
    );
    let (text, config) = import_and_check("automx", &conf);
    assert!(config.signing.is_none());
    for expected in [
        "# [signing]\n# cert = \"/nonexistent/cert.pem\"\n# key = \"/etc/automx/key.pem\"\n",
        "# automx sign_key = etc/automx/key.pem was relative to automx's working directory",
        "Until [signing] is enabled, profiles are served UNSIGNED.",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    let stderr = String::from_utf8(import("automx", &conf).stderr).unwrap();
    assert!(
        stderr.contains("mxconf: warning: [signing] is commented out (")
            && stderr.contains("profiles are served unsigned until you enable it"),
        "{stderr}"
    );
    // With signing switched off, automx served unsigned profiles: said so, nothing enabled.
    let conf_text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("sign_mobileconfig = yes", "sign_mobileconfig = no");
    std::fs::write(&conf, conf_text).unwrap();
    let (text, config) = import_and_check("automx", &conf);
    assert!(config.signing.is_none());
    assert!(
        text.contains("# automx profiles for example.org: sign_mobileconfig was off"),
        "{text}"
    );
}

/// automx's LDAP `cacert` becomes `ca-file` (which mxconf reads at load), a caldav_server
/// without `caldav = yes` is named, and a MySQL lookup becomes a MySQL source (its socket
/// under sqlx's name, its password in a file).
#[test]
fn automx_cacert_caldav_and_mysql_are_carried_or_explained() {
    let (_dir, conf) = temp_file(
        "automx.conf",
        &format!(
            "[automx]\nprovider = example.org\ndomains = example.org, example.net, example.com\n\n\
             [example.org]\nbackend = ldap\nhost = ldaps://ldap.example.org\nbase = dc=example,dc=org\n\
             filter = (mail=%s)\nresult_attrs = uid\ncacert = {}\n\
             imap = yes\nimap_server = imap.example.org\nimap_port = 993\nimap_encryption = ssl\n\
             imap_auth = plaintext\nimap_auth_identity = ${{uid}}\n\
             caldav_server = https://dav.example.org/cal/\n\n\
             [example.net]\nbackend = ldap\nhost = ldaps://ldap.example.net\nbase = dc=example,dc=net\n\
             filter = (mail=%s)\nresult_attrs = uid\ncacert = /nonexistent/ca.pem\n\
             imap = yes\nimap_server = imap.example.net\nimap_port = 993\nimap_encryption = ssl\n\
             imap_auth = plaintext\nimap_auth_identity = ${{uid}}\n\n\
             [example.com]\nbackend = sql\nhost = mysql+pymysql://automx:s3cret@/mail?unix_socket=/run/mysqld/mysqld.sock&charset=utf8mb4\n\
             query = SELECT login FROM users WHERE address = '%s'\nresult_attrs = login\n\
             imap = yes\nimap_server = imap.example.com\nimap_port = 993\nimap_encryption = ssl\n\
             imap_auth = plaintext\nimap_auth_identity = ${{login}}\n",
            dev_cert("root.pem")
        ),
    );
    let (text, config) = import_and_check("automx", &conf);
    assert!(
        text.contains(&format!("ca-file = \"{}\"\n", dev_cert("root.pem"))),
        "{text}"
    );
    for expected in [
        "# automx cacert = /nonexistent/ca.pem: cannot be read here (",
        "# [example.org] caldav_server = https://dav.example.org/cal/ without caldav = yes: \
         automx did not announce it",
        "[backends.example-com-sql]\ntype = \"sql\"\n\
         url = \"mysql://automx@localhost/mail?socket=%2Frun%2Fmysqld%2Fmysqld.sock&charset=utf8mb4\"\n\
         password-file = \"/etc/mxconf/example-com-sql.password\"\n\
         query = \"SELECT login AS login_name FROM (SELECT login FROM users WHERE address = $1) AS automx\"\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        domain(&config, "example.org").services.urls[mxconf::account::UrlService::CalDav].is_none()
    );
    assert_eq!(domain(&config, "example.org").sources.len(), 1);
    assert_eq!(domain(&config, "example.com").sources.len(), 1);
    assert_eq!(config.backends.len(), 3);
}

/// An automx `cacert` naming a device or a FIFO is left out with a note, at once: before, the
/// importer read it as a certificate (without end for `/dev/zero`, blocking forever on a FIFO).
#[test]
fn automx_cacert_naming_a_device_is_left_out_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = fifo(dir.path(), "ca.pem");
    for cacert in [Path::new("/dev/zero"), &fifo] {
        let (_conf_dir, conf) = temp_file(
            "automx.conf",
            &format!(
                "[automx]\nprovider = example.org\ndomains = example.org\n\n\
                 [example.org]\nbackend = ldap\nhost = ldaps://ldap.example.org\nbase = dc=example\n\
                 filter = (mail=%s)\nresult_attrs = uid\ncacert = {}\nimap = yes\n\
                 imap_server = imap.example.org\nimap_port = 993\nimap_encryption = ssl\n\
                 imap_auth_identity = ${{uid}}\n",
                cacert.display()
            ),
        );
        let output = mxconf()
            .args(["import", "automx"])
            .arg(&conf)
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", cacert.display());
        let text = String::from_utf8(output.stdout).unwrap();
        let note = format!(
            "# automx cacert = {}: cannot be read here (not a regular file)",
            cacert.display()
        );
        assert!(text.contains(&note), "no {note:?} in\n{text}");
        assert!(!text.contains("\nca-file = "), "{text}");
    }
}

/// Values no configuration can hold (a control character, an LDAP "URL" without a host) are
/// refused with the line they came from; they never reach the output.
#[test]
fn automx_values_mxconf_cannot_hold_are_refused_with_their_line() {
    let base = "[automx]\nprovider = example.org\ndomains = example.org\n\n\
                [example.org]\nbackend = ldap\nhost = ldap://ldap.example.org\nbase = dc=example\n\
                filter = (mail=%s)\nresult_attrs = uid\nimap = yes\nimap_server = imap.example.org\n\
                imap_port = 993\nimap_encryption = ssl\nimap_auth_identity = ${uid}\n";
    for (from, to, expected) in [
        (
            "ldap://ldap.example.org",
            "ldap:username//h",
            ":7: [example.org] host: not an ldap:// or ldaps:// URL",
        ),
        (
            "base = dc=example",
            "base = dc=ex\u{1}ample",
            ":8: [example.org] base: contains the control character U+0001",
        ),
        (
            "imap_auth_identity = ${uid}",
            "imap_auth_identity = a\u{7f}b",
            ":15: [example.org] imap_auth_identity: contains the control character U+007F",
        ),
        // A tab is kept where automx's values may run over several lines (SQL, filters), but
        // a name or a login is sent as it is, and check-config refuses a tab in either.
        (
            "imap_auth_identity = ${uid}",
            "imap_auth_identity = a\tb",
            ":15: [example.org] imap_auth_identity: contains the control character U+0009",
        ),
        (
            "domains = example.org\n",
            "domains = example.org\naccount_name_short = Example\tInc.\n",
            ":4: [automx] account_name_short: contains the control character U+0009",
        ),
    ] {
        let (_dir, conf) = temp_file("automx.conf", &base.replace(from, to));
        let output = import("automx", &conf);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("{}{expected}", conf.display())),
            "{to:?}: {stderr}"
        );
    }
}

/// Every option of the real samples with a control character or a stray quote, bracket or
/// placeholder in its value: the import refuses it with a line, or writes a config that loads.
/// Never "does not validate (please report this)".
#[test]
fn hostile_values_import_cleanly_or_fail_cleanly() {
    for sample in ["automx.conf", "automx.conf.example-complex"] {
        let text = std::fs::read_to_string(automx_sample(sample)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if !line.contains('=') || line.trim_start().starts_with(['#', ';']) {
                continue;
            }
            for insert in [
                "\u{1}",
                "\"'\\",
                "]}[{",
                "%EMAILADDRESS%",
                "${x}",
                "ldap:u//h",
                "\u{202e}",
            ] {
                let mut changed = lines.clone();
                let edited = format!("{line}{insert}");
                changed[index] = &edited;
                let input = changed.join("\n");
                if let Ok(imported) = mxconf::import::automx::import(&input, "hostile") {
                    let toml = imported.to_toml();
                    if let Err(error) =
                        Config::from_toml(&toml, ConfigSource::File("hostile.toml".into()))
                    {
                        panic!("{sample} line {} + {insert:?}: {error}\n{toml}", index + 1);
                    }
                }
            }
        }
    }
}

/// The same for ISPDB files: odd text inside every element and attribute of a real file.
#[test]
fn hostile_ispdb_values_import_cleanly_or_fail_cleanly() {
    let text = std::fs::read_to_string(fixtures().join("ispdb/mx1.tiki.ne.jp.xml")).unwrap();
    for (index, line) in text.lines().enumerate() {
        for marker in ["</", "\">"] {
            let Some(at) = line.find(marker) else {
                continue;
            };
            for insert in [
                "&#x7f;",
                "\u{85}",
                "&quot;'\\",
                "%EMAILLOCALPART%",
                "\u{202e}",
            ] {
                let edited = format!("{}{insert}{}", &line[..at], &line[at..]);
                let input: Vec<&str> = text
                    .lines()
                    .enumerate()
                    .map(|(i, l)| if i == index { edited.as_str() } else { l })
                    .collect();
                if let Ok(imported) = mxconf::import::ispdb::import(&input.join("\n"), "hostile") {
                    let toml = imported.to_toml();
                    if let Err(error) =
                        Config::from_toml(&toml, ConfigSource::File("hostile.toml".into()))
                    {
                        panic!("line {} + {insert:?}: {error}\n{toml}", index + 1);
                    }
                }
            }
        }
    }
}

/// A `?` in an automx query (a literal in a string or a LIKE pattern: automx pasted values in
/// with `%s`) is what mxconf's queries keep for bound parameters, so `check-config` refuses it.
/// Before, the importer wrote it into the query and the output did not load; now the lookup is
/// left out with a comment saying why, and the rest loads.
#[test]
fn automx_queries_with_a_question_mark_are_left_out_with_the_reason() {
    let (_dir, conf) = temp_file(
        "automx.conf",
        "[automx]\nprovider = example.org\ndomains = example.org\n\n\
         [example.org]\nbackend = sql\nhost = sqlite:////var/lib/automx/users.db\n\
         query = SELECT login FROM users WHERE address = '%s' AND note <> 'why?'\n\
         result_attrs = login\n\
         imap = yes\nimap_server = imap.example.org\nimap_port = 993\nimap_encryption = ssl\n\
         imap_auth = plaintext\nimap_auth_identity = ${login}\n",
    );
    let (text, config) = import_and_check("automx", &conf);
    assert!(config.backends.is_empty(), "{text}");
    assert!(
        text.contains("which cannot carry over: its query or a column it names holds a `?`"),
        "{text}"
    );
}
