//! The mail servers the answers name: connect with the configured security (implicit TLS, or
//! IMAP/SMTP `STARTTLS`, POP3 `STLS`), judge the certificate, and read the capability list
//! (IMAP `CAPABILITY`, POP3 `CAPA`, SMTP `EHLO`) before and after TLS. It never logs in: the
//! authentication rules are checked against what the server *offers*.
//!
//! The dialogue is a few bounded line reads, written here rather than taken from an IMAP or
//! SMTP client crate: those hide the pre-TLS capability list and exist to log in.

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt as _, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _,
    BufReader,
};

use super::net::{Certificate, Net, ProbeError};
#[cfg(test)]
use super::report::Status;
use super::report::{Check, CheckBuilder, Section};
use crate::account::{AuthMethod, MailServer, Security, ServerKind};

/// Longest line read from a server, and most lines in one reply: bounds a hostile one.
const MAX_LINE: u64 = 8 * 1024;
const MAX_LINES: usize = 200;

/// One server to probe: several domains naming the same one share a probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub kind: ServerKind,
    pub host: String,
    pub security: Security,
    pub port: u16,
}

impl Ord for Endpoint {
    /// Report order: by protocol, host, implicit TLS first, then port.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let key = |e: &Endpoint| {
            (
                e.kind.index(),
                e.host.clone(),
                e.security.preference(),
                e.port,
            )
        };
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for Endpoint {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Endpoint {
    pub fn of(server: &MailServer) -> Endpoint {
        Endpoint {
            kind: server.kind,
            host: server.host.trim_end_matches('.').to_ascii_lowercase(),
            port: server.port,
            security: server.security,
        }
    }

    /// `imap.example.com:993 (IMAP, implicit TLS)`.
    pub fn subject(&self) -> String {
        let kind = match self.kind {
            ServerKind::Imap => "IMAP",
            ServerKind::Pop3 => "POP3",
            ServerKind::Smtp => "SMTP",
        };
        let security = match self.security {
            Security::Tls => "implicit TLS",
            Security::Starttls if self.kind == ServerKind::Pop3 => "STLS",
            Security::Starttls => "STARTTLS",
            Security::Plain => "no TLS",
        };
        format!("{}:{} ({kind}, {security})", self.host, self.port)
    }

    fn upgrade_command(&self) -> &'static str {
        match self.kind {
            ServerKind::Pop3 => "STLS",
            ServerKind::Imap | ServerKind::Smtp => "STARTTLS",
        }
    }
}

/// What a server offers, from one capability list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub starttls: bool,
    /// SASL mechanisms, upper-case, in the server's order.
    pub mechanisms: Vec<String>,
    /// A password command outside SASL: IMAP `LOGIN` (unless `LOGINDISABLED`), POP3 `USER`.
    pub login_command: Option<&'static str>,
}

impl Capabilities {
    /// IMAP: the tokens of `* CAPABILITY …` lines (or the greeting's `[CAPABILITY …]`).
    pub fn from_imap(tokens: &[String]) -> Capabilities {
        let mut caps = Capabilities::default();
        let mut login_disabled = false;
        for token in tokens {
            let token = token.to_ascii_uppercase();
            if token == "STARTTLS" {
                caps.starttls = true;
            } else if token == "LOGINDISABLED" {
                login_disabled = true;
            } else if let Some(mechanism) = token.strip_prefix("AUTH=") {
                push_unique(&mut caps.mechanisms, mechanism);
            }
        }
        // RFC 9051 §6.2.3: LOGIN works unless the server says LOGINDISABLED.
        caps.login_command = (!login_disabled).then_some("LOGIN");
        caps
    }

