//! The memory store: each instance counts its own clients, in a bounded cache (moka, already
//! the resolver's cache), so a flood of distinct addresses cannot grow memory without limit.
//! An entry idle for longer than the error window and a minute holds nothing the rules still
//! use (its window has lapsed, its buckets are full), so forgetting it changes no answer;
//! only a full cache forgets clients early, the least used first.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::rules::ClientState;
use super::{ClientKey, Cost, Verdict};
use crate::config::limits::Budgets;

/// Clients held at most (about 250 bytes each: some 25 MB when full).
const MAX_CLIENTS: u64 = 100_000;

#[derive(Debug)]
pub struct MemoryStore {
    clients: moka::sync::Cache<ClientKey, Arc<Mutex<ClientState>>>,
}

impl MemoryStore {
    pub fn new(budgets: &Budgets) -> Self {
        let forget_after = budgets.error_window.max(Duration::from_secs(60));
        MemoryStore {
            clients: moka::sync::Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_idle(forget_after)
                .build(),
        }
    }

    fn client(&self, client: ClientKey, now: Instant) -> Arc<Mutex<ClientState>> {
        self.clients
            .get_with(client, || Arc::new(Mutex::new(ClientState::new(now))))
    }

    pub fn admit(&self, client: ClientKey, budgets: &Budgets, cost: Cost, now: Instant) -> Verdict {
        let state = self.client(client, now);
        // A panic while holding the lock leaves plain counters, still usable.
        let mut state = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.admit(budgets, cost, now)
    }

    pub fn record_error(&self, client: ClientKey, budgets: &Budgets, now: Instant) {
        let state = self.client(client, now);
        let mut state = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.record_error(budgets, now);
    }
}
