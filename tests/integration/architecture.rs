//! Keeps the one-way data flow honest: core modules (config → resolve → render → sign →
//! answer) never reach up into the HTTP layer or the command line, and the command line
//! reaches the server only to start it, never for its answers.

use std::path::{Path, PathBuf};

/// The front ends; everything else under `src/` is core (new modules are covered unasked).
const FRONT_ENDS: [&str; 3] = ["server", "cli", "main.rs"];
const NOT_IN_CORE: [&str; 4] = ["crate::server", "crate::cli", "axum::", "clap::"];
/// The one use the command line may make of the server: `mxconf serve` starts it.
const SERVE: (&str, &str) = ("serve.rs", "crate::server::serve(");

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), files);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_path_buf());
    }
}

/// `file uses needle` for every needle in every file.
fn offenders(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            needles
                .iter()
                .filter(|needle| text.contains(*needle))
                .map(|needle| format!("{} uses {needle}", file.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn core_modules_never_import_server_or_cli() {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !FRONT_ENDS.contains(&name.as_str()) {
            rust_files(&path, &mut files);
        }
    }
    assert!(
        files.iter().any(|f| f.ends_with("answer/mod.rs")),
        "the answer layer is core: {files:?}"
    );
    let offenders = offenders(&files, &NOT_IN_CORE);
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn the_command_line_uses_the_answer_layer_not_the_server() {
    let mut files = Vec::new();
    rust_files(&src().join("cli"), &mut files);
    assert!(files.len() > 5, "scanned too few files: {files:?}");
    let (serve, allowed) = SERVE;
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut uses = text.matches("server::").count();
        if file.ends_with(serve) {
            assert!(
                text.contains(allowed),
                "{} no longer starts the server",
                file.display()
            );
            uses -= text.matches(allowed).count();
        }
        if uses > 0 || text.contains("super::super") {
            offenders.push(format!("{} reaches into the server", file.display()));
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
