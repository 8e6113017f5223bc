//! The command source: runs the admin's program directly (no shell), the address parts as
//! separate argv entries, with an empty environment (only `PATH`), and reads one JSON object
//! of patch fields from its stdout. Output is capped; what it writes to stderr is capped too,
//! made printable and redacted before it joins a log line. The program runs in a process group of
//! its own, and the whole group is killed when the lookup ends, whether it finished or the
//! resolver dropped it on timeout: a script's children (`curl`, `sleep`, a daemonised helper)
//! cannot outlive the lookup and pile up under a flood of requests.

use std::process::Stdio;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::AsyncReadExt as _;
use tokio::process::Command;

use super::{Backend, BackendError, Lookup, LookupResult, patch_from};
use crate::account::{EmailAddress, Template};
use crate::config::backend::CommandSettings;

#[derive(Debug)]
pub struct CommandBackend {
    settings: CommandSettings,
}

impl CommandBackend {
    pub fn new(settings: CommandSettings) -> Self {
        CommandBackend { settings }
    }

    async fn run(&self, address: &EmailAddress) -> LookupResult {
        let program = self.settings.program.display();
        let args = self
            .settings
            .args
            .iter()
            .map(|arg| Template::new(arg).expand(address));
        let mut child = Command::new(&self.settings.program)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| BackendError::Unavailable(format!("cannot run {program}: {error}")))?;
        let _group = ProcessGroup::of(&child);
        let stdout = async {
            let mut output = Vec::new();
            if let Some(stdout) = child.stdout.take() {
                let cap = u64::try_from(self.settings.max_output).unwrap_or(u64::MAX);
                stdout
                    .take(cap.saturating_add(1))
                    .read_to_end(&mut output)
                    .await
                    .map_err(|error| {
                        BackendError::Failed(format!("reading from {program}: {error}"))
                    })?;
            }
            if output.len() > self.settings.max_output {
                return Err(BackendError::BadOutput(format!(
                    "{program} printed more than {} bytes",
                    self.settings.max_output
                )));
            }
            Ok(output)
        };
        // Read alongside stdout, so a script that writes much to stderr never blocks on a
        // full pipe; past the cap it is read and dropped.
        let stderr = async {
            let mut text = Vec::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = (&mut stderr).take(MAX_STDERR).read_to_end(&mut text).await;
                let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
            }
            Ok(text)
        };
        let (output, stderr) = tokio::try_join!(stdout, stderr)?;
        let stderr = printable(&stderr, address);
        let status = child
            .wait()
            .await
            .map_err(|error| BackendError::Failed(format!("waiting for {program}: {error}")))?;
        if !status.success() {
            return Err(BackendError::Failed(format!(
                "{program} exited with {status}{stderr}"
            )));
        }
        let result = parse_output(&output);
        match &result {
            Err(BackendError::BadOutput(text)) => {
                return Err(BackendError::BadOutput(format!("{text}{stderr}")));
            }
            _ if !stderr.is_empty() => {
                tracing::debug!(program = %program, "command source wrote to stderr{stderr}");
            }
            _ => {}
        }
        result
    }
}

/// What of a script's stderr is kept for the log.
const MAX_STDERR: u64 = 1024;

/// A script's stderr as one log-safe line: `""` when it wrote nothing, else `"; stderr: …"`
/// with control characters (ANSI escapes, line breaks) escaped, the looked-up address
/// redacted, and `[…]` where the cap cut it.
fn printable(stderr: &[u8], address: &EmailAddress) -> String {
    let text = String::from_utf8_lossy(stderr);
    let cut = u64::try_from(stderr.len()).unwrap_or(u64::MAX) >= MAX_STDERR;
    let text = text.trim_end();
    if text.is_empty() {
        return String::new();
    }
    let escaped: String = text
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    let redacted = super::redact(&escaped, address);
    format!("; stderr: {redacted}{}", if cut { " […]" } else { "" })
}

/// Kills the process group it names when dropped (the lookup is over either way).
struct ProcessGroup(Option<Pid>);

impl ProcessGroup {
    /// `process_group(0)` made the child the leader: its group id is its process id.
    fn of(child: &tokio::process::Child) -> Self {
        ProcessGroup(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        )
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // ESRCH (nothing left in the group) is the normal case after a clean exit.
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
}

impl Backend for CommandBackend {
    fn lookup<'a>(&'a self, address: &'a EmailAddress) -> Lookup<'a> {
        Box::pin(self.run(address))
    }
}

/// Empty output or `null`: no entry. An object: fields with string, number or null values.
fn parse_output(output: &[u8]) -> LookupResult {
    if output.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: serde_json::Value = serde_json::from_slice(output)
        .map_err(|error| BackendError::BadOutput(format!("not JSON: {error}")))?;
    let object = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(object) => object,
        _ => {
            return Err(BackendError::BadOutput(
                "expected a JSON object or null".into(),
            ));
        }
    };
    let mut fields = Vec::with_capacity(object.len());
    for (name, value) in object {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Null => continue,
            _ => {
                return Err(BackendError::BadOutput(format!(
                    "field {name}: expected a string or a number"
                )));
            }
        };
        fields.push((name, text));
    }
    patch_from(fields).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::ServerKind;

    #[tokio::test]
    async fn stderr_is_capped_escaped_and_redacted() {
        let backend = CommandBackend::new(CommandSettings {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                // The address, an ANSI colour, a second line, then far more than the cap.
                "printf 'no %s \\033[31mred\\nline two ' \"$0\" >&2; \
                 head -c 200000 /dev/zero | tr '\\0' x >&2; exit 3"
                    .into(),
                "%EMAILADDRESS%".into(),
            ],
            max_output: 1024,
        });
        let address = EmailAddress::parse("jane.doe@example.org").unwrap();
        let error = backend.run(&address).await.unwrap_err().to_string();
        assert!(
            error.starts_with("lookup failed: /bin/sh exited with exit status: 3; stderr: no <address> \\u{1b}[31mred\\nline two xxx"),
            "{error}"
        );
        assert!(error.ends_with("x […]"), "{error}");
        assert!(error.len() < 1200, "{}", error.len());
        assert!(!error.contains("jane"), "{error}");
    }

    #[test]
    fn redaction_takes_whole_words_only() {
        let address = EmailAddress::parse("a@example.org").unwrap();
        assert_eq!(
            super::super::redact("database: invalid input \"a\" for a@example.org", &address),
            "database: invalid input \"<local part>\" for <address>"
        );
    }

    #[test]
    fn output_forms() {
        assert_eq!(parse_output(b" \n"), Ok(None));
        assert_eq!(parse_output(b"null"), Ok(None));
        let patch = parse_output(br#"{"login_name": "jd", "imap_port": 993, "caldav_url": null}"#)
            .unwrap()
            .unwrap();
        assert_eq!(patch.login_name.as_deref(), Some("jd"));
        assert_eq!(patch.servers[ServerKind::Imap].port, Some(993));
        for bad in [
            &b"[1]"[..],
            b"{\"login_name\": true}",
            b"<html>",
            b"{\"bogus\": \"x\"}",
        ] {
            assert!(
                matches!(parse_output(bad), Err(BackendError::BadOutput(_))),
                "{bad:?}"
            );
        }
    }
}
