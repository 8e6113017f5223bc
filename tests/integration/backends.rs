//! Per-user backends against real servers: SQLite in a temp file, PostgreSQL, MariaDB and
//! OpenLDAP started on loopback by `support::servers`, and a command script. Covers per-user overrides,
//! unknown users, injection attempts, failure policies within the timeout, and the cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mxconf::account::{Account, EmailAddress, ServerKind};
use mxconf::backend::{self, Backend, BackendError, LookupResult};
use mxconf::config::Config;
use mxconf::resolve::{ResolveError, Resolver};
use std::sync::Arc;

use crate::support::config_from;
use crate::support::servers::{MariaDb, Postgres, Slapd};

pub(crate) const PROVIDER: &str =
    "[provider]\nid = \"example.org\"\ndisplay-name = \"Example\"\nshort-name = \"Example\"\n";

/// A domain with one IMAP and one SMTP server, consulting `sources`.
pub(crate) fn config(backends: &str, sources: &str) -> Config {
    config_from(&format!(
        "{PROVIDER}{backends}\n[domains.\"example.org\"]\nsources = [{sources}]\n\
         [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n\
         [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 465\nsecurity = \"tls\"\n"
    ))
}

fn address(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Jane looked up in `config`'s backend number `index` itself, without the resolver's policy.
async fn lookup_jane(config: &Config, index: usize) -> LookupResult {
    backend::build(&config.backends[index])
        .lookup(&address("jane@example.org"))
        .await
}

/// The provider and `backends`, with no domain consulting them.
fn backends_only(backends: &str) -> Config {
    config_from(&format!("{PROVIDER}{backends}"))
}

async fn resolve(resolver: &Resolver, email: &str) -> Result<Account, ResolveError> {
    resolver.resolve(&address(email)).await
}

/// What the domain answers without any source: the reference for "generic settings".
fn assert_generic(account: &Account, email: &str) {
    let servers: Vec<_> = account
        .incoming
        .iter()
        .chain(&account.outgoing)
        .map(|s| (s.host.as_str(), s.port, s.username.as_str()))
        .collect();
    assert_eq!(
        servers,
        [
            ("imap.example.org", 993, email),
            ("smtp.example.org", 465, email)
        ]
    );
    assert_eq!(account.display_name, None);
}

fn assert_jane(account: &Account) {
    assert_eq!(account.login_name(), Some("jdoe"));
    assert_eq!(account.incoming[0].host, "store7.example.org");
    assert_eq!(account.outgoing[0].host, "smtp.example.org");
    assert_eq!(account.outgoing[0].username, "jdoe");
    assert_eq!(account.display_name.as_deref(), Some("Jane Doe"));
}

/// NULL columns change nothing; an integer column is a port.
fn assert_max(max: &Account) {
    assert_eq!(max.login_name(), Some("mmuster"));
    assert_eq!(max.display_name, None);
    assert_eq!(
        (max.incoming[0].host.as_str(), max.incoming[0].port),
        ("imap.example.org", 10993)
    );
}

/// With the source down, each address fails with the policy, all within 5 s together.
async fn assert_unavailable_quickly(asked: &[(&Resolver, &str)]) {
    let started = Instant::now();
    for (resolver, address) in asked {
        assert_eq!(
            resolve(resolver, address).await,
            Err(ResolveError::BackendUnavailable),
            "{address}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

pub(crate) const USERS_SQL: &str = "CREATE TABLE users (local TEXT NOT NULL, domain TEXT NOT NULL, \
     login TEXT, full_name TEXT, mailhost TEXT, imap_port INTEGER);\n\
     INSERT INTO users VALUES ('jane', 'example.org', 'jdoe', 'Jane Doe', 'store7.example.org', NULL);\n\
     INSERT INTO users VALUES ('max', 'example.org', 'mmuster', NULL, NULL, 10993);\n";

/// Selects by local part and domain: a query that splicing `x'or'1'='1` into would open up.
pub(crate) const USERS_QUERY: &str = "SELECT login AS login_name, full_name AS display_name, mailhost AS imap_host, \
     imap_port FROM users WHERE local = $2 AND domain = $3";

/// Escaped or bound, every [`HOSTILE`] address finds nothing: spliced in, each would match.
async fn assert_hostile_find_nothing(backend: &dyn Backend) {
    for hostile in HOSTILE {
        assert_eq!(
            backend.lookup(&address(hostile)).await,
            Ok(None),
            "{hostile}"
        );
    }
}

/// ... so the domain's generic settings answer every [`HOSTILE`] address.
async fn assert_hostile_get_generic(resolver: &Resolver) {
    for hostile in HOSTILE {
        assert_generic(
            &resolve(resolver, hostile).await.unwrap(),
            &address(hostile).to_string(),
        );
    }
}

/// A source that is down (or hangs) makes `email` unavailable, and says so within `limit`.
async fn assert_unavailable_within(resolver: &Resolver, email: &str, limit: Duration) {
    let started = Instant::now();
    assert_eq!(
        resolve(resolver, email).await,
        Err(ResolveError::BackendUnavailable)
    );
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());
}

/// Local parts that `EmailAddress::parse` accepts and that would change the meaning of a
/// query, a filter or a shell command if spliced in.
const HOSTILE: [&str; 8] = [
    "x'or'1'='1@example.org",
    "'--@example.org",
    "*@example.org",
    "j*@example.org",
    "*|*@example.org",
    "$HOME@example.org",
    "`reboot`@example.org",
    "a/b&c=d@example.org",
];

#[test]
fn hostile_addresses_that_never_reach_a_backend() {
    for text in [
        "' OR 1=1 --@example.org",
        "*)(uid=*@example.org",
        "$(reboot)@example.org",
        "../etc/passwd@example.org",
        "jane@example.org' --",
    ] {
        assert!(EmailAddress::parse(text).is_err(), "{text} parsed");
    }
}

/// Runs `sql` in a new SQLite file at `path` (its directories are created).
pub(crate) async fn sqlite_at(path: &Path, sql: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn sqlite_file(dir: &Path) -> String {
    let path = dir.join("users.sqlite");
    sqlite_at(&path, USERS_SQL).await;
    // A path that needs encoding in a sqlite:// URL.
    let odd = dir.join("mail db #1 100%?");
    std::fs::create_dir(&odd).unwrap();
    let moved = odd.join("users.sqlite");
    std::fs::rename(&path, &moved).unwrap();
    moved.display().to_string()
}

#[tokio::test]
async fn sqlite_overrides_known_users_and_leaves_others_generic() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_file(dir.path()).await;
    let config = config(
        &format!(
            "[backends.users]\ntype = \"sql\"\npath = \"{path}\"\nquery = \"{USERS_QUERY}\"\n"
        ),
        "\"users\"",
    );
    let backend = backend::build(&config.backends[0]);
    let resolver = Resolver::new(Arc::new(config));
    assert_jane(&resolve(&resolver, "jane@example.org").await.unwrap());
    assert_max(&resolve(&resolver, "max@example.org").await.unwrap());
    assert_generic(
        &resolve(&resolver, "nobody@example.org").await.unwrap(),
        "nobody@example.org",
    );
    assert_hostile_find_nothing(backend.as_ref()).await;
    assert_hostile_get_generic(&resolver).await;
}

/// A config in `etc/mxconf/` naming its database `../../var/lib/…`, loaded by the binary with
/// a relative `--config`: the `..` segments count (they were once dropped, and the lookup
/// silently opened `etc/mxconf/var/lib/…`).
#[tokio::test]
async fn sqlite_path_with_dot_dot_from_a_relative_config_path() {
    let root = tempfile::tempdir().unwrap();
    sqlite_at(&root.path().join("var/lib/mxconf/users.sqlite"), USERS_SQL).await;
    let text = format!(
        "{PROVIDER}[backends.users]\ntype = \"sql\"\npath = \"../../var/lib/mxconf/users.sqlite\"\n\
         query = \"{USERS_QUERY}\"\non-failure = \"fail\"\n\
         [domains.\"example.org\"]\nsources = [\"users\"]\n\
         [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n"
    );
    std::fs::create_dir_all(root.path().join("etc/mxconf")).unwrap();
    std::fs::write(root.path().join("etc/mxconf/mxconf.toml"), text).unwrap();
    let output = crate::support::cli::mxconf()
        .current_dir(root.path())
        .args(["render", "autoconfig", "jane@example.org", "--config"])
        .arg("etc/mxconf/mxconf.toml")
        .output()
        .unwrap();
    crate::support::cli::assert_success(&output);
    let body = String::from_utf8(output.stdout).unwrap();
    assert!(body.contains("<username>jdoe</username>"), "{body}");
    assert!(!root.path().join("etc/mxconf/var").exists());
}

/// `render` with a source that cannot answer still prints the static answer, and says on
/// stderr which source failed and that the static settings stood in for it (it once fell back
/// without a word).
#[test]
fn render_names_the_failing_source_and_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{PROVIDER}[backends.users]\ntype = \"sql\"\npath = \"missing.sqlite\"\n\
         query = \"{USERS_QUERY}\"\n\
         [domains.\"example.org\"]\nsources = [\"users\"]\n\
         [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n"
    );
    let config = dir.path().join("mxconf.toml");
    std::fs::write(&config, text).unwrap();
    let output = crate::support::cli::mxconf()
        .env_remove("RUST_LOG")
        .args(["render", "autoconfig", "jane@example.org", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    crate::support::cli::assert_success(&output);
    let body = String::from_utf8(output.stdout).unwrap();
    assert!(
        body.contains("<username>jane@example.org</username>"),
        "{body}"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("backend=users"), "{stderr}");
    assert!(stderr.contains("missing.sqlite"), "{stderr}");
    assert!(
        stderr.contains("answering with the static settings"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "no colour off a terminal: {stderr}"
    );
}

/// `..` is taken in the text of the path, not after following a symlinked directory: with
/// `link -> real/conf`, `link/../users.sqlite` is the `users.sqlite` beside `link`. Each
/// candidate file knows a different login for jane, so the answer names the file opened.
#[tokio::test]
async fn relative_paths_are_resolved_lexically_from_the_config_path_as_given() {
    let root = tempfile::tempdir().unwrap();
    let beside_link =
        "INSERT INTO users VALUES ('jane', 'example.org', 'beside-link', NULL, NULL, NULL);";
    let beside_target =
        "INSERT INTO users VALUES ('jane', 'example.org', 'beside-target', NULL, NULL, NULL);";
    let table = USERS_SQL.lines().next().unwrap();
    sqlite_at(
        &root.path().join("users.sqlite"),
        &format!("{table}\n{beside_link}"),
    )
    .await;
    sqlite_at(
        &root.path().join("real/users.sqlite"),
        &format!("{table}\n{beside_target}"),
    )
    .await;
    std::fs::create_dir_all(root.path().join("real/conf")).unwrap();
    std::os::unix::fs::symlink(root.path().join("real/conf"), root.path().join("link")).unwrap();
    let text = format!(
        "{PROVIDER}[backends.users]\ntype = \"sql\"\npath = \"./../users.sqlite\"\n\
         query = \"{USERS_QUERY}\"\non-failure = \"fail\"\n\
         [domains.\"example.org\"]\nsources = [\"users\"]\n\
         [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n"
    );
    std::fs::write(root.path().join("real/conf/mxconf.toml"), text).unwrap();
    let config = Config::load(&root.path().join("link/mxconf.toml")).unwrap();
    let resolver = Resolver::new(Arc::new(config));
    let jane = resolve(&resolver, "jane@example.org").await.unwrap();
    assert_eq!(jane.login_name(), Some("beside-link"));
}

/// Mixed-case addresses find the lower-case row (SQL compares case-sensitively), and the
/// command gets the same normal form; `local-part = "exact"` passes the address as typed.
#[tokio::test]
async fn sqlite_and_command_sources_look_up_the_lower_cased_local_part() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_file(dir.path()).await;
    let program = script(dir.path());
    let backends = |local_part: &str| {
        format!(
            "[backends.users]\ntype = \"sql\"\npath = \"{path}\"\nquery = \"{USERS_QUERY}\"\n{local_part}\n\
             [backends.run]\ntype = \"command\"\ncommand = [\"{program}\", \"%EMAILADDRESS%\"]\n{local_part}\n"
        )
    };
    for source in ["\"users\"", "\"run\""] {
        let folded = Resolver::new(Arc::new(config(&backends(""), source)));
        for email in ["Jane@example.org", "JANE@Example.ORG"] {
            let account = resolve(&folded, email).await.unwrap();
            assert_jane(&account);
            // The answer keeps the address as typed: only the lookup is normalised.
            assert_eq!(account.email.as_ref().unwrap().local_part(), &email[..4]);
        }
        let exact = Resolver::new(Arc::new(config(
            &backends("local-part = \"exact\""),
            source,
        )));
        let typed = resolve(&exact, "Jane@example.org").await.unwrap();
        assert_ne!(typed.login_name(), Some("jdoe"), "{source}");
        assert_jane(&resolve(&exact, "jane@example.org").await.unwrap());
    }
    // The script echoes what it was given: the exact form reaches it unchanged.
    let exact = Resolver::new(Arc::new(config(
        &backends("local-part = \"exact\""),
        "\"run\"",
    )));
    let typed = resolve(&exact, "Max@example.org").await.unwrap();
    assert_eq!(typed.display_name.as_deref(), Some("Max@example.org"));
    let folded = Resolver::new(Arc::new(config(&backends(""), "\"run\"")));
    let lowered = resolve(&folded, "Max@example.org").await.unwrap();
    assert_eq!(lowered.display_name.as_deref(), Some("max@example.org"));
}

#[tokio::test]
async fn sqlite_missing_file_or_bad_columns_follow_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_file(dir.path()).await;
    let missing = dir.path().join("missing.sqlite");
    let config = config(
        &format!(
            "[backends.gone]\ntype = \"sql\"\npath = \"{}\"\nquery = \"SELECT 'x' AS login_name\"\non-failure = \"fail\"\n\
             [backends.typo]\ntype = \"sql\"\npath = \"{path}\"\nquery = \"SELECT login AS loginname FROM users WHERE local = $2\"\n",
            missing.display()
        ),
        "\"typo\", \"gone\"",
    );
    // The misspelt column is bad output; the typo source is "static", so the next source runs.
    let typo = backend::build(&config.backends[1]);
    assert!(matches!(
        typo.lookup(&address("jane@example.org")).await,
        Err(BackendError::BadOutput(_))
    ));
    let resolver = Resolver::new(Arc::new(config));
    assert_eq!(
        resolve(&resolver, "jane@example.org").await,
        Err(ResolveError::BackendUnavailable)
    );
    assert!(
        !missing.exists(),
        "the database is opened read-only, never created"
    );
}

#[tokio::test]
async fn postgres_lookups_policy_and_cache() {
    let mut postgres = Postgres::start(USERS_SQL);
    let backends = |ttl: &str| {
        format!(
            "[backends.pg]\ntype = \"sql\"\nurl = \"{}\"\npassword-file = \"{}\"\nquery = \"{USERS_QUERY}\"\n\
             timeout = \"2s\"\ncache-ttl = \"{ttl}\"\nnegative-cache-ttl = \"1h\"\non-failure = \"fail\"\n",
            postgres.url(),
            postgres.password_file.display()
        )
    };
    let cached = Resolver::new(Arc::new(config(&backends("1h"), "\"pg\"")));
    let uncached_config = config(&backends("0s"), "\"pg\"");
    let backend = backend::build(&uncached_config.backends[0]);
    let uncached = Resolver::new(Arc::new(uncached_config));

    assert_jane(&resolve(&cached, "jane@example.org").await.unwrap());
    assert_jane(&resolve(&uncached, "jane@example.org").await.unwrap());
    assert_jane(&resolve(&uncached, "JANE@example.org").await.unwrap());
    assert_generic(
        &resolve(&cached, "bob@example.org").await.unwrap(),
        "bob@example.org",
    );
    assert_hostile_find_nothing(backend.as_ref()).await;

    // A negative answer is cached too: bob stays generic after being added.
    postgres.psql("INSERT INTO users VALUES ('bob', 'example.org', 'bobby', NULL, NULL, NULL)");
    assert_generic(
        &resolve(&cached, "bob@example.org").await.unwrap(),
        "bob@example.org",
    );
    assert_eq!(
        resolve(&uncached, "bob@example.org")
            .await
            .unwrap()
            .login_name(),
        Some("bobby")
    );

    // Database down: cached answers are still served, the rest fail fast with the policy.
    postgres.stop();
    assert_jane(&resolve(&cached, "jane@example.org").await.unwrap());
    // One cache entry per normal form: Jane@ is jane@'s cached answer.
    assert_jane(&resolve(&cached, "Jane@example.org").await.unwrap());
    assert_unavailable_quickly(&[
        (&uncached, "jane@example.org"),
        (&cached, "max@example.org"),
    ])
    .await;

    // Back up: the pool reconnects by itself.
    postgres.start_again();
    assert_jane(&resolve(&uncached, "jane@example.org").await.unwrap());
}

#[tokio::test]
async fn postgres_wrong_password_never_appears_in_errors() {
    let postgres = Postgres::start("SELECT 1");
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password-XYZZY\n").unwrap();
    let config = config(
        &format!(
            "[backends.pg]\ntype = \"sql\"\nurl = \"{}\"\npassword-file = \"{}\"\nquery = \"SELECT 1 AS imap_port\"\n\
             [backends.env]\ntype = \"sql\"\nurl = \"{}\"\npassword-env = \"MXCONF_TEST_SURELY_UNSET\"\nquery = \"SELECT 1 AS imap_port\"\n\
             [backends.ssl]\ntype = \"sql\"\nurl = \"{}?sslmode=require\"\nquery = \"SELECT 1 AS imap_port\"\n\
             [backends.unix]\ntype = \"sql\"\nurl = \"postgres:///postgres?host={}&user=mxconf&port={}\"\n\
             password-file = \"{}\"\nquery = \"SELECT 1 AS imap_port\"\n",
            postgres.url(),
            wrong.display(),
            postgres.url(),
            postgres.url(),
            postgres.socket_dir().display(),
            postgres.port,
            postgres.password_file.display(),
        ),
        "\"pg\"",
    );
    let error = lookup_jane(&config, 1).await.unwrap_err();
    assert!(
        error.to_string().contains("28P01"),
        "not an authentication failure: {error}"
    );
    assert!(!error.to_string().contains("XYZZY"), "{error}");
    let error = lookup_jane(&config, 0).await.unwrap_err();
    assert!(
        error.to_string().contains("MXCONF_TEST_SURELY_UNSET"),
        "{error}"
    );
    // sslmode=require against a server without TLS: refused, not silently in clear text.
    let error = lookup_jane(&config, 2).await.unwrap_err();
    assert!(matches!(error, BackendError::Unavailable(_)), "{error}");
    assert!(error.to_string().to_lowercase().contains("tls"), "{error}");
    // The Unix socket form, with the password from the file.
    let patch = lookup_jane(&config, 3).await.unwrap().unwrap();
    assert_eq!(patch.servers[ServerKind::Imap].port, Some(1));
    // The policy defaults to "static": the domain's own settings answer.
    let resolver = Resolver::new(Arc::new(config));
    assert_generic(
        &resolve(&resolver, "jane@example.org").await.unwrap(),
        "jane@example.org",
    );
}

/// The users table in MariaDB (`local` is a reserved word there).
pub(crate) const MARIADB_USERS_SQL: &str = "CREATE TABLE users (local_part VARCHAR(64) NOT NULL, \
     domain VARCHAR(255) NOT NULL, login TEXT, full_name TEXT, mailhost TEXT, imap_port INTEGER);\n\
     INSERT INTO users VALUES ('jane', 'example.org', 'jdoe', 'Jane Doe', 'store7.example.org', NULL);\n\
     INSERT INTO users VALUES ('max', 'example.org', 'mmuster', NULL, NULL, 10993);\n";

/// All three parameters, out of order and one twice: each `$N` becomes a `?` bound to its value.
const MARIADB_USERS_QUERY: &str = "SELECT login AS login_name, full_name AS display_name, \
     mailhost AS imap_host, imap_port FROM users WHERE domain = $3 AND local_part = $2 \
     AND CONCAT(local_part, '@', domain) = $1 AND '$2' <> $2";

#[tokio::test]
async fn mariadb_overrides_injection_and_policy() {
    let mut mariadb = MariaDb::start(MARIADB_USERS_SQL);
    let config = config(
        &format!(
            "[backends.my]\ntype = \"sql\"\nurl = \"{}\"\npassword-file = \"{}\"\nquery = \"{MARIADB_USERS_QUERY}\"\n\
             timeout = \"2s\"\ncache-ttl = \"0s\"\non-failure = \"fail\"\n",
            mariadb.url(),
            mariadb.password_file.display()
        ),
        "\"my\"",
    );
    let backend = backend::build(&config.backends[0]);
    let resolver = Resolver::new(Arc::new(config));
    assert_jane(&resolve(&resolver, "jane@example.org").await.unwrap());
    assert_jane(&resolve(&resolver, "JANE@example.org").await.unwrap());
    assert_max(&resolve(&resolver, "max@example.org").await.unwrap());
    assert_generic(
        &resolve(&resolver, "bob@example.org").await.unwrap(),
        "bob@example.org",
    );
    assert_hostile_find_nothing(backend.as_ref()).await;
    assert_hostile_get_generic(&resolver).await;

    // Server gone: the policy answers within the timeout; back up, the pool reconnects.
    mariadb.stop();
    assert_unavailable_quickly(&[(&resolver, "jane@example.org")]).await;
    mariadb.start_again();
    assert_jane(&resolve(&resolver, "jane@example.org").await.unwrap());
}

#[tokio::test]
async fn mariadb_verifies_tls_and_never_shows_the_password() {
    let mariadb = MariaDb::start("SELECT 1");
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password-XYZZY\n").unwrap();
    let query = "query = \"SELECT 1 AS imap_port\"\n";
    let password = mariadb.password_file.display();
    let url = mariadb.url();
    let config = backends_only(&format!(
        "[backends.a-wrong]\ntype = \"sql\"\nurl = \"{url}\"\npassword-file = \"{}\"\n{query}\
         [backends.b-untrusted]\ntype = \"sql\"\nurl = \"{url}?ssl-mode=VERIFY_IDENTITY\"\npassword-file = \"{password}\"\n{query}\
         [backends.c-trusted]\ntype = \"sql\"\nurl = \"{url}?ssl-mode=VERIFY_IDENTITY&ssl-ca={}\"\npassword-file = \"{password}\"\n{query}\
         [backends.d-socket]\ntype = \"sql\"\nurl = \"mariadb://mxconf@localhost/mail?socket={}\"\npassword-file = \"{password}\"\n{query}",
        wrong.display(),
        mariadb.certificate().display(),
        mariadb.socket().display(),
    ));
    // Access denied (SQLSTATE 28000), the password it tried nowhere in the text.
    let error = lookup_jane(&config, 0).await.unwrap_err();
    assert!(error.to_string().contains("28000"), "{error}");
    assert!(!error.to_string().contains("XYZZY"), "{error}");
    // A certificate no trust store knows is refused, not used unverified ...
    let error = lookup_jane(&config, 1).await.unwrap_err();
    assert!(matches!(error, BackendError::Unavailable(_)), "{error}");
    // ... and accepted once its CA is given.
    for index in [2, 3] {
        let patch = lookup_jane(&config, index).await.unwrap().unwrap();
        assert_eq!(patch.servers[ServerKind::Imap].port, Some(1), "{index}");
    }
}

pub(crate) const LDIF: &str = "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n\
dn: uid=jdoe,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nobjectClass: inetLocalMailRecipient\n\
uid: jdoe\ncn: Jane Doe\nsn: Doe\nmail: jane@example.org\nmailHost: store7.example.org\n\n\
dn: uid=jane2,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: jane2\ncn: Jane Two\nsn: Two\nmail: jane2@example.org\n";

pub(crate) fn ldap_backend(slapd: &Slapd, filter: &str, extra: &str) -> String {
    format!(
        "[backends.dir]\ntype = \"ldap\"\nurl = \"{}\"\nstarttls = false\nbind-dn = \"{}\"\npassword-file = \"{}\"\n\
         base = \"ou=people,dc=example,dc=org\"\nfilter = \"{filter}\"\n{extra}\n\
         [backends.dir.attributes]\nlogin_name = \"uid\"\ndisplay_name = \"cn\"\nimap_host = \"mailHost\"\n",
        slapd.url(),
        Slapd::BIND_DN,
        slapd.password_file.display()
    )
}

#[tokio::test]
async fn ldap_overrides_escapes_and_fails_by_policy() {
    let mut slapd = Slapd::start(LDIF);
    let config = config(
        &ldap_backend(
            &slapd,
            "(mail=%EMAILADDRESS%)",
            "on-failure = \"fail\"\ncache-ttl = \"0s\"",
        ),
        "\"dir\"",
    );
    let by_uid = backends_only(&ldap_backend(
        &slapd,
        "(&(objectClass=inetOrgPerson)(|(uid=%EMAILLOCALPART%)(cn=%EMAILLOCALPART%)))",
        "",
    ));
    let resolver = Resolver::new(Arc::new(config));
    assert_jane(&resolve(&resolver, "jane@example.org").await.unwrap());
    // An entry without mailHost changes only what it has.
    let two = resolve(&resolver, "jane2@example.org").await.unwrap();
    assert_eq!(
        (two.login_name(), two.incoming[0].host.as_str()),
        (Some("jane2"), "imap.example.org")
    );
    assert_generic(
        &resolve(&resolver, "nobody@example.org").await.unwrap(),
        "nobody@example.org",
    );

    // Escaped, `*` is a literal star: no entry, where unescaped it would match everyone (or jdoe).
    let backend = backend::build(&by_uid.backends[0]);
    assert!(
        backend
            .lookup(&address("jdoe@example.org"))
            .await
            .unwrap()
            .is_some()
    );
    assert_hostile_find_nothing(backend.as_ref()).await;
    assert_hostile_get_generic(&resolver).await;

    // A filter that matches several entries is refused, not answered with the first one.
    let wide = backends_only(&ldap_backend(
        &slapd,
        "(|(mail=%EMAILADDRESS%)(objectClass=*))",
        "",
    ));
    assert!(matches!(
        lookup_jane(&wide, 0).await,
        Err(BackendError::BadOutput(_))
    ));

    // A hanging server (stopped, connections open) answers by policy within the timeout.
    let slow = Resolver::new(Arc::new(crate::backends::config(
        &ldap_backend(
            &slapd,
            "(mail=%EMAILADDRESS%)",
            "timeout = \"700ms\"\ncache-ttl = \"0s\"\non-failure = \"fail\"",
        ),
        "\"dir\"",
    )));
    assert_eq!(
        resolve(&slow, "jane@example.org")
            .await
            .unwrap()
            .login_name(),
        Some("jdoe")
    );
    slapd.signal("-STOP");
    assert_unavailable_within(&slow, "jane@example.org", Duration::from_secs(2)).await;
    slapd.signal("-CONT");
    assert_eq!(
        resolve(&slow, "jane@example.org")
            .await
            .unwrap()
            .login_name(),
        Some("jdoe")
    );

    // Cached under the normal form: with the directory gone, Jane@ is jane@'s cached answer.
    let cached = Resolver::new(Arc::new(crate::backends::config(
        &ldap_backend(&slapd, "(mail=%EMAILADDRESS%)", "on-failure = \"fail\""),
        "\"dir\"",
    )));
    assert_jane(&resolve(&cached, "jane@example.org").await.unwrap());

    slapd.stop();
    assert_jane(&resolve(&cached, "Jane@EXAMPLE.org").await.unwrap());
    assert_unavailable_within(&resolver, "jane@example.org", Duration::from_secs(4)).await;
    slapd.start_again();
    assert_jane(&resolve(&resolver, "jane@example.org").await.unwrap());
}

#[tokio::test]
async fn ldap_wrong_bind_password_is_unavailable() {
    let slapd = Slapd::start(LDIF);
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "XYZZY").unwrap();
    let text = ldap_backend(&slapd, "(mail=%EMAILADDRESS%)", "").replace(
        &slapd.password_file.display().to_string(),
        &wrong.display().to_string(),
    );
    let config = backends_only(&text);
    let error = lookup_jane(&config, 0).await.unwrap_err();
    assert!(matches!(error, BackendError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains("bind as cn=admin"), "{error}");
    assert!(!error.to_string().contains("XYZZY"), "{error}");
}

/// Verification is on: an unknown certificate fails both ldaps:// and StartTLS; with that
/// certificate's CA given as `ca-file`, both succeed.
#[tokio::test]
async fn ldap_tls_verifies_certificates_and_trusts_a_given_ca() {
    let slapd = Slapd::start_tls(LDIF);
    let tls_port = slapd.tls_port.unwrap();
    let ca_file = format!("ca-file = \"{}\"", slapd.certificate().display());
    for url in [format!("ldaps://127.0.0.1:{tls_port}"), slapd.url()] {
        let backend = |extra: &str| {
            ldap_backend(&slapd, "(mail=%EMAILADDRESS%)", extra)
                .replace(&slapd.url(), &url)
                .replace("starttls = false\n", "")
        };
        let error = lookup_jane(&backends_only(&backend("")), 0)
            .await
            .unwrap_err();
        assert!(
            matches!(error, BackendError::Unavailable(_)),
            "{url}: {error}"
        );
        assert!(error.to_string().contains("certificate"), "{url}: {error}");

        let patch = lookup_jane(&backends_only(&backend(&ca_file)), 0)
            .await
            .unwrap_or_else(|error| panic!("{url} with {ca_file}: {error}"))
            .unwrap();
        assert_eq!(patch.login_name.as_deref(), Some("jdoe"), "{url}");
    }
}

const SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  jane@example.org) echo '{"login_name": "jdoe", "display_name": "Jane Doe", "imap_host": "store7.example.org"}' ;;
  slow@example.org) exec sleep 30 ;;
  garbage@example.org) echo 'Traceback (most recent call last):' ;;
  unknownfield@example.org) echo '{"mailhost": "x.example.org"}' ;;
  fail@example.org) exit 3 ;;
  big@example.org) exec head -c 1000000 /dev/zero ;;
  *@example.org) printf '{"display_name": "%s", "login_name": "args=%s home=%s"}\n' "$1" "$#" "$HOME" ;;
  *) echo null ;;
