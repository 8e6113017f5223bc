//! The `mxconf` binary as the tests run it: the built command, a config file written to a
//! temporary directory, and `mxconf check-config` on it. Shared by every module that drives the
//! command line, so that each says only what it checks.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The `mxconf` binary of this build.
pub fn mxconf() -> Command {
    Command::cargo_bin("mxconf").expect("binary builds")
}

/// Writes `contents` to `name` in a fresh temporary directory; the directory lives as long as
/// the returned guard.
pub fn temp_file(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    (dir, path)
}

/// A FIFO at `dir/name`: a path a reader that does not check the file's type blocks on.
pub fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
    path
}

/// `mxconf check-config --config PATH`, run to completion.
pub fn check_config(path: &Path) -> Output {
    mxconf()
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .expect("mxconf runs")
}

/// Panics with the command's stderr unless it exited 0.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
