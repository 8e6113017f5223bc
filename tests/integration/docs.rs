//! The documentation kept honest: README.md and docs/*.md against the real binary and the
//! tools they describe. The command-line table matches `--help`; every ```text block that
//! starts with `$ mxconf …` is a transcript whose output must be the real output; shell
//! samples use real subcommands and options; the nginx sample passes `nginx -t`; TOML samples
//! parse; links, anchors and the code's citations of docs sections resolve.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::cli::mxconf;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md page, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    let mut paths = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

fn page_name(path: &Path) -> String {
    path.strip_prefix(root()).unwrap().display().to_string()
}

/// The fenced code blocks of `text` tagged `lang`, each as its lines.
fn code_blocks<'a>(text: &'a str, lang: &str) -> Vec<Vec<&'a str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        let fence = line.trim_start();
        match current.as_mut() {
            None if fence.starts_with("```") => {
                current = Some(Vec::new());
                if fence.trim_start_matches('`').trim() != lang {
                    // A block in another language: skip to its end.
                    current = Some(vec!["\0skip"]);
                }
            }
            None => {}
            Some(block) if fence.starts_with("```") => {
                if block.first() != Some(&"\0skip") {
                    blocks.push(std::mem::take(block));
                }
                current = None;
            }
            Some(block) => block.push(line),
        }
    }
    blocks
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The headings of a Markdown page (outside code blocks), without their `#`s.
fn headings(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            found.push(line.trim_start_matches('#').trim().to_string());
        }
    }
    found
}

#[test]
fn readme_documents_every_subcommand() {
    let help = mxconf().arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let subcommands = subcommands(&help);
    assert!(subcommands.len() >= 9, "{subcommands:?}");
    for subcommand in subcommands {
        assert!(
            readme.contains(&format!("`mxconf {subcommand}")),
            "README lacks mxconf {subcommand}"
        );
    }
    assert!(readme.contains("cargo run --release -- serve"));
    assert!(readme.contains("bash .ci/run"));
}

fn subcommands(help: &str) -> Vec<String> {
    help.split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .take_while(|word| !word.ends_with(':'))
        .filter(|word| *word != "help")
        .map(str::to_string)
        .collect()
}

/// The words of `text` that look like options: `--name` and `-x`.
fn options(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| {
            word.strip_prefix("--").is_some_and(|name| !name.is_empty())
                || (word.len() == 2 && word.starts_with('-') && word != &"--")
        })
        .filter(|word| !["--help", "-h", "--version", "-V"].contains(word))
        .map(str::to_string)
        .collect()
}

/// The options of a `--help` text, each as its spellings (`["-o", "--output"]`).
fn help_options(help: &str) -> Vec<BTreeSet<String>> {
    let options_part = help.split("Options:").nth(1).unwrap_or("");
    options_part
        .lines()
        .filter(|line| line.trim_start().starts_with('-'))
        .map(|line| options(line.split('<').next().unwrap_or(line)))
        .filter(|spellings| !spellings.is_empty())
        .collect()
}

/// The `Possible values:` of a `--help` text (`- autoconfig: …` lines).
fn possible_values(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter_map(|rest| rest.split_once(':'))
        .map(|(value, _)| value.trim().to_string())
        .collect()
}

