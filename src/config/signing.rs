//! `[signing]`: which identity signs Apple profiles. The file form, its validated form and the
//! check between them. Only paths are validated here; the files themselves are opened and
//! checked (key matches, dates, permissions) by `signing::Signer` at start-up.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::checker::Checker;

/// `[signing]` as written. Exactly one form: `cert` + `key` (+ `chain`), `pkcs12` +
/// `password-file`, `acme = "HOST"`, or `development-chain = true`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SigningFile {
    pub cert: Option<Spanned<String>>,
    pub chain: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub pkcs12: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub development_chain: Option<Spanned<bool>>,
    /// A host whose `[tls.acme]` certificate signs.
    pub acme: Option<Spanned<String>>,
}

/// The validated signing identity. Paths are resolved (relative ones from the config file's
/// directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningSettings {
    /// PEM files: `cert`'s first certificate signs, the rest of it and `chain` are intermediates.
    Pem {
        cert: PathBuf,
        chain: Option<PathBuf>,
        key: PathBuf,
    },
    /// A PKCS#12 bundle; its password is the first line of `password_file`.
    Pkcs12 {
        file: PathBuf,
        password_file: PathBuf,
    },
    /// The development chain built into the binary: devices show "Not Verified".
    DevelopmentChain,
    /// The `[tls.acme]` certificate covering `host`, as stored in the state directory
    /// (`cert`, `key`); the server swaps in each renewal.
    Acme {
        host: String,
        cert: PathBuf,
        key: PathBuf,
    },
}

const FORMS: &str = "use cert + key (+ chain), pkcs12 + password-file, acme = \"HOST\", or development-chain = true";

