//! When a certificate is due: at two thirds of its lifetime (Let's Encrypt's own advice for
//! 90-day certificates: renew with 30 days left), and how long to wait after a failed order
//! (doubling, capped). Pure: times in, times out.
//!
//! ACME Renewal Information (RFC 9773) is not asked: it is one more request per
//! certificate and check, and a CA that does not offer it (pebble as packaged) would leave the
//! two-thirds rule anyway.

use std::time::{Duration, SystemTime};

/// After the first failed order, wait this long; doubled after each further failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(60);
/// The longest wait between two attempts: a certificate with a month left gets dozens of
/// tries, and a CA that counts failed validations (Let's Encrypt: 5 per name and hour) is
/// never pushed to its limit.
pub const LONGEST_RETRY: Duration = Duration::from_secs(3 * 3600);

/// When a certificate valid from `not_before` until `not_after` is renewed.
pub fn renew_at(not_before: SystemTime, not_after: SystemTime) -> SystemTime {
    let lifetime = not_after
        .duration_since(not_before)
        .unwrap_or(Duration::ZERO);
    not_before + lifetime * 2 / 3
}

/// The wait after `failures` failed attempts in a row (1 for the first).
pub fn retry_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_thirds_of_the_lifetime() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let days = |n: u64| Duration::from_secs(n * 86_400);
        assert_eq!(renew_at(start, start + days(90)), start + days(60));
        assert_eq!(
            renew_at(start, start + Duration::from_secs(30)),
            start + Duration::from_secs(20)
        );
        // A certificate that ends before it starts is due at once.
        assert_eq!(renew_at(start, start - days(1)), start);
    }

    #[test]
    fn retries_double_up_to_the_cap() {
        assert_eq!(retry_after(1), Duration::from_secs(60));
        assert_eq!(retry_after(2), Duration::from_secs(120));
        assert_eq!(retry_after(5), Duration::from_secs(960));
        assert_eq!(retry_after(9), LONGEST_RETRY);
        assert_eq!(retry_after(u32::MAX), LONGEST_RETRY);
    }
}
