//! HTTPS terminated in the process: the certificates served ([`CertificateStore`], chosen by
//! SNI, swapped lock-free), how they are read and checked ([`ServedCertificate`]), the
//! `[[tls.certificate]]` files kept in step with renewals on disk ([`FileCertificates`]), and
//! the handshake ([`Acceptor`]): TLS 1.2 and 1.3 only (rustls on ring), ALPN `h2` and
//! `http/1.1`, and `acme-tls/1` only for a ClientHello that a pending tls-alpn-01 challenge is
//! waiting for.
//! Knows nothing of HTTP: it hands the server a decrypted stream.

mod certificate;
mod files;
mod store;

use std::io;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

pub use certificate::ServedCertificate;
pub use files::FileCertificates;
pub use store::CertificateStore;

use crate::config::TlsSettings;

/// The ALPN protocol of tls-alpn-01 validation (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Why a certificate cannot be served, or the TLS set-up failed. One line, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {file}: {error}")]
    Read { file: String, error: io::Error },
    #[error("{file}: no usable certificate ({reason})")]
    Certificate { file: String, reason: String },
    #[error("{file}: no usable private key ({reason})")]
    Key { file: String, reason: String },
    #[error(
        "{file}: the private key is encrypted; mxconf needs it unencrypted (`openssl pkey -in {file} -out plain.key`) and readable only by the service user"
    )]
    EncryptedKey { file: String },
    #[error("{key}: the private key does not match the certificate for {names} in {cert}")]
    KeyMismatch {
        key: String,
        cert: String,
        names: String,
    },
    #[error("{file}: the certificate for {names} expired on {not_after}")]
    Expired {
        file: String,
        names: String,
        not_after: String,
    },
    #[error("{file}: the certificate for {names} is not valid before {not_before}")]
    NotYetValid {
        file: String,
        names: String,
        not_before: String,
    },
    #[error("{file}: the certificate {subject} names no host (no DNS name in its subjectAltName)")]
    NoNames { file: String, subject: String },
    /// One `[[tls.certificate]]` entry's problem, with where it is defined.
    #[error("{defined_at}: tls.certificate: {error}")]
    Entry {
        defined_at: String,
        error: Box<TlsError>,
    },
    #[error("TLS set-up failed: {0}")]
    Setup(String),
}

/// Reads and checks every `[[tls.certificate]]` into a new store, in order (the first is the
/// default); the first unusable one stops it, so the server never starts half-configured.
pub fn load(settings: &TlsSettings) -> Result<FileCertificates, TlsError> {
    FileCertificates::load(settings)
}

/// The store slot of a certificate file.
pub fn file_slot(cert: &std::path::Path) -> String {
    format!("{FILE_SLOT}{}", cert.display())
}

/// Whether `slot` holds a `[[tls.certificate]]` (see [`file_slot`]).
fn is_file_slot(slot: &str) -> bool {
    slot.starts_with(FILE_SLOT)
}

const FILE_SLOT: &str = "file:";

/// The two server configurations a handshake chooses between once its ClientHello is read.
#[derive(Debug)]
pub struct Acceptor {
    store: Arc<CertificateStore>,
    /// Every ordinary handshake: certificates by SNI, ALPN `h2` and `http/1.1`.
    served: Arc<ServerConfig>,
    /// tls-alpn-01: the challenge certificate for the SNI, ALPN `acme-tls/1` only.
    challenge: Arc<ServerConfig>,
}

/// A completed handshake.
pub enum Accepted<I> {
    /// An ordinary client: serve HTTP on it.
    Serve(TlsStream<I>),
    /// A tls-alpn-01 validation: the handshake was the whole exchange; close it.
    Challenge(TlsStream<I>),
}