esac
"#;

/// `"/bin/sh", "SCRIPT"`: the test script is read by sh, not exec'd, because exec'ing a file
/// just written races with forks in other test threads (ETXTBSY).
pub(crate) fn script(dir: &Path) -> String {
    let path = dir.join("lookup.sh");
    std::fs::write(&path, SCRIPT).unwrap();
    format!("/bin/sh\", \"{}", path.display())
}

#[tokio::test]
async fn command_overrides_and_takes_the_address_literally() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &format!(
            "[backends.run]\ntype = \"command\"\ncommand = [\"{}\", \"%EMAILADDRESS%\"]\n\
             local-part = \"exact\"\n",
            script(dir.path())
        ),
        "\"run\"",
    );
    let resolver = Resolver::new(Arc::new(config));
    assert_jane(&resolve(&resolver, "jane@example.org").await.unwrap());
    // One argv entry, no shell: `$HOME` and backquotes arrive as typed (`exact`: not even
    // lower-cased), the environment is empty.
    for hostile in HOSTILE {
        let account = resolve(&resolver, hostile).await.unwrap();
        assert_eq!(
            account.display_name.as_deref(),
            Some(address(hostile).as_str())
        );
        assert_eq!(account.login_name(), Some("args=1 home="));
    }
}

#[tokio::test]
async fn command_failures_follow_the_policy_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path());
    let backends = format!(
        "[backends.strict]\ntype = \"command\"\ncommand = [\"{program}\", \"%EMAILADDRESS%\"]\ntimeout = \"500ms\"\n\
         max-output = 4096\non-failure = \"fail\"\n\
         [backends.lenient]\ntype = \"command\"\ncommand = [\"{program}\", \"%EMAILADDRESS%\"]\ntimeout = \"500ms\"\n\
         max-output = 4096\n\
         [backends.missing]\ntype = \"command\"\ncommand = [\"{}/nonexistent\"]\n",
        dir.path().display()
    );
    let strict = Resolver::new(Arc::new(config(&backends, "\"strict\"")));
    let lenient = Resolver::new(Arc::new(config(&backends, "\"lenient\"")));
    let direct = config(&backends, "");
    let direct = backend::build(&direct.backends[2]);
    let missing = backend::build(&config(&backends, "").backends[1]);
    assert!(matches!(
        missing.lookup(&address("jane@example.org")).await,
        Err(BackendError::Unavailable(_))
    ));
    assert!(matches!(
        direct.lookup(&address("big@example.org")).await,
        Err(BackendError::BadOutput(_))
    ));
    assert!(matches!(
        direct.lookup(&address("fail@example.org")).await,
        Err(BackendError::Failed(_))
    ));
    assert!(matches!(
        direct.lookup(&address("unknownfield@example.org")).await,
        Err(BackendError::BadOutput(_))
    ));
    for email in [
        "slow@example.org",
        "garbage@example.org",
        "fail@example.org",
        "big@example.org",
        "unknownfield@example.org",
    ] {
        let started = Instant::now();
        assert_eq!(
            resolve(&strict, email).await,
            Err(ResolveError::BackendUnavailable),
            "{email}"
        );
        assert_generic(&resolve(&lenient, email).await.unwrap(), email);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{email}: {:?}",
            started.elapsed()
        );
    }
}

