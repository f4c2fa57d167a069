//! How ssofresh writes a point in time: in files (UTC, RFC 3339) and in messages for people
//! (local time, with its offset, and how far away it is).

use chrono::{DateTime, Local, SecondsFormat, TimeDelta, Utc};

/// Formats a time the way every reader accepts: `2026-11-24T04:04:20Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Formats a time for a person, in the machine's local time zone (`TZ` is honoured):
/// `2026-11-24 05:04:20 +01:00`. Files keep UTC ([`format_time`]).
pub fn format_local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// How far `t` is from `now`, for a person: `in 42 min`, `3 h 5 min ago`, `now`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let delta = t - now;
    let span = delta.abs();
    if span < TimeDelta::seconds(60) {
        return if span < TimeDelta::seconds(5) {
            "now".to_owned()
        } else if delta > TimeDelta::zero() {
            format!("in {} s", span.num_seconds())
        } else {
            format!("{} s ago", span.num_seconds())
        };
    }
    let minutes = span.num_minutes();
    let text = if minutes < 60 {
        format!("{minutes} min")
    } else if minutes < 48 * 60 {
        match minutes % 60 {
            0 => format!("{} h", minutes / 60),
            m => format!("{} h {m} min", minutes / 60),
        }
    } else {
        format!("{} days", minutes / (24 * 60))
    };
    if delta > TimeDelta::zero() {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative times read naturally on both sides of now.
    #[test]
    fn relative_times() {
        let now = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20000);
        let at = |s: i64| now + TimeDelta::seconds(s);
        assert_eq!(relative(at(2), now), "now");
        assert_eq!(relative(at(30), now), "in 30 s");
        assert_eq!(relative(at(-30), now), "30 s ago");
        assert_eq!(relative(at(42 * 60 + 10), now), "in 42 min");
        assert_eq!(relative(at(3 * 3600 + 5 * 60), now), "in 3 h 5 min");
        assert_eq!(relative(at(-2 * 3600), now), "2 h ago");
        assert_eq!(relative(at(5 * 86400), now), "in 5 days");
    }
}
