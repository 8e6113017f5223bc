//! What `mxconf doctor` found: one [`Check`] per line, grouped in the four parts of the
//! report, printed for people (✓ / ✗ / !) or as the stable JSON document monitoring reads
//! (its shape is `docs/doctor.schema.json`; bump [`JSON_VERSION`] on any incompatible change).

use std::fmt::Write as _;

use serde::Serialize;

/// The `version` field of the JSON document.
pub const JSON_VERSION: u32 = 1;

/// The four parts of the report, in the order they are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    Dns,
    Discovery,
    MailServers,
    Signing,
}

impl Section {
    const ALL: [Section; 4] = [
        Section::Dns,
        Section::Discovery,
        Section::MailServers,
        Section::Signing,
    ];

    fn title(self) -> &'static str {
        match self {
            Section::Dns => "DNS",
            Section::Discovery => "Discovery URLs",
            Section::MailServers => "Mail servers",
            Section::Signing => "Profile signing",
        }
    }
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Works, but needs attention soon (an expiring certificate, a fallback that is missing).
    Warn,
    Fail,
}

impl Status {
    fn mark(self) -> char {
        match self {
            Status::Pass => '✓',
            Status::Warn => '!',
            Status::Fail => '✗',
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub section: Section,
    /// The domain the check is about; `None` for checks shared by every domain (mail
    /// servers named by several domains, the signer).
    pub domain: Option<String>,
    /// What was checked: a record name, a URL, `host:port (IMAP, STARTTLS)`, the signer.
    pub subject: String,
    pub status: Status,
    /// What was found, in one line.
    pub detail: String,
    /// For a failure or warning: what to change (for DNS, the exact record to publish).
    pub fix: Option<String>,
}

impl Check {
    pub fn about(section: Section, subject: impl Into<String>) -> CheckBuilder {
        CheckBuilder {
            section,
            subject: subject.into(),
            domain: None,
        }
    }
}

/// Names a check before its outcome is known: `Check::about(…).domain(d).pass("…")`.
pub struct CheckBuilder {
    section: Section,
    subject: String,
    domain: Option<String>,
}

impl CheckBuilder {
    pub fn domain(mut self, domain: &str) -> Self {
        self.domain = Some(domain.to_owned());
        self
    }

    pub fn pass(self, detail: impl Into<String>) -> Check {
        self.finish(Status::Pass, detail.into(), None)
    }

    pub fn warn(self, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        self.finish(Status::Warn, detail.into(), Some(fix.into()))
    }

    pub fn fail(self, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        self.finish(Status::Fail, detail.into(), Some(fix.into()))
    }

    pub fn status(self, status: Status, detail: impl Into<String>, fix: Option<String>) -> Check {
        self.finish(status, detail.into(), fix)
    }

    fn finish(self, status: Status, detail: String, fix: Option<String>) -> Check {
        Check {
            section: self.section,
            domain: self.domain,
            subject: self.subject,
            status,
            detail,
            fix: if status == Status::Pass { None } else { fix },
        }
    }
}

/// Every check of one run, in a stable order (not the order the probes finished in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub version: u32,
    pub domains: Vec<String>,
    pub summary: Summary,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
}

impl Report {
    /// Orders the checks by section, keeping each section's own order.
    pub fn new(domains: Vec<String>, mut checks: Vec<Check>) -> Report {
        checks.sort_by_key(|check| check.section);
        let mut summary = Summary::default();
        for check in &checks {
            match check.status {
                Status::Pass => summary.pass += 1,
                Status::Warn => summary.warn += 1,
                Status::Fail => summary.fail += 1,
            }
        }
        Report {
            version: JSON_VERSION,
            domains,
            summary,
            checks,
        }
    }

    pub fn failed(&self) -> bool {
        self.summary.fail > 0
    }

    /// The JSON document (pretty-printed, one trailing newline).
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and enums cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The report for people: a heading per part, one line per check, the fix beneath.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "mxconf doctor: {}", self.domains.join(", "));
        for section in Section::ALL {
            let checks: Vec<&Check> = self
                .checks
                .iter()
                .filter(|check| check.section == section)
                .collect();
            if checks.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{}", section.title());
            for check in checks {
                let _ = writeln!(
                    out,
                    "  {} {}: {}",
                    check.status.mark(),
                    check.subject,
                    check.detail
                );
                if let Some(fix) = &check.fix {
                    for line in fix.lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
        }
        let Summary { pass, warn, fail } = self.summary;
        let _ = writeln!(
            out,
            "\n{fail} failed, {warn} {}, {pass} passed",
            if warn == 1 { "warning" } else { "warnings" }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_are_kept_only_for_problems_and_sections_print_in_order() {
        let checks = vec![
            Check::about(Section::Signing, "signer").pass("fine"),
            Check::about(Section::Dns, "_imaps._tcp.example.com SRV")
                .domain("example.com")
                .fail("missing", "publish:\n  a record"),
            Check::about(Section::Dns, "MX example.com")
                .domain("example.com")
                .status(Status::Pass, "mx.example.com", Some("unused".into())),
        ];
        let report = Report::new(vec!["example.com".into()], checks);
        assert!(report.failed());
        assert_eq!(report.checks[2].fix, None);
        let text = report.to_text();
        assert!(text.starts_with("mxconf doctor: example.com\n\nDNS\n  ✗ _imaps._tcp"));
        assert!(text.contains("      publish:\n        a record\n"));
        assert!(text.ends_with("\n1 failed, 0 warnings, 2 passed\n"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["checks"][0]["section"], "dns");
        assert_eq!(json["checks"][0]["status"], "fail");
        assert_eq!(json["checks"][2]["section"], "signing");
        assert_eq!(json["summary"]["pass"], 2);
    }
}
