//! Dates: the years a verbatim may be dated in, and how timestamps are read and written.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Years a `created_at` may fall in. The index counts nanoseconds in 64 bits (1677 to 2262);
/// feedback dated outside these years is a typo, refused before it can overflow anything.
pub const SUPPORTED_YEARS: std::ops::RangeInclusive<i32> = 1900..=2199;

/// Brings a date into [`SUPPORTED_YEARS`]: a search bound before or after every storable date
/// selects the same verbatims as the first or last supported instant, and a row stored before
/// dates were checked can still be indexed.
pub fn clamp_to_supported(ts: DateTime<Utc>) -> DateTime<Utc> {
    let first = NaiveDate::from_ymd_opt(*SUPPORTED_YEARS.start(), 1, 1).expect("valid date");
    let after = NaiveDate::from_ymd_opt(SUPPORTED_YEARS.end() + 1, 1, 1).expect("valid date");
    ts.clamp(first.and_time(Default::default()).and_utc(), after.and_time(Default::default()).and_utc())
}

/// Accepts an RFC 3339 timestamp, or a plain date taken as midnight UTC.
pub fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(ts) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Some(ts.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The calendar periods KPIs and volume alerts are followed by, in a time zone; weeks start
/// on Monday (ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(name: &str) -> Option<Period> {
        [Period::Day, Period::Week, Period::Month].into_iter().find(|p| p.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The first day of the period holding `day`.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => day,
            Period::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Period::Month => day.with_day(1).expect("every month has a first day"),
        }
    }

    /// The first day of the period after the one starting on `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => start + Days::new(1),
            Period::Week => start + Days::new(7),
            Period::Month => start.checked_add_months(chrono::Months::new(1)).expect("dates are bounded"),
        }
    }

    /// The first day of the period before the one starting on `start`.
    pub fn previous(self, start: NaiveDate) -> NaiveDate {
        self.start(start - Days::new(1))
    }

    /// The starts of the periods from the one starting on `first` up to, not including, `end`.
    pub fn starts(self, first: NaiveDate, end: NaiveDate) -> impl Iterator<Item = NaiveDate> {
        std::iter::successors(Some(first), move |start| Some(self.next(*start))).take_while(move |start| *start < end)
    }

    /// The start of the period holding `at`, in `tz`.
    pub fn of(self, at: DateTime<Utc>, tz: Tz) -> NaiveDate {
        self.start(at.with_timezone(&tz).date_naive())
    }
}

/// The instant a local day starts in `tz`: midnight, or the first moment after midnight where
/// a daylight-saving change skips it.
pub fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Tz> {
    (0..=3)
        .find_map(|hour| tz.from_local_datetime(&day.and_hms_opt(hour, 0, 0).expect("a valid hour")).earliest())
        .unwrap_or_else(|| tz.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight")))
}

/// Timestamps travel and rest as RFC 3339 in UTC with millisecond precision.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    use super::parse_timestamp;

    pub fn format(ts: &DateTime<Utc>) -> String {
        ts.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse_timestamp(&raw).ok_or_else(|| serde::de::Error::custom(format!("bad timestamp `{raw}`")))
    }

    /// An optional timestamp, as RFC 3339 or null.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(ts: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
            match ts {
                Some(ts) => serializer.serialize_str(&super::format(ts)),
                None => serializer.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_start_on_the_first_day_weeks_on_monday() {
        // 2026-11-26 is a Thursday.
        assert_eq!(Period::Week.start(date("2026-11-26")), date("2026-11-23"));
        assert_eq!(Period::Week.start(date("2026-11-23")), date("2026-11-23"));
        assert_eq!(Period::Week.start(date("2026-11-29")), date("2026-11-23"));
        assert_eq!(Period::Month.start(date("2026-11-26")), date("2026-11-01"));
        assert_eq!(Period::Month.next(date("2026-12-01")), date("2027-01-01"));
        assert_eq!(Period::Month.previous(date("2026-03-01")), date("2026-02-01"));
        assert_eq!(Period::Week.previous(date("2026-11-23")), date("2026-11-16"));
        let weeks: Vec<NaiveDate> = Period::Week.starts(date("2026-11-02"), date("2026-11-23")).collect();
        assert_eq!(weeks, [date("2026-11-02"), date("2026-11-09"), date("2026-11-16")]);
    }

    #[test]
    fn periods_follow_the_time_zone() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        // 23:30 UTC on Sunday 29 November is 00:30 on Monday 30 November in Paris.
        let at = "2026-11-29T23:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(Period::Week.of(at, Tz::UTC), date("2026-11-23"));
        assert_eq!(Period::Week.of(at, tz), date("2026-11-30"));
        assert_eq!(day_start(date("2026-11-30"), tz).to_rfc3339(), "2026-11-30T00:00:00+01:00");
        assert_eq!(day_start(date("2026-07-01"), tz).to_rfc3339(), "2026-07-01T00:00:00+02:00");
    }
}
