//! One certificate from the CA (RFC 8555 §7.4): an order for its names, one challenge per
//! name answered and withdrawn again, a fresh key and CSR (rcgen), the chain fetched.
//! Everything the CA says against it comes back as its problem document.

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

/// How long the CA may take to validate the challenges, then to issue: generous for a
/// loaded public CA, bounded so a stuck order is retried later instead of waited on forever.
const VALIDATION: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(Duration::from_secs(120));

/// Where this server answers the CA's challenges.
#[derive(Clone)]
pub enum Responder {
    Http01(Arc<Http01Tokens>),
}

impl Responder {
    fn kind(&self) -> ChallengeKind {
        match self {
            Responder::Http01(_) => ChallengeKind::Http01,
        }
    }
}

/// What was published for one challenge, withdrawn when dropped: an order that fails half
/// way leaves no token behind.
enum Published {
    Http01 {
        tokens: Arc<Http01Tokens>,
        token: String,
    },
}

impl Drop for Published {
    fn drop(&mut self) {
        match self {
            Published::Http01 { tokens, token } => tokens.withdraw(token),
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
        let key_authorization = challenge.key_authorization();
        published.push(match responder {
            Responder::Http01(tokens) => {
                tokens.publish(&challenge.token, key_authorization.as_str());
                Published::Http01 {
                    tokens: Arc::clone(tokens),
                    token: challenge.token.clone(),
                }
            }
        });
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
        let problem: Option<Problem> = state
            .challenges
            .iter()
            .find_map(|challenge| challenge.error.clone());
        return AcmeError::Authorization {
            name: state.identifier().to_string(),
            status: format!("{:?}", state.status).to_lowercase(),
            problem,
        };
    }
    AcmeError::Authorization {
        name: "the order".into(),
        status: "invalid".into(),
        problem: order.state().error.clone(),
    }
}
