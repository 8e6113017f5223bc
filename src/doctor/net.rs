//! The doctor's network layer: names resolved through one DNS resolver (the system's, or the
//! server given with `--resolver`), TCP connections (optionally redirected with
//! `--connect-to`, to check a server before DNS points at it), and TLS client handshakes with
//! rustls that *record* the certificate verdict instead of aborting on it. Nothing here sends
//! credentials: probes only read greetings, capability lists and public answers.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::DoctorError;

/// `--connect-to HOST:PORT:HOST2:PORT2` (curl's syntax): connections for HOST:PORT go to
/// HOST2:PORT2 instead, while TLS still checks the certificate against HOST. An empty HOST or
/// PORT matches any; an empty HOST2 or PORT2 keeps the host or the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    host: Option<String>,
    port: Option<u16>,
    to_host: Option<String>,
    to_port: Option<u16>,
}

impl FromStr for ConnectTo {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("{text:?}: expected HOST:PORT:HOST2:PORT2 (HOST and PORT may be empty)");
        let mut rest = text;
        let mut parts = Vec::new();
        for _ in 0..3 {
            let (part, tail) = split_host_part(rest).ok_or_else(bad)?;
            parts.push(part);
            rest = tail;
        }
        parts.push(rest);
        let port = |part: &str| -> Result<Option<u16>, String> {
            if part.is_empty() {
                Ok(None)
            } else {
                part.parse().map(Some).map_err(|_| bad())
            }
        };
        let host = |part: &str| {
            let part = part.trim_start_matches('[').trim_end_matches(']');
            (!part.is_empty()).then(|| part.to_ascii_lowercase())
        };
        Ok(ConnectTo {
            host: host(parts[0]),
            port: port(parts[1])?,
            to_host: host(parts[2]),
            to_port: port(parts[3])?,
        })
    }
}

/// Splits at the first `:` outside brackets (`[::1]:443`).
fn split_host_part(text: &str) -> Option<(&str, &str)> {
    let end = if text.starts_with('[') {
        text.find(']')? + 1
    } else {
        0
    };
    let colon = end + text[end..].find(':')?;
    Some((&text[..colon], &text[colon + 1..]))
}

/// What the doctor's probes share: the resolver, the trusted roots and the time limit.
pub struct Net {
    resolver: TokioResolver,
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    connect_to: Vec<ConnectTo>,
    /// Every probe (one connection and its exchange) is bounded by this.
    pub timeout: Duration,
    /// Probes in flight at once: enough to finish many domains in about one round trip,
    /// few enough not to look like a flood to the servers checked (or trip their limits).
    turns: tokio::sync::Semaphore,
}

/// How many probes run at once.
const PARALLEL_PROBES: usize = 32;

/// Why a probe could not get an answer. Each message is one line for the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("{host} does not resolve ({reason})")]
    Resolve { host: String, reason: String },
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("{0}")]
    Protocol(String),
}

