//! `mxconf check-config`: load and validate, print every problem as `file:line: field: what`;
//! also compiles and test-renders the web form's templates (an admin's `[web] templates-dir`),
//! loads the signer (its warnings on stderr, as `serve` logs them) and the TLS certificates,
//! and, with `--backends`, asks every per-user source once for its probe address and pings
//! the `[limits]` Redis store.

use std::process::ExitCode;
use std::sync::Arc;

use super::{ConfigArg, EXIT_CHECK_FAILED, logging, lookup};
use crate::config::limits::StoreSettings;
use crate::config::{Config, ConfigError, LimitSettings};
use crate::hostnames;
use crate::limits::Limiter;
use crate::resolve::Resolver;

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    /// Also open every per-user source and run its query or search once, for its
    /// probe-address (default mxconf-probe@ a domain that lists it), and ping the [limits]
    /// Redis store; exit 1 if one fails.
    #[arg(long)]
    pub backends: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

pub fn run(args: &CheckConfigArgs) -> anyhow::Result<ExitCode> {
    // The signer's warnings (a key others can read, an incomplete chain) are log events.
    logging::init();
    let config = match &args.config.config {
        Some(path) => Config::load(path),
        None => Config::demo(),
    };
    let config = match config {
        Ok(config) => config,
        Err(ConfigError::Invalid(issues)) => {
            for issue in &issues {
                eprintln!("{issue}");
            }
            return Ok(ExitCode::from(EXIT_CHECK_FAILED));
        }
        Err(error) => return Err(error.into()),
    };
    // The signer's files are checked too (key matches, dates), so a renewal gone wrong shows
    // here rather than at the next restart.
    if let Some(settings) = &config.signing {
        match crate::signing::Signer::from_settings(settings) {
            Ok(signer) => println!("signing: {}", signer.describe()),
            Err(error) => {
                eprintln!("{}: signing: {error}", config.source_name());
                return Ok(ExitCode::from(EXIT_CHECK_FAILED));
            }
        }
    }
    // So are the TLS certificates: a renewal that left a broken file shows here.
    match crate::tls::load(&config.tls) {
        Ok(files) => {
            for (_, certificate) in files.store().slots() {
                println!("tls: {}", certificate.describe());
            }
            // What the plain listener does beside HTTPS, with the port `[tls] listen` names.
            if let Some(port) = config.tls.listen.first().map(std::net::SocketAddr::port) {
                println!("tls: {}", hostnames::redirect_rule(&config, port));
                let covers = |name: &str| files.store().covers(name);
                if let Some(warning) = hostnames::uncovered_web_host(&config, covers) {
                    eprintln!("{}: warning: {warning}", config.source_name());
                }
            }
        }
        Err(error) => {
            eprintln!("{error}");
            return Ok(ExitCode::from(EXIT_CHECK_FAILED));
        }
    }
    // The web form's templates are compiled and every variant rendered once.
    if let Err(error) = crate::webform::Webform::new(&config.provider, &config.web) {
        eprintln!("{}: {error}", config.source_name());
        return Ok(ExitCode::from(EXIT_CHECK_FAILED));
    }
    // Every PACC document is rendered as the server would at start.
    let answers = crate::answer::Answers::new(config.clone());
    if !answers.pacc_problems().is_empty() {
        for problem in answers.pacc_problems() {
            eprintln!("{problem}");
        }
        return Ok(ExitCode::from(EXIT_CHECK_FAILED));
    }
    let name = config.source_name();
    if args.backends && !check_backends(config)? {
        return Ok(ExitCode::from(EXIT_CHECK_FAILED));
    }
    println!("{name}: OK");
    Ok(ExitCode::SUCCESS)
}

/// Asks every source once; a failure is printed as `file:line: backends.NAME: reason`, the
/// place where the source is defined.
fn check_backends(config: Config) -> anyhow::Result<bool> {
    let runtime = super::runtime()?;
    let mut ok = check_limits_store(&runtime, &config.limits)?;
    let resolver = Resolver::new(Arc::new(config));
    for asked in runtime.block_on(resolver.probe_all()) {
        match &asked.result {
            Ok(_) => println!("{}", lookup::describe(&asked)),
            Err(error) => {
                ok = false;
                eprintln!(
                    "{}: backends.{}: {error} ({} source, asked for {} in {} ms)",
                    asked.source.defined_at,
                    asked.source.name,
                    asked.source.type_name(),
                    asked.address,
                    asked.elapsed.as_millis()
                );
            }
        }
    }
    Ok(ok)
}

/// Pings the `[limits]` Redis store, if there is one: `file:line: limits.store: reason`.
fn check_limits_store(
    runtime: &tokio::runtime::Runtime,
    settings: &LimitSettings,
) -> anyhow::Result<bool> {
    if !settings.enabled {
        return Ok(true);
    }
    let StoreSettings::Redis(redis) = &settings.store else {
        return Ok(true);
    };
    let limiter = match Limiter::new(settings) {
        Ok(limiter) => limiter,
        Err(error) => {
            eprintln!("{}: {error}", redis.defined_at);
            return Ok(false);
        }
    };
    match runtime.block_on(limiter.probe_store()) {
        None => Ok(true),
        Some((_, Ok(elapsed))) => {
            println!("limits.store: Redis answers ({} ms)", elapsed.as_millis());
            Ok(true)
        }
        Some((defined_at, Err(error))) => {
            eprintln!("{defined_at}: limits.store: {error}");
            Ok(false)
        }
    }
}
