//! Where profiles are signed: on the calling async worker while fewer than all but one of the
//! cores are doing so, else on dedicated signing threads, one per core, fed by a bounded
//! queue. A private-key operation (about 0.3 ms of CPU on an AVX-512 machine, 1 ms on older
//! ones) stalls every connection queued on the worker that runs it, so at least one worker
//! always stays free of signatures; but handing a signature to a thread and its answer back
//! costs two wake-ups, most of a fresh profile's system time (measured: 42–52 µs of system
//! time and 2.6–2.7 context switches per profile with every signature on a thread, 27 µs and
//! 1.4 with one worker signing itself; docs/performance.md, "Spliced profiles, the fast lane,
//! signing on the calling worker").
//! Tokio's blocking pool costs a thread hand-off per signature too (1.43 ms of CPU per fresh
//! profile through it against 1.2 ms on these threads). The threads stay hot: under load each
//! takes the next job without sleeping. A full queue is refused at once (load shedding)
//! instead of growing without bound, and logged once per incident: a line per refusal flooded
//! the log with tens of thousands of lines in seconds of overload.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use super::{Prepared, SignedProfile, Signer, SigningError};
use crate::incident::Incident;

/// Jobs that may wait per signing thread: about a quarter of a second of work each.
const QUEUE_PER_THREAD: usize = 256;

type Answer = Result<SignedProfile, SigningError>;

struct Job {
    content: Vec<u8>,
    /// Its SHA-256, already computed as the signature cache's key.
    digest: [u8; 32],
    reply: oneshot::Sender<Answer>,
}

/// The threads stop when this is dropped (their queue disconnects).
pub(super) struct SigningWorkers {
    jobs: Sender<Job>,
    threads: usize,
    /// Jobs refused since the queue last had room.
    shed: Incident,
    signer: Arc<Signer>,
    /// Key contexts for signing on the calling async worker, one fewer than the threads: taken
    /// for a signature and put back after it, so that at most that many workers sign at once.
    inline: (Sender<Prepared>, Receiver<Prepared>),
}

impl SigningWorkers {
    pub(super) fn start(signer: Arc<Signer>, threads: usize) -> Result<Self, SigningError> {
        let threads = threads.max(1);
        let (jobs, queue) = crossbeam_channel::bounded(threads * QUEUE_PER_THREAD);
        let inline = crossbeam_channel::bounded(threads - 1);
        for _ in 1..threads {
            // Without a context the jobs go to the threads, which sign through CMS_sign.
            if let Ok(prepared) = signer.prepared() {
                let _ = inline.0.try_send(prepared);
            }
        }
        for index in 0..threads {
            let signer = Arc::clone(&signer);
            let queue: Receiver<Job> = queue.clone();
            std::thread::Builder::new()
                .name(format!("mxconf-sign-{index}"))
                .spawn(move || {
                    // One prepared key context per thread, reused for every job it takes.
                    let mut session = signer.session().ok();
                    for job in queue {
                        // The request gave up (timeout, client gone): skip the private-key
                        // operation nobody will read.
                        if job.reply.is_closed() {
                            continue;
                        }
                        let started = std::time::Instant::now();
                        let signed = match &mut session {
                            Some(session) => session.sign_digested(&job.content, &job.digest),
                            None => signer.sign(&job.content),
                        };
                        if signed.is_ok() {
                            crate::metrics::signature(started.elapsed());
                        }
                        let _ = job.reply.send(signed);
                    }
                })
                .map_err(|error| {
                    SigningError::Sign(format!("cannot start a signing thread: {error}"))
                })?;
        }
        Ok(SigningWorkers {
            jobs,
            threads,
            shed: Incident::default(),
            signer,
            inline,
        })
    }

    pub(super) fn threads(&self) -> usize {
        self.threads
    }

    /// `content` (whose SHA-256 is `digest`) signed here when a worker's key context is free,
    /// else by the next free thread; [`SigningError::Busy`] at once when the queue is full.
    pub(super) async fn sign(&self, content: Vec<u8>, digest: [u8; 32]) -> Answer {
        if let Ok(prepared) = self.inline.1.try_recv() {
            let mut held = Held {
                pool: &self.inline.0,
                prepared: Some(prepared),
            };
            // The tasks already queued on this worker (the one in its LIFO slot cannot be
            // stolen by another worker) run before it is busy signing: without this, requests
            // for other routes on the same worker waited for the signature (measured: autoconfig
            // beside a signing load from p50 0.01 ms to 0.1-0.3 ms).
            tokio::task::yield_now().await;
            if let Some(prepared) = held.prepared.take() {
                let mut session = self.signer.resumed(prepared);
                let started = std::time::Instant::now();
                let signed = session.sign_digested(&content, &digest);
                if signed.is_ok() {
                    crate::metrics::signature(started.elapsed());
                }
                held.prepared = Some(session.suspend());
                return signed;
            }
        }
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job {
            content,
            digest,
            reply,
        }) {
            // Ends only once the queue is down to half: under steady overload every finished
            // signature frees one slot, and ending there would log an incident per signature.
            Ok(()) if self.jobs.len() <= self.threads * QUEUE_PER_THREAD / 2 => {
                if let Some(refused) = self.shed.cleared() {
                    tracing::info!(refused, "the signing queue has room again");
                }
            }
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                crate::metrics::signing_queue_full();
                if self.shed.occurred() {
                    tracing::warn!(
                        queue = self.threads * QUEUE_PER_THREAD,
                        "the signing queue is full: refusing profile requests (503) until it has room"
                    );
                }
                return Err(SigningError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(SigningError::Sign(
                    "the signing threads have stopped".into(),
                ));
            }
        }
        answer
            .await
            .map_err(|_| SigningError::Sign("the signing thread stopped".into()))?
    }
}

