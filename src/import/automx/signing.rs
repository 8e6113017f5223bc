//! automx's `sign_mobileconfig`, `sign_cert`, `sign_key`, `sign_more_certs` → `[signing]`.
//! A migrated server must not start serving unsigned profiles without a word: the table is
//! written when the files check out on this machine (as `mxconf check-config` will check
//! them), and otherwise written commented out, with the reason above it and on stderr.

use std::path::PathBuf;

use super::AutomxConf;
use crate::config::SigningSettings;
use crate::import::{TableOut, TomlValue};
use crate::signing::Signer;

/// How one section signed: the options as automx read them (`[DEFAULT]` merged in).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signing {
    enabled: bool,
    cert: Option<String>,
    key: Option<String>,
    more_certs: Option<String>,
}

/// `[signing]` (or its commented-out form) and the warnings for stderr.
pub(super) struct SigningOut {
    pub(super) table: Option<TableOut>,
    pub(super) warnings: Vec<String>,
}

impl AutomxConf<'_> {
    /// The signing of the sections that served domains (`serving`: section, domain). mxconf
    /// signs every profile with one identity, so the first enabled one is taken and any other
    /// is named in a note.
    pub(super) fn signing(&self, serving: &[(&str, &str)]) -> SigningOut {
        let mut used: Vec<(Signing, Vec<&str>)> = Vec::new();
        for &(section, domain) in serving {
            let signing = Signing {
                enabled: self.enabled(section, "sign_mobileconfig"),
                cert: self.get(section, "sign_cert").map(str::to_owned),
                key: self.get(section, "sign_key").map(str::to_owned),
                more_certs: self.get(section, "sign_more_certs").map(str::to_owned),
            };
            match used.iter_mut().find(|(s, _)| *s == signing) {
                Some((_, domains)) => domains.push(domain),
                None => used.push((signing, vec![domain])),
            }
        }
        let mentioned = |s: &Signing| s.enabled || s.cert.is_some() || s.key.is_some();
        if !used.iter().any(|(s, _)| mentioned(s)) {
            return SigningOut {
                table: None,
                warnings: Vec::new(),
            };
        }
        let mut notes = Vec::new();
        let chosen = used
            .iter()
            .find(|(s, _)| s.enabled && s.cert.is_some() && s.key.is_some());
        for (signing, domains) in &used {
            let domains = domains.join(", ");
            if chosen.is_some_and(|(c, _)| c == signing) {
                continue;
            }
            let why = if !signing.enabled {
                "sign_mobileconfig was off, so automx served them unsigned"
            } else if signing.cert.is_none() || signing.key.is_none() {
                "sign_mobileconfig = yes without both sign_cert and sign_key, so automx served \
                 them unsigned"
            } else {
                "they were signed with another identity; mxconf signs every profile with one"
            };
            notes.push(format!("automx profiles for {domains}: {why}."));
        }
        let Some((signing, _)) = chosen else {
            // Nothing was signed: the files named anywhere are offered, commented out.
            let named = used
                .iter()
                .map(|(s, _)| s)
                .find(|s| s.cert.is_some() || s.key.is_some());
            let keys = named
                .map(|signing| keys(signing, &mut notes).0)
                .unwrap_or_default();
            return SigningOut {
                table: Some(TableOut {
                    notes,
                    keys,
                    commented_out: true,
                }),
                warnings: vec![
                    "automx served unsigned profiles, and so will this configuration until \
                     [signing] is filled in"
                        .to_owned(),
                ],
            };
        };
        let (keys, settings) = keys(signing, &mut notes);
        notes.insert(
            0,
            "From automx sign_mobileconfig = yes (sign_cert, sign_key, sign_more_certs). mxconf \
             also embeds the certificates after the first one in cert, which automx's openssl \
             call left out."
                .into(),
        );
        let mut warnings = Vec::new();
        let commented_out = match Signer::from_settings(&settings) {
            Ok(_) => false,
            Err(error) => {
                notes.push(format!(
                    "Commented out because the files do not check out on this machine: {error}. \
                     Until [signing] is enabled, profiles are served UNSIGNED."
                ));
                warnings.push(format!(
                    "[signing] is commented out ({error}); profiles are served unsigned until \
                     you enable it"
                ));
                true
            }
        };
        SigningOut {
            table: Some(TableOut {
                notes,
                keys,
                commented_out,
            }),
            warnings,
        }
    }
}

/// The `[signing]` keys for automx's paths, and the settings `check-config` will check. A
/// relative path was relative to automx's working directory, `/` under mod_wsgi and uWSGI.
fn keys(
    signing: &Signing,
    notes: &mut Vec<String>,
) -> (Vec<(&'static str, TomlValue)>, SigningSettings) {
    let mut absolute = |option: &str, path: &str| {
        if path.starts_with('/') {
            return path.to_owned();
        }
        notes.push(format!(
            "automx {option} = {path} was relative to automx's working directory; written as /{path}"
        ));
        format!("/{path}")
    };
    let cert = signing
        .cert
        .as_deref()
        .map(|path| absolute("sign_cert", path));
    let key = signing
        .key
        .as_deref()
        .map(|path| absolute("sign_key", path));
    let chain = signing
        .more_certs
        .as_deref()
        .map(|path| absolute("sign_more_certs", path));
    let mut keys = Vec::new();
    for (name, path) in [("cert", &cert), ("key", &key), ("chain", &chain)] {
        if let Some(path) = path {
            keys.push((name, TomlValue::Str(path.clone())));
        }
    }
    let settings = SigningSettings::Pem {
        cert: PathBuf::from(cert.unwrap_or_default()),
        chain: chain.map(PathBuf::from),
        key: PathBuf::from(key.unwrap_or_default()),
    };
    (keys, settings)
}
