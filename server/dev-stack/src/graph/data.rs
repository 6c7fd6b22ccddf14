//! Deterministic demo data of the Graph stand-in: a profile per dev user and calendars generated from
//! weekly patterns, so any window (now → 7 days, last month, a year ahead) has events and the same
//! request always gets the same answer. Alice and Bob have their own jobs, offices and meetings; other
//! configured users share a plain default. All times are UTC.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use sha2::{Digest, Sha256};

/// The profile fields Graph's `/me` has beyond the directory's name and mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub job_title: &'static str,
    pub office_location: &'static str,
}

/// A meeting that recurs on some weekdays at one time.
struct Pattern {
    subject: &'static str,
    days: &'static [Weekday],
    /// Start as (hour, minute), UTC.
    at: (u32, u32),
    minutes: i64,
    location: &'static str,
    /// The organizer's user name; `None` is the calendar's owner.
    organizer: Option<&'static str>,
}

const WEEKDAYS: &[Weekday] = &[
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];
const TEAMS: &str = "Microsoft Teams Meeting";

const ALICE: &[Pattern] = &[
    Pattern {
        subject: "Team stand-up",
        days: WEEKDAYS,
        at: (9, 30),
        minutes: 15,
        location: TEAMS,
        organizer: None,
    },
    Pattern {
        subject: "Roadmap review",
        days: &[Weekday::Tue],
        at: (14, 0),
        minutes: 60,
        location: "Room 2.14",
        organizer: None,
    },
    Pattern {
        subject: "1:1 with Bob",
        days: &[Weekday::Thu],
        at: (11, 0),
        minutes: 30,
        location: "Room 1.02",
        organizer: None,
    },
    Pattern {
        subject: "Hiring panel",
        days: &[Weekday::Wed],
        at: (15, 0),
        minutes: 60,
        location: "Room 2.03",
        organizer: None,
    },
];

const BOB: &[Pattern] = &[
    Pattern {
        subject: "Ops sync",
        days: &[Weekday::Mon, Weekday::Wed, Weekday::Fri],
        at: (10, 0),
        minutes: 30,
        location: TEAMS,
        organizer: None,
    },
    Pattern {
        subject: "On-call handover",
        days: &[Weekday::Mon],
        at: (16, 0),
        minutes: 30,
        location: "Ops room",
        organizer: None,
    },
    // The same meeting as in Alice's calendar, organized by her.
    Pattern {
        subject: "1:1 with Bob",
        days: &[Weekday::Thu],
        at: (11, 0),
        minutes: 30,
        location: "Room 1.02",
        organizer: Some("alice"),
    },
    Pattern {
        subject: "Incident review",
        days: &[Weekday::Fri],
        at: (14, 0),
        minutes: 60,
        location: "Room 3.01",
        organizer: None,
    },
];

const OTHERS: &[Pattern] = &[
    Pattern {
        subject: "Team stand-up",
        days: WEEKDAYS,
        at: (9, 30),
        minutes: 15,
        location: TEAMS,
        organizer: Some("alice"),
    },
    Pattern {
        subject: "Focus time",
        days: &[Weekday::Tue, Weekday::Thu],
        at: (13, 0),
        minutes: 120,
        location: "",
        organizer: None,
    },
];

pub fn profile(username: &str) -> Profile {
    match username {
        "alice" => Profile {
            job_title: "Engineering Manager",
            office_location: "London, Room 2.10",
        },
        "bob" => Profile {
            job_title: "Site Reliability Engineer",
            office_location: "Edinburgh, Quay House 3F",
        },
        _ => Profile {
            job_title: "Developer",
            office_location: "Remote",
        },
    }
}

fn patterns(username: &str) -> &'static [Pattern] {
    match username {
        "alice" => ALICE,
        "bob" => BOB,
        _ => OTHERS,
    }
}

/// One occurrence in a user's calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable: derived from the owner, the meeting and its date.
    pub id: String,
    pub subject: &'static str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub location: &'static str,
    /// The organizer's user name.
    pub organizer: String,
}

/// The occurrences on `date` in `username`'s calendar (owner `oid`), in start order.
fn day(oid: &str, username: &str, date: NaiveDate) -> Vec<Event> {
    let mut events: Vec<Event> = patterns(username)
        .iter()
        .filter(|p| p.days.contains(&date.weekday()))
        .filter_map(|p| {
            let time = NaiveTime::from_hms_opt(p.at.0, p.at.1, 0)?;
            let start = date.and_time(time).and_utc();
            let seed = format!("event/{oid}/{}/{date}", p.subject);
            let digest = Sha256::digest(seed.as_bytes());
            Some(Event {
                id: format!("AAMk{}", URL_SAFE_NO_PAD.encode(&digest[..24])),
                subject: p.subject,
                start,
                end: start + Duration::minutes(p.minutes),
                location: p.location,
                organizer: p.organizer.unwrap_or(username).to_owned(),
            })
        })
        .collect();
    events.sort_by_key(|e| e.start);
    events
}

