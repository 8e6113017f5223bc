//! `mxconf lookup ADDRESS`: asks every per-user source of the address's domain directly (no
//! cache), and prints what each answered, how long it took, and the account they make
//! together; exit 1 when a source failed. Also the per-source lines `check-config --backends`
//! prints, so both commands describe a source alike.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use super::{ConfigArg, EXIT_CHECK_FAILED};
use crate::account::{Account, EmailAddress, MailServer};
use crate::backend::BackendError;
use crate::config::backend::OnFailure;
use crate::resolve::{Asked, ResolveError, Resolver};

#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    /// The address to look up, as a client would send it.
    pub address: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn run(args: &LookupArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let email = match EmailAddress::parse(&args.address) {
        Ok(email) => email,
        Err(error) => {
            eprintln!("mxconf: {:?}: {error}", args.address);
            return Ok(ExitCode::from(EXIT_CHECK_FAILED));
        }
    };
    let resolver = Resolver::new(std::sync::Arc::new(config));
    let explanation = super::runtime()?.block_on(resolver.explain(&email));
    let explanation = match explanation {
        Ok(explanation) => explanation,
        Err(error) => {
            eprintln!("mxconf: {}: {error}", email.domain());
            return Ok(ExitCode::from(EXIT_CHECK_FAILED));
        }
    };
    if args.json {
        let sources: Vec<Value> = explanation.asked.iter().map(asked_json).collect();
        let account = explanation.account.as_ref().ok().map(account_json);
        let document = json!({
            "address": email.as_str(),
            "looked_up_as": explanation.address.as_str(),
            "sources": sources,
            "account": account,
            "refused": explanation.account.is_err(),
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        if explanation.address != email {
            println!(
                "{email}: a domain alias, looked up as {}",
                explanation.address
            );
        }
        if explanation.asked.is_empty() {
            println!("{}: no per-user sources", explanation.address.domain());
        }
        for asked in &explanation.asked {
            println!("{}", describe(asked));
            match &asked.result {
                Ok(Some(patch)) => {
                    for (field, value) in patch.fields() {
                        println!("  {field} = {value:?}");
                    }
                }
                Ok(None) => {}
                Err(_) => println!("  {}", consequence(asked.source.on_failure)),
            }
        }
        println!();
        match &explanation.account {
            Ok(account) => print_account(account),
            Err(ResolveError::BackendUnavailable) => println!(
                "account: none; clients get 503 (a source with on-failure = \"fail\" failed)"
            ),
            Err(error) => println!("account: none ({error})"),
        }
    }
    Ok(if explanation.failed() {
        ExitCode::from(EXIT_CHECK_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// One line for one source: `source users (sql, mxconf.toml:12) asked for jane@…: an entry
/// (3 ms)`, or `FAILED (3 ms): ` and the reason.
pub fn describe(asked: &Asked) -> String {
    let source = &asked.source;
    let took = millis(asked.elapsed);
    let answer = match &asked.result {
        Ok(Some(_)) => format!("an entry ({took})"),
        Ok(None) => format!("no entry ({took})"),
        Err(error) => format!("FAILED ({took}): {error}"),
    };
    format!(
        "source {} ({}, {}) asked for {}: {answer}",
        source.name,
        source.type_name(),
        source.defined_at,
        asked.address,
    )
}

fn consequence(on_failure: OnFailure) -> &'static str {
    match on_failure {
        OnFailure::Static => "on-failure = \"static\": left out, as if it had no entry",
        OnFailure::Fail => "on-failure = \"fail\": clients get 503",
    }
}

fn millis(elapsed: Duration) -> String {
    format!("{} ms", elapsed.as_millis())
}

fn print_account(account: &Account) {
    println!("account:");
    if let Some(name) = &account.display_name {
        println!("  display name: {name}");
    }
    for server in account.incoming.iter().chain(&account.outgoing) {
        println!(
            "  {:<5} {}:{} {}, login {}, {}",
            server.kind.name(),
            server.host,
            server.port,
            server.security.name(),
            server.username,
            authentication(server).join(", ")
        );
    }
    for (service, url) in account.services.urls.iter() {
        if let Some(url) = url {
            println!("  {:<5} {url}", service.name());
        }
    }
}

fn authentication(server: &MailServer) -> Vec<&'static str> {
    server
        .authentication
        .iter()
        .map(|method| method.name())
        .collect()
}

fn asked_json(asked: &Asked) -> Value {
    let (outcome, fields, error) = match &asked.result {
        Ok(Some(patch)) => {
            let fields: serde_json::Map<String, Value> = patch
                .fields()
                .into_iter()
                .map(|(name, value)| (name, Value::String(value)))
                .collect();
            ("hit", Value::Object(fields), None)
        }
        Ok(None) => ("miss", Value::Null, None),
        Err(error) => ("error", Value::Null, Some(error.to_string())),
    };
    json!({
        "name": asked.source.name,
        "type": asked.source.type_name(),
        "defined_at": asked.source.defined_at,
        "asked_as": asked.address.as_str(),
        "outcome": outcome,
        "fields": fields,
        "error": error,
        "error_kind": asked.result.as_ref().err().map(error_kind),
        "millis": u64::try_from(asked.elapsed.as_millis()).unwrap_or(u64::MAX),
        "on_failure": asked.source.on_failure.name(),
    })
}

fn error_kind(error: &BackendError) -> &'static str {
    match error {
        BackendError::Unavailable(_) => "unavailable",
        BackendError::Timeout => "timeout",
        BackendError::Failed(_) => "failed",
        BackendError::BadOutput(_) => "bad-output",
    }
}

fn account_json(account: &Account) -> Value {
    let servers = |servers: &[MailServer]| -> Vec<Value> {
        servers
            .iter()
            .map(|server| {
                json!({
                    "type": server.kind.name(),
                    "host": server.host,
                    "port": server.port,
                    "security": server.security.name(),
                    "authentication": authentication(server),
                    "username": server.username,
                })
            })
            .collect()
    };
    let urls: serde_json::Map<String, Value> = account
        .services
        .urls
        .iter()
        .filter_map(|(service, url)| Some((service.name().to_owned(), Value::String(url.clone()?))))
        .collect();
    json!({
        "display_name": account.display_name,
        "login_name": account.login_name(),
        "incoming": servers(&account.incoming),
        "outgoing": servers(&account.outgoing),
        "urls": urls,
    })
}
