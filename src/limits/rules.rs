//! The counting rules for one client, as the memory store applies them (the Redis store's
//! script applies the same ones): an error count that lapses `error-window` after its first
//! error, and token buckets that hold one minute's worth and refill continuously. Pure: the
//! caller passes the time, so the tests drive the clock.

use std::time::{Duration, Instant};

use super::{Cost, Reason, Refused, Verdict};
use crate::account::names::PerName;
use crate::config::limits::Budgets;

/// One client's counters.
#[derive(Debug, Clone)]
pub struct ClientState {
    errors: u32,
    /// When the current error count began; it lapses `error-window` later.
    errors_since: Instant,
    requests: Bucket,
    profiles: Bucket,
    /// Until when each reason's refusal of this client has been logged already.
    logged_until: PerName<Reason, Option<Instant>, { Reason::COUNT }>,
}

/// A token bucket holding at most one minute's budget, stored as its level at a time.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Full whatever the budget (the level is capped when read).
    fn full(now: Instant) -> Self {
        Bucket {
            tokens: f64::INFINITY,
            at: now,
        }
    }

    fn level(&self, per_minute: u32, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() * rate(per_minute);
        (self.tokens + refilled).min(f64::from(per_minute))
    }
}

/// Tokens a second.
fn rate(per_minute: u32) -> f64 {
    f64::from(per_minute) / 60.0
}

/// How long until a bucket at `level` holds one token again.
fn until_one_token(level: f64, per_minute: u32) -> Duration {
    Duration::from_secs_f64(((1.0 - level) / rate(per_minute)).max(0.0))
}

impl ClientState {
    pub fn new(now: Instant) -> Self {
        ClientState {
            errors: 0,
            errors_since: now,
            requests: Bucket::full(now),
            profiles: Bucket::full(now),
            logged_until: PerName::default(),
        }
    }

    /// Admits a request of `cost` (taking its tokens) or refuses it. The error limit is
    /// exact: after `client-error-limit` errors the very next request is refused.
    pub fn admit(&mut self, budgets: &Budgets, cost: Cost, now: Instant) -> Verdict {
        if budgets.client_error_limit > 0 {
            self.lapse_errors(budgets, now);
            if self.errors >= budgets.client_error_limit {
                let ends = self.errors_since + budgets.error_window;
                return self.refuse(Reason::ClientErrors, ends - now, now);
            }
        }
        let requests = (budgets.requests_per_minute > 0)
            .then(|| self.requests.level(budgets.requests_per_minute, now));
        if let Some(level) = requests.filter(|level| *level < 1.0) {
            let wait = until_one_token(level, budgets.requests_per_minute);
            return self.refuse(Reason::Requests, wait, now);
        }
        let profiles = (cost == Cost::Profile && budgets.profiles_per_minute > 0)
            .then(|| self.profiles.level(budgets.profiles_per_minute, now));
        if let Some(level) = profiles.filter(|level| *level < 1.0) {
            let wait = until_one_token(level, budgets.profiles_per_minute);
            return self.refuse(Reason::Profiles, wait, now);
        }
        // Both budgets are checked before either is charged: a refused request costs nothing.
        if let Some(level) = requests {
            self.requests = Bucket {
                tokens: level - 1.0,
                at: now,
            };
        }
        if let Some(level) = profiles {
            self.profiles = Bucket {
                tokens: level - 1.0,
                at: now,
            };
        }
        Verdict::Admit
    }

    /// Counts one client error; the first of a window starts it.
    pub fn record_error(&mut self, budgets: &Budgets, now: Instant) {
        self.lapse_errors(budgets, now);
        if self.errors == 0 {
            self.errors_since = now;
        }
        self.errors = self.errors.saturating_add(1);
    }

    fn lapse_errors(&mut self, budgets: &Budgets, now: Instant) {
        if now >= self.errors_since + budgets.error_window {
            self.errors = 0;
        }
    }

