//! The gateway's clock, in Unix milliseconds. Approval expiry, escalation and reminders read
//! it; tests and rehearsals may run it ahead (`[testing] manual_clock`), never back.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    /// Whether `advance` is allowed.
    pub manual: bool,
}

impl Clock {
    pub fn new(manual: bool) -> Clock {
        Clock {
            offset_ms: Arc::new(AtomicI64::new(0)),
            manual,
        }
    }

    pub fn now_ms(&self) -> i64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        system + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves a manual clock forward; refused on the system clock.
    pub fn advance(&self, ms: i64) -> bool {
        if !self.manual || ms < 0 {
            return false;
        }
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        true
    }
}

/// RFC 3339 for a Unix-millisecond time.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_764_129_600_123), "2025-11-26T04:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn only_a_manual_clock_moves() {
        let system = Clock::new(false);
        assert!(!system.advance(1000));
        let manual = Clock::new(true);
        let before = manual.now_ms();
        assert!(manual.advance(3_600_000));
        assert!(manual.now_ms() - before >= 3_600_000);
    }
}
