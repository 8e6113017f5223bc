//! The fuzz corpus, replayed on the stable toolchain: every file under `fuzz/corpus/TARGET/`
//! (our seeds and the inputs the fuzzer found, crashes included once fixed) goes through the
//! same entry point as the fuzz target (`fuzz/src/lib.rs`), which asserts what must hold for
//! any input. The third-party files the fuzzer also starts from (`tests/fixtures/`) are
//! replayed in place rather than copied into the corpus.

use std::path::{Path, PathBuf};

#[path = "../../fuzz/src/lib.rs"]
mod entry;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dirs` (relative to the repository), sorted; at least `min` of them.
fn inputs(dirs: &[&str], min: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .filter(|path| !path.ends_with("SOURCE.md") && !path.ends_with("LICENSE"))
        .collect();
    files.sort();
    assert!(files.len() >= min, "{dirs:?}: {} inputs", files.len());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// Runs `target` on each input, naming the input that fails.
fn replay(dirs: &[&str], min: usize, target: impl Fn(&[u8])) {
    for (path, bytes) in inputs(dirs, min) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&bytes)));
        assert!(
            outcome.is_ok(),
            "{} fails its fuzz target's checks (see the panic above)",
            path.strip_prefix(root()).unwrap().display()
        );
    }
}

#[test]
fn pox_request_corpus() {
    replay(
        &[
            "fuzz/corpus/pox_request",
            "tests/fixtures/autodiscover/examples",
        ],
        10,
        entry::pox_request,
    );
}

#[test]
fn address_corpus() {
    replay(&["fuzz/corpus/address"], 20, entry::address);
}

#[test]
fn config_corpus() {
    replay(&["fuzz/corpus/config"], 15, entry::config);
}

#[test]
fn verify_der_corpus() {
    let ca = root().join("certs/root.pem");
    replay(&["fuzz/corpus/verify_der"], 5, |data| {
        entry::verify_der(data, &ca)
    });
}

#[test]
fn import_automx_corpus() {
    replay(
        &["fuzz/corpus/import_automx", "tests/fixtures/automx"],
        5,
        entry::import_automx,
    );
}

#[test]
fn import_ispdb_corpus() {
    replay(
        &["fuzz/corpus/import_ispdb", "tests/fixtures/ispdb"],
        40,
        entry::import_ispdb,
    );
}

#[test]
fn profile_corpus() {
    replay(&["fuzz/corpus/profile"], 4, entry::profile);
}

/// The corpus seeds that are valid are accepted, so the checks above run on the success path
/// too, not only on refusals.
#[test]
fn the_valid_seeds_are_accepted() {
    let ca = root().join("certs/root.pem");
    for name in [
        "demo-rsa.mobileconfig",
        "mac-ec.mobileconfig",
        "openssl-keyid.mobileconfig",
    ] {
        let der = std::fs::read(root().join("fuzz/corpus/verify_der").join(name)).unwrap();
        assert!(mxconf::signing::verify(&der, Some(&ca)).is_ok(), "{name}");
    }
    let example = std::fs::read_to_string(root().join("fuzz/corpus/config/example-mxconf.toml"));
    let source = mxconf::config::ConfigSource::File("mxconf.toml".into());
    assert!(mxconf::config::Config::from_toml(&example.unwrap(), source).is_ok());
    let request = std::fs::read(root().join("fuzz/corpus/pox_request/bom-https-namespace.xml"));
    assert!(mxconf::protocol::autodiscover::PoxRequest::parse(&request.unwrap()).is_ok());
}