impl Net {
    pub fn new(
        resolver: Option<SocketAddr>,
        ca: Option<&Path>,
        timeout: Duration,
        connect_to: Vec<ConnectTo>,
    ) -> Result<Net, DoctorError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(root_store(ca)?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|error| DoctorError::Roots(error.to_string()))?;
        Ok(Net {
            resolver: build_resolver(resolver, timeout)?,
            verifier,
            provider,
            connect_to,
            timeout,
            turns: tokio::sync::Semaphore::new(PARALLEL_PROBES),
        })
    }

    pub fn resolver(&self) -> &TokioResolver {
        &self.resolver
    }

    /// Runs `probe` within the time limit, once it is its turn (waiting for a turn does not
    /// count against its time).
    pub async fn bounded<T, E: From<ProbeError>>(
        &self,
        probe: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let _turn = self.turns.acquire().await.ok();
        tokio::time::timeout(self.timeout, probe)
            .await
            .unwrap_or_else(|_| Err(ProbeError::Timeout(self.timeout.as_secs()).into()))
    }

    /// A TCP connection to `host:port` (or where `--connect-to` sends it), trying each
    /// address the name resolves to in turn.
    pub async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, ProbeError> {
        let (host, port) = self.redirected(host, port);
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .resolver
                .lookup_ip(format!("{}.", host.trim_end_matches('.')))
                .await
                .map_err(|error| ProbeError::Resolve {
                    host: host.clone(),
                    reason: dns_reason(&error),
                })?
                .iter()
                .collect(),
        };
        let mut last = String::from("no address");
        for ip in addresses {
            match TcpStream::connect(SocketAddr::new(ip, port)).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last = format!("{ip}: {error}"),
            }
        }
        Err(ProbeError::Connect {
            target: format!("{host}:{port}"),
            reason: last,
        })
    }

    fn redirected(&self, host: &str, port: u16) -> (String, u16) {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        for rule in &self.connect_to {
            let host_matches = rule.host.as_deref().is_none_or(|h| h == host);
            if host_matches && rule.port.is_none_or(|p| p == port) {
                let to_host = rule.to_host.clone().unwrap_or(host);
                return (to_host, rule.to_port.unwrap_or(port));
            }
        }
        (host, port)
    }

    /// The TLS handshake as a client for `host` (SNI and the name the certificate must
    /// carry). A bad certificate does not abort it: the verdict is recorded in the returned
    /// [`Certificate`], so the probe can go on and report everything it finds in one run.
    pub async fn tls(
        &self,
        stream: TcpStream,
        host: &str,
    ) -> Result<(TlsStream<TcpStream>, Certificate), ProbeError> {
        let host = host.trim_end_matches('.');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ProbeError::Tls(format!("{host:?} is not a valid server name")))?;
        let recorder = Arc::new(Recorder {
            inner: Arc::clone(&self.verifier),
            verdict: OnceLock::new(),
        });
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|error| ProbeError::Tls(error.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&recorder) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await
            .map_err(|error| ProbeError::Tls(error.to_string()))?;
        let leaf = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| der.as_ref().to_vec())
            .unwrap_or_default();
        let verdict = recorder
            .verdict
            .get()
            .cloned()
            .unwrap_or(Err(rustls::Error::General(
                "no certificate was checked".into(),
            )));
        Ok((tls, Certificate::inspect(host, &leaf, verdict)))
    }
}

/// The system's roots (what mail clients trust), plus `--ca` when given.
fn root_store(ca: Option<&Path>) -> Result<RootCertStore, DoctorError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca {
        let unreadable = |reason: String| DoctorError::Ca {
            file: PathBuf::from(path),
            reason,
        };
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|error| unreadable(error.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|error| unreadable(error.to_string()))?;
        if certificates.is_empty() {
            return Err(unreadable("no PEM certificate in it".into()));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|error| unreadable(error.to_string()))?;
        }
    } else if added == 0 {
        return Err(DoctorError::Roots(
            "the system trust store is empty (install ca-certificates, or give --ca)".into(),
        ));
    }
    Ok(roots)
}

