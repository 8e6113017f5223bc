//! `mxconf verify FILE [--ca PEM] [--schema DIR]`: check a signed profile as a device would
//! (signature, then the chain to --ca or the system trust store, any certificate purpose), print
//! who signed it and what it configures, and check its payloads against Apple's YAML (the copy
//! built in, or --schema DIR). Exit 0 only when signature and chain hold (and, with --strict, the payloads conform).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{EXIT_CHECK_FAILED, logging};
use crate::profile::{PlistError, Schema};
use crate::signing::{SigningError, VerifyReport, verify};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The signed profile (DER CMS SignedData, as served or written by `mxconf sign`).
    pub file: PathBuf,
    /// PEM file of trusted root certificates; without it, the system trust store.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Directory of Apple's device-management profile YAML (mdm/profiles of
    /// github.com/apple/device-management) to validate the payloads against, instead of the
    /// copy built into mxconf.
    #[arg(long, value_name = "DIR", env = "MXCONF_APPLE_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// Also fail (exit 1) when a payload violates Apple's schema; without it violations are
    /// reported and the exit status speaks for the signature and chain only.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    logging::init();
    let der = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    // Loaded before verifying, so a wrong --schema is a usage error whatever the file holds.
    let schema = match args.schema.as_deref() {
        Some(dir) => Schema::load(dir).context("cannot load --schema")?,
        None => Schema::embedded()?,
    };
    match verify(&der, args.ca.as_deref()) {
        Ok(report) => {
            // Read as strictly as devices do: well-formed XML, bounded nesting.
            let profile = crate::profile::parse_plist(&report.content);
            print!("{}", render(&report, args.ca.is_some(), &profile));
            let violations = match &profile {
                Ok(profile) => schema.validate(profile),
                Err(error) => vec![format!("the content is not a property list: {error}")],
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
            Ok(if args.strict {
                ExitCode::from(EXIT_CHECK_FAILED)
            } else {
                ExitCode::SUCCESS
            })
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
    profile: &Result<plist::Value, PlistError>,
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
    // Said only when near: a transcript of a long-lived signer stays the same from day to day.
    let left = crate::expiry::seconds_left(report.expires_at);
    if crate::expiry::log_threshold(left).is_some() {
        let _ = writeln!(
            out,
            "Expires:   in {} day(s): devices show profiles signed by an expired certificate as unverified; renew the signer",
            crate::expiry::days_left(left)
        );
    }
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
