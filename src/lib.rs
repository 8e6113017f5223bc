//! mxconf: mail client autoconfiguration from nothing but an address, and signed Apple
//! configuration profiles.
//!
//! Data flows one way, and the modules read in that order:
//!
//! ```text
//! config ──► resolve (+ backends) ──► protocol / profile ──► signing ──► answer ──► server / cli
//! (TOML)     email → Account           pure renderers         CMS         policy      HTTP, terminal
//! ```
//!
//! - [`config`]: `mxconf.toml` (or the embedded demo) validated once into an immutable `Config`.
//! - [`account`]: the vocabulary: `EmailAddress`, `Domain`, servers, the services a domain
//!   offers, placeholder templates, the resolved `Account`; every closed set spelled in one table.
//! - [`resolve`]: the seam: address → `Account`; owns the backends' cache and failure policy.
//! - [`backend`]: per-user sources (SQL, LDAP, a command) behind one trait, returning patches.
//! - [`protocol`]: Mozilla autoconfig, Autodiscover POX (Outlook, MobileSync) and v2 JSON.
//! - [`webform`]: the download page for iPhones (templates, languages, QR code).
//! - [`profile`]: Apple `.mobileconfig` profiles, and their check against Apple's schema.
//! - [`signing`]: CMS SignedData signing of profiles and verification of signed ones.
//! - [`acme`]: HTTPS certificates from an ACME CA, obtained and renewed in the background.
//! - [`import`]: `automx.conf` and Thunderbird ISPDB files → `mxconf.toml` text.
//! - [`answer`]: request → answer, the one policy (unknown domains, redirects, the profile
//!   pipeline) that both front ends call.
//! - [`limits`]: abuse protection, per-client budgets counted in memory or in Redis.
//! - [`dns`]: the records to publish; [`doctor`]: checks a live deployment against the config.
//! - [`files`]: the small files a config names, read bounded.
//! - [`hostnames`]: the host names clients reach this server by, one certificate per domain.
//! - [`incident`]: trouble logged once when it starts and once, with a count, when it ends.
//! - [`tls`]: HTTPS in the process: the certificates served by SNI, and the handshake.
//! - [`metrics`]: the Prometheus series, one function per event the flow records.
//! - [`server`]: the thin axum layer; [`cli`]: the `mxconf` subcommands.
//!
//! Core modules (all but `server` and `cli`) never import `server` or `cli`, and `cli` only
//! starts the server (`mxconf serve`); `tests/integration/architecture.rs` keeps it so.

pub mod account;
pub mod acme;
pub mod answer;
pub mod backend;
pub mod cli;
pub mod config;
pub mod dns;
pub mod doctor;
pub mod expiry;
pub mod files;
pub mod hostnames;
pub mod import;
pub mod incident;
pub mod limits;
pub mod metrics;
pub mod profile;
pub mod protocol;
pub mod resolve;
pub mod server;
pub mod signing;
pub mod tls;
pub mod webform;