/// Over HTTP: a per-user override reaches the client's XML, and a source set to fail answers a
/// short fixed 503 on every endpoint that takes an address: never a 500, never the error text.
#[tokio::test]
async fn server_answers_overrides_and_503_with_a_fixed_body() {
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path());
    let server = crate::support::TestServer::start(config(
        &format!(
            "[backends.run]\ntype = \"command\"\ncommand = [\"{program}\", \"%EMAILADDRESS%\"]\n\
             timeout = \"500ms\"\non-failure = \"fail\"\n"
        ),
        "\"run\"",
    ))
    .await;
    let client = reqwest::Client::new();
    let autoconfig =
        |email: &str| server.url(&format!("/mail/config-v1.1.xml?emailaddress={email}"));

    let ok = client
        .get(autoconfig("jane@example.org"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body = ok.text().await.unwrap();
    assert!(
        body.contains("<hostname>store7.example.org</hostname>"),
        "{body}"
    );
    assert!(body.contains("<username>jdoe</username>"), "{body}");

    let pox = |email: &str| {
        format!(
            "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
             <Request><EMailAddress>{email}</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"
        )
    };
    for email in [
        "garbage@example.org",
        "slow@example.org",
        "fail@example.org",
    ] {
        let responses = [
            client.get(autoconfig(email)).send().await.unwrap(),
            client
                .post(server.url("/autodiscover/autodiscover.xml"))
                .header("content-type", "text/xml")
                .body(pox(email))
                .send()
                .await
                .unwrap(),
            client
                .get(server.url(&format!(
                    "/autodiscover/autodiscover.json/v1.0/{email}?Protocol=ActiveSync"
                )))
                .send()
                .await
                .unwrap(),
        ];
        for response in responses {
            assert_eq!(response.status(), 503, "{email}");
            assert_eq!(
                response.text().await.unwrap(),
                "settings are temporarily unavailable\n"
            );
        }
        let profile = client
            .get(server.url(&format!("/mobileconfig?emailaddress={email}")))
            .send()
            .await
            .unwrap();
        assert_eq!(profile.status(), 503, "{email}");
        assert_eq!(
            profile.text().await.unwrap(),
            "settings are temporarily unavailable; please try again later\n"
        );
    }
}

/// A lookup script that leaves a child behind: `sleep 30` in the background, its pid in
/// `$2`, then either hangs (the lookup times out) or answers at once.
const SCRIPT_WITH_CHILD: &str = r#"#!/bin/sh
sleep 30 >/dev/null 2>&1 &
echo $! > "$2"
case "$1" in
  hang@example.org) sleep 30 ;;
  *) echo '{"login_name": "done"}' ;;