    /// POP3: the lines of a `CAPA` reply (RFC 2449), without the status and `.` lines.
    pub fn from_pop3(lines: &[String]) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in lines {
            let mut words = line.split_ascii_whitespace();
            match words.next().map(str::to_ascii_uppercase).as_deref() {
                Some("STLS") => caps.starttls = true,
                Some("USER") => caps.login_command = Some("USER"),
                Some("SASL") => {
                    for mechanism in words {
                        push_unique(&mut caps.mechanisms, &mechanism.to_ascii_uppercase());
                    }
                }
                _ => {}
            }
        }
        caps
    }

    /// SMTP: the EHLO keyword lines (RFC 5321 §4.1.1.1), without the `250-` codes; old
    /// servers also say `AUTH=PLAIN LOGIN`.
    pub fn from_ehlo(lines: &[String]) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in lines {
            let upper = line.to_ascii_uppercase();
            let mut words = upper.split_ascii_whitespace();
            match words.next() {
                Some("STARTTLS") => caps.starttls = true,
                Some(first) if first == "AUTH" || first.starts_with("AUTH=") => {
                    let inline = first.strip_prefix("AUTH=").filter(|m| !m.is_empty());
                    for mechanism in inline.into_iter().chain(words) {
                        push_unique(&mut caps.mechanisms, mechanism);
                    }
                }
                _ => {}
            }
        }
        caps
    }

    /// The password mechanisms (and commands) a client could send a password with in clear.
    fn cleartext_passwords(&self) -> Vec<String> {
        let mut offered: Vec<String> = self
            .mechanisms
            .iter()
            .filter(|m| matches!(m.as_str(), "PLAIN" | "LOGIN"))
            .map(|m| format!("AUTH {m}"))
            .collect();
        if let Some(command) = self.login_command {
            offered.push(format!("the {command} command"));
        }
        offered
    }

    fn describe(&self) -> String {
        let mut offered: Vec<String> = self.mechanisms.clone();
        if let Some(command) = self.login_command {
            offered.push(format!("{command} command"));
        }
        if offered.is_empty() {
            "no authentication".into()
        } else {
            offered.join(", ")
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|known| known == item) {
        list.push(item.to_owned());
    }
}

/// The SASL mechanisms that carry each configured authentication method (the names
/// Thunderbird and Outlook map them to). `None`: nothing on the wire to look for.
fn mechanisms(method: AuthMethod) -> Option<&'static [&'static str]> {
    match method {
        AuthMethod::PasswordCleartext => Some(&["PLAIN", "LOGIN"]),
        AuthMethod::PasswordEncrypted => Some(&[
            "SCRAM-SHA-256",
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-1",
            "SCRAM-SHA-1-PLUS",
            "CRAM-MD5",
            "DIGEST-MD5",
        ]),
        AuthMethod::OAuth2 => Some(&["XOAUTH2", "OAUTHBEARER"]),
        AuthMethod::Ntlm => Some(&["NTLM"]),
        AuthMethod::Gssapi => Some(&["GSSAPI"]),
        AuthMethod::ClientCert => Some(&["EXTERNAL"]),
        AuthMethod::None => None,
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    /// The certificate, unless the server is configured without TLS.
    pub certificate: Option<Certificate>,
    /// The capability list before STARTTLS (STARTTLS servers only).
    pub before_tls: Option<Capabilities>,
    /// The list a client authenticates with: after TLS, or the only one for `plain`.
    pub capabilities: Capabilities,
}

/// Why a probe stopped, with what the admin should change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Net(ProbeError),
    /// TLS was expected from the first byte, but the server greeted in plain text.
    PlainOnTlsPort(String),
    /// No TLS from the first byte is configured, but the port expects a TLS handshake.
    TlsOnPlainPort,
    /// STARTTLS/STLS is configured, but the server does not offer it.
    NoStarttls(Capabilities),
    /// The server refused the STARTTLS/STLS command.
    StarttlsRefused(String),
}

impl From<ProbeError> for Failure {
    fn from(error: ProbeError) -> Self {
        Failure::Net(error)
    }
}

/// Probes one server, within the time limit.
pub async fn probe(net: &Net, endpoint: &Endpoint) -> Result<Findings, Failure> {
    let outcome = net.bounded(dialogue(net, endpoint)).await;
    if let Err(Failure::Net(ProbeError::Tls(_))) = &outcome
        && endpoint.security == Security::Tls
    {
        // A handshake that fails outright often means the port speaks plain text first.
        if let Ok(greeting) = net.bounded(plain_greeting(net, endpoint)).await {
            return Err(Failure::PlainOnTlsPort(greeting));
        }
    }
    if let Err(Failure::Net(ProbeError::Timeout(_))) = &outcome
        && endpoint.security != Security::Tls
    {
        // Silence where a greeting belongs often means the port waits for a TLS handshake.
        if net.bounded(tls_greeting(net, endpoint)).await.is_ok() {
            return Err(Failure::TlsOnPlainPort);
        }
    }
    outcome
}

