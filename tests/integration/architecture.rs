//! Keeps the one-way data flow honest: core modules (config → resolve → render → sign) never
//! reach up into the HTTP layer or the command line.

use std::path::Path;

const CORE: [&str; 11] = [
    "account", "backend", "config", "dns.rs", "import", "profile", "protocol", "resolve",
    "signing", "webform", "lib.rs",
];
const FORBIDDEN: [&str; 4] = ["crate::server", "crate::cli", "axum::", "clap::"];

fn rust_files(path: &Path, files: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), files);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_path_buf());
    }
}

#[test]
fn core_modules_never_import_server_or_cli() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in CORE {
        rust_files(&src.join(module), &mut files);
    }
    assert!(files.len() > 5, "scanned too few files: {files:?}");
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            FORBIDDEN
                .iter()
                .filter(|needle| text.contains(*needle))
                .map(|needle| format!("{} uses {needle}", file.display()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(offenders.is_empty(), "{offenders:#?}");
}
