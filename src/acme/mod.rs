//! Certificates from an ACME CA (RFC 8555), obtained and renewed in the background while the
//! server already answers: one task per certificate (one per served domain, see
//! [`crate::hostnames`]), so one domain's failure never holds back another's. A stored
//! certificate that is still good is used at once after a restart, without a new order; it
//! is renewed at two thirds of its lifetime ([`renewal`]), a failed order is retried with
//! a doubling wait, and whatever is being served stays until its successor is in. Failures
//! are logged once per incident, with the CA's problem document, never with a key.
//!
//! Sits beside `signing`: it knows nothing of HTTP; the server hands it the place where
//! challenges are answered and takes the certificates it installs.

mod challenge;
mod order;
mod renewal;
mod state;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use instant_acme::{Account, NewAccount};
use tokio::sync::{OnceCell, Semaphore};

pub use challenge::Http01Tokens;
pub use order::Responder;
pub use state::{StateDir, StoredCertificate};

use crate::config::acme::AcmeSettings;
use crate::hostnames::CertificateNames;
use crate::incident::Incident;
use crate::tls::{ServedCertificate, TlsError};
use state::StoredAccount;

/// Orders in progress at once: a provider with 50 domains does not open 50 orders at the CA
/// in the same second at start-up.
const CONCURRENT_ORDERS: usize = 2;
/// Long sleeps are cut into pieces and the wall clock read again, so a suspended or
/// re-set clock delays a renewal by at most this.
const LONGEST_SLEEP: Duration = Duration::from_secs(3600);

/// Why a certificate could not be obtained, one line each. An ACME problem document is shown
/// as the CA wrote it (type, detail, subproblems); nothing here carries a key.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("the CA refused: {0}")]
    Problem(instant_acme::Problem),
    #[error("{0}")]
    Client(instant_acme::Error),
    #[error("{name}: the CA offers no {kind} challenge")]
    NoChallenge { name: String, kind: &'static str },
    #[error("{name}: the authorization is {status}{}", problem.as_ref().map(|p| format!(": {p}")).unwrap_or_default())]
    Authorization {
        name: String,
        status: String,
        /// Boxed: a problem document is large, and errors travel by value.
        problem: Option<Box<instant_acme::Problem>>,
    },
    #[error("cannot make the certificate's key or request: {0}")]
    Key(rcgen::Error),
    #[error("state directory: {0}")]
    State(std::io::Error),
    #[error("the certificate the CA sent is unusable: {0}")]
    Unusable(String),
}

impl From<instant_acme::Error> for AcmeError {
    fn from(error: instant_acme::Error) -> Self {
        match error {
            instant_acme::Error::Api(problem) => AcmeError::Problem(problem),
            other => AcmeError::Client(other),
        }
    }
}

/// Whether `served` covers exactly `wanted` (the configuration may have changed since).
fn covers(served: &ServedCertificate, wanted: &[String]) -> bool {
    let mut have = served.names().to_vec();
    have.sort();
    let mut wanted = wanted.to_vec();
    wanted.sort();
    have == wanted
}

/// What a stored or issued certificate is called in messages and in the TLS store.
fn origin(name: &str) -> String {
    format!("the ACME certificate for {name}")
}

/// A certificate that is ready to serve, as handed to whoever installs it.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate's name in the state directory: its domain, or the host.
    pub name: String,
    pub certificate: StoredCertificate,
    /// The same, read and checked as the TLS listeners serve it (names, dates, key).
    pub served: ServedCertificate,
}

/// Called with every certificate that is ready to serve: a stored one at start, each new one
/// after an order. Runs on the ACME task; must not block for long.
pub type Install = Arc<dyn Fn(&Issued) + Send + Sync>;

/// The running ACME service: the account it shares between its per-certificate tasks.
pub struct Acme {
    settings: AcmeSettings,
    state: StateDir,
    responder: Responder,
    install: Install,
    account: OnceCell<Account>,
    orders: Semaphore,
}

impl Acme {
    /// Opens the state directory (the one error that stops the start: without it nothing
    /// could be kept) and starts one task per certificate in `certificates`.
    pub fn start(
        settings: AcmeSettings,
        certificates: Vec<CertificateNames>,
        responder: Responder,
        install: Install,
    ) -> std::io::Result<Arc<Acme>> {
        let state = StateDir::open(&settings.state_dir)?;
        let acme = Arc::new(Acme {
            settings,
            state,
            responder,
            install,
            account: OnceCell::new(),
            orders: Semaphore::new(CONCURRENT_ORDERS),
        });
        tracing::info!(
            "ACME: {} certificate(s) from {}, {} challenge, kept in {}",
            certificates.len(),
            acme.settings.directory,
            acme.settings.challenge.name(),
            acme.state.root().display()
        );
        for certificate in certificates {
            tokio::spawn(Arc::clone(&acme).keep(certificate));
        }
        Ok(acme)
    }