    fn refuse(&mut self, reason: Reason, retry_after: Duration, now: Instant) -> Verdict {
        let logged = &mut self.logged_until[reason];
        let first = logged.is_none_or(|until| now >= until);
        if first {
            *logged = Some(now + retry_after);
        }
        Verdict::Refuse {
            refused: Refused {
                reason,
                retry_after,
            },
            first,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn budgets(errors: u32, requests: u32, profiles: u32) -> Budgets {
        Budgets {
            client_error_limit: errors,
            error_window: 600 * SECOND,
            requests_per_minute: requests,
            profiles_per_minute: profiles,
        }
    }

    fn refused(verdict: Verdict) -> (Reason, Duration, bool) {
        match verdict {
            Verdict::Refuse { refused, first } => (refused.reason, refused.retry_after, first),
            Verdict::Admit => panic!("admitted"),
        }
    }

    #[test]
    fn the_request_after_the_limit_is_refused_not_the_one_after_that() {
        let budgets = budgets(20, 0, 0);
        let start = Instant::now();
        let mut client = ClientState::new(start);
        for n in 0..20 {
            assert_eq!(
                client.admit(&budgets, Cost::Request, start),
                Verdict::Admit,
                "{n}"
            );
            client.record_error(&budgets, start);
        }
        // The 21st request: refused until the window that began with the first error ends.
        let later = start + 100 * SECOND;
        let (reason, wait, first) = refused(client.admit(&budgets, Cost::Request, later));
        assert_eq!(
            (reason, wait, first),
            (Reason::ClientErrors, 500 * SECOND, true)
        );
        // Refused again, but logged only once.
        let (_, _, first) = refused(client.admit(&budgets, Cost::Request, later + SECOND));
        assert!(!first);
        // The window has passed: admitted, and counting starts afresh.
        let after = start + 600 * SECOND;
        assert_eq!(client.admit(&budgets, Cost::Request, after), Verdict::Admit);
        client.record_error(&budgets, after);
        assert_eq!(client.admit(&budgets, Cost::Request, after), Verdict::Admit);
    }

    #[test]
    fn errors_of_a_lapsed_window_do_not_count() {
        let budgets = budgets(3, 0, 0);
        let start = Instant::now();
        let mut client = ClientState::new(start);
        client.record_error(&budgets, start);
        client.record_error(&budgets, start + 599 * SECOND);
        // The window began with the first error, so it ends at 600 s: these start a new one.
        client.record_error(&budgets, start + 600 * SECOND);
        client.record_error(&budgets, start + 601 * SECOND);
        let now = start + 602 * SECOND;
        assert_eq!(client.admit(&budgets, Cost::Request, now), Verdict::Admit);
        client.record_error(&budgets, now);
        let (reason, wait, _) = refused(client.admit(&budgets, Cost::Request, now));
        assert_eq!((reason, wait), (Reason::ClientErrors, 598 * SECOND));
    }

    #[test]
    fn requests_are_a_bucket_of_one_minute_refilled_continuously() {
        let budgets = budgets(0, 60, 0);
        let start = Instant::now();
        let mut client = ClientState::new(start);
        for n in 0..60 {
            assert_eq!(
                client.admit(&budgets, Cost::Request, start),
                Verdict::Admit,
                "{n}"
            );
        }
        let (reason, wait, first) = refused(client.admit(&budgets, Cost::Request, start));
        assert_eq!((reason, wait, first), (Reason::Requests, SECOND, true));
        // One token a second comes back; a refused request took none.
        let later = start + SECOND;
        assert_eq!(client.admit(&budgets, Cost::Request, later), Verdict::Admit);
        assert!(matches!(
            client.admit(&budgets, Cost::Request, later),
            Verdict::Refuse { .. }
        ));
        // An idle minute fills the bucket, and never beyond one minute's worth.
        let idle = later + 3600 * SECOND;
        for _ in 0..60 {
            assert_eq!(client.admit(&budgets, Cost::Request, idle), Verdict::Admit);
        }
        assert!(matches!(
            client.admit(&budgets, Cost::Request, idle),
            Verdict::Refuse { .. }
        ));
    }

    #[test]
    fn profiles_have_their_own_budget_on_top_of_requests() {
        let budgets = budgets(0, 600, 2);
        let now = Instant::now();
        let mut client = ClientState::new(now);
        assert_eq!(client.admit(&budgets, Cost::Profile, now), Verdict::Admit);
        assert_eq!(client.admit(&budgets, Cost::Profile, now), Verdict::Admit);
        let (reason, wait, _) = refused(client.admit(&budgets, Cost::Profile, now));
        assert_eq!((reason, wait), (Reason::Profiles, 30 * SECOND));
        // Other requests still pass.
        assert_eq!(client.admit(&budgets, Cost::Request, now), Verdict::Admit);
    }

    #[test]
    fn zero_turns_a_budget_off() {
        let budgets = budgets(0, 0, 0);
        let now = Instant::now();
        let mut client = ClientState::new(now);
        for _ in 0..1000 {
            client.record_error(&budgets, now);
            assert_eq!(client.admit(&budgets, Cost::Profile, now), Verdict::Admit);
        }
    }
}
