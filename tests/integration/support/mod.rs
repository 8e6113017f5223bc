//! Shared test helpers: the real server on port 0, spec file paths, external validators.

#![allow(dead_code)] // each test module uses a different subset of the helpers

pub mod cli;
pub mod clients;
pub mod deployment;
pub mod exchangelib;
pub mod notify;
pub mod openssl;
pub mod pebble;
pub mod pox;
pub mod process;
pub mod relay;
pub mod servers;
pub mod webdriver;

use std::net::SocketAddr;
use std::path::PathBuf;

use mxconf::config::{Config, ConfigSource};
use mxconf::server::AppState;

/// The third-party test data (`tests/fixtures/`, each folder with its licence and SOURCE.md).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Apple's device-management YAML as shipped (`schema/apple/`), read at run time.
pub fn apple_schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/apple")
}

pub fn demo_config() -> Config {
    Config::demo().expect("demo config loads")
}

pub fn config_from(text: &str) -> Config {
    Config::from_toml(text, ConfigSource::File("test.toml".into())).expect("test config loads")
}

/// A running server on 127.0.0.1:0; dropped with the test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = AppState::load(config).expect("app state loads");
        tokio::spawn(mxconf::server::serve_listener(listener, state));
        TestServer { addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Validates the JSON `document` against the JSON Schema (2020-12) at `schema` (relative to
/// the crate) with Python's `jsonschema` (pip `jsonschema`); panics with its report.
pub fn validate_json_schema(schema: &str, document: &[u8]) {
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(schema);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("document.json");
    std::fs::write(&file, document).unwrap();
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             jsonschema.validate(json.load(open(sys.argv[2])), schema,\n\
                 cls=jsonschema.Draft202012Validator)",
        ])
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the document does not match {} (pip install jsonschema):\n{}",
        schema.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `xmllint --noout ARGS FILE` on `body`; panics with xmllint's report when it fails.
pub fn xmllint(args: &[&str], body: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("answer.xml");
    std::fs::write(&file, body).expect("write answer");
    let output = std::process::Command::new("xmllint")
        .arg("--noout")
        .args(args)
        .arg(&file)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    assert!(
        output.status.success(),
        "xmllint {args:?} rejected:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(body)
    );
}

/// Validates an autoconfig answer against the draft's RELAX NG schema.
pub fn validate_autoconfig(body: &[u8]) {
    let rng = fixtures().join("autoconfig/autoconfig.rng");
    xmllint(&["--relaxng", rng.to_str().expect("utf-8 path")], body);
}

/// Validates a MobileSync or error answer against [MS-ASCMD]'s Autodiscover XSD.
pub fn validate_autodiscover(body: &[u8]) {
    let xsd = fixtures().join("autodiscover/AutodiscoverResponse.xsd");
    xmllint(&["--schema", xsd.to_str().expect("utf-8 path")], body);
}

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Sends `request` as is (the caller writes the request line, headers and
/// `Connection: close`) and reads the whole response: for what reqwest will not send
/// (hand-made chunked bodies, odd Host headers).
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read");
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    RawResponse {
        status,
        head,
        body: bytes[split + 4..].to_vec(),
    }
}
