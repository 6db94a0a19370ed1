//! Prisma's `DateTime` on each backend.
//!
//! Prisma stores UTC wall-clock time with millisecond precision: PostgreSQL `TIMESTAMP(3)` (no
//! time zone), and on SQLite a column of `DATETIME` affinity that holds either ISO-8601 text
//! (`2026-01-02T03:04:05.678+00:00`, the Prisma 7 driver adapters' default) or integer unix
//! milliseconds (Prisma 6's native engine, or the adapters' `unixepoch-ms` option).
//! SQLite compares an INTEGER below every TEXT and TEXT byte by byte, so a database must hold one
//! format only: [`DbTime`] carries the format it is written in, and reads accept both.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeDelta, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How SQLite stores Prisma `DateTime` values in this database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SqliteTimeFormat {
    /// ISO-8601 text with milliseconds and `+00:00` (Prisma 7 adapters' default).
    #[default]
    #[value(name = "iso8601")]
    Iso8601,
    /// Integer unix milliseconds (Prisma 6 native engine, adapters' `unixepoch-ms`).
    #[value(name = "unixepoch-ms")]
    UnixEpochMs,
}

impl SqliteTimeFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Iso8601 => "iso8601",
            Self::UnixEpochMs => "unixepoch-ms",
        }
    }
}

/// A point in time as Prisma stores it: UTC, whole milliseconds.
#[derive(Clone, Copy, AsExpression, FromSqlRow)]
#[diesel(sql_type = Timestamp)]
pub struct DbTime {
    at: DateTime<Utc>,
    /// Only used when writing to SQLite.
    sqlite_format: SqliteTimeFormat,
}

impl DbTime {
    /// Truncates to milliseconds, so that what is returned equals what is stored
    /// (PostgreSQL would round, MariaDB truncates).
    pub fn new(at: DateTime<Utc>, sqlite_format: SqliteTimeFormat) -> Self {
        Self { at: at.trunc_subsecs(3), sqlite_format }
    }

    pub fn at(self) -> DateTime<Utc> {
        self.at
    }

    pub fn checked_add(self, delta: TimeDelta) -> Option<Self> {
        Some(Self { at: self.at.checked_add_signed(delta)?, ..self })
    }

    fn from_naive_utc(naive: NaiveDateTime, sqlite_format: SqliteTimeFormat) -> Self {
        Self::new(naive.and_utc(), sqlite_format)
    }
}

impl PartialEq for DbTime {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for DbTime {}

impl PartialOrd for DbTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DbTime {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

impl fmt::Debug for DbTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rfc3339(self.at))
    }
}

/// `2026-01-02T03:04:05.678Z`, what JavaScript's `Date#toJSON` prints.
pub fn format_rfc3339(at: DateTime<Utc>) -> String {
    with_rfc3339(at, str::to_owned)
}

/// Hands `f` the wire form of `at` from a stack buffer: every session read serializes three
/// dates, and chrono's `format` parses its pattern again and allocates on each call.
fn with_rfc3339<R>(at: DateTime<Utc>, f: impl FnOnce(&str) -> R) -> R {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (at.year(), at.nanosecond());
    // Years the fixed layout cannot hold, and leap seconds, take chrono's general path.
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return f(&at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    }
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    let fields = [
        (0..4, year as u32),
        (5..7, at.month()),
        (8..10, at.day()),
        (11..13, at.hour()),
        (14..16, at.minute()),
        (17..19, at.second()),
        (20..23, nanos / 1_000_000),
    ];
    for (range, mut value) in fields {
        for digit in buf[range].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    f(std::str::from_utf8(&buf).expect("the buffer holds ASCII digits and separators only"))
}

/// Any RFC 3339 offset, normalised to UTC and truncated to milliseconds.
/// Leap seconds (`:60`) are refused: JavaScript's `Date` cannot represent them either.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    if chrono::Timelike::nanosecond(&parsed) >= 1_000_000_000 {
        return None;
    }
    Some(parsed.trunc_subsecs(3))
}

/// The wire form of a date: input accepts any RFC 3339 offset, output is always UTC `...sssZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WireTime(pub DateTime<Utc>);

impl Serialize for WireTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        with_rfc3339(self.0, |text| serializer.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = WireTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date string such as \"2026-01-02T03:04:05.678Z\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WireTime, E> {
                let at = parse_rfc3339(text)
                    .ok_or_else(|| E::custom("invalid date: expected RFC 3339, e.g. \"2026-01-02T03:04:05.678Z\""))?;
                // PostgreSQL TIMESTAMP and the JavaScript Date both stop short of year 10000; keep
                // every stored value printable in the wire format.
                if !(0..=9999).contains(&chrono::Datelike::year(&at)) {
                    return Err(E::custom("invalid date: the year must be between 0000 and 9999"));
                }
                Ok(WireTime(at))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl Serialize for DbTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        with_rfc3339(self.at, |text| serializer.serialize_str(text))
    }
}

impl From<DbTime> for WireTime {
    fn from(value: DbTime) -> Self {
        WireTime(value.at)
    }
}

