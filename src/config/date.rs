//! Calendar dates written `YYYY-MM-DD`.

use std::fmt;

/// A day of the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` (years 1970–9999), rejecting impossible days.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes.get(4) == Some(&b'-')
            && bytes.get(7) == Some(&b'-')
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape_ok {
            return None;
        }
        let year: u16 = text.get(0..4)?.parse().ok()?;
        let month: u8 = text.get(5..7)?.parse().ok()?;
        let day: u8 = text.get(8..10)?.parse().ok()?;
        Self::new(year, month, day)
    }

    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let valid = year >= 1970
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Self { year, month, day })
    }

    pub fn year(&self) -> u16 {
        self.year
    }

    pub fn month(&self) -> u8 {
        self.month
    }

    pub fn day(&self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (a Thursday); handy for counting working days.
    pub fn days_since_unix_epoch(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let month = i64::from(self.month);
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let shifted_month = (month + 9) % 12;
        let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let date = Date::parse("2024-02-29").unwrap();
        assert_eq!((date.year(), date.month(), date.day()), (2024, 2, 29));
        assert_eq!(date.to_string(), "2024-02-29");
    }

    #[test]
    fn rejects_impossible_or_malformed_dates() {
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-01T00:00",
            "1969-12-31",
            "+024-01-01",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        assert!(Date::parse("2000-02-29").is_some());
    }

    #[test]
    fn counts_days_from_the_epoch() {
        assert_eq!(
            Date::parse("1970-01-01").unwrap().days_since_unix_epoch(),
            0
        );
        assert_eq!(
            Date::parse("2000-03-01").unwrap().days_since_unix_epoch(),
            11_017
        );
        assert_eq!(
            Date::parse("2024-01-01").unwrap().days_since_unix_epoch(),
            19_723
        );
    }

    #[test]
    fn orders_chronologically() {
        assert!(Date::parse("2024-01-31").unwrap() < Date::parse("2024-02-01").unwrap());
    }
}
