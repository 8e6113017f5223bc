//! When mxconf says a certificate is near its end: one set of thresholds for the log, `mxconf
//! doctor` and the shipped alert rules. Both ACME clients and certbot renew with 30 days left,
//! so a certificate still in use at 30 days is the first sign that a renewal did not happen;
//! at 14 days it has failed for two weeks; at 7 it is urgent. The log warns once at each
//! (it is read rarely and costs nothing); checks that are polled (`mxconf doctor` from cron,
//! the alert rules) warn from 14 days, so a renewal that is merely due never pages anyone.
//! Seconds in, thresholds out; [`Warnings`] remembers which of them one certificate (the
//! signer, each served TLS certificate) has been logged at.

use std::sync::atomic::{AtomicI64, Ordering};

/// Days before notAfter at which the log warns, once each.
pub const LOG_WARNING_DAYS: [i64; 3] = [30, 14, 7];
/// Days before notAfter from which `mxconf doctor` and the alert rules warn.
pub const CHECK_WARNING_DAYS: i64 = 14;

const DAY: i64 = 86_400;

/// The smallest of [`LOG_WARNING_DAYS`] that `seconds_left` (until notAfter) is within, if any.
pub fn log_threshold(seconds_left: i64) -> Option<i64> {
    LOG_WARNING_DAYS
        .iter()
        .rev()
        .copied()
        .find(|days| seconds_left <= days * DAY)
}

/// The log thresholds one certificate has been warned at, so that each is logged once
/// however often the certificate is checked (when loaded, then hourly).
#[derive(Debug)]
pub struct Warnings {
    /// The smallest threshold (days) warned at; `i64::MAX` before any.
    smallest: AtomicI64,
}

impl Default for Warnings {
    fn default() -> Self {
        Warnings {
            smallest: AtomicI64::new(i64::MAX),
        }
    }
}

impl Warnings {
    /// The whole days left when a certificate ending at `not_after` (Unix seconds) is within
    /// a smaller threshold than at any call before: the caller logs its warning then.
    pub fn due(&self, not_after: i64) -> Option<i64> {
        self.due_with(seconds_left(not_after))
    }

    fn due_with(&self, seconds_left: i64) -> Option<i64> {
        let threshold = log_threshold(seconds_left)?;
        // fetch_min: two threads checking at once still warn once.
        (self.smallest.fetch_min(threshold, Ordering::Relaxed) > threshold)
            .then(|| days_left(seconds_left))
    }
}

/// Seconds from now until `not_after` (Unix seconds); negative once it has passed.
pub fn seconds_left(not_after: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
    not_after.saturating_sub(now)
}

/// Whole days left, rounded down (0 on the last day, negative once expired).
pub fn days_left(seconds_left: i64) -> i64 {
    seconds_left.div_euclid(DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_threshold_reached() {
        assert_eq!(log_threshold(31 * DAY), None);
        assert_eq!(log_threshold(30 * DAY + 1), None);
        assert_eq!(log_threshold(30 * DAY), Some(30));
        assert_eq!(log_threshold(15 * DAY), Some(30));
        assert_eq!(log_threshold(14 * DAY), Some(14));
        assert_eq!(log_threshold(7 * DAY), Some(7));
        assert_eq!(log_threshold(1), Some(7));
        assert_eq!(log_threshold(-DAY), Some(7));
        assert_eq!(days_left(14 * DAY - 1), 13);
        assert_eq!(days_left(-1), -1);
        assert!(LOG_WARNING_DAYS.contains(&CHECK_WARNING_DAYS));
    }

    #[test]
    fn each_threshold_is_due_once_as_the_end_nears() {
        let warnings = Warnings::default();
        assert_eq!(warnings.due_with(40 * DAY), None);
        assert_eq!(warnings.due_with(20 * DAY), Some(20));
        assert_eq!(warnings.due_with(20 * DAY), None);
        assert_eq!(warnings.due_with(15 * DAY), None);
        assert_eq!(warnings.due_with(14 * DAY - 1), Some(13));
        assert_eq!(warnings.due_with(8 * DAY), None);
        // Loaded at 10 days: the 14-day threshold only, then 7.
        let late = Warnings::default();
        assert_eq!(late.due_with(10 * DAY), Some(10));
        assert_eq!(late.due_with(9 * DAY), None);
        assert_eq!(late.due_with(6 * DAY), Some(6));
        assert_eq!(late.due_with(-DAY), None);
    }
}
