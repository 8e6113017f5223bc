//! The server's signer: [`Signer`] behind a content-addressed cache of finished signatures and
//! a bound on concurrent private-key operations. A profile is a pure function of the account,
//! so a re-download (a second tap in Safari, the web form's retry, a client polling) is the
//! same bytes and needs no second RSA operation; concurrent requests for one profile sign it
//! once. Distinct profiles still cost one signature each, on the signing threads.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use moka::future::Cache;

use super::workers::SigningWorkers;
use super::{SignedProfile, Signer, SigningError};

/// Finished signatures kept, by their DER size (a typical signed profile is ~7 KB, so this
/// holds a few thousand).
const CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// How long one is reused. The signing time inside stays that of the first download, which
/// devices do not check against the clock.
const CACHE_TTL: Duration = Duration::from_secs(600);

/// SHA-256 of the unsigned content: equal keys mean byte-identical content, so a cached
/// signature is exactly the one a fresh signing would produce, bar its signing time.
type ContentDigest = [u8; 32];

pub struct CachingSigner {
    signer: Arc<Signer>,
    signed: Cache<ContentDigest, SignedProfile>,
    workers: SigningWorkers,
}

impl std::fmt::Debug for CachingSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingSigner")
            .field("signer", &self.signer)
            .field("threads", &self.workers.threads())
            .field("cached", &self.signed.entry_count())
            .finish_non_exhaustive()
    }
}

impl CachingSigner {
    /// Starts one signing thread per core.
    pub fn new(signer: Arc<Signer>) -> Result<Self, SigningError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(CachingSigner {
            workers: SigningWorkers::start(Arc::clone(&signer), cores)?,
            signer,
            signed: Cache::builder()
                .weigher(|_digest, signed: &SignedProfile| {
                    u32::try_from(signed.as_der().len()).unwrap_or(u32::MAX)
                })
                .max_capacity(CACHE_BYTES)
                .time_to_live(CACHE_TTL)
                .build(),
        })
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// `content` signed, from the cache when these exact bytes were signed recently. The
    /// certificate must be valid now on every call, hit or miss: a signature made before it
    /// expired is not served after.
    pub async fn sign(&self, content: Vec<u8>) -> Result<SignedProfile, SigningError> {
        self.signer.check_validity()?;
        let digest = openssl::sha::sha256(&content);
        // One signing per digest; concurrent callers wait for its result (and count as cache
        // hits: they cost no signature). Errors are not cached.
        let entry = self
            .signed
            .entry(digest)
            .or_try_insert_with(self.workers.sign(content, digest))
            .await
            .map_err(|shared| {
                Arc::try_unwrap(shared).unwrap_or_else(|shared| match *shared {
                    // Still load shedding for every caller that waited on it (not logged
                    // per request).
                    SigningError::Busy => SigningError::Busy,
                    _ => SigningError::Sign(shared.to_string()),
                })
            })?;
        if !entry.is_fresh() {
            crate::metrics::signing_cache_hit();
        }
        Ok(entry.into_value())
    }
}

/// The server's current signer, which an ACME renewal replaces while requests go on: each
/// request takes the signer of the moment once. A replacement brings its own signature cache,
/// so nothing signed by the old certificate is served after the swap. Empty until an ACME
/// certificate exists: profile requests are refused meanwhile, never answered unsigned.
#[derive(Debug, Default)]
pub struct LiveSigner {
    current: ArcSwapOption<CachingSigner>,
}

impl LiveSigner {
    pub fn new(signer: Option<CachingSigner>) -> Self {
        LiveSigner {
            current: ArcSwapOption::from(signer.map(Arc::new)),
        }
    }

    /// The signer for one request, `None` while there is none yet.
    pub fn current(&self) -> Option<Arc<CachingSigner>> {
        self.current.load_full()
    }

    /// Signs with `signer` from the next request on.
    pub fn replace(&self, signer: CachingSigner) {
        self.current.store(Some(Arc::new(signer)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::tests::certs;
    use crate::signing::verify;

    /// ECDSA signatures are randomised: two signings of the same bytes never match, so equal
    /// output proves the cache answered. (RSA PKCS#1 v1.5 is deterministic, and the signing
    /// time has one-second resolution.)
    fn ecdsa_signer() -> CachingSigner {
        CachingSigner::new(Arc::new(crate::signing::tests::ecdsa_signer())).unwrap()
    }

    #[tokio::test]
    async fn the_same_content_is_signed_once_and_different_content_anew() {
        let signer = ecdsa_signer();
        assert_ne!(
            signer.signer().sign(b"x").unwrap(),
            signer.signer().sign(b"x").unwrap()
        );
        let first = signer.sign(b"<plist>a</plist>".to_vec()).await.unwrap();
        let again = signer.sign(b"<plist>a</plist>".to_vec()).await.unwrap();
        assert_eq!(first, again);
        let other = signer.sign(b"<plist>b</plist>".to_vec()).await.unwrap();
        assert_ne!(first, other);
        for signed in [&first, &other] {
            assert!(verify(signed.as_der(), Some(&certs("root.pem"))).is_ok());
        }
        signer.signed.run_pending_tasks().await;
        assert_eq!(signer.signed.entry_count(), 2);
    }

    #[tokio::test]
    async fn a_replaced_signer_serves_nothing_its_predecessor_signed() {
        let live = LiveSigner::new(Some(ecdsa_signer()));
        let content = b"<plist>same</plist>".to_vec();
        let old = live.current().unwrap().sign(content.clone()).await.unwrap();
        assert_eq!(
            live.current().unwrap().sign(content.clone()).await.unwrap(),
            old
        );
        live.replace(ecdsa_signer());
        let new = live.current().unwrap().sign(content).await.unwrap();
        assert_ne!(new, old);
    }

    #[tokio::test]
    async fn concurrent_requests_for_one_profile_share_one_signature() {
        let signer = Arc::new(ecdsa_signer());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let signer = Arc::clone(&signer);
                tokio::spawn(async move { signer.sign(b"<plist>same</plist>".to_vec()).await })
            })
            .collect();
        let mut signatures = Vec::new();
        for task in tasks {
            signatures.push(task.await.unwrap().unwrap());
        }
        assert!(signatures.windows(2).all(|pair| pair[0] == pair[1]));
    }
}
