//! `mxconf verify FILE [--ca PEM] [--schema DIR]`: check a signed profile as a device would
//! (signature, then the chain to --ca or the system trust store, any certificate purpose), print
//! who signed it and what it configures, and with --schema check its payloads against Apple's
//! YAML. Exit 0 only when signature and chain hold (and the payloads conform, when checked).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{EXIT_CHECK_FAILED, logging};
use crate::profile::Schema;
use crate::signing::{SigningError, VerifyReport, verify};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The signed profile (DER CMS SignedData, as served or written by `mxconf sign`).
    pub file: PathBuf,
    /// PEM file of trusted root certificates; without it, the system trust store.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Directory of Apple's device-management profile YAML (mdm/profiles of
    /// github.com/apple/device-management); validates every payload against it.
    #[arg(long, value_name = "DIR", env = "MXCONF_APPLE_SCHEMA")]
    pub schema: Option<PathBuf>,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    logging::init();
    let der = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    // Loaded before verifying, so a wrong --schema is a usage error whatever the file holds.
    let schema = args
        .schema
        .as_deref()
        .map(Schema::load)
        .transpose()
        .context("cannot load --schema")?;
    match verify(&der, args.ca.as_deref()) {
        Ok(report) => {
            let profile = plist::from_bytes::<plist::Value>(&report.content);
            print!("{}", render(&report, args.ca.is_some(), &profile));
            let Some(schema) = schema else {
                println!("Schema:    not checked (--schema DIR validates the payloads)");
                return Ok(ExitCode::SUCCESS);
            };
            let violations = match &profile {
                Ok(profile) => schema.validate(profile),
                Err(_) => vec!["the content is not a property list".to_owned()],
            };
            if violations.is_empty() {
                println!("Schema:    OK (Apple's device-management YAML)");
                return Ok(ExitCode::SUCCESS);
            }
            println!("Schema:    {} violation(s)", violations.len());
            for violation in &violations {
                println!("  {violation}");
            }
            eprintln!(
                "mxconf: {}: signature and chain hold, but {} payload violation(s) of Apple's schema",
                args.file.display(),
                violations.len()
            );
            Ok(ExitCode::from(EXIT_CHECK_FAILED))
        }
        // An unreadable --ca file is a usage problem (exit 2), not a verdict on the profile.
        Err(error @ (SigningError::Read { .. } | SigningError::TrustStore { .. })) => {
            Err(error.into())
        }
        Err(error) => {
            eprintln!("mxconf: {}: {error}", args.file.display());
            Ok(ExitCode::from(EXIT_CHECK_FAILED))
        }
    }
}

/// The human-readable report; the payload summary reads the signed content with `plist`.
fn render(
    report: &VerifyReport,
    own_ca: bool,
    profile: &Result<plist::Value, plist::Error>,
) -> String {
    let mut out = String::new();
    let anchor = if own_ca {
        "--ca"
    } else {
        "the system trust store"
    };
    let _ = writeln!(out, "Signature: OK, chain OK (trusted by {anchor})");
    let _ = writeln!(out, "Signer:    {}", report.signer_subject);
    let _ = writeln!(out, "Issuer:    {}", report.signer_issuer);
    let _ = writeln!(
        out,
        "Validity:  {} until {}",
        report.not_before, report.not_after
    );
    for (index, subject) in report.chain.iter().enumerate() {
        let label = if index == 0 { "Chain:" } else { "" };
        let _ = writeln!(out, "{label:<10} {index}: {subject}");
    }
    let _ = writeln!(out, "Digest:    {}", report.digest);
    let _ = writeln!(
        out,
        "Embedded:  {} certificate(s): {}",
        report.embedded.len(),
        report.embedded.join(" | ")
    );
    let _ = writeln!(
        out,
        "Content:   {} bytes, SHA-256 {}",
        report.content.len(),
        report.content_sha256
    );
    match profile {
        Ok(value) => summarize(&mut out, value),
        Err(error) => {
            let _ = writeln!(
                out,
                "Payloads:  the content is not a property list ({error})"
            );
        }
    }
    out
}

fn summarize(out: &mut String, profile: &plist::Value) {
    let text = |dict: &plist::Dictionary, key: &str| {
        dict.get(key)
            .and_then(plist::Value::as_string)
            .unwrap_or("-")
            .to_owned()
    };
    let Some(top) = profile.as_dictionary() else {
        let _ = writeln!(out, "Payloads:  the property list is not a dictionary");
        return;
    };
    let _ = writeln!(
        out,
        "Profile:   {} ({}, {})",
        text(top, "PayloadDisplayName"),
        text(top, "PayloadType"),
        text(top, "PayloadIdentifier")
    );
    let payloads = top
        .get("PayloadContent")
        .and_then(plist::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let _ = writeln!(out, "Payloads:  {}", payloads.len());
    for payload in payloads {
        match payload.as_dictionary() {
            Some(dict) => {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    text(dict, "PayloadType"),
                    text(dict, "PayloadDisplayName")
                );
            }
            None => {
                let _ = writeln!(out, "  (an entry that is not a dictionary)");
            }
        }
    }
}
