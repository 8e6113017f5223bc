//! The `mxconf` binary: parse the command line, run it, print the error chain once.

use std::process::ExitCode;

use clap::Parser;

// The server's request path is dominated by small allocations (hyper, headers, strings);
// mimalloc serves them faster than glibc malloc under two busy threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