esac
"#;

/// Alive means in the process table and not a zombie waiting to be reaped.
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

#[tokio::test]
async fn a_commands_children_do_not_outlive_the_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spawns.sh");
    std::fs::write(&path, SCRIPT_WITH_CHILD).unwrap();
    let pid_file = dir.path().join("child.pid");
    let config = config(
        &format!(
            "[backends.run]\ntype = \"command\"\ncommand = [\"/bin/sh\", \"{}\", \"%EMAILADDRESS%\", \"{}\"]\n",
            path.display(),
            pid_file.display()
        ),
        "",
    );
    let source = backend::build(&config.backends[0]);
    for (email, finishes) in [("hang@example.org", false), ("quick@example.org", true)] {
        let _ = std::fs::remove_file(&pid_file);
        // What the resolver does on timeout: drop the lookup's future.
        let email_address = address(email);
        let lookup =
            tokio::time::timeout(Duration::from_millis(700), source.lookup(&email_address));
        assert_eq!(lookup.await.is_ok(), finishes, "{email}");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let pid = pid.trim();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await; // polling the process table
        }
        assert!(
            !alive(pid),
            "{email}: the script's child {pid} outlived the lookup"
        );
    }
}

/// `/readyz` is 503 naming a source while it fails and `ready` once it answers again;
/// `/healthz` stays `ok` throughout (liveness, not readiness).
#[tokio::test]
async fn readyz_names_a_failing_source_while_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("lookup.sh");
    std::fs::write(&program, SCRIPT).unwrap();
    let server = crate::support::TestServer::start(config(
        &format!(
            "[backends.run]\ntype = \"command\"\ncommand = [\"/bin/sh\", \"{}\", \"%EMAILADDRESS%\"]\n\
             cache-ttl = \"0s\"\n",
            program.display()
        ),
        "\"run\"",
    ))
    .await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(server.url(path)).send();
    let autoconfig = "/mail/config-v1.1.xml?emailaddress=jane@example.org";

    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready\n");

    std::fs::remove_file(&program).unwrap();
    assert_eq!(
        get(autoconfig).await.unwrap().status(),
        200,
        "on-failure = static"
    );
    let failing = get("/readyz").await.unwrap();
    assert_eq!(failing.status(), 503);
    assert_eq!(failing.text().await.unwrap(), "failing: run\n");
    assert_eq!(get("/healthz").await.unwrap().status(), 200);

    std::fs::write(&program, SCRIPT).unwrap();
    let body = get(autoconfig).await.unwrap().text().await.unwrap();
    assert!(body.contains("<username>jdoe</username>"), "{body}");
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
}

