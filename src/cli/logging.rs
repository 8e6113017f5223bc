//! The tracing subscriber for the server: events on stderr as text or JSON lines, level from
//! `RUST_LOG` (default `info`). Colour only when stderr is a terminal and `NO_COLOR` is unset,
//! so files and the journal never get escape codes. Nothing logged anywhere carries a query
//! string, a body or a password (the request log names the route, not the URI).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Text lines, for the commands that only warn now and then.
pub fn init() {
    init_as(LogFormat::Text);
}

pub fn init_as(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(colour()).try_init(),
        // One flat object per line: timestamp, level, target, message and the event's fields.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// <https://no-color.org>: set and not empty means no colour.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
