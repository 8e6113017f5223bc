//! Profile signing: the identity `[signing]` names is loaded as the server loads it, its expiry
//! judged, and a test signature verified as a device would, against the system's roots: a
//! chain to one of them is what makes iOS show "Verified".

use std::path::Path;

use super::report::{Check, Section};
use crate::config::Config;
use crate::signing::{self, Signer};

pub fn checks(config: &Config, ca: Option<&Path>) -> Vec<Check> {
    let line = |subject: &str| Check::about(Section::Signing, subject.to_owned());
    let Some(settings) = &config.signing else {
        return vec![line("[signing]").warn(
            "not configured: profiles are served unsigned",
            "configure [signing] with a certificate from a publicly trusted CA",
        )];
    };
    let signer = match Signer::from_settings(settings) {
        Ok(signer) => signer,
        Err(error) => {
            return vec![line("[signing]").fail(
                error.to_string(),
                "fix the files [signing] names (mxconf check-config says the same)",
            )];
        }
    };
    let certificate = signer.certificate();
    let subject = format!(
        "signer {}",
        signing::name_to_string(certificate.subject_name())
    );
    let mut checks = Vec::new();
    let expires = super::net::expiry(certificate.not_after());
    checks.push(match expires {
        Some((date, days)) if days < crate::expiry::CHECK_WARNING_DAYS => line(&subject).warn(
            format!("valid until {date}, {days} days from now: devices show installed profiles as unverified after that"),
            "renew the signing certificate and restart mxconf",
        ),
        Some((date, _)) => line(&subject).pass(format!("valid until {date}")),
        None => line(&subject).pass(format!("valid until {}", certificate.not_after())),
    });
    checks.push(chain_check(&signer, ca, line(&subject)));
    checks
}

fn chain_check(
    signer: &Signer,
    ca: Option<&Path>,
    line: super::report::CheckBuilder,
) -> super::report::Check {
    let signed = match signer.sign(b"mxconf doctor") {
        Ok(signed) => signed,
        Err(error) => {
            return line.fail(format!("cannot sign: {error}"), "fix the signing identity");
        }
    };
    let not_verified =
        "sign with a certificate from a publicly trusted CA, and include its intermediates";
    match signing::verify(signed.as_der(), None) {
        Ok(report) => line.pass(format!(
            "chains to a system root ({}): iOS shows \"Verified\"",
            report.chain.last().map(String::as_str).unwrap_or("?")
        )),
        Err(error) => match ca.map(|ca| signing::verify(signed.as_der(), Some(ca))) {
            Some(Ok(_)) => line.warn(
                "chains only to the --ca root: iOS shows \"Not Verified\" unless the device trusts that CA",
                not_verified,
            ),
            _ if signer.is_development() => line.warn(
                "the development chain: iOS shows \"Not Verified\"",
                not_verified,
            ),
            _ => line.warn(
                format!("does not chain to a system root ({error}): iOS shows \"Not Verified\""),
                not_verified,
            ),
        },
    }
}