/// A command source that notes each run's address in `calls`, takes 2 s (every request of a
/// batch arrives while the first one's run is going) and fails while `failing` exists, on a
/// server answering with it by `on-failure = "fail"`; `extra` adds keys to its table.
struct SlowSource {
    _dir: tempfile::TempDir,
    calls: PathBuf,
    failing: PathBuf,
    server: crate::support::TestServer,
}

impl SlowSource {
    async fn start(extra: &str) -> SlowSource {
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        let failing = dir.path().join("failing");
        let program = dir.path().join("lookup.sh");
        std::fs::write(
            &program,
            format!(
                "echo \"$1\" >> '{}'\nsleep 2\n[ -e '{}' ] && exit 3\necho '{{\"login_name\": \"shared\"}}'\n",
                calls.display(),
                failing.display()
            ),
        )
        .unwrap();
        let server = crate::support::TestServer::start(config(
            &format!(
                "[backends.run]\ntype = \"command\"\ncommand = [\"/bin/sh\", \"{}\", \"%EMAILADDRESS%\"]\n\
                 timeout = \"8s\"\non-failure = \"fail\"\n{extra}",
                program.display()
            ),
            "\"run\"",
        ))
        .await;
        SlowSource {
            _dir: dir,
            calls,
            failing,
            server,
        }
    }

