//! exchangelib (pip `exchangelib==4.9.0`), the runnable stand-in for Outlook's POX parser:
//! runs a Python snippet over answer bodies written to files and returns what it printed.

use std::path::PathBuf;

/// Runs `script` with the paths of `bodies` (written to temporary files, in order) as its
/// arguments, and parses the JSON it prints. `EXCHANGELIB_PYTHON` picks the interpreter.
pub fn run(script: &str, bodies: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = bodies
        .iter()
        .enumerate()
        .map(|(index, body)| {
            let path = dir.path().join(format!("{index}.xml"));
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect();
    let python = std::env::var("EXCHANGELIB_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(&paths)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "exchangelib (pip install exchangelib==4.9.0) failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
