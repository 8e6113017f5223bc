//! Trouble that is logged when it starts and when it ends, with a count, never once per
//! occurrence: a per-user source that is down, a full signing queue, a full connection cap,
//! `accept` failing. Under overload, a log line per refused request is itself a flood (tens of
//! thousands of lines a second). Used by `resolve`, `signing` and `server`; depends on nothing.

use std::sync::atomic::{AtomicU64, Ordering};

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

    /// Ends the incident in progress, if any: how many occurrences it had, which the caller
    /// logs with the recovery. Costs one load while nothing is wrong.
    /// Occurrences since the last clear (0: none going on).
    pub fn count(&self) -> u64 {
        self.occurrences.load(Ordering::Relaxed)
    }

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
