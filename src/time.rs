//! How ssofresh writes a point in time, in files and in messages.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time the way every reader accepts: `2026-11-24T04:04:20Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
