//! The fuzz targets' bodies: one function per parser that faces input mxconf does not control
//! (a request body, an address in a query string, a configuration, a signed file, a foreign
//! configuration to import, a property list). Each calls the library exactly as the server or
//! the CLI does and checks what must hold for every input, beyond "no panic": a parsed value
//! parses again to itself, an error names its file, an import loads. The fuzz targets
//! (fuzz_targets/) and the stable replay of the corpus (tests/integration/fuzz_corpus.rs) share
//! these functions, so a crash the fuzzer found stays a test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mxconf::account::{Domain, EmailAddress};
use mxconf::config::{Config, ConfigError, ConfigSource};
use mxconf::import::{ImportError, Imported};
use mxconf::profile::Schema;
use mxconf::protocol::autodiscover::PoxRequest;

/// The name configurations are loaded under; nothing is read from it.
const CONFIG_FILE: &str = "/nonexistent/mxconf.toml";

fn config_source() -> ConfigSource {
    ConfigSource::File(PathBuf::from(CONFIG_FILE))
}

/// An Autodiscover POX request body, as `POST /autodiscover/autodiscover.xml` parses it. A
/// request that parses is written back (`mxconf doctor` sends that form) and must parse to the
/// same request.
pub fn pox_request(data: &[u8]) {
    match PoxRequest::parse(data) {
        Ok(request) => {
            let again = PoxRequest::parse(&request.to_xml());
            assert_eq!(
                again.as_ref(),
                Ok(&request),
                "the written request parses back"
            );
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

/// An address as a client sends it: the `emailaddress` query parameter (percent-decoded) and
/// the text itself. A parsed address is in its normal form: parsing it again changes nothing,
/// and its domain parses to itself.
pub fn address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let query = format!("emailaddress={text}");
    if let Ok(Some(address)) = mxconf::server::extract::email_in_query(Some(&query), "emailaddress")
    {
        normal_form(&address);
    }
    match mxconf::answer::parse_address(text) {
        Ok(address) => normal_form(&address),
        Err(refusal) => assert!(!format!("{refusal:?}").is_empty()),
    }
    if let Ok(domain) = Domain::parse(text) {
        assert_eq!(Domain::parse(domain.as_str()).as_ref(), Ok(&domain));
        let _ = domain.to_unicode();
    }
}

fn normal_form(address: &EmailAddress) {
    let again = EmailAddress::parse(address.as_str());
    assert_eq!(again.as_ref(), Ok(address), "an address parses to itself");
    assert_eq!(
        Domain::parse(address.domain().as_str()).as_ref(),
        Ok(address.domain())
    );
    let lower = address.with_lowercase_local_part();
    assert_eq!(EmailAddress::parse(lower.as_str()).as_ref(), Ok(&*lower));
}

/// A configuration file, as `serve` and `check-config` load it: valid, or refused with issues
/// that each name the file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = Config::from_toml(text, config_source()) {
        assert_names_the_file(&error);
    }
}

fn assert_names_the_file(error: &ConfigError) {
    match error {
        ConfigError::Invalid(issues) => {
            assert!(
                !issues.is_empty(),
                "an invalid config has at least one issue"
            );
            for issue in issues {
                assert_eq!(issue.file, CONFIG_FILE);
                assert!(!issue.message.is_empty(), "{issue}");
            }
        }
        ConfigError::Read { .. } => panic!("from_toml read a file: {error}"),
    }
}

/// A signed profile, as `mxconf verify --ca CA` and `mxconf doctor` check it: a report, or an
/// error with a reason. Whatever `verify` accepts, `signed_content` accepts with the same
/// content.
pub fn verify_der(data: &[u8], ca: &Path) {
    match mxconf::signing::verify(data, Some(ca)) {
        Ok(report) => {
            let content = mxconf::signing::signed_content(data);
            assert_eq!(content.as_ref().ok(), Some(&report.content));
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

/// An automx.conf, as `mxconf import automx` reads it.
pub fn import_automx(data: &[u8]) {
    imports(data, "automx.conf", mxconf::import::automx::import);
}

/// A Thunderbird ISPDB provider file, as `mxconf import ispdb` reads it.
pub fn import_ispdb(data: &[u8]) {
    imports(data, "provider.xml", mxconf::import::ispdb::import);
}

/// The importers' promise (docs/migration.md): what they print loads as a configuration; what
/// they refuse is refused with the file's name.
fn imports(data: &[u8], file: &str, import: fn(&str, &str) -> Result<Imported, ImportError>) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match import(text, file) {
        Ok(imported) => {
            let toml = imported.to_toml();
            if let Err(error) = Config::from_toml(&toml, config_source()) {
                panic!("the import does not load:\n{error}\n---\n{toml}");
            }
        }
        Err(error) => assert!(error.to_string().starts_with(file), "{error}"),
    }
}

/// The content of a signed profile, as `mxconf verify` reads it after the signature holds: a
/// property list (XML or binary) checked against Apple's schema.
pub fn profile(data: &[u8]) {
    static SCHEMA: OnceLock<Option<Schema>> = OnceLock::new();
    let Some(schema) = SCHEMA.get_or_init(|| Schema::embedded().ok()) else {
        panic!("the embedded schema loads");
    };
    if let Ok(value) = plist::from_bytes::<plist::Value>(data) {
        for violation in schema.validate(&value) {
            assert!(!violation.is_empty());
        }
    }
}
