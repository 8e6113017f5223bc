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
        Ok(config) => match crate::webform::Webform::new(&config.provider, &config.web) {
            Ok(_) => {
                println!("{}: OK", config.source_name());
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("{}: {error}", config.source_name());
                Ok(ExitCode::from(EXIT_CHECK_FAILED))
            }
        },
        Err(ConfigError::Invalid(issues)) => {
            for issue in &issues {
                eprintln!("{issue}");
            }
            Ok(ExitCode::from(EXIT_CHECK_FAILED))
        }
        Err(error) => Err(error.into()),
    }
}
