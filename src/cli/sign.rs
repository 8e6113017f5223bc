//! `mxconf sign INPUT -o OUTPUT`: sign any property list (ours or not) byte for byte, the
//! in-process equivalent of `openssl cms -sign -binary -nodetach -md sha256 -outform DER`.
//! Refuses what is not a plist and signers that would not verify; never leaves an output file
//! behind on failure.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{EXIT_CHECK_FAILED, logging, write_atomically};
use crate::signing::{Signer, SigningError};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("identity").required(true).args(["cert", "pkcs12"])))]
pub struct SignArgs {
    /// The profile or property list to sign (XML or binary plist).
    pub input: PathBuf,
    /// Where to write the signed profile (DER CMS SignedData).
    #[arg(long, short = 'o', value_name = "OUTPUT")]
    pub output: PathBuf,
    /// PEM signing certificate; further certificates in the file are embedded as intermediates.
    #[arg(long, value_name = "PEM", requires = "key", conflicts_with_all = ["pkcs12", "password_file"])]
    pub cert: Option<PathBuf>,
    /// PEM file of intermediate certificates to embed.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub chain: Option<PathBuf>,
    /// PEM private key of --cert (unencrypted; keep it readable only by you).
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
    /// PKCS#12 bundle holding the certificate, its key and intermediates.
    #[arg(long, value_name = "FILE", requires = "password_file")]
    pub pkcs12: Option<PathBuf>,
    /// File whose first line is the PKCS#12 password.
    #[arg(long, value_name = "FILE", requires = "pkcs12")]
    pub password_file: Option<PathBuf>,
}

pub fn run(args: &SignArgs) -> anyhow::Result<ExitCode> {
    logging::init(); // key-permission warnings go to stderr
    let content = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    if let Err(error) = crate::profile::parse_plist(&content) {
        let hint = if crate::signing::is_signed_data(&content) {
            "it is already signed; sign the unsigned profile".to_owned()
        } else {
            error.to_string()
        };
        return Ok(refuse(format_args!(
            "{}: not a property list ({hint})",
            args.input.display()
        )));
    }
    let signer = match (&args.cert, &args.key, &args.pkcs12, &args.password_file) {
        (Some(cert), Some(key), _, _) => Signer::from_pem(cert, args.chain.as_deref(), key),
        (_, _, Some(file), Some(password_file)) => Signer::from_pkcs12(file, password_file),
        // clap's argument groups make every other combination a usage error (exit 2).
        _ => anyhow::bail!("give --cert and --key, or --pkcs12 and --password-file"),
    };
    let signed = match signer.and_then(|signer| Ok((signer.sign(&content)?, signer))) {
        Ok(signed) => signed,
        // A file that is missing or unreadable is a usage/I-O problem (exit 2) …
        Err(error @ SigningError::Read { .. }) => return Err(error.into()),
        // … a signer that fails its checks is a failed check (exit 1).
        Err(error) => return Ok(refuse(format_args!("{error}"))),
    };
    let (signed, signer) = signed;
    write_atomically(&args.output, signed.as_der())?;
    eprintln!(
        "signed {} -> {} ({} bytes) as {}",
        args.input.display(),
        args.output.display(),
        signed.as_der().len(),
        signer.describe()
    );
    Ok(ExitCode::SUCCESS)
}

fn refuse(message: std::fmt::Arguments<'_>) -> ExitCode {
    eprintln!("mxconf: {message}");
    ExitCode::from(EXIT_CHECK_FAILED)
}
