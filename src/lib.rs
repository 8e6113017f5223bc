//! mxconf: mail client autoconfiguration from nothing but an address, and signed Apple
//! configuration profiles.
//!
//! Data flows one way, and the modules read in that order:
//!
//! ```text
//! config ──► resolve (+ backends) ──► protocol / profile ──► signing ──► server / cli
//! (TOML)     email → Account           pure renderers         CMS         HTTP, terminal
//! ```
//!
//! - [`config`]: `mxconf.toml` (or the embedded demo) validated once into an immutable `Config`.
//! - [`account`]: the vocabulary: `EmailAddress`, `Domain`, servers, the resolved `Account`.
//! - [`resolve`]: the seam: address → `Account`; owns the backends' cache and failure policy.
//! - [`backend`]: per-user sources (SQL, LDAP, a command) behind one trait, returning patches.
//! - [`protocol`]: Mozilla autoconfig, Autodiscover POX (Outlook, MobileSync) and v2 JSON.
//! - [`profile`]: Apple `.mobileconfig` profiles, and their check against Apple's schema.
//! - [`signing`]: CMS SignedData signing of profiles and verification of signed ones.
//! - [`import`]: `automx.conf` and Thunderbird ISPDB files → `mxconf.toml` text.
//! - [`server`]: the thin axum layer; [`cli`]: the `mxconf` subcommands.
//!
//! Core modules never import `server` or `cli`.

pub mod account;
pub mod backend;
pub mod cli;
pub mod config;
pub mod dns;
pub mod import;
pub mod profile;
pub mod protocol;
pub mod resolve;
pub mod server;
pub mod signing;
