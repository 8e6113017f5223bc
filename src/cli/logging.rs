//! The tracing subscriber for the server: human-readable lines on stderr, level from
//! `RUST_LOG` (default `info`). Request logs carry method, path and status, never bodies
//! or query strings, so addresses typed into forms and passwords never reach the log.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
