//! Third-party files are kept byte for byte: every file under `schema/` and `tests/fixtures/`
//! is listed in its folder's SOURCE.md with its git blob id, which anyone can compare with
//! upstream's `git ls-tree`, and which this test recomputes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `git hash-object`: SHA-1 over `blob <length>\0` and the bytes.
fn blob_id(bytes: &[u8]) -> String {
    let mut hasher = openssl::sha::Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hasher
        .finish()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The `| file | … | blob |` rows of a SOURCE.md: file name → blob id.
fn listed(source: &str) -> BTreeMap<String, String> {
    source
        .lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(|cell| cell.trim()).collect();
            let file = cells.get(1)?.trim_matches('`');
            let blob = cells.get(cells.len().checked_sub(2)?)?.trim_matches('`');
            (blob.len() == 40 && blob.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| (file.to_string(), blob.to_string()))
        })
        .collect()
}

fn files_under(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, base, out);
        } else if path.file_name().unwrap() != "SOURCE.md" {
            out.push(path.strip_prefix(base).unwrap().display().to_string());
        }
    }
}

fn vendored_folders() -> Vec<PathBuf> {
    let mut folders = vec![root().join("schema/apple")];
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    fixtures.sort();
    folders.extend(fixtures);
    folders
}

#[test]
fn vendored_files_match_the_blob_ids_in_their_source_notes() {
    let folders = vendored_folders();
    assert!(folders.len() >= 5, "{folders:?}");
    for folder in folders {
        let name = folder.strip_prefix(root()).unwrap().display().to_string();
        let source = std::fs::read_to_string(folder.join("SOURCE.md"))
            .unwrap_or_else(|_| panic!("{name} has no SOURCE.md"));
        let listed = listed(&source);
        let mut files = Vec::new();
        files_under(&folder, &folder, &mut files);
        files.sort();
        assert!(
            source.contains("Licence:"),
            "{name}/SOURCE.md does not name the files' licence"
        );
        assert_eq!(
            listed.keys().cloned().collect::<Vec<_>>(),
            files,
            "{name}/SOURCE.md lists exactly the files of its folder"
        );
        for (file, blob) in listed {
            let bytes = std::fs::read(folder.join(&file)).unwrap();
            assert_eq!(
                blob_id(&bytes),
                blob,
                "{name}/{file} is no longer the copy SOURCE.md describes"
            );
        }
    }
}