/// PostgreSQL `TIMESTAMP(3)` and MySQL `DATETIME(3)` both hold UTC wall-clock time (the MySQL
/// session's time_zone is `+00:00`, so nothing converts it either way).
macro_rules! naive_utc_timestamp {
    ($backend:ty) => {
        impl ToSql<Timestamp, $backend> for DbTime {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, $backend>) -> serialize::Result {
                let naive = self.at.naive_utc();
                <NaiveDateTime as ToSql<Timestamp, $backend>>::to_sql(&naive, &mut out.reborrow())
            }
        }

        impl FromSql<Timestamp, $backend> for DbTime {
            fn from_sql(bytes: <$backend as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let naive = <NaiveDateTime as FromSql<Timestamp, $backend>>::from_sql(bytes)?;
                Ok(Self::from_naive_utc(naive, SqliteTimeFormat::default()))
            }
        }
    };
}

#[cfg(feature = "postgres")]
naive_utc_timestamp!(diesel::pg::Pg);
#[cfg(feature = "mysql")]
naive_utc_timestamp!(diesel::mysql::Mysql);

#[cfg(feature = "sqlite")]
mod sqlite {
    use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
    use diesel::deserialize::{self, FromSql};
    use diesel::serialize::{self, IsNull, Output, ToSql};
    use diesel::sql_types::{BigInt, Double, Text, Timestamp};
    use diesel::sqlite::{Sqlite, SqliteType, SqliteValue};

    use super::{DbTime, SqliteTimeFormat, parse_rfc3339};

impl ToSql<Timestamp, Sqlite> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        match self.sqlite_format {
            SqliteTimeFormat::Iso8601 => {
                out.set_value(self.at.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string());
            }
            // diesel binds a `Timestamp` only as text. Prisma's `DATETIME` columns have NUMERIC
            // affinity, so SQLite stores integer-looking text as an INTEGER, and compares such a
            // column with a bound value numerically: the rows hold exactly what Prisma writes.
            SqliteTimeFormat::UnixEpochMs => out.set_value(self.at.timestamp_millis().to_string()),
        }
        Ok(IsNull::No)
    }
}

impl FromSql<Timestamp, Sqlite> for DbTime {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        match value.value_type() {
            Some(SqliteType::Long) => {
                let millis = <i64 as FromSql<BigInt, Sqlite>>::from_sql(value)?;
                from_unix_millis(millis)
            }
            Some(SqliteType::Double) => {
                let millis = <f64 as FromSql<Double, Sqlite>>::from_sql(value)?;
                from_unix_millis(millis as i64)
            }
            _ => {
                let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
                parse_sqlite_text(&text)
                    .map(|at| Self::new(at, SqliteTimeFormat::Iso8601))
                    .ok_or_else(|| format!("unrecognised SQLite DateTime text {text:?}").into())
            }
        }
    }
}

fn from_unix_millis(millis: i64) -> deserialize::Result<DbTime> {
    DateTime::from_timestamp_millis(millis)
        .map(|at| DbTime::new(at, SqliteTimeFormat::UnixEpochMs))
        .ok_or_else(|| format!("unix milliseconds {millis} out of range").into())
}

/// Prisma writes RFC 3339; SQLite's own functions (`CURRENT_TIMESTAMP`, `datetime()`) write
/// `YYYY-MM-DD HH:MM:SS[.SSS]` in UTC. Rows edited by hand may hold either.
fn parse_sqlite_text(text: &str) -> Option<DateTime<Utc>> {
    if let Some(at) = parse_rfc3339(text) {
        return Some(at);
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
        .iter()
        .find_map(|fmt| {
            NaiveDateTime::parse_from_str(text, fmt)
                .ok()
                .or_else(|| chrono::NaiveDate::parse_from_str(text, fmt).ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
        })
        .map(|naive| naive.and_utc().trunc_subsecs(3))
}

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::db::time::format_rfc3339;

        #[test]
        fn sqlite_text_forms_are_read_as_utc() {
            for text in ["2026-01-02T03:04:05.678+00:00", "2026-01-02T03:04:05.678Z", "2026-01-02 03:04:05.678"] {
                assert_eq!(format_rfc3339(parse_sqlite_text(text).unwrap()), "2026-01-02T03:04:05.678Z", "{text}");
            }
            assert!(parse_sqlite_text("yesterday").is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_matches_javascript_to_json() {
        let at = parse_rfc3339("2026-01-02T04:04:05.678912+01:00").unwrap();
        assert_eq!(format_rfc3339(at), "2026-01-02T03:04:05.678Z");
    }

    #[test]
    fn wire_format_agrees_with_chrono_at_the_edges() {
        let texts = [
            "0000-01-01T00:00:00.000Z",
            "0001-02-03T04:05:06.007Z",
            "0999-12-31T23:59:59.999Z",
            "1970-01-01T00:00:00.000Z",
            "2026-11-28T14:05:09.050Z",
            "9999-12-31T23:59:59.999Z",
        ];
        for text in texts {
            let at = parse_rfc3339(text).unwrap();
            assert_eq!(format_rfc3339(at), at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(), "{text}");
            assert_eq!(format_rfc3339(at), text);
            assert_eq!(serde_json::to_string(&WireTime(at)).unwrap(), format!("\"{text}\""));
        }
        let far = DateTime::from_timestamp(300_000_000_000, 0).unwrap();
        assert_eq!(format_rfc3339(far), far.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    }
}