/// Connects with TLS (whatever the certificate) and reads this protocol's greeting.
async fn tls_greeting(net: &Net, endpoint: &Endpoint) -> Result<(), Failure> {
    let stream = net.connect(&endpoint.host, endpoint.port).await?;
    let (tls, _) = net.tls(stream, &endpoint.host).await?;
    Session::new(BufReader::new(tls), endpoint.kind)
        .greeting()
        .await?;
    Ok(())
}

async fn dialogue(net: &Net, endpoint: &Endpoint) -> Result<Findings, Failure> {
    let stream = net.connect(&endpoint.host, endpoint.port).await?;
    match endpoint.security {
        Security::Tls => {
            let (tls, certificate) = net.tls(stream, &endpoint.host).await?;
            let mut session = Session::new(BufReader::new(tls), endpoint.kind);
            session.greeting().await?;
            let capabilities = session.capabilities().await?;
            session.quit().await;
            Ok(Findings {
                certificate: Some(certificate),
                before_tls: None,
                capabilities,
            })
        }
        Security::Plain => {
            let mut session = Session::new(BufReader::new(stream), endpoint.kind);
            session.greeting().await?;
            let capabilities = session.capabilities().await?;
            session.quit().await;
            Ok(Findings {
                certificate: None,
                before_tls: None,
                capabilities,
            })
        }
        Security::Starttls => {
            let mut session = Session::new(BufReader::new(stream), endpoint.kind);
            session.greeting().await?;
            let before = session.capabilities().await?;
            if !before.starttls {
                session.quit().await;
                return Err(Failure::NoStarttls(before));
            }
            session.starttls().await?;
            let Session { stream, kind, tag } = session;
            if !stream.buffer().is_empty() {
                // RFC 3207 §4.2 / CVE-2011-0411: bytes sent before the handshake were
                // injected or pipelined; a client must discard them.
                return Err(Failure::Net(ProbeError::Protocol(format!(
                    "the server sent data after its {} reply, before TLS",
                    endpoint.upgrade_command()
                ))));
            }
            let (tls, certificate) = net.tls(stream.into_inner(), &endpoint.host).await?;
            let mut session = Session {
                stream: BufReader::new(tls),
                kind,
                tag,
            };
            // After TLS the server forgets what it said before (RFC 3207 §4.2, RFC 2595 §3.1).
            let capabilities = session.capabilities().await?;
            session.quit().await;
            Ok(Findings {
                certificate: Some(certificate),
                before_tls: Some(before),
                capabilities,
            })
        }
    }
}

/// Connects without TLS and returns the first line, if it is this protocol's greeting.
async fn plain_greeting(net: &Net, endpoint: &Endpoint) -> Result<String, Failure> {
    let stream = net.connect(&endpoint.host, endpoint.port).await?;
    let mut session = Session::new(BufReader::new(stream), endpoint.kind);
    let line = session.line().await?;
    let greets = match endpoint.kind {
        ServerKind::Imap => line.starts_with("* OK") || line.starts_with("* PREAUTH"),
        ServerKind::Pop3 => line.starts_with("+OK"),
        ServerKind::Smtp => line.starts_with("220"),
    };
    if greets {
        Ok(line)
    } else {
        Err(Failure::Net(ProbeError::Protocol("not a greeting".into())))
    }
}

/// One protocol conversation over a buffered stream (plain or TLS).
struct Session<S> {
    stream: S,
    kind: ServerKind,
    /// IMAP command tags: a1, a2, …
    tag: u32,
}

impl<S: AsyncBufRead + AsyncWrite + Unpin> Session<S> {
    fn new(stream: S, kind: ServerKind) -> Self {
        Session {
            stream,
            kind,
            tag: 0,
        }
    }

    async fn line(&mut self) -> Result<String, ProbeError> {
        let mut bytes = Vec::new();
        let read = (&mut self.stream)
            .take(MAX_LINE)
            .read_until(b'\n', &mut bytes)
            .await
            .map_err(|error| ProbeError::Protocol(format!("read failed: {error}")))?;
        if read == 0 {
            return Err(ProbeError::Protocol(
                "the server closed the connection".into(),
            ));
        }
        if bytes.last() != Some(&b'\n') {
            return Err(ProbeError::Protocol(format!(
                "a line longer than {MAX_LINE} bytes"
            )));
        }
        Ok(String::from_utf8_lossy(&bytes).trim_end().to_owned())
    }

