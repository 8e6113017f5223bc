//! Trouble that is logged when it starts and when it ends, with a count, never once per
//! occurrence: a per-user source that is down, a full signing queue, a full connection cap,
//! `accept` failing. Under overload, a log line per refused request is itself a flood (tens of
//! thousands of lines a second). Also the circuit breaker that stops asking a dependency that
//! is down for every request. Used by `resolve`, `signing`, `limits` and `server`; depends on
//! nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Occurrences of one kind of trouble since it last cleared.
#[derive(Debug, Default)]
pub struct Incident {
    occurrences: AtomicU64,
}

impl Incident {
    /// Counts one occurrence; `true` for the first of an incident, which the caller logs.
    pub fn occurred(&self) -> bool {
        self.occurrences.fetch_add(1, Ordering::Relaxed) == 0
    }

    /// Occurrences since the last clear (0: none going on).
    pub fn count(&self) -> u64 {
        self.occurrences.load(Ordering::Relaxed)
    }

    /// Ends the incident in progress, if any: how many occurrences it had, which the caller
    /// logs with the recovery. Costs one load while nothing is wrong.
    pub fn cleared(&self) -> Option<u64> {
        if self.occurrences.load(Ordering::Relaxed) == 0 {
            return None;
        }
        match self.occurrences.swap(0, Ordering::Relaxed) {
            0 => None,
            count => Some(count),
        }
    }
}

/// A circuit breaker: while open, a dependency that failed is not asked; once its cooldown is
/// over, one caller tries it again.
#[derive(Debug)]
pub struct Breaker {
    cooldown: Duration,
    /// Until when callers are not let through; `None`: closed.
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    pub fn new(cooldown: Duration) -> Self {
        Breaker {
            cooldown,
            open_until: Mutex::new(None),
        }
    }

    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// Whether this caller may ask. When the cooldown is over, the first caller takes the one
    /// trial and the breaker stays open for everyone else until the trial ends: a dead
    /// dependency is asked once per cooldown, not once per request.
    pub fn admits(&self) -> bool {
        let mut open_until = self
            .open_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *open_until {
            None => true,
            Some(until) if Instant::now() >= until => {
                *open_until = Some(Instant::now() + self.cooldown);
                true
            }
            Some(_) => false,
        }
    }

    /// Opens the breaker for a cooldown from now, or closes it. True when that changed it.
    pub fn set_open(&self, open: bool) -> bool {
        let mut open_until = self
            .open_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let was_open = open_until.is_some();
        *open_until = open.then(|| Instant::now() + self.cooldown);
        was_open != open
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects the formatted log lines of the current thread (INFO and up), for tests that
    /// count what was logged.
    #[derive(Clone, Default)]
    pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Logs {
        type Writer = Logs;
        fn make_writer(&self) -> Logs {
            self.clone()
        }
    }

    impl Logs {
        /// Captures this thread's logs until the guard drops.
        pub(crate) fn capture(&self) -> tracing::subscriber::DefaultGuard {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(self.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_default(subscriber)
        }

        pub(crate) fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }

        pub(crate) fn count(&self, needle: &str) -> usize {
            self.text().matches(needle).count()
        }
    }

    #[test]
    fn the_first_occurrence_opens_and_clearing_counts() {
        let incident = Incident::default();
        assert_eq!(incident.cleared(), None, "nothing happened yet");
        assert!(incident.occurred());
        assert!(!incident.occurred());
        assert!(!incident.occurred());
        assert_eq!(incident.cleared(), Some(3));
        assert_eq!(incident.cleared(), None, "cleared once");
        assert!(incident.occurred(), "a new incident");
    }
}
