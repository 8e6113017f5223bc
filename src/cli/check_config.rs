//! `mxconf check-config`: load and validate, print every problem as `file:line: field: what`;
//! also compiles and test-renders the web form's templates (an admin's `[web] templates-dir`).

use std::process::ExitCode;

use super::{ConfigArg, EXIT_CHECK_FAILED};
use crate::config::{Config, ConfigError};

pub fn run(args: &ConfigArg) -> anyhow::Result<ExitCode> {
    let result = match &args.config {
        Some(path) => Config::load(path),
        None => Config::demo(),
    };
    match result {
        Ok(config) => {
            // The signer's files are checked too (key matches, dates), so a renewal gone wrong
            // shows here rather than at the next restart.
            if let Some(settings) = &config.signing {
                match crate::signing::Signer::from_settings(settings) {
                    Ok(signer) => println!("signing: {}", signer.describe()),
                    Err(error) => {
                        eprintln!("{}: signing: {error}", config.source_name());
                        return Ok(ExitCode::from(EXIT_CHECK_FAILED));
                    }
                }
            }
            // The web form's templates are compiled and every variant rendered once.
            if let Err(error) = crate::webform::Webform::new(&config.provider, &config.web) {
                eprintln!("{}: {error}", config.source_name());
                return Ok(ExitCode::from(EXIT_CHECK_FAILED));
            }
            println!("{}: OK", config.source_name());
            Ok(ExitCode::SUCCESS)
        }
        Err(ConfigError::Invalid(issues)) => {
            for issue in &issues {
                eprintln!("{issue}");
            }
            Ok(ExitCode::from(EXIT_CHECK_FAILED))
        }
        Err(error) => Err(error.into()),
    }
}