    fn runs(&self) -> String {
        std::fs::read_to_string(&self.calls).unwrap_or_default()
    }

    fn fail(&self) {
        std::fs::write(&self.failing, "").unwrap();
    }

    /// `n` concurrent autoconfig requests for `local@example.org`, every other one in upper
    /// case: the statuses and bodies.
    async fn batch(&self, local: &str, n: usize) -> Vec<(u16, String)> {
        let client = reqwest::Client::new();
        let requests = (0..n).map(|i| {
            let local = if i % 2 == 0 {
                local.to_owned()
            } else {
                local.to_uppercase()
            };
            let url = self.server.url(&format!(
                "/mail/config-v1.1.xml?emailaddress={local}%40example.org"
            ));
            let request = client.get(url).send();
            async move {
                let response = request.await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        });
        futures_util::future::join_all(requests).await
    }
}

fn assert_shared_answer(answers: &[(u16, String)]) {
    for (status, body) in answers {
        assert_eq!(*status, 200);
        assert!(body.contains("<username>shared</username>"), "{body}");
    }
}

fn assert_shared_failure(answers: &[(u16, String)]) {
    for (status, body) in answers {
        assert_eq!(*status, 503);
        assert_eq!(body, "settings are temporarily unavailable\n");
    }
}

/// With `cache-ttl = "0s"`, concurrent requests for one address (in any case: its normal form)
/// share one run of the command, its answer and its failure alike; neither is kept, so the
/// next request runs it again. Before, each request forked its own.
#[tokio::test]
async fn concurrent_requests_for_one_address_share_one_lookup_without_a_cache() {
    let source = SlowSource::start("cache-ttl = \"0s\"\n").await;
    assert_shared_answer(&source.batch("jane", 16).await);
    assert_eq!(
        source.runs(),
        "jane@example.org\n",
        "one run for 16 requests"
    );
    assert_eq!(source.batch("jane", 1).await[0].0, 200);
    assert_eq!(source.runs().lines().count(), 2, "the answer is not kept");

    source.fail();
    assert_shared_failure(&source.batch("jane", 16).await);
    assert_eq!(
        source.runs().lines().count(),
        3,
        "one failing run for 16 requests"
    );
    assert_eq!(source.batch("jane", 1).await[0].0, 503);
    assert_eq!(source.runs().lines().count(), 4, "the failure is not kept");
}

/// With the default cache the same holds while the first query runs: one run for a burst of
/// one address, its answer kept for the next request, its failure shared but not kept.
#[tokio::test]
async fn concurrent_requests_for_one_address_share_one_lookup_with_a_cache() {
    let source = SlowSource::start("").await;
    assert_shared_answer(&source.batch("jane", 16).await);
    assert_eq!(
        source.runs(),
        "jane@example.org\n",
        "one run for 16 requests"
    );
    assert_shared_answer(&source.batch("jane", 1).await);
    assert_eq!(source.runs().lines().count(), 1, "the answer is kept");

    source.fail();
    assert_shared_failure(&source.batch("max", 16).await);
    assert_eq!(
        source.runs(),
        "jane@example.org\nmax@example.org\n",
        "one failing run for 16 requests"
    );
    assert_eq!(source.batch("max", 1).await[0].0, 503);
    assert_eq!(source.runs().lines().count(), 3, "the failure is not kept");
}
