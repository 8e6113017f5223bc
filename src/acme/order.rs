//! One certificate from the CA (RFC 8555 §7.4): an order for its names, one challenge per
//! name answered and withdrawn again, a fresh key and CSR (rcgen), the chain fetched.
//! Everything the CA says against it comes back as its problem document.
//!
//! tls-alpn-01 (RFC 8737) is answered with a self-signed certificate for the name carrying
//! the critical acmeIdentifier extension (the SHA-256 of the key authorization), made by
//! rcgen and handed to the TLS listener's challenge slot for as long as the order needs it.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, Problem,
    RetryPolicy,
};

use super::AcmeError;
use super::challenge::Http01Tokens;
use super::state::StoredCertificate;
use crate::config::acme::ChallengeKind;
use crate::tls::{CertificateStore, ServedCertificate};

/// How long the CA may take to validate the challenges, then to issue: generous for a
/// loaded public CA, bounded so a stuck order is retried later instead of waited on forever.
const VALIDATION: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(120));

/// Where this server answers the CA's challenges.
#[derive(Clone)]
pub enum Responder {
    /// Tokens under `/.well-known/acme-challenge/` on the plain HTTP listener.
    Http01(Arc<Http01Tokens>),
    /// Challenge certificates on the TLS listeners, for ALPN `acme-tls/1`.
    TlsAlpn01(Arc<CertificateStore>),
}

impl Responder {
    fn kind(&self) -> ChallengeKind {
        match self {
            Responder::Http01(_) => ChallengeKind::Http01,
            Responder::TlsAlpn01(_) => ChallengeKind::TlsAlpn01,
        }
    }

    /// Answers `challenge` for `name` until the returned value is dropped.
    fn publish(
        &self,
        name: &str,
        challenge: &instant_acme::ChallengeHandle<'_>,
    ) -> Result<Published, AcmeError> {
        let key_authorization = challenge.key_authorization();
        Ok(match self {
            Responder::Http01(tokens) => {
                tokens.publish(&challenge.token, key_authorization.as_str());
                Published::Http01 {
                    tokens: Arc::clone(tokens),
                    token: challenge.token.clone(),
                }
            }
            Responder::TlsAlpn01(store) => {
                let digest = key_authorization.digest();
                store.set_challenge(name, challenge_certificate(name, digest.as_ref())?);
                Published::TlsAlpn01 {
                    store: Arc::clone(store),
                    name: name.to_owned(),
                }
            }
        })
    }
}

/// The tls-alpn-01 certificate for `name` (RFC 8737 §3): self-signed, `name` its only
/// subjectAltName, the key authorization's digest in the critical acmeIdentifier extension.
fn challenge_certificate(name: &str, digest: &[u8]) -> Result<ServedCertificate, AcmeError> {
    let key = rcgen::KeyPair::generate().map_err(AcmeError::Key)?;
    let mut params =
        rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(AcmeError::Key)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let certificate = params.self_signed(&key).map_err(AcmeError::Key)?;
    ServedCertificate::from_pem(
        certificate.pem().as_bytes(),
        key.serialize_pem().as_bytes(),
        &format!("the tls-alpn-01 challenge for {name}"),
    )
    .map_err(|error| AcmeError::Unusable(error.to_string()))
}

/// What was published for one challenge, withdrawn when dropped: an order that fails half
/// way leaves no token behind.
enum Published {
    Http01 {
        tokens: Arc<Http01Tokens>,
        token: String,
    },
    TlsAlpn01 {
        store: Arc<CertificateStore>,
        name: String,
    },
}

impl Drop for Published {
    fn drop(&mut self) {
        match self {
            Published::Http01 { tokens, token } => tokens.withdraw(token),
            Published::TlsAlpn01 { store, name } => store.clear_challenge(name),
        }
    }
}

/// Orders, validates and fetches a certificate for `names`, with a new key.
pub async fn obtain(
    account: &Account,
    names: &[String],
    responder: &Responder,
) -> Result<StoredCertificate, AcmeError> {
    let identifiers: Vec<Identifier> = names.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let challenge_type = match responder.kind() {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut published = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization?;
        match authorization.status {
            // Proved recently for this account: nothing to answer.
            AuthorizationStatus::Valid => continue,
            AuthorizationStatus::Pending => {}
            status => {
                return Err(AcmeError::Authorization {
                    name: authorization.identifier().to_string(),
                    status: format!("{status:?}").to_lowercase(),
                    problem: None,
                });
            }
        }
        let name = authorization.identifier().to_string();
        let mut challenge = authorization
            .challenge(challenge_type.clone())
            .ok_or_else(|| AcmeError::NoChallenge {
                name: name.clone(),
                kind: responder.kind().name(),
            })?;
        published.push(responder.publish(&name, &challenge)?);
        challenge.set_ready().await?;
    }
    let status = order.poll_ready(&VALIDATION).await?;
    if status != OrderStatus::Ready {
        return Err(failed_authorization(&mut order).await);
    }
    drop(published);
    let key = rcgen::KeyPair::generate().map_err(AcmeError::Key)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(AcmeError::Key)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).map_err(AcmeError::Key)?;
    order.finalize_csr(csr.der()).await?;
    let chain = order.poll_certificate(&VALIDATION).await?;
    Ok(StoredCertificate {
        chain_pem: chain.into_bytes(),
        key_pem: key.serialize_pem().into_bytes(),
    })
}

/// The first authorization the CA refused, with its challenge's problem document.
async fn failed_authorization(order: &mut instant_acme::Order) -> AcmeError {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let Ok(state) = authorization.refresh().await else {
            continue;
        };
        if state.status == AuthorizationStatus::Valid {
            continue;
        }
        let problem: Option<Box<Problem>> = state
            .challenges
            .iter()
            .find_map(|challenge| challenge.error.clone().map(Box::new));
        return AcmeError::Authorization {
            name: state.identifier().to_string(),
            status: format!("{:?}", state.status).to_lowercase(),
            problem,
        };
    }
    AcmeError::Authorization {
        name: "the order".into(),
        status: "invalid".into(),
        problem: order.state().error.clone().map(Box::new),
    }
}
