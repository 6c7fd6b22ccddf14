//! "How long ago", as the conversation list shows it: a pure function of two instants (unit tested),
//! and the server's clock it is read against when the list is rendered.

/// Unix milliseconds now (the list is rendered on the server).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `then` relative to `now` (both Unix milliseconds): "just now", "5 min ago", "3 h ago", "yesterday",
/// else the date (UTC) like "3 Mar 2026". A `then` in the future (clocks disagree) is "just now".
pub fn relative(now: i64, then: i64) -> String {
    let ago = now.saturating_sub(then);
    if ago < MINUTE {
        "just now".to_owned()
    } else if ago < HOUR {
        format!("{} min ago", ago / MINUTE)
    } else if ago < DAY {
        format!("{} h ago", ago / HOUR)
    } else if ago < 2 * DAY {
        "yesterday".to_owned()
    } else {
        let (year, month, day) = civil(then.div_euclid(DAY));
        format!("{day} {} {year}", MONTHS[month as usize - 1])
    }
}

/// The proleptic Gregorian (year, month 1..=12, day 1..=31) of `days` since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`; no date library in the browser bundle for one line of the list).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31, 1..=12).
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_772_539_200_000; // 2026-03-03T12:00:00Z

    #[test]
    fn recent_instants_read_as_durations() {
        assert_eq!(relative(NOW, NOW), "just now");
        assert_eq!(relative(NOW, NOW - 59_999), "just now");
        assert_eq!(relative(NOW, NOW + 5 * MINUTE), "just now", "a clock ahead");
        assert_eq!(relative(NOW, NOW - MINUTE), "1 min ago");
        assert_eq!(relative(NOW, NOW - 5 * MINUTE - 30_000), "5 min ago");
        assert_eq!(relative(NOW, NOW - 59 * MINUTE), "59 min ago");
        assert_eq!(relative(NOW, NOW - HOUR), "1 h ago");
        assert_eq!(relative(NOW, NOW - 23 * HOUR - 59 * MINUTE), "23 h ago");
        assert_eq!(relative(NOW, NOW - DAY), "yesterday");
        assert_eq!(relative(NOW, NOW - 2 * DAY + 1), "yesterday");
    }

    #[test]
    fn older_instants_read_as_dates() {
        assert_eq!(relative(NOW, NOW - 2 * DAY), "1 Mar 2026");
        assert_eq!(relative(NOW, 0), "1 Jan 1970");
        assert_eq!(relative(NOW, 951_782_400_000), "29 Feb 2000");
        assert_eq!(relative(NOW, 1_700_000_000_000), "14 Nov 2023");
        assert_eq!(relative(NOW, 1_767_225_599_999), "31 Dec 2025");
        assert_eq!(relative(NOW, -DAY), "31 Dec 1969");
    }

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(11_017), (2000, 3, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(civil(20_515), (2026, 3, 3));
    }
}
