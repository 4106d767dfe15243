//! Dates: the years a verbatim may be dated in, and how timestamps are read and written.

use chrono::{DateTime, NaiveDate, Utc};

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
