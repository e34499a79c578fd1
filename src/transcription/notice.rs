//! The notice period before a newly announced sub-processor receives data
//! (DPA 4.3: ten working days), on the French calendar.
//!
//! Working days are Monday to Friday except the nationwide public holidays of
//! the Code du travail (article L3133-1). The movable ones follow Easter,
//! computed rather than listed, so the rule holds for any year. Local holidays
//! (Good Friday and 26 December in Alsace-Moselle) are not nationwide and do
//! not count. Dates are calendar dates; the caller decides which day "today"
//! is (the gateway uses UTC).

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// Working days that must pass after the announcement day.
pub const NOTICE_WORKING_DAYS: u32 = 10;

/// Easter Sunday of the Gregorian calendar (the anonymous algorithm of
/// Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// A nationwide French public holiday: 1 January, Easter Monday, 1 May,
/// 8 May, Ascension Thursday, Whit Monday, 14 July, 15 August, 1 November,
/// 11 November, 25 December.
pub fn is_public_holiday(date: NaiveDate) -> bool {
    const FIXED: [(u32, u32); 8] = [
        (1, 1),
        (5, 1),
        (5, 8),
        (7, 14),
        (8, 15),
        (11, 1),
        (11, 11),
        (12, 25),
    ];
    if FIXED.contains(&(date.month(), date.day())) {
        return true;
    }
    let Some(easter) = easter_sunday(date.year()) else {
        return false;
    };
    // Easter Monday, Ascension (Easter + 39 days), Whit Monday (Easter + 50).
    [1, 39, 50]
        .into_iter()
        .filter_map(|offset| easter.checked_add_days(Days::new(offset)))
        .any(|holiday| holiday == date)
}

/// Monday to Friday and not a public holiday.
pub fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !is_public_holiday(date)
}

/// The first day on which a sub-processor announced on `announced` may
/// receive data: the day after the tenth working day that follows the
/// announcement day. `None` only past the end of chrono's calendar.
pub fn notice_ends(announced: NaiveDate) -> Option<NaiveDate> {
    let mut day = announced;
    let mut counted = 0;
    while counted < NOTICE_WORKING_DAYS {
        day = day.succ_opt()?;
        if is_working_day(day) {
            counted += 1;
        }
    }
    day.succ_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn easter_matches_the_published_dates() {
        // From the tables of the Paris Observatory (IMCCE).
        for (year, easter) in [
            (1818, "1818-03-22"),
            (1943, "1943-04-25"),
            (2000, "2000-04-23"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2038, "2038-04-25"),
        ] {
            assert_eq!(easter_sunday(year), Some(date(easter)), "{year}");
        }
    }

    #[test]
    fn the_eleven_holidays_of_2026() {
        let holidays: Vec<NaiveDate> = date("2026-01-01")
            .iter_days()
            .take_while(|day| day.year() == 2026)
            .filter(|day| is_public_holiday(*day))
            .collect();
        let expected: Vec<NaiveDate> = [
            "2026-01-01",
            "2026-04-06",
            "2026-05-01",
            "2026-05-08",
            "2026-05-14",
            "2026-05-25",
            "2026-07-14",
            "2026-08-15",
            "2026-11-01",
            "2026-11-11",
            "2026-12-25",
        ]
        .into_iter()
        .map(date)
        .collect();
        assert_eq!(holidays, expected);
    }

    #[test]
    fn ten_working_days_skip_weekends() {
        // Announced Monday 2026-11-16: Nov 17 to 20, 23 to 27, and 30.
        assert_eq!(notice_ends(date("2026-11-16")), Some(date("2026-12-01")));
    }

    #[test]
    fn ten_working_days_skip_holidays() {
        // Announced Wednesday 2026-04-29: 1 May, 8 May and Ascension (14 May)
        // fall inside, so the ten are Apr 30, May 4, 5, 6, 7, 11, 12, 13, 15
        // and 18.
        assert_eq!(notice_ends(date("2026-04-29")), Some(date("2026-05-19")));
    }

    #[test]
    fn an_announcement_on_a_holiday_starts_counting_the_next_day() {
        // Announced on Christmas Day 2026 (a Friday): Dec 28 to 31, then
        // New Year's Day (a Friday) is skipped: Jan 4 to 8, and Jan 11.
        assert_eq!(notice_ends(date("2026-12-25")), Some(date("2027-01-12")));
    }

    #[test]
    fn every_day_in_the_notice_period_is_counted_once() {
        // Property over four years of announcement days: exactly ten working
        // days lie strictly between the announcement and the end of notice.
        let mut day = date("2025-01-01");
        while day.year() < 2029 {
            let end = notice_ends(day).unwrap();
            let working = day
                .iter_days()
                .skip(1)
                .take_while(|d| *d < end)
                .filter(|d| is_working_day(*d))
                .count();
            assert_eq!(working, 10, "announced {day}");
            assert!(is_working_day(end.pred_opt().unwrap()), "announced {day}");
            day = day.succ_opt().unwrap();
        }
    }
}