/// A worker's key context while a signature uses it: back in the pool when dropped, also when
/// the request is dropped while it waits for its turn.
struct Held<'p> {
    pool: &'p Sender<Prepared>,
    prepared: Option<Prepared>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(prepared) = self.prepared.take() {
            let _ = self.pool.try_send(prepared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::tests::Logs;

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_and_the_queued_jobs_are_signed() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let signer = Arc::new(Signer::development().unwrap());
        let workers = Arc::new(SigningWorkers::start(signer, 1).unwrap());
        let mut jobs = tokio::task::JoinSet::new();
        for index in 0..QUEUE_PER_THREAD + 64 {
            let workers = Arc::clone(&workers);
            jobs.spawn(async move {
                let content: Vec<u8> = format!("<plist>{index}</plist>").into();
                let digest = openssl::sha::sha256(&content);
                workers.sign(content, digest).await
            });
        }
        let (mut signed, mut busy) = (0, 0);
        while let Some(answer) = jobs.join_next().await {
            match answer.unwrap() {
                Ok(_) => signed += 1,
                Err(SigningError::Busy) => busy += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert!(busy > 0, "a queue of {QUEUE_PER_THREAD} took every job");
        assert!(signed >= QUEUE_PER_THREAD, "only {signed} signed");
        // One line for the incident, not one per refusal; its end counts them.
        assert_eq!(logs.count("the signing queue is full"), 1);
        assert!(
            workers
                .sign(b"<plist/>".to_vec(), openssl::sha::sha256(b"<plist/>"))
                .await
                .is_ok()
        );
        assert_eq!(
            logs.count(&format!("the signing queue has room again refused={busy}")),
            1,
            "{}",
            logs.text()
        );
    }

    /// A signature on the calling worker and one on a thread are both `CMS_sign`'s bytes.
    #[tokio::test]
    async fn the_calling_worker_and_the_threads_sign_alike() {
        let signer = Arc::new(Signer::development().unwrap());
        let workers = SigningWorkers::start(Arc::clone(&signer), 2).unwrap();
        let content = b"<plist>same bytes</plist>".to_vec();
        let digest = openssl::sha::sha256(&content);
        let cms_sign = || signer.sign_with_cms(&content).unwrap();
        let before = cms_sign();
        let here = workers.sign(content.clone(), digest).await.unwrap();
        // With the one worker context taken, the job goes to a thread.
        let held = workers.inline.1.try_recv().unwrap();
        let threaded = workers.sign(content.clone(), digest).await.unwrap();
        let _ = workers.inline.0.try_send(held);
        let after = cms_sign();
        for signed in [here, threaded] {
            assert!(signed.as_der() == before || signed.as_der() == after);
        }
    }

    /// A request dropped while it waits for its turn to sign on the worker gives the key context
    /// back: otherwise every timeout would shrink the pool for good.
    #[tokio::test]
    async fn a_dropped_request_gives_its_worker_context_back() {
        let signer = Arc::new(Signer::development().unwrap());
        let workers = SigningWorkers::start(signer, 2).unwrap();
        let content = b"<plist/>".to_vec();
        let digest = openssl::sha::sha256(&content);
        {
            let mut signing = std::pin::pin!(workers.sign(content.clone(), digest));
            assert!(futures_util::poll!(&mut signing).is_pending());
            assert!(
                workers.inline.1.is_empty(),
                "the context is held while waiting"
            );
        }
        assert_eq!(workers.inline.1.len(), 1);
        assert!(workers.sign(content, digest).await.is_ok());
        assert_eq!(workers.inline.1.len(), 1);
    }

    #[tokio::test]
    async fn the_threads_stop_with_their_owner() {
        let signer = Arc::new(Signer::development().unwrap());
        let workers = SigningWorkers::start(Arc::clone(&signer), 2).unwrap();
        assert!(
            workers
                .sign(b"<plist/>".to_vec(), openssl::sha::sha256(b"<plist/>"))
                .await
                .is_ok()
        );
        drop(workers);
        // Each thread held one reference to the signer; they let go once the queue closed.
        for _ in 0..200 {
            if Arc::strong_count(&signer) == 1 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("signing threads still hold the signer");
    }
}