    async fn send(&mut self, command: &str) -> Result<(), ProbeError> {
        self.stream
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .and(self.stream.flush().await)
            .map_err(|error| ProbeError::Protocol(format!("write failed: {error}")))
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("a{}", self.tag)
    }

    /// The greeting's (last) line.
    async fn greeting(&mut self) -> Result<String, ProbeError> {
        match self.kind {
            ServerKind::Imap | ServerKind::Pop3 => {
                let line = self.line().await?;
                let ok = match self.kind {
                    ServerKind::Imap => line.starts_with("* OK") || line.starts_with("* PREAUTH"),
                    ServerKind::Pop3 | ServerKind::Smtp => line.starts_with("+OK"),
                };
                if ok {
                    Ok(line)
                } else {
                    Err(refused("greeting", &line))
                }
            }
            ServerKind::Smtp => {
                let (code, lines) = self.smtp_reply().await?;
                if code == "220" {
                    Ok(lines.join(" "))
                } else {
                    Err(refused("greeting", &format!("{code} {}", lines.join(" "))))
                }
            }
        }
    }

    /// A (multi-line) SMTP reply: its code and the text of each line.
    async fn smtp_reply(&mut self) -> Result<(String, Vec<String>), ProbeError> {
        let mut lines = Vec::new();
        for _ in 0..MAX_LINES {
            let line = self.line().await?;
            let (code, rest) = line.split_at_checked(3).unwrap_or((line.as_str(), ""));
            let text = rest.get(1..).unwrap_or("").to_owned();
            lines.push(text);
            if !rest.starts_with('-') {
                return Ok((code.to_owned(), lines));
            }
        }
        Err(ProbeError::Protocol("an endless reply".into()))
    }

    async fn capabilities(&mut self) -> Result<Capabilities, ProbeError> {
        match self.kind {
            ServerKind::Imap => {
                let tag = self.next_tag();
                self.send(&format!("{tag} CAPABILITY")).await?;
                let mut tokens = Vec::new();
                for _ in 0..MAX_LINES {
                    let line = self.line().await?;
                    if let Some(list) = strip_prefix_ci(&line, "* CAPABILITY ") {
                        tokens.extend(list.split_ascii_whitespace().map(str::to_owned));
                    } else if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                        return if status.to_ascii_uppercase().starts_with("OK") {
                            Ok(Capabilities::from_imap(&tokens))
                        } else {
                            Err(refused("CAPABILITY", &line))
                        };
                    }
                }
                Err(ProbeError::Protocol("an endless CAPABILITY reply".into()))
            }
            ServerKind::Pop3 => {
                self.send("CAPA").await?;
                let first = self.line().await?;
                if !first.starts_with("+OK") {
                    // RFC 2449 is optional: no CAPA, nothing offered that we can see.
                    return Ok(Capabilities::default());
                }
                let mut lines = Vec::new();
                for _ in 0..MAX_LINES {
                    let line = self.line().await?;
                    if line == "." {
                        return Ok(Capabilities::from_pop3(&lines));
                    }
                    lines.push(line);
                }
                Err(ProbeError::Protocol("an endless CAPA reply".into()))
            }
            ServerKind::Smtp => {
                // RFC 5321 §4.1.4: an address literal is a valid EHLO argument for any client.
                self.send("EHLO [127.0.0.1]").await?;
                let (code, lines) = self.smtp_reply().await?;
                if code == "250" {
                    Ok(Capabilities::from_ehlo(lines.get(1..).unwrap_or_default()))
                } else {
                    Err(refused("EHLO", &format!("{code} {}", lines.join(" "))))
                }
            }
        }
    }

    async fn starttls(&mut self) -> Result<(), Failure> {
        let reply = match self.kind {
            ServerKind::Imap => {
                let tag = self.next_tag();
                self.send(&format!("{tag} STARTTLS")).await?;
                loop {
                    let line = self.line().await?;
                    if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                        break (status.to_ascii_uppercase().starts_with("OK"), line);
                    }
                }
            }
            ServerKind::Pop3 => {
                self.send("STLS").await?;
                let line = self.line().await?;
                (line.starts_with("+OK"), line)
            }
            ServerKind::Smtp => {
                self.send("STARTTLS").await?;
                let (code, lines) = self.smtp_reply().await?;
                (code == "220", format!("{code} {}", lines.join(" ")))
            }
        };
        match reply {
            (true, _) => Ok(()),
            (false, line) => Err(Failure::StarttlsRefused(line)),
        }
    }

    /// Says goodbye; the answer does not matter.
    async fn quit(&mut self) {
        let command = match self.kind {
            ServerKind::Imap => format!("{} LOGOUT", self.next_tag()),
            ServerKind::Pop3 | ServerKind::Smtp => "QUIT".to_owned(),
        };
        let _ = self.send(&command).await;
    }
}

