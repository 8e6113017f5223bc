//! Microsoft Autodiscover answers: POX (Outlook and MobileSync schemas, and the domain-level
//! answer for a request without an address) and v2 JSON. Redirecting domains get POX
//! `redirectAddr`/`redirectUrl` (MobileSync `Redirect`/601). Unknown domains get the
//! protocol's own "no settings" answer (POX error 500/601, JSON 404), never another domain's
//! settings. The only refusal is [`Refusal::BackendUnavailable`] (503): a failing per-user
//! source must not become an Autodiscover error that clients cache.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use super::{Answers, Refusal};
use crate::account::{Domain, EmailAddress};
use crate::protocol::Rendered;
use crate::protocol::autodiscover::{
    self, ErrorCode, PoxRequest, RequestError, ResponseSchema, error, outlook,
};
use crate::protocol::autodiscover_json::{self, JsonProtocol};
use crate::resolve::{Resolution, ResolveError};

impl Answers {
    /// The answer to a POX request body: the body decides schema and address; a missing or
    /// garbled one is error 600 (an ordinary answer, HTTP 200).
    pub async fn pox_body(&self, body: &[u8]) -> Result<Rendered, Refusal> {
        match parse_off_workers(body).await {
            Ok(request) => self.pox(&request).await,
            Err(reason) => {
                tracing::debug!("autodiscover request refused: {reason}");
                Ok(error::render(ErrorCode::InvalidRequest))
            }
        }
    }

    /// The POX answer for a parsed request.
    pub async fn pox(&self, request: &PoxRequest) -> Result<Rendered, Refusal> {
        if let Some(answer) = self.spliced.pox(&request.email, request.schema) {
            return Ok(answer);
        }
        // Boxed, as for autoconfig: only this path needs the resolver's large future.
        match Box::pin(self.resolver.lookup(&request.email)).await {
            Ok(Resolution::Account(account)) => Ok(autodiscover::render(request.schema, &account)),
            Ok(Resolution::Redirect(redirect)) => {
                Ok(autodiscover::redirect(request.schema, &redirect))
            }
            Err(ResolveError::UnknownDomain) => Ok(autodiscover::unknown_domain(request.schema)),
            Err(error @ ResolveError::BackendUnavailable) => Err(error.into()),
        }
    }

    /// The POX answer without an address (Delta Chat's GET): the domain-level settings in the
    /// Outlook schema, or its URL redirect (Delta Chat follows `RedirectUrl`, GET included);
    /// error 600 when the request names no usable domain.
    pub fn pox_domain(&self, domain: Option<&Domain>) -> Result<Rendered, Refusal> {
        let Some(domain) = domain else {
            return Ok(error::render(ErrorCode::InvalidRequest));
        };
        if let Some(answer) = self.spliced.pox_domain(domain) {
            return Ok(answer);
        }
        match self.resolver.lookup_domain(domain) {
            Ok(Resolution::Account(account)) => Ok(outlook::render(&account)),
            Ok(Resolution::Redirect(redirect)) => Ok(outlook::redirect(&redirect)),
            Err(ResolveError::UnknownDomain) => {
                Ok(autodiscover::unknown_domain(ResponseSchema::Outlook))
            }
            // Domain-level answers consult no backend; mapped all the same, never a 500.
            Err(error @ ResolveError::BackendUnavailable) => Err(error.into()),
        }
    }

    /// The v2 answer for an address. v2 has no redirect: `ActiveSync` (and `Ews`) for a domain alias
    /// answers with its target's settings (the resolver follows it) and for a domain served
    /// elsewhere with the "not served here" 404; `AutodiscoverV1` names the POX endpoint that
    /// answers the address (`pox_url`, this server's), the other server's for the latter.
    pub async fn json(
        &self,
        email: &EmailAddress,
        protocol: JsonProtocol,
        pox_url: &str,
    ) -> Result<Rendered, Refusal> {
        let resolution = match protocol {
            JsonProtocol::AutodiscoverV1 => self.resolver.lookup(email).await,
            JsonProtocol::ActiveSync | JsonProtocol::Ews => {
                self.resolver.resolve(email).await.map(Resolution::Account)
            }
        };
        match resolution {
            Ok(Resolution::Account(account)) => {
                Ok(autodiscover_json::render(&account, protocol, pox_url))
            }
            Ok(Resolution::Redirect(redirect)) => Ok(autodiscover_json::autodiscover_v1_redirect(
                &redirect, pox_url,
            )),
            Err(ResolveError::UnknownDomain) => Ok(autodiscover_json::unknown_domain()),
            Err(error @ ResolveError::BackendUnavailable) => Err(error.into()),
        }
    }
}

/// Bodies up to this are parsed where they arrive: a real request is ~400 bytes and parses in
/// microseconds, less than a hand-off to another thread costs.
const INLINE_BODY: usize = 4096;

/// Larger bodies (up to the 64 KiB the HTTP layer allows) are parsed on the blocking pool, at
/// most one per core at once; the rest wait for a turn without holding an async worker, so a
/// client posting large bodies cannot stall the connections queued behind it.
static LARGE_BODIES: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from)));

async fn parse_off_workers(body: &[u8]) -> Result<PoxRequest, RequestError> {
    if body.len() <= INLINE_BODY {
        return PoxRequest::parse(body);
    }
    // The semaphore is never closed; a closed one would only mean parsing without a turn.
    let _turn = LARGE_BODIES.acquire().await;
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || PoxRequest::parse(&body))
        .await
        .unwrap_or(Err(RequestError::NotXml))
}
