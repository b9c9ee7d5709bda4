//! Timestamps as the audit trail writes them: RFC 3339, UTC, microseconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time, e.g. `2026-11-26T04:12:05.123456Z`.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now);
    now.format(&Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}
