//! `mxconf render PROTOCOL EMAIL`: prints the exact body the server would send, for debugging.
//! It runs the server's own answer functions (`server::autoconfig::for_address`,
//! `server::autodiscover::{for_request, json_for}`), so the two cannot drift apart.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use super::{ConfigArg, EXIT_CHECK_FAILED};
use crate::protocol::Rendered;
use crate::protocol::autodiscover::{PoxRequest, ResponseSchema};
use crate::protocol::autodiscover_json::JsonProtocol;
use crate::server::{AppState, HttpError, autoconfig, autodiscover, extract};

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
pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let state = Arc::new(AppState::new(args.config.load()?));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(answer(&state, args.protocol, &args.email));
    let (status, body) = match answer {
        Ok(rendered) => (rendered.status, rendered.body),
        Err(error) => (error.status().as_u16(), error.body().into_bytes()),
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

async fn answer(state: &AppState, protocol: Protocol, email: &str) -> Result<Rendered, HttpError> {
    let email = extract::parse_email(email)?;
    Ok(match protocol {
        Protocol::Autoconfig => autoconfig::for_address(state, &email).await?,
        Protocol::Outlook | Protocol::Mobilesync => {
            let schema = match protocol {
                Protocol::Mobilesync => ResponseSchema::MobileSync,
                Protocol::Autoconfig | Protocol::Outlook | Protocol::Json => {
                    ResponseSchema::Outlook
                }
            };
            autodiscover::for_request(state, &PoxRequest { email, schema }).await?
        }
        // Only AutodiscoverV1 needs the public POX URL, which depends on the request.
        Protocol::Json => {
            autodiscover::json_for(state, &email, JsonProtocol::ActiveSync, "").await?
        }
    })
}
