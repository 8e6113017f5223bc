//! Dedicated signing threads, one per core, fed by a bounded queue. A private-key operation is
//! ~1 ms of CPU: on an async worker it would stall every connection queued there, and Tokio's
//! blocking pool costs a thread hand-off per signature (measured: 1.43 ms of CPU per fresh
//! profile through it against 1.2 ms here, and a third fewer profiles/s;
//! docs/performance.md, "Signed profiles"). These threads stay hot: under load each takes the
//! next job without sleeping. A full queue is refused at once (load shedding) instead of
//! growing without bound, and logged once per incident: a line per refusal flooded the log
//! with tens of thousands of lines in seconds of overload.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use super::{SignedProfile, Signer, SigningError};
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
}

impl SigningWorkers {
    pub(super) fn start(signer: Arc<Signer>, threads: usize) -> Result<Self, SigningError> {
        let threads = threads.max(1);
        let (jobs, queue) = crossbeam_channel::bounded(threads * QUEUE_PER_THREAD);
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
        })
    }

    pub(super) fn threads(&self) -> usize {
        self.threads
    }

    /// `content` (whose SHA-256 is `digest`) signed by the next free thread;
    /// [`SigningError::Busy`] at once when the queue is full.
    pub(super) async fn sign(&self, content: Vec<u8>, digest: [u8; 32]) -> Answer {
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
