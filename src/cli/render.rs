//! `mxconf render PROTOCOL EMAIL`: prints the exact body the server would send, for debugging.
//! It asks the answer layer the server's handlers ask ([`Answers`]), so the two cannot drift
//! apart.

use std::io::Write as _;
use std::process::ExitCode;

use super::{ConfigArg, EXIT_CHECK_FAILED, logging};
use crate::answer::{self, Answers, Refusal};
use crate::protocol::Rendered;
use crate::protocol::autodiscover::{PoxRequest, ResponseSchema};
use crate::protocol::autodiscover_json::JsonProtocol;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    /// Mozilla autoconfig (config-v1.1.xml)
    Autoconfig,
    /// Autodiscover POX, Outlook schema
    Outlook,
    /// Autodiscover POX, MobileSync (ActiveSync) schema
    Mobilesync,
    /// Autodiscover v2 JSON (Protocol=ActiveSync)
    Json,
    /// Autodiscover v2 JSON (Protocol=Ews)
    JsonEws,
    /// PACC user-agent configuration (the address's domain's document)
    Pacc,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Which protocol's answer to print.
    #[arg(value_enum)]
    pub protocol: Protocol,
    /// The address a client would send.
    pub email: String,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// Prints the body; exits 1 when the server's answer would be an HTTP error (4xx).
/// A per-user source that fails is named on stderr with the fallback taken (the server's own
/// warning), so a body built from the static settings is never mistaken for the user's.
pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    logging::init();
    let answers = Answers::new(args.config.load()?);
    let runtime = super::runtime()?;
    let (status, body) = match runtime.block_on(render(&answers, args.protocol, &args.email)) {
        Ok(rendered) => (rendered.status, rendered.body),
        Err(refusal) => (refusal.status(), refusal.body().into_bytes()),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&body)?;
    stdout.flush()?;
    Ok(if status >= 400 {
        ExitCode::from(EXIT_CHECK_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn render(answers: &Answers, protocol: Protocol, email: &str) -> Result<Rendered, Refusal> {
    let email = answer::parse_address(email)?;
    match protocol {
        Protocol::Autoconfig => answers.autoconfig(&email).await,
        Protocol::Outlook | Protocol::Mobilesync => {
            let schema = match protocol {
                Protocol::Mobilesync => ResponseSchema::MobileSync,
                Protocol::Autoconfig
                | Protocol::Outlook
                | Protocol::Json
                | Protocol::JsonEws
                | Protocol::Pacc => ResponseSchema::Outlook,
            };
            answers.pox(&PoxRequest { email, schema }).await
        }
        // Only AutodiscoverV1 needs the public POX URL, which depends on the request.
        Protocol::Json => answers.json(&email, JsonProtocol::ActiveSync, "").await,
        Protocol::JsonEws => answers.json(&email, JsonProtocol::Ews, "").await,
        Protocol::Pacc => answers.pacc(email.domain()),
    }
}
