//! `mxconf export --input users.csv --out-dir DIR`: the MDM batch, one profile per CSV line
//! (`address[,name]`), built in parallel on every core; bad lines are reported by line number
//! and the batch goes on. Exit 1 when any line failed. `mxconf export --mdm PRODUCT DOMAIN`:
//! one unsigned profile for the whole domain with the MDM's per-user variables.

use std::collections::HashSet;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::profile::ProfileMaker;
use super::{ConfigArg, EXIT_CHECK_FAILED, write_atomically, write_output};
use crate::account::{Domain, EmailAddress};
use crate::answer::Answers;
use crate::profile;
use crate::profile::mdm::Mdm;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// CSV file: one `address[,name]` per line; a header line, blank lines and `#` comments
    /// are skipped; fields may be "quoted" ("" inside quotes is one quote).
    #[arg(long, value_name = "CSV", required_unless_present = "mdm")]
    pub input: Option<PathBuf>,
    /// Directory for the profiles, one `<address>.mobileconfig` each (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "mdm")]
    pub out_dir: Option<PathBuf>,
    /// Write XML plists without signing them.
    #[arg(long)]
    pub unsigned: bool,
    /// jamf, intune, workspace-one or kandji: one profile for all of DOMAIN's users, with
    /// this MDM's per-user variables (needs --unsigned: the MDM signs it).
    #[arg(
        long,
        value_name = "PRODUCT",
        conflicts_with_all = ["input", "out_dir"],
        requires = "domain",
        value_parser = parse_mdm
    )]
    pub mdm: Option<Mdm>,
    /// With --mdm: the domain the profile is for.
    #[arg(value_name = "DOMAIN", requires = "mdm")]
    pub domain: Option<String>,
    /// With --mdm: output file (written atomically); standard output when not given.
    #[arg(long, short = 'o', value_name = "FILE", requires = "mdm")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// One wanted profile: where it was asked for and for whom.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    line: usize,
    address: String,
    name: Option<String>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let (Some(input), Some(out_dir)) = (&args.input, &args.out_dir) else {
        return run_mdm(args);
    };
    let maker = ProfileMaker::new(args.config.load()?, args.unsigned)?;
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let input = input.display().to_string();
    let (entries, mut failures) = parse(&text);
    let jobs = plan(entries, &mut failures);

    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::new(jobs.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let next = AtomicUsize::new(0);
    let written = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // Private-key work is CPU-bound: one worker per core, each taking the next line.
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut session = match maker.session() {
                    Ok(session) => session,
                    Err(error) => {
                        if let Ok(mut errors) = errors.lock() {
                            errors.push((0, format!("cannot prepare the signing key: {error:#}")));
                        }
                        return;
                    }
                };
                while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = maker
                        .make(&mut session, &job.address, job.name.as_deref())
                        .and_then(|bytes| write_atomically(&out_dir.join(&job.file), &bytes));
                    match result {
                        Ok(()) => {
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => {
                            if let Ok(mut errors) = errors.lock() {
                                errors.push((job.line, format!("{error:#}")));
                            }
                        }
                    }
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    failures.extend(errors.into_inner().unwrap_or_default());
    failures.sort();
    for (line, message) in &failures {
        eprintln!("{input}:{line}: {message}");
    }
    let written = written.into_inner();
    let failed = failures.len();
    eprintln!(
        "mxconf: {written} profile(s) written to {}, {failed} line(s) failed",
        out_dir.display()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHECK_FAILED)
    })
}

fn parse_mdm(text: &str) -> Result<Mdm, String> {
    Mdm::ALL
        .into_iter()
        .find(|mdm| mdm.name() == text)
        .ok_or_else(|| "expected jamf, intune, workspace-one or kandji".to_owned())
}

