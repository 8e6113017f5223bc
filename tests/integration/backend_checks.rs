//! Seeing what the per-user sources do: `mxconf lookup` and `mxconf check-config --backends`
//! against a real SQLite file, a real slapd, a real MariaDB and real scripts, and `check-config`'s signer
//! warnings. A source that cannot work must be named, with the line that defines it, before
//! any client is answered with the static settings in its place.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::backends::{
    LDIF, MARIADB_USERS_SQL, PROVIDER, USERS_QUERY, USERS_SQL, script, sqlite_at,
};
use crate::support::cli::{check_config, mxconf};
use crate::support::servers::{MariaDb, Postgres, Slapd};

/// The line of `text` on which `needle` starts.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in the config"));
    text[..at].matches('\n').count() + 1
}

/// A config file in `dir` with `backends` and example.org consulting `sources`.
fn write_config(dir: &Path, backends: &str, sources: &str) -> (std::path::PathBuf, String) {
    let text = format!(
        "{PROVIDER}{backends}\n[domains.\"example.org\"]\nsources = [{sources}]\n\
         [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n\
         [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 465\nsecurity = \"tls\"\n\
         [domains.\"old.example\"]\nredirect-to-domain = \"example.org\"\n"
    );
    let path = dir.join("mxconf.toml");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

/// `check-config --backends` on `config`, which must fail: its stdout and stderr.
fn check_backends_failing(config: &Path) -> (String, String) {
    let output = mxconf()
        .args(["check-config", "--backends", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    (stdout, stderr)
}

/// Where a message about source `name` starts: the file and the line of its table.
fn source_at(config: &Path, text: &str, name: &str) -> String {
    format!(
        "{}:{}: backends.{name}: ",
        config.display(),
        line_of(text, &format!("[backends.{name}]"))
    )
}

/// The stderr line about source `name`.
fn line_about<'a>(stderr: &'a str, config: &Path, text: &str, name: &str) -> &'a str {
    let at = source_at(config, text, name);
    stderr
        .lines()
        .find(|line| line.starts_with(&at))
        .unwrap_or_else(|| panic!("no line for {name}: {stderr}"))
}

fn lookup(config: &Path, address: &str, json: bool) -> (Option<i32>, String, String) {
    let mut command = mxconf();
    command.args(["lookup", address, "--config"]).arg(config);
    if json {
        command.arg("--json");
    }
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn lookup_shows_each_sources_answer_its_time_and_the_merged_account() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_at(&dir.path().join("db/users.sqlite"), USERS_SQL).await;
    let (config, text) = write_config(
        dir.path(),
        &format!(
            "[backends.users]\ntype = \"sql\"\npath = \"db/users.sqlite\"\nquery = \"{USERS_QUERY}\"\n\
             [backends.run]\ntype = \"command\"\ncommand = [\"{}\", \"%EMAILADDRESS%\"]\ntimeout = \"1s\"\n",
            script(dir.path())
        ),
        "\"users\", \"run\"",
    );
    let users_line = line_of(&text, "[backends.users]");
    let run_line = line_of(&text, "[backends.run]");

    // Both sources know Jane; the command's answer comes last and wins where both speak.
    let (code, stdout, stderr) = lookup(&config, "Jane@example.org", false);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let users = format!(
        "source users (sql, {}:{users_line}) asked for jane@example.org: an entry (",
        config.display()
    );
    assert!(stdout.contains(&users), "{stdout}");
    assert!(stdout.contains("  login_name = \"jdoe\"\n"), "{stdout}");
    assert!(
        stdout.contains("  imap_host = \"store7.example.org\"\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "source run (command, {}:{run_line})",
            config.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  imap  store7.example.org:993 tls, login jdoe, password-cleartext\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  display name: Jane Doe\n"), "{stdout}");

    // A failing source is shown with its reason and what the policy makes of it; exit 1.
    let (code, stdout, _) = lookup(&config, "fail@example.org", false);
    assert_eq!(code, Some(1), "{stdout}");
    let failed = stdout
        .lines()
        .find(|line| line.starts_with("source run "))
        .unwrap();
    assert!(
        failed.contains("asked for fail@example.org: FAILED ("),
        "{failed}"
    );
    assert!(
        failed.ends_with(" ms): lookup failed: /bin/sh exited with exit status: 3"),
        "{failed}"
    );
    assert!(
        stdout.contains("on-failure = \"static\": left out"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  imap  imap.example.org:993 tls, login fail@example.org"),
        "{stdout}"
    );

    // JSON: one object per source, and the account; an alias is looked up at its target.
    let (code, stdout, stderr) = lookup(&config, "jane@old.example", true);
    assert_eq!(code, Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["looked_up_as"], "jane@example.org");
    assert_eq!(report["sources"][0]["name"], "users");
    assert_eq!(report["sources"][0]["outcome"], "hit");
    assert_eq!(report["sources"][0]["fields"]["login_name"], "jdoe");
    assert_eq!(report["sources"][0]["on_failure"], "static");
    assert!(report["sources"][0]["millis"].is_u64(), "{report}");
    assert_eq!(report["account"]["login_name"], "jdoe");
    assert_eq!(
        report["account"]["incoming"][0]["host"],
        "store7.example.org"
    );
    let (code, stdout, _) = lookup(&config, "nobody@example.org", true);
    assert_eq!(code, Some(0));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["sources"][0]["outcome"], "miss");
    // The script answers every other address of example.org with its arguments.
    assert_eq!(report["sources"][1]["outcome"], "hit");
    assert_eq!(report["account"]["login_name"], "args=1 home=");
    let (code, stdout, _) = lookup(&config, "garbage@example.org", true);
    assert_eq!(code, Some(1));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["sources"][1]["outcome"], "error");
    assert_eq!(report["sources"][1]["error_kind"], "bad-output");

    // A domain not served here is an error, not another domain's settings.
    let (code, _, stderr) = lookup(&config, "jane@example.net", false);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("example.net: domain not served here"),
        "{stderr}"
    );
}

#[tokio::test]
async fn check_config_backends_names_each_source_that_cannot_work_with_its_line() {
    let slapd = Slapd::start(LDIF);
    let dir = tempfile::tempdir().unwrap();
    sqlite_at(&dir.path().join("users.sqlite"), USERS_SQL).await;
    let ldap = |name: &str, password_file: &str| {
        format!(
            "[backends.{name}]\ntype = \"ldap\"\nurl = \"{}\"\nstarttls = false\nbind-dn = \"{}\"\n\
             password-file = \"{password_file}\"\nbase = \"ou=people,dc=example,dc=org\"\n\
             filter = \"(mail=%EMAILADDRESS%)\"\nattributes = {{ login_name = \"uid\" }}\n",
            slapd.url(),
            Slapd::BIND_DN,
        )
    };
    let (config, text) = write_config(
        dir.path(),
        &format!(
            "[backends.good]\ntype = \"sql\"\npath = \"users.sqlite\"\nquery = \"{USERS_QUERY}\"\n\
             [backends.moved]\ntype = \"sql\"\npath = \"../elsewhere/users.sqlite\"\nquery = \"{USERS_QUERY}\"\n\
             [backends.column]\ntype = \"sql\"\npath = \"users.sqlite\"\n\
             query = \"SELECT login AS login_name FROM users WHERE address = $1\"\n\
             {}{}\
             [backends.run]\ntype = \"command\"\ncommand = [\"{}\", \"%EMAILADDRESS%\"]\n",
            ldap("dir", &slapd.password_file.display().to_string()),
            ldap("nopassword", "ldap-password"),
            script(dir.path())
        ),
        "\"good\", \"moved\", \"column\", \"dir\", \"nopassword\", \"run\"",
    );

    // Without --backends the file is valid: nothing is opened.
    let plain = check_config(&config);
    assert_eq!(plain.status.code(), Some(0));

    let (stdout, stderr) = check_backends_failing(&config);
    let moved = dir.path().parent().unwrap().join("elsewhere/users.sqlite");
    for (name, reason) in [
        (
            "moved",
            format!(
                "SQLite file {}: database error 14: unable to open database file",
                moved.display()
            ),
        ),
        ("column", "no such column: address".to_owned()),
        (
            "nopassword",
            format!(
                "unavailable: cannot read password file {}",
                dir.path().join("ldap-password").display()
            ),
        ),
    ] {
        let line = line_about(&stderr, &config, &text, name);
        assert!(line.contains(&reason), "{name}: {line}");
        assert!(
            line.contains("asked for mxconf-probe@example.org"),
            "{line}"
        );
    }
    for good in ["good", "dir", "run"] {
        assert!(
            stdout.contains(&format!("source {good} ("))
                && !stderr.contains(&source_at(&config, &text, good)),
            "{good}: {stdout}{stderr}"
        );
    }
    assert!(
        stdout.contains("asked for mxconf-probe@example.org: no entry ("),
        "{stdout}"
    );
    assert!(!stdout.contains(": OK\n"), "{stdout}");
}

#[test]
fn check_config_backends_names_a_wrong_mariadb_column_or_table() {
    let mariadb = MariaDb::start(MARIADB_USERS_SQL);
    let dir = tempfile::tempdir().unwrap();
    let source = |name: &str, query: &str| {
        format!(
            "[backends.{name}]\ntype = \"sql\"\nurl = \"{}\"\npassword-file = \"{}\"\nquery = \"{query}\"\n",
            mariadb.url(),
            mariadb.password_file.display()
        )
    };
    let (config, text) = write_config(
        dir.path(),
        &[
            source(
                "good",
                "SELECT login AS login_name FROM users WHERE local_part = $2",
            ),
            source(
                "column",
                "SELECT login AS login_name FROM users WHERE address = $1",
            ),
            source(
                "table",
                "SELECT login AS login_name FROM mailbox WHERE local_part = $2",
            ),
        ]
        .concat(),
        "\"good\", \"column\", \"table\"",
    );
    let (stdout, stderr) = check_backends_failing(&config);
    for (name, reason) in [
        ("column", "Unknown column 'address'"),
        ("table", "Table 'mail.mailbox' doesn't exist"),
    ] {
        let line = line_about(&stderr, &config, &text, name);
        assert!(line.contains(reason), "{name}: {line}");
    }
    assert!(
        stdout.contains("source good (") && !stderr.contains("backends.good:"),
        "{stdout}{stderr}"
    );
}

/// A config in `dir` whose signer check-config warns about: the signer alone, without the
/// intermediate that issued it, and its key readable by all.
fn config_with_signer_warnings(dir: &Path) -> PathBuf {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
    for name in ["signer.pem", "signer.key"] {
        std::fs::copy(certs.join(name), dir.join(name)).unwrap();
    }
    let key = dir.join("signer.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let path = dir.join("mxconf.toml");
    std::fs::write(
        &path,
        format!("{PROVIDER}[signing]\ncert = \"signer.pem\"\nkey = \"signer.key\"\n"),
    )
    .unwrap();
    path
}

#[test]
fn check_config_warns_about_a_key_others_can_read_and_an_incomplete_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_with_signer_warnings(dir.path());
    let output = check_config(&path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "warnings, not errors: {stderr}"
    );
    assert!(
        stderr.contains("is readable by users other than its owner (mode 644)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no certificate in the chain from"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(": OK"));
}

/// On a terminal the warnings are coloured, unless `NO_COLOR` is set (no-color.org); the pipe
/// case is covered by the server's log tests. The terminal is a pty from util-linux `script`.
#[test]
fn log_colour_on_a_terminal_only_without_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_with_signer_warnings(dir.path());
    let command = format!(
        "{} check-config --config {}",
        assert_cmd::cargo::cargo_bin("mxconf").display(),
        path.display()
    );
    let on_a_terminal = |no_color: Option<&str>| {
        let mut script = std::process::Command::new("script");
        script.args(["-qec", &command, "/dev/null"]);
        script.env_remove("NO_COLOR");
        if let Some(value) = no_color {
            script.env("NO_COLOR", value);
        }
        let output = script.output().expect("script (util-linux) runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            text.contains("readable by users other than its owner"),
            "{text}"
        );
        text
    };
    assert!(
        on_a_terminal(None).contains('\u{1b}'),
        "no colour on a terminal"
    );
    let plain = on_a_terminal(Some("1"));
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR: {plain:?}"
    );
}

/// A database error that quotes the value it was given (PostgreSQL's `invalid input syntax
/// for type integer: "…"`) names neither the address nor its local part: the text that is
/// logged at WARN is the one `mxconf lookup` prints.
#[test]
fn database_errors_never_quote_the_address() {
    let postgres = Postgres::start("SELECT 1");
    let dir = tempfile::tempdir().unwrap();
    let source = |name: &str, parameter: &str| {
        format!(
            "[backends.{name}]\ntype = \"sql\"\nurl = \"{}\"\npassword-file = \"{}\"\n\
             query = \"SELECT {parameter}::integer AS imap_port\"\n",
            postgres.url(),
            postgres.password_file.display()
        )
    };
    let (config, _) = write_config(
        dir.path(),
        &format!("{}{}", source("whole", "$1"), source("local", "$2")),
        "\"whole\", \"local\"",
    );
    let (_, stdout, stderr) = lookup(&config, "jane.doe@example.org", false);
    assert!(
        stdout.contains("invalid input syntax for type integer: \"<address>\""),
        "{stdout}{stderr}"
    );
    assert!(
        stdout.contains("invalid input syntax for type integer: \"<local part>\""),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains("\"jane.doe"), "{stdout}");
}