pub(super) fn check(
    checker: &mut Checker<'_>,
    raw: Option<&Spanned<SigningFile>>,
) -> Option<SigningSettings> {
    let table = raw?;
    let file = table.get_ref();
    let development = file
        .development_chain
        .as_ref()
        .filter(|flag| *flag.get_ref());
    // Each form is represented by its first key in the file, so errors point at what was
    // written second.
    let first = |keys: &[(&'static str, &Option<Spanned<String>>)]| {
        keys.iter()
            .filter_map(|&(name, value)| value.as_ref().map(|value| (name, value.span())))
            .min_by_key(|(_, span)| span.start)
    };
    let pem_key = first(&[
        ("cert", &file.cert),
        ("key", &file.key),
        ("chain", &file.chain),
    ]);
    let pkcs12_key = first(&[
        ("pkcs12", &file.pkcs12),
        ("password-file", &file.password_file),
    ]);
    let mut forms: Vec<(&str, std::ops::Range<usize>)> = [
        pem_key,
        pkcs12_key,
        file.acme.as_ref().map(|host| ("acme", host.span())),
        development.map(|flag| ("development-chain", flag.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    forms.sort_by_key(|(_, span)| span.start);

    match forms.as_slice() {
        [] => {
            checker.report(
                Some(&table.span()),
                "signing".into(),
                format!(
                    "names no signing identity; {FORMS} (remove [signing] to serve unsigned profiles)"
                ),
            );
            None
        }
        [(first, _), (second, span), ..] => {
            checker.report(
                Some(span),
                format!("signing.{second}"),
                format!("cannot be combined with signing.{first}; {FORMS}"),
            );
            None
        }
        [("development-chain", _)] => Some(SigningSettings::DevelopmentChain),
        // Where its files are is known once `[tls.acme]` is read: `locate_acme` fills them in.
        [("acme", _)] => file.acme.as_ref().map(|host| SigningSettings::Acme {
            host: host.get_ref().trim().to_ascii_lowercase(),
            cert: PathBuf::new(),
            key: PathBuf::new(),
        }),
        [("pkcs12" | "password-file", _)] => {
            let bundle = required(checker, table, "pkcs12", &file.pkcs12, "the PKCS#12 bundle");
            let password_file = required(
                checker,
                table,
                "password-file",
                &file.password_file,
                "the file holding the PKCS#12 password",
            );
            Some(SigningSettings::Pkcs12 {
                file: bundle?,
                password_file: password_file?,
            })
        }
        [_] => {
            let cert = required(
                checker,
                table,
                "cert",
                &file.cert,
                "the PEM signing certificate",
            );
            let key = required(
                checker,
                table,
                "key",
                &file.key,
                "the PEM private key of cert",
            );
            let chain = match &file.chain {
                Some(chain) => Some(path(checker, "chain", chain)?),
                None => None,
            };
            Some(SigningSettings::Pem {
                cert: cert?,
                chain,
                key: key?,
            })
        }
    }
}

/// Points `[signing] acme = "HOST"` at the stored files of the `[tls.acme]` certificate
/// covering HOST (`certificates`: each one's state-directory name and its host names), or
/// says why there is none.
pub(super) fn locate_acme(
    checker: &mut Checker<'_>,
    raw: Option<&Spanned<SigningFile>>,
    settings: &mut Option<SigningSettings>,
    state_dir: Option<&std::path::Path>,
    certificates: &[(String, Vec<String>)],
) {
    let Some(SigningSettings::Acme { host, cert, key }) = settings else {
        return;
    };
    let span = raw
        .and_then(|table| table.get_ref().acme.as_ref())
        .map(Spanned::span);
    let problem = match state_dir {
        None => "needs [tls.acme], which obtains the certificate".to_owned(),
        Some(state_dir) => match certificates.iter().find(|(_, names)| names.contains(host)) {
            Some((name, _)) => {
                (*cert, *key) = super::acme::stored_files(state_dir, name);
                return;
            }
            None => format!(
                "{host:?} is not among the names [tls.acme] obtains ({}); add it to [tls.acme] hosts",
                certificates
                    .iter()
                    .flat_map(|(_, names)| names)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    checker.report(span.as_ref(), "signing.acme".into(), problem);
    *settings = None;
}

fn required(
    checker: &mut Checker<'_>,
    table: &Spanned<SigningFile>,
    field: &str,
    value: &Option<Spanned<String>>,
    what: &str,
) -> Option<PathBuf> {
    match value {
        Some(value) => path(checker, field, value),
        None => {
            checker.report(
                Some(&table.span()),
                format!("signing.{field}"),
                format!("missing: {what} is required; {FORMS}"),
            );
            None
        }
    }
}

fn path(checker: &mut Checker<'_>, field: &str, value: &Spanned<String>) -> Option<PathBuf> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        checker.report(
            Some(&value.span()),
            format!("signing.{field}"),
            "must be a file path, not empty".into(),
        );
        return None;
    }
    Some(checker.path(text))
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, ConfigSource, SigningSettings};

    const BASE: &str =
        "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";

    fn load(signing: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            &format!("{BASE}{signing}"),
            ConfigSource::File("mxconf.toml".into()),
        )
    }

    /// Where a relative path in `./mxconf.toml` points once loaded.
    fn here(path: &str) -> std::path::PathBuf {
        std::env::current_dir().unwrap().join(path)
    }

    fn errors(signing: &str) -> Vec<String> {
        match load(signing) {
            Err(ConfigError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn no_signing_table_means_unsigned() {
        assert_eq!(load("").unwrap().signing, None);
    }

    #[test]
    fn the_three_forms() {
        let pem = load("[signing]\ncert = \"tls/fullchain.pem\"\nkey = \"tls/key.pem\"\n").unwrap();
        assert_eq!(
            pem.signing,
            Some(SigningSettings::Pem {
                cert: here("tls/fullchain.pem"),
                chain: None,
                key: here("tls/key.pem")
            })
        );
        let chained =
            load("[signing]\ncert = \"c.pem\"\nchain = \"i.pem\"\nkey = \"k.pem\"\n").unwrap();
        assert!(matches!(
            chained.signing,
            Some(SigningSettings::Pem { chain: Some(_), .. })
        ));
        let p12 = load("[signing]\npkcs12 = \"id.p12\"\npassword-file = \"id.pass\"\n").unwrap();
        assert_eq!(
            p12.signing,
            Some(SigningSettings::Pkcs12 {
                file: here("id.p12"),
                password_file: here("id.pass")
            })
        );
        let dev = load("[signing]\ndevelopment-chain = true\n").unwrap();
        assert_eq!(dev.signing, Some(SigningSettings::DevelopmentChain));
        // `development-chain = false` beside a real identity is just explicit.
        let explicit =
            load("[signing]\ndevelopment-chain = false\ncert = \"c.pem\"\nkey = \"k.pem\"\n")
                .unwrap();
        assert!(matches!(
            explicit.signing,
            Some(SigningSettings::Pem { .. })
        ));
    }

    #[test]
    fn forms_are_mutually_exclusive_with_file_and_line() {
        assert_eq!(
            errors(
                "[signing]\ncert = \"c.pem\"\nkey = \"k.pem\"\npkcs12 = \"id.p12\"\npassword-file = \"p\"\n"
            ),
            [
                "mxconf.toml:8: signing.pkcs12: cannot be combined with signing.cert; use cert + key (+ chain), pkcs12 + password-file, acme = \"HOST\", or development-chain = true"
            ]
        );
        assert_eq!(
            errors("[signing]\ndevelopment-chain = true\nkey = \"k.pem\"\ncert = \"c.pem\"\n"),
            [
                "mxconf.toml:7: signing.key: cannot be combined with signing.development-chain; use cert + key (+ chain), pkcs12 + password-file, acme = \"HOST\", or development-chain = true"
            ]
        );
    }

    #[test]
    fn incomplete_forms_name_the_missing_key() {
        let missing_key = errors("[signing]\ncert = \"c.pem\"\n");
        assert_eq!(missing_key.len(), 1);
        assert!(
            missing_key[0].starts_with("mxconf.toml:5: signing.key: missing: the PEM private key"),
            "{missing_key:?}"
        );
        let missing_password = errors("[signing]\npkcs12 = \"id.p12\"\n");
        assert!(
            missing_password[0].starts_with("mxconf.toml:5: signing.password-file: missing"),
            "{missing_password:?}"
        );
        let chain_only = errors("[signing]\nchain = \"i.pem\"\n");
        assert_eq!(chain_only.len(), 2, "{chain_only:?}");
        let empty = errors("[signing]\n");
        assert!(
            empty[0].contains("signing: names no signing identity"),
            "{empty:?}"
        );
        let off = errors("[signing]\ndevelopment-chain = false\n");
        assert!(off[0].contains("names no signing identity"), "{off:?}");
        let blank = errors("[signing]\ncert = \" \"\nkey = \"k.pem\"\n");
        assert_eq!(
            blank,
            ["mxconf.toml:6: signing.cert: must be a file path, not empty"]
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let typo = errors("[signing]\ncertificate = \"c.pem\"\n");
        assert!(typo[0].contains("unknown field `certificate`"), "{typo:?}");
    }
}