/// Days looked at, at most: every week has meetings, so this is only a guard against endless walks.
const MAX_DAYS: u32 = 5 * 366;

/// Up to `limit` events overlapping `[from, to)` (Graph's calendarView: starting before `to` and
/// ending after `from`), by start time ascending, or descending with `newest_first`.
pub fn calendar_view(
    oid: &str,
    username: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    newest_first: bool,
    limit: usize,
) -> Vec<Event> {
    let mut found = Vec::new();
    if limit == 0 || to <= from {
        return found;
    }
    // No meeting crosses midnight, so the days from `from`'s to `to`'s date hold every overlap.
    let (first, last) = (from.date_naive(), to.date_naive());
    let mut date = if newest_first { last } else { first };
    for _ in 0..MAX_DAYS {
        let mut events = day(oid, username, date);
        if newest_first {
            events.reverse();
        }
        for event in events {
            if event.start < to && event.end > from {
                found.push(event);
                if found.len() == limit {
                    return found;
                }
            }
        }
        let next = if newest_first {
            date.pred_opt()
        } else {
            date.succ_opt()
        };
        match next {
            Some(next) if (first..=last).contains(&next) => date = next,
            _ => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn any_week_has_events_in_start_order() {
        // 2025-03-03 is a Monday.
        let from = at(2025, 3, 3, 0, 0);
        let week = calendar_view("oid-a", "alice", from, from + Duration::days(7), false, 50);
        let subjects: Vec<&str> = week.iter().map(|e| e.subject).collect();
        assert_eq!(week.len(), 5 + 1 + 1 + 1, "{subjects:?}");
        assert!(week.windows(2).all(|w| w[0].start <= w[1].start));
        let roadmap = week.iter().find(|e| e.subject == "Roadmap review").unwrap();
        assert_eq!(roadmap.start, at(2025, 3, 4, 14, 0));
        assert_eq!(roadmap.end, at(2025, 3, 4, 15, 0));
        assert_eq!(roadmap.location, "Room 2.14");
        let one_to_one = week.iter().find(|e| e.subject == "1:1 with Bob").unwrap();
        assert_eq!(one_to_one.start, at(2025, 3, 6, 11, 0));
        assert_eq!(week[0].subject, "Team stand-up");
        assert_eq!(week[0].start, at(2025, 3, 3, 9, 30));

        // Bob's week differs, and Alice organizes their 1:1 in his calendar too.
        let bob = calendar_view("oid-b", "bob", from, from + Duration::days(7), false, 50);
        assert!(bob.iter().all(|e| e.subject != "Roadmap review"));
        let shared = bob.iter().find(|e| e.subject == "1:1 with Bob").unwrap();
        assert_eq!(shared.organizer, "alice");
        assert!(bob.iter().any(|e| e.subject == "Incident review"));
        assert_eq!(profile("alice").office_location, "London, Room 2.10");
        assert_ne!(profile("alice"), profile("bob"));
    }

    #[test]
    fn windows_overlap_limit_and_order() {
        // A window inside the stand-up still returns it (overlap, not containment).
        let during = calendar_view(
            "o",
            "alice",
            at(2025, 3, 3, 9, 35),
            at(2025, 3, 3, 9, 40),
            false,
            10,
        );
        assert_eq!(during.len(), 1);
        // Touching ends do not overlap.
        let after = calendar_view(
            "o",
            "alice",
            at(2025, 3, 3, 9, 45),
            at(2025, 3, 3, 10, 0),
            false,
            10,
        );
        assert!(after.is_empty());
        let from = at(2025, 3, 1, 0, 0);
        let to = from + Duration::days(60);
        let first = calendar_view("o", "alice", from, to, false, 3);
        assert_eq!(first.len(), 3);
        assert_eq!(
            first[0].start,
            at(2025, 3, 3, 9, 30),
            "the weekend has none"
        );
        let last = calendar_view("o", "alice", from, to, true, 2);
        assert!(last[0].start > last[1].start);
        assert!(last[0].start < to);
        // Deterministic, with stable distinct ids.
        assert_eq!(first, calendar_view("o", "alice", from, to, false, 3));
        assert_ne!(first[0].id, first[1].id);
        assert_ne!(
            first[0].id,
            calendar_view("p", "alice", from, to, false, 1)[0].id,
            "ids differ per calendar owner"
        );
        // Empty and reversed windows, and a limit of zero.
        assert!(calendar_view("o", "alice", to, from, false, 10).is_empty());
        assert!(calendar_view("o", "alice", from, to, false, 0).is_empty());
        // A far window still has events; an unknown user gets the default calendar.
        let far = at(2031, 7, 14, 0, 0);
        assert!(!calendar_view("o", "alice", far, far + Duration::days(7), false, 50).is_empty());
        let carol = calendar_view("o", "carol", far, far + Duration::days(7), false, 50);
        assert!(carol.iter().any(|e| e.subject == "Focus time"));
    }
}
