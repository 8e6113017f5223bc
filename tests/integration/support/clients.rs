//! The real clients of `tests/clients/` (Thunderbird, exchangelib), each run in a private
//! network namespace where it starts mxconf on ports 80 and 443 itself, against one shared
//! deployment: example.com with a certificate from a test CA made here, and example.net, a
//! served domain no certificate covers.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use super::deployment::{TestCa, Validity};

/// A configuration on disk (`config` with example.net and `[tls]` added) and the CA its
/// certificate for example.com's discovery hosts comes from.
pub struct Deployment {
    pub ca: TestCa,
    pub config: PathBuf,
    _dir: TempDir,
}

impl Deployment {
    pub fn new(config: &str) -> Deployment {
        let ca = TestCa::new();
        let (cert, key) = ca.issue(
            "discovery",
            &["autoconfig.example.com", "autodiscover.example.com"],
            Validity::Current,
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mxconf.toml");
        std::fs::write(&path, with_example_net_and_tls(config, &cert, &key)).unwrap();
        Deployment {
            ca,
            config: path,
            _dir: dir,
        }
    }

    /// Runs `tests/clients/<script> MXCONF CONFIG CA ARGS…` under `unshare --net`; the JSON
    /// it prints.
    pub fn run<I, S>(&self, script: &str, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/clients")
            .join(script);
        let output = Command::new("unshare")
            .args(["--net", "--", "python3"])
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_mxconf"))
            .arg(&self.config)
            .arg(self.ca.ca_file())
            .args(args)
            .output()
            .expect("unshare and python3 run");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{} failed: {stdout}\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(&stdout).expect("the harness prints JSON")
    }
}

/// `config` plus example.net (IMAP and SMTP, EWS) and `[tls]` serving `cert`.
fn with_example_net_and_tls(config: &str, cert: &Path, key: &Path) -> String {
    format!(
        "{config}\n[domains.\"example.net\"]\news = \"https://mail.example.net/EWS/Exchange.asmx\"\n\
         [[domains.\"example.net\".imap]]\nhost = \"imap.example.net\"\nport = 993\nsecurity = \"tls\"\n\
         [[domains.\"example.net\".smtp]]\nhost = \"smtp.example.net\"\nport = 465\nsecurity = \"tls\"\n\
         [tls]\n[[tls.certificate]]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string(),
    )
}
