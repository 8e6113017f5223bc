//! `mxconf profile EMAIL`: the profile the server would send for one address, signed with the
//! configured signer (the development chain under the demo), or `--unsigned`. Also home of
//! [`ProfileMaker`], which `export` shares; both run the answer layer's profile pipeline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::{ConfigArg, write_output};
use crate::account::EmailAddress;
use crate::answer::{Answers, Signing};
use crate::config::Config;
use crate::signing::{Signer, SigningSession};

#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// The address the profile is for.
    pub email: String,
    /// The user's name, shown as the sender name in Mail.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Write the XML plist without signing it.
    #[arg(long)]
    pub unsigned: bool,
    /// Output file (written atomically); standard output when not given.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &ProfileArgs) -> anyhow::Result<ExitCode> {
    let maker = ProfileMaker::new(args.config.load()?, args.unsigned)?;
    let address = EmailAddress::parse(&args.email)
        .with_context(|| "not a usable email address".to_owned())?;
    let bytes = maker.make(&mut maker.session()?, &address, args.name.as_deref())?;
    write_output(args.output.as_deref(), &bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// Builds (and signs) profiles from one configuration, from any number of threads.
pub(super) struct ProfileMaker {
    answers: Answers,
    /// Signing happens on the calling threads, each with its own session, not on the
    /// server's signing threads.
    signer: Option<Signer>,
    /// Resolution is async (backends do I/O); the CLI drives it on this runtime.
    runtime: tokio::runtime::Runtime,
}

impl ProfileMaker {
    /// Loads the signer `[signing]` names unless `unsigned`. Fails closed: without `[signing]`
    /// and without `--unsigned` nothing is written, rather than an unsigned profile by surprise.
    pub(super) fn new(config: Config, unsigned: bool) -> anyhow::Result<Self> {
        let signer = match (&config.signing, unsigned) {
            (_, true) => None,
            (Some(settings), false) => Some(
                Signer::from_settings(settings).context("cannot load the [signing] identity")?,
            ),
            (None, false) => bail!(
                "{} has no [signing] table: configure one, or pass --unsigned",
                config.source_name()
            ),
        };
        if signer.as_ref().is_some_and(Signer::is_development) {
            eprintln!("mxconf: signing with the DEVELOPMENT chain: devices will show Not Verified");
        }
        Ok(ProfileMaker {
            answers: Answers::new(config),
            signer,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?,
        })
    }

    /// A signing session for one thread (`None` with `--unsigned`): it keeps the private key
    /// prepared across the profiles that thread signs.
    pub(super) fn session(&self) -> anyhow::Result<Option<SigningSession<'_>>> {
        Ok(self.signer.as_ref().map(Signer::session).transpose()?)
    }

    /// The profile bytes for one address: signed DER, or XML with `--unsigned`.
    pub(super) fn make(
        &self,
        session: &mut Option<SigningSession<'_>>,
        address: &EmailAddress,
        name: Option<&str>,
    ) -> anyhow::Result<Vec<u8>> {
        let signing = match session {
            Some(session) => Signing::Session(session),
            None => Signing::Unsigned,
        };
        Ok(self
            .runtime
            .block_on(self.answers.profile(address, name, signing))?)
    }
}
