//! `type = "command"`: the program (an absolute path, no shell), its arguments and the output
//! cap. The settings and their check; `backend::command` runs them.

use std::path::{Path, PathBuf};

use super::{BackendFile, positive, report_at};
use crate::config::checker::Checker;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSettings {
    pub program: PathBuf,
    /// Arguments after the program, placeholders expanded per argument (no shell).
    pub args: Vec<String>,
    pub max_output: usize,
}

pub(super) fn check(
    checker: &mut Checker<'_>,
    label: &str,
    raw: &BackendFile,
) -> Option<CommandSettings> {
    let Some(command) = &raw.command else {
        report_at(
            checker,
            &raw.kind,
            label,
            "command",
            "is required: [\"/path/to/program\", \"%EMAILADDRESS%\"]",
        );
        return None;
    };
    let (program, args) = match command.get_ref().split_first() {
        // An absolute path: no PATH search, so what runs is what the admin named.
        Some((program, args)) if Path::new(program).is_absolute() => {
            (checker.path(program), args.to_vec())
        }
        _ => {
            checker.report(
                Some(&command.span()),
                format!("{label}.command"),
                "must start with the program's absolute path".into(),
            );
            return None;
        }
    };
    let max_output = positive(
        checker,
        label,
        "max-output",
        raw.max_output.as_ref(),
        64 * 1024,
    )?;
    Some(CommandSettings {
        program,
        args,
        max_output: usize::try_from(max_output).unwrap_or(usize::MAX),
    })
}
