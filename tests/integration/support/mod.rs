//! Shared test helpers: the real server on port 0, spec file paths, external validators.

#![allow(dead_code)] // each test module uses a different subset of the helpers

pub mod webdriver;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mxconf::config::{Config, ConfigSource};
use mxconf::server::{AppState, router};

/// `../shared/spec` relative to the crate, as laid out on every machine and in CI.
pub fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/spec")
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
        let app = router(Arc::new(AppState::load(config).expect("app state loads")));
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("server runs");
        });
        TestServer { addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}
