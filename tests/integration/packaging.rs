//! What ships beside the binary: the systemd unit (checked by `systemd-analyze verify`), the
//! man page and shell completions generated from the clap definitions, and the Prometheus
//! alert rules (checked and unit-tested by `promtool`). Every tool is required: CI installs
//! them, and a missing one fails the test rather than skipping it.

use std::path::Path;
use std::process::{Command, Output};

use clap::CommandFactory as _;

use crate::support::cli::mxconf;

const UNIT: &str = include_str!("../../contrib/systemd/mxconf.service");
const ALERTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/prometheus/mxconf-alerts.yml"
);
const ALERTS_TEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/prometheus/mxconf-alerts.test.yml"
);

fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(program);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .output()
        .unwrap_or_else(|error| panic!("{program} must be installed (CI installs it): {error}"))
}

fn stdout_of(args: &[&str]) -> String {
    let output = mxconf().args(args).output().unwrap();
    assert!(output.status.success(), "mxconf {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands `--help` lists, from the same definitions.
fn subcommands() -> Vec<String> {
    mxconf::cli::Cli::command()
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect()
}

/// Writes `mxconf man` as `DIR/man1/mxconf.1`, a directory `MANPATH` can name.
fn man_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("man1")).unwrap();
    std::fs::write(dir.path().join("man1/mxconf.1"), stdout_of(&["man"])).unwrap();
    dir
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let binary = assert_cmd::cargo::cargo_bin("mxconf");
    let dir = tempfile::tempdir().unwrap();
    // The unit as installed names /usr/bin/mxconf; verify checks that the program exists.
    let unit = UNIT.replace("/usr/bin/mxconf", binary.to_str().unwrap());
    let path = dir.path().join("mxconf.service");
    std::fs::write(&path, unit).unwrap();
    let man = man_dir();
    let output = run(
        "systemd-analyze",
        &["verify", path.to_str().unwrap()],
        // Documentation=man:mxconf(1) is checked against the page `mxconf man` writes.
        &[("MANPATH", man.path())],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    // verify exits 0 on directives it ignores, so any message at all is a failure.
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
}

#[test]
fn the_systemd_unit_is_a_hardened_notify_service() {
    let directives: Vec<&str> = UNIT
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && line.contains('='))
        .collect();
    for expected in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=mxconf",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "StateDirectory=mxconf",
        "ConfigurationDirectory=mxconf",
    ] {
        assert!(directives.contains(&expected), "{expected} missing");
    }
}

#[test]
fn the_man_page_renders_with_every_subcommand() {
    let man = man_dir();
    let page = man.path().join("man1/mxconf.1");
    let output = run("man", &["-l", page.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    // Warnings about the roff (bad escapes, unknown macros) go to stderr.
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for sub in subcommands() {
        assert!(
            text.contains(&format!("MXCONF {}", sub.to_uppercase())),
            "{sub} has no section"
        );
    }
    // The options come with their help text, as `--help` has it.
    assert!(text.contains("--backends"), "{text}");
    // (man justifies lines: compare with the spacing collapsed)
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("Also open every per-user source"), "{text}");
}

#[test]
fn the_bash_completion_is_valid_and_offers_every_subcommand() {
    let script = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mxconf.bash");
    std::fs::write(&path, &script).unwrap();
    let output = run("bash", &["-n", path.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{output:?}");
    // Sourced, it completes `mxconf ch` to check-config.
    let probe = format!(
        "source {}; COMP_WORDS=(mxconf ch); COMP_CWORD=1; _mxconf mxconf ch mxconf; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let output = run("bash", &["-c", &probe], &[]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "check-config"
    );
    for sub in subcommands() {
        assert!(script.contains(&sub), "{sub} missing");
    }
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for sub in subcommands() {
            assert!(script.contains(&sub), "{shell}: {sub} missing");
        }
    }
    mxconf().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_as_their_tests_say() {
    let check = run("promtool", &["check", "rules", ALERTS], &[]);
    assert!(check.status.success(), "{check:?}");
    let test = run("promtool", &["test", "rules", ALERTS_TEST], &[]);
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
}

#[test]
fn the_alert_rules_use_only_series_mxconf_exports() {
    let rules = std::fs::read_to_string(ALERTS).unwrap();
    let documented = include_str!("../../docs/operations.md");
    let series = regex::Regex::new(r"mxconf_[a-z_]+").unwrap();
    for name in series.find_iter(&rules).map(|m| m.as_str()) {
        assert!(
            documented.contains(&format!("| `{name}` |")),
            "{name} is not a documented series"
        );
    }
}