#[test]
fn readme_command_table_matches_every_subcommand_help() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Command line")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<&str> = section
        .lines()
        .filter(|line| line.starts_with("| `mxconf "))
        .collect();
    let help = String::from_utf8(mxconf().arg("--help").output().unwrap().stdout).unwrap();
    let mut listed = Vec::new();
    for row in rows {
        let usage = row.split('`').nth(1).unwrap();
        let mut words = usage.split_whitespace().skip(1);
        let subcommand = words.next().unwrap().to_string();
        let sub_help = String::from_utf8(
            mxconf()
                .args([&subcommand, "--help"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let in_row = options(usage);
        let in_help = help_options(&sub_help);
        for spellings in &in_help {
            assert!(
                !spellings.is_disjoint(&in_row),
                "README's row for mxconf {subcommand} lacks {spellings:?}"
            );
        }
        for option in &in_row {
            assert!(
                in_help.iter().any(|spellings| spellings.contains(option)),
                "README's row for mxconf {subcommand} names {option}, which --help does not know"
            );
        }
        // `render autoconfig\|outlook\|…`: the alternatives are the argument's possible values.
        let values = possible_values(&sub_help);
        if let Some(choices) = words.next().filter(|word| word.contains("\\|")) {
            let choices: BTreeSet<String> = choices.split("\\|").map(str::to_string).collect();
            assert_eq!(choices, values, "mxconf {subcommand}'s values");
        } else {
            assert!(
                values.is_empty(),
                "README's row for mxconf {subcommand} lacks its values {values:?}"
            );
        }
        listed.push(subcommand);
    }
    let mut expected = subcommands(&help);
    expected.sort();
    listed.sort();
    assert_eq!(
        listed, expected,
        "README's command table lists every subcommand of --help once"
    );
}

/// The `mxconf SUBCOMMAND …` command lines of every shell sample (```sh) of README.md and the
/// docs pages: each names a real subcommand, only options its `--help` lists, and, where the
/// subcommand takes one of a fixed set of values (`render autoconfig`), one of those.
#[test]
fn shell_samples_use_real_subcommands_and_options() {
    let help = String::from_utf8(mxconf().arg("--help").output().unwrap().stdout).unwrap();
    let known = subcommands(&help);
    let mut checked = 0;
    for (path, text) in pages() {
        for block in code_blocks(&text, "sh") {
            for line in block {
                let line = line.split(" #").next().unwrap_or(line);
                for part in line.split(['|', ';', '&', '(']) {
                    let mut words = part.split_whitespace();
                    if words.next() != Some("mxconf") {
                        continue;
                    }
                    let Some(subcommand) = words.next() else {
                        continue;
                    };
                    checked += 1;
                    let page = page_name(&path);
                    assert!(
                        known.iter().any(|known| known == subcommand),
                        "{page}: `mxconf {subcommand}` is not a subcommand: {line}"
                    );
                    let sub_help = String::from_utf8(
                        mxconf()
                            .args([subcommand, "--help"])
                            .output()
                            .unwrap()
                            .stdout,
                    )
                    .unwrap();
                    let listed = help_options(&sub_help);
                    let words: Vec<&str> = words.collect();
                    for option in options(&words.join(" ")) {
                        assert!(
                            listed.iter().any(|spellings| spellings.contains(&option)),
                            "{page}: mxconf {subcommand} has no option {option}: {line}"
                        );
                    }
                    let values = possible_values(&sub_help);
                    if let (false, Some(first)) = (values.is_empty(), words.first()) {
                        assert!(
                            values.contains(*first),
                            "{page}: mxconf {subcommand} takes one of {values:?}, not {first}"
                        );
                    }
                }
            }
        }
    }
    assert!(checked >= 25, "{checked} command lines checked");
}

/// Runs every transcript (a ```text block whose first line is `$ mxconf …`) in a fresh
/// directory where `certs/` is the repository's, and compares each command's standard output
/// with the lines under it.
#[test]
fn command_transcripts_in_the_docs_are_real_output() {
    let mut transcripts = 0;
    for (path, text) in pages() {
        for block in code_blocks(&text, "text") {
            if !block
                .first()
                .is_some_and(|line| line.starts_with("$ mxconf "))
            {
                continue;
            }
            transcripts += 1;
            let dir = tempfile::tempdir().unwrap();
            std::os::unix::fs::symlink(root().join("certs"), dir.path().join("certs")).unwrap();
            let mut lines = block.iter().peekable();
            while let Some(command) = lines.next() {
                let command = command.strip_prefix("$ ").unwrap();
                assert!(
                    !command.contains(['"', '\'', '|', '>']),
                    "{}: transcripts run without a shell: {command}",
                    page_name(&path)
                );
                let mut expected = String::new();
                while let Some(line) = lines.next_if(|line| !line.starts_with("$ ")) {
                    expected.push_str(line);
                    expected.push('\n');
                }
                let args: Vec<&str> = command.split_whitespace().skip(1).collect();
                let output = mxconf()
                    .args(&args)
                    .current_dir(dir.path())
                    .env_remove("MXCONF_CONFIG")
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "{}: `{command}` failed: {}",
                    page_name(&path),
                    String::from_utf8_lossy(&output.stderr)
                );
                assert_eq!(
                    String::from_utf8(output.stdout).unwrap(),
                    expected,
                    "{}: the output of `{command}` has changed; update the sample",
                    page_name(&path)
                );
            }
        }
    }
    assert!(
        transcripts >= 2,
        "the verify and dns samples are transcripts"
    );
}

/// Every ```nginx block of the docs, with test certificates, passes `nginx -t` of the nginx
/// installed here (Debian 12: 1.22) without a warning. Without nginx the test says so and
/// passes, except under CI (`CI` set, as `.ci/run` does), which installs it.
#[test]
fn nginx_samples_pass_nginx_t() {
    if nginx().arg("-v").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed, and CI must test the nginx samples (apt-get install nginx)"
        );
        eprintln!("nginx_samples_pass_nginx_t: SKIPPED, nginx is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=autoconfig.example.com", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(status.status.success(), "{status:?}");
    let mut samples = 0;
    for (path, text) in pages() {
        for block in code_blocks(&text, "nginx") {
            samples += 1;
            let mut server = String::new();
            for line in block {
                let directive = line.trim_start();
                let line = if directive.starts_with("ssl_certificate_key ") {
                    format!("ssl_certificate_key {};", key.display())
                } else if directive.starts_with("ssl_certificate ") {
                    format!("ssl_certificate {};", cert.display())
                } else {
                    line.to_string()
                };
                server.push_str(&line);
                server.push('\n');
            }
            let prefix = dir.path();
            let temp = |name: &str| format!("{name} {};\n", prefix.join(name).display());
            let conf = format!(
                "pid {pid};\nerror_log {log};\nevents {{}}\nhttp {{\naccess_log off;\n{}{}{}{}{}{server}}}\n",
                temp("client_body_temp_path"),
                temp("proxy_temp_path"),
                temp("fastcgi_temp_path"),
                temp("uwsgi_temp_path"),
                temp("scgi_temp_path"),
                pid = prefix.join("nginx.pid").display(),
                log = prefix.join("error.log").display(),
            );
            let file = prefix.join("nginx.conf");
            std::fs::write(&file, &conf).unwrap();
            let output = nginx()
                .arg("-t")
                .arg("-p")
                .arg(prefix)
                .arg("-e")
                .arg(prefix.join("error.log"))
                .arg("-c")
                .arg(&file)
                .output()
                .expect("nginx runs (apt-get install nginx)");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success() && stderr.contains("test is successful"),
                "{}: nginx -t refused the sample:\n{stderr}\n{conf}",
                page_name(&path)
            );
            assert!(
                !stderr.contains("[warn]"),
                "{}: nginx -t warns about the sample:\n{stderr}",
                page_name(&path)
            );
        }
    }
    assert!(samples >= 1, "docs/operations.md has the nginx sample");
}