/// `--mdm PRODUCT DOMAIN`: the domain's template profile, unsigned.
fn run_mdm(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let (Some(mdm), Some(domain)) = (args.mdm, &args.domain) else {
        bail!("give --input and --out-dir, or --mdm PRODUCT DOMAIN");
    };
    // Signed output is the default everywhere else; here it cannot be made.
    if !args.unsigned {
        bail!(
            "--mdm writes unsigned profiles only: {} fills in each user's variables and then \
             signs the profile itself (a signature made here would break at the first \
             variable); pass --unsigned",
            mdm.product()
        );
    }
    let domain = Domain::parse(domain).with_context(|| format!("{domain}: not a domain name"))?;
    let bytes = Answers::new(args.config.load()?).mdm_profile(mdm, &domain)?;
    write_output(args.output.as_deref(), &bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// One profile to write.
struct Job {
    line: usize,
    address: EmailAddress,
    name: Option<String>,
    file: String,
}

/// Parses the addresses and assigns file names in line order, so that of two lines for one
/// address (or two addresses with one file name) the later is the one reported, every run.
fn plan(entries: Vec<Entry>, failures: &mut Vec<(usize, String)>) -> Vec<Job> {
    let mut taken = HashSet::new();
    let mut jobs = Vec::with_capacity(entries.len());
    for entry in entries {
        match EmailAddress::parse(&entry.address) {
            Err(error) => {
                failures.push((entry.line, format!("not a usable email address: {error}")))
            }
            Ok(address) => {
                let file = profile::file_name(&address);
                if taken.insert(file.clone()) {
                    jobs.push(Job {
                        line: entry.line,
                        address,
                        name: entry.name,
                        file,
                    });
                } else {
                    failures.push((
                        entry.line,
                        format!("{file} is already written by an earlier line"),
                    ));
                }
            }
        }
    }
    jobs
}

/// Splits the CSV into entries and per-line errors (line numbers from 1). One record per
/// line: addresses and names never hold a line break, and a line with a broken quote is
/// reported alone instead of swallowing the lines after it.
fn parse(text: &str) -> (Vec<Entry>, Vec<(usize, String)>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut seen_data = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = match split_fields(line) {
            Ok(fields) => fields,
            Err(message) => {
                errors.push((line_number, message));
                continue;
            }
        };
        let first = !seen_data;
        seen_data = true;
        if first && is_header(&fields[0]) {
            continue;
        }
        match fields.as_slice() {
            [address] => entries.push(Entry {
                line: line_number,
                address: address.clone(),
                name: None,
            }),
            [address, name] => entries.push(Entry {
                line: line_number,
                address: address.clone(),
                name: Some(name.clone()).filter(|n| !n.trim().is_empty()),
            }),
            _ => errors.push((
                line_number,
                format!("expected address[,name], found {} fields", fields.len()),
            )),
        }
    }
    (entries, errors)
}

/// A first line naming its columns (`email`, `address`, `emailaddress`, `mail`) is a header.
fn is_header(field: &str) -> bool {
    [
        "email",
        "address",
        "emailaddress",
        "email address",
        "e-mail",
        "mail",
    ]
    .contains(&field.trim().to_ascii_lowercase().as_str())
}

/// The fields of one line: quoting checked here, then unquoted and trimmed by the csv crate.
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let line = strict_quoting(line)?;
    let mut record = csv::StringRecord::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(line.as_bytes());
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record.iter().map(str::to_owned).collect()),
        Ok(false) => Ok(vec![String::new()]),
        Err(error) => Err(format!("not CSV: {error}")),
    }
}

/// The line held to RFC 4180's quoting, with the blanks around quoted fields dropped. The
/// csv crate reads any bytes as some record: a quote left open takes in the lines after it, a
/// stray quote is kept as text, and a quote after a blank (`a@b.org, "Doe, Jane"`, as people
/// type it) does not open a field. Each would load a wrong address without a word.
fn strict_quoting(line: &str) -> Result<String, String> {
    let mut checked = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let blanks = |c: &char| *c == ' ' || *c == '\t';
    loop {
        let leading: String = std::iter::from_fn(|| chars.next_if(blanks)).collect();
        if chars.next_if_eq(&'"').is_none() {
            checked.push_str(&leading);
            loop {
                match chars.next() {
                    None => return Ok(checked),
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field".into()),
                    Some(c) => checked.push(c),
                }
            }
        } else {
            checked.push('"');
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => checked.push_str("\"\""),
                    Some('"') => break,
                    Some(c) => checked.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
            checked.push('"');
            while chars.next_if(blanks).is_some() {}
            match chars.next() {
                None => return Ok(checked),
                Some(',') => {}
                Some(_) => return Err("text after a closing quote".into()),
            }
        }
        checked.push(',');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_rfc_4180() {
        assert_eq!(split_fields("a@b.org").unwrap(), ["a@b.org"]);
        assert_eq!(
            split_fields(" a@b.org , \"Doe, \"\"Jane\"\"\" ").unwrap(),
            ["a@b.org", "Doe, \"Jane\""]
        );
        assert_eq!(split_fields("a@b.org,").unwrap(), ["a@b.org", ""]);
        assert_eq!(split_fields("Jane Doe ,\t x").unwrap(), ["Jane Doe", "x"]);
        assert!(split_fields("\"a@b.org").is_err());
        assert!(split_fields("\"a\"x,b").is_err());
        assert!(split_fields("a\"b,c").is_err());
        assert!(split_fields("\"a\"\"").is_err());
    }

    #[test]
    fn header_blank_lines_and_bad_lines() {
        let (entries, errors) = parse(
            "\u{feff}Email,Name\n\njane@example.com,Jane\n# comment\n\"john@example.com\"\n\
             x,y,z\nbad\"quote\nemail\n",
        );
        assert_eq!(
            entries,
            [
                Entry {
                    line: 3,
                    address: "jane@example.com".into(),
                    name: Some("Jane".into())
                },
                Entry {
                    line: 5,
                    address: "john@example.com".into(),
                    name: None
                },
                // Only the first line can be a header; later it is an (invalid) address.
                Entry {
                    line: 8,
                    address: "email".into(),
                    name: None
                },
            ]
        );
        assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [6, 7]);
    }
}