fn strip_prefix_ci<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .map(|_| &line[prefix.len()..])
}

fn refused(step: &str, line: &str) -> ProbeError {
    let line: String = line.chars().take(120).collect();
    ProbeError::Protocol(format!("unexpected {step} reply: {line}"))
}

/// The report lines for one server as configured (`methods` from the answers that name it).
pub fn checks(
    endpoint: &Endpoint,
    methods: &[AuthMethod],
    outcome: &Result<Findings, Failure>,
) -> Vec<Check> {
    let subject = endpoint.subject();
    let line = || Check::about(Section::MailServers, subject.clone());
    let findings = match outcome {
        Ok(findings) => findings,
        Err(failure) => return vec![failure_check(endpoint, failure, line())],
    };
    let mut checks = Vec::new();
    match &findings.certificate {
        Some(certificate) => {
            let (status, detail, fix) = certificate.summary();
            checks.push(line().status(status, detail, fix));
        }
        None => checks.push(line().warn(
            "no TLS: whatever the client sends crosses the network in clear",
            "offer implicit TLS (or STARTTLS) and set security = \"tls\" for this server",
        )),
    }
    if let Some(before) = &findings.before_tls {
        let clear = before.cleartext_passwords();
        checks.push(if clear.is_empty() {
            line().pass(format!(
                "no password accepted before {}",
                endpoint.upgrade_command()
            ))
        } else {
            line().fail(
                format!(
                    "offers {} before {}: a password can cross the network in clear",
                    clear.join(", "),
                    endpoint.upgrade_command()
                ),
                match endpoint.kind {
                    ServerKind::Smtp => "offer AUTH only after STARTTLS (Postfix: smtpd_tls_auth_only = yes)",
                    ServerKind::Imap | ServerKind::Pop3 => {
                        "refuse passwords before TLS (Dovecot: disable_plaintext_auth = yes, or ssl = required)"
                    }
                },
            )
        });
    }
    checks.push(auth_check(
        endpoint,
        methods,
        &findings.capabilities,
        line(),
    ));
    checks
}

fn auth_check(
    endpoint: &Endpoint,
    methods: &[AuthMethod],
    offered: &Capabilities,
    line: CheckBuilder,
) -> Check {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for &method in methods {
        let Some(wanted) = mechanisms(method) else {
            found.push(format!("{} (nothing to offer)", method.name()));
            continue;
        };
        let mut matching: Vec<String> = wanted
            .iter()
            .filter(|m| offered.mechanisms.iter().any(|o| o == *m))
            .map(|m| (*m).to_owned())
            .collect();
        if method == AuthMethod::PasswordCleartext
            && let Some(command) = offered.login_command
        {
            matching.push(format!("{command} command"));
        }
        if matching.is_empty() {
            missing.push((method, wanted));
        } else {
            found.push(format!("{} ({})", method.name(), matching.join(", ")));
        }
    }
    let Some(&(first_missing, wanted)) = missing.first() else {
        return line.pass(format!("offers {}", found.join(", ")));
    };
    let names: Vec<&str> = missing.iter().map(|(m, _)| m.name()).collect();
    let detail = format!(
        "the answers promise {} but the server offers {}",
        names.join(", "),
        offered.describe()
    );
    let fix = format!(
        "offer {} on {}:{}, or change authentication for this server in the config",
        if wanted.len() > 1 {
            format!("one of {}", wanted.join(", "))
        } else {
            wanted.join("")
        },
        endpoint.host,
        endpoint.port
    );
    // A client certificate may be asked for in the TLS handshake without SASL EXTERNAL.
    if first_missing == AuthMethod::ClientCert && missing.len() == 1 {
        return line.warn(detail, fix);
    }
    line.fail(detail, fix)
}