/// nginx lives in /usr/sbin, which is not on every user's PATH.
fn nginx() -> Command {
    let sbin = Path::new("/usr/sbin/nginx");
    Command::new(if sbin.exists() {
        sbin
    } else {
        Path::new("nginx")
    })
}

#[test]
fn toml_samples_in_the_docs_parse() {
    let mut samples = 0;
    for (path, text) in pages() {
        for block in code_blocks(&text, "toml") {
            samples += 1;
            let sample = block.join("\n");
            if let Err(error) = sample.parse::<toml::Table>() {
                panic!(
                    "{}: a TOML sample does not parse: {error}\n{sample}",
                    page_name(&path)
                );
            }
        }
    }
    assert!(samples >= 10, "{samples}");
}

/// Relative links point at files that exist, and `#anchors` at headings of the linked page.
#[test]
fn links_between_pages_resolve() {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    for (path, text) in pages() {
        for capture in link.captures_iter(&text) {
            let target = &capture[1];
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target, None),
            };
            let linked = if file.is_empty() {
                path.clone()
            } else {
                path.parent().unwrap().join(file)
            };
            assert!(
                linked.exists(),
                "{}: link to missing {target}",
                page_name(&path)
            );
            if let Some(fragment) = fragment {
                let text = std::fs::read_to_string(&linked).unwrap();
                assert!(
                    headings(&text).iter().any(|h| anchor(h) == fragment),
                    "{}: no heading for #{fragment} in {}",
                    page_name(&path),
                    page_name(&linked)
                );
            }
        }
    }
}

#[test]
fn readme_links_every_docs_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (path, _) in pages().into_iter().skip(1) {
        let name = page_name(&path);
        assert!(
            readme.contains(&format!("]({name})")),
            "README.md does not link {name}"
        );
    }
}

/// Comments cite the docs as `docs/<page>.md, "Heading"`: each such citation names a page and a
/// heading that exist, so a renamed section cannot leave the code pointing nowhere. A heading
/// may wrap onto the next comment line.
#[test]
fn citations_of_docs_sections_resolve() {
    let citation = regex::Regex::new(r#"docs/([a-z-]+\.md),? ["“]([^"”]+)["”]"#).unwrap();
    let wrap = regex::Regex::new(r"\s*\n\s*(?://[/!]?|#)?\s*").unwrap();
    let mut citations = 0;
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", ".ci", "fuzz", "web", "examples"] {
        collect_files(&root().join(dir), &mut files);
    }
    files.push(root().join("Cargo.toml"));
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue; // binary fixtures
        };
        for capture in citation.captures_iter(&text) {
            let page = root().join("docs").join(&capture[1]);
            citations += 1;
            let heading = wrap.replace_all(capture[2].trim(), " ");
            let page_text = std::fs::read_to_string(&page).unwrap_or_else(|_| {
                panic!("{} cites missing docs/{}", page_name(&file), &capture[1])
            });
            assert!(
                headings(&page_text).iter().any(|h| *h == heading),
                "{} cites docs/{}, \"{heading}\", which has no such heading",
                page_name(&file),
                &capture[1]
            );
        }
    }
    assert!(citations >= 40, "{citations} citations found");
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") && !path.ends_with("corpus") {
                collect_files(&path, files);
            }
        } else {
            files.push(path);
        }
    }
}
