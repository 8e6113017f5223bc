//! The validated, immutable configuration: built once at start-up from `mxconf.toml` (or the
//! embedded demo, which is `examples/mxconf.toml` itself) and shared read-only afterwards.
//! First stage of the flow; depends only on `account` for its vocabulary.
//!
//! One rule for where things live: each section `config/<section>.rs` (a folder when it has
//! parts, as `backend/` has one file per type) holds its raw serde form (`…File`), its
//! validated form (`…Settings`) and the `check` between them. `file.rs` assembles the raw
//! forms into the document, `load.rs` runs the checks into [`Config`]; every check reports
//! through `checker.rs`, a leaf, and resolves its paths there. Modules here import only the
//! modules below them: sections never import `load`, `file` or this file.

pub mod acme;
pub mod backend;
mod checker;
pub mod domain;
mod error;
pub mod file;
pub mod limits;
mod load;
mod log;
mod metrics;
mod profile;
mod provider;
mod redirect;
mod server;
mod signing;
mod tls;
pub mod web;

pub use domain::DomainSettings;
pub use error::{ConfigError, ConfigIssue};
pub use limits::LimitSettings;
pub use load::{Config, ConfigSource, DEMO_NAME, DEMO_TOML};
pub use log::{LogFormat, LogSettings};
pub use metrics::MetricsSettings;
pub use profile::ProfileSettings;
pub use redirect::DomainRedirect;
pub use server::ConnectionSettings;
pub use signing::SigningSettings;
pub use tls::{CertificateFiles, TlsSettings};
pub use web::WebSettings;

#[cfg(test)]
mod tests;