    /// Keeps one certificate valid for as long as the server runs.
    async fn keep(self: Arc<Self>, certificate: CertificateNames) {
        let name = certificate.domain.as_str().to_owned();
        let names = certificate.names;
        let mut due = match self.stored(&name, &names) {
            Some(issued) => {
                let due = renewal::renew_at(issued.served.not_before(), issued.served.not_after());
                tracing::info!(
                    "ACME: serving the stored certificate for {} (valid until {}, renewed from {})",
                    names.join(", "),
                    timestamp(issued.served.not_after()),
                    timestamp(due),
                );
                (self.install)(&issued);
                due
            }
            None => SystemTime::now(),
        };
        let failing = Incident::default();
        let mut failures = 0;
        loop {
            sleep_until(due).await;
            match self.renew(&name, &names).await {
                Ok(issued) => {
                    due = renewal::renew_at(issued.served.not_before(), issued.served.not_after());
                    if let Some(attempts) = failing.cleared() {
                        tracing::info!(failed_attempts = attempts, "ACME: {name}: recovered");
                    }
                    failures = 0;
                    tracing::info!(
                        "ACME: obtained the certificate for {} (valid until {}, renewed from {})",
                        names.join(", "),
                        timestamp(issued.served.not_after()),
                        timestamp(due),
                    );
                    (self.install)(&issued);
                }
                Err(error) => {
                    failures += 1;
                    let wait = renewal::retry_after(failures);
                    if failing.occurred() {
                        tracing::error!(
                            "ACME: cannot obtain the certificate for {}: {error}; retrying in {} s, then less often (the current certificate, if any, is served meanwhile)",
                            names.join(", "),
                            wait.as_secs()
                        );
                    } else {
                        tracing::debug!(failures, "ACME: {name}: still failing: {error}");
                    }
                    due = SystemTime::now() + wait;
                }
            }
        }
    }

    /// The stored certificate for `name` if it covers `names` and is still valid.
    fn stored(&self, name: &str, names: &[String]) -> Option<Issued> {
        let certificate = match self.state.certificate(name) {
            Ok(stored) => stored?,
            Err(error) => {
                tracing::warn!("ACME: {error}; ordering a new certificate");
                return None;
            }
        };
        let served = match ServedCertificate::from_pem(
            &certificate.chain_pem,
            &certificate.key_pem,
            &origin(name),
        ) {
            Ok(served) => served,
            Err(TlsError::Expired { .. }) => {
                tracing::info!(
                    "ACME: the stored certificate for {name} has expired; ordering a new one"
                );
                return None;
            }
            Err(error) => {
                tracing::warn!("ACME: {error}; ordering a new one");
                return None;
            }
        };
        if !covers(&served, names) {
            tracing::info!(
                "ACME: the stored certificate for {name} covers {}, the configuration wants {}; ordering a new one",
                served.names().join(" "),
                names.join(" ")
            );
            return None;
        }
        Some(Issued {
            name: name.to_owned(),
            certificate,
            served,
        })
    }

    /// One order for `names`, stored once it is in.
    async fn renew(&self, name: &str, names: &[String]) -> Result<Issued, AcmeError> {
        let _turn = self.orders.acquire().await;
        let account = self.account().await?;
        let certificate = order::obtain(account, names, &self.responder).await?;
        let served = ServedCertificate::from_pem(
            &certificate.chain_pem,
            &certificate.key_pem,
            &origin(name),
        )
        .map_err(|error| AcmeError::Unusable(error.to_string()))?;
        self.state
            .save_certificate(name, &certificate)
            .map_err(AcmeError::State)?;
        Ok(Issued {
            name: name.to_owned(),
            certificate,
            served,
        })
    }

    /// The account, made once per process: read from the state directory, or registered
    /// with the CA (and stored) the first time.
    async fn account(&self) -> Result<&Account, AcmeError> {
        self.account
            .get_or_try_init(|| async {
                let builder = || match &self.settings.ca_file {
                    Some(ca_file) => Account::builder_with_root(ca_file),
                    None => Account::builder(),
                };
                let directory = &self.settings.directory;
                if let Some(stored) = self.state.account(directory).map_err(AcmeError::State)? {
                    return Ok(builder()?.from_credentials(stored.credentials).await?);
                }
                let contact: Vec<&str> = self.settings.contact.iter().map(String::as_str).collect();
                let (account, credentials) = builder()?
                    .create(
                        &NewAccount {
                            contact: &contact,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        directory.clone(),
                        None,
                    )
                    .await?;
                self.state
                    .save_account(&StoredAccount {
                        directory: directory.clone(),
                        credentials,
                    })
                    .map_err(AcmeError::State)?;
                tracing::info!("ACME: registered account {} with {directory}", account.id());
                Ok(account)
            })
            .await
    }
}

async fn sleep_until(due: SystemTime) {
    while let Ok(left) = due.duration_since(SystemTime::now()) {
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(LONGEST_SLEEP)).await;
    }
}

/// RFC 3339 in UTC, for log lines.
fn timestamp(time: SystemTime) -> String {
    time::OffsetDateTime::from(time)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into())
}