fn failure_check(endpoint: &Endpoint, failure: &Failure, line: CheckBuilder) -> Check {
    let command = endpoint.upgrade_command();
    match failure {
        Failure::Net(error) => line.fail(
            error.to_string(),
            format!(
                "make {}:{} reachable, or correct host and port in the config",
                endpoint.host, endpoint.port
            ),
        ),
        Failure::PlainOnTlsPort(greeting) => line.fail(
            format!(
                "expected TLS from the first byte, but the server greets in plain text ({})",
                greeting.chars().take(60).collect::<String>()
            ),
            format!(
                "this port needs security = \"starttls\"; or point the config at the server's implicit-TLS port ({})",
                match endpoint.kind {
                    ServerKind::Imap => 993,
                    ServerKind::Pop3 => 995,
                    ServerKind::Smtp => 465,
                }
            ),
        ),
        Failure::TlsOnPlainPort => line.fail(
            format!(
                "no greeting in plain text: the port expects TLS from the first byte, but the config says {}",
                endpoint.security.name()
            ),
            format!(
                "this port needs security = \"tls\"; or point the config at the server's {command} port ({})",
                match endpoint.kind {
                    ServerKind::Imap => 143,
                    ServerKind::Pop3 => 110,
                    ServerKind::Smtp => 587,
                }
            ),
        ),
        Failure::NoStarttls(before) => line.fail(
            format!("{command} is not offered (the server offers {})", before.describe()),
            format!("enable TLS on the server ({command}), or use its implicit-TLS port with security = \"tls\""),
        ),
        Failure::StarttlsRefused(reply) => line.fail(
            format!("{command} refused: {reply}"),
            "fix the server's TLS configuration (certificate and key files)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn imap_login_counts_unless_disabled() {
        let before = Capabilities::from_imap(&words(
            "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED",
        ));
        assert!(before.starttls);
        assert!(before.cleartext_passwords().is_empty());
        let after = Capabilities::from_imap(&words("IMAP4rev1 AUTH=PLAIN auth=login"));
        assert_eq!(after.mechanisms, ["PLAIN", "LOGIN"]);
        assert_eq!(after.login_command, Some("LOGIN"));
    }

    #[test]
    fn pop3_capa_and_smtp_ehlo_forms() {
        let pop = Capabilities::from_pop3(&lines(
            "TOP\nUIDL\nRESP-CODES\nUSER\nSASL PLAIN LOGIN\nSTLS",
        ));
        assert!(pop.starttls);
        assert_eq!(pop.login_command, Some("USER"));
        assert_eq!(pop.mechanisms, ["PLAIN", "LOGIN"]);
        let smtp = Capabilities::from_ehlo(&lines(
            "PIPELINING\nSIZE 10240000\nAUTH PLAIN LOGIN\nAUTH=PLAIN LOGIN CRAM-MD5\nSTARTTLS",
        ));
        assert!(smtp.starttls);
        assert_eq!(smtp.mechanisms, ["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert_eq!(smtp.login_command, None);
    }

    #[test]
    fn auth_rules() {
        let endpoint = Endpoint {
            kind: ServerKind::Smtp,
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::Starttls,
        };
        let offered = Capabilities::from_ehlo(&lines("AUTH PLAIN LOGIN"));
        let line = || Check::about(Section::MailServers, "s");
        let ok = auth_check(
            &endpoint,
            &[AuthMethod::PasswordCleartext],
            &offered,
            line(),
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        for method in [
            AuthMethod::PasswordEncrypted,
            AuthMethod::OAuth2,
            AuthMethod::Ntlm,
        ] {
            let bad = auth_check(
                &endpoint,
                &[AuthMethod::PasswordCleartext, method],
                &offered,
                line(),
            );
            assert_eq!(bad.status, Status::Fail, "{bad:?}");
            assert!(bad.detail.contains(method.name()), "{bad:?}");
        }
        let scram = Capabilities::from_ehlo(&lines("AUTH SCRAM-SHA-256 XOAUTH2"));
        let ok = auth_check(
            &endpoint,
            &[AuthMethod::OAuth2, AuthMethod::PasswordEncrypted],
            &scram,
            line(),
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        let none = auth_check(
            &endpoint,
            &[AuthMethod::None],
            &Capabilities::default(),
            line(),
        );
        assert_eq!(none.status, Status::Pass);
    }
}
