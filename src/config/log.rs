//! `[log]`: how the server writes its log lines. The file form, the validated [`LogSettings`]
//! and their check (serde's unknown-variant error already names the allowed formats).

use serde::Deserialize;

use crate::account::names::named_enum;

named_enum! {
    /// `format`: one human-readable line per event, or one JSON object per line for a log
    /// shipper. `serve --log-format` overrides it.
    #[derive(Default)]
    pub enum LogFormat {
        #[default]
        Text = "text",
        Json = "json",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogFile {
    pub format: Option<LogFormat>,
}

/// Validated `[log]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
}

pub(super) fn check(raw: &LogFile) -> LogSettings {
    LogSettings {
        format: raw.format.unwrap_or_default(),
    }
}