fn build_resolver(
    server: Option<SocketAddr>,
    timeout: Duration,
) -> Result<TokioResolver, DoctorError> {
    let mut builder = match server {
        Some(addr) => {
            let mut name_server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut name_server.connections {
                connection.port = addr.port();
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![name_server]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()
            .map_err(|error| DoctorError::Resolver(error.to_string()))?,
    };
    let options = builder.options_mut();
    options.timeout = timeout;
    options.attempts = 1;
    builder
        .build()
        .map_err(|error| DoctorError::Resolver(error.to_string()))
}

/// A lookup failure in words: "no such name" and "no such record" are what admins fix.
pub fn dns_reason(error: &hickory_resolver::net::NetError) -> String {
    if error.is_nx_domain() {
        "no such name".into()
    } else if error.is_no_records_found() {
        "no such record".into()
    } else {
        error.to_string()
    }
}

/// Wraps the WebPKI verifier: keeps its verdict and lets the handshake go on. The probes never
/// send anything secret, so talking on to a server with a bad certificate only serves to
/// report the rest of what is wrong with it.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    verdict: OnceLock<Result<(), rustls::Error>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        let _ = self.verdict.set(verdict);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A server certificate as a client judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub host: String,
    /// `Err` with what is wrong in words, and what to do about it.
    pub verdict: Result<(), (String, String)>,
    /// The last day it is valid (UTC, `YYYY-MM-DD`), and the whole days left until then.
    pub expires: Option<(String, i64)>,
}

impl Certificate {
    fn inspect(host: &str, leaf: &[u8], verdict: Result<(), rustls::Error>) -> Certificate {
        let parsed = openssl::x509::X509::from_der(leaf).ok();
        let expires = parsed.as_ref().and_then(|x509| expiry(x509.not_after()));
        let verdict = verdict.map_err(|error| explain(host, &error, parsed.as_deref()));
        Certificate {
            host: host.to_owned(),
            verdict,
            expires,
        }
    }

    /// The one-line summary and status for the report (expiry soon is a warning).
    pub fn summary(&self) -> (super::Status, String, Option<String>) {
        use super::Status;
        match (&self.verdict, &self.expires) {
            (Err((what, fix)), _) => (
                Status::Fail,
                format!("certificate {what}"),
                Some(fix.clone()),
            ),
            (Ok(()), Some((date, days))) if *days < crate::expiry::CHECK_WARNING_DAYS => (
                Status::Warn,
                format!(
                    "certificate for {} expires on {date}, in {days} days",
                    self.host
                ),
                Some("renew the certificate (is automatic renewal failing?)".into()),
            ),
            (Ok(()), Some((date, _))) => (
                Status::Pass,
                format!("certificate valid for {} until {date}", self.host),
                None,
            ),
            (Ok(()), None) => (
                Status::Pass,
                format!("certificate valid for {}", self.host),
                None,
            ),
        }
    }
}

/// The last day of validity (`YYYY-MM-DD`, UTC) and the whole days left until then.
pub fn expiry(not_after: &openssl::asn1::Asn1TimeRef) -> Option<(String, i64)> {
    let now = openssl::asn1::Asn1Time::days_from_now(0).ok()?;
    let left = now.diff(not_after).ok()?;
    let end = time::OffsetDateTime::now_utc()
        + time::Duration::days(i64::from(left.days))
        + time::Duration::seconds(i64::from(left.secs));
    let date = end.date();
    Some((
        format!(
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        ),
        i64::from(left.days),
    ))
}

/// rustls' verdict in an admin's words, with the change that fixes it.
fn explain(
    host: &str,
    error: &rustls::Error,
    leaf: Option<&openssl::x509::X509Ref>,
) -> (String, String) {
    let rustls::Error::InvalidCertificate(problem) = error else {
        return (
            format!("not accepted: {error}"),
            "serve a valid certificate".into(),
        );
    };
    match problem {
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let names = leaf.map(names_in).unwrap_or_default();
            (
                format!("is not valid for {host} (it names {})", names.join(", ")),
                format!("get a certificate that covers {host}"),
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
            format!(
                "for {host} expired on {}",
                leaf.and_then(|x| expiry(x.not_after()))
                    .map(|(date, _)| date)
                    .unwrap_or_else(|| "an earlier date".into())
            ),
            "renew the certificate (is automatic renewal failing?)".into(),
        ),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
            format!("for {host} is not valid yet"),
            "check the server's clock, or serve the current certificate".into(),
        ),
        CertificateError::UnknownIssuer => (
            format!(
                "for {host} is issued by {}, which no trusted root vouches for",
                leaf.map(|x| crate::signing::name_to_string(x.issuer_name()))
                    .unwrap_or_else(|| "an unknown issuer".into())
            ),
            "serve the full chain (certificate plus intermediates, e.g. fullchain.pem) from a publicly trusted CA; with a private CA, give it to the doctor with --ca".into(),
        ),
        other => (
            format!("for {host} is not accepted: {other:?}"),
            "serve a valid certificate from a publicly trusted CA".into(),
        ),
    }
}

/// The DNS names and IP addresses a certificate is valid for.
fn names_in(certificate: &openssl::x509::X509Ref) -> Vec<String> {
    let mut names: Vec<String> = certificate
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|san| {
                    san.dnsname().map(str::to_owned).or_else(|| {
                        san.ipaddress().and_then(|bytes| match bytes.len() {
                            4 => <[u8; 4]>::try_from(bytes)
                                .ok()
                                .map(|b| IpAddr::from(b).to_string()),
                            16 => <[u8; 16]>::try_from(bytes)
                                .ok()
                                .map(|b| IpAddr::from(b).to_string()),
                            _ => None,
                        })
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names.push("no DNS name".into());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_parses_curl_syntax() {
        let rule: ConnectTo = "autoconfig.example.com:443:127.0.0.1:8443".parse().unwrap();
        assert_eq!(rule.host.as_deref(), Some("autoconfig.example.com"));
        assert_eq!((rule.port, rule.to_port), (Some(443), Some(8443)));
        let any: ConnectTo = "::[::1]:".parse().unwrap();
        assert_eq!(
            (any.host, any.port, any.to_host.as_deref(), any.to_port),
            (None, None, Some("::1"), None)
        );
        let port_only: ConnectTo = ":443::8443".parse().unwrap();
        assert_eq!(
            (port_only.port, port_only.to_host, port_only.to_port),
            (Some(443), None, Some(8443))
        );
        assert!("a:b:c:d".parse::<ConnectTo>().is_err());
        assert!("host:443".parse::<ConnectTo>().is_err());
        assert!("h:x::2".parse::<ConnectTo>().is_err());
    }
}