impl Acceptor {
    pub fn new(store: Arc<CertificateStore>) -> Result<Acceptor, TlsError> {
        let config = |resolver: Arc<dyn rustls::server::ResolvesServerCert>, alpn: &[&[u8]]| {
            let mut config = ServerConfig::builder_with_provider(certificate::provider())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|error| TlsError::Setup(error.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(resolver);
            config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
            Ok::<_, TlsError>(Arc::new(config))
        };
        let mut served = config(Arc::clone(&store) as _, &[b"h2", b"http/1.1"])?;
        // TLS 1.3 resumption by tickets: a returning client skips the certificate exchange.
        if let Some(config) = Arc::get_mut(&mut served) {
            config.ticketer = rustls::crypto::ring::Ticketer::new()
                .map_err(|error| TlsError::Setup(error.to_string()))?;
        }
        let challenge = config(
            Arc::new(store::Challenges(Arc::clone(&store))),
            &[ACME_TLS_ALPN],
        )?;
        Ok(Acceptor {
            store,
            served,
            challenge,
        })
    }

    /// The certificates this acceptor serves.
    pub fn store(&self) -> &Arc<CertificateStore> {
        &self.store
    }

    /// Runs the handshake on `io`. Unbounded in time: the caller holds the timeout.
    pub async fn accept<I>(&self, io: I) -> io::Result<Accepted<I>>
    where
        I: AsyncRead + AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await?;
        let hello = start.client_hello();
        let validation = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|protocol| protocol == ACME_TLS_ALPN))
            && self.store.challenge(hello.server_name()).is_some();
        if validation {
            Ok(Accepted::Challenge(
                start.into_stream(Arc::clone(&self.challenge)).await?,
            ))
        } else {
            Ok(Accepted::Serve(
                start.into_stream(Arc::clone(&self.served)).await?,
            ))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;

    /// A self-signed certificate for `names`, valid now, made with OpenSSL.
    pub(crate) fn self_signed(names: &[&str]) -> ServedCertificate {
        let (cert, key) = self_signed_pem(names, -86_400, 86_400);
        ServedCertificate::from_pem(&cert, &key, "test").unwrap()
    }

    /// PEM chain and key, valid from `from` to `until` seconds around now.
    pub(crate) fn self_signed_pem(names: &[&str], from: i64, until: i64) -> (Vec<u8>, Vec<u8>) {
        made(names, from, until, false)
    }

    /// The same, with the critical acmeIdentifier extension of a tls-alpn-01 certificate.
    fn made(names: &[&str], from: i64, until: i64, acme_identifier: bool) -> (Vec<u8>, Vec<u8>) {
        use openssl::asn1::Asn1Time;
        use openssl::ec::{EcGroup, EcKey};
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        use openssl::x509::extension::SubjectAlternativeName;
        use openssl::x509::{X509Builder, X509NameBuilder};
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test").unwrap();
        let name = name.build();
        let mut builder = X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        builder
            .set_not_before(&Asn1Time::from_unix(now + from).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::from_unix(now + until).unwrap())
            .unwrap();
        if !names.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for name in names {
                san.dns(name);
            }
            let san = san.build(&builder.x509v3_context(None, None)).unwrap();
            builder.append_extension(san).unwrap();
        }
        if acme_identifier {
            // id-pe-acmeIdentifier: an OCTET STRING holding the SHA-256 of the key authorization.
            let oid = openssl::asn1::Asn1Object::from_str("1.3.6.1.5.5.7.1.31").unwrap();
            let mut value = vec![0x04, 0x20];
            value.extend_from_slice(&[0x5a; 32]);
            let value = openssl::asn1::Asn1OctetString::new_from_bytes(&value).unwrap();
            let extension = openssl::x509::X509Extension::new_from_der(&oid, true, &value).unwrap();
            builder.append_extension(extension).unwrap();
        }
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        (
            builder.build().to_pem().unwrap(),
            key.private_key_to_pem_pkcs8().unwrap(),
        )
    }

    /// A client handshake against `acceptor` over an in-memory pipe: the ALPN protocol
    /// agreed and the leaf certificate the server presented, or the error.
    async fn handshake(
        acceptor: &Acceptor,
        sni: &str,
        alpn: &[&[u8]],
    ) -> Result<(Option<Vec<u8>>, Vec<u8>), String> {
        #[derive(Debug)]
        struct AnyCertificate;
        impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
            fn verify_server_cert(
                &self,
                _: &CertificateDer<'_>,
                _: &[CertificateDer<'_>],
                _: &rustls::pki_types::ServerName<'_>,
                _: &[u8],
                _: rustls::pki_types::UnixTime,
            ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            fn verify_tls12_signature(
                &self,
                _: &[u8],
                _: &CertificateDer<'_>,
                _: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error>
            {
                Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
            }
            fn verify_tls13_signature(
                &self,
                _: &[u8],
                _: &CertificateDer<'_>,
                _: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error>
            {
                Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
            }
            fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
                certificate::provider()
                    .signature_verification_algorithms
                    .supported_schemes()
            }
        }
        let mut config = rustls::ClientConfig::builder_with_provider(certificate::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate))
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let (client, server) = tokio::io::duplex(64 * 1024);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap();
        let (client, server) =
            tokio::join!(connector.connect(name, client), acceptor.accept(server));
        let challenge = matches!(server, Ok(Accepted::Challenge(_)));
        let client = client.map_err(|error| error.to_string())?;
        let (_, connection) = client.get_ref();
        let agreed = connection.alpn_protocol().map(<[u8]>::to_vec);
        assert_eq!(challenge, agreed.as_deref() == Some(ACME_TLS_ALPN));
        let leaf = connection.peer_certificates().unwrap()[0].as_ref().to_vec();
        Ok((agreed, leaf))
    }

    #[tokio::test]
    async fn acme_tls_alpn_is_negotiated_only_for_a_pending_challenge() {
        let store = Arc::new(CertificateStore::new());
        let served = self_signed(&["autoconfig.a.example"]);
        let served_der = served.certified().cert[0].as_ref().to_vec();
        store.install("file:a", served);
        let acceptor = Acceptor::new(Arc::clone(&store)).unwrap();
        let name = "autoconfig.a.example";
        // An ordinary client: h2 or http/1.1, the served certificate.
        let (agreed, leaf) = handshake(&acceptor, name, &[b"h2", b"http/1.1"])
            .await
            .unwrap();
        assert_eq!(agreed.as_deref(), Some(&b"h2"[..]));
        assert_eq!(leaf, served_der);
        // A validator while no challenge is pending: refused, never `acme-tls/1`.
        let refused = handshake(&acceptor, name, &[ACME_TLS_ALPN])
            .await
            .unwrap_err();
        assert!(refused.contains("NoApplicationProtocol"), "{refused}");
        let (cert, key) = made(&[name], -86_400, 86_400, true);
        let challenge = ServedCertificate::from_pem(&cert, &key, "challenge").unwrap();
        let challenge_der = challenge.certified().cert[0].as_ref().to_vec();
        store.set_challenge(name, challenge);
        let (agreed, leaf) = handshake(&acceptor, name, &[ACME_TLS_ALPN]).await.unwrap();
        assert_eq!(agreed.as_deref(), Some(ACME_TLS_ALPN));
        assert_eq!(leaf, challenge_der);
        // Meanwhile every other client still gets the served certificate.
        let (_, leaf) = handshake(&acceptor, name, &[b"http/1.1"]).await.unwrap();
        assert_eq!(leaf, served_der);
        let (_, leaf) = handshake(&acceptor, "autodiscover.a.example", &[ACME_TLS_ALPN, b"h2"])
            .await
            .unwrap();
        assert_eq!(leaf, served_der);
        store.clear_challenge(name);
        assert!(handshake(&acceptor, name, &[ACME_TLS_ALPN]).await.is_err());
    }

    #[tokio::test]
    async fn an_empty_store_refuses_the_handshake() {
        let acceptor = Acceptor::new(Arc::new(CertificateStore::new())).unwrap();
        assert!(handshake(&acceptor, "a.example", &[b"h2"]).await.is_err());
    }

    #[test]
    fn every_misconfiguration_is_refused_naming_the_file() {
        let (cert, key) = self_signed_pem(&["autoconfig.a.example"], -86_400, 86_400);
        let served = ServedCertificate::from_pem(&cert, &key, "a.pem").unwrap();
        assert_eq!(served.names(), ["autoconfig.a.example"]);
        assert!(served.not_after() > std::time::SystemTime::now());
        let refused = |cert: &[u8], key: &[u8]| {
            ServedCertificate::from_pem(cert, key, "a.pem")
                .unwrap_err()
                .to_string()
        };
        let (_, other_key) = self_signed_pem(&["x.example"], -86_400, 86_400);
        assert!(refused(&cert, &other_key).starts_with(
            "a.pem: the private key does not match the certificate for autoconfig.a.example"
        ),);
        let (expired, expired_key) = self_signed_pem(&["old.example"], -86_400 * 30, -86_400);
        assert!(
            refused(&expired, &expired_key)
                .starts_with("a.pem: the certificate for old.example expired on"),
        );
        let (future, future_key) = self_signed_pem(&["new.example"], 86_400, 86_400 * 30);
        assert!(refused(&future, &future_key).contains("is not valid before"));
        let (nameless, nameless_key) = self_signed_pem(&[], -86_400, 86_400);
        assert_eq!(
            refused(&nameless, &nameless_key),
            "a.pem: the certificate CN=test names no host (no DNS name in its subjectAltName)"
        );
        assert_eq!(
            refused(b"", &key),
            "a.pem: no usable certificate (the file holds no PEM certificate)"
        );
        assert_eq!(
            refused(&cert, b""),
            "a.pem: no usable private key (the file holds no PEM private key)"
        );
        assert_eq!(
            refused(&cert, &cert),
            "a.pem: no usable private key (the file holds no PEM private key)"
        );
        let encrypted =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(refused(&cert, encrypted).contains("the private key is encrypted"));
    }
}
