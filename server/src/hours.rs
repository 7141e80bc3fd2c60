//! A doctor's weekly office hours (docs/messaging.md, "Office hours"): their
//! rules, and when the doctor reads messages next. Times are local to the
//! hours' IANA time zone, so a slot stays at 9:00 across daylight saving.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use dmp_protocol::{OfficeHours, OfficeSlot, Weekday};

/// Most slots in a week.
pub const MAX_SLOTS: usize = 28;

/// Minutes after midnight of `HH:MM` (`24:00` only as an end).
fn minutes(s: &str, end: bool) -> Option<u32> {
    if end && s == "24:00" {
        return Some(24 * 60);
    }
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn day_index(d: Weekday) -> u32 {
    match d {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    }
}

/// A slot as (day, start, end) in minutes; `None` when malformed.
fn span(s: &OfficeSlot) -> Option<(u32, u32, u32)> {
    let (start, end) = (minutes(&s.start, false)?, minutes(&s.end, true)?);
    (start < end).then_some((day_index(s.day), start, end))
}

/// Why these office hours cannot be kept, if they cannot.
pub fn problem(h: &OfficeHours) -> Option<String> {
    if h.time_zone.parse::<Tz>().is_err() {
        return Some("timeZone is not a known IANA time zone (e.g. Europe/Paris)".into());
    }
    if h.slots.is_empty() || h.slots.len() > MAX_SLOTS {
        return Some(format!("office hours have 1 to {MAX_SLOTS} slots"));
    }
    let mut spans = Vec::with_capacity(h.slots.len());
    for s in &h.slots {
        match span(s) {
            Some(x) => spans.push(x),
            None => {
                return Some(
                    "each slot has a start and an end, HH:MM, the end after the start".into(),
                )
            }
        }
    }
    spans.sort_unstable();
    if spans
        .windows(2)
        .any(|w| w[0].0 == w[1].0 && w[1].1 < w[0].2)
    {
        return Some("the slots of a day do not overlap".into());
    }
    None
}

/// The instant of local `minutes` after midnight of `date` in `tz`
/// (in a daylight-saving gap, the first instant after it).
fn at(tz: Tz, date: NaiveDate, minutes: u32) -> Option<DateTime<Utc>> {
    let (date, minutes) = if minutes >= 24 * 60 {
        (date.succ_opt()?, minutes - 24 * 60)
    } else {
        (date, minutes)
    };
    let local = date.and_time(NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0)?);
    let mut probe = local;
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return Some(t.with_timezone(&Utc));
        }
        probe += Duration::minutes(30);
    }
    None
}

/// When the doctor reads messages next: `None` while `now` is within a
/// slot (or the hours do not parse), else the start of the next slot.
pub fn next_opening(h: &OfficeHours, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tz: Tz = h.time_zone.parse().ok()?;
    let today = now.with_timezone(&tz).date_naive();
    let spans: Vec<(u32, u32, u32)> = h.slots.iter().filter_map(span).collect();
    let mut next: Option<DateTime<Utc>> = None;
    // From yesterday (a slot until 24:00, or one that DST shifts) to a week on.
    for offset in -1..=8i64 {
        let date = today + Duration::days(offset);
        let day = date.weekday().num_days_from_monday();
        for &(_, start, end) in spans.iter().filter(|s| s.0 == day) {
            let (Some(from), Some(until)) = (at(tz, date, start), at(tz, date, end)) else {
                continue;
            };
            if from <= now && now < until {
                return None;
            }
            if from > now && next.is_none_or(|n| from < n) {
                next = Some(from);
            }
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(day: Weekday, start: &str, end: &str) -> OfficeSlot {
        OfficeSlot {
            day,
            start: start.into(),
            end: end.into(),
        }
    }

    fn paris(slots: Vec<OfficeSlot>) -> OfficeHours {
        OfficeHours {
            time_zone: "Europe/Paris".into(),
            slots,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn rules() {
        let ok = paris(vec![
            slot(Weekday::Monday, "09:00", "12:00"),
            slot(Weekday::Monday, "14:00", "18:00"),
            slot(Weekday::Friday, "20:00", "24:00"),
        ]);
        assert_eq!(problem(&ok), None);
        let mut bad = ok.clone();
        bad.time_zone = "Europe/Nowhere".into();
        assert!(problem(&bad).unwrap().contains("time zone"));
        for (start, end) in [
            ("12:00", "09:00"),
            ("9:00", "12:00"),
            ("24:00", "24:00"),
            ("10:60", "11:00"),
            ("10:00", "10:00"),
        ] {
            let h = paris(vec![slot(Weekday::Monday, start, end)]);
            assert!(problem(&h).is_some(), "{start}-{end}");
        }
        let overlap = paris(vec![
            slot(Weekday::Monday, "09:00", "12:00"),
            slot(Weekday::Monday, "11:00", "13:00"),
        ]);
        assert!(problem(&overlap).unwrap().contains("overlap"));
        assert!(problem(&paris(vec![])).is_some());
        let many = paris(
            (0..29)
                .map(|_| slot(Weekday::Monday, "09:00", "10:00"))
                .collect(),
        );
        assert!(problem(&many).is_some());
    }

    #[test]
    fn next_opening_in_local_time_across_daylight_saving() {
        let h = paris(vec![
            slot(Weekday::Monday, "09:00", "12:00"),
            slot(Weekday::Thursday, "14:00", "18:00"),
        ]);
        // Monday 2026-12-07 10:00 in Paris (UTC+1): open.
        assert_eq!(next_opening(&h, utc("2026-12-07T09:00:00Z")), None);
        // Monday 12:00 Paris: closed; next Thursday 14:00 Paris = 13:00 UTC.
        assert_eq!(
            next_opening(&h, utc("2026-12-07T11:00:00Z")),
            Some(utc("2026-12-10T13:00:00Z"))
        );
        // Thursday 18:30: next Monday 09:00, a week boundary away.
        assert_eq!(
            next_opening(&h, utc("2026-12-10T17:30:00Z")),
            Some(utc("2026-12-14T08:00:00Z"))
        );
        // Across the spring change (2027-03-28): Monday 09:00 Paris is 07:00 UTC.
        assert_eq!(
            next_opening(&h, utc("2027-03-26T12:00:00Z")),
            Some(utc("2027-03-29T07:00:00Z"))
        );
        // A slot until midnight, then the next day.
        let late = paris(vec![slot(Weekday::Friday, "20:00", "24:00")]);
        assert_eq!(next_opening(&late, utc("2026-12-11T22:30:00Z")), None);
        assert_eq!(
            next_opening(&late, utc("2026-12-11T23:00:00Z")),
            Some(utc("2026-12-18T19:00:00Z"))
        );
    }
}
