//! A real ACME CA for the tests: Debian's `pebble`, with `pebble-challtestsrv` as its DNS
//! server (every name resolves to 127.0.0.1), both on free loopback ports, stopped on drop.
//! Pebble's own HTTPS certificate comes from a test CA (the package ships none), and
//! its validation ports point at the mxconf under test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use tempfile::TempDir;

use super::deployment::{TestCa, Validity};
use super::servers::{free_port, run, wait_for};

pub struct Pebble {
    dir: TempDir,
    /// Issued pebble's own HTTPS certificate (`localhost`).
    https_ca: TestCa,
    https: (PathBuf, PathBuf),
    pebble: Option<Child>,
    dns: Child,
    pub port: u16,
    pub management_port: u16,
    /// mxconf's ports the CA validates against.
    pub http_port: u16,
    pub tls_port: u16,
    validity: Option<u64>,
    dns_port: u16,
    log: Arc<Mutex<String>>,
}

impl Pebble {
    /// Pebble validating http-01 on `http_port` and tls-alpn-01 on `tls_port`, issuing
    /// certificates valid for `validity` seconds (pebble's default, five years, without).
    pub fn start(http_port: u16, tls_port: u16, validity: Option<u64>) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let https_ca = TestCa::new();
        let https = https_ca.issue("pebble", &["localhost"], Validity::Current);
        let dns_port = free_port();
        let dns = Command::new("pebble-challtestsrv")
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv runs (apt-get install pebble)");
        let mut pebble = Pebble {
            dir,
            https_ca,
            https,
            pebble: None,
            dns,
            port: free_port(),
            management_port: free_port(),
            http_port,
            tls_port,
            validity,
            dns_port,
            log: Arc::default(),
        };
        pebble.start_again();
        pebble
    }

    /// (Re)starts the CA itself: a new CA each time (pebble keeps nothing), same ports.
    pub fn start_again(&mut self) {
        let mut config = serde_json::json!({
            "listenAddress": format!("127.0.0.1:{}", self.port),
            "managementListenAddress": format!("127.0.0.1:{}", self.management_port),
            "certificate": self.https.0,
            "privateKey": self.https.1,
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(validity) = self.validity {
            config["certificateValidityPeriod"] = validity.into();
        }
        let file = self.dir.path().join("pebble.json");
        std::fs::write(&file, serde_json::json!({ "pebble": config }).to_string()).unwrap();
        let mut child = Command::new("pebble")
            .arg("-config")
            .arg(&file)
            .args(["-dnsserver", &format!("127.0.0.1:{}", self.dns_port)])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble runs (apt-get install pebble)");
        let stdout = child.stdout.take().unwrap();
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        self.pebble = Some(child);
        wait_for(([127, 0, 0, 1], self.port).into());
        wait_for(([127, 0, 0, 1], self.management_port).into());
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.pebble.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn directory(&self) -> String {
        format!("https://localhost:{}/dir", self.port)
    }

    /// The root pebble's own HTTPS certificate is signed by (for `ca-file`).
    pub fn https_root(&self) -> PathBuf {
        self.https_ca.ca_file()
    }

    /// Everything pebble has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Orders pebble has accepted since it started (each logs one `new-order` request).
    pub fn orders(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains("POST /order-plz"))
            .count()
    }

    /// The issuing root of this pebble run, from its management API, as a PEM file.
    pub fn issuing_root(&self) -> PathBuf {
        let path = self.dir.path().join("issuing-root.pem");
        run(Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(self.https_root())
            .arg(format!(
                "https://localhost:{}/roots/0",
                self.management_port
            ))
            .arg("-o")
            .arg(&path));
        path
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        let _ = self.dns.kill();
        let _ = self.dns.wait();
    }
}
