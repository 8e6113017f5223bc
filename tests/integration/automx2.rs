//! `mxconf import automx2` against the real automx2 (pip `automx2`): its Flask app runs on a
//! loopback port with an SQLite database in a temporary directory, its own `/initdb/` creates
//! and fills the tables (its built-in sample data, or a seed we POST), and then mxconf's
//! autoconfig answer from the imported config must say what automx2 answers for the same
//! address: the same servers (host, port, socket type, login name, authentication) and, for
//! the provider mxconf keeps, the same names. Without automx2 the tests say so and pass,
//! except under CI (`CI` set, as `.ci/run` does), which installs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::cli::{assert_success, check_config, mxconf};
use crate::support::servers::{free_port, wait_for};

/// automx2's Flask app on 127.0.0.1, killed on drop.
struct Automx2 {
    child: Child,
    port: u16,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Automx2 {
    /// `None` when automx2 is not installed and CI is not set.
    fn start() -> Option<Automx2> {
        let installed = Command::new("python3")
            .args(["-c", "import automx2.server"])
            .env("AUTOMX2_CONF", "/nonexistent")
            .output()
            .is_ok_and(|output| output.status.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "automx2 is not installed, and CI must test the automx2 import \
                 (pip install automx2 into the test venv)"
            );
            eprintln!("automx2 import tests: SKIPPED, automx2 is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("automx2.sqlite");
        let conf = dir.path().join("automx2.conf");
        std::fs::write(
            &conf,
            format!(
                "[automx2]\nloglevel = WARNING\ndb_uri = sqlite:///{}\n",
                db.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "flask", "--app", "automx2.server", "run", "--host"])
            .args(["127.0.0.1", "--port", &port.to_string()])
            .env("AUTOMX2_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        wait_for(([127, 0, 0, 1], port).into());
        Some(Automx2 {
            child,
            port,
            db,
            _dir: dir,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `/initdb/`: GET fills in automx2's sample data, POST the given seed.
    async fn initdb(&self, seed: Option<&str>) {
        let client = reqwest::Client::new();
        let request = match seed {
            None => client.get(self.url("/initdb/")),
            Some(seed) => client
                .post(self.url("/initdb/"))
                .header("Content-Type", "application/json")
                .body(seed.to_owned()),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(
            status.is_success() && body.contains("now prepared"),
            "{status} {body}"
        );
    }

    /// automx2's autoconfig answer: `None` for anything but 200 (it answers 400 for a domain
    /// with an invalid server and 204 for an unknown one).
    async fn autoconfig(&self, address: &str) -> Option<String> {
        let url = self.url(&format!("/mail/config-v1.1.xml?emailaddress={address}"));
        let response = reqwest::get(url).await.unwrap();
        (response.status() == 200).then_some(response.text().await.unwrap())
    }
}

impl Drop for Automx2 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a client takes from an autoconfig answer: the names and each server as
/// (element, type, host, port, socket type, login name, authentication), in answer order per
/// element. automx2 leaves placeholders for Thunderbird to fill in and writes `plain`, which
/// Thunderbird reads as `password-cleartext`; both are normalised as a client does.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    names: (String, String),
    servers: Vec<[String; 7]>,
}

fn answer(xml: &str, address: &str) -> Answer {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let provider = doc
        .descendants()
        .find(|n| n.has_tag_name("emailProvider"))
        .unwrap();
    let text = |node: roxmltree::Node<'_, '_>, name: &str| {
        node.children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_owned()
    };
    let (local, domain) = address.split_once('@').unwrap();
    let fill = |value: String| {
        value
            .replace("%EMAILADDRESS%", address)
            .replace("%EMAILLOCALPART%", local)
            .replace("%EMAILDOMAIN%", domain)
    };
    let mut servers: Vec<[String; 7]> = provider
        .children()
        .filter(|n| n.has_tag_name("incomingServer") || n.has_tag_name("outgoingServer"))
        .map(|n| {
            let auth = text(n, "authentication");
            [
                n.tag_name().name().to_owned(),
                n.attribute("type").unwrap_or_default().to_owned(),
                text(n, "hostname"),
                text(n, "port"),
                text(n, "socketType"),
                fill(text(n, "username")),
                if auth == "plain" {
                    "password-cleartext".into()
                } else {
                    auth
                },
            ]
        })
        .collect();
    // mxconf offers implicit TLS first (the importer notes where automx2's prio order
    // differs); within one element the set of servers must be the same.
    servers.sort();
    Answer {
        names: (
            text(provider, "displayName"),
            text(provider, "displayShortName"),
        ),
        servers,
    }
}

/// `mxconf import automx2 FILE` into a checked config file; returns its path and text.
fn import(file: &Path, dir: &Path, name: &str) -> (PathBuf, String) {
    let output = mxconf()
        .args(["import", "automx2"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, &text).unwrap();
    assert_success(&check_config(&path));
    (path, text)
}

fn render(config: &Path, address: &str) -> String {
    let output = mxconf()
        .args(["render", "autoconfig", address, "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Each domain automx2 answers for: mxconf's answer from `config` has the same servers, and
/// the same names when the domain belongs to the provider mxconf kept. Returns how many
/// domains automx2 answered.
async fn same_answers(automx2: &Automx2, config: &Path, domains: &[(&str, bool)]) -> usize {
    let mut compared = 0;
    for (domain, same_provider) in domains {
        let address = format!("jane.doe@{domain}");
        let Some(theirs) = automx2.autoconfig(&address).await else {
            continue;
        };
        compared += 1;
        let theirs = answer(&theirs, &address);
        let ours = answer(&render(config, &address), &address);
        assert_eq!(ours.servers, theirs.servers, "{address}");
        if *same_provider {
            assert_eq!(ours.names, theirs.names, "{address}");
        }
    }
    compared
}

/// automx2's built-in sample data: three providers, a domain without servers, one with a
/// server of an invalid type, CalDAV/CardDAV servers, random host names.
#[tokio::test]
async fn database_from_automx2_initdb_answers_alike() {
    let Some(automx2) = Automx2::start() else {
        return;
    };
    automx2.initdb(None).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = import(&automx2.db, dir.path(), "db.toml");
    let domains = [
        ("example.com", true),
        ("example.net", true),
        ("example.org", true),
        ("ham-n-eggs.tld", false),
        ("serverless.tld", false),
    ];
    let compared = same_answers(&automx2, &config, &domains).await;
    assert_eq!(compared, 4, "automx2 refuses ham-n-eggs.tld only");
    // What automx2 refused, and the providers mxconf cannot keep, are named.
    assert!(
        text.contains("automx2 refused every answer for ham-n-eggs.tld"),
        "{text}"
    );
    assert!(
        text.contains("answered for serverless.tld as provider \"Some Other Provider\""),
        "{text}"
    );
    // The DAV servers carried over as the domain's URLs.
    let table: toml::Table = toml::from_str(&text).unwrap();
    let com = &table["domains"]["example.com"];
    assert!(
        com["caldav"]
            .as_str()
            .unwrap()
            .starts_with("https://caldav.")
    );
    assert!(
        com["carddav"]
            .as_str()
            .unwrap()
            .starts_with("http://carddav.")
    );
}

/// The servers of both seeds: two IMAP servers whose prio order is not mxconf's, a CalDAV URL
/// with a placeholder.
const SERVERS: &str = r#"[
    {"type": "imap", "name": "imap.example.com", "port": 143, "prio": 5},
    {"type": "imap", "name": "imap.example.com"},
    {"type": "pop", "name": "pop.example.com"},
    {"type": "smtp", "name": "smtp.example.com", "port": 587},
    {"type": "smtp", "name": "smtp.example.com"},
    {"type": "caldav", "url": "https://dav.example.com/cal/%EMAILADDRESS%/"}
  ]"#;

/// A version 2 seed, and the same content in the version 1 format (no version, domain names as
/// strings), which automx2 2026.1 and later no longer accept but older installations keep.
fn seeds() -> [(&'static str, String); 2] {
    let provider = r#""provider": "Example Mail Services""#;
    [
        (
            "v2.json",
            format!(
                r#"{{"version": 2, {provider}, "domains": [{{"name": "example.com"}},
                {{"name": "example.net"}}], "servers": {SERVERS}}}"#
            ),
        ),
        (
            "v1.json",
            format!(
                r#"{{{provider}, "domains": ["example.com", "example.net"], "servers": {SERVERS}}}"#
            ),
        ),
    ]
}

/// A seed POSTed to automx2: the seed itself (both versions) and the database automx2 made
/// from it import to the same answers automx2 gives.
#[tokio::test]
async fn seed_and_its_database_answer_alike() {
    let Some(automx2) = Automx2::start() else {
        return;
    };
    let seeds = seeds();
    automx2.initdb(Some(&seeds[0].1)).await;
    let dir = tempfile::tempdir().unwrap();
    let domains = [("example.com", true), ("example.net", true)];
    let mut texts = Vec::new();
    for (name, contents) in &seeds {
        let seed = dir.path().join(name);
        std::fs::write(&seed, contents).unwrap();
        let (config, text) = import(&seed, dir.path(), &format!("{name}.toml"));
        assert_eq!(same_answers(&automx2, &config, &domains).await, 2, "{name}");
        texts.push(text);
    }
    let (config, text) = import(&automx2.db, dir.path(), "db.toml");
    assert_eq!(same_answers(&automx2, &config, &domains).await, 2);
    // Both domains had every server: they share [defaults], from the seed as from the
    // database, and the two seed versions translate alike.
    for text in texts.iter().chain([&text]) {
        assert!(text.contains("[defaults]"), "{text}");
        assert!(text.contains("in prio order"), "{text}");
        assert!(
            text.contains("caldav = \"https://dav.example.com/cal/%EMAILADDRESS%/\""),
            "{text}"
        );
    }
    let body = |text: &str| text.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&texts[0]), body(&texts[1]));
}

/// An SQLite file without automx2's tables is refused with exit 1 and a message naming it;
/// nothing is written.
#[test]
fn sqlite_file_that_is_not_automx2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.sqlite");
    let made = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
             c.execute('CREATE TABLE provider (id INTEGER)'); c.commit()",
        ])
        .arg(&db)
        .status()
        .expect("python3 runs");
    assert!(made.success());
    let output = mxconf()
        .args(["import", "automx2"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("other.sqlite: no table domain: not an automx2 database"),
        "{stderr}"
    );
}
