//! When mxconf says a certificate is near its end: one set of thresholds for the log, `mxconf
//! doctor` and the shipped alert rules. Both ACME clients and certbot renew with 30 days left,
//! so a certificate still in use at 30 days is the first sign that a renewal did not happen;
//! at 14 days it has failed for two weeks; at 7 it is urgent. The log warns once at each
//! (it is read rarely and costs nothing); checks that are polled (`mxconf doctor` from cron,
//! the alert rules) warn from 14 days, so a renewal that is merely due never pages anyone.
//! Seconds in, thresholds out.

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
}
