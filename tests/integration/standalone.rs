//! The repository stands alone: no file of ours points at anything beside the checkout (a
//! sibling folder of notes, specs or reference files), at absolute paths of one machine, or at
//! issue numbers, ours or another project's. Decisions are written down in `docs/` and cited by
//! section (`docs/protocols.md, "Outlook SSL on"`), which
//! `docs::citations_of_docs_sections_resolve` checks. `.ci/run` backs this up by testing a copy
//! of the committed tree in an otherwise empty directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every text file we wrote: third-party files (`schema/`, `tests/fixtures/`, each with its
/// SOURCE.md), fuzz corpora (raw inputs) and build output are not ours to word.
fn our_files(path: &Path, files: &mut Vec<PathBuf>) {
    let name = path.strip_prefix(root()).unwrap();
    let skipped = [
        ".git",
        "target",
        "schema",
        "tests/fixtures",
        "fuzz/corpus",
        "fuzz/artifacts",
        "fuzz/target",
        "fuzz/coverage",
    ];
    // This file spells out what it forbids.
    if skipped.iter().any(|skip| name == Path::new(skip))
        || name == Path::new("tests/integration/standalone.rs")
    {
        return;
    }
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            our_files(&entry.unwrap().path(), files);
        }
    } else {
        files.push(path.to_path_buf());
    }
}

/// What may not appear, with why. Written so that none matches its own pattern text.
fn forbidden() -> Vec<(Regex, &'static str)> {
    let rule = |pattern: &str, why| (Regex::new(pattern).unwrap(), why);
    vec![
        rule(r"\.\./shared|/work/", "a path outside the checkout"),
        rule(
            r"\.md\s?§",
            "a numbered section: our docs are cited by heading, anything else is not here",
        ),
        rule(
            r"\bNOTES\.md|\bcrates\.md",
            "a notes file that is not in the repository",
        ),
        rule(
            r"(?:^|[\s`(])reference/",
            "a reference file that is not in the repository",
        ),
        rule(
            r"(?:^|[\s`(])spec/(?:autoconfig|autodiscover|apple)",
            "the specs' original folder (the repository's copies are under tests/fixtures/)",
        ),
        rule(
            r"(?i)\b(?:issues?|PR|pull request|bug)\s?#?\d+\b",
            "an issue number (say what it decided, in our own words or in docs/)",
        ),
        rule(
            r"(?i)\b(?:automx2?|mailcow|mailu|stalwart|nextcloud|algo|mail-in-a-box|thunderbird|k-9|exchangelib|evolution|himalaya|delta ?chat|[\w.-]+/[\w.-]+)\s?#\d+\b",
            "another project's issue number (docs/protocols.md, \"Client quirks\", says why)",
        ),
    ]
}

/// The Markdown files of the repository, by file name: a `NAME.md` we mention must be one.
fn markdown_names(files: &[PathBuf]) -> BTreeSet<String> {
    let mut all = files.to_vec();
    for vendored in ["schema", "tests/fixtures"] {
        our_files_unfiltered(&root().join(vendored), &mut all);
    }
    all.iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn our_files_unfiltered(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            our_files_unfiltered(&entry.unwrap().path(), files);
        }
    } else {
        files.push(path.to_path_buf());
    }
}

#[test]
fn nothing_refers_outside_the_repository() {
    let mut files = Vec::new();
    our_files(root(), &mut files);
    assert!(files.len() > 100, "{} files", files.len());
    let rules = forbidden();
    let markdown = markdown_names(&files);
    let mention = Regex::new(r"\b[\w.-]+\.md\b").unwrap();
    let url = Regex::new(r"https?://\S+").unwrap();
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // images, keys in DER
        };
        let name = file.strip_prefix(root()).unwrap().display();
        for (number, line) in text.lines().enumerate() {
            for (pattern, why) in &rules {
                if let Some(hit) = pattern.find(line) {
                    found.push(format!("{name}:{}: {:?}: {why}", number + 1, hit.as_str()));
                }
            }
            for hit in mention.find_iter(&url.replace_all(line, "")) {
                if !markdown.contains(hit.as_str()) {
                    found.push(format!(
                        "{name}:{}: {:?}: a Markdown file that is not in the repository",
                        number + 1,
                        hit.as_str()
                    ));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_rules_catch_what_they_are_for() {
    let rules = forbidden();
    let caught = |line: &str| rules.iter().any(|(pattern, _)| pattern.is_match(line));
    for bad in [
        "// see ../shared/spec",
        "// NOTES.md: accept both",
        "# HTTP stack (crates.md §5)",
        "//! (reference/automx.md §1.4)",
        "schema (`spec/autoconfig/autoconfig.rng`)",
        "// The download form (issue 4)",
        "// automx2 #8; exchangelib",
        "/// (trailofbits/algo#108)",
        "/// (mail-in-a-box PR #1402)",
        "/// never a URL: nextcloud#2065",
    ] {
        assert!(caught(bad), "{bad}");
    }
    for good in [
        "// PKCS#12 bundle",
        "accent-colour = \"#1a56b0\"",
        "theme_css(\"#000\")",
        "// docs/protocols.md, \"Outlook SSL on\"",
        "tests/fixtures/autoconfig/autoconfig.rng",
    ] {
        assert!(!caught(good), "{good}");
    }
}
