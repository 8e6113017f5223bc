//! The `mxconf` binary: parse the command line, run it, print the error chain once.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = mxconf::cli::Cli::parse();
    match mxconf::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mxconf: {error:#}");
            ExitCode::from(2)
        }
    }
}
